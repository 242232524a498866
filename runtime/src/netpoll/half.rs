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
//! and checks this; its broken twin (a load, then a store of WAIT, in place
//! of [`HalfSteps::publish_wait`]'s CAS) is rejected.
#![deny(unsafe_code)]

use crate::loom::sync::atomic::{AtomicU8, Ordering::*};
use crate::loom::sync::Mutex;
use std::marker::PhantomData;

pub(crate) const NIL: u8 = 0;
pub(crate) const READY: u8 = 1;
pub(crate) const WAIT: u8 = 2;

/// The step of the protocol that a loom model's broken twin replaces (the
/// twin lives in `tests/netpoll.rs`). The runtime runs the default, through
/// [`Faithful`].
pub(crate) trait HalfSteps {
    /// The waiter, registered: publishes WAIT (from NIL, or finds it
    /// there), or consumes an edge that came in between (READY -> NIL).
    /// True: park.
    #[inline(always)]
    fn publish_wait(state: &AtomicU8) -> bool {
        let mut cur = state.load(Relaxed);
        loop {
            match cur {
                WAIT => return true,
                READY => match state.compare_exchange(READY, NIL, AcqRel, Relaxed) {
                    Ok(_) => return false,
                    Err(a) => cur = a,
                },
                // AcqRel: the release orders the registration before the
                // WAIT an edge's swap reads.
                _ => match state.compare_exchange(NIL, WAIT, AcqRel, Relaxed) {
                    Ok(_) => return true,
                    Err(a) => cur = a,
                },
            }
        }
    }
}

/// The protocol as the runtime runs it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Faithful;

impl HalfSteps for Faithful {}

/// What [`Half::prepare`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Prepared {
    /// An edge is pending (now consumed): retry the I/O call, do not park.
    Ready,
    /// Registered: park, and [`Half::unregister`] after waking.
    Park,
}

/// One direction's state word and its registered waiters; `S` is the
/// runtime's [`Faithful`] step, or a broken twin's in the models.
pub(crate) struct Half<W, S: HalfSteps = Faithful> {
    state: AtomicU8,
    waiters: Mutex<Vec<W>>,
    steps: PhantomData<S>,
}

impl<W, S: HalfSteps> std::fmt::Debug for Half<W, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Half")
            .field("state", &self.state.load(Relaxed))
            .finish()
    }
}

impl<W, S: HalfSteps> Default for Half<W, S> {
    fn default() -> Self {
        Half {
            state: AtomicU8::new(NIL),
            waiters: Mutex::new(Vec::new()),
            steps: PhantomData,
        }
    }
}

impl<W, S: HalfSteps> Half<W, S> {
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
        if S::publish_wait(&self.state) {
            Prepared::Park
        } else {
            self.unregister(same);
            Prepared::Ready
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
