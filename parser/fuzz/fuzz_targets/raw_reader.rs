//! Raw reader: any bytes. No panic; what is read re-encodes to the same bytes.
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
    // The reader stopped normally: every byte it consumed comes back.
    let out = out.finish().expect("Vec sink");
    assert_eq!(&data[..reader.offset()], &out[..]);
    assert!(std::str::from_utf8(&text).is_ok());
});
