//! Go's own parser test suite: every `$GOROOT/src/internal/trace/testdata/
//! tests/*.test` gives the verdict Go expects. SUCCESS means the whole trace
//! reads without error and passes the validator (as Go's test requires);
//! FAILURE means reading fails with an error matching Go's regular expression.

mod go_support;

use std::fs;

use go_support::goroot;
use gort_parser::testfile::{self, Expectation};
use gort_parser::{Reader, Validator};

/// Reads and validates `trace`; the first error's text.
fn verdict(trace: &[u8]) -> Result<(), String> {
    let mut v = Validator::new();
    let r = Reader::from_slice(trace).map_err(|e| e.to_string())?;
    for ev in r {
        let ev = ev.map_err(|e| e.to_string())?;
        v.event(&ev).map_err(|e| format!("validator: {e}"))?;
    }
    Ok(())
}

#[test]
fn go_parser_test_files_give_gos_verdicts() {
    let dir = goroot().join("src/internal/trace/testdata/tests");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "expected Go's 20 test files, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    let (mut ok, mut fail) = (0, 0);
    for path in &files {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let t = testfile::parse(fs::read(path).expect("read test file"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        match (&t.expect, verdict(&t.trace)) {
            (Expectation::Success, Ok(())) => ok += 1,
            (Expectation::Success, Err(e)) => {
                failures.push(format!("{name}: unexpected error: {e}"))
            }
            (Expectation::Failure(re), Err(e)) => {
                let re = regex::Regex::new(re).expect("Go's pattern compiles");
                if re.is_match(&e) {
                    fail += 1;
                } else {
                    failures.push(format!("{name}: error {e:?} does not match {re}"));
                }
            }
            (Expectation::Failure(re), Ok(())) => {
                failures.push(format!("{name}: expected an error matching {re}, got none"))
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        ok > 0 && fail > 0,
        "both verdicts are exercised ({ok} ok, {fail} failing)"
    );
}
