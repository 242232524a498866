//! Go's own tools as the judge: `scripts/go-oracle validate`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/go-oracle")
}

/// Runs Go's parser and gotracevalidate on every file; panics with Go's
/// verdicts if any is rejected or if the oracle cannot run.
pub fn validate(files: &[PathBuf]) {
    assert!(!files.is_empty());
    let out = Command::new(script())
        .arg("validate")
        .args(files)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e} (the Go oracle is required)",
                script().display()
            )
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() != Some(2),
        "the Go oracle is unavailable (exit 2):\n{stderr}"
    );
    let oks = stdout.lines().filter(|l| l.starts_with("ok ")).count();
    assert!(
        out.status.success() && oks == files.len(),
        "Go rejected a trace (exit {:?}, {oks}/{} ok):\n{stdout}\n{stderr}",
        out.status.code(),
        files.len()
    );
}
