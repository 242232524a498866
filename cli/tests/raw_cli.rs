//! The `gort-trace` command line: dispatch, exit codes, conversions.

#[path = "../../parser/tests/raw_support/mod.rs"]
mod raw_support;

use std::io::{Read, Write};
use std::process::{Command, Stdio};

fn gort_trace() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gort-trace"))
}

fn golden(name: &str) -> std::path::PathBuf {
    raw_support::workspace()
        .join("tests/data/go1.23")
        .join(name)
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["nope"],
        &["dump"],
        &["dump", "--raw"],
        &["dump", "--wat", "x"],
        &["validate"],
        &["stats", "a", "b"],
        &["text2bin", "a", "b", "c"],
    ] {
        let out = gort_trace().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("Usage:"),
            "{args:?}"
        );
    }
    let help = gort_trace().arg("help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("bin2text"));
}

#[test]
fn dump_raw_prints_go_d2() {
    let path = golden("annotations.trace");
    let out = gort_trace()
        .args(["dump", "--raw"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout == raw_support::golden_d2(&path));
    // --raw may also come after the file.
    let again = gort_trace()
        .arg("dump")
        .arg(&path)
        .arg("--raw")
        .output()
        .unwrap();
    assert!(again.stdout == out.stdout);
}

#[test]
fn invalid_traces_exit_1_after_printing_what_came_before() {
    let dir = std::env::temp_dir().join(format!("gort-raw-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut bin = std::fs::read(golden("iterpull_early.trace")).unwrap();
    // Cut after the third event and append an invalid event type (0).
    let mut r = gort_parser::raw::Reader::new(&bin).unwrap();
    for _ in 0..3 {
        r.next().unwrap().unwrap();
    }
    bin.truncate(r.offset());
    bin.push(0);
    let bad = dir.join("bad.trace");
    std::fs::write(&bad, &bin).unwrap();
    let out = gort_trace()
        .args(["dump", "--raw"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.starts_with(b"EventBatch gen=1"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid event type: 0"), "{err}");

    let missing = gort_trace()
        .args(["dump", "--raw", "/nonexistent/x.trace"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bin2text_and_text2bin_through_files_and_pipes() {
    let dir = std::env::temp_dir().join(format!("gort-raw-cli-conv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = golden("iterpull_basic.trace");
    let txt = dir.join("t.txt");
    let st = gort_trace()
        .arg("bin2text")
        .arg(&src)
        .arg(&txt)
        .status()
        .unwrap();
    assert!(st.success());
    let text = std::fs::read(&txt).unwrap();
    assert!(text.starts_with(b"Trace Go1.23\nEventBatch "));

    // text2bin from stdin to stdout, then bin2text from stdin to stdout.
    let mut child = gort_trace()
        .arg("text2bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&text).unwrap();
    let bin = child.wait_with_output().unwrap();
    assert!(bin.status.success());
    assert!(bin.stdout.starts_with(b"go 1.23 trace\0\0\0"));
    let mut child = gort_trace()
        .args(["bin2text", "-", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bin.stdout).unwrap();
    let back = child.wait_with_output().unwrap();
    assert!(back.status.success());
    assert!(back.stdout == text);

    let mut bad = gort_trace()
        .arg("text2bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    bad.stdin
        .take()
        .unwrap()
        .write_all(b"Trace Go1.23\nBogus x=1\n")
        .unwrap();
    let out = bad.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unidentified event: Bogus"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let mut child = gort_trace()
        .args(["dump", "--raw"])
        .arg(golden("large.trace"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 100];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(first.starts_with(b"EventBatch"));
}
