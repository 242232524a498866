//! `gort::trace::TracingLayer`: a program instrumented with `tracing` gets
//! its spans as user regions of the goroutines that entered them (nested as
//! the spans nest), its root spans with the task field as user tasks, and
//! its events as user logs with the level as category; Go's parser and
//! validator accept the trace.

mod runtime_support;
mod support;

use gort::tracer::wire::EventType;
use std::collections::BTreeMap;
use support::{trace_lock, traced_run, validate_everywhere};
use tracing_subscriber::prelude::*;

fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let layer = gort::trace::TracingLayer::new().task_field("request_id");
        tracing_subscriber::registry()
            .with(layer)
            .try_init()
            .expect("the only global subscriber");
    });
}

/// What one goroutine did, as the test's goroutines report it.
fn request(i: u32) -> u64 {
    let span = tracing::info_span!("request", request_id = i);
    let _req = span.enter();
    {
        let db = tracing::info_span!("db");
        let _db = db.enter();
        tracing::info!(rows = 3, "query done");
        gort::sleep(std::time::Duration::from_millis(1));
    }
    tracing::warn!("slow");
    gort::goroutine_id().unwrap()
}

#[test]
fn spans_and_events_become_regions_tasks_and_logs() {
    install();
    for procs in [1, 2] {
        one_run(procs);
    }
}

/// With `procs(1)` the two goroutines share one thread, each parking inside
/// its spans while the other runs: the spans follow their goroutines.
fn one_run(procs: usize) {
    let _serial = trace_lock();
    let (tx, rx) = std::sync::mpsc::channel();
    let trace = runtime_support::timed(move || {
        traced_run(runtime_support::rt(procs), move || {
            let hs: Vec<_> = (0..2).map(|i| gort::go(move || request(i))).collect();
            let ids: Vec<u64> = hs.into_iter().map(|h| h.join().unwrap()).collect();
            // Outside any span: a log of the background task.
            tracing::error!(code = 7, "outside");
            tx.send(ids).unwrap();
        })
    });
    let ids = rx.recv().unwrap();
    validate_everywhere(&trace, &format!("tracing-layer-{procs}"), "tracing.trace");

    // Per goroutine (low 40 bits: the runtime's serial is above them):
    // what it wrote, in order.
    let mut seen: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut tasks: BTreeMap<u64, String> = BTreeMap::new();
    let mut ended = 0;
    for ev in gort::parser::Reader::from_slice(&trace).expect("reader") {
        let ev = ev.expect("event");
        let g = (ev.goroutine().0 as u64) & ((1 << 40) - 1);
        let line = match ev.wire_type() {
            Some(EventType::UserTaskBegin) => {
                let t = ev.task().unwrap();
                tasks.insert(t.id.0, String::from_utf8_lossy(t.kind).into_owned());
                format!("task {}", String::from_utf8_lossy(t.kind))
            }
            Some(EventType::UserTaskEnd) => {
                ended += 1;
                continue;
            }
            Some(EventType::UserRegionBegin) | Some(EventType::UserRegionEnd) => {
                let r = ev.region().unwrap();
                let begin = ev.wire_type() == Some(EventType::UserRegionBegin);
                let task = if r.task.0 == 0 { "bg" } else { "task" };
                format!(
                    "{} {} ({task})",
                    if begin { "begin" } else { "end" },
                    String::from_utf8_lossy(r.kind)
                )
            }
            Some(EventType::UserLog) => {
                let l = ev.log().unwrap();
                let task = match tasks.get(&l.task.0) {
                    Some(k) => k.as_str(),
                    None => "bg",
                };
                format!(
                    "log {} {:?} ({task})",
                    String::from_utf8_lossy(l.category),
                    String::from_utf8_lossy(l.message)
                )
            }
            _ => continue,
        };
        seen.entry(g).or_default().push(line);
    }
    let want = [
        "task request",
        "begin request (task)",
        "begin db (task)",
        "log INFO \"query done rows=3\" (request)",
        "end db (task)",
        "log WARN \"slow\" (request)",
        "end request (task)",
    ];
    for id in &ids {
        assert_eq!(
            seen.get(id).map(|v| v.as_slice()).unwrap_or(&[]),
            want,
            "procs={procs}: goroutine {id}; everything: {seen:#?}"
        );
    }
    // As `gort-trace dump` prints them (Go's `-d=1` text of each event):
    // the log and the region of each goroutine, on that goroutine.
    let mut text = Vec::new();
    for ev in gort::parser::Reader::from_slice(&trace).expect("reader") {
        ev.expect("event").write_go_text(&mut text);
        text.push(b'\n');
    }
    let text = String::from_utf8(text).expect("UTF-8 dump");
    for id in &ids {
        let on_g = |l: &&str| {
            l.split(' ')
                .find_map(|f| f.strip_prefix("G="))
                .and_then(|g| g.parse::<u64>().ok())
                .is_some_and(|g| g & ((1 << 40) - 1) == *id)
        };
        let lines: Vec<&str> = text.lines().filter(on_g).collect();
        assert!(
            lines.iter().any(|l| l.contains(" Log ")
                && l.contains(r#"Category="INFO" Message="query done rows=3""#)),
            "procs={procs}: no INFO log on goroutine {id} in the dump:\n{}",
            lines.join("\n")
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains(" RegionBegin ") && l.contains(r#"Type="db""#)),
            "procs={procs}: no db region on goroutine {id} in the dump:\n{}",
            lines.join("\n")
        );
    }
    let main = seen
        .values()
        .flatten()
        .filter(|l| l.starts_with("log ERROR"))
        .count();
    assert_eq!(main, 1, "{seen:#?}");
    assert!(
        seen.values()
            .flatten()
            .any(|l| l == "log ERROR \"outside code=7\" (bg)"),
        "{seen:#?}"
    );
    assert_eq!(tasks.values().filter(|k| *k == "request").count(), 2);
    // Each request span closed when its goroutine dropped it: its task ended.
    assert_eq!(ended, 2, "procs={procs}: task ends");
}
