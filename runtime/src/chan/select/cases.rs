//! The cases of a select: a receive or a send on one channel (or a nil
//! case), type-erased behind [`Case`], and the operands `select!` accepts.

use super::{Case, ChanLock};
use crate::chan::lock::{Hints, RECV_READY, SEND_READY};
use crate::chan::token::DONE;
use crate::chan::{
    Chan, Receiver, SelToken, SendError, Sender, Slot, SlotPtr, State, TrySendError,
};
use crate::sched::park::Waiter;
use std::cell::Cell;
use std::fmt;
use std::ptr::NonNull;

/// A type-erased reference to a case, for `select!`'s expansion, with what
/// the select's fast path looks at before it calls into the case: the
/// channel's readiness hint and the bit of it that says this case may
/// complete. `hints` is `None` exactly for a nil case.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct CaseRef<'a> {
    pub(super) case: &'a (dyn Case + 'a),
    pub(super) hints: Option<Hints<'a>>,
    /// `RECV_READY` for a receive case, `SEND_READY` for a send case.
    pub(super) bit: u32,
}

impl CaseRef<'_> {
    /// Whether this is a nil case (never ready, never queued).
    #[inline]
    pub(super) fn is_nil(&self) -> bool {
        self.hints.is_none()
    }

    /// The case's place in the lock order of a select: the address of its
    /// channel's lock word (the same for every case on one channel, and
    /// the same order for every select), or 0 for a nil case. No call into
    /// the case.
    #[inline]
    pub(super) fn key(&self) -> usize {
        self.hints.map_or(0, Hints::addr)
    }

    /// Whether the channel's hint says the case may complete (false for a
    /// nil case). Read without the lock: see the fast path in
    /// [`select_in`](super::select_in) for why a stale answer loses nothing.
    #[inline]
    pub(super) fn maybe_ready(&self) -> bool {
        self.hints.is_some_and(|h| h.any(self.bit))
    }
}

/// The [`Case`] methods that only reach the case's channel (`None`: Go's
/// nil channel), the same for both directions; `$recv` is the direction
/// (which of the hint bits says the case may complete).
macro_rules! case_channel_methods {
    ($recv:expr) => {
        // The channel's methods, each one virtual call (not two through `chan`).
        fn key(&self) -> usize {
            self.chan.map_or(0, ChanLock::key)
        }

        fn lock(&self) {
            if let Some(c) = self.chan {
                ChanLock::lock(c);
            }
        }

        unsafe fn unlock(&self) {
            if let Some(c) = self.chan {
                // SAFETY: the caller's guarantee (see `Case::unlock`).
                unsafe { ChanLock::unlock(c) }
            }
        }

        fn case_ref(&self) -> CaseRef<'_> {
            CaseRef {
                case: self,
                hints: self.chan.map(|c| c.state.hints()),
                bit: if $recv { RECV_READY } else { SEND_READY },
            }
        }

        fn try_locked(&self) -> Option<Option<Waiter>> {
            let c = self.chan?;
            ChanLock::lock(c);
            // SAFETY: the channel is locked just above by this thread.
            let got = unsafe { self.try_now() };
            // SAFETY: locked above; `try_now` left no reference behind.
            unsafe { ChanLock::unlock(c) };
            got
        }
    };
}

impl<T> ChanLock for Chan<T> {
    fn key(&self) -> usize {
        self as *const Chan<T> as usize
    }

    fn external(&self) -> bool {
        self.external
    }

    fn lock(&self) {
        self.state.lock();
    }

    unsafe fn unlock(&self) {
        // SAFETY: locked by this thread through `lock` (the caller's
        // guarantee); the shared reference lives only for this call.
        let hint = self.readiness(unsafe { &*self.state.data_ptr() });
        // SAFETY: locked by this thread through `lock`, no reference into
        // the state alive (the caller's guarantee and the line above).
        unsafe { self.state.unlock(hint) }
    }
}

impl<T> Chan<T> {
    /// # Safety
    /// Locked by this thread through `ChanLock::lock`; the reference is dropped
    /// before the lock is released or the state is reached another way.
    #[allow(clippy::mut_from_ref)]
    unsafe fn locked(&self) -> &mut State<T> {
        // SAFETY: the lock gives this thread exclusive access (caller's
        // guarantee), and the pointer is valid for the channel's life.
        unsafe { &mut *self.state.data_ptr() }
    }

