//! Channels: Go's `chan T`, buffered or unbuffered (rendezvous), closable.
//!
//! One lock per channel guards the buffer and two FIFO queues of blocked
//! senders and receivers. A value meets a waiting partner directly: a sender
//! that finds a blocked receiver hands the value into the receiver's slot and
//! wakes it; a receiver that takes from a full buffer refills it from the
//! first blocked sender. Wake-ups happen after the lock is released.

mod error;
pub(crate) mod lock;
mod macros;
mod select;
mod slot;
pub(crate) mod timer;
pub(crate) mod token;

use crate::loom::sync::Arc;
use crate::sched::context::Running;
use crate::sched::park::Waiter;
use crate::task::WaitReason;
use lock::{HintLock, RECV_READY, SEND_READY};
use std::collections::VecDeque;
use std::fmt;
use std::ops::{Deref, DerefMut};
use token::{CLOSED, DONE};

pub use error::{SendError, TryRecvError, TrySendError};
use slot::{
    finish_all, pop_live, prefetch_waiter, Queued, SelToken, Slot, SlotPtr, PREFETCH_AHEAD,
};

#[doc(hidden)]
pub use select::{
    __block_forever, __select_fixed, CaseRef, RecvCase, RecvOperand, SendCase, SendOperand,
};
pub use select::{Select, SelectedOperation, TrySelectError};

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
