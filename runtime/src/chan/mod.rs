//! Channels: Go's `chan T`, buffered or unbuffered (rendezvous), closable.
//!
//! One lock per channel guards the buffer and two FIFO queues of blocked
//! senders and receivers. A value meets a waiting partner directly: a sender
//! that finds a blocked receiver hands the value into the receiver's slot and
//! wakes it; a receiver that takes from a full buffer refills it from the
//! first blocked sender. Wake-ups happen after the lock is released.

pub(crate) mod lock;
mod macros;
mod select;
pub(crate) mod timer;
pub(crate) mod token;

use crate::loom::sync::atomic::{AtomicU8, Ordering::*};
use crate::loom::sync::Arc;
use crate::sched::context::Running;
use crate::sched::park::{self, Waiter};
use crate::task::waitmem::{Lease, WaitArea};
use crate::task::WaitReason;
use lock::{HintLock, RECV_READY, SEND_READY};
use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use token::{CLOSED, DONE};

#[doc(hidden)]
pub use select::{
    __block_forever, __select_fixed, CaseRef, RecvCase, RecvOperand, SendCase, SendOperand,
};
pub use select::{Select, SelectedOperation, TrySelectError};

const WAITING: u8 = token::PENDING;

/// The token of a blocked select (see `token`).
type SelToken = token::Token<Waiter>;

/// A blocked sender or receiver. It lives off the blocked goroutine's stack
/// (so nothing outside points into a parked goroutine's stack), in its
/// task's wait area or a leased block (see `task::waitmem`: no allocation
/// per blocking operation); the channel's queues hold pointers
/// to it (`SlotPtr`) under the channel lock.
///
/// Lifetime protocol: the owner drops the slot only after `state` leaves
/// WAITING, and `finish` (the only writer of `state`) pops the slot from its
/// queue first and touches nothing after its store. An owner unwound while
/// waiting (runtime shutdown) removes its slot from the queue in
/// `Queued::drop`. A select's slots follow the select's own protocol (see
/// `select`).
struct Slot<T> {
    /// Who to wake; guarded like `value`. `finish` moves it out, so the
    /// waker's wake-up consumes the slot's reference to the goroutine
    /// rather than a clone of it.
    waiter: std::cell::UnsafeCell<Option<Waiter>>,
    /// Written and read under the channel lock while queued (by whoever
    /// completes the slot), then by the owner after it sees `state` leave
    /// WAITING (acquire, pairing with `finish`'s release).
    value: std::cell::UnsafeCell<Option<T>>,
    state: AtomicU8,
    /// A select's case: its select's token and the case's index, set
    /// (under the channel lock) before the slot is queued. Such a slot has
    /// no `waiter` and its `state` stays WAITING: the token holds both.
    sel: Cell<Option<(NonNull<SelToken>, u32)>>,
}

/// A queued pointer to a blocked operation's `Slot`.
struct SlotPtr<T>(std::ptr::NonNull<Slot<T>>);

// SAFETY: the slot is only reached under the channel lock, while its owner
// is blocked (see `Slot`); values of `T` cross threads, hence `T: Send`.
unsafe impl<T: Send> Send for SlotPtr<T> {}

impl<T> Slot<T> {
    /// The slot's value.
    ///
    /// # Safety
    /// The caller holds the channel lock with the slot still queued, or is
    /// the owner after `state` left WAITING.
    #[allow(clippy::mut_from_ref)]
    unsafe fn value(&self) -> &mut Option<T> {
        // SAFETY: guaranteed by the caller (see the field's doc).
        unsafe { &mut *self.value.get() }
    }
}

impl<T> SlotPtr<T> {
    fn get(&self) -> &Slot<T> {
        // SAFETY: a queued slot is alive: its owner waits until `finish`,
        // which happens only after the slot left the queue.
        unsafe { self.0.as_ref() }
    }
}

