//! `gort::sync`'s `RwMutex`, `Cond` and `Once`, as Go's own tests use
//! `sync.RWMutex`, `sync.Cond` and `sync.Once` (sync/rwmutex_test.go,
//! cond_test.go, once_test.go). Each test runs three ways: goroutines on one
//! P, goroutines on two Ps, and plain threads with no runtime.

mod runtime_support;

use gort::sync::{Cond, Mutex, Once, RwMutex};
use gort::{chan, Receiver, Sender};
use runtime_support::{expect_panic, rt, timed};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

/// Where a test's participants run.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// Goroutines on a runtime with this many Ps.
    Go(usize),
    /// Plain OS threads, outside any runtime.
    Threads,
}

const MODES: [Mode; 3] = [Mode::Go(1), Mode::Go(2), Mode::Threads];

/// A started goroutine or thread.
enum Handle {
    G(gort::JoinHandle<()>),
    T(std::thread::JoinHandle<()>),
}

impl Handle {
    fn join(self) {
        match self {
            Handle::G(h) => h.join().unwrap(),
            Handle::T(h) => h.join().unwrap(),
        }
    }
}

impl Mode {
    /// Runs the test body `f(mode)` in this mode (on a runtime, or on a
    /// plain thread), failing if it hangs.
    fn run(self, f: fn(Mode)) {
        timed(move || match self {
            Mode::Go(p) => rt(p).block_on(move || f(self)),
            Mode::Threads => f(self),
        });
    }

    /// Starts `f` as a goroutine or as a thread.
    fn spawn(self, f: impl FnOnce() + Send + 'static) -> Handle {
        match self {
            Mode::Go(_) => Handle::G(gort::go(f)),
            Mode::Threads => Handle::T(std::thread::spawn(f)),
        }
    }
}

fn join_all(hs: Vec<Handle>) {
    hs.into_iter().for_each(Handle::join);
}

fn each_mode(f: fn(Mode)) {
    for m in MODES {
        m.run(f);
    }
}

// ---- RwMutex (sync/rwmutex_test.go) ----

#[test]
fn rwmutex_try_lock_rules() {
    // TestRWMutex's first half.
    each_mode(|_| {
        let mut m = RwMutex::new(7);
        let w = m.write();
        assert!(
            m.try_write().is_none(),
            "try_write succeeded with the lock held"
        );
        assert!(
            m.try_read().is_none(),
            "try_read succeeded with the lock held"
        );
        drop(w);
        drop(m.try_write().expect("try_write failed with the lock free"));
        let r1 = m.try_read().expect("try_read failed with the lock free");
        let r2 = m
            .try_read()
            .expect("try_read failed with the lock read-held");
        assert!(
            m.try_write().is_none(),
            "try_write succeeded with the lock read-held"
        );
        assert_eq!((*r1, *r2), (7, 7));
        drop((r1, r2));
        *m.get_mut() += 1;
        *m.write() += 1;
        assert_eq!(m.into_inner(), 9);
    });
}

/// Go's HammerRWMutex: `activity` is readers + 10000 * writers inside.
fn hammer(mode: Mode, readers: usize, iters: usize) {
    let rw = Arc::new(RwMutex::new(0usize));
    let activity = Arc::new(AtomicI32::new(0));
    let mut hs = Vec::new();
    for i in 0..readers + 2 {
        let (rw, activity) = (rw.clone(), activity.clone());
        // Writers are the first and the middle participant, as in Go.
        let writer = i == 0 || i == readers / 2 + 1;
        hs.push(mode.spawn(move || {
            for _ in 0..iters {
                if writer {
                    let mut g = rw.write();
                    let n = activity.fetch_add(10_000, SeqCst) + 10_000;
                    assert_eq!(n, 10_000, "writer not alone");
                    spin(100);
                    *g += 1;
                    activity.fetch_sub(10_000, SeqCst);
                } else {
                    let _g = rw.read();
                    let n = activity.fetch_add(1, SeqCst) + 1;
                    assert!((1..10_000).contains(&n), "reader beside a writer: {n}");
                    spin(100);
                    activity.fetch_sub(1, SeqCst);
                }
            }
        }));
    }
    join_all(hs);
    assert_eq!(*rw.read(), 2 * iters);
}

