//! The scheduler as users see it: many goroutines, work stealing, syscalls,
//! timers, fairness and configuration errors.

mod runtime_support;

use gort::sync::WaitGroup;
use runtime_support::{eventually, expect_panic, rt, timed, SETTLE_LIMIT};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[test]
fn spawn_and_join_100k_goroutines() {
    const N: u64 = 100_000;
    timed(|| {
        let rt = rt(2);
        let sum = rt.block_on(|| {
            let hs: Vec<_> = (0..N).map(|i| gort::go(move || i * 3)).collect();
            let mut ids: Vec<u64> = hs.iter().map(|h| h.id()).collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len() as u64, N, "goroutine ids must be unique");
            hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        });
        assert_eq!(sum, 3 * N * (N - 1) / 2);
        eventually("live goroutines back to 0", || rt.live_goroutines() == 0);
        eventually("every stack back in the pool", || rt.stack_stats().0 == 0);
    });
}

/// Goroutines [`hundred_thousand_goroutines_parked_at_once`] keeps parked together:
/// 100,000, or 20,000 under AddressSanitizer (`cfg(gort_asan)`), where each parked goroutine
/// also holds a fake stack and the shadow of its stack, about 64 KiB resident instead of
/// about 4 KiB: 6.4 GB at 100,000 (measured), more than the suite can take with other tests
/// running beside it. The 100,000 mappings' worth of stacks is what the unsanitized run checks.
const PARKED_AT_ONCE: usize = if cfg!(gort_asan) { 20_000 } else { 100_000 };

#[test]
fn hundred_thousand_goroutines_parked_at_once() {
    const N: usize = PARKED_AT_ONCE;
    if cfg!(gort_asan) {
        eprintln!("under AddressSanitizer: {N} goroutines parked at once (see PARKED_AT_ONCE)");
    }
    timed(|| {
        let rt = Arc::new(rt(2));
        let probe = rt.clone();
        let (live, stacks) = rt.block_on(move || {
            let gate = WaitGroup::new();
            gate.add(1);
            let done = WaitGroup::new();
            let arrived = Arc::new(AtomicUsize::new(0));
            let passed = Arc::new(AtomicUsize::new(0));
            for _ in 0..N {
                let (gate, done) = (gate.clone(), done.clone());
                let (arrived, passed) = (arrived.clone(), passed.clone());
                done.add(1);
                gort::go(move || {
                    arrived.fetch_add(1, SeqCst);
                    gate.wait();
                    passed.fetch_add(1, SeqCst);
                    done.done();
                });
            }
            while arrived.load(SeqCst) < N {
                gort::sleep(Duration::from_millis(1));
            }
            gort::sleep(Duration::from_millis(20));
            assert_eq!(passed.load(SeqCst), 0, "a goroutine passed a closed gate");
            let seen = (probe.live_goroutines(), probe.stack_stats().0);
            gate.done();
            done.wait();
            assert_eq!(passed.load(SeqCst), N);
            seen
        });
        assert_eq!(live, N + 1, "live goroutines while all are parked");
        assert!(stacks > N, "live stacks while all are parked: {stacks}");
        eventually("live goroutines back to 0", || rt.live_goroutines() == 0);
        eventually("every stack back in the pool", || rt.stack_stats().0 == 0);
    });
}

#[test]
fn work_stealing_moves_goroutines_to_another_m() {
    const N: usize = 64;
    timed(|| {
        rt(2).block_on(|| {
            let parent = gort::go(|| {
                let home = std::thread::current().id();
                let threads = Arc::new(Mutex::new(Vec::new()));
                let done = Arc::new(AtomicUsize::new(0));
                for _ in 0..N {
                    let threads = threads.clone();
                    let done = done.clone();
                    gort::go(move || {
                        threads.lock().unwrap().push(std::thread::current().id());
                        done.fetch_add(1, SeqCst);
                    });
                }
                // Busy-wait without ever blocking: this M cannot run the
                // children, so only another M taking them lets this end.
                let start = Instant::now();
                while done.load(SeqCst) < N / 2 {
                    assert!(
                        start.elapsed() < Duration::from_secs(5),
                        "{} of {N} children ran while their parent's M was busy",
                        done.load(SeqCst)
                    );
                    std::hint::spin_loop();
                }
                assert_eq!(std::thread::current().id(), home);
                let stolen = threads.lock().unwrap().clone();
                // Now block, so the rest can run anywhere.
                while done.load(SeqCst) < N {
                    gort::sleep(Duration::from_millis(1));
                }
                (home, stolen)
            });
            let (home, threads) = parent.join().unwrap();
            let distinct: HashSet<_> = threads.iter().chain([&home]).collect();
            assert!(distinct.len() > 1, "only one thread ran goroutines");
            assert!(threads.len() >= N / 2);
            assert!(
                threads.iter().all(|t| *t != home),
                "a child ran on its busy parent's thread"
            );
        });
    });
}

