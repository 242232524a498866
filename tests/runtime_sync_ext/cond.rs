//! `Cond`: sync/cond_test.go, and the lost signal.

use crate::{await_true, each_mode, join_all, Mode};
use gort::sync::{Cond, Mutex};
use gort::{chan, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

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