    /// Takes `slot` off the receive (or send) queue, if still there. The
    /// search runs from the back: a select's entry is among the newest.
    fn remove_slot(&self, slot: &Slot<T>, recv: bool) {
        let mut s = self.lock();
        let q = if recv { &mut s.recvq } else { &mut s.sendq };
        let me = slot as *const Slot<T>;
        if let Some(at) = q.iter().rposition(|p| std::ptr::eq(p.0.as_ptr(), me)) {
            q.remove(at);
        }
    }
}

impl fmt::Debug for CaseRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaseRef").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for RecvCase<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvCase")
            .field("nil", &self.chan.is_none())
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for SendCase<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendCase")
            .field("nil", &self.chan.is_none())
            .finish_non_exhaustive()
    }
}

/// A receive case: `recv(rx) -> v`.
#[doc(hidden)]
pub struct RecvCase<'a, T> {
    chan: Option<&'a Chan<T>>,
    slot: Slot<T>,
    /// The outcome once the case completed: `Some(None)` when closed.
    out: Cell<Option<Option<T>>>,
}

impl<'a, T: Send> RecvCase<'a, T> {
    /// A case receiving from `rx`, or a nil case.
    pub fn new(rx: Option<&'a Receiver<T>>) -> Self {
        RecvCase {
            chan: rx.map(|r| &*r.chan),
            slot: Slot::for_select(None),
            out: Cell::new(None),
        }
    }

    /// The case, for [`__select_fixed`](super::__select_fixed).
    #[inline]
    pub fn case(&self) -> CaseRef<'_> {
        self.case_ref()
    }

    /// `Some(received)` if the select chose this case (`received` is
    /// `None` when the channel is closed and drained), else `None`.
    pub fn into_outcome(self) -> Option<Option<T>> {
        self.out.take()
    }

    /// The outcome, taken through a reference (`select!` and `Select`):
    /// moving the whole case out to read it would copy its slot too.
    pub fn take_outcome(&self) -> Option<Option<T>> {
        self.out.take()
    }
}

impl<T: Send> Case for RecvCase<'_, T> {
    fn chan(&self) -> Option<&dyn ChanLock> {
        self.chan.map(|c| c as &dyn ChanLock)
    }

    fn is_recv(&self) -> bool {
        true
    }

    case_channel_methods!(true);

    unsafe fn try_now(&self) -> Option<Option<Waiter>> {
        let c = self.chan?;
        // SAFETY: locked by this thread (caller's guarantee); dropped below.
        let s = unsafe { c.locked() };
        match Receiver::take_ready(s) {
            Ok((v, wake)) => {
                self.out.set(Some(Some(v)));
                Some(wake)
            }
            Err(crate::chan::TryRecvError::Closed) => {
                self.out.set(Some(None));
                Some(None)
            }
            Err(crate::chan::TryRecvError::Empty) => None,
        }
    }

    unsafe fn enqueue(&self, tok: &SelToken, case: u32) {
        let Some(c) = self.chan else { return };
        self.slot.sel.set(Some((NonNull::from(tok), case)));
        // SAFETY: locked by this thread (caller's guarantee); dropped below.
        let s = unsafe { c.locked() };
        s.recvq.push_back(SlotPtr(NonNull::from(&self.slot)));
    }

    fn dequeue(&self) {
        if let Some(c) = self.chan {
            c.remove_slot(&self.slot, true);
        }
    }

    fn settle(&self, how: u8) {
        let v = if how == DONE {
            // SAFETY: the token's completion (acquired by the selector) came
            // after the winner wrote the slot; no one else touches it now.
            unsafe { self.slot.value() }.take()
        } else {
            None
        };
        self.out.set(Some(v));
    }
}

/// A send case: `send(tx, value) -> res`.
#[doc(hidden)]
pub struct SendCase<'a, T> {
    chan: Option<&'a Chan<T>>,
    /// Holds the value until a receiver takes it.
    slot: Slot<T>,
    out: Cell<Option<Result<(), SendError<T>>>>,
}

impl<'a, T: Send> SendCase<'a, T> {
    /// A case sending `v` on `tx`, or a nil case (the value is dropped with
    /// the case unless it is chosen, which a nil case never is).
    pub fn new(tx: Option<&'a Sender<T>>, v: T) -> Self {
        SendCase {
            chan: tx.map(|s| &*s.chan),
            slot: Slot::for_select(Some(v)),
            out: Cell::new(None),
        }
    }

