//! Timers in the trace as Go 1.23 writes them: `sleep` blocks with reason
//! `sleep`; the scheduler's timer wake-ups are GoUnblock events with an
//! empty stack; an `after_func` goroutine is created with an empty stack.
//! The trace passes gort's validator and Go's parser and `gotracevalidate`.
#![cfg(feature = "trace")]

mod runtime_support;
mod support;

use gort::tracer::wire::EventType;
use std::time::Duration;
use support::{trace_lock, traced_run, validate_everywhere};

const MS: Duration = Duration::from_millis(1);

fn scenario() {
    gort::sleep(2 * MS);
    gort::time::after(2 * MS).recv().unwrap();
    let (tx, rx) = gort::chan(1);
    let _f = gort::time::after_func(2 * MS, move || tx.send(()).unwrap());
    rx.recv().unwrap();
    let t = gort::time::Ticker::new(MS);
    t.chan().recv().unwrap();
    t.chan().recv().unwrap();
    t.stop();
    let sleepers: Vec<_> = (0..8u32)
        .map(|i| gort::go(move || gort::sleep(MS * (i + 1))))
        .collect();
    for h in sleepers {
        h.join().unwrap();
    }
}

#[test]
fn timer_trace_is_valid_and_sleep_is_traced_as_go_does() {
    for procs in [1, 2] {
        let _serial = trace_lock();
        let trace =
            runtime_support::timed(move || traced_run(runtime_support::rt(procs), scenario));
        let (mut sleeps, mut empty_unblocks) = (0, 0);
        for ev in gort::parser::Reader::from_slice(&trace).expect("reader") {
            let ev = ev.expect("event");
            match ev.wire_type() {
                Some(EventType::GoBlock) => {
                    let st = ev.state_transition().expect("GoBlock is a transition");
                    if st.reason == b"sleep" {
                        sleeps += 1;
                    }
                }
                Some(EventType::GoUnblock) => {
                    let st = ev.state_transition().expect("GoUnblock is a transition");
                    if st.stack.is_none() {
                        empty_unblocks += 1;
                    }
                }
                _ => {}
            }
        }
        assert!(sleeps >= 9, "procs={procs}: {sleeps} GoBlock sleep events");
        assert!(
            empty_unblocks >= 9,
            "procs={procs}: {empty_unblocks} scheduler wake-ups (GoUnblock, empty stack)"
        );
        validate_everywhere(&trace, &format!("time-trace-{procs}"), "time.trace");
    }
}