fn spin(n: u32) {
    for _ in 0..n {
        std::hint::spin_loop();
    }
}

#[test]
fn rwmutex_hammer() {
    // TestRWMutex's second half, with Go's iteration count.
    each_mode(|mode| {
        for readers in [1, 3, 10, 5] {
            hammer(mode, readers, 1000);
        }
    });
}

#[test]
fn rwmutex_parallel_readers() {
    // TestParallelReaders: every reader holds the lock at the same time,
    // or the main body never collects all the `locked` messages.
    each_mode(|mode| {
        for n in [1, 3, 4] {
            let rw = Arc::new(RwMutex::new(()));
            let (locked_tx, locked_rx) = chan::<()>(0);
            let (unlock_tx, unlock_rx) = chan::<()>(0);
            let hs: Vec<_> = (0..n)
                .map(|_| {
                    let (rw, locked_tx, unlock_rx) =
                        (rw.clone(), locked_tx.clone(), unlock_rx.clone());
                    mode.spawn(move || {
                        let _g = rw.read();
                        locked_tx.send(()).unwrap();
                        unlock_rx.recv().unwrap();
                    })
                })
                .collect();
            (0..n).for_each(|_| locked_rx.recv().unwrap());
            (0..n).for_each(|_| unlock_tx.send(()).unwrap());
            join_all(hs);
        }
    });
}

/// Polls (sleeping, so goroutines and threads alike make progress) until
/// `cond` holds.
fn await_true(mut cond: impl FnMut() -> bool) {
    while !cond() {
        gort::sleep(Duration::from_millis(1));
    }
}

#[test]
fn rwmutex_prefers_a_pending_writer() {
    // Go's rule: readers that arrived before a writer finish first; readers
    // that arrive after it wait until it is done.
    each_mode(|mode| {
        let rw = Arc::new(RwMutex::new(()));
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (release_tx, release_rx) = chan::<()>(0);
        let (inside_tx, inside_rx) = chan::<()>(0);
        let early: Vec<_> = (0..2)
            .map(|_| {
                let (rw, inside_tx, release_rx) =
                    (rw.clone(), inside_tx.clone(), release_rx.clone());
                mode.spawn(move || {
                    let _g = rw.read();
                    inside_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                })
            })
            .collect();
        (0..2).for_each(|_| inside_rx.recv().unwrap());
        let (rw2, log2) = (rw.clone(), log.clone());
        let writer = mode.spawn(move || {
            let _g = rw2.write();
            log2.lock().unwrap().push("writer");
        });
        // The writer has announced itself once readers are turned away.
        await_true(|| rw.try_read().is_none());
        let (rw2, log2) = (rw.clone(), log.clone());
        let late = mode.spawn(move || {
            let _g = rw2.read();
            log2.lock().unwrap().push("late reader");
        });
        // The late reader is counted (and waits behind the writer).
        await_true(|| format!("{rw:?}").contains("readers: 3"));
        release_tx.send(()).unwrap();
        assert!(
            log.lock().unwrap().is_empty(),
            "entered beside a reader: {log:?}"
        );
        release_tx.send(()).unwrap();
        join_all(early);
        writer.join();
        late.join();
        assert_eq!(*log.lock().unwrap(), ["writer", "late reader"]);
    });
}

// ---- Cond (sync/cond_test.go) ----

type Shared<T> = Arc<(Mutex<T>, Cond)>;

fn shared<T>(v: T) -> Shared<T> {
    Arc::new((Mutex::new(v), Cond::new()))
}

#[test]
fn cond_signal_wakes_one_waiter() {
    // TestCondSignal.
    each_mode(|mode| {
        const N: usize = 2;
        let s = shared(());
        let (running_tx, running_rx) = chan::<()>(N);
        let (awake_tx, awake_rx) = chan::<()>(N);
        let hs: Vec<_> = (0..N)
            .map(|_| {
                let (s, running_tx, awake_tx) = (s.clone(), running_tx.clone(), awake_tx.clone());
                mode.spawn(move || {
                    let g = s.0.lock();
                    running_tx.send(()).unwrap();
                    let _g = s.1.wait(g);
                    awake_tx.send(()).unwrap();
                })
            })
            .collect();
        (0..N).for_each(|_| running_rx.recv().unwrap());
        for _ in 0..N {
            assert!(awake_rx.try_recv().is_err(), "a waiter is not asleep");
            drop(s.0.lock());
            s.1.signal();
            awake_rx.recv().unwrap();
            assert!(awake_rx.try_recv().is_err(), "too many waiters awake");
        }
        s.1.signal(); // nobody waits: lost, and harmless
        join_all(hs);
    });
}

