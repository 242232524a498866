//! `pull()` and the scheduler: Pulls bounced between goroutines and threads,
//! sequences that block, many live Pulls, and wired threads.

mod runtime_support;

use gort::iter::{pull, Pull};
use gort::sync::WaitGroup;
use runtime_support::{eventually, rt, timed};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

type Log = Arc<Mutex<Vec<(u32, ThreadId)>>>;

/// Go's `pullRange`: yields `0..n`, ignoring what `yield` returns; logs the
/// thread each value was produced on.
fn pull_range(n: u32, log: Log) -> Pull<u32> {
    pull(move |y: &mut dyn FnMut(u32) -> bool| {
        for i in 0..n {
            log.lock().unwrap().push((i, std::thread::current().id()));
            y(i);
        }
    })
}

/// What one bouncing goroutine saw: the values its `next` calls returned,
/// with the thread it ran on at each.
type Seen = Vec<(u32, ThreadId)>;

/// The second half of Go's iter-pull test program: one iterator bounced
/// between two goroutines through two channels until it is exhausted.
/// `wire` makes each goroutine lock its OS thread first.
fn bounce(n: u32, wire: bool, log: Log) -> (Seen, Seen) {
    let wg = WaitGroup::new();
    wg.add(2);
    let (to_a, from_b) = gort::chan::<Pull<u32>>(0);
    let (to_b, from_a) = gort::chan::<Pull<u32>>(0);
    let wga = wg.clone();
    let a = gort::go(move || {
        if wire {
            gort::lock_os_thread();
        }
        let mut seen = Vec::new();
        let it = pull_range(n, log);
        to_b.send(it).unwrap();
        for it in from_b.iter() {
            match it.next() {
                Some(v) => seen.push((v, std::thread::current().id())),
                None => {
                    to_b.close();
                    break;
                }
            }
            to_b.send(it).unwrap();
        }
        wga.done();
        seen
    });
    let wgb = wg.clone();
    let b = gort::go(move || {
        if wire {
            gort::lock_os_thread();
        }
        let mut seen = Vec::new();
        for it in from_a.iter() {
            match it.next() {
                Some(v) => seen.push((v, std::thread::current().id())),
                None => {
                    to_a.close();
                    break;
                }
            }
            to_a.send(it).unwrap();
        }
        wgb.done();
        seen
    });
    wg.wait();
    (a.join().unwrap(), b.join().unwrap())
}

fn check_bounce(n: u32, a: &Seen, b: &Seen, log: &Log) {
    // B pulls first: B gets the even values, A the odd ones.
    let vals = |s: &Seen| s.iter().map(|(v, _)| *v).collect::<Vec<_>>();
    assert_eq!(vals(b), (0..n).step_by(2).collect::<Vec<_>>());
    assert_eq!(vals(a), (1..n).step_by(2).collect::<Vec<_>>());
    let log = log.lock().unwrap();
    assert_eq!(
        log.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
        (0..n).collect::<Vec<_>>()
    );
}

#[test]
fn simple_pull_loop_over_100_values() {
    timed(|| {
        rt(2).block_on(|| {
            let log = Log::default();
            let it = pull_range(100, log.clone());
            let mut n = 0;
            while let Some(v) = it.next() {
                assert_eq!(v, n);
                n += 1;
            }
            assert_eq!(n, 100);
            assert!(it.is_done());
        });
    });
}

#[test]
fn bounce_between_two_goroutines() {
    timed(|| {
        rt(2).block_on(|| {
            let log = Log::default();
            let (a, b) = bounce(100, false, log.clone());
            check_bounce(100, &a, &b, &log);
        });
    });
}

#[test]
fn bounce_between_two_wired_goroutines_runs_on_two_threads() {
    timed(|| {
        rt(2).block_on(|| {
            let log = Log::default();
            let (a, b) = bounce(100, true, log.clone());
            check_bounce(100, &a, &b, &log);
            // Each value was produced on the thread of the goroutine that
            // pulled it, and those are two different threads.
            let threads: HashSet<ThreadId> = log.lock().unwrap().iter().map(|(_, t)| *t).collect();
            assert_eq!(
                threads.len(),
                2,
                "the sequence ran on {} thread(s)",
                threads.len()
            );
            let log = log.lock().unwrap();
            for (v, t) in a.iter().chain(b.iter()) {
                assert_eq!(
                    log[*v as usize].1, *t,
                    "value {v} produced off its caller's thread"
                );
            }
        });
    });
}