#[test]
fn a_busy_goroutine_does_not_strand_its_newest_child() {
    // `go` puts the child in the parent P's next-to-run slot. While the
    // parent computes without blocking, the other (idle) P must take it,
    // as Go's scheduler does.
    timed(|| {
        rt(2).block_on(|| {
            gort::go(|| {
                let ran = Arc::new(AtomicBool::new(false));
                let r2 = ran.clone();
                gort::go(move || r2.store(true, SeqCst));
                let start = Instant::now();
                while !ran.load(SeqCst) {
                    assert!(
                        start.elapsed() < Duration::from_secs(3),
                        "a runnable goroutine waited 3 s behind a busy one while a P was idle"
                    );
                    std::hint::spin_loop();
                }
            })
            .join()
            .unwrap();
        });
    });
}

#[test]
fn a_goroutine_woken_by_a_busy_goroutine_runs_elsewhere() {
    // Same with a wake-up: the woken goroutine must not wait for the waker
    // to block.
    timed(|| {
        rt(2).block_on(|| {
            let (tx, rx) = gort::chan::<u32>(0);
            let ran = Arc::new(AtomicBool::new(false));
            let r2 = ran.clone();
            let sleeper = gort::go(move || {
                rx.recv();
                r2.store(true, SeqCst);
            });
            gort::sleep(Duration::from_millis(20)); // the sleeper is parked in recv
            gort::go(move || {
                tx.send(1).unwrap();
                let start = Instant::now();
                while !ran.load(SeqCst) {
                    assert!(
                        start.elapsed() < Duration::from_secs(3),
                        "a woken goroutine waited 3 s behind its busy waker while a P was idle"
                    );
                    std::hint::spin_loop();
                }
            })
            .join()
            .unwrap();
            sleeper.join().unwrap();
        });
    });
}