#[test]
fn cond_signal_wakes_in_arrival_order() {
    // TestCondSignalGenerations.
    each_mode(|mode| {
        const N: usize = 100;
        let s = shared(());
        let (running_tx, running_rx) = chan::<()>(N);
        let (awake_tx, awake_rx) = chan::<usize>(N);
        let mut hs = Vec::new();
        for i in 0..N {
            let (s2, running_tx, awake_tx) = (s.clone(), running_tx.clone(), awake_tx.clone());
            hs.push(mode.spawn(move || {
                let g = s2.0.lock();
                running_tx.send(()).unwrap();
                let _g = s2.1.wait(g);
                awake_tx.send(i).unwrap();
            }));
            if i > 0 {
                let a = awake_rx.recv().unwrap();
                assert_eq!(a, i - 1, "wrong waiter woke up");
            }
            running_rx.recv().unwrap();
            let _g = s.0.lock();
            s.1.signal();
        }
        assert_eq!(awake_rx.recv(), Some(N - 1));
        join_all(hs);
    });
}

fn broadcast_rounds(mode: Mode, n: usize) {
    let s = shared(false); // the flag: exit
    let (running_tx, running_rx): (Sender<usize>, Receiver<usize>) = chan(n);
    let (awake_tx, awake_rx) = chan::<usize>(n);
    let hs: Vec<_> = (0..n)
        .map(|id| {
            let (s, running_tx, awake_tx) = (s.clone(), running_tx.clone(), awake_tx.clone());
            mode.spawn(move || {
                let mut g = s.0.lock();
                while !*g {
                    running_tx.send(id).unwrap();
                    g = s.1.wait(g);
                    awake_tx.send(id).unwrap();
                }
            })
        })
        .collect();
    for round in 0..n {
        (0..n).for_each(|_| {
            running_rx.recv().unwrap();
        });
        if round == n - 1 {
            *s.0.lock() = true;
        }
        assert!(awake_rx.try_recv().is_err(), "a waiter is not asleep");
        {
            let _g = s.0.lock();
            s.1.broadcast();
        }
        let mut seen = vec![false; n];
        for _ in 0..n {
            let g = awake_rx.recv().unwrap();
            assert!(!seen[g], "waiter {g} woke up twice");
            seen[g] = true;
        }
    }
    join_all(hs);
    assert!(running_rx.try_recv().is_err(), "a waiter did not exit");
    s.1.broadcast();
}

#[test]
fn cond_broadcast_wakes_every_waiter() {
    // TestCondBroadcast, with Go's 200 waiters for goroutines (threads: 50).
    each_mode(|mode| broadcast_rounds(mode, if let Mode::Threads = mode { 50 } else { 200 }));
}

#[test]
fn cond_race() {
    // TestRace: a signal reaches exactly the waiter queued before it.
    each_mode(|mode| {
        let s = shared(0);
        let s1 = s.clone();
        let a = mode.spawn(move || {
            let mut g = s1.0.lock();
            *g = 1;
            g = s1.1.wait(g);
            assert_eq!(*g, 2);
            *g = 3;
            s1.1.signal();
        });
        let s2 = s.clone();
        let b = mode.spawn(move || loop {
            let mut g = s2.0.lock();
            if *g == 1 {
                *g = 2;
                s2.1.signal();
                return;
            }
            drop(g);
            gort::yield_now();
        });
        let s3 = s.clone();
        let c = mode.spawn(move || loop {
            let g = s3.0.lock();
            if *g == 2 {
                assert_eq!(*s3.1.wait(g), 3);
                return;
            }
            if *g == 3 {
                return;
            }
            drop(g);
            gort::yield_now();
        });
        join_all(vec![a, b, c]);
    });
}