impl<T> Slot<T> {
    /// Writes a new slot holding `value` for `waiter` at `at`, field by
    /// field (no copy of a whole slot built elsewhere).
    ///
    /// # Safety
    /// `at` is valid for writes of a `Slot<T>` and aligned for one.
    #[inline(always)]
    unsafe fn write_at(at: NonNull<Slot<T>>, value: Option<T>, waiter: Waiter) {
        let p = at.as_ptr();
        // SAFETY: the caller's guarantee; each field written once, in place.
        unsafe {
            std::ptr::addr_of_mut!((*p).waiter).write(std::cell::UnsafeCell::new(Some(waiter)));
            std::ptr::addr_of_mut!((*p).value).write(std::cell::UnsafeCell::new(value));
            std::ptr::addr_of_mut!((*p).state).write(AtomicU8::new(WAITING));
            std::ptr::addr_of_mut!((*p).sel).write(Cell::new(None));
        }
    }

    /// A select case's slot: woken through its token, not on its own.
    fn for_select(value: Option<T>) -> Slot<T> {
        Slot {
            waiter: std::cell::UnsafeCell::new(None),
            value: std::cell::UnsafeCell::new(value),
            state: AtomicU8::new(WAITING),
            sel: Cell::new(None),
        }
    }

    /// The select token of a select case's slot.
    fn token(&self) -> Option<(&SelToken, u32)> {
        let (t, case) = self.sel.get()?;
        // SAFETY: the token outlives its slots' stay in their queues (the selector
        // takes each off under its lock), and a queued slot is only reached under it.
        Some((unsafe { t.as_ref() }, case))
    }

    /// Whoever pops a slot off a queue claims it before completing it.
    /// False: the slot belongs to a select that another case already won;
    /// it is stale and stays off the queue.
    fn claim(&self) -> bool {
        match self.token() {
            None => true,
            Some((tok, case)) => tok.claim(case),
        }
    }

    /// Completes a slot already taken off its queue and claimed (chan lock
    /// held by the caller) and returns the waiter to wake once the lock is
    /// released. The slot must not be touched after this call.
    fn finish(&self, how: u8) -> Waiter {
        if let Some((tok, _)) = self.token() {
            return tok.complete(how);
        }
        // SAFETY: the caller holds the channel lock and `state` is still
        // WAITING, so the owner does not look at the slot yet (see `Slot`).
        let w = unsafe { (*self.waiter.get()).take() };
        let Some(w) = w else {
            unreachable!("a channel slot is completed once");
        };
        // Release: pairs with the Acquire load in the waiting loop, so the
        // value written before is visible to the woken side.
        self.state.store(how, Release);
        w
    }

    /// Parks until the slot completes. On a channel made outside the
    /// runtime, a plain thread may complete it, so the wait does not count
    /// towards deadlock detection.
    #[track_caller]
    fn wait(&self, reason: WaitReason, external: bool) -> u8 {
        let shared = if external {
            Running::get().map(|r| r.m().shared.clone())
        } else {
            None
        };
        if let Some(sh) = &shared {
            sh.external_blocked.fetch_add(1, SeqCst);
        }
        let r = loop {
            let s = self.state.load(Acquire);
            if s != WAITING {
                break s;
            }
            park::park(reason);
        };
        if let Some(sh) = &shared {
            sh.external_blocked.fetch_sub(1, SeqCst);
        }
        r
    }
}

/// A blocked plain send or receive: its slot, placed off the goroutine's
/// stack (in its task's wait area when it fits, else in a leased block) and
/// queued on the channel. Dropping it takes the slot off its queue if it is
/// still there (its owner unwound while parked: a cancelled goroutine at
/// runtime shutdown), moves the slot out and drops it.
struct Queued<'a, T> {
    chan: &'a Chan<T>,
    slot: NonNull<Slot<T>>,
    recv: bool,
    /// The block holding `slot`, when it is not in the task's wait area;
    /// given back after the slot is moved out (fields drop after
    /// `Drop::drop`).
    _mem: Option<Lease>,
}

