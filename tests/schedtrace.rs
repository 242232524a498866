//! `GORT_DEBUG=schedtrace=MS[,scheddetail=1]`: sysmon prints Go's `SCHED`
//! lines to standard error. The test runs itself as the child (no test
//! harness: the variable is read when a runtime starts, and the child's
//! standard error is the subject) and parses what it printed.

use std::process::Command;
use std::time::Duration;

const CHILD: &str = "GORT_SCHEDTRACE_CHILD";

/// The child: two Ps, a few goroutines computing and parking for ~300 ms.
fn child() {
    let rt = gort::Runtime::builder().procs(2).build().expect("runtime");
    rt.block_on(|| {
        let (tx, rx) = gort::chan::<u64>(0);
        let _parked = gort::go(move || rx.recv().is_some());
        let start = std::time::Instant::now();
        let workers: Vec<_> = (0..3)
            .map(|i: u64| {
                gort::go(move || {
                    let mut x = i;
                    while start.elapsed() < Duration::from_millis(300) {
                        for _ in 0..10_000 {
                            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                        }
                        gort::yield_now();
                    }
                    x
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        drop(tx);
    });
}

/// One parsed summary line.
#[derive(Debug)]
struct Line {
    ms: u64,
    fields: Vec<(String, u64)>,
    queues: Vec<u64>,
}

fn parse(line: &str) -> Option<Line> {
    let rest = line.strip_prefix("SCHED ")?;
    let (ms, rest) = rest.split_once("ms: ")?;
    let (kv, queues) = match rest.split_once(" [") {
        Some((kv, q)) => (kv, Some(q.strip_suffix(']')?)),
        None => (rest, None),
    };
    let mut fields = Vec::new();
    for f in kv.split(' ') {
        let (k, v) = f.split_once('=')?;
        fields.push((k.to_string(), v.parse().ok()?));
    }
    let queues = match queues {
        Some(q) => q
            .split(' ')
            .map(|n| n.parse().ok())
            .collect::<Option<_>>()?,
        None => Vec::new(),
    };
    Some(Line {
        ms: ms.parse().ok()?,
        fields,
        queues,
    })
}

fn run_child(debug: &str) -> String {
    let out = Command::new(std::env::current_exe().expect("current exe"))
        .env(CHILD, "1")
        .env("GORT_DEBUG", debug)
        .output()
        .expect("run the child");
    assert!(out.status.success(), "child failed: {:?}", out.status);
    String::from_utf8(out.stderr).expect("UTF-8 stderr")
}

fn summary() {
    let err = run_child("schedtrace=20");
    let lines: Vec<Line> = err
        .lines()
        .filter(|l| l.starts_with("SCHED "))
        .map(|l| parse(l).unwrap_or_else(|| panic!("not Go's shape: {l:?}")))
        .collect();
    assert!(lines.len() >= 3, "{} SCHED lines in:\n{err}", lines.len());
    let keys = [
        "gomaxprocs",
        "idleprocs",
        "threads",
        "spinningthreads",
        "needspinning",
        "idlethreads",
        "runqueue",
    ];
    for l in &lines {
        let names: Vec<&str> = l.fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, keys, "{l:?}");
        let get = |k: &str| l.fields.iter().find(|(n, _)| n == k).unwrap().1;
        assert_eq!(get("gomaxprocs"), 2);
        assert!(get("idleprocs") <= 2);
        assert!(get("threads") >= 2, "the Ms and sysmon: {l:?}");
        assert_eq!(l.queues.len(), 2, "one local queue per P: {l:?}");
    }
    assert!(
        lines.windows(2).all(|w| w[0].ms < w[1].ms),
        "times increase"
    );
    // While three goroutines compute on two Ps, some report sees both busy.
    assert!(
        lines.iter().any(|l| l.fields[1].1 == 0),
        "no report with every P busy:\n{err}"
    );
}

fn detail() {
    let err = run_child("scheddetail=1,schedtrace=25");
    let first = err.find("SCHED ").expect("a report");
    let report: Vec<&str> = err[first..].lines().take_while(|l| !l.is_empty()).collect();
    assert!(parse(report[0]).is_some(), "{:?}", report[0]);
    assert!(
        !report[0].contains('['),
        "detail has no queue summary: {:?}",
        report[0]
    );
    let ps = err.lines().filter(|l| l.starts_with("  P")).count();
    assert!(
        ps >= 2 && ps % 2 == 0,
        "P lines come in pairs (2 Ps): {ps}\n{err}"
    );
    assert!(
        err.lines().any(|l| l.starts_with("  P0: status=")
            && l.contains(" syscalltick=")
            && l.contains(" runqsize=")
            && l.contains(" timerslen=")),
        "{err}"
    );
    assert!(
        err.lines()
            .any(|l| l.starts_with("  G")
                && l.contains(": status=4(chan receive) m=nil lockedm=nil")),
        "the parked goroutine's line:\n{err}"
    );
    assert!(
        err.lines().any(|l| l.starts_with("  G1: status=")),
        "the main goroutine's line:\n{err}"
    );
    // One line per M; while the workers compute, some M runs a goroutine on
    // a P.
    let ms: Vec<&str> = err.lines().filter(|l| l.starts_with("  M")).collect();
    assert!(!ms.is_empty(), "no M lines:\n{err}");
    assert!(
        ms.iter().all(|l| l.contains(": p=")
            && l.contains(" curg=")
            && l.contains(" blocked=")
            && l.contains(" lockedg=")),
        "{ms:#?}"
    );
    assert!(
        ms.iter()
            .any(|l| !l.contains("p=nil") && !l.contains("curg=nil")),
        "no M running a goroutine on a P:\n{err}"
    );
}

fn main() {
    if std::env::var_os(CHILD).is_some() {
        child();
        return;
    }
    summary();
    detail();
    // Unset: nothing printed.
    let out = Command::new(std::env::current_exe().unwrap())
        .env(CHILD, "1")
        .env_remove("GORT_DEBUG")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("SCHED"));
    println!("schedtrace: ok");
}
