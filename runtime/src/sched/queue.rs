//! A P's bounded local run queue: one owner pushes and pops, peers steal half.
//!
//! The algorithm is the one tokio's multi-threaded scheduler uses (itself a
//! refinement of Go's `runq`): a ring of `CAPACITY` slots, a `tail` written
//! only by the owner, and a packed `head` word holding two indices:
//!
//! ```text
//!  head (AtomicU64) = [ steal: u32 | real: u32 ]      tail (AtomicU32)
//!
//!   slots:  ... | steal .. real | real ......... tail | free ... |
//!                 being copied    owned by the queue
//!                 by one stealer
//! ```
//!
//! - `real` is the next slot the owner pops; `steal` trails it while a stealer
//!   copies slots `[steal, real)` out. At most one steal runs at a time.
//! - The owner may write slot `tail` only if `tail - steal < CAPACITY`, so a
//!   stealer's source slots are never overwritten while it copies them.
//! - A full queue moves half of itself plus the new item to the global queue
//!   (Go's `runqputslow`).
//!
//! The queue is generic over its payload so loom models push plain values.

use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicU32, AtomicU64, Ordering, Ordering::*};
use crate::loom::sync::Arc;
use std::marker::PhantomData;
use std::mem::MaybeUninit;

/// Slots per local queue (Go uses 256 too). Shrunk under loom so models reach
/// the overflow and wrap-around paths.
#[cfg(not(loom))]
pub(crate) const CAPACITY: usize = 256;
#[cfg(loom)]
pub(crate) const CAPACITY: usize = 4;
const MASK: u32 = CAPACITY as u32 - 1;

/// The steps of the protocol that a loom model's broken twin replaces (the
/// twins live in `tests/queue.rs`). The runtime runs the defaults, through
/// [`Faithful`]; after monomorphisation they are the only code there is.
pub(crate) trait QueueSteps {
    /// Where `push_back` measures free room from: `steal`, the oldest slot a
    /// stealer may still be copying (not `real`, the next one to hand out).
    #[inline(always)]
    fn room_from(steal: u32, _real: u32) -> u32 {
        steal
    }

    /// How `push_back` publishes a new slot: Release, pairing with the
    /// Acquire loads of `tail` in pop and steal (the slot write goes with it).
    #[inline(always)]
    fn publish() -> Ordering {
        Release
    }
}

/// The protocol as the runtime runs it.
#[derive(Debug)]
pub(crate) struct Faithful;

impl QueueSteps for Faithful {}

struct Inner<T> {
    head: AtomicU64,
    tail: AtomicU32,
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
}

// SAFETY: slots are handed between threads only through the head/tail
// protocol above (release on publish, acquire on claim), so a `T` is accessed
// by one thread at a time; `T: Send` is all that requires.
unsafe impl<T: Send> Send for Inner<T> {}
// SAFETY: as above; shared access never yields `&T` to two threads.
unsafe impl<T: Send> Sync for Inner<T> {}

/// The owner's handle: push and pop. Exactly one exists per queue. `S`
/// is a broken variant in the loom models.
pub(crate) struct Local<T, S: QueueSteps = Faithful> {
    inner: Arc<Inner<T>>,
    steps: PhantomData<fn() -> S>,
}

/// A peer's handle: steal half.
pub(crate) struct Steal<T, S: QueueSteps = Faithful> {
    inner: Arc<Inner<T>>,
    steps: PhantomData<fn() -> S>,
}

impl<T, S: QueueSteps> Clone for Steal<T, S> {
    fn clone(&self) -> Self {
        Steal {
            inner: self.inner.clone(),
            steps: PhantomData,
        }
    }
}

impl<T, S: QueueSteps> std::fmt::Debug for Local<T, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Local")
            .field("len", &self.inner.len())
            .finish()
    }
}

impl<T, S: QueueSteps> std::fmt::Debug for Steal<T, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Steal")
            .field("len", &self.inner.len())
            .finish()
    }
}

fn unpack(v: u64) -> (u32, u32) {
    ((v >> 32) as u32, v as u32)
}

fn pack(steal: u32, real: u32) -> u64 {
    (u64::from(steal) << 32) | u64::from(real)
}

/// Creates an empty queue and its two handles.
pub(crate) fn local<T>() -> (Local<T>, Steal<T>) {
    local_variant()
}

/// [`local`], for a given protocol variant.
pub(crate) fn local_variant<T, S: QueueSteps>() -> (Local<T, S>, Steal<T, S>) {
    let slots = (0..CAPACITY)
        .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
        .collect();
    let inner = Arc::new(Inner {
        head: AtomicU64::new(0),
        tail: AtomicU32::new(0),
        slots,
    });
    (
        Local {
            inner: inner.clone(),
            steps: PhantomData,
        },
        Steal {
            inner,
            steps: PhantomData,
        },
    )
}

impl<T> Inner<T> {
    fn len(&self) -> usize {
        let (_, real) = unpack(self.head.load(Acquire));
        let tail = self.tail.load(Acquire);
        tail.wrapping_sub(real) as usize
    }

