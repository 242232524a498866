//! Blocking a goroutine without blocking its thread (Go's gopark/goready).
//!
//! Each task has a park word:
//!
//! ```text
//!   EMPTY     running (or runnable), no wake-up pending
//!   NOTIFIED  a wake-up arrived while it was not parked: the next park
//!             returns at once (one token; tokens do not accumulate)
//!   PARKED    suspended, in no queue; the unparker that moves it back to
//!             EMPTY owns the duty of scheduling it
//! ```
//!
//! Protocol (no lost wake-up):
//! 1. `park(reason)`: if a token is pending, consume it and return. Else
//!    record the reason and suspend to the M with `Req::Park`.
//! 2. The M (`Worker::commit_park`) CASes EMPTY -> PARKED. On failure a token arrived
//!    between 1 and 2: it consumes it and resumes the goroutine at once.
//! 3. `unpark(t)`: EMPTY -> NOTIFIED (the parker will see it in 1 or 2), or
//!    PARKED -> EMPTY followed by queueing `t` (exactly one unparker wins).
//!
//! Callers re-check their condition after `park` returns: a stale token can
//! make a park return early.
//!
//! Outside a goroutine (a plain thread using a channel), the same calls block
//! the thread with `std::thread::park`.
#![deny(unsafe_code)]

use crate::loom::sync::atomic::{AtomicU8, Ordering, Ordering::*};
#[cfg(not(loom))]
use crate::task::state::WaitReason;
#[cfg(not(loom))]
use crate::task::{Task, TaskRef};
use std::marker::PhantomData;

pub(crate) const EMPTY: u8 = 0;
pub(crate) const NOTIFIED: u8 = 1;
pub(crate) const PARKED: u8 = 2;

/// The steps of the protocol that a loom model's broken twin replaces (the
/// twins live in `tests/park.rs`). The runtime runs the defaults, through
/// [`Faithful`]; after monomorphisation they are the only code there is.
pub(crate) trait ParkSteps {
    /// Step 2: EMPTY -> PARKED, or consume a pending token (false).
    #[inline(always)]
    fn commit(word: &AtomicU8) -> bool {
        // AcqRel: release publishes the goroutine's writes (and its
        // suspended stack) to the unparker that schedules it; acquire pairs
        // with an unparker's release of NOTIFIED.
        match word.compare_exchange(EMPTY, PARKED, AcqRel, Acquire) {
            Ok(_) => true,
            Err(_) => {
                // NOTIFIED: consume the token.
                word.store(EMPTY, Relaxed);
                false
            }
        }
    }

    /// Step 3's orderings: (reading the word, claiming a PARKED one).
    /// Acquire and AcqRel: the claimer sees the suspended goroutine's writes.
    #[inline(always)]
    fn unpark_orderings() -> (Ordering, Ordering) {
        (Acquire, AcqRel)
    }
}

/// The protocol as the runtime runs it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Faithful;

impl ParkSteps for Faithful {}

/// The park word's transitions (see the module doc), over a borrowed word: a
/// task's `park` field, or a bare word in the loom models. `S` is the
/// runtime's [`Faithful`] steps, or a broken twin's in the models.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ParkWord<'a, S: ParkSteps = Faithful>(&'a AtomicU8, PhantomData<S>);

impl<'a> ParkWord<'a> {
    /// The runtime's view of `word`.
    #[inline(always)]
    pub(crate) fn new(word: &'a AtomicU8) -> Self {
        ParkWord(word, PhantomData)
    }
}

impl<'a, S: ParkSteps> ParkWord<'a, S> {
    /// `word` driven by the steps of `S` (the models' twins).
    #[allow(dead_code)]
    pub(crate) fn with_steps(word: &'a AtomicU8) -> Self {
        ParkWord(word, PhantomData)
    }

    /// Step 1 (the goroutine): consumes a pending token. True: the park
    /// returns at once.
    #[inline]
    pub(crate) fn take_token(self) -> bool {
        // A plain load first: the common case (no token) costs no
        // read-modify-write. A token seen here can only be consumed by us
        // (the owner), so the CAS that follows succeeds.
        self.0.load(Acquire) == NOTIFIED
            && self
                .0
                .compare_exchange(NOTIFIED, EMPTY, AcqRel, Acquire)
                .is_ok()
    }

    /// Step 2 (the M, after the goroutine suspended): EMPTY -> PARKED. False:
    /// a token arrived in between; it is consumed and the goroutine runs on.
    #[inline]
    pub(crate) fn commit(self) -> bool {
        S::commit(self.0)
    }

    /// A releaser (see `sched::release`) takes a parked goroutine over to
    /// work on it: PARKED -> EMPTY, as an unparker does, but an unparked
    /// word is left alone (no token). True: the caller now owns the
    /// goroutine, and gives it back with [`commit`](Self::commit), which
    /// fails (leaving the caller to schedule it) if a wake-up came in the
    /// meantime.
    #[inline]
    pub(crate) fn claim_parked(self) -> bool {
        let (read, claim) = S::unpark_orderings();
        self.0.compare_exchange(PARKED, EMPTY, claim, read).is_ok()
    }

    /// Step 3 (any thread): wakes the owner of the word. True: the caller
    /// moved it PARKED -> EMPTY and must schedule the goroutine (exactly one
    /// caller per park gets true).
    #[inline]
    pub(crate) fn unpark(self) -> bool {
        let (read, claim) = S::unpark_orderings();
        let mut cur = self.0.load(read);
        loop {
            match cur {
                NOTIFIED => return false,
                EMPTY => match self.0.compare_exchange(EMPTY, NOTIFIED, AcqRel, Acquire) {
                    Ok(_) => return false,
                    Err(a) => cur = a,
                },
                _ => match self.0.compare_exchange(PARKED, EMPTY, claim, read) {
                    Ok(_) => return true,
                    Err(a) => cur = a,
                },
            }
        }
    }
}

/// Something that can block and be woken: the current goroutine, or the
/// current plain thread.
#[cfg(not(loom))]
#[derive(Clone, Debug)]
pub(crate) enum Waiter {
    Task(TaskRef),
    Thread(std::thread::Thread),
}

#[cfg(not(loom))]
impl Task {
    /// The reason recorded by the pending park.
    pub(crate) fn wait_reason_pending(&self) -> WaitReason {
        WaitReason::from_u8(self.reason.load(Relaxed))
    }
}