#[test]
fn bounce_procs1() {
    timed(|| {
        rt(1).block_on(|| {
            let log = Log::default();
            let (a, b) = bounce(100, false, log.clone());
            check_bounce(100, &a, &b, &log);
        });
    });
}

#[test]
fn sequence_blocks_on_a_channel_fed_by_a_third_goroutine() {
    timed(|| {
        rt(2).block_on(|| {
            let (tx, rx) = gort::chan::<u64>(0);
            let feeder = gort::go(move || {
                for i in 0..200u64 {
                    tx.send(i).unwrap();
                    if i % 50 == 0 {
                        gort::sleep(Duration::from_millis(1));
                    }
                }
            });
            let p = pull(move |y: &mut dyn FnMut(u64) -> bool| {
                for v in rx.iter() {
                    if !y(v * v) {
                        return;
                    }
                }
            });
            let got: Vec<u64> = p.collect();
            assert_eq!(got, (0..200u64).map(|v| v * v).collect::<Vec<_>>());
            feeder.join().unwrap();
        });
    });
}

#[test]
fn sequence_sleeps_and_spawns() {
    timed(|| {
        rt(2).block_on(|| {
            let p = pull(|y: &mut dyn FnMut(u32) -> bool| {
                for i in 0..20 {
                    gort::sleep(Duration::from_millis(1));
                    let v = gort::go(move || i * 2).join().unwrap();
                    gort::yield_now();
                    if !y(v) {
                        return;
                    }
                }
            });
            let got: Vec<u32> = p.collect();
            assert_eq!(got, (0..20).map(|i| i * 2).collect::<Vec<_>>());
        });
    });
}

#[test]
fn ten_thousand_live_pulls() {
    const N: usize = 10_000;
    timed(|| {
        let rt = Arc::new(rt(2));
        let probe = rt.clone();
        rt.block_on(move || {
            let base = probe.stack_stats().0;
            let pulls: Vec<Pull<usize>> = (0..N)
                .map(|k| {
                    pull(move |y: &mut dyn FnMut(usize) -> bool| {
                        for j in 0..3 {
                            if !y(k * 10 + j) {
                                return;
                            }
                        }
                    })
                })
                .collect();
            // Start every one: each is suspended inside its first yield.
            for (k, p) in pulls.iter().enumerate() {
                assert_eq!(p.next(), Some(k * 10));
            }
            assert_eq!(probe.stack_stats().0, base + N, "one stack per live Pull");
            assert!(probe.live_goroutines() > N);
            // Drain them all, in reverse order for good measure.
            for (k, p) in pulls.iter().enumerate().rev() {
                assert_eq!(p.next(), Some(k * 10 + 1));
                assert_eq!(p.next(), Some(k * 10 + 2));
                assert_eq!(p.next(), None);
                assert!(p.is_done());
            }
            drop(pulls);
            assert_eq!(probe.stack_stats().0, base, "drained Pulls keep no stack");

            // Dropping 10,000 started, unfinished Pulls frees their stacks too.
            let pulls: Vec<Pull<usize>> = (0..N)
                .map(|k| {
                    pull(move |y: &mut dyn FnMut(usize) -> bool| {
                        for j in 0.. {
                            if !y(k + j) {
                                return;
                            }
                        }
                    })
                })
                .collect();
            for (k, p) in pulls.iter().enumerate() {
                assert_eq!(p.next(), Some(k));
            }
            assert_eq!(probe.stack_stats().0, base + N);
            drop(pulls);
            assert_eq!(probe.stack_stats().0, base, "dropped Pulls leaked stacks");
        });
        eventually("no stack left", || rt.stack_stats().0 == 0);
        eventually("no goroutine left", || rt.live_goroutines() == 0);
    });
}