impl<'a, T> Queued<'a, T> {
    /// Places a slot holding `value` for the caller and queues it on `s`,
    /// the state of `chan` (locked by the caller).
    #[inline(always)]
    fn new(chan: &'a Chan<T>, s: &mut State<T>, value: Option<T>, recv: bool) -> Self {
        let me = Waiter::current();
        let (at, mem) = match me.task() {
            Some(t) if WaitArea::fits::<Slot<T>>() => (t.wait_area.ptr(), None),
            t => Self::lease(t),
        };
        let at = at.cast::<Slot<T>>();
        // SAFETY: `at` is the running goroutine's wait area, free (its last
        // record was moved out when its operation ended) and large and
        // aligned enough for a `Slot<T>` (`fits`), or a leased block laid
        // out for one.
        unsafe { Slot::write_at(at, value, me) };
        let q = if recv { &mut s.recvq } else { &mut s.sendq };
        q.push_back(SlotPtr(at));
        Queued {
            chan,
            slot: at,
            recv,
            _mem: mem,
        }
    }

    /// A block for the slot of a plain thread, or of a large `T`.
    #[cold]
    fn lease(task: Option<&crate::task::Task>) -> (NonNull<u8>, Option<Lease>) {
        let mem = Lease::new(task, std::alloc::Layout::new::<Slot<T>>());
        (mem.ptr(), Some(mem))
    }

    #[inline(always)]
    fn slot(&self) -> &Slot<T> {
        // SAFETY: written in `new`, moved out only in `drop`.
        unsafe { self.slot.as_ref() }
    }
}

impl<T> Drop for Queued<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        if self.slot().state.load(Acquire) == WAITING {
            self.abandon();
        }
        // SAFETY: the slot is off its queue (its completer popped it, or
        // `abandon` did), so no peer reaches it any more; moved out once.
        // Moved out before it drops, so that a value's `Drop` may block on
        // a channel again (reusing the wait area).
        drop(unsafe { self.slot.as_ptr().read() });
    }
}

impl<T> Queued<'_, T> {
    /// Parks until the slot completes; returns how, and the value the slot
    /// holds then (a received value, or a send's value given back).
    #[inline(always)]
    #[track_caller]
    fn wait(self, reason: WaitReason, external: bool) -> (u8, Option<T>) {
        let how = self.slot().wait(reason, external);
        // SAFETY: `state` left WAITING, so the slot is off its queue and no
        // peer reaches it (see `Slot`): the owner takes the value out. The
        // rest of the slot holds nothing to drop: `finish` took the waiter,
        // and the other fields are plain. The `forget` skips `drop` (which
        // would drop the slot again); the block goes back.
        let (v, mem) = unsafe {
            (
                (*self.slot().value.get()).take(),
                std::ptr::read(&self._mem),
            )
        };
        std::mem::forget(self);
        drop(mem);
        (how, v)
    }

    /// The owner leaves while its slot may still be queued: takes it off,
    /// or, if a peer popped it, waits for that peer's completion under the
    /// channel lock (which `remove_slot` takes).
    #[cold]
    fn abandon(&self) {
        self.chan.remove_slot(self.slot.as_ptr(), self.recv);
    }
}

/// Pops the first live slot of a queue (claiming it), dropping stale select
/// entries on the way.
fn pop_live<T>(q: &mut VecDeque<SlotPtr<T>>) -> Option<SlotPtr<T>> {
    while let Some(p) = q.pop_front() {
        if p.get().claim() {
            return Some(p);
        }
    }
    None
}

/// Completes every live slot of a queue with `how`, for waking after the
/// lock is released.
fn finish_all<T>(q: &mut VecDeque<SlotPtr<T>>, how: u8, wake: &mut Vec<Waiter>) {
    // Each slot lives in its own block, cold when a channel with many
    // waiters closes: ask for the slots a few ahead, so their misses overlap
    // instead of queueing up.
    q.iter()
        .take(PREFETCH_AHEAD)
        .for_each(|p| prefetch(p.0.as_ptr()));
    while let Some(p) = q.pop_front() {
        if let Some(ahead) = q.get(PREFETCH_AHEAD - 1) {
            prefetch(ahead.0.as_ptr());
        }
        if p.get().claim() {
            wake.push(p.get().finish(how));
        }
    }
}

/// Hints that `w`'s goroutine is about to be woken (its park word and
/// status change).
#[inline(always)]
fn prefetch_waiter(w: &Waiter) {
    if let Waiter::Task(t) = w {
        prefetch(std::ptr::addr_of!(t.park));
        prefetch(std::ptr::addr_of!(t.status));
    }
}

