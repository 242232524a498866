//! Nested `pull()`s: a sequence that drives a `Pull` of its own, to any
//! depth, where the innermost sequence or one in the middle blocks (sleep, a
//! channel receive, a `Mutex`, a `join`) while every level above it waits in
//! a coroutine switch. Go runs these programs; so must gort, with one or two
//! Ps and with tracing on (the traces checked by gort's and Go's parsers).
//!
//! Tracing covers every runtime of the process, so the tests of this binary
//! take turns: the traced one counts the pulls it made.

mod runtime_support;
mod support;

use gort::iter::{pull, Pull};
use runtime_support::{rt, timed};
use std::sync::Arc;
use std::time::Duration;

/// How the blocking level blocks once per value it yields.
#[derive(Clone, Copy, Debug)]
enum Block {
    Sleep,
    Chan,
    Mutex,
    Join,
}

const ALL: [Block; 4] = [Block::Sleep, Block::Chan, Block::Mutex, Block::Join];

/// Values each chain yields.
const N: u64 = 3;

/// Blocks the running goroutine once, the way `how` says.
fn block(how: Block) {
    let pause = Duration::from_micros(300);
    match how {
        Block::Sleep => gort::sleep(pause),
        Block::Chan => {
            let (tx, rx) = gort::chan::<u64>(0);
            let h = gort::go(move || {
                gort::sleep(pause);
                tx.send(7).unwrap();
            });
            assert_eq!(rx.recv(), Some(7));
            h.join().unwrap();
        }
        Block::Mutex => {
            let m = Arc::new(gort::sync::Mutex::new(0u32));
            let (held_tx, held_rx) = gort::chan::<()>(0);
            let m2 = m.clone();
            let h = gort::go(move || {
                let mut g = m2.lock();
                held_tx.send(()).unwrap();
                gort::sleep(pause);
                *g += 1;
            });
            held_rx.recv().unwrap();
            // Held by the goroutine above until its sleep ends.
            assert_eq!(*m.lock(), 1);
            h.join().unwrap();
        }
        Block::Join => {
            let h = gort::go(move || {
                gort::sleep(pause);
                11u32
            });
            assert_eq!(h.join().unwrap(), 11);
        }
    }
}

/// A chain of `depth` nested pulls. Level 0 (innermost) yields `0..N`; each
/// level above pulls from the one below and yields its values plus 1,000.
/// The level `blocker` blocks with `how` before each value it yields.
fn chain(depth: usize, blocker: usize, how: Block) -> Pull<u64> {
    fn level(k: usize, blocker: usize, how: Block) -> Pull<u64> {
        pull(move |y: &mut dyn FnMut(u64) -> bool| {
            if k == 0 {
                for i in 0..N {
                    if blocker == 0 {
                        block(how);
                    }
                    if !y(i) {
                        return;
                    }
                }
            } else {
                let inner = level(k - 1, blocker, how);
                while let Some(v) = inner.next() {
                    if blocker == k {
                        block(how);
                    }
                    if !y(v + 1_000) {
                        return;
                    }
                }
            }
        })
    }
    level(depth - 1, blocker, how)
}

/// Drains every chain of depth 1..=5 with each level in turn blocking, in
/// every way, and checks the values.
fn drain_all() {
    for depth in 1..=5 {
        for blocker in 0..depth {
            for how in ALL {
                let p = chain(depth, blocker, how);
                let got: Vec<u64> = p.collect();
                let off = 1_000 * (depth as u64 - 1);
                let want: Vec<u64> = (0..N).map(|i| i + off).collect();
                assert_eq!(
                    got, want,
                    "depth {depth}, level {blocker} blocks on {how:?}"
                );
            }
        }
    }
}

#[test]
fn nested_pulls_whose_sequences_block_procs_1() {
    let _serial = support::trace_lock();
    timed(|| rt(1).block_on(drain_all));
}

#[test]
fn nested_pulls_whose_sequences_block_procs_2() {
    let _serial = support::trace_lock();
    timed(|| rt(2).block_on(drain_all));
}

/// Several goroutines drive nested chains at once, so blocked levels wake
/// on other Ms than the one they blocked on.
#[test]
fn nested_pulls_on_concurrent_goroutines() {
    let _serial = support::trace_lock();
    timed(|| {
        rt(2).block_on(|| {
            let hs: Vec<_> = (0..4)
                .map(|g| {
                    gort::go(move || {
                        let how = ALL[g % ALL.len()];
                        let p = chain(4, g % 4, how);
                        p.collect::<Vec<u64>>()
                    })
                })
                .collect();
            for h in hs {
                assert_eq!(h.join().unwrap(), vec![3_000, 3_001, 3_002]);
            }
        })
    });
}

/// An outer sequence that stops early stops the chain below it, even while
/// a level in the middle is the one that blocks.
#[test]
fn nested_chain_stopped_half_way() {
    let _serial = support::trace_lock();
    timed(|| {
        rt(2).block_on(|| {
            for how in ALL {
                let p = chain(4, 2, how);
                assert_eq!(p.next(), Some(3_000));
                p.stop();
                assert_eq!(p.next(), None);
            }
        })
    });
}

#[cfg(feature = "trace")]
#[test]
fn nested_blocking_pulls_trace_valid() {
    use support::*;
    let _serial = trace_lock();
    let dir = scratch("pull-nested");
    let mut files = Vec::new();
    for procs in [1, 2] {
        let buf = SharedBuf::default();
        let b2 = buf.clone();
        timed(move || {
            rt(procs).block_on(move || {
                gort::trace::start(b2).unwrap();
                for depth in 2..=4 {
                    for blocker in 0..depth {
                        for how in ALL {
                            let got: Vec<u64> = chain(depth, blocker, how).collect();
                            assert_eq!(got.len(), N as usize);
                        }
                    }
                }
                gort::trace::stop().unwrap();
            })
        });
        let trace = buf.take();
        let c = raw_counts(&trace);
        // Every level of every chain was created blocked and destroyed by
        // its last switch: 4 kinds x (2x2 + 3x3 + 4x4) levels.
        let levels = 4 * (4 + 9 + 16);
        assert_eq!(c.get("GoCreateBlocked"), Some(&levels), "{c:?}");
        assert_eq!(c.get("GoSwitchDestroy"), Some(&levels), "{c:?}");
        validate_with_gort(&trace);
        let f = dir.join(format!("nested-p{procs}.trace"));
        std::fs::write(&f, &trace).unwrap();
        files.push(f);
    }
    validate_with_go(&files);
}