    /// The case, for [`__select_fixed`](super::__select_fixed).
    #[inline]
    pub fn case(&self) -> CaseRef<'_> {
        self.case_ref()
    }

    /// `Some(result)` if the select chose this case (the value back in
    /// the error if the channel was closed), else `None`.
    pub fn into_outcome(self) -> Option<Result<(), SendError<T>>> {
        self.out.take()
    }

    /// The outcome, taken through a reference (`select!` and `Select`).
    pub fn take_outcome(&self) -> Option<Result<(), SendError<T>>> {
        self.out.take()
    }
}

impl<T: Send> Case for SendCase<'_, T> {
    fn chan(&self) -> Option<&dyn ChanLock> {
        self.chan.map(|c| c as &dyn ChanLock)
    }

    fn is_recv(&self) -> bool {
        false
    }

    case_channel_methods!(false);

    unsafe fn try_now(&self) -> Option<Option<Waiter>> {
        let c = self.chan?;
        // SAFETY: the slot is not queued: only this thread sees it.
        let v = unsafe { self.slot.value() }.take()?;
        // SAFETY: locked by this thread (caller's guarantee); dropped below.
        let s = unsafe { c.locked() };
        match c.send_ready(s, v) {
            Ok(wake) => {
                self.out.set(Some(Ok(())));
                Some(wake)
            }
            Err(TrySendError::Closed(v)) => {
                self.out.set(Some(Err(SendError(v))));
                Some(None)
            }
            Err(TrySendError::Full(v)) => {
                // SAFETY: as above.
                *unsafe { self.slot.value() } = Some(v);
                None
            }
        }
    }

    unsafe fn enqueue(&self, tok: &SelToken, case: u32) {
        let Some(c) = self.chan else { return };
        self.slot.sel.set(Some((NonNull::from(tok), case)));
        // SAFETY: locked by this thread (caller's guarantee); dropped below.
        let s = unsafe { c.locked() };
        s.sendq.push_back(SlotPtr(NonNull::from(&self.slot)));
    }

    fn dequeue(&self) {
        if let Some(c) = self.chan {
            c.remove_slot(&self.slot, false);
        }
    }

    fn settle(&self, how: u8) {
        let r = if how == DONE {
            Ok(())
        } else {
            // SAFETY: as in `RecvCase::settle`; on CLOSED the value is
            // still in the slot.
            match unsafe { self.slot.value() }.take() {
                Some(v) => Err(SendError(v)),
                None => Ok(()),
            }
        };
        self.out.set(Some(r));
    }
}

/// What a receive operand of `select!` may be: a `Receiver<T>` (by value or
/// by reference), or an `Option<&Receiver<T>>` where `None` is a nil channel
/// (never ready).
pub trait RecvOperand {
    /// The element type.
    type Item;
    #[doc(hidden)]
    fn __receiver(&self) -> Option<&Receiver<Self::Item>>;
}

impl<T> RecvOperand for Receiver<T> {
    type Item = T;
    fn __receiver(&self) -> Option<&Receiver<T>> {
        Some(self)
    }
}

impl<T> RecvOperand for &Receiver<T> {
    type Item = T;
    fn __receiver(&self) -> Option<&Receiver<T>> {
        Some(self)
    }
}

impl<T> RecvOperand for Option<&Receiver<T>> {
    type Item = T;
    fn __receiver(&self) -> Option<&Receiver<T>> {
        *self
    }
}

impl<T> RecvOperand for Option<Receiver<T>> {
    type Item = T;
    fn __receiver(&self) -> Option<&Receiver<T>> {
        self.as_ref()
    }
}

/// What a send operand of `select!` may be: a `&Sender<T>` (or a `Sender<T>`
/// by value), or an `Option<&Sender<T>>` where `None` is a nil channel.
pub trait SendOperand {
    /// The element type.
    type Item;
    #[doc(hidden)]
    fn __sender(&self) -> Option<&Sender<Self::Item>>;
}

impl<T> SendOperand for &Sender<T> {
    type Item = T;
    fn __sender(&self) -> Option<&Sender<T>> {
        Some(self)
    }
}

impl<T> SendOperand for Sender<T> {
    type Item = T;
    fn __sender(&self) -> Option<&Sender<T>> {
        Some(self)
    }
}

impl<T> SendOperand for Option<&Sender<T>> {
    type Item = T;
    fn __sender(&self) -> Option<&Sender<T>> {
        *self
    }
}