    /// Moves the value out of slot `idx`.
    ///
    /// # Safety
    /// The caller has claimed the slot through `head` and the slot holds an
    /// initialised value published by the owner's release store of `tail`.
    unsafe fn take(&self, idx: u32) -> T {
        self.slots[(idx & MASK) as usize].with(|p| {
            // SAFETY: guaranteed by the caller (claimed, initialised slot).
            unsafe { (*p).assume_init_read() }
        })
    }
}

impl<T, S: QueueSteps> Local<T, S> {
    /// Number of queued items (a snapshot).
    #[allow(dead_code)]
    pub(crate) fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the queue is empty (a snapshot).
    #[allow(dead_code)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pushes `t` at the tail. When the queue is full, half of it and `t` are
    /// handed to `overflow` (the global queue) in FIFO order.
    pub(crate) fn push_back(&mut self, mut t: T, overflow: &mut dyn FnMut(Vec<T>)) {
        loop {
            let (steal, real) = unpack(self.inner.head.load(Acquire));
            // Only this handle writes `tail`.
            let tail = self.inner.tail.load(Relaxed);
            let room_from = S::room_from(steal, real);
            if tail.wrapping_sub(room_from) < CAPACITY as u32 {
                self.inner.slots[(tail & MASK) as usize].with_mut(|p| {
                    // SAFETY: `tail - steal < CAPACITY` means no claimed slot
                    // aliases this one, and only the owner writes free slots.
                    unsafe { (*p).write(t) };
                });
                self.inner.tail.store(tail.wrapping_add(1), S::publish());
                return;
            }
            if steal != real {
                // A stealer is copying; it will free room soon. Send this one
                // item to the global queue rather than wait.
                overflow(vec![t]);
                return;
            }
            match self.push_overflow(t, real, tail, overflow) {
                Ok(()) => return,
                Err(back) => t = back, // lost a race with a stealer or pop; retry
            }
        }
    }

    fn push_overflow(
        &mut self,
        t: T,
        head: u32,
        tail: u32,
        overflow: &mut dyn FnMut(Vec<T>),
    ) -> Result<(), T> {
        let half = CAPACITY as u32 / 2;
        debug_assert_eq!(tail.wrapping_sub(head), CAPACITY as u32);
        let prev = pack(head, head);
        let next = pack(head.wrapping_add(half), head.wrapping_add(half));
        // AcqRel: claims the slots (acquire pairs with a stealer's release of
        // `steal`) and publishes the new head to stealers.
        if self
            .inner
            .head
            .compare_exchange(prev, next, AcqRel, Acquire)
            .is_err()
        {
            return Err(t);
        }
        let mut batch = Vec::with_capacity(half as usize + 1);
        for i in 0..half {
            // SAFETY: the CAS above claimed slots [head, head+half).
            batch.push(unsafe { self.inner.take(head.wrapping_add(i)) });
        }
        batch.push(t);
        overflow(batch);
        Ok(())
    }

    /// Pops from the head (FIFO).
    pub(crate) fn pop(&mut self) -> Option<T> {
        let mut head = self.inner.head.load(Acquire);
        loop {
            let (steal, real) = unpack(head);
            let tail = self.inner.tail.load(Relaxed);
            if real == tail {
                return None;
            }
            let next_real = real.wrapping_add(1);
            let next = if steal == real {
                pack(next_real, next_real)
            } else {
                pack(steal, next_real)
            };
            // AcqRel: acquire pairs with a stealer's release of `head`;
            // release lets stealers see the slot as consumed.
            match self
                .inner
                .head
                .compare_exchange(head, next, AcqRel, Acquire)
            {
                // SAFETY: the CAS claimed slot `real`, which the owner wrote.
                Ok(_) => return Some(unsafe { self.inner.take(real) }),
                Err(actual) => head = actual,
            }
        }
    }
}

impl<T, S: QueueSteps> Drop for Local<T, S> {
    fn drop(&mut self) {
        while self.pop().is_some() {}
    }
}

/// Outcome of a steal attempt.
#[must_use]
#[derive(Debug)]
pub(crate) enum Stolen<T> {
    /// The victim had nothing to take.
    Empty,
    /// Another stealer was active; try again or elsewhere.
    Retry,
    /// Took this item (to run now) and moved the rest of the batch to `dst`.
    Got(T),
}

impl<T, S: QueueSteps> Steal<T, S> {
    /// Whether the victim looks empty (a snapshot).
    pub(crate) fn is_empty(&self) -> bool {
        self.inner.len() == 0
    }

    /// Number of queued items (a snapshot).
    pub(crate) fn len(&self) -> usize {
        self.inner.len()
    }

