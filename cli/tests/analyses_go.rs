//! `gort-trace pprof` and `gort-trace goroutines` against Go 1.23.9's
//! `go tool trace` on every Go golden and gort example trace, and against
//! Go 1.25.5's and 1.27.3's on the go 1.25/1.26 goldens and the traces of
//! their test programs (each trace read by the Go of its format): the profiles
//! sample by sample (read back by `go tool pprof`), the goroutine analysis
//! cell by cell (read from `go tool trace -http`'s pages), and the
//! `--accurate` profiles' totals against the same pages.
//!
//! Go orders events with equal timestamps on different threads by map
//! iteration, so on traces with such ties an interval can end 1 ns apart
//! from Go's; delays may differ by 1 ns per sample, counts and stacks not.

#[path = "support/go_tools.rs"]
mod go_tools;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use go_tools::{
    html_unescape, parse_go_duration, pprof_samples, query_escape, root, run, trace_tool_for,
    traces, TraceServer,
};
use gort_parser::pprof::{profile_trace, Accounting, ProfileKind};
use gort_parser::Reader;
use regex::Regex;

fn gort_trace() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gort-trace"))
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gort-analyses-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("scratch directory");
    d
}

/// Compares the `kind` profile of `trace` with Go's; a description of the
/// first difference.
fn compare_pprof(trace: &Path, kind: &str, dir: &Path) -> Result<(), String> {
    let stem = trace.file_stem().and_then(|s| s.to_str()).unwrap_or("t");
    let ours = dir.join(format!("{stem}.{kind}.ours.pb.gz"));
    let go = dir.join(format!("{stem}.{kind}.go.pb.gz"));
    run(gort_trace()
        .args(["pprof", kind])
        .arg(trace)
        .arg("-o")
        .arg(&ours));
    let go_bytes = run(Command::new(trace_tool_for(trace))
        .arg(format!("-pprof={kind}"))
        .arg(trace));
    std::fs::write(&go, go_bytes).expect("write Go's profile");
    let (a, b) = (pprof_samples(&ours), pprof_samples(&go));
    let name = format!("{} {kind}", trace.display());
    if a.len() != b.len() {
        return Err(format!("{name}: {} samples, Go {}", a.len(), b.len()));
    }
    for (x, y) in a.iter().zip(&b) {
        if x.0 != y.0 || x.2 != y.2 || (x.1 - y.1).abs() > 1 {
            return Err(format!("{name}: sample {x:?}, Go {y:?}"));
        }
    }
    Ok(())
}

/// The test traces plus, in `dir`, one cut short in its 30th generation:
/// Go analyses the complete generations (its summary sees every event
/// read).
fn traces_and_a_cut_one(dir: &Path) -> Vec<PathBuf> {
    let mut v = traces();
    let src = v
        .iter()
        .find(|p| p.ends_with("genstress.trace"))
        .expect("genstress golden")
        .clone();
    let data = std::fs::read(&src).expect("read genstress");
    let cut = dir.join("genstress-cut.trace");
    std::fs::write(&cut, &data[..data.len() * 2 / 3]).expect("write cut trace");
    v.push(cut);
    v
}

/// The go 1.25 and go 1.26 traces: the goldens and Go's test programs'.
fn newer_format_traces() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for dir in [
        "parser/tests/data/go1.25-1.26",
        "parser/tests/data/testprog",
    ] {
        for e in std::fs::read_dir(root().join(dir)).expect("test data directory") {
            let p = e.expect("entry").path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if p.extension().is_some_and(|x| x == "trace")
                && (name.starts_with("go125_") || name.starts_with("go126_"))
            {
                v.push(p);
            }
        }
    }
    v.sort();
    assert!(v.len() >= 20, "newer-format traces missing: {v:?}");
    v
}

