//! Misusing a `Pull` panics with a clear message instead of corrupting it:
//! two goroutines in `next` at once, or the sequence calling its own `next`.

mod runtime_support;

use gort::iter::{pull, Pull};
use runtime_support::{expect_panic, rt, timed};
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
