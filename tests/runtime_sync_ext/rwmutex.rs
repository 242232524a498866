//! `RwMutex`: sync/rwmutex_test.go, and Go's writer preference.

use crate::{await_true, each_mode, join_all, Mode};
use gort::chan;
use gort::sync::RwMutex;
use std::sync::atomic::{AtomicI32, Ordering::SeqCst};
use std::sync::Arc;

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
