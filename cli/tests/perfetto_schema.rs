//! `gort-trace perfetto` decoded by Perfetto's own protobuf schema
//! (`scripts/perfetto-check`, which installs the `perfetto` PyPI package):
//! every track described before use, slices nested on every track, every
//! flow ended, and per goroutine one execution slice per run and one
//! `syscall` slice per syscall, counted from the trace itself.
//!
//! Every format: the go 1.23 goldens and gort's traces, the go 1.25/1.26
//! goldens and the traces of Go 1.25's and 1.27's test programs.
//!
//! `large.trace` is left out: its 240 MB export takes Python most of a
//! minute to decode.

#[path = "support/go_tools.rs"]
mod go_tools;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use go_tools::{root, run, traces};
use gort_parser::{GoId, GoState, Reader, Transition};

/// Runs and syscalls per goroutine, from the trace.
fn expected(trace: &Path) -> BTreeMap<i64, (u64, u64)> {
    let data = std::fs::read(trace).expect("trace");
    let mut r = Reader::from_slice(&data).expect("header");
    let mut m: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    while let Some(ev) = r.next_event().expect("valid trace") {
        let Some(st) = ev.state_transition() else {
            continue;
        };
        if let Transition::Goroutine {
            id: GoId(g),
            from,
            to,
        } = st.transition
        {
            if from == to {
                continue;
            }
            let e = m.entry(g).or_default();
            match to {
                GoState::Running => e.0 += 1,
                GoState::Syscall => e.1 += 1,
                _ => {}
            }
        }
    }
    m.retain(|_, v| *v != (0, 0));
    m
}

#[test]
fn perfetto_output_decodes_and_has_one_slice_per_run() {
    let dir = std::env::temp_dir().join(format!("gort-perfetto-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch");
    let mut traces: Vec<PathBuf> = traces()
        .into_iter()
        .filter(|t| !t.ends_with("large.trace"))
        .collect();
    // The go 1.25/1.26 goldens and Go's test programs' traces.
    for dir in [
        "parser/tests/data/go1.25-1.26",
        "parser/tests/data/testprog",
    ] {
        let mut v: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
            .expect("test data directory")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "trace"))
            .collect();
        v.sort();
        traces.extend(v);
    }
    assert!(
        traces
            .iter()
            .any(|t| t.to_string_lossy().contains("go126_")),
        "go 1.26 traces missing"
    );
    let mut outs = Vec::new();
    for t in &traces {
        let out = dir.join(format!(
            "{}-{}.pftrace",
            t.parent()
                .and_then(|p| p.file_name())
                .and_then(|s| s.to_str())
                .unwrap_or("x"),
            t.file_stem().and_then(|s| s.to_str()).unwrap_or("t")
        ));
        run(Command::new(env!("CARGO_BIN_EXE_gort-trace"))
            .arg("perfetto")
            .arg(t)
            .arg("-o")
            .arg(&out));
        outs.push(out);
    }
    let report = Command::new(root().join("scripts/perfetto-check"))
        .args(&outs)
        .output()
        .expect("scripts/perfetto-check runs");
    let text = String::from_utf8(report.stdout).expect("UTF-8");
    let mut failures = Vec::new();
    let reports: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per file"))
        .collect();
    assert_eq!(
        reports.len(),
        traces.len(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    for (t, rep) in traces.iter().zip(&reports) {
        let problems = rep["problems"].as_array().expect("problems");
        if !problems.is_empty() {
            failures.push(format!("{}: {problems:?}", t.display()));
        }
        let mut got: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
        for tr in rep["tracks"].as_array().expect("tracks") {
            let name = tr["name"].as_str().expect("name");
            let Some(Ok(g)) = name.strip_prefix('G').map(str::parse::<i64>) else {
                continue;
            };
            for (slice, n) in tr["slices"].as_object().expect("slices") {
                let n = n.as_u64().expect("count");
                let e = got.entry(g).or_default();
                if slice == "syscall" {
                    e.1 += n;
                } else {
                    e.0 += n;
                }
            }
        }
        got.retain(|_, v| *v != (0, 0));
        let want = expected(t);
        if got != want {
            failures.push(format!("{}: slices {got:?}, trace {want:?}", t.display()));
        }
    }
    assert!(
        report.status.success() || !failures.is_empty(),
        "perfetto-check failed"
    );
    std::fs::remove_dir_all(&dir).ok();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
