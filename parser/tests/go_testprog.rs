//! Go's trace test programs (`$GOROOT/src/internal/trace/testdata/testprog/
//! *.go`), run with Go 1.23.9 as Go's own test runs them: default settings,
//! stress (`traceadvanceperiod=0`, a new generation as often as possible) and
//! AllocFree (`traceallocfree=1`, experimental events). Each trace must read
//! and validate without error, and our `-d=1` dump must equal Go's, modulo
//! Go's run-to-run reordering of events with tied times.
//!
//! `cgo-callback.go` needs cgo; it is skipped, with the reason printed, only
//! when the toolchain reports `CGO_ENABLED=0`.

mod go_support;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use go_support::{dump, goroot, oracle, parse_and_validate, same_modulo_ties};

const MODES: &[(&str, &str)] = &[
    ("default", ""),
    ("stress", ",traceadvanceperiod=0"),
    ("allocfree", ",traceallocfree=1"),
];

/// Runs one program in one mode; a description of what went wrong, if anything.
fn check(prog: &Path, mode: &str, godebug: &str) -> Result<(), String> {
    let name = prog
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .to_string();
    let label = format!("{name} [{mode}]");
    let dir = prog.parent().and_then(Path::parent).and_then(Path::parent);
    let out = gort_gotools::oracle_command()
        .args(["go", "run"])
        .arg(prog)
        .current_dir(dir.unwrap_or(Path::new("/")))
        .env("GODEBUG", format!("tracecheckstackownership=1{godebug}"))
        .output()
        .map_err(|e| {
            format!("{label}: cannot run scripts/go-oracle (Go 1.23.9 oracle required): {e}")
        })?;
    if !out.status.success() {
        return Err(format!(
            "{label}: program failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let trace = out.stdout;
    parse_and_validate(&trace).map_err(|e| format!("{label}: {e}"))?;
    let (ours, err) = dump(&trace);
    if let Some(e) = err {
        return Err(format!("{label}: our reader failed: {e}"));
    }
    let file = std::env::temp_dir().join(format!(
        "gort-p2-{}-{name}-{mode}.trace",
        std::process::id()
    ));
    std::fs::write(&file, &trace).map_err(|e| format!("{label}: {e}"))?;
    let go = oracle(&["dump1", &file.to_string_lossy()]);
    let _ = std::fs::remove_file(&file);
    let go = String::from_utf8(go).map_err(|e| format!("{label}: Go's dump: {e}"))?;
    same_modulo_ties(&ours, &go).map_err(|d| format!("{label}: {d}"))?;
    println!(
        "ok {label}: {} bytes of trace, {} dump lines",
        trace.len(),
        ours.lines().count()
    );
    Ok(())
}

fn cgo_enabled() -> bool {
    let out = oracle(&["go", "env", "CGO_ENABLED"]);
    String::from_utf8_lossy(&out).trim() == "1"
}

#[test]
fn go_test_programs_dump_like_go() {
    let dir = goroot().join("src/internal/trace/testdata/testprog");
    let mut progs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "go"))
        .collect();
    progs.sort();
    assert!(
        progs.len() >= 13,
        "expected Go's 13 test programs, found {}",
        progs.len()
    );
    let cgo = cgo_enabled();
    let mut jobs = Vec::new();
    for p in progs {
        if p.file_stem().is_some_and(|s| s == "cgo-callback") && !cgo {
            println!("skipping cgo-callback.go: cgo is unavailable (CGO_ENABLED=0)");
            continue;
        }
        for &(mode, godebug) in MODES {
            jobs.push((p.clone(), mode, godebug));
        }
    }
    let jobs = Mutex::new(jobs);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let job = jobs.lock().map(|mut j| j.pop()).unwrap_or(None);
                let Some((p, mode, godebug)) = job else { break };
                if let Err(e) = check(&p, mode, godebug) {
                    if let Ok(mut f) = failures.lock() {
                        f.push(e);
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap_or_default();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
