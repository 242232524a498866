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

/// A trace cut from a longer one (the header and whole generations 42-44 of
/// `genstress.trace`, as a flight recorder writes): valid, with a warning
/// that its first generation's completeness cannot be checked; the whole
/// trace gets none.
#[test]
fn validate_warns_when_the_first_generation_is_not_1() {
    let data = std::fs::read(goldens().join("genstress.trace")).expect("trace");
    let mut r = gort_parser::raw::Reader::new(&data).expect("header");
    let header = r.header_len();
    let cut = loop {
        let at = r.offset();
        let ev = r.read_event().expect("raw event").expect("generation 42");
        if ev.name() == "EventBatch" && ev.arg("gen") == Some(42) {
            break at;
        }
    };
    let mut cut_trace = data[..header].to_vec();
    cut_trace.extend_from_slice(&data[cut..]);
    let dir = std::env::temp_dir().join(format!("gort-cut-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("cut.trace");
    std::fs::write(&file, &cut_trace).unwrap();

    let (ok, out, err) = gort(&["validate", &file.to_string_lossy()]);
    assert!(ok, "{err}");
    assert!(
        out.starts_with("ok: ") && out.ends_with(" 3 generations\n"),
        "{out}"
    );
    assert!(
        err.contains("warning: the trace begins at generation 42, not 1"),
        "{err}"
    );
    let (ok, _, err) = gort(&["validate", &golden("genstress.trace")]);
    assert!(ok);
    assert!(!err.contains("warning"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
