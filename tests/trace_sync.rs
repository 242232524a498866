//! Blocking in `RwMutex`, `Cond` and `Once` is traced as Go 1.23 traces
//! `sync.RWMutex`, `sync.Cond` and `sync.Once`: GoBlock with reason `sync`
//! (Cond: `sync.(*Cond).Wait`) and a stack naming the Rust call site. The
//! traces pass gort's validator and Go's parser and `gotracevalidate`.
#![cfg(feature = "trace")]

mod runtime_support;
mod support;

use gort::chan;
use gort::sync::{Cond, Mutex, Once, RwMutex};
use gort::tracer::wire::EventType;
use std::collections::BTreeSet;
use std::sync::Arc;
use support::{
    go_pprof_traces, scratch, trace_lock, validate_with_go, validate_with_gort, wait_parked,
    SharedBuf,
};

const SYNC: &str = "sync";
const COND: &str = "sync.(*Cond).Wait";

/// The goroutines' blocking calls that must be traced: (reason, line).
type Sites = Vec<(&'static str, u32)>;

/// Blocks once in each way: a reader behind a writer, a writer behind a
/// writer, a writer behind a reader, a `Cond` waiter and a `Once` caller.
/// Each blocked goroutine reports the line of its blocking call.
fn scenario() -> Sites {
    let (site_tx, site_rx) = chan::<(&'static str, u32)>(16);
    let rw = Arc::new(RwMutex::new(0u32));

    // A reader and a second writer queue behind a held write lock.
    let w = rw.write();
    let (rw1, tx) = (rw.clone(), site_tx.clone());
    let reader = gort::go(move || {
        let (g, at) = (rw1.read(), line!());
        tx.send((SYNC, at)).unwrap();
        drop(g);
    });
    wait_parked(reader.id(), "sync.");
    let (rw1, tx) = (rw.clone(), site_tx.clone());
    let writer = gort::go(move || {
        let (mut g, at) = (rw1.write(), line!());
        *g += 1;
        tx.send((SYNC, at)).unwrap();
    });
    wait_parked(writer.id(), "sync.");
    drop(w);
    reader.join().unwrap();
    writer.join().unwrap();

    // A writer waits for a reader that holds the lock.
    let (release_tx, release_rx) = chan::<()>(0);
    let (inside_tx, inside_rx) = chan::<()>(0);
    let rw1 = rw.clone();
    let holder = gort::go(move || {
        let _g = rw1.read();
        inside_tx.send(()).unwrap();
        release_rx.recv().unwrap();
    });
    inside_rx.recv().unwrap();
    let (rw1, tx) = (rw.clone(), site_tx.clone());
    let writer = gort::go(move || {
        let (g, at) = (rw1.write(), line!());
        tx.send((SYNC, at)).unwrap();
        drop(g);
    });
    wait_parked(writer.id(), "sync.");
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    writer.join().unwrap();

    // A Cond waiter, signalled once it waits.
    let s = Arc::new((Mutex::new(false), Cond::new()));
    let (s1, tx) = (s.clone(), site_tx.clone());
    let waiter = gort::go(move || {
        let g = s1.0.lock();
        let (g, at) = (s1.1.wait(g), line!());
        assert!(*g);
        tx.send((COND, at)).unwrap();
    });
    wait_parked(waiter.id(), "sync.Cond.Wait");
    *s.0.lock() = true;
    s.1.signal();
    waiter.join().unwrap();

    // A Once caller parks while the first caller's closure blocks.
    let once = Arc::new(Once::new());
    let (go_tx, go_rx) = chan::<()>(0);
    let o = once.clone();
    let first = gort::go(move || o.call_once(|| go_rx.recv().unwrap()));
    wait_parked(first.id(), "chan receive");
    let (o, tx) = (once.clone(), site_tx.clone());
    let second = gort::go(move || {
        let second_closure = || unreachable!("a second Once closure ran");
        let ((), at) = (o.call_once(second_closure), line!());
        tx.send((SYNC, at)).unwrap();
    });
    wait_parked(second.id(), "sync.");
    go_tx.send(()).unwrap();
    first.join().unwrap();
    second.join().unwrap();

    drop(site_tx);
    site_rx.iter().collect()
}

/// The trace of `scenario` on `procs` Ps, and the sites it reported.
fn traced(procs: usize) -> (Vec<u8>, Sites) {
    let _serial = trace_lock();
    let buf = SharedBuf::default();
    let b2 = buf.clone();
    let sites = runtime_support::timed(move || {
        runtime_support::rt(procs).block_on(move || {
            gort::trace::start(b2).unwrap();
            let sites = scenario();
            gort::trace::stop().unwrap();
            sites
        })
    });
    (buf.take(), sites)
}

/// (reason, file, line) of every GoBlock whose reason is `sync` or the
/// Cond's, in trace order; the file and line of the stack's one frame.
fn sync_blocks(trace: &[u8]) -> Vec<(String, String, u64)> {
    let mut out = Vec::new();
    for ev in gort::parser::Reader::from_slice(trace).expect("reader") {
        let ev = ev.expect("event");
        if ev.wire_type() != Some(EventType::GoBlock) {
            continue;
        }
        let st = ev.state_transition().expect("GoBlock is a transition");
        let reason = String::from_utf8_lossy(st.reason).into_owned();
        if reason != SYNC && reason != COND {
            continue;
        }
        let (file, line) = match st.stack.and_then(|s| s.frames().next()) {
            Some(f) => (String::from_utf8_lossy(f.file).into_owned(), f.line),
            None => (String::new(), 0),
        };
        out.push((reason, file, line));
    }
    out
}

fn check(procs: usize) {
    let (trace, sites) = traced(procs);
    assert_eq!(sites.len(), 5, "{sites:?}");
    validate_with_gort(&trace);
    let f = scratch(&format!("sync-ext-trace-{procs}")).join("sync.trace");
    std::fs::write(&f, &trace).unwrap();
    validate_with_go(std::slice::from_ref(&f));

    if procs == 1 {
        // Go's own block profile names every site.
        let profile = go_pprof_traces(&f, "sync");
        for (_, line) in &sites {
            let at = format!("tests/trace_sync.rs:{line}\n");
            assert!(
                profile.contains(&at),
                "no {at:?} in Go's profile:\n{profile}"
            );
        }
    }

    let blocks = sync_blocks(&trace);
    // Every sync block names its call site in this file (`join`s included).
    for (reason, file, line) in &blocks {
        assert!(
            file.ends_with("tests/trace_sync.rs") && *line > 0,
            "a {reason:?} block without this file's call site: {file}:{line}"
        );
    }
    let seen: BTreeSet<(&str, u64)> = blocks.iter().map(|(r, _, l)| (r.as_str(), *l)).collect();
    if procs == 1 {
        // One P: each goroutine above runs until it blocks before the main
        // goroutine goes on, so every site blocked, with its reason.
        for (reason, line) in &sites {
            assert!(
                seen.contains(&(*reason, u64::from(*line))),
                "no {reason:?} block at line {line}; sync blocks: {blocks:?}"
            );
        }
    }
    // The Cond's reason marks Cond waits only (relocking the mutex after
    // the wait, at the same line, would be `sync`).
    for (reason, _, line) in &blocks {
        if reason == COND {
            let at = u32::try_from(*line).unwrap();
            assert!(sites.contains(&(COND, at)), "a Cond block at line {line}");
        }
    }
}

#[test]
fn sync_blocking_is_traced_with_go_reasons_and_call_sites_procs1() {
    check(1);
}

#[test]
fn sync_blocking_is_traced_with_go_reasons_and_call_sites_procs2() {
    check(2);
}
