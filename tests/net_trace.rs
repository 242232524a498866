//! The network in the trace as Go 1.23 writes it: a goroutine that waits on
//! a socket blocks with reason `network` and the stack of its Rust call
//! site; the poller's wake-up is a `GoUnblock` with an empty stack. A traced
//! echo run passes gort's validator and Go's parser and `gotracevalidate`.
#![cfg(feature = "trace")]

mod runtime_support;
mod support;

use gort::net::{TcpListener, TcpStream};
use gort::parser::Transition;
use gort::tracer::wire::EventType;
use std::collections::HashMap;
use std::io::{Read, Write};
use support::{trace_lock, traced_run, validate_everywhere};

const ROUNDS: usize = 20;

/// An echo server goroutine and a client goroutine, one message at a time,
/// so the server's reads block every round.
fn echo() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let server = gort::go(move || {
        let (s, _) = l.accept().unwrap();
        let mut buf = [0u8; 64];
        loop {
            let n = (&s).read(&mut buf).unwrap();
            if n == 0 {
                return;
            }
            (&s).write_all(&buf[..n]).unwrap();
        }
    });
    let client = gort::go(move || {
        let c = TcpStream::connect(addr).unwrap();
        for i in 0..ROUNDS {
            let msg = format!("message {i}");
            (&c).write_all(msg.as_bytes()).unwrap();
            let mut back = vec![0u8; msg.len()];
            (&c).read_exact(&mut back).unwrap();
            assert_eq!(back, msg.as_bytes());
        }
    });
    client.join().unwrap();
    server.join().unwrap();
}

#[test]
fn echo_trace_blocks_on_network_as_go_does() {
    for procs in [1, 2] {
        let _serial = trace_lock();
        let trace = runtime_support::timed(move || traced_run(runtime_support::rt(procs), echo));
        // Per goroutine: blocked on the network and not yet unblocked.
        let mut on_net: HashMap<i64, bool> = HashMap::new();
        let (mut blocks, mut sited, mut poller_unblocks, mut other_unblocks) = (0, 0, 0, 0);
        for ev in gort::parser::Reader::from_slice(&trace).expect("reader") {
            let ev = ev.expect("event");
            let (Some(ty), Some(st)) = (ev.wire_type(), ev.state_transition()) else {
                continue;
            };
            let Transition::Goroutine { id, .. } = st.transition else {
                continue;
            };
            match ty {
                EventType::GoBlock if st.reason == b"network" => {
                    blocks += 1;
                    on_net.insert(id.0, true);
                    let here = st
                        .stack
                        .as_ref()
                        .is_some_and(|s| s.frames().any(|f| f.file.ends_with(b"net_trace.rs")));
                    if here {
                        sited += 1;
                    }
                }
                EventType::GoUnblock if on_net.remove(&id.0).is_some() => {
                    if st.stack.as_ref().is_none_or(|s| s.id() == 0) {
                        poller_unblocks += 1;
                    } else {
                        other_unblocks += 1;
                    }
                }
                _ => {}
            }
        }
        assert!(
            blocks >= ROUNDS,
            "procs={procs}: {blocks} GoBlock network events for {ROUNDS} rounds"
        );
        assert_eq!(
            sited, blocks,
            "procs={procs}: every network block carries its call site in this file"
        );
        assert_eq!(
            other_unblocks, 0,
            "procs={procs}: network wake-ups come from the poller (empty stack)"
        );
        assert!(
            poller_unblocks >= ROUNDS,
            "procs={procs}: {poller_unblocks}"
        );
        validate_everywhere(&trace, &format!("net-trace-{procs}"), "echo.trace");
    }
}
