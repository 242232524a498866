//! Go's own fuzzing corpus for its trace reader, fed to the raw layer.
//!
//! Every entry of `$GOROOT/src/internal/trace/testdata/fuzz/FuzzReader` must
//! go through the raw reader, the writer and the text form without a panic,
//! and whatever the reader accepts must re-encode to the same bytes.

mod raw_support;

use gort_parser::raw::{binary_to_text, text_to_binary, Reader, Writer};
use gort_parser::testfile::go_fuzz_values;

#[test]
fn go_fuzz_reader_corpus_reads_without_panic() {
    let dir = raw_support::goroot().join("src/internal/trace/testdata/fuzz/FuzzReader");
    let entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        entries.len() >= 10,
        "expected Go's corpus in {}",
        dir.display()
    );
    let (mut accepted, mut rejected) = (0, 0);
    for path in entries {
        let file = std::fs::read(&path).unwrap();
        let values = go_fuzz_values(&file).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(values.len(), 1, "{}", path.display());
        let data = &values[0];
        let Ok(reader) = Reader::new(data) else {
            rejected += 1;
            continue;
        };
        let mut w = Writer::new(Vec::new(), reader.version()).unwrap();
        let mut r = reader;
        let mut failed = false;
        for ev in r.by_ref() {
            match ev {
                Ok(ev) => w.write_event(&ev).unwrap(),
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            rejected += 1;
        } else {
            accepted += 1;
            // Everything up to where the reader stopped comes back byte for byte.
            let out = w.finish().unwrap();
            assert_eq!(&data[..r.offset()], &out[..], "{}", path.display());
            let text = binary_to_text(data).unwrap();
            let bin = text_to_binary(text.as_bytes()).unwrap();
            assert_eq!(binary_to_text(&bin).unwrap(), text, "{}", path.display());
        }
    }
    assert!(accepted > 0, "{accepted} accepted, {rejected} rejected");
}
