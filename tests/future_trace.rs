//! `future::block_on` in the trace: a goroutine waiting for a pending future
//! is a GoBlock with the reason `future` and is woken by a GoUnblock of the
//! same goroutine, whether the waker runs on a goroutine or on a plain
//! thread; the trace passes gort's validator and Go's parser and
//! `gotracevalidate`.
#![cfg(feature = "trace")]

mod runtime_support;
mod support;

use futures::channel::oneshot;
use gort::tracer::wire::EventType;
use std::collections::BTreeSet;
use support::{trace_lock, traced_run, validate_everywhere};

fn scenario() {
    // Woken by another goroutine.
    let (tx, rx) = oneshot::channel::<u32>();
    let waiter = gort::go(move || gort::future::block_on(rx).unwrap());
    gort::yield_now();
    gort::go(move || tx.send(1).unwrap()).join().unwrap();
    assert_eq!(waiter.join().unwrap(), 1);
    // Woken by a plain thread, after the goroutine parked.
    let (tx, rx) = oneshot::channel::<u32>();
    let (gate_tx, gate_rx) = std::sync::mpsc::channel::<()>();
    let th = std::thread::spawn(move || {
        gate_rx.recv().unwrap();
        tx.send(2).unwrap();
    });
    let waiter = gort::go(move || gort::future::block_on(rx).unwrap());
    gort::yield_now();
    gate_tx.send(()).unwrap();
    assert_eq!(waiter.join().unwrap(), 2);
    gort::syscall(|| th.join().unwrap());
}

#[test]
fn block_on_waits_are_traced_as_future_blocks() {
    for procs in [1, 2] {
        let _serial = trace_lock();
        let trace =
            runtime_support::timed(move || traced_run(runtime_support::rt(procs), scenario));
        let mut blocked = BTreeSet::new();
        let mut woken = 0;
        for ev in gort::parser::Reader::from_slice(&trace).expect("reader") {
            let ev = ev.expect("event");
            let Some(st) = ev.state_transition() else {
                continue;
            };
            let gort::parser::Transition::Goroutine { id: g, .. } = st.transition else {
                continue;
            };
            match ev.wire_type() {
                Some(EventType::GoBlock) if st.reason == b"future" => {
                    blocked.insert(g);
                }
                Some(EventType::GoUnblock) if blocked.contains(&g) => woken += 1,
                _ => {}
            }
        }
        assert!(
            !blocked.is_empty(),
            "procs={procs}: no GoBlock with reason future"
        );
        assert!(
            woken >= blocked.len(),
            "procs={procs}: {woken} unblocks for {blocked:?}"
        );
        validate_everywhere(&trace, &format!("future-trace-{procs}"), "future.trace");
    }
}
