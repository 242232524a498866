//! The raw layer on Go's golden traces: `-d=2` text, binary and text round trips.

mod raw_support;

use gort_parser::raw::{binary_to_text, text_to_binary, Reader, StreamReader, Writer};
use raw_support::{golden_d2, golden_traces, our_d2};

#[test]
fn dump_matches_go_d2_byte_for_byte() {
    for path in golden_traces() {
        let bin = std::fs::read(&path).unwrap();
        let (text, err) = our_d2(&bin);
        assert!(err.is_none(), "{}: {err:?}", path.display());
        let want = golden_d2(&path);
        if text != want {
            let line = text
                .split(|&b| b == b'\n')
                .zip(want.split(|&b| b == b'\n'))
                .position(|(a, b)| a != b);
            panic!(
                "{}: -d=2 text differs (first at line {line:?})",
                path.display()
            );
        }
    }
}

#[test]
fn read_then_write_gives_back_the_same_bytes() {
    for path in golden_traces() {
        let bin = std::fs::read(&path).unwrap();
        let r = Reader::new(&bin).unwrap();
        let mut w = Writer::new(Vec::new(), r.version()).unwrap();
        let mut padded = 0;
        for ev in r {
            let ev = ev.unwrap();
            padded += usize::from(ev.wire_bytes().is_some());
            w.write_event(&ev).unwrap();
        }
        assert!(padded > 0, "{}: runtimes pad batch sizes", path.display());
        assert!(
            w.finish().unwrap() == bin,
            "{}: re-encoding differs",
            path.display()
        );
    }
}

#[test]
fn stream_reader_agrees_with_slice_reader() {
    for path in golden_traces() {
        let bin = std::fs::read(&path).unwrap();
        let mut s = StreamReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        let mut r = Reader::new(&bin).unwrap();
        let mut n = 0usize;
        loop {
            let a = s.read_event().unwrap().map(|e| e.into_owned());
            let b = r.next().transpose().unwrap();
            assert_eq!(a, b, "{}: event {n}", path.display());
            if a.is_none() {
                break;
            }
            n += 1;
        }
        assert_eq!(s.offset(), bin.len() as u64);
    }
}

#[test]
fn text_form_round_trips() {
    for path in golden_traces() {
        let bin = std::fs::read(&path).unwrap();
        let text = binary_to_text(&bin).unwrap();
        // The text is the header line plus Go's -d=2 dump.
        let mut want = b"Trace Go1.23\n".to_vec();
        want.extend_from_slice(&golden_d2(&path));
        assert!(
            text.as_bytes() == want,
            "{}: text form differs",
            path.display()
        );
        // Text to binary gives minimal encodings, so compare through the text.
        let bin2 = text_to_binary(text.as_bytes()).unwrap();
        assert!(
            bin2.len() < bin.len(),
            "{}: padding is dropped",
            path.display()
        );
        assert!(
            binary_to_text(&bin2).unwrap() == text,
            "{}: text -> binary -> text differs",
            path.display()
        );
        // The minimal binary re-encodes to itself.
        let r = Reader::new(&bin2).unwrap();
        let mut w = Writer::new(Vec::new(), 23).unwrap();
        for ev in r {
            let ev = ev.unwrap();
            assert!(ev.wire_bytes().is_none());
            w.write_event(&ev).unwrap();
        }
        assert!(w.finish().unwrap() == bin2);
    }
}
