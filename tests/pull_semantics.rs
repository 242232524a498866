//! `gort::iter::pull`: what `next`, `stop` and `Drop` promise, after Go's
//! `iter.Pull`.

mod runtime_support;

use gort::iter::{pull, Pull};
use runtime_support::{eventually, expect_panic, rt, timed, DropCount};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

/// A sequence over `0..n` that records how far it got.
struct Probe {
    started: Arc<AtomicBool>,
    /// Values whose `yield` returned (true or false).
    yielded: Arc<AtomicUsize>,
    /// `yield` returned false at least once.
    refused: Arc<AtomicBool>,
    /// The code after the loop ran.
    finished: Arc<AtomicBool>,
}

fn probe_range(n: u32) -> (Pull<u32>, Probe) {
    let probe = Probe {
        started: Arc::default(),
        yielded: Arc::default(),
        refused: Arc::default(),
        finished: Arc::default(),
    };
    let (s, y, r, f) = (
        probe.started.clone(),
        probe.yielded.clone(),
        probe.refused.clone(),
        probe.finished.clone(),
    );
    let p = pull(move |yield_: &mut dyn FnMut(u32) -> bool| {
        s.store(true, SeqCst);
        for i in 0..n {
            let more = yield_(i);
            y.fetch_add(1, SeqCst);
            if !more {
                r.store(true, SeqCst);
                break;
            }
        }
        f.store(true, SeqCst);
    });
    (p, probe)
}

#[test]
fn runs_to_the_end() {
    timed(|| {
        rt(1).block_on(|| {
            let (p, probe) = probe_range(5);
            assert!(
                !probe.started.load(SeqCst),
                "nothing runs before the first next"
            );
            assert!(!p.is_done());
            for i in 0..5 {
                assert_eq!(p.next(), Some(i));
                assert_eq!(
                    probe.yielded.load(SeqCst),
                    i as usize,
                    "the sequence runs ahead of next"
                );
            }
            assert!(!probe.finished.load(SeqCst));
            assert_eq!(p.next(), None);
            assert!(probe.finished.load(SeqCst));
            assert!(!probe.refused.load(SeqCst));
            assert!(p.is_done());
            assert_eq!(p.next(), None);
            p.stop();
            assert_eq!(p.next(), None);
        });
    });
}

#[test]
fn iterator_adapters_work() {
    timed(|| {
        rt(2).block_on(|| {
            let (p, _) = probe_range(10);
            let v: Vec<u32> = p.filter(|x| x % 2 == 1).collect();
            assert_eq!(v, [1, 3, 5, 7, 9]);
            let (p, probe) = probe_range(1000);
            let first: Vec<u32> = p.take(3).collect();
            assert_eq!(first, [0, 1, 2]);
            // `take` dropped the Pull: dropping stops it.
            assert!(probe.refused.load(SeqCst));
            assert!(probe.finished.load(SeqCst));
        });
    });
}

#[test]
fn early_stop_makes_yield_return_false() {
    timed(|| {
        rt(1).block_on(|| {
            let (p, probe) = probe_range(u32::MAX);
            assert_eq!(p.next(), Some(0));
            assert_eq!(p.next(), Some(1));
            assert_eq!(p.next(), Some(2));
            assert!(!probe.finished.load(SeqCst));
            p.stop();
            // stop returns only after the sequence saw false and finished.
            assert!(probe.refused.load(SeqCst));
            assert!(probe.finished.load(SeqCst));
            assert_eq!(probe.yielded.load(SeqCst), 3);
            assert!(p.is_done());
            assert_eq!(p.next(), None);
        });
    });
}

#[test]
fn yield_after_refusal_keeps_returning_false() {
    timed(|| {
        rt(1).block_on(|| {
            let results = Arc::new(std::sync::Mutex::new(Vec::new()));
            let r = results.clone();
            let p = pull(move |y: &mut dyn FnMut(u32) -> bool| {
                for i in 0..5 {
                    let ok = y(i); // ignores the answer, like Go's test program
                    r.lock().unwrap().push(ok);
                }
            });
            assert_eq!(p.next(), Some(0));
            p.stop();
            assert_eq!(
                *results.lock().unwrap(),
                [false, false, false, false, false]
            );
        });
    });
}

#[test]
fn stop_before_start_never_runs_the_body() {
    timed(|| {
        rt(1).block_on(|| {
            let (p, probe) = probe_range(3);
            p.stop();
            assert!(p.is_done());
            assert!(
                !probe.started.load(SeqCst),
                "stop before next ran the sequence"
            );
            assert_eq!(p.next(), None);
            assert!(!probe.started.load(SeqCst));

            // Dropping a never-started Pull does not run it either, and its
            // captured state is dropped.
            let drops = DropCount::default();
            let g = drops.guard();
            let ran = Arc::new(AtomicBool::new(false));
            let r = ran.clone();
            let p = pull(move |_y: &mut dyn FnMut(u8) -> bool| {
                let _g = g;
                r.store(true, SeqCst);
            });
            drop(p);
            assert!(!ran.load(SeqCst));
            assert_eq!(drops.get(), 1);
        });
    });
}

