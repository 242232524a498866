//! The channel lock: a spinlock whose word also carries the channel's
//! readiness hint.
//!
//! One 32-bit word holds [`LOCKED`] and the hint bits ([`RECV_READY`],
//! [`SEND_READY`]). Locking is one atomic read-modify-write (`fetch_or` of
//! `LOCKED`, Acquire: one `lock bts` on x86-64); unlocking is one plain
//! store (Release) of the hint the holder computed from the state it
//! leaves, which clears `LOCKED` and publishes the hint at once. A channel operation thus pays one atomic
//! read-modify-write per lock instead of two, and keeping the hint costs
//! nothing beyond that store.
//!
//! Why a spinlock: the critical sections are short and never park (wake-ups
//! happen after unlocking), and a lock that parks its waiters must learn at
//! unlock whether any sleep, which takes a second read-modify-write (or a
//! full fence) on every unlock. A waiter spins with exponential backoff,
//! then yields its thread (crossbeam's `Backoff`), so a holder descheduled
//! by the OS costs the waiters yields, not a burnt time slice.
//!
//! The hint bits are only ever written by the holder's unlock store, so
//! whoever reads the word without the lock sees the readiness as of some
//! past unlock: a hint, never a decision (see `select`'s fast path).

use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicU32, Ordering::*};

/// The lock bit of the word.
pub(crate) const LOCKED: u32 = 1;
/// Hint bit: a receive would complete (a value is buffered, a sender
/// waits, or the channel is closed or has no senders left).
pub(crate) const RECV_READY: u32 = 2;
/// Hint bit: a send would complete (a receiver waits, the buffer has room,
/// or the channel is closed or has no receivers left).
pub(crate) const SEND_READY: u32 = 4;

/// A view of a [`HintLock`]'s word that can only read its hint bits.
#[derive(Clone, Copy)]
pub(crate) struct Hints<'a>(&'a AtomicU32);

impl Hints<'_> {
    /// Whether any of `bits` (hint bits) was set by the last unlock; read
    /// without the lock, so a hint, never a decision (module doc).
    #[inline]
    pub(crate) fn any(self, bits: u32) -> bool {
        self.0.load(Relaxed) & bits & !LOCKED != 0
    }

    /// The word's address: one lock, one address, for as long as the lock
    /// lives (a select's lock order).
    #[cfg_attr(loom, allow(dead_code))]
    #[inline]
    pub(crate) fn addr(self) -> usize {
        std::ptr::from_ref(self.0) as usize
    }
}

/// A value behind a spinlock whose word carries hint bits (module doc).
pub(crate) struct HintLock<T> {
    word: AtomicU32,
    data: UnsafeCell<T>,
    /// Under loom, a waiter blocks on this instead of spinning: loom cannot
    /// bound a spin loop's interleavings. Each unlock notifies it.
    #[cfg(loom)]
    unlocked: loom::sync::Notify,
}

// SAFETY: the lock hands `&mut T` to one thread at a time (Acquire on
// locking pairs with the Release store that unlocked), so sharing the lock
// only moves `T` between threads: `T: Send` is enough, as for `Mutex<T>`.
unsafe impl<T: Send> Sync for HintLock<T> {}
// SAFETY: owning the lock is owning the `T`.
unsafe impl<T: Send> Send for HintLock<T> {}

impl<T> HintLock<T> {
    /// An unlocked lock around `v`, its hint `hint` (hint bits only).
    pub(crate) fn new(v: T, hint: u32) -> Self {
        HintLock {
            word: AtomicU32::new(hint & !LOCKED),
            data: UnsafeCell::new(v),
            #[cfg(loom)]
            unlocked: loom::sync::Notify::new(),
        }
    }

    /// Locks, spinning (then yielding the thread) while another holds it.
    #[inline]
    pub(crate) fn lock(&self) {
        if !self.try_acquire() {
            self.lock_contended();
        }
    }

    /// Sets `LOCKED` if it was clear; true if this call took the lock.
    /// Acquire: pairs with the Release store of the previous unlock, so the
    /// previous holder's writes to the data are visible.
    #[inline]
    fn try_acquire(&self) -> bool {
        #[cfg(not(loom))]
        return self.word.fetch_or(LOCKED, Acquire) & LOCKED == 0;
        // Under loom, a compare-and-swap that writes only when it takes the
        // lock: loom orders a failed `fetch_or`'s write (the same value) and
        // the holder's unlock store only partially, and may then let a later
        // `fetch_or` read the waiter's own write instead of the unlock. The
        // lock is the same: taken iff `LOCKED` was clear, hint bits kept.
        #[cfg(loom)]
        {
            let w = self.word.load(Relaxed);
            w & LOCKED == 0
                && self
                    .word
                    .compare_exchange(w, w | LOCKED, Acquire, Relaxed)
                    .is_ok()
        }
    }

    #[cold]
    #[cfg(not(loom))]
    fn lock_contended(&self) {
        let backoff = crossbeam_utils::Backoff::new();
        loop {
            // Wait with plain loads, so waiters do not fight over the line
            // while the holder runs; then try again.
            while self.word.load(Relaxed) & LOCKED != 0 {
                backoff.snooze();
            }
            if self.try_acquire() {
                return;
            }
        }
    }

    /// Under loom: waits for an unlock's notification between attempts
    /// (one waiter per lock in the models), instead of spinning.
    #[cold]
    #[cfg(loom)]
    fn lock_contended(&self) {
        while !self.try_acquire() {
            self.unlocked.wait();
        }
    }

    /// Unlocks, publishing `hint` (hint bits only) as the word's new bits.
    ///
    /// # Safety
    /// This thread locked it with [`lock`](Self::lock) and holds no
    /// reference into the data.
    #[inline]
    pub(crate) unsafe fn unlock(&self, hint: u32) {
        // Release: the holder's writes to the data happen-before the next
        // holder's Acquire. No one else writes the word while it is locked
        // (a waiter's `fetch_or` of an already set bit changes nothing), so
        // a store cannot overwrite anything.
        self.word.store(hint & !LOCKED, Release);
        #[cfg(loom)]
        self.unlocked.notify();
    }

    /// The lock's word as a reader of its hint bits only (as of the last
    /// unlock), for a select to keep beside each case: a look at a hint then
    /// needs no call into the case.
    #[inline]
    pub(crate) fn hints(&self) -> Hints<'_> {
        Hints(&self.word)
    }

    /// A pointer to the data, to dereference only while holding the lock.
    #[cfg_attr(loom, allow(dead_code))]
    #[inline]
    pub(crate) fn data_ptr(&self) -> *mut T {
        self.data.with_mut(|p| p)
    }

    /// Runs `f` on the data, for the loom models (which see the access
    /// through the cell, unlike a dereference of [`data_ptr`](Self::data_ptr)).
    ///
    /// # Safety
    /// This thread holds the lock.
    #[cfg(loom)]
    pub(crate) unsafe fn with_held<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: the lock is held (the caller's guarantee); the reference
        // ends with `f`.
        self.data.with_mut(|p| f(unsafe { &mut *p }))
    }
}
