//! The cases of a select: a receive or a send on one channel (or a nil
//! case), type-erased behind [`Case`], and the operands `select!` accepts.

use super::{Case, ChanLock};
use crate::chan::lock::{Hints, RECV_READY, SEND_READY};
use crate::chan::token::DONE;
use crate::chan::{
    Chan, Receiver, SelToken, SendError, Sender, Slot, SlotPtr, State, TrySendError,
};
use crate::sched::park::Waiter;
use std::alloc::Layout;
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
    pub(in crate::chan) fn remove_slot(&self, me: *const Slot<T>, recv: bool) {
        let mut s = self.lock();
        let q = if recv { &mut s.recvq } else { &mut s.sendq };
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

/// Where a queued case's slot lives: the select's block (see
/// [`Lease`](crate::task::waitmem::Lease)), from `enqueue` until the
/// case leaves (`dequeue` or `settle`).
struct SlotAt<T>(Cell<Option<NonNull<Slot<T>>>>);

// SAFETY: the pointer is only followed by the select's own goroutine (and by
// peers through the channel's queue, under its lock); the slot holds `T`,
// which the cases require to be `Send`.
unsafe impl<T: Send> Send for SlotAt<T> {}

impl<T> SlotAt<T> {
    const fn empty() -> Self {
        SlotAt(Cell::new(None))
    }

    /// Places a slot holding `value` at `at` and queues it on `q` for the
    /// select's token `tok`, as case `case`.
    ///
    /// # Safety
    /// `at` is the start of unused memory, large and aligned enough for a
    /// `Slot<T>`, that outlives the slot's stay (until `leave` or `settle`);
    /// `q` is a queue of `chan`, locked by this thread; `tok` outlives the
    /// slot's stay in the queue.
    unsafe fn enqueue(
        &self,
        at: NonNull<u8>,
        value: Option<T>,
        tok: &SelToken,
        case: u32,
        q: &mut std::collections::VecDeque<SlotPtr<T>>,
    ) {
        let slot = Slot::for_select(value);
        slot.sel.set(Some((NonNull::from(tok), case)));
        let at = at.cast::<Slot<T>>();
        // SAFETY: the caller's guarantee on `at`.
        unsafe { at.as_ptr().write(slot) };
        q.push_back(SlotPtr(at));
        self.0.set(Some(at));
    }

    /// Takes the slot off its queue if it is still there, drops it, and
    /// returns the value it held. `None` if no slot is placed.
    fn leave(&self, chan: &Chan<T>, recv: bool) -> Option<T> {
        let at = self.0.get()?;
        chan.remove_slot(at.as_ptr(), recv);
        // SAFETY: off its queue now (its peer popped it, or `remove_slot`
        // did under the lock), so only this goroutine reaches it.
        unsafe { self.drop_slot(at) }
    }

    /// The winning case: its peer popped the slot and completed the token.
    /// Drops the slot and returns the value it held.
    fn settle(&self) -> Option<T> {
        let at = self.0.get()?;
        // SAFETY: the token's completion (acquired by the selector) came
        // after the winner popped and wrote the slot; no one else touches it.
        unsafe { self.drop_slot(at) }
    }

    /// # Safety
    /// The slot at `at`, placed by `enqueue`, is off its queue.
    unsafe fn drop_slot(&self, at: NonNull<Slot<T>>) -> Option<T> {
        self.0.set(None);
        // SAFETY: the caller's guarantee: this goroutine is the only one
        // to reach the slot, which was written by `enqueue` and is read
        // (moved out of) once, here.
        let slot = unsafe { at.as_ptr().read() };
        slot.value.into_inner()
    }
}

/// A receive case: `recv(rx) -> v`.
#[doc(hidden)]
pub struct RecvCase<'a, T> {
    chan: Option<&'a Chan<T>>,
    slot: SlotAt<T>,
    /// The outcome once the case completed: `Some(None)` when closed.
    out: Cell<Option<Option<T>>>,
}

impl<'a, T: Send> RecvCase<'a, T> {
    /// A case receiving from `rx`, or a nil case.
    pub fn new(rx: Option<&'a Receiver<T>>) -> Self {
        RecvCase {
            chan: rx.map(|r| &*r.chan),
            slot: SlotAt::empty(),
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

    /// The outcome, taken through a reference (`select!` and `Select`).
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

    fn slot_layout(&self) -> Option<Layout> {
        self.chan.map(|_| Layout::new::<Slot<T>>())
    }

    unsafe fn enqueue(&self, tok: &SelToken, case: u32, at: NonNull<u8>) {
        let Some(c) = self.chan else { return };
        // SAFETY: locked by this thread (caller's guarantee); dropped below.
        let s = unsafe { c.locked() };
        // SAFETY: the caller's guarantees on `at` and `tok`; `recvq` is
        // `c`'s, locked.
        unsafe { self.slot.enqueue(at, None, tok, case, &mut s.recvq) };
    }

    fn dequeue(&self) {
        if let Some(c) = self.chan {
            // A value in a slot of a case that did not win cannot be: a
            // peer writes one only after winning the token.
            drop(self.slot.leave(c, true));
        }
    }

    fn settle(&self, how: u8) {
        let v = self.slot.settle();
        self.out.set(Some(if how == DONE { v } else { None }));
    }
}

/// A send case: `send(tx, value) -> res`.
#[doc(hidden)]
pub struct SendCase<'a, T> {
    chan: Option<&'a Chan<T>>,
    /// The value, until the case is queued (then its slot holds it until a
    /// receiver takes it, or the select leaves the queue and takes it back).
    value: Cell<Option<T>>,
    slot: SlotAt<T>,
    out: Cell<Option<Result<(), SendError<T>>>>,
}

impl<'a, T: Send> SendCase<'a, T> {
    /// A case sending `v` on `tx`, or a nil case (the value is dropped with
    /// the case unless it is chosen, which a nil case never is).
    pub fn new(tx: Option<&'a Sender<T>>, v: T) -> Self {
        SendCase {
            chan: tx.map(|s| &*s.chan),
            value: Cell::new(Some(v)),
            slot: SlotAt::empty(),
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
        let v = self.value.take()?;
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
                self.value.set(Some(v));
                None
            }
        }
    }

    fn slot_layout(&self) -> Option<Layout> {
        self.chan.map(|_| Layout::new::<Slot<T>>())
    }

    unsafe fn enqueue(&self, tok: &SelToken, case: u32, at: NonNull<u8>) {
        let Some(c) = self.chan else { return };
        // SAFETY: locked by this thread (caller's guarantee); dropped below.
        let s = unsafe { c.locked() };
        // SAFETY: the caller's guarantees on `at` and `tok`; `sendq` is
        // `c`'s, locked.
        unsafe {
            self.slot
                .enqueue(at, self.value.take(), tok, case, &mut s.sendq)
        };
    }

    fn dequeue(&self) {
        if let Some(c) = self.chan {
            // Not sent: the value comes back to the case, dropped with it.
            if let Some(v) = self.slot.leave(c, false) {
                self.value.set(Some(v));
            }
        }
    }

    fn settle(&self, how: u8) {
        // On CLOSED the value is still in the slot.
        let left = self.slot.settle();
        let r = match left {
            Some(v) if how != DONE => Err(SendError(v)),
            _ => Ok(()),
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
