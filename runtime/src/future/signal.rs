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
//! word, and its broken twins (impls of [`HandshakeSteps`]).

use crate::loom::sync::atomic::{AtomicBool, Ordering::*};
use std::marker::PhantomData;

/// The handshake's two transitions, which a loom model's broken twin
/// replaces (the twins live in `tests/future.rs`). The runtime runs the
/// defaults, through [`Faithful`].
pub(crate) trait HandshakeSteps {
    /// The waker's side: raises the flag, and calls `unpark` (which wakes
    /// the waiter) if the flag was down.
    #[inline(always)]
    fn wake(flag: &AtomicBool, unpark: impl FnOnce()) {
        // AcqRel: the release publishes the waker's writes to the poll that
        // follows the lowering which reads this raise.
        if !flag.swap(true, AcqRel) {
            unpark();
        }
    }

    /// The waiter's side, after a poll returned `Pending` or a park
    /// returned: lowers the flag. True: a wake arrived since the last
    /// lowering, so poll again; false: park.
    #[inline(always)]
    fn lower(flag: &AtomicBool) -> bool {
        // AcqRel, and a read-modify-write rather than a load first: the
        // release orders the waiter's consumption of an earlier unpark's
        // token before the next raise, which reads this lowering; without it
        // that raise's unpark can read the consumed token as still pending
        // (a stale NOTIFIED) and wake nobody: the loom model finds that
        // lost wake-up.
        flag.swap(false, AcqRel)
    }
}

/// The handshake as the runtime runs it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Faithful;

impl HandshakeSteps for Faithful {}

/// The flag's two transitions (see the module doc), over a borrowed flag.
/// `S` is the runtime's [`Faithful`] steps, or a broken twin's in the model.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Handshake<'a, S: HandshakeSteps = Faithful>(&'a AtomicBool, PhantomData<S>);

impl<'a> Handshake<'a> {
    /// The runtime's view of `flag`.
    #[inline(always)]
    pub(crate) fn new(flag: &'a AtomicBool) -> Self {
        Handshake(flag, PhantomData)
    }
}

impl<'a, S: HandshakeSteps> Handshake<'a, S> {
    /// `flag` driven by the steps of `S` (the model's twins).
    #[allow(dead_code)]
    pub(crate) fn with_steps(flag: &'a AtomicBool) -> Self {
        Handshake(flag, PhantomData)
    }

    /// See [`HandshakeSteps::wake`].
    #[inline]
    pub(crate) fn wake(self, unpark: impl FnOnce()) {
        S::wake(self.0, unpark)
    }

    /// See [`HandshakeSteps::lower`].
    #[inline]
    pub(crate) fn lower(self) -> bool {
        S::lower(self.0)
    }
}
