//! Misusing a `Pull` panics with a clear message instead of corrupting it:
//! two goroutines in `next` at once, or the sequence calling its own `next`.

mod runtime_support;

use gort::iter::{pull, Pull};
use runtime_support::{expect_panic, rt, timed};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

#[test]
fn concurrent_next_from_two_goroutines_panics() {
    timed(|| {
        rt(2).block_on(|| {
            let (tx, rx) = gort::chan::<u32>(0);
            let inside = Arc::new(AtomicBool::new(false));
            let i2 = inside.clone();
            let p = Arc::new(pull(move |y: &mut dyn FnMut(u32) -> bool| {
                for v in 0.. {
                    i2.store(true, SeqCst);
                    // Blocks inside the sequence, with the first caller in next.
                    let Some(x) = rx.recv() else { return };
                    i2.store(false, SeqCst);
                    if !y(v + x) {
                        return;
                    }
                }
            }));
            let p1 = p.clone();
            let first = gort::go(move || p1.next());
            while !inside.load(SeqCst) {
                gort::sleep(Duration::from_millis(1));
            }
            // A second goroutine calls next while the first is inside it.
            let p2 = p.clone();
            let second = gort::go(move || expect_panic(|| p2.next()));
            let msg = second.join().unwrap();
            assert!(
                msg.contains("Pull::next") && msg.contains("another next or stop"),
                "panic text: {msg}"
            );
            // The misuse did not disturb the first call or the Pull.
            tx.send(100).unwrap();
            assert_eq!(first.join().unwrap(), Some(100));
            assert!(!p.is_done());
            let p3 = p.clone();
            let h = gort::go(move || p3.next());
            tx.send(5).unwrap();
            assert_eq!(h.join().unwrap(), Some(6));
            // stop from another goroutine while a next is running also panics.
            let p4 = p.clone();
            let blocked = gort::go(move || p4.next());
            while !inside.load(SeqCst) {
                gort::sleep(Duration::from_millis(1));
            }
            gort::sleep(Duration::from_millis(5));
            let p5 = p.clone();
            let msg = gort::go(move || expect_panic(|| p5.stop())).join().unwrap();
            assert!(msg.contains("Pull::stop"), "panic text: {msg}");
            drop(tx); // the sequence's recv returns None: it finishes
            assert_eq!(blocked.join().unwrap(), None);
            assert!(p.is_done());
        });
    });
}

#[test]
fn reentrant_next_from_inside_the_sequence_panics() {
    timed(|| {
        rt(1).block_on(|| {
            let me: Arc<OnceLock<Weak<Pull<u32>>>> = Arc::new(OnceLock::new());
            let me2 = me.clone();
            let p = Arc::new(pull(move |y: &mut dyn FnMut(u32) -> bool| {
                if !y(1) {
                    return;
                }
                let this = me2
                    .get()
                    .and_then(Weak::upgrade)
                    .expect("the Pull is alive");
                // Calling our own next from inside the sequence.
                let v = this.next();
                y(v.unwrap_or(0) + 100);
            }));
            me.set(Arc::downgrade(&p)).unwrap();
            assert_eq!(p.next(), Some(1));
            let msg = expect_panic(|| p.next());
            assert!(
                msg.contains("Pull::next") && msg.contains("inside the sequence"),
                "panic text: {msg}"
            );
            assert!(p.is_done(), "the panic ended the sequence");
            assert_eq!(p.next(), None);
        });
    });
}

#[test]
fn reentrant_stop_from_inside_the_sequence_panics() {
    timed(|| {
        rt(2).block_on(|| {
            let me: Arc<OnceLock<Weak<Pull<u32>>>> = Arc::new(OnceLock::new());
            let me2 = me.clone();
            let p = Arc::new(pull(move |y: &mut dyn FnMut(u32) -> bool| {
                let this = me2
                    .get()
                    .and_then(Weak::upgrade)
                    .expect("the Pull is alive");
                this.stop();
                y(1);
            }));
            me.set(Arc::downgrade(&p)).unwrap();
            let msg = expect_panic(|| p.next());
            assert!(msg.contains("Pull::stop"), "panic text: {msg}");
            assert!(p.is_done());
        });
    });
}

/// Goroutines on two Ms race `next` on one `Pull`: the first biases the
/// guard to itself, a rival's call revokes the bias, and from then on every
/// call takes the shared path. Each call either gets the next value or
/// panics as overlapping; no value is lost or handed out twice.
#[test]
fn racing_callers_take_each_value_exactly_once() {
    const CALLERS: usize = 4;
    const CALLS: usize = 3_000;
    let quiet = Arc::new(AtomicBool::new(true));
    let q = quiet.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info.to_string();
        if !(q.load(SeqCst) && text.contains("another next or stop")) {
            previous(info);
        }
    }));
    let (values, overlaps) = timed(|| {
        rt(2).block_on(|| {
            let p = Arc::new(pull(|y: &mut dyn FnMut(u64) -> bool| {
                let mut v = 0;
                while y(v) {
                    v += 1;
                }
            }));
            let handles: Vec<_> = (0..CALLERS)
                .map(|_| {
                    let p = p.clone();
                    gort::go(move || {
                        let (mut got, mut overlaps) = (Vec::new(), 0usize);
                        for i in 0..CALLS {
                            match std::panic::catch_unwind(AssertUnwindSafe(|| p.next())) {
                                Ok(v) => got.push(v.expect("the sequence is endless")),
                                Err(_) => overlaps += 1,
                            }
                            if i % 64 == 0 {
                                gort::yield_now();
                            }
                        }
                        (got, overlaps)
                    })
                })
                .collect();
            let mut all = Vec::new();
            let mut overlaps = 0;
            for h in handles {
                let (got, o) = h.join().unwrap();
                assert!(got.windows(2).all(|w| w[0] < w[1]), "out of order: {got:?}");
                all.extend(got);
                overlaps += o;
            }
            p.stop();
            assert!(p.is_done());
            (all, overlaps)
        })
    });
    quiet.store(false, SeqCst);
    let mut sorted = values.clone();
    sorted.sort_unstable();
    let expect: Vec<u64> = (0..sorted.len() as u64).collect();
    assert_eq!(sorted, expect, "a value was lost or handed out twice");
    assert_eq!(values.len() + overlaps, CALLERS * CALLS);
}