/// Compares all four profiles of every trace in `traces`, on two workers.
fn pprof_failures(traces: &[PathBuf], dir: &Path) -> Vec<String> {
    std::thread::scope(|s| {
        let jobs: Vec<_> = traces
            .chunks(traces.len().div_ceil(2))
            .map(|chunk| {
                s.spawn(move || {
                    let mut f = Vec::new();
                    for t in chunk {
                        for k in ["net", "sync", "syscall", "sched"] {
                            if let Err(e) = compare_pprof(t, k, dir) {
                                f.push(e);
                            }
                        }
                    }
                    f
                })
            })
            .collect();
        jobs.into_iter()
            .flat_map(|j| j.join().expect("worker"))
            .collect()
    })
}

#[test]
fn pprof_equals_go_1_25_and_1_27_on_newer_formats() {
    let dir = scratch("pprof-new");
    let failures = pprof_failures(&newer_format_traces(), &dir);
    std::fs::remove_dir_all(&dir).ok();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn goroutines_equal_go_1_25_and_1_27_pages_on_newer_formats() {
    let failures: Vec<String> = newer_format_traces()
        .iter()
        .filter_map(|t| compare_goroutines(t).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn pprof_equals_go_on_every_trace_and_type() {
    let dir = scratch("pprof");
    let traces = traces_and_a_cut_one(&dir);
    let failures = pprof_failures(&traces, &dir);
    std::fs::remove_dir_all(&dir).ok();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// One goroutine row of Go's breakdown (or ours): column to nanoseconds.
type Row = BTreeMap<String, i64>;

/// Go's `/goroutine?name=` page: the breakdown's columns and rows by ID,
/// and the special ranges' rows by ID.
fn go_group_page(html: &str) -> (Vec<String>, BTreeMap<i64, Row>, BTreeMap<i64, Row>) {
    let th = Regex::new(r"reloadTable\('sortby', '([^']*)'\)").expect("regex");
    let th_plain = Regex::new(r"<th(?: [^>]*)?> ([^<]*)</th>").expect("regex");
    let td = Regex::new(r"<td> ([^<]*?)\s*</td>").expect("regex");
    let id = Regex::new(r#"goid=(\d+)""#).expect("regex");
    let mut tables = html.split("<table class=\"details\">").skip(1);
    let breakdown = tables.next().expect("breakdown table");
    let ranges = tables.next().unwrap_or("");
    let columns: Vec<String> = th
        .captures_iter(breakdown)
        .map(|c| html_unescape(&c[1]))
        .filter(|c| c != "Total time")
        .collect();
    let rows = |table: &str, cols: &[String]| {
        let mut out = BTreeMap::new();
        for chunk in table.split("<tr>").skip(2) {
            let Some(g) = id.captures(chunk) else {
                continue;
            };
            let cells: Vec<i64> = td
                .captures_iter(chunk)
                .map(|c| parse_go_duration(&c[1]))
                .collect();
            let mut row = Row::new();
            let names = std::iter::once("Total".to_owned()).chain(cols.iter().cloned());
            for (n, v) in names.zip(cells) {
                row.insert(n, v);
            }
            out.insert(g[1].parse().expect("goroutine ID"), row);
        }
        out
    };
    let range_cols: Vec<String> = th_plain
        .captures_iter(ranges)
        .map(|c| html_unescape(&c[1]))
        .skip(2)
        .collect();
    let b = rows(breakdown, &columns);
    let r = rows(ranges, &range_cols);
    (columns, b, r)
}

/// Our `goroutines --json` output for `trace` (optionally one group).
fn ours_json(trace: &Path, name: Option<&str>) -> Vec<serde_json::Value> {
    let mut cmd = gort_trace();
    cmd.arg("goroutines").arg(trace).arg("--json");
    if let Some(n) = name {
        cmd.args(["--name", n]);
    }
    let out = run(&mut cmd);
    serde_json::from_slice::<Vec<serde_json::Value>>(&out).expect("goroutines --json is JSON")
}

fn as_row(v: &serde_json::Value) -> Row {
    v.as_object()
        .expect("object")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_i64().expect("integer ns")))
        .collect()
}

/// Sums of Go's page columns that the `--accurate` profiles must equal.
#[derive(Debug, Default)]
struct Totals {
    net: i64,
    sync: i64,
    syscall: i64,
    sched: i64,
}

fn compare_goroutines(trace: &Path) -> Result<Totals, String> {
    let name = trace.display().to_string();
    let server = TraceServer::start_tool(&trace_tool_for(trace), trace);
    let list = server.get("/goroutines");
    let group = Regex::new(
        r#"<a href="/goroutine\?name=[^"]*">([^<]*)</a></code></td>\s*<td>(\d+)</td>\s*<td>([^<]*)</td>"#,
    )
    .expect("regex");
    let mut go_groups = BTreeMap::new();
    for c in group.captures_iter(&list) {
        let mut n = html_unescape(&c[1]);
        if n == "(Inactive, no stack trace sampled)" {
            n.clear();
        }
        go_groups.insert(
            n,
            (
                c[2].parse::<usize>().expect("count"),
                parse_go_duration(&c[3]),
            ),
        );
    }
    let all = ours_json(trace, None);
    let mut our_groups: BTreeMap<String, (usize, i64)> = BTreeMap::new();
    for g in &all {
        let e = our_groups
            .entry(g["name"].as_str().expect("name").to_owned())
            .or_default();
        e.0 += 1;
        e.1 += g["stats"]["Execution time"].as_i64().expect("ns");
    }
    let groups_close = go_groups.len() == our_groups.len()
        && go_groups
            .iter()
            .zip(&our_groups)
            .all(|((n1, (c1, e1)), (n2, (c2, e2)))| {
                n1 == n2 && c1 == c2 && (e1 - e2).abs() <= *c1 as i64
            });
    if !groups_close {
        return Err(format!("{name}: groups {our_groups:?}, Go {go_groups:?}"));
    }
    let mut totals = Totals::default();
    for group_name in go_groups.keys() {
        let page = server.get(&format!("/goroutine?name={}", query_escape(group_name)));
        let (go_cols, go_rows, go_ranges) = go_group_page(&page);
        let ours = ours_json(trace, Some(group_name));
        let our_cols: Vec<String> = ours[0]["stats"]
            .as_object()
            .expect("stats")
            .keys()
            .filter(|k| *k != "Total")
            .cloned()
            .collect();
        let (mut a, mut b) = (go_cols.clone(), our_cols.clone());
        a.sort();
        b.sort();
        if a != b {
            return Err(format!(
                "{name} {group_name:?}: columns {our_cols:?}, Go {go_cols:?}"
            ));
        }
        let our_rows: BTreeMap<i64, Row> = ours
            .iter()
            .map(|g| (g["id"].as_i64().expect("id"), as_row(&g["stats"])))
            .collect();
        if !rows_close(&our_rows, &go_rows) {
            return Err(format!(
                "{name} {group_name:?}: rows {our_rows:?}, Go {go_rows:?}"
            ));
        }
        let our_ranges: BTreeMap<i64, Row> = ours
            .iter()
            .filter(|g| as_row(&g["ranges"]).values().sum::<i64>() != 0)
            .map(|g| {
                let mut r = as_row(&g["ranges"]);
                r.insert("Total".into(), g["stats"]["Total"].as_i64().expect("ns"));
                (g["id"].as_i64().expect("id"), r)
            })
            .collect();
        // Go's ranges table has a column for every range any goroutine of the
        // group was in; ours lists each goroutine's own ranges.
        let go_ranges: BTreeMap<i64, Row> = go_ranges
            .into_iter()
            .map(|(id, row)| {
                let keep: BTreeSet<String> = our_ranges
                    .get(&id)
                    .map(|r| r.keys().cloned().collect())
                    .unwrap_or_default();
                let row = row
                    .into_iter()
                    .filter(|(k, v)| keep.contains(k) || *v != 0)
                    .collect();
                (id, row)
            })
            .collect();
        if !rows_close(&our_ranges, &go_ranges) {
            return Err(format!(
                "{name} {group_name:?}: ranges {our_ranges:?}, Go {go_ranges:?}"
            ));
        }
        for row in go_rows.values() {
            for (col, v) in row {
                let reason = col
                    .strip_prefix("Block time (")
                    .and_then(|r| r.strip_suffix(')'));
                match (col.as_str(), reason) {
                    ("Sched wait time", _) => totals.sched += v,
                    ("Syscall execution time", _) | ("Block time (syscall)", _) => {
                        totals.syscall += v
                    }
                    (_, Some("network")) => totals.net += v,
                    (_, Some(r))
                        if r.contains("chan") || r.contains("sync") || r.contains("select") =>
                    {
                        totals.sync += v
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(totals)
}

/// Same goroutines, same columns, values at most 1 ns apart per goroutine
/// and column (tied timestamps, see the module documentation).
fn rows_close(a: &BTreeMap<i64, Row>, b: &BTreeMap<i64, Row>) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|((i, r), (j, s))| {
            i == j
                && r.len() == s.len()
                && r.iter()
                    .zip(s)
                    .all(|((k, v), (l, w))| k == l && (v - w).abs() <= 1)
        })
}

fn accurate_total(trace: &Path, kind: ProfileKind) -> i64 {
    let data = std::fs::read(trace).expect("trace");
    let r = Reader::from_slice(&data).expect("header");
    let p = profile_trace(r, kind, Accounting::Accurate).expect("profile");
    p.records.iter().map(|r| r.delay).sum()
}

#[test]
fn goroutines_equal_go_pages_and_accurate_profiles_equal_their_totals() {
    let dir = scratch("goroutines");
    let mut failures = Vec::new();
    for t in traces_and_a_cut_one(&dir) {
        match compare_goroutines(&t) {
            Ok(go) => {
                let ours = Totals {
                    net: accurate_total(&t, ProfileKind::Net),
                    sync: accurate_total(&t, ProfileKind::Sync),
                    syscall: accurate_total(&t, ProfileKind::Syscall),
                    sched: accurate_total(&t, ProfileKind::Sched),
                };
                // Go's scheduling wait also counts, for a goroutine still in a
                // blocked syscall at the end, the time since it lost its P.
                let n = 8; // ns of tie slack over a whole trace's sums
                let near = |a: i64, b: i64| (a - b).abs() <= n;
                if !(near(ours.net, go.net)
                    && near(ours.sync, go.sync)
                    && near(ours.syscall, go.syscall)
                    && ours.sched <= go.sched + n)
                {
                    failures.push(format!(
                        "{}: accurate {ours:?}, Go's pages {go:?}",
                        t.display()
                    ));
                }
            }
            Err(e) => failures.push(e),
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn unreadable_traces_fail_with_go_s_message() {
    let dir = scratch("bad");
    let header_only = dir.join("header-only.trace");
    std::fs::write(&header_only, b"go 1.23 trace\0\0\0").expect("write");
    let garbage = dir.join("garbage.trace");
    std::fs::write(&garbage, b"not a trace at all").expect("write");
    for (file, go_says) in [
        (&header_only, "failed to parse any useful part of the trace"),
        (&garbage, "failed to create trace reader"),
    ] {
        for args in [&["pprof", "sched"][..], &["goroutines"]] {
            let out = gort_trace().args(args).arg(file).output().expect("runs");
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{args:?} {}: {err}",
                file.display()
            );
            assert!(err.contains(go_says), "{args:?}: {err}");
        }
        let go = Command::new(go_tools::go_tool("trace"))
            .arg("-pprof=sched")
            .arg(file)
            .output()
            .expect("go tool trace runs");
        assert_eq!(go.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&go.stderr).contains(go_says));
    }
    std::fs::remove_dir_all(&dir).ok();
}
