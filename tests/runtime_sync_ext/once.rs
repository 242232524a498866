//! `Once`: sync/once_test.go, with waiters that must park.

use crate::runtime_support::expect_panic;
use crate::{each_mode, join_all};
use gort::chan;
use gort::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

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
