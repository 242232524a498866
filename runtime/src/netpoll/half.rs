//! One direction (read or write) of a polled descriptor: the edge-triggered
//! ready/wait handshake between the goroutines that wait for readiness and
//! the poller that reports it (Go's `pollDesc.rg`/`wg`).
//!
//! The descriptor is registered once, edge-triggered: the poller hears of a
//! readiness edge once, whether or not anybody waits. So an edge must be
//! kept until a waiter consumes it, and a waiter must never park after an
//! edge it has not seen. One state word per direction:
//!
//! ```text
//!   NIL    no edge pending, nobody registered
//!   READY  an edge arrived that no waiter has consumed yet
//!   WAIT   waiters may be registered in `waiters`: an edge must wake them
//! ```
//!
//! - Poller, on an edge ([`Half::notify`]): swap the word to READY; if it was
//!   WAIT, take every registered waiter (under the list's lock) and wake it.
//! - Waiter, after the I/O call said "would block" ([`Half::prepare`]): a
//!   READY word is consumed (CAS READY -> NIL) and the call is retried.
//!   Otherwise it registers itself in `waiters`, *then* moves the word
//!   NIL -> WAIT by CAS (or finds it WAIT already). If the CAS finds READY
//!   instead, an edge came in between: it unregisters and retries. Else it
//!   parks; the park word of `crate::park` keeps an unpark that arrives
//!   before the park as a token, so the wake is not lost either.
//! - Close and deadlines ([`Half::wake_all`]) take every registered waiter
//!   without touching the word: the waiters re-check the descriptor's
//!   closing/expired bits after they wake.
//!
//! Why no edge is lost: the word's read-modify-writes are totally ordered.
//! An edge's swap either precedes the waiter's CAS (which then reads READY
//! and retries the call) or follows it (and reads WAIT, so it takes the
//! list, where the waiter registered before its CAS). Nobody but the poller
//! ever stores READY, and nobody stores NIL over WAIT: a waiter only
//! consumes READY, so one waiter's consumption cannot hide another's
//! registration.
//!
//! The loom model `crate::tests::netpoll` drives [`Half`] with the park word
//! and checks this; its broken twin ([`twin::LOAD_THEN_STORE`]) is rejected.

use crate::loom::sync::atomic::{AtomicU8, Ordering::*};
use crate::loom::sync::Mutex;

const NIL: u8 = 0;
const READY: u8 = 1;
const WAIT: u8 = 2;

/// The faithful protocol (the only one outside the loom models).
pub(crate) const FAITHFUL: u8 = 0;

/// Broken variants of [`Half`] that the loom model must reject.
#[cfg(loom)]
pub(crate) mod twin {
    /// `prepare` reads the word with a load and then stores WAIT: an edge
    /// between the two finds NIL, leaves READY, wakes nobody, and the store
    /// of WAIT then erases it; the waiter parks for good.
    pub(crate) const LOAD_THEN_STORE: u8 = 1;
}

/// What [`Half::prepare`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Prepared {
    /// An edge is pending (now consumed): retry the I/O call, do not park.
    Ready,
    /// Registered: park, and [`Half::unregister`] after waking.
    Park,
}

/// One direction's state word and its registered waiters.
pub(crate) struct Half<W, const TWIN: u8 = FAITHFUL> {
    state: AtomicU8,
    waiters: Mutex<Vec<W>>,
}

impl<W, const TWIN: u8> std::fmt::Debug for Half<W, TWIN> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Half")
            .field("state", &self.state.load(Relaxed))
            .finish()
    }
}

impl<W, const TWIN: u8> Default for Half<W, TWIN> {
    fn default() -> Self {
        Half {
            state: AtomicU8::new(NIL),
            waiters: Mutex::new(Vec::new()),
        }
    }
}

impl<W, const TWIN: u8> Half<W, TWIN> {
    /// Consumes a pending edge (Go's `pollReset` at the start of an
    /// operation, and the first step of `netpollblock`). True: there was one.
    #[inline]
    pub(crate) fn take_ready(&self) -> bool {
        // Acquire: the I/O call retried after this sees what the edge's
        // swap published (nothing of the runtime's own, but cheap).
        self.state.load(Relaxed) == READY
            && self
                .state
                .compare_exchange(READY, NIL, AcqRel, Relaxed)
                .is_ok()
    }

    /// The waiter's side, after its I/O call would block: consume a pending
    /// edge, or register `me` and publish WAIT (see the module doc).
    pub(crate) fn prepare(&self, me: W, same: impl Fn(&W) -> bool) -> Prepared {
        if self.take_ready() {
            return Prepared::Ready;
        }
        self.waiters.lock().push(me);
        #[cfg(loom)]
        if TWIN == twin::LOAD_THEN_STORE {
            if self.state.load(Acquire) == READY {
                self.state.store(NIL, Release);
                self.unregister(same);
                return Prepared::Ready;
            }
            self.state.store(WAIT, Release);
            return Prepared::Park;
        }
        let mut cur = self.state.load(Relaxed);
        loop {
            match cur {
                WAIT => return Prepared::Park,
                READY => match self.state.compare_exchange(READY, NIL, AcqRel, Relaxed) {
                    Ok(_) => {
                        self.unregister(same);
                        return Prepared::Ready;
                    }
                    Err(a) => cur = a,
                },
                // AcqRel: the release orders the registration above before
                // the WAIT an edge's swap reads.
                _ => match self.state.compare_exchange(NIL, WAIT, AcqRel, Relaxed) {
                    Ok(_) => return Prepared::Park,
                    Err(a) => cur = a,
                },
            }
        }
    }

    /// Removes the waiters `same` matches (after a wake, or when not
    /// parking after all); returns how many there were.
    pub(crate) fn unregister(&self, same: impl Fn(&W) -> bool) -> usize {
        let mut w = self.waiters.lock();
        let before = w.len();
        w.retain(|x| !same(x));
        before - w.len()
    }

    /// The poller's side: a readiness edge. Wakes (through `wake`) every
    /// registered waiter if the word was WAIT.
    #[inline]
    pub(crate) fn notify(&self, wake: impl FnMut(W)) {
        // AcqRel: acquires the registrations published by a WAIT CAS.
        if self.state.swap(READY, AcqRel) == WAIT {
            self.wake_all(wake);
        }
    }

    /// Wakes every registered waiter (close, deadline), leaving the word.
    pub(crate) fn wake_all(&self, wake: impl FnMut(W)) {
        let taken = std::mem::take(&mut *self.waiters.lock());
        taken.into_iter().for_each(wake);
    }
}
