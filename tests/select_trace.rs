//! `select!` in the trace as Go 1.23 writes it: a blocked select is a
//! GoBlock with reason `select` and the select's call site on top of its
//! stack; `select! {}` blocks with reason `forever`; the trace passes gort's
//! validator and Go's parser and `gotracevalidate`.
#![cfg(feature = "trace")]

mod runtime_support;
mod support;

use gort::tracer::wire::EventType;
use support::{go_pprof_traces, trace_lock, traced_run, validate_everywhere};

/// The line of the blocking `select!` below.
const SELECT_LINE: u32 = line!() + 8;

fn scenario() {
    let (atx, arx) = gort::chan::<u32>(0);
    let (btx, brx) = gort::chan::<u32>(0);
    let h = gort::go(move || {
        let mut sum = 0;
        for _ in 0..20 {
            gort::select! {
                recv(arx) -> v => sum += v.unwrap(),
                recv(brx) -> v => sum += v.unwrap(),
            }
        }
        sum
    });
    for i in 0..10 {
        atx.send(i).unwrap();
        btx.send(i).unwrap();
    }
    assert_eq!(h.join().unwrap(), 90);
    let forever = gort::go(|| gort::select! {});
    // The trace must see it block: wait until the dump shows it parked.
    let parked = format!("goroutine {} [select (no cases)]", forever.id());
    while !gort::goroutine_dump().contains(&parked) {
        gort::yield_now();
    }
}

#[test]
fn select_blocks_are_traced_with_go_reasons_and_call_sites() {
    for procs in [1, 2] {
        let _serial = trace_lock();
        let trace =
            runtime_support::timed(move || traced_run(runtime_support::rt(procs), scenario));
        let (mut selects, mut forever, mut select_sites) = (0, 0, 0);
        for ev in gort::parser::Reader::from_slice(&trace).expect("reader") {
            let ev = ev.expect("event");
            if ev.wire_type() != Some(EventType::GoBlock) {
                continue;
            }
            let st = ev.state_transition().expect("GoBlock is a transition");
            match st.reason {
                b"select" => {
                    selects += 1;
                    let top = st.stack.and_then(|s| s.frames().next());
                    if top.is_some_and(|f| f.file.ends_with(b"select_trace.rs")) {
                        select_sites += 1;
                    }
                }
                b"forever" => forever += 1,
                _ => {}
            }
        }
        assert!(
            selects >= 1,
            "procs={procs}: {selects} GoBlock select events"
        );
        assert_eq!(
            select_sites, selects,
            "procs={procs}: select blocks point at the select"
        );
        assert_eq!(forever, 1, "procs={procs}: one GoBlock forever");
        let f = validate_everywhere(&trace, &format!("select-trace-{procs}"), "select.trace");
        // Go's block profile puts the select's wait at its Rust line.
        let profile = go_pprof_traces(&f, "sync");
        let at = format!("tests/select_trace.rs:{SELECT_LINE}\n");
        assert!(
            profile.contains(&at),
            "no {at:?} in Go's profile:\n{profile}"
        );
    }
}
