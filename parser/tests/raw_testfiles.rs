//! Go's own parser test files (`internal/trace/testdata/tests/*.test`) read
//! into binary traces.

mod raw_support;

use gort_parser::raw::{binary_to_text, text_to_binary, Reader, TextReader};
use gort_parser::testfile::{self, Expectation};

#[test]
fn every_go_test_file_parses_into_a_binary_trace() {
    let dir = raw_support::goroot().join("src/internal/trace/testdata/tests");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 20,
        "expected Go's test files in {}",
        dir.display()
    );
    let (mut ok, mut fail) = (0, 0);
    for path in &paths {
        let src = std::fs::read(path).unwrap();
        let t = testfile::parse(&src).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        match &t.expect {
            Expectation::Success => ok += 1,
            Expectation::Failure(p) => {
                assert!(!p.is_empty(), "{}", path.display());
                fail += 1;
            }
        }
        // The binary reads back, to the end, as the same events as the text.
        let events: Vec<String> = Reader::new(&t.trace)
            .unwrap()
            .map(|e| e.unwrap().to_string())
            .collect();
        let trace_text = testfile::txtar_files(&src)[1].1;
        let from_text: Vec<String> = TextReader::new(trace_text)
            .unwrap()
            .map(|e| e.unwrap().to_string())
            .collect();
        assert!(!events.is_empty(), "{}", path.display());
        assert_eq!(events, from_text, "{}", path.display());
        // And binary -> text -> binary is the identity on Go's minimal encoding.
        let text = binary_to_text(&t.trace).unwrap();
        assert_eq!(
            text_to_binary(text.as_bytes()).unwrap(),
            t.trace,
            "{}",
            path.display()
        );
        assert_eq!(t.version, Reader::new(&t.trace).unwrap().version());
    }
    assert!(ok > 0 && fail > 0, "{ok} SUCCESS and {fail} FAILURE files");
}