#[test]
fn cond_signal_stealing() {
    // TestCondSignalStealing: a broadcast racing a new waiter still wakes
    // the waiter that was there before it.
    each_mode(|mode| {
        let iters = if let Mode::Threads = mode { 200 } else { 1000 };
        for _ in 0..iters {
            let s = shared(false);
            let (tx, rx) = chan::<()>(0);
            let (s1, tx1) = (s.clone(), tx.clone());
            let first = mode.spawn(move || {
                let g = s1.0.lock();
                tx1.send(()).unwrap();
                drop(s1.1.wait(g));
                tx1.send(()).unwrap();
            });
            rx.recv().unwrap();
            drop(s.0.lock()); // the first waiter is inside `wait` now
            let s2 = s.clone();
            let bc = mode.spawn(move || s2.1.broadcast());
            let s3 = s.clone();
            let second = mode.spawn(move || drop(s3.1.wait_while(s3.0.lock(), |done| !*done)));
            rx.recv().unwrap();
            *s.0.lock() = true;
            s.1.broadcast();
            join_all(vec![first, bc, second]);
        }
    });
}

#[test]
fn cond_signal_without_waiter_is_lost() {
    each_mode(|mode| {
        let s = shared(false);
        s.1.signal();
        s.1.broadcast();
        let s1 = s.clone();
        let (tx, rx) = chan::<()>(1);
        let waiter = mode.spawn(move || {
            let mut g = s1.0.lock();
            *g = true;
            drop(s1.1.wait(g));
            tx.send(()).unwrap();
        });
        await_true(|| *s.0.lock()); // the waiter is inside `wait`
        gort::sleep(Duration::from_millis(20));
        assert!(
            rx.try_recv().is_err(),
            "an earlier signal woke a later waiter"
        );
        s.1.signal();
        rx.recv().unwrap();
        waiter.join();
    });
}

// ---- Once (sync/once_test.go) ----

#[test]
fn once_runs_once_and_waiters_see_the_result() {
    // TestOnce. The closure blocks (on a channel) while the others call:
    // with one P they must park, not spin, or the closure never resumes.
    each_mode(|mode| {
        const N: usize = 10;
        let once = Arc::new(Once::new());
        let value = Arc::new(AtomicUsize::new(0));
        let (go_tx, go_rx) = chan::<()>(0);
        let (done_tx, done_rx) = chan::<()>(N);
        let hs: Vec<_> = (0..N)
            .map(|_| {
                let (once, value, go_rx, done_tx) =
                    (once.clone(), value.clone(), go_rx.clone(), done_tx.clone());
                mode.spawn(move || {
                    once.call_once(|| {
                        go_rx.recv().unwrap();
                        value.fetch_add(1, SeqCst);
                    });
                    assert_eq!(value.load(SeqCst), 1, "once failed inside run");
                    done_tx.send(()).unwrap();
                })
            })
            .collect();
        gort::sleep(Duration::from_millis(10));
        assert!(!once.is_completed());
        go_tx.send(()).unwrap();
        (0..N).for_each(|_| done_rx.recv().unwrap());
        join_all(hs);
        assert!(once.is_completed());
        assert_eq!(value.load(SeqCst), 1, "once failed outside run");
    });
}

#[test]
fn once_panic_counts_as_done() {
    // TestOncePanic, plus callers parked while the closure panics: they
    // return normally, and no later call runs its closure.
    each_mode(|mode| {
        let once = Arc::new(Once::new());
        let (go_tx, go_rx) = chan::<()>(0);
        let (started_tx, started_rx) = chan::<()>(0);
        let o = once.clone();
        let runner = mode.spawn(move || {
            let msg = expect_panic(|| {
                o.call_once(|| {
                    started_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                    panic!("failed");
                })
            });
            assert_eq!(msg, "failed");
        });
        started_rx.recv().unwrap();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let o = once.clone();
                mode.spawn(move || o.call_once(|| panic!("Once ran a second closure")))
            })
            .collect();
        gort::sleep(Duration::from_millis(5));
        go_tx.send(()).unwrap();
        runner.join();
        join_all(waiters);
        assert!(once.is_completed());
        once.call_once(|| panic!("Once ran a second closure"));
    });
}
