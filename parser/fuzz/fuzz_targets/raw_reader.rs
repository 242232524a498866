//! Raw reader: any bytes. No panic; what is read re-encodes to the same
//! bytes. The header is compared as Go reads it: Go's `fmt.Fscanf` takes
//! any run of spaces where its format has one (`go  1.22 trace`), and the
//! writer writes the canonical header, so only the version must survive
//! (and re-reads as the raw reader reads it).
#![no_main]

use gort_parser::raw::{Reader, Writer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = Reader::new(data) else {
        return;
    };
    let mut out = Writer::new(Vec::new(), reader.version()).expect("Vec sink");
    let mut text = Vec::new();
    for ev in reader.by_ref() {
        let Ok(ev) = ev else { return };
        ev.write_text_bytes(&mut text);
        text.push(b'\n');
        out.write_event(&ev).expect("Vec sink");
    }
    // The reader stopped normally: every byte it consumed after the header
    // comes back, after a canonical header of the same version.
    let out = out.finish().expect("Vec sink");
    let (h, n) = (reader.header_len(), 16);
    // Read back as the raw reader reads it: a pre-1.22 version Go's raw
    // reader knows by number (no event table) stays readable, though the
    // strict `read_header` refuses it.
    assert_eq!(
        Reader::new(&out).ok().map(|r| r.version()),
        Some(reader.version())
    );
    assert_eq!(&data[h..reader.offset()], &out[n..]);
    assert!(std::str::from_utf8(&text).is_ok());
});