#[test]
fn syscall_lets_other_goroutines_run() {
    timed(|| {
        rt(1).block_on(|| {
            let ticks = Arc::new(AtomicU64::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let (t2, s2) = (ticks.clone(), stop.clone());
            let busy = gort::go(move || {
                while !s2.load(SeqCst) {
                    t2.fetch_add(1, SeqCst);
                    gort::yield_now();
                }
            });
            gort::yield_now();
            let t3 = ticks.clone();
            // The syscall blocks its thread until the busy goroutine has taken
            // ten more steps. With one P, that happens only if the P is handed
            // to another M while the syscall blocks; if it never is, the wait
            // ends at the limit and the assertion below fails.
            let blocker = gort::go(move || {
                gort::syscall(|| {
                    let before = t3.load(SeqCst);
                    let start = Instant::now();
                    while t3.load(SeqCst) <= before + 10 && start.elapsed() < SETTLE_LIMIT {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    (before, t3.load(SeqCst))
                })
            });
            let (before, after) = blocker.join().unwrap();
            stop.store(true, SeqCst);
            busy.join().unwrap();
            assert!(
                after > before + 10,
                "with procs=1 the other goroutine made {} steps while a syscall blocked \
                 for {SETTLE_LIMIT:?}",
                after - before
            );
        });
    });
}

#[test]
fn syscall_returns_values_and_propagates_panics() {
    timed(|| {
        rt(2).block_on(|| {
            let n = gort::syscall(|| std::fs::read("/proc/self/status").map(|v| v.len()));
            assert!(n.unwrap() > 0);
            let msg = expect_panic(|| gort::syscall(|| panic!("inside the syscall")));
            assert_eq!(msg, "inside the syscall");
            // Still a working goroutine afterwards.
            assert_eq!(gort::go(|| 5).join().unwrap(), 5);
        });
        // Outside a goroutine it simply runs.
        assert_eq!(gort::syscall(|| 3), 3);
    });
}

#[test]
fn many_goroutines_in_syscalls_at_once() {
    timed(|| {
        rt(2).block_on(|| {
            // Each syscall blocks until all 16 are inside one at once. On 2 Ps
            // that happens only if a goroutine in a syscall gives its P up;
            // if they held their Ps, at most 2 would ever be inside and each
            // would give up at the limit.
            const N: usize = 16;
            let inside = Arc::new(AtomicUsize::new(0));
            let hs: Vec<_> = (0..N)
                .map(|_| {
                    let inside = inside.clone();
                    gort::go(move || {
                        gort::syscall(|| {
                            inside.fetch_add(1, SeqCst);
                            let start = Instant::now();
                            while inside.load(SeqCst) < N && start.elapsed() < SETTLE_LIMIT {
                                std::thread::sleep(Duration::from_millis(1));
                            }
                            inside.load(SeqCst)
                        })
                    })
                })
                .collect();
            for h in hs {
                let seen = h.join().unwrap();
                assert_eq!(
                    seen, N,
                    "only {seen} of {N} goroutines got into a syscall at once"
                );
            }
        });
    });
}

/// Each sleeper wakes no earlier than its deadline (the order in which due
/// timers fire is the heap's, checked by `sched::timers`' unit test: here
/// two sleepers due at once may run in either order on two Ps).
#[test]
fn sleepers_wake_no_earlier_than_their_deadlines() {
    timed(|| {
        rt(2).block_on(|| {
            let order = Arc::new(Mutex::new(Vec::new()));
            let start = Instant::now();
            let hs: Vec<_> = [30u64, 10, 20]
                .into_iter()
                .map(|ms| {
                    let order = order.clone();
                    gort::go(move || {
                        gort::sleep(Duration::from_millis(ms));
                        let woke = start.elapsed();
                        order.lock().unwrap().push(ms);
                        assert!(
                            woke >= Duration::from_millis(ms),
                            "{ms} ms sleeper woke at {woke:?}"
                        );
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            let mut woke = order.lock().unwrap().clone();
            woke.sort_unstable();
            assert_eq!(woke, [10, 20, 30], "every sleeper woke once");
        });
    });
}

#[test]
fn sleep_blocks_the_goroutine_not_the_thread() {
    timed(|| {
        rt(1).block_on(|| {
            let start = Instant::now();
            let hs: Vec<_> = (0..100)
                .map(|_| gort::go(|| gort::sleep(Duration::from_millis(100))))
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            let took = start.elapsed();
            assert!(took >= Duration::from_millis(100));
            assert!(
                took < Duration::from_millis(1000),
                "100 sleeps of 100 ms on one P took {took:?}"
            );
        });
    });
}

#[test]
fn yield_spinner_cannot_starve_the_flag_setter() {
    timed(|| {
        rt(1).block_on(|| {
            let flag = Arc::new(AtomicBool::new(false));
            let f2 = flag.clone();
            let spinner = gort::go(move || {
                let mut spins = 0u64;
                while !f2.load(SeqCst) {
                    spins += 1;
                    gort::yield_now();
                }
                spins
            });
            let f3 = flag.clone();
            let setter = gort::go(move || {
                // Work that blocks several times before the flag is set.
                let (tx, rx) = gort::chan::<u32>(0);
                let echo = gort::go(move || rx.iter().sum::<u32>());
                for i in 0..100 {
                    tx.send(i).unwrap();
                }
                drop(tx);
                assert_eq!(echo.join().unwrap(), 4950);
                gort::sleep(Duration::from_millis(5));
                f3.store(true, SeqCst);
            });
            setter.join().unwrap();
            let spins = spinner.join().unwrap();
            assert!(spins > 0);
        });
    });
}

#[test]
fn busy_goroutines_share_one_p_through_yield() {
    timed(|| {
        rt(1).block_on(|| {
            let counts: Arc<Vec<AtomicU64>> = Arc::new((0..4).map(|_| AtomicU64::new(0)).collect());
            let stop = Arc::new(AtomicBool::new(false));
            let hs: Vec<_> = (0..4)
                .map(|i| {
                    let counts = counts.clone();
                    let stop = stop.clone();
                    gort::go(move || {
                        while !stop.load(SeqCst) {
                            counts[i].fetch_add(1, SeqCst);
                            gort::yield_now();
                        }
                    })
                })
                .collect();
            gort::sleep(Duration::from_millis(100));
            stop.store(true, SeqCst);
            for h in hs {
                h.join().unwrap();
            }
            let c: Vec<u64> = counts.iter().map(|c| c.load(SeqCst)).collect();
            let (lo, hi) = (*c.iter().min().unwrap(), *c.iter().max().unwrap());
            assert!(lo > 0 && hi <= 2 * lo + 2, "unfair round robin: {c:?}");
        });
    });
}

#[test]
fn procs_zero_is_an_error() {
    let e = gort::Runtime::builder().procs(0).build().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("procs"), "error text: {e}");
    let e = gort::Runtime::builder()
        .stack_size(1024)
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("stack_size"), "error text: {e}");
    let rt = gort::Runtime::builder()
        .procs(3)
        .stack_size(gort::MIN_STACK_SIZE)
        .build()
        .unwrap();
    assert_eq!(rt.procs(), 3);
}

#[test]
fn go_outside_a_runtime_panics_clearly() {
    let msg = expect_panic(|| gort::go(|| ()));
    assert!(
        msg.contains("outside a gort runtime") && msg.contains("gort::run"),
        "panic text: {msg}"
    );
    assert_eq!(gort::goroutine_id(), None);
    let msg = expect_panic(|| gort::iter::pull(|_y: &mut dyn FnMut(u8) -> bool| {}));
    assert!(msg.contains("outside a gort runtime"), "panic text: {msg}");
}

#[test]
fn goroutine_ids_and_run() {
    timed(|| {
        let v = gort::run(|| {
            let me = gort::goroutine_id().unwrap();
            let child = gort::go(gort::goroutine_id);
            let id = child.id();
            assert_eq!(child.join().unwrap(), Some(id));
            assert_ne!(id, me);
            me
        });
        assert_eq!(v, 1, "the first main goroutine is goroutine 1");
    });
}

#[test]
fn block_on_returns_when_main_returns_while_others_sleep() {
    // Go's rule: the program ends when main returns, whatever the other
    // goroutines are doing. A goroutine asleep on a long timer must not hold
    // block_on.
    timed(|| {
        let rt = rt(2);
        let start = Instant::now();
        let v = rt.block_on(|| {
            gort::go(|| gort::sleep(Duration::from_secs(3600)));
            gort::sleep(Duration::from_millis(5));
            42
        });
        assert_eq!(v, 42);
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "block_on took {:?}",
            start.elapsed()
        );
    });
}

#[test]
fn block_on_returns_when_main_returns_while_others_run() {
    timed(|| {
        let rt = rt(2);
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let start = Instant::now();
        let v = rt.block_on(move || {
            gort::go(move || {
                while !s2.load(SeqCst) {
                    gort::yield_now();
                }
            });
            gort::yield_now();
            7
        });
        let took = start.elapsed();
        stop.store(true, SeqCst);
        assert_eq!(v, 7);
        assert!(took < Duration::from_secs(2), "block_on took {took:?}");
    });
}

#[test]
fn block_on_twice_on_one_runtime() {
    timed(|| {
        let rt = rt(2);
        assert_eq!(rt.block_on(|| 1), 1);
        assert_eq!(rt.block_on(|| gort::go(|| 2).join().unwrap()), 2);
    });
}

/// A goroutine that yields in a loop on the only P does not starve the
/// goroutines woken elsewhere: one readied by a plain thread's channel send
/// and one whose sleep ends both run while it keeps yielding.
#[test]
fn yielding_in_a_loop_lets_woken_goroutines_run() {
    timed(|| {
        rt(1).block_on(|| {
            let (tx, rx) = gort::chan::<u32>(0);
            let got = Arc::new(AtomicU64::new(0));
            let slept = Arc::new(AtomicBool::new(false));
            let g = got.clone();
            let receiver = gort::go(move || {
                if let Some(v) = rx.recv() {
                    g.store(u64::from(v), SeqCst);
                }
            });
            let s = slept.clone();
            let sleeper = gort::go(move || {
                gort::sleep(Duration::from_millis(10));
                s.store(true, SeqCst);
            });
            // Both block before the plain thread sends.
            for _ in 0..10 {
                gort::yield_now();
            }
            let sender = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                tx.send(42).unwrap();
            });
            let mut yields = 0u64;
            while got.load(SeqCst) != 42 || !slept.load(SeqCst) {
                gort::yield_now();
                yields += 1;
            }
            assert!(yields > 0);
            sender.join().unwrap();
            receiver.join().unwrap();
            sleeper.join().unwrap();
        });
    });
}

/// Computes, with no scheduling point, until `flag` is set; fails after
/// [`SETTLE_LIMIT`] (`what` never ran).
fn compute_until(flag: &AtomicBool, what: &str) {
    let since = Instant::now();
    while !flag.load(SeqCst) {
        assert!(since.elapsed() < SETTLE_LIMIT, "{what} stranded");
        std::hint::spin_loop();
    }
}

/// A goroutine left in the `runnext` of an owner that computes without a
/// scheduling point is taken by the idle M: spawned, and woken by a send,
/// it runs while its waker still computes (which waits for it, up to a
/// limit, then fails).
#[test]
fn runnext_of_a_computing_owner_is_stolen() {
    let rt = rt(2);
    rt.block_on(|| {
        for round in 0..20 {
            let ran = Arc::new(AtomicBool::new(false));
            let r = ran.clone();
            let h = gort::go(move || r.store(true, SeqCst));
            compute_until(&ran, &format!("round {round}: spawned goroutine"));
            h.join().unwrap();

            let (tx, rx) = gort::chan::<u32>(1);
            let woke = Arc::new(AtomicBool::new(false));
            let w = woke.clone();
            let h = gort::go(move || {
                let v = rx.recv();
                w.store(true, SeqCst);
                v
            });
            // Let it park in `recv`, then wake it into this P's `runnext`.
            gort::sleep(Duration::from_millis(1));
            tx.send(round).unwrap();
            compute_until(&woke, &format!("round {round}: woken goroutine"));
            assert_eq!(h.join().unwrap(), Some(round));
        }
    });
}