/// How many slots or goroutines ahead a wake-up loop over many of them asks
/// the memory system for.
const PREFETCH_AHEAD: usize = 8;

/// Hints that the memory at `p` will be written soon (no effect on what
/// the program computes; the address need not be valid).
#[inline(always)]
fn prefetch<T>(p: *const T) {
    // SAFETY: SSE is part of the x86-64 baseline, so the instruction exists;
    // a prefetch never faults and changes no program state, whatever `p` is.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

struct State<T> {
    buf: VecDeque<T>,
    closed: bool,
    recvq: VecDeque<SlotPtr<T>>,
    sendq: VecDeque<SlotPtr<T>>,
    senders: usize,
    receivers: usize,
}

struct Chan<T> {
    cap: usize,
    /// Created outside any goroutine: plain threads may use it.
    external: bool,
    /// The state, behind a lock whose word also carries the channel's
    /// readiness hint ([`RECV_READY`], [`SEND_READY`]): written by every
    /// unlock from the state left behind ([`Locked`] and the select's raw
    /// unlock), so it describes the state as of the last unlock; read
    /// without the lock by a select, for which it may be stale (see
    /// `select`'s fast path for why a stale hint loses nothing).
    state: HintLock<State<T>>,
}

impl<T> Chan<T> {
    /// Locks the channel; the guard publishes the readiness hint as it
    /// unlocks.
    #[inline]
    fn lock(&self) -> Locked<'_, T> {
        self.state.lock();
        Locked { chan: self }
    }

    /// The readiness bits of `s` (see [`Chan::state`]). The queues may hold
    /// stale select entries, so a queued entry counts as maybe ready: the
    /// hint may say ready when nothing is, never the reverse.
    #[inline]
    fn readiness(&self, s: &State<T>) -> u32 {
        let recv = !s.buf.is_empty() | !s.sendq.is_empty() | s.closed | (s.senders == 0);
        let send = !s.recvq.is_empty() | (s.buf.len() < self.cap) | s.closed | (s.receivers == 0);
        (u32::from(recv) * RECV_READY) | (u32::from(send) * SEND_READY)
    }
}

/// The channel's lock held: derefs to the state; publishes the readiness
/// hint and unlocks when dropped.
struct Locked<'a, T> {
    chan: &'a Chan<T>,
}

impl<T> Deref for Locked<'_, T> {
    type Target = State<T>;
    #[inline]
    fn deref(&self) -> &State<T> {
        // SAFETY: the lock is held while the guard lives, so no one else
        // reaches the state; the reference lives no longer than the guard.
        unsafe { &*self.chan.state.data_ptr() }
    }
}

impl<T> DerefMut for Locked<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut State<T> {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference
        // through the guard.
        unsafe { &mut *self.chan.state.data_ptr() }
    }
}

impl<T> Drop for Locked<'_, T> {
    #[inline]
    fn drop(&mut self) {
        let hint = self.chan.readiness(self);
        // SAFETY: locked by `Chan::lock` on this thread; the reference to
        // the state used for the hint is gone.
        unsafe { self.chan.state.unlock(hint) };
    }
}

/// The sending half of a channel. Cloneable; when the last `Sender` is
/// dropped the channel is closed.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half of a channel. Cloneable (several goroutines may
/// receive); iterating receives until the channel is closed and drained.
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

/// A send failed because the channel is closed (or has no receivers left);
/// the value comes back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("send on a closed channel")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// Why a non-blocking receive returned nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing is ready now.
    Empty,
    /// The channel is closed and drained.
    Closed,
}

/// Why a non-blocking send did not happen.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The buffer is full and no receiver waits.
    Full(T),
    /// The channel is closed.
    Closed(T),
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

