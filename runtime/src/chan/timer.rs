//! Timer channels (Go 1.23's `isChan` timers): the channel a `gort::time`
//! timer or ticker delivers its ticks on, and the [`Action`] that delivers
//! them.
//!
//! The channel has room for one value and never closes (a second receive
//! from `time::after` blocks, as in Go). The timer reaches it only through a
//! `Weak` reference: the heap entry of a timer nobody can receive from keeps
//! no channel alive, and a ticker whose receivers are all gone stops
//! re-arming at its next tick.
//!
//! What this module relies on from the channel (`super`): `chan`, the
//! `Chan::lock` with `State::{buf, senders}`, and `Chan::send_ready`.
#![deny(unsafe_code)]

use super::{chan, Chan, Receiver, TrySendError};
use crate::loom::sync::Arc;
use crate::sched::timer_core::Action;
use std::sync::Weak;
use std::time::Instant;

/// Delivers a timer's ticks: a non-blocking send of the tick's due time (a
/// tick is dropped when the one-value buffer is full, as Go's `sendTime`).
pub(crate) struct TimerSend {
    chan: Weak<Chan<Instant>>,
}

/// A new timer channel: its receiving half, and the action that sends on it.
pub(crate) fn timer_chan() -> (Receiver<Instant>, TimerSend) {
    let (tx, rx) = chan::<Instant>(1);
    // No `Sender` outlives this call, yet the channel never closes: count a
    // sender that is never dropped.
    tx.chan.lock().senders += 1;
    let send = TimerSend {
        chan: Arc::downgrade(&tx.chan),
    };
    drop(tx);
    (rx, send)
}

impl Action for TimerSend {
    fn fire(&self, when: Instant) -> bool {
        let Some(c) = self.chan.upgrade() else {
            return false;
        };
        let mut s = c.lock();
        match c.send_ready(&mut s, when) {
            Ok(wake) => {
                drop(s);
                if let Some(w) = wake {
                    w.wake();
                }
                true
            }
            // A slow receiver: the tick is dropped.
            Err(TrySendError::Full(_)) => true,
            // Every receiver is gone.
            Err(TrySendError::Closed(_)) => false,
        }
    }

    fn drain(&self) -> bool {
        self.chan
            .upgrade()
            .is_some_and(|c| c.lock().buf.pop_front().is_some())
    }
}
