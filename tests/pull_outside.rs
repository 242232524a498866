//! A `Pull` used or dropped outside any goroutine (it is `Send`, so it can
//! leave the runtime): refused calls panic clearly and leave it usable, and
//! dropping it releases what its sequence captured.
//!
//! Its own binary: a failure here can abort the process.

mod runtime_support;

use gort::iter::pull;
use runtime_support::{eventually, expect_panic, rt, timed, DropCount};

#[test]
fn next_outside_a_goroutine_panics_clearly() {
    timed(|| {
        let rt = rt(1);
        let p = rt.block_on(|| {
            pull(|y: &mut dyn FnMut(u32) -> bool| {
                y(1);
            })
        });
        let msg = expect_panic(|| p.next());
        assert!(msg.contains("outside"), "panic text: {msg}");
        drop(p);
    });
}

#[test]
fn pull_stays_usable_after_a_next_outside_a_goroutine() {
    timed(|| {
        let rt = rt(1);
        let p = rt.block_on(|| {
            pull(|y: &mut dyn FnMut(u32) -> bool| {
                y(1);
            })
        });
        let msg = expect_panic(|| p.next());
        assert!(msg.contains("outside"), "panic text: {msg}");
        // The refused call must not leave the Pull marked as busy.
        let (v, busy_msg) = rt.block_on(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| p.next()));
            match r {
                Ok(v) => (v, String::new()),
                Err(e) => (None, runtime_support::panic_text(&*e)),
            }
        });
        assert_eq!(
            v,
            Some(1),
            "next inside the runtime after a refused call: {busy_msg}"
        );
    });
}

#[test]
fn never_started_pull_dropped_outside_the_runtime() {
    timed(|| {
        let drops = DropCount::default();
        let d = drops.clone();
        let rt = rt(1);
        let p = rt.block_on(move || {
            let g = d.guard();
            pull(move |y: &mut dyn FnMut(u32) -> bool| {
                let _g = g;
                y(1);
            })
        });
        assert_eq!(rt.stack_stats().0, 1);
        drop(p); // on a plain thread, never started
        assert_eq!(drops.get(), 1, "the sequence's captures were not released");
        eventually("stack back in the pool", || rt.stack_stats().0 == 0);
    });
}