    /// Steals half of the victim's queue into `dst` (which must be empty, as
    /// a thief's own queue is when it steals) and returns one item to run.
    pub(crate) fn steal_into(&self, dst: &mut Local<T, S>) -> Stolen<T> {
        let dst_tail = dst.inner.tail.load(Relaxed);
        let (dst_steal, _) = unpack(dst.inner.head.load(Acquire));
        if dst_tail.wrapping_sub(dst_steal) > CAPACITY as u32 / 2 {
            return Stolen::Retry;
        }
        // 1. Claim: advance `real` by n, keeping `steal`, so the owner cannot
        //    overwrite slots [steal, steal+n) until step 3.
        let mut prev = self.inner.head.load(Acquire);
        let (first, n) = loop {
            let (steal, real) = unpack(prev);
            if steal != real {
                return Stolen::Retry;
            }
            // Acquire: pairs with the owner's release store of `tail`.
            let tail = self.inner.tail.load(Acquire);
            let avail = tail.wrapping_sub(real);
            let n = avail - avail / 2;
            if n == 0 {
                return Stolen::Empty;
            }
            let next = pack(steal, real.wrapping_add(n));
            match self
                .inner
                .head
                .compare_exchange(prev, next, AcqRel, Acquire)
            {
                Ok(_) => break (real, n),
                Err(actual) => prev = actual,
            }
        };
        // 2. Copy n-1 items into dst; keep the last to return.
        for i in 0..n - 1 {
            // SAFETY: step 1 claimed slots [first, first+n); slot `first+i` is
            // initialised (it was below `tail`).
            let t = unsafe { self.inner.take(first.wrapping_add(i)) };
            let di = dst_tail.wrapping_add(i);
            dst.inner.slots[(di & MASK) as usize].with_mut(|p| {
                // SAFETY: dst has at least CAPACITY/2 free slots (checked
                // above) and we are its owner.
                unsafe { (*p).write(t) };
            });
        }
        // SAFETY: as above, for the last claimed slot.
        let last = unsafe { self.inner.take(first.wrapping_add(n - 1)) };
        // 3. Release: set steal = real so the owner may reuse the slots.
        let mut prev = self.inner.head.load(Acquire);
        loop {
            let (_, real) = unpack(prev);
            // Release: pairs with the owner's Acquire load of `head` in push.
            match self
                .inner
                .head
                .compare_exchange(prev, pack(real, real), AcqRel, Acquire)
            {
                Ok(_) => break,
                Err(actual) => prev = actual,
            }
        }
        if n > 1 {
            // Release: publishes the copied slots to dst's owner (us) and
            // any thief of dst.
            dst.inner.tail.store(dst_tail.wrapping_add(n - 1), Release);
        }
        Stolen::Got(last)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn fifo_and_overflow_to_global() {
        let (mut q, _s) = local::<usize>();
        let mut global = Vec::new();
        for i in 0..CAPACITY + 10 {
            q.push_back(i, &mut |b| global.extend(b));
        }
        // One overflow moved the oldest half and the pushed item.
        assert_eq!(global.len(), CAPACITY / 2 + 1);
        assert_eq!(&global[..3], &[0, 1, 2]);
        let mut got = Vec::new();
        while let Some(v) = q.pop() {
            got.push(v);
        }
        let mut all = global.clone();
        all.extend(got);
        all.sort_unstable();
        assert_eq!(all, (0..CAPACITY + 10).collect::<Vec<_>>());
    }

    #[test]
    fn steal_takes_half() {
        let (mut q, s) = local::<usize>();
        let (mut d, _) = local::<usize>();
        for i in 0..10 {
            q.push_back(i, &mut |_| unreachable!());
        }
        match s.steal_into(&mut d) {
            Stolen::Got(v) => assert_eq!(v, 4),
            other => panic!("{other:?}"),
        }
        assert_eq!(d.len(), 4);
        assert_eq!(q.len(), 5);
        assert_eq!(q.pop(), Some(5));
        assert_eq!(d.pop(), Some(0));
    }

    #[test]
    fn concurrent_steal_loses_nothing() {
        use std::sync::atomic::AtomicUsize;
        let (mut q, s) = local::<usize>();
        const N: usize = 200_000;
        let seen = std::sync::Arc::new(AtomicUsize::new(0));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thief = {
            let seen = seen.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let (mut d, _) = local::<usize>();
                let mut sum = 0usize;
                loop {
                    if let Stolen::Got(v) = s.steal_into(&mut d) {
                        sum += v;
                        seen.fetch_add(1, Relaxed);
                    }
                    while let Some(v) = d.pop() {
                        sum += v;
                        seen.fetch_add(1, Relaxed);
                    }
                    if stop.load(Acquire) && s.is_empty() {
                        return sum;
                    }
                }
            })
        };
        let mut sum = 0usize;
        let mut overflowed = Vec::new();
        for i in 0..N {
            q.push_back(i, &mut |b| overflowed.extend(b));
            if i % 3 == 0 {
                if let Some(v) = q.pop() {
                    sum += v;
                }
            }
        }
        while let Some(v) = q.pop() {
            sum += v;
        }
        stop.store(true, Release);
        let stolen = thief.join().unwrap();
        sum += stolen + overflowed.iter().sum::<usize>();
        assert_eq!(sum, (0..N).sum::<usize>());
    }
}