#[test]
fn double_stop_and_next_after_stop() {
    timed(|| {
        rt(1).block_on(|| {
            let (p, probe) = probe_range(10);
            assert_eq!(p.next(), Some(0));
            p.stop();
            p.stop();
            assert_eq!(p.next(), None);
            assert_eq!(p.next(), None);
            p.stop();
            assert!(probe.finished.load(SeqCst));
            assert_eq!(probe.yielded.load(SeqCst), 1);
            drop(p); // drop after stop: nothing left to do
        });
    });
}

#[test]
fn panic_in_the_sequence_comes_out_of_next() {
    timed(|| {
        rt(2).block_on(|| {
            let p = pull(|y: &mut dyn FnMut(u32) -> bool| {
                y(1);
                y(2);
                panic!("sequence boom");
            });
            assert_eq!(p.next(), Some(1));
            assert_eq!(p.next(), Some(2));
            let msg = expect_panic(|| p.next());
            assert_eq!(msg, "sequence boom");
            assert!(p.is_done(), "a Pull whose sequence panicked is finished");
            assert_eq!(p.next(), None);
            p.stop();
            drop(p);
            // The goroutine is intact.
            assert_eq!(gort::go(|| 1).join().unwrap(), 1);
        });
    });
}

#[test]
fn panic_on_first_next() {
    timed(|| {
        rt(1).block_on(|| {
            let p = pull(|_y: &mut dyn FnMut(u32) -> bool| panic!("at once"));
            assert_eq!(expect_panic(|| p.next()), "at once");
            assert!(p.is_done());
            assert_eq!(p.next(), None);
        });
    });
}

#[test]
fn panic_while_stopping_comes_out_of_stop() {
    timed(|| {
        rt(2).block_on(|| {
            let p = pull(|y: &mut dyn FnMut(u32) -> bool| {
                for i in 0.. {
                    if !y(i) {
                        panic!("refused at {i}");
                    }
                }
            });
            assert_eq!(p.next(), Some(0));
            assert_eq!(p.next(), Some(1));
            let msg = expect_panic(|| p.stop());
            assert_eq!(msg, "refused at 1");
            assert!(p.is_done());
            assert_eq!(p.next(), None);
            p.stop();
        });
    });
}

#[test]
fn panic_while_stopping_comes_out_of_drop() {
    timed(|| {
        rt(1).block_on(|| {
            let p = pull(|y: &mut dyn FnMut(u32) -> bool| {
                while y(0) {}
                panic!("refused in drop");
            });
            assert_eq!(p.next(), Some(0));
            assert_eq!(expect_panic(move || drop(p)), "refused in drop");
        });
    });
}

#[test]
fn pull_moves_between_goroutines() {
    timed(|| {
        rt(2).block_on(|| {
            let (p, probe) = probe_range(6);
            assert_eq!(p.next(), Some(0));
            let p = gort::go(move || {
                assert_eq!(p.next(), Some(1));
                assert_eq!(p.next(), Some(2));
                p
            })
            .join()
            .unwrap();
            assert_eq!(p.next(), Some(3));
            let rest: Vec<u32> = gort::go(move || p.collect()).join().unwrap();
            assert_eq!(rest, [4, 5]);
            assert!(probe.finished.load(SeqCst));
        });
    });
}

#[test]
fn pull_inside_pull() {
    timed(|| {
        rt(2).block_on(|| {
            let outer = pull(|y: &mut dyn FnMut(u32) -> bool| {
                let inner = pull(|y2: &mut dyn FnMut(u32) -> bool| {
                    for i in 0..4 {
                        if !y2(i * 10) {
                            return;
                        }
                    }
                });
                while let Some(v) = inner.next() {
                    if !y(v + 1) {
                        return;
                    }
                }
            });
            let v: Vec<u32> = outer.collect();
            assert_eq!(v, [1, 11, 21, 31]);
        });
    });
}

#[test]
fn dropping_a_started_pull_returns_its_stack() {
    timed(|| {
        let rt = Arc::new(rt(1));
        let probe_rt = rt.clone();
        rt.block_on(move || {
            let base = probe_rt.stack_stats().0;
            let (p, probe) = probe_range(100);
            assert_eq!(p.next(), Some(0));
            assert_eq!(probe_rt.stack_stats().0, base + 1);
            drop(p);
            assert!(probe.finished.load(SeqCst));
            // The coroutine goroutine is retired by the M; give it a moment.
            let mut tries = 0;
            while probe_rt.stack_stats().0 != base {
                tries += 1;
                assert!(tries < 1000, "a dropped Pull kept its stack");
                gort::yield_now();
            }
        });
        eventually("no live goroutines", || rt.live_goroutines() == 0);
    });
}

#[test]
fn pull_escaping_the_runtime_is_dropped_cleanly() {
    timed(|| {
        let drops = DropCount::default();
        let d = drops.clone();
        let rt = rt(2);
        let p = rt.block_on(move || {
            let g = d.guard();
            let p = pull(move |y: &mut dyn FnMut(u32) -> bool| {
                let _g = g;
                for i in 0.. {
                    if !y(i) {
                        return;
                    }
                }
            });
            assert_eq!(p.next(), Some(0));
            p
        });
        // Dropped on a plain thread: the sequence cannot run here, but its
        // locals are still released.
        drop(p);
        assert_eq!(drops.get(), 1);
        eventually("stacks back", || rt.stack_stats().0 == 0);
    });
}
