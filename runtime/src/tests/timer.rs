//! Model 6: a timer's `stop` racing its firing (`sched::timer_core::Core`).
//!
//! The timer is armed; its action delivers into a one-value mailbox
//! standing in for the timer channel's buffer (and `drain` takes it back, as
//! the channel's does). Thread F is the M that popped the heap entry and
//! fires it; thread S calls `stop`; the main thread receives once without
//! blocking, then after both finished receives what is left.
//!
//! Checked: exactly one of (a) `stop` returned true and no value is ever
//! received, or (b) a value was received and `stop` returned false.

use super::{check, check_rejects};
use crate::loom::sync::atomic::AtomicUsize;
use crate::loom::sync::{Arc, Mutex};
use crate::sched::timer_core::{Action, Core, Faithful, TimerSteps};

/// Twin: `fire` checks `seq` under the lock, then releases it to run the
/// action: a `stop` in between returns true, and the value it meant to
/// cancel is delivered anyway.
struct FireOutsideLock;
impl TimerSteps for FireOutsideLock {
    fn fire_under_lock() -> bool {
        false
    }
}
use std::time::Instant;

/// The timer channel's one-value buffer.
struct Mailbox(Arc<Mutex<Option<Instant>>>);

impl Action for Mailbox {
    fn fire(&self, when: Instant) -> bool {
        let mut m = self.0.lock();
        if m.is_none() {
            *m = Some(when);
        }
        true
    }

    fn drain(&self) -> bool {
        self.0.lock().take().is_some()
    }
}

fn model<S: TimerSteps + 'static>() {
    let slot = Arc::new(Mutex::new(None));
    let core = Arc::new(Core::<S>::new(Box::new(Mailbox(slot.clone()))));
    let zombies = Arc::new(AtomicUsize::new(0));
    let when = Instant::now();
    let z = zombies.clone();
    core.reset(Some(when), None, move |_, _| z);
    let seq = core.seq();

    let c = core.clone();
    let f = loom::thread::spawn(move || {
        c.fire(seq, when, |_, _| unreachable!("a one-shot timer re-arms"));
    });
    let c = core.clone();
    let s = loom::thread::spawn(move || c.stop());

    let mut received = slot.lock().take().is_some();
    f.join().unwrap();
    let stopped = s.join().unwrap();
    received |= slot.lock().take().is_some();
    assert!(
        stopped != received,
        "stale value: stop returned {stopped} and a value was received: {received}"
    );
}

#[test]
fn loom_timer_stop_vs_fire() {
    check("timer_stop_vs_fire", model::<Faithful>);
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_timer_stop_vs_fire_twin_fire_outside_lock() {
    check_rejects(
        "timer_stop_vs_fire (twin: fire outside the timer lock)",
        &["stale value"],
        model::<FireOutsideLock>,
    );
}