#[test]
fn wired_caller_runs_its_sequence_on_its_thread() {
    timed(|| {
        rt(2).block_on(|| {
            let (tx, rx) = gort::chan::<u32>(0);
            let feeder = gort::go(move || {
                for i in 0..50 {
                    tx.send(i).unwrap();
                }
            });
            gort::go(move || {
                gort::lock_os_thread();
                let home = std::thread::current().id();
                let p = pull(
                    move |y: &mut dyn FnMut((u32, ThreadId, ThreadId)) -> bool| {
                        for _ in 0..50 {
                            let before = std::thread::current().id();
                            // Blocks inside the sequence.
                            let Some(v) = rx.recv() else { return };
                            gort::sleep(Duration::from_micros(200));
                            let after = std::thread::current().id();
                            if !y((v, before, after)) {
                                return;
                            }
                        }
                    },
                );
                let mut n = 0;
                while let Some((v, before, after)) = p.next() {
                    assert_eq!(v, n);
                    assert_eq!(
                        before, home,
                        "value {v}: sequence started off the wired thread"
                    );
                    assert_eq!(
                        after, home,
                        "value {v}: sequence resumed off the wired thread"
                    );
                    assert_eq!(std::thread::current().id(), home);
                    n += 1;
                }
                assert_eq!(n, 50);
                gort::unlock_os_thread();
            })
            .join()
            .unwrap();
            feeder.join().unwrap();
        });
    });
}

#[test]
fn a_sequence_ending_under_a_wired_caller_leaves_it_its_thread() {
    // The sequence runs on the wired caller's thread and returns there. Its
    // exit hands the thread back to the caller, which stays wired to it
    // through blocking calls (as in Go, where coroexit does not take the
    // thread down); the thread goes only when the caller exits wired.
    timed(|| {
        rt(2).block_on(|| {
            for round in 0..4u32 {
                let h = gort::go(move || {
                    gort::lock_os_thread();
                    let home = std::thread::current().id();
                    for _ in 0..3 {
                        let p = pull(|y: &mut dyn FnMut(u32) -> bool| {
                            for i in 0..3 {
                                if !y(i) {
                                    return;
                                }
                            }
                        });
                        assert_eq!(p.collect::<Vec<_>>(), [0, 1, 2]);
                        // Blocks: another goroutine readies it, and its M
                        // must still be there to take it back.
                        let (tx, rx) = gort::chan::<u32>(0);
                        let s = gort::go(move || tx.send(round).unwrap());
                        assert_eq!(rx.recv(), Some(round));
                        s.join().unwrap();
                        gort::sleep(Duration::from_micros(100));
                        assert_eq!(
                            std::thread::current().id(),
                            home,
                            "the wired goroutine moved"
                        );
                    }
                    if round % 2 == 0 {
                        gort::unlock_os_thread();
                    }
                    home
                });
                h.join().unwrap();
            }
        });
    });
}

#[test]
fn unwired_caller_after_wired_one_may_run_anywhere() {
    // A Pull first driven by a wired goroutine, then by an ordinary one:
    // the wiring must not stick to the sequence.
    timed(|| {
        rt(2).block_on(|| {
            let log = Log::default();
            let p = pull_range(10, log.clone());
            let p = gort::go(move || {
                gort::lock_os_thread();
                assert_eq!(p.next(), Some(0));
                gort::unlock_os_thread();
                p
            })
            .join()
            .unwrap();
            let rest: Vec<u32> = gort::go(move || p.collect()).join().unwrap();
            assert_eq!(rest, (1..10).collect::<Vec<_>>());
        });
    });
}

