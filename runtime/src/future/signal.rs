//! The wake-up handshake between a future's waker and `block_on`.
//!
//! `block_on` gives its future a waker that shares one flag, `woken`, with
//! the waiting goroutine (or thread), on top of that waiter's own park
//! (the park word of `crate::park`, or the thread's park token):
//!
//! ```text
//!   waker      raise the flag; if it was down, unpark the waiter
//!   block_on   poll; on Pending, lower the flag: if it was up, poll
//!              again, else park and lower it again when the park returns
//! ```
//!
//! No lost wake-up: the flag's read-modify-writes are totally ordered. A
//! wake whose raise precedes `block_on`'s lowering is seen by the lowering,
//! and the poll after it runs; a raise after the lowering found the flag
//! down, so its waker unparks the waiter, and the park returns (at once if
//! the unpark came first: the park word keeps it as a token). Both are
//! AcqRel: the poll after a lowering sees what the waker's thread wrote
//! before it woke the future, and the raise after a lowering sees the
//! waiter's consumption of an earlier token, so its unpark cannot take a
//! spent token for a pending one.
//!
//! Fewer unparks: a wake that finds the flag up does nothing, since the
//! raise before it has unparked (or is about to unpark) the waiter, which
//! polls after lowering the flag. Waking twice costs one read-modify-write.
//!
//! The loom model `crate::tests::future` drives [`Handshake`] with the park
//! word, and its broken twins ([`twin`]).

use crate::loom::sync::atomic::{AtomicBool, Ordering::*};

/// Broken variants of [`Handshake`], each one step off the protocol; the loom
/// model must reject both.
#[cfg(loom)]
pub(crate) mod twin {
    /// The waker unparks first and raises the flag after: the waiter can
    /// consume the unpark, find the flag still down, and park for good.
    pub(crate) const UNPARK_FIRST: u8 = 1;
    /// `block_on` never lowers the flag: the first wake leaves it up, and
    /// every later wake, finding it up, unparks nobody.
    pub(crate) const NO_LOWER: u8 = 2;
}

/// The faithful handshake (the only one outside the loom models).
pub(crate) const FAITHFUL: u8 = 0;

/// The flag's two transitions (see the module doc), over a borrowed flag.
/// `TWIN` selects a broken variant in the loom model; the runtime uses
/// [`FAITHFUL`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Handshake<'a, const TWIN: u8 = FAITHFUL>(pub(crate) &'a AtomicBool);

impl<const TWIN: u8> Handshake<'_, TWIN> {
    /// The waker's side: raises the flag, and calls `unpark` (which wakes
    /// the waiter) if the flag was down.
    #[inline]
    pub(crate) fn wake(self, unpark: impl FnOnce()) {
        #[cfg(loom)]
        if TWIN == twin::UNPARK_FIRST {
            unpark();
            self.0.store(true, Release);
            return;
        }
        // AcqRel: the release publishes the waker's writes to the poll that
        // follows the lowering which reads this raise.
        if !self.0.swap(true, AcqRel) {
            unpark();
        }
    }

    /// The waiter's side, after a poll returned `Pending` or a park
    /// returned: lowers the flag. True: a wake arrived since the last
    /// lowering, so poll again; false: park.
    #[inline]
    pub(crate) fn lower(self) -> bool {
        #[cfg(loom)]
        if TWIN == twin::NO_LOWER {
            return false;
        }
        // AcqRel, and a read-modify-write rather than a load first: the
        // release orders the waiter's consumption of an earlier unpark's
        // token before the next raise, which reads this lowering; without it
        // that raise's unpark can read the consumed token as still pending
        // (a stale NOTIFIED) and wake nobody: the loom model finds that
        // lost wake-up.
        self.0.swap(false, AcqRel)
    }
}