/// Creates a channel with room for `cap` values; `cap = 0` is an unbuffered
/// channel where every send waits for its receiver (Go's `make(chan T)`).
///
/// Both halves work from goroutines and from plain threads (which block their
/// thread). Goroutines blocked on a channel created outside any goroutine do
/// not count towards deadlock detection, since a plain thread may complete
/// their operation at any time.
///
/// ```
/// gort_runtime::run(|| {
///     let (tx, rx) = gort_runtime::chan::<i32>(0);
///     gort_runtime::go(move || {
///         for i in 0..3 {
///             tx.send(i).unwrap();
///         }
///     });
///     let got: Vec<i32> = rx.into_iter().collect();
///     assert_eq!(got, [0, 1, 2]);
/// });
/// ```
pub fn chan<T: Send>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan {
        cap,
        external: Running::get().is_none(),
        state: HintLock::new(
            State {
                buf: VecDeque::with_capacity(cap.min(1024)),
                closed: false,
                recvq: VecDeque::new(),
                sendq: VecDeque::new(),
                senders: 1,
                receivers: 1,
            },
            // Empty and open: only a send into free room could complete.
            if cap > 0 { SEND_READY } else { 0 },
        ),
    });
    (Sender { chan: chan.clone() }, Receiver { chan })
}

impl<T> Sender<T> {
    /// Sends `v`, blocking the goroutine until a receiver takes it
    /// (unbuffered) or there is room in the buffer.
    ///
    /// # Errors
    /// [`SendError`] with the value if the channel is closed, or closes while
    /// waiting, or every `Receiver` is gone.
    #[track_caller]
    pub fn send(&self, v: T) -> Result<(), SendError<T>> {
        crate::sched::context::note_site(std::panic::Location::caller());
        let mut s = self.chan.lock();
        let v = match self.chan.send_ready(&mut s, v) {
            Ok(None) => return Ok(()),
            Ok(Some(wake)) => {
                drop(s);
                wake.wake();
                return Ok(());
            }
            Err(TrySendError::Closed(v)) => return Err(SendError(v)),
            Err(TrySendError::Full(v)) => v,
        };
        let queued = Queued::new(&self.chan, &mut s, Some(v), false);
        drop(s);
        match queued.wait(WaitReason::ChanSend, self.chan.external) {
            (DONE, _) => Ok(()),
            (_, Some(v)) => Err(SendError(v)),
            (_, None) => Ok(()),
        }
    }

    /// Sends without blocking.
    ///
    /// # Errors
    /// [`TrySendError::Full`] if it would block, [`TrySendError::Closed`] if
    /// the channel is closed.
    pub fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        let mut s = self.chan.lock();
        let wake = self.chan.send_ready(&mut s, v)?;
        drop(s);
        if let Some(w) = wake {
            w.wake();
        }
        Ok(())
    }

    /// Closes the channel (Go's `close(ch)`): receivers drain what is
    /// buffered, then get `None`; blocked and later senders get an error.
    /// Closing twice is harmless.
    pub fn close(&self) {
        self.chan.close();
    }

    /// Whether the channel is closed.
    pub fn is_closed(&self) -> bool {
        self.chan.lock().closed
    }

    /// Values buffered now.
    pub fn len(&self) -> usize {
        self.chan.lock().buf.len()
    }

    /// Whether no value is buffered now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer capacity.
    pub fn capacity(&self) -> usize {
        self.chan.cap
    }
}

impl<T> Chan<T> {
    /// A send that does not block (chan lock held): to a waiting receiver
    /// (returned, to wake after unlocking) or into the buffer.
    fn send_ready(&self, s: &mut State<T>, v: T) -> Result<Option<Waiter>, TrySendError<T>> {
        if s.closed || s.receivers == 0 {
            return Err(TrySendError::Closed(v));
        }
        if let Some(r) = pop_live(&mut s.recvq) {
            // SAFETY: chan lock held, slot claimed and not yet finished.
            *unsafe { r.get().value() } = Some(v);
            return Ok(Some(r.get().finish(DONE)));
        }
        if s.buf.len() < self.cap {
            s.buf.push_back(v);
            return Ok(None);
        }
        Err(TrySendError::Full(v))
    }

