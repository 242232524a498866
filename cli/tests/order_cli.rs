//! `gort-trace dump`, `validate` and `stats` as a user runs them.

#[path = "../../parser/tests/go_support/mod.rs"]
mod go_support;

use std::process::Command;

use go_support::goldens;

fn gort(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gort-trace"))
        .args(args)
        .output()
        .expect("gort-trace runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn golden(name: &str) -> String {
    goldens().join(name).to_string_lossy().into_owned()
}

#[test]
fn dump_prints_gos_text() {
    let (ok, out, _) = gort(&["dump", &golden("annotations.trace")]);
    assert!(ok);
    let want = std::fs::read_to_string(goldens().join("annotations.d1.txt")).expect("d1");
    assert_eq!(out, want);
}

#[test]
fn validate_exit_status_tells_valid_from_invalid() {
    let (ok, out, _) = gort(&["validate", &golden("genstress.trace")]);
    assert!(ok);
    assert_eq!(out, "ok: 7487 events, 44 generations\n");

    let data = std::fs::read(goldens().join("syscalls.trace")).expect("trace");
    let cut = std::env::temp_dir().join(format!("gort-p2-cli-{}.trace", std::process::id()));
    std::fs::write(&cut, &data[..data.len() / 2]).expect("write");
    let (ok, out, err) = gort(&["validate", &cut.to_string_lossy()]);
    let _ = std::fs::remove_file(&cut);
    assert!(!ok);
    assert!(out.is_empty(), "{out}");
    assert!(err.starts_with("gort-trace: "), "{err}");

    let status = Command::new(env!("CARGO_BIN_EXE_gort-trace"))
        .args(["validate"])
        .status()
        .expect("runs");
    assert_eq!(status.code(), Some(2), "usage error");
}

#[test]
fn stats_summarise_counts_and_goroutines() {
    let (ok, out, _) = gort(&["stats", &golden("iterpull_basic.trace")]);
    assert!(ok);
    assert!(
        out.contains("events:      1697 in 1 generation(s)"),
        "{out}"
    );
    assert!(out.contains("switches:    446 coroutine switches"), "{out}");
    assert!(
        out.contains("  GoSwitch                        443\n"),
        "{out}"
    );
    assert!(out.contains("per goroutine (ms)"), "{out}");
    let (ok, _, err) = gort(&["stats", "/nonexistent/trace"]);
    assert!(!ok);
    assert!(err.contains("failed to read trace file"), "{err}");
}
