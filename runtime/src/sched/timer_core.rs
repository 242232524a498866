//! One timer's state and its stop/reset/fire protocol (Go 1.23's `timer`,
//! minus the heap): what the scheduler's heaps point at.
//!
//! The heaps hold entries `(when, seq, Arc<Core>)`. An entry is current while
//! its `seq` equals the core's; `stop` and `reset` bump the core's `seq`, so
//! every entry already queued becomes stale (a *zombie*, dropped when it
//! reaches the top of its heap or when its heap is purged). The core does not
//! know heaps: it knows only the zombie counter of the heap holding its
//! current entry, which it bumps when it makes that entry stale.
//!
//! What a timer does when it fires is type-erased behind [`Action`] (a send
//! on a timer channel, or starting a goroutine), so this layer imports
//! nothing from the channel or time layers above it.
//!
//! The stale-send rule (Go's `sendLock`): `fire` checks `seq` and runs the
//! action under the core's lock, and `stop`/`reset` bump `seq` and drain what
//! the action delivered under the same lock. So after `stop` returns, no value
//! of an earlier arming is ever received, and exactly one of these holds for a
//! stop racing a fire: `stop` returns true and nothing is delivered, or the
//! value is delivered (received before the stop) and `stop` returns false.
//! The loom model `loom_timer_stop_vs_fire` checks it.
#![deny(unsafe_code)]

use crate::loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering::*};
use crate::loom::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The step of the protocol that the loom model's broken twin replaces
/// (`tests/timer.rs`). The runtime runs the default, through [`Faithful`].
pub(crate) trait TimerSteps {
    /// Whether `fire` runs the action with the timer's lock held (it must:
    /// a `stop` between the sequence check and the action would otherwise
    /// return true while the value it meant to cancel is delivered anyway).
    #[inline(always)]
    fn fire_under_lock() -> bool {
        true
    }
}

/// The protocol as the runtime runs it.
#[derive(Debug)]
pub(crate) struct Faithful;

impl TimerSteps for Faithful {}

/// What a timer does when it fires, type-erased for the scheduler.
pub(crate) trait Action: Send + Sync {
    /// Fires for the arming that was due at `when` (called with the timer's
    /// lock held: it must not block, nor touch this timer). Returns false
    /// when nobody can ever observe the timer again (its channel is gone),
    /// so a periodic timer stops re-arming.
    fn fire(&self, when: Instant) -> bool;

    /// Takes back a value `fire` delivered that nobody received yet (Go's
    /// `timerchandrain`); returns whether there was one. Called with the
    /// timer's lock held.
    fn drain(&self) -> bool;
}

/// The core's state under its lock.
struct Inner {
    /// When the current arming is due; `None` while stopped or fired.
    when: Option<Instant>,
    /// Period of a ticker; `None` for a one-shot timer.
    period: Option<Duration>,
    /// The zombie counter of the heap holding the current entry, if any.
    heap: Option<Arc<AtomicUsize>>,
}

/// One timer: its arming, its sequence number and its action.
pub(crate) struct Core<S: TimerSteps = Faithful> {
    inner: Mutex<Inner>,
    /// Current arming; written under `inner`'s lock, read by heap purges
    /// without it.
    seq: AtomicU64,
    action: Box<dyn Action>,
    steps: std::marker::PhantomData<fn() -> S>,
}

impl<S: TimerSteps> std::fmt::Debug for Core<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("timer::Core")
            .field("seq", &self.seq.load(Relaxed))
            .finish()
    }
}

impl<S: TimerSteps> Core<S> {
    /// A stopped timer with `action`.
    pub(crate) fn new(action: Box<dyn Action>) -> Core<S> {
        Core {
            inner: Mutex::new(Inner {
                when: None,
                period: None,
                heap: None,
            }),
            seq: AtomicU64::new(0),
            action,
            steps: std::marker::PhantomData,
        }
    }

    /// The current arming's sequence number (heap purges compare it with
    /// an entry's).
    #[inline]
    pub(crate) fn seq(&self) -> u64 {
        self.seq.load(SeqCst)
    }

    /// Re-arms the timer: due at `when` (then every `period`), or stopped
    /// with `when = None`. Earlier armings are cancelled and a value they
    /// delivered that nobody received is taken back. `place(seq, when)`
    /// queues the new entry in a heap (the caller's lock order: this timer,
    /// then the heap) and returns that heap's zombie counter.
    ///
    /// Returns whether the timer was pending: armed, or fired with its value
    /// not yet received (Go 1.23's `Stop`/`Reset` result).
    pub(crate) fn reset(
        &self,
        when: Option<Instant>,
        period: Option<Duration>,
        place: impl FnOnce(u64, Instant) -> Arc<AtomicUsize>,
    ) -> bool {
        let mut g = self.inner.lock();
        let mut pending = g.when.is_some();
        if let Some(z) = g.heap.take() {
            // Before the new `seq` is visible: a purge that sees the entry
            // stale sees it counted.
            z.fetch_add(1, SeqCst);
        }
        let seq = self.seq.load(Relaxed) + 1;
        self.seq.store(seq, SeqCst);
        pending |= self.action.drain();
        g.when = when;
        g.period = period;
        if let Some(w) = when {
            g.heap = Some(place(seq, w));
        }
        pending
    }

    /// Stops the timer; returns whether it was pending (see [`reset`]).
    ///
    /// [`reset`]: Core::reset
    pub(crate) fn stop(&self) -> bool {
        self.reset(None, None, |_, _| unreachable!("a stop queues no entry"))
    }

    /// Fires the heap entry `(seq)` popped at `now`, if it is still current.
    /// A periodic timer queues its next entry with `place` (as in
    /// [`reset`](Core::reset)). Returns false for a stale entry (the heap
    /// counted it as a zombie and now uncounts it).
    pub(crate) fn fire(
        &self,
        seq: u64,
        now: Instant,
        place: impl FnOnce(u64, Instant) -> Arc<AtomicUsize>,
    ) -> bool {
        let mut g = self.inner.lock();
        if self.seq.load(Relaxed) != seq {
            return false;
        }
        let Some(when) = g.when else {
            return false;
        };
        g.heap = None;
        if !S::fire_under_lock() {
            drop(g);
            self.action.fire(when);
            self.inner.lock().when = None;
            return true;
        }
        let alive = self.action.fire(when);
        match g.period {
            Some(p) if alive && !p.is_zero() => {
                // Skip the periods missed meanwhile (Go's `when + period *
                // (1 + delay/period)`).
                let late = now.saturating_duration_since(when);
                let skip = (late.as_nanos() / p.as_nanos()).min(u32::MAX as u128) as u32;
                let next = when + p * (skip + 1);
                g.when = Some(next);
                g.heap = Some(place(seq, next));
            }
            _ => g.when = None,
        }
        true
    }
}
