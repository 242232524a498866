//! `Mutex<T>`: mutual exclusion that parks the waiting goroutine.
//!
//! State word:
//!
//! ```text
//!   0  unlocked
//!   1  locked, no waiter queued
//!   2  locked, waiters may be queued
//! ```
//!
//! Lost-wake-up protocol: a waiter swaps in 2 *while holding the queue lock*
//! and enqueues itself before releasing it; an unlocker that swaps out 2
//! takes the queue lock before waking. So either the waiter's swap sees 0
//! (it owns the lock) or the unlocker finds it in the queue.

use crate::loom::sync::atomic::{AtomicU8, Ordering::*};
use crate::sched::park::{self, Waiter};
use crate::task::WaitReason;
use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::fmt;
use std::ops::{Deref, DerefMut};

/// A mutual-exclusion lock whose `lock` parks the goroutine (or, outside
/// the runtime, the thread) until the lock is free. Not re-entrant.
pub struct Mutex<T: ?Sized> {
    state: AtomicU8,
    waiters: parking_lot::Mutex<VecDeque<Waiter>>,
    value: UnsafeCell<T>,
}

// SAFETY: the lock gives one holder at a time access to `value`.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above; sharing the mutex shares `T` only through the lock.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

/// Access to a locked [`Mutex`]'s value; unlocks when dropped.
///
/// Holding a guard across a blocking call is allowed (it is a goroutine
/// lock, not a thread lock).
pub struct MutexGuard<'a, T: ?Sized> {
    /// The locked mutex (`Cond::wait` unlocks and relocks it).
    pub(super) m: &'a Mutex<T>,
}

impl<T> Mutex<T> {
    /// A new, unlocked mutex holding `v`.
    pub fn new(v: T) -> Mutex<T> {
        Mutex {
            state: AtomicU8::new(0),
            waiters: parking_lot::Mutex::new(VecDeque::new()),
            value: UnsafeCell::new(v),
        }
    }

    /// Consumes the mutex and returns the value.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks, parking until the lock is free.
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        // Acquire: pairs with the Release in `unlock`.
        if self.state.compare_exchange(0, 1, Acquire, Relaxed).is_err() {
            crate::sched::context::note_site(std::panic::Location::caller());
            self.lock_slow();
        }
        MutexGuard { m: self }
    }

    /// Locks if free, without blocking.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.state
            .compare_exchange(0, 1, Acquire, Relaxed)
            .ok()
            .map(|_| MutexGuard { m: self })
    }

    #[cold]
    #[track_caller]
    fn lock_slow(&self) {
        loop {
            {
                let mut q = self.waiters.lock();
                // Acquire: as in `lock`.
                if self.state.swap(2, Acquire) == 0 {
                    return;
                }
                q.push_back(Waiter::current());
            }
            park::park(WaitReason::MutexLock);
        }
    }

    #[inline]
    fn unlock(&self) {
        // Release: publishes the critical section to the next holder.
        if self.state.swap(0, Release) == 2 {
            self.unlock_slow();
        }
    }

    #[cold]
    fn unlock_slow(&self) {
        let w = self.waiters.lock().pop_front();
        if let Some(w) = w {
            w.wake();
        }
    }

    /// Mutable access without locking (the borrow proves exclusivity).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.m.value.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, and `&mut self` is unique.
        unsafe { &mut *self.m.value.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.m.unlock();
    }
}

impl<T: ?Sized> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex")
            .field("locked", &(self.state.load(Relaxed) != 0))
            .finish_non_exhaustive()
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}
