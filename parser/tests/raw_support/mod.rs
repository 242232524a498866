//! Shared helpers of the raw-layer tests: golden files and Go's toolchain.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root.
pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("parser/ has a parent")
        .to_path_buf()
}

/// Every golden binary trace, sorted.
pub(crate) fn golden_traces() -> Vec<PathBuf> {
    let dir = workspace().join("tests/data/go1.23");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "trace"))
        .collect();
    v.sort();
    assert!(
        v.len() >= 10,
        "expected the golden traces in {}",
        dir.display()
    );
    v
}

/// The `-d=2` golden beside `trace` (decompressing `.xz` ones).
pub(crate) fn golden_d2(trace: &Path) -> Vec<u8> {
    let plain = trace.with_extension("d2.txt");
    if plain.exists() {
        return std::fs::read(&plain).expect("read golden");
    }
    let xz = trace.with_extension("d2.txt.xz");
    let out = Command::new("xz")
        .arg("-dc")
        .arg(&xz)
        .output()
        .unwrap_or_else(|e| panic!("xz -dc {}: {e} (is xz installed?)", xz.display()));
    assert!(out.status.success(), "xz -dc {} failed", xz.display());
    out.stdout
}

/// The GOROOT of the Go 1.23 toolchain that `scripts/go-oracle` installs,
/// with its `internal/trace` sources. Fails the test with a clear message
/// when it is unavailable.
pub(crate) fn goroot() -> PathBuf {
    let root = gort_gotools::goroot();
    assert!(
        root.join("src/internal/trace").is_dir(),
        "no Go sources under {}",
        root.display()
    );
    root
}

/// Runs `scripts/go-oracle ARGS`; returns (success, stdout, stderr).
pub(crate) fn oracle(args: &[&std::ffi::OsStr]) -> (bool, Vec<u8>, String) {
    let out = gort_gotools::oracle_output(args);
    (
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The text Go's `-d=2` would print for `bin`, with our reader: the event
/// lines, and whether the reader ended with an error.
pub(crate) fn our_d2(bin: &[u8]) -> (Vec<u8>, Option<gort_parser::Error>) {
    let mut out = Vec::new();
    let r = match gort_parser::raw::Reader::new(bin) {
        Ok(r) => r,
        Err(e) => return (out, Some(e)),
    };
    for ev in r {
        match ev {
            Ok(ev) => {
                ev.write_text_bytes(&mut out);
                out.push(b'\n');
            }
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}