#[test]
fn a_sequence_balancing_its_own_lock_keeps_its_callers_thread() {
    // Go: a coroutine's LockOSThread/UnlockOSThread pair leaves the lock
    // state it runs under as it found it. The sequence here borrows its
    // wired caller's thread; its own pair must not end that wiring, so
    // while the caller is wired no other goroutine runs on its thread and
    // the sequence, blocking in between, keeps coming back to it.
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    timed(|| {
        rt(2).block_on(|| {
            let window = Arc::new(AtomicBool::new(false));
            let home_cell: Arc<Mutex<Option<ThreadId>>> = Arc::default();
            let intruders = Arc::new(Mutex::new(0u32));
            let stop = Arc::new(AtomicBool::new(false));
            let busy: Vec<_> = (0..4)
                .map(|_| {
                    let (window, home, intruders, stop) = (
                        window.clone(),
                        home_cell.clone(),
                        intruders.clone(),
                        stop.clone(),
                    );
                    gort::go(move || {
                        while !stop.load(SeqCst) {
                            if window.load(SeqCst)
                                && *home.lock().unwrap() == Some(std::thread::current().id())
                            {
                                *intruders.lock().unwrap() += 1;
                            }
                            gort::yield_now();
                        }
                    })
                })
                .collect();
            let (w2, h2) = (window.clone(), home_cell.clone());
            let wired = gort::go(move || {
                gort::lock_os_thread();
                let home = std::thread::current().id();
                *h2.lock().unwrap() = Some(home);
                w2.store(true, SeqCst);
                let p = pull(|y: &mut dyn FnMut(ThreadId) -> bool| {
                    for _ in 0..20 {
                        gort::lock_os_thread();
                        gort::unlock_os_thread();
                        // Blocks: the caller's thread must wait for it.
                        gort::sleep(Duration::from_micros(300));
                        if !y(std::thread::current().id()) {
                            return;
                        }
                    }
                });
                for at in p {
                    assert_eq!(at, home, "the sequence left the wired thread");
                    assert_eq!(std::thread::current().id(), home, "the caller moved");
                }
                w2.store(false, SeqCst);
                gort::unlock_os_thread();
            });
            wired.join().unwrap();
            stop.store(true, SeqCst);
            for b in busy {
                b.join().unwrap();
            }
            assert_eq!(
                *intruders.lock().unwrap(),
                0,
                "other goroutines ran on the wired thread"
            );
        });
    });
}

#[test]
fn a_sequences_own_wiring_ends_when_it_yields() {
    // A sequence that wires itself under an unwired caller holds the thread
    // only until it yields back or returns; after that neither it nor the
    // caller is wired (direct switches and the M loop alike: procs 1 and 2).
    for procs in [1, 2] {
        timed(move || {
            rt(procs).block_on(|| {
                let p = pull(|y: &mut dyn FnMut(u64) -> bool| {
                    gort::lock_os_thread();
                    if !y(gort::goroutine_id().unwrap()) {
                        return;
                    }
                    // Blocks while wired, so the yield below goes through
                    // the M loop.
                    gort::lock_os_thread();
                    gort::sleep(Duration::from_micros(200));
                    if !y(gort::goroutine_id().unwrap()) {
                        return;
                    }
                    gort::lock_os_thread();
                });
                let wired = |dump: &str, id: u64| {
                    dump.lines()
                        .find(|l| l.starts_with(&format!("goroutine {id} [")))
                        .is_some_and(|l| l.contains("locked to thread"))
                };
                let me = gort::goroutine_id().unwrap();
                for round in 0..2 {
                    let seq = p.next().expect("a value");
                    let dump = gort::goroutine_dump();
                    assert!(
                        !wired(&dump, seq),
                        "round {round}: the sequence is still wired:\n{dump}"
                    );
                    assert!(
                        !wired(&dump, me),
                        "round {round}: the caller is wired:\n{dump}"
                    );
                    // The caller's thread is not left wired: blocking here
                    // does not strand this M, and other goroutines still run.
                    let hs: Vec<_> = (0..4).map(|i| gort::go(move || i * 2)).collect();
                    let sum: u32 = hs.into_iter().map(|h| h.join().unwrap()).sum();
                    assert_eq!(sum, 12);
                }
                assert_eq!(p.next(), None);
                let dump = gort::goroutine_dump();
                assert!(
                    !wired(&dump, me),
                    "the caller is wired after the end:\n{dump}"
                );
            });
        });
    }
}
