//! Model 5: a state change that goes with an event, against the advancer's
//! reading of states (the runtime's `StatusSource`) at generation ends.
//!
//! Goroutine G is parked: its runtime state is Waiting. M1 unblocks it: it
//! takes its locker, writes GoUnblock (which states G in that generation)
//! and sets G's state to Runnable before releasing the locker, as the
//! runtime's hooks run their `step` (`gort-runtime`'s `crate::hooks`).
//! Meanwhile the advancer (the model's main thread) ends generations 1 and
//! 2 as `Advancer::advance` does: step 1 reads G's state if G is not traced
//! in the generation, steps 2 and 3 publish the next generation and take
//! every M's buffer, step 4 writes the state read only if G is still not
//! traced there (extracted from `generation.rs`).
//!
//! Checked: a status the advancer writes for G in generation `g` is the one
//! G's events led to: Runnable if the unblock is in an earlier generation,
//! Waiting if in a later one (and none in the unblock's own generation).
//! The twin stores the state after releasing the locker: loom finds M1
//! stopped between the release and the store while the advancer ends the
//! unblock's generation and reads the old state for the next one: the
//! wrong status an M preempted by the OS there for as long as a generation
//! lasts would have the advancer write.

use super::{check, check_rejects, end_generation, events, trace_on};
use crate::buf::TraceBuf;
use crate::locker::acquire;
use crate::loom::sync::atomic::AtomicU64;
use crate::loom::sync::Arc;
use crate::registry::ThreadTrace;
use crate::status::GoTrace;
use crate::wire::EventType;
use std::sync::atomic::Ordering::Relaxed;

/// The state stored inside the locker.
const FAITHFUL: u8 = 0;
/// The state stored after the locker is released.
const STATE_AFTER_RELEASE: u8 = 1;

const G: u64 = 42;
const WAITING: u64 = 0;
const RUNNABLE: u64 = 1;

/// Whether `bufs` hold G's unblock.
fn has_unblock(bufs: &[TraceBuf]) -> bool {
    bufs.iter().any(|b| {
        events(b)
            .iter()
            .any(|(ty, n)| *ty == EventType::GoUnblock && n[1] == G)
    })
}

fn model<const V: u8>() {
    trace_on(1);
    let gt = Arc::new(GoTrace::default());
    let state = Arc::new(AtomicU64::new(WAITING));
    let m = ThreadTrace::register(30);
    m.unlist();
    let ms = vec![m.clone()];
    let m1 = {
        let (gt, state) = (gt.clone(), state.clone());
        loom::thread::spawn(move || {
            let mut l = acquire(&m).expect("tracing is on");
            l.writer(None, None).go_unblock(G, &gt, 0);
            if V == FAITHFUL {
                state.store(RUNNABLE, Relaxed);
            }
            drop(l);
            if V == STATE_AFTER_RELEASE {
                state.store(RUNNABLE, Relaxed);
            }
        })
    };
    let mut written = Vec::new();
    let mut unblocked_in = None;
    for gen in 1..=2 {
        // Step 1.
        let read = (!gt.traced_in(gen)).then(|| state.load(Relaxed));
        // Steps 2 and 3.
        if has_unblock(&end_generation(gen, &ms)) {
            unblocked_in = Some(gen);
        }
        // Step 4.
        if let Some(s) = read.filter(|_| !gt.traced_in(gen)) {
            written.push((gen, s));
        }
    }
    m1.join().unwrap();
    if has_unblock(&end_generation(3, &ms)) {
        unblocked_in = Some(3);
    }
    let u = unblocked_in.expect("the unblock is in some generation");
    for (gen, s) in written {
        assert_ne!(
            gen, u,
            "G stated by the advancer in its unblock's generation"
        );
        let want = if u < gen { RUNNABLE } else { WAITING };
        assert_eq!(
            s, want,
            "wrong state of G written in generation {gen} (its unblock is in generation {u})"
        );
    }
}

#[test]
fn loom_state_change_inside_the_locker_vs_advance() {
    check(
        "state_change_inside_the_locker_vs_advance",
        model::<FAITHFUL>,
    );
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_state_twin_change_after_release_is_rejected() {
    check_rejects(
        "state_twin_change_after_release",
        &["wrong state of G"],
        model::<STATE_AFTER_RELEASE>,
    );
}
