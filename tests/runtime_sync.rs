//! `gort::sync`: WaitGroup and Mutex under real goroutines.

mod runtime_support;

use gort::sync::{Mutex, WaitGroup};
use runtime_support::{expect_panic, rt, timed, yield_until};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn waitgroup_waits_for_every_done() {
    timed(|| {
        rt(2).block_on(|| {
            let wg = WaitGroup::new();
            let finished = Arc::new(AtomicUsize::new(0));
            for i in 0..100u64 {
                wg.add(1);
                let wg = wg.clone();
                let finished = finished.clone();
                gort::go(move || {
                    gort::sleep(Duration::from_millis(1 + i % 7));
                    finished.fetch_add(1, SeqCst);
                    wg.done();
                });
            }
            assert!(wg.count() > 0);
            wg.wait();
            assert_eq!(finished.load(SeqCst), 100);
            assert_eq!(wg.count(), 0);
            wg.wait(); // at zero: returns at once
        });
    });
}

#[test]
fn waitgroup_wakes_several_waiters() {
    timed(|| {
        // One P: a waiter that has counted itself in has gone straight into
        // `wait` (goroutines are not preempted), so all ten are blocked there.
        rt(1).block_on(|| {
            let wg = WaitGroup::new();
            wg.add(1);
            let entered = Arc::new(AtomicUsize::new(0));
            let waiters: Vec<_> = (0..10)
                .map(|_| {
                    let (wg, entered) = (wg.clone(), entered.clone());
                    gort::go(move || {
                        entered.fetch_add(1, SeqCst);
                        wg.wait()
                    })
                })
                .collect();
            yield_until("every waiter blocks", || entered.load(SeqCst) == 10);
            assert!(waiters.iter().all(|h| !h.is_finished()));
            wg.done();
            for h in waiters {
                h.join().unwrap();
            }
        });
    });
}

#[test]
fn waitgroup_negative_counter_panics() {
    timed(|| {
        let msg = expect_panic(|| {
            rt(1).block_on(|| {
                let wg = WaitGroup::new();
                wg.add(2);
                wg.add(-2);
                wg.done();
            })
        });
        assert!(
            msg.contains("negative WaitGroup counter"),
            "panic text: {msg}"
        );

        // The counter is left as it was, and a goroutine's panic reaches join.
        rt(1).block_on(|| {
            let wg = WaitGroup::new();
            wg.add(1);
            let wg2 = wg.clone();
            let err = gort::go(move || wg2.add(-5)).join().unwrap_err();
            let msg = runtime_support::panic_text(&*err);
            assert!(
                msg.contains("negative WaitGroup counter"),
                "panic text: {msg}"
            );
            assert_eq!(wg.count(), 1);
            wg.done();
            wg.wait();
        });
    });
}

/// A counter that only a lock keeps consistent: read, spin, write back.
struct Racy {
    n: u64,
    holders: u32,
}

#[test]
fn mutex_100k_contended_increments_are_exact() {
    const GOROUTINES: u64 = 8;
    const EACH: u64 = 12_500;
    timed(|| {
        let total = rt(2).block_on(|| {
            let m = Arc::new(Mutex::new(Racy { n: 0, holders: 0 }));
            let threads = Arc::new(std::sync::Mutex::new(HashSet::new()));
            let hs: Vec<_> = (0..GOROUTINES)
                .map(|_| {
                    let m = m.clone();
                    let threads = threads.clone();
                    gort::go(move || {
                        let mut mine = HashSet::new();
                        for i in 0..EACH {
                            let mut g = m.lock();
                            g.holders += 1;
                            assert_eq!(g.holders, 1, "two goroutines inside the lock");
                            let v = g.n;
                            for _ in 0..(i % 8) {
                                std::hint::spin_loop();
                            }
                            g.n = v + 1;
                            g.holders -= 1;
                            drop(g);
                            mine.insert(std::thread::current().id());
                            // Work outside the lock, so both Ps have some.
                            for _ in 0..64 {
                                std::hint::spin_loop();
                            }
                            if i % 1024 == 0 {
                                gort::yield_now();
                            }
                        }
                        threads.lock().unwrap().extend(mine);
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            let seen = threads.lock().unwrap().len();
            assert!(
                seen >= 2,
                "the contenders ran on {seen} thread(s); expected both Ps busy"
            );
            let n = m.lock().n;
            n
        });
        assert_eq!(total, GOROUTINES * EACH);
    });
}

#[test]
fn mutex_guard_may_be_held_across_blocking_calls() {
    timed(|| {
        rt(1).block_on(|| {
            let m = Arc::new(Mutex::new(Vec::new()));
            let hs: Vec<_> = (0..5)
                .map(|i| {
                    let m = m.clone();
                    gort::go(move || {
                        let mut g = m.lock();
                        g.push(i);
                        gort::sleep(Duration::from_millis(5));
                        gort::yield_now();
                        g.push(i);
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            let v = m.lock().clone();
            assert_eq!(v.len(), 10);
            for pair in v.chunks(2) {
                assert_eq!(pair[0], pair[1], "critical sections interleaved: {v:?}");
            }
            assert!(m.try_lock().is_some());
        });
    });
}
