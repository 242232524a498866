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

use crate::loom::sync::atomic::{AtomicU8, Ordering::*};
#[cfg(not(loom))]
use crate::task::state::WaitReason;
#[cfg(not(loom))]
use crate::task::{Task, TaskRef};

const EMPTY: u8 = 0;
const NOTIFIED: u8 = 1;
const PARKED: u8 = 2;

/// The faithful protocol (the only one outside the loom models).
pub(crate) const FAITHFUL: u8 = 0;

/// Broken variants of [`ParkWord`], each one step off the protocol; the loom
/// models must reject every one.
#[cfg(loom)]
pub(crate) mod twin {
    /// `commit` checks for a token with a load, then stores PARKED: an
    /// unpark between the two is lost.
    pub(crate) const COMMIT_LOAD_STORE: u8 = 1;
    /// `unpark` reads and claims a PARKED task with `Relaxed` operations: the
    /// claimer does not see the suspended goroutine's writes.
    pub(crate) const UNPARK_RELAXED: u8 = 2;
}

/// The park word's transitions (see the module doc), over a borrowed word: a
/// task's `park` field, or a bare word in the loom models. `TWIN` selects a
/// broken variant in the models; the runtime uses [`FAITHFUL`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct ParkWord<'a, const TWIN: u8 = FAITHFUL>(pub(crate) &'a AtomicU8);

impl<const TWIN: u8> ParkWord<'_, TWIN> {
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
        #[cfg(loom)]
        if TWIN == twin::COMMIT_LOAD_STORE {
            if self.0.load(Acquire) == EMPTY {
                self.0.store(PARKED, Release);
                return true;
            }
            self.0.store(EMPTY, Relaxed);
            return false;
        }
        // AcqRel: release publishes the goroutine's writes (and its suspended
        // stack) to the unparker that schedules it; acquire pairs with an
        // unparker's release of NOTIFIED.
        match self.0.compare_exchange(EMPTY, PARKED, AcqRel, Acquire) {
            Ok(_) => true,
            Err(_) => {
                // NOTIFIED: consume the token.
                self.0.store(EMPTY, Relaxed);
                false
            }
        }
    }

    /// Step 3 (any thread): wakes the owner of the word. True: the caller
    /// moved it PARKED -> EMPTY and must schedule the goroutine (exactly one
    /// caller per park gets true).
    #[inline]
    pub(crate) fn unpark(self) -> bool {
        #[cfg(loom)]
        let (read, claim) = if TWIN == twin::UNPARK_RELAXED {
            (Relaxed, Relaxed)
        } else {
            (Acquire, AcqRel)
        };
        #[cfg(not(loom))]
        let (read, claim) = (Acquire, AcqRel);
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