    fn close(&self) {
        let mut s = self.lock();
        if s.closed {
            return;
        }
        s.closed = true;
        let mut wake: Vec<Waiter> = Vec::with_capacity(s.recvq.len() + s.sendq.len());
        finish_all(&mut s.recvq, CLOSED, &mut wake);
        finish_all(&mut s.sendq, CLOSED, &mut wake);
        drop(s);
        // Waking touches each goroutine's task, as cold as its slot was.
        wake.iter().take(PREFETCH_AHEAD).for_each(prefetch_waiter);
        let mut rest = wake.into_iter();
        while let Some(w) = rest.next() {
            if let Some(ahead) = rest.as_slice().get(PREFETCH_AHEAD - 1) {
                prefetch_waiter(ahead);
            }
            w.wake();
        }
    }
}

impl<T> Receiver<T> {
    /// Receives the next value, blocking the goroutine until one is sent.
    /// Returns `None` once the channel is closed and drained.
    #[track_caller]
    pub fn recv(&self) -> Option<T> {
        crate::sched::context::note_site(std::panic::Location::caller());
        let mut s = self.chan.lock();
        match Self::take_ready(&mut s) {
            Ok((v, wake)) => {
                drop(s);
                if let Some(w) = wake {
                    w.wake();
                }
                return Some(v);
            }
            Err(TryRecvError::Closed) => return None,
            Err(TryRecvError::Empty) => {}
        }
        let queued = Queued::new(&self.chan, &mut s, None, true);
        drop(s);
        match queued.wait(WaitReason::ChanReceive, self.chan.external) {
            (DONE, v) => v,
            _ => None,
        }
    }

    /// Receives without blocking.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] if nothing is ready, [`TryRecvError::Closed`]
    /// if the channel is closed and drained.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut s = self.chan.lock();
        let (v, wake) = Self::take_ready(&mut s)?;
        drop(s);
        if let Some(w) = wake {
            w.wake();
        }
        Ok(v)
    }

    fn take_ready(s: &mut State<T>) -> Result<(T, Option<Waiter>), TryRecvError> {
        if let Some(v) = s.buf.pop_front() {
            // Refill the buffer from the first blocked sender.
            let mut wake = None;
            if let Some(snd) = pop_live(&mut s.sendq) {
                // SAFETY: chan lock held, slot just taken off the queue.
                if let Some(x) = unsafe { snd.get().value() }.take() {
                    s.buf.push_back(x);
                }
                wake = Some(snd.get().finish(DONE));
            }
            return Ok((v, wake));
        }
        if let Some(snd) = pop_live(&mut s.sendq) {
            // SAFETY: chan lock held, slot just taken off the queue.
            let v = unsafe { snd.get().value() }.take();
            let w = snd.get().finish(DONE);
            return match v {
                Some(v) => Ok((v, Some(w))),
                None => Err(TryRecvError::Empty),
            };
        }
        if s.closed || s.senders == 0 {
            return Err(TryRecvError::Closed);
        }
        Err(TryRecvError::Empty)
    }

    /// An iterator that receives until the channel is closed and drained.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// Values buffered now.
    pub fn len(&self) -> usize {
        self.chan.lock().buf.len()
    }

    /// Whether no value is buffered now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Borrowing iterator over received values ([`Receiver::iter`]).
#[derive(Debug)]
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv()
    }
}

/// Owning iterator over received values.
#[derive(Debug)]
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.lock().senders += 1;
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.chan.lock().receivers += 1;
        Receiver {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let last = {
            let mut s = self.chan.lock();
            s.senders -= 1;
            s.senders == 0
        };
        if last {
            self.chan.close();
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut s = self.chan.lock();
        s.receivers -= 1;
        if s.receivers > 0 {
            return;
        }
        // No one will ever receive: fail blocked senders.
        let mut wake = Vec::new();
        finish_all(&mut s.sendq, CLOSED, &mut wake);
        drop(s);
        // Waking touches each goroutine's task, as cold as its slot was.
        wake.iter().take(PREFETCH_AHEAD).for_each(prefetch_waiter);
        let mut rest = wake.into_iter();
        while let Some(w) = rest.next() {
            if let Some(ahead) = rest.as_slice().get(PREFETCH_AHEAD - 1) {
                prefetch_waiter(ahead);
            }
            w.wake();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("capacity", &self.chan.cap)
            .finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("capacity", &self.chan.cap)
            .finish()
    }
}
