//! `RwMutex<T>`: a reader/writer lock that parks, writer-preferring like
//! Go's `sync.RWMutex`.
//!
//! Writers queue on an inner [`Mutex`], so at most one writer is ever
//! *pending*. The word `readers` counts the readers that hold the lock or
//! are waiting for it; a pending writer subtracts [`WRITER`] from it, so a
//! negative value tells an arriving reader to wait:
//!
//! ```text
//!   readers >= 0           no writer: `read` is one fetch_add
//!   readers = n - WRITER   a writer has announced itself; n readers either
//!                          still hold the lock (they arrived before it) or
//!                          wait behind it (they arrived after)
//! ```
//!
//! When the writer announces itself it learns how many readers were inside
//! (`r`) and adds that to `departing`; each of those readers, leaving, sees
//! the negative count and decrements `departing`. Whichever of them brings
//! it to zero (the writer's add or the last reader's decrement) settles
//! who goes next: the writer runs at once, or the last reader wakes it. The
//! writer, leaving, adds [`WRITER`] back, which gives it the number of
//! readers that queued behind it, and admits exactly that many before it
//! releases the inner mutex to the next writer. Readers and writers thus
//! alternate under contention and neither side starves.
//!
//! Waiting goes through [`Sema`], a FIFO semaphore over the runtime's
//! [`Waiter`]/[`park`](park::park) protocol: goroutines park (their thread
//! runs other goroutines), plain threads park their thread. Every wait is
//! traced with Go's block reason `sync` and the caller's source location.

use super::{Mutex, MutexGuard};
use crate::loom::sync::atomic::{AtomicI64, Ordering::*};
use crate::sched::park::{self, Waiter};
use crate::task::WaitReason;
use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::Location;

/// What a pending writer subtracts from `readers` (more than any number of
/// readers that can exist at once).
const WRITER: i64 = 1 << 40;

/// A reader/writer lock whose `read` and `write` park the goroutine (or,
/// outside the runtime, the thread) until the lock is available.
///
/// Any number of readers may hold it at once, or one writer. A writer that
/// is waiting blocks readers that arrive after it, and is itself admitted as
/// soon as the readers that arrived before it have left (Go's
/// `sync.RWMutex`). Hence a goroutine must not take `read` twice while
/// holding it: a writer arriving in between would deadlock both.
///
/// ```
/// use gort_runtime::sync::RwMutex;
/// gort_runtime::run(|| {
///     let config = std::sync::Arc::new(RwMutex::new(String::from("v1")));
///     let c = config.clone();
///     let reader = gort_runtime::go(move || c.read().len());
///     config.write().push_str(".1");
///     assert!(reader.join().unwrap() >= 2);
///     assert_eq!(*config.read(), "v1.1");
/// });
/// ```
pub struct RwMutex<T: ?Sized> {
    /// Serialises writers; held for the whole write section.
    writer: Mutex<()>,
    /// Readers holding or awaiting the lock, minus [`WRITER`] while a
    /// writer is pending or active.
    readers: AtomicI64,
    /// Readers the pending writer still waits for (may dip below zero while
    /// departing readers race with the writer's announcement).
    departing: AtomicI64,
    /// Readers that arrived behind a writer wait here.
    reader_wait: Sema,
    /// The pending writer waits here for the readers ahead of it.
    writer_wait: Sema,
    value: UnsafeCell<T>,
}

// SAFETY: the lock gives one writer, or shared readers, access to `value`.
unsafe impl<T: ?Sized + Send> Send for RwMutex<T> {}
// SAFETY: readers share `&T` across threads (hence `Sync`), a writer gets
// `&mut T` possibly on another thread (hence `Send`).
unsafe impl<T: ?Sized + Send + Sync> Sync for RwMutex<T> {}

/// Shared access to a read-locked [`RwMutex`]; releases it when dropped.
pub struct RwMutexReadGuard<'a, T: ?Sized> {
    m: &'a RwMutex<T>,
}

/// Exclusive access to a write-locked [`RwMutex`]; releases it when dropped.
pub struct RwMutexWriteGuard<'a, T: ?Sized> {
    m: &'a RwMutex<T>,
    /// The writers' mutex, released after readers are readmitted (field
    /// drop runs after `Drop::drop`).
    _writer: MutexGuard<'a, ()>,
}

impl<T> RwMutex<T> {
    /// A new, unlocked lock holding `v`.
    pub fn new(v: T) -> RwMutex<T> {
        RwMutex {
            writer: Mutex::new(()),
            readers: AtomicI64::new(0),
            departing: AtomicI64::new(0),
            reader_wait: Sema::default(),
            writer_wait: Sema::default(),
            value: UnsafeCell::new(v),
        }
    }

    /// Consumes the lock and returns the value.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> RwMutex<T> {
    /// Locks for reading, parking while a writer holds the lock or waits
    /// for it.
    #[inline]
    #[track_caller]
    pub fn read(&self) -> RwMutexReadGuard<'_, T> {
        // Acquire: pairs with the Release of the last writer's `readers` add.
        if self.readers.fetch_add(1, Acquire) < 0 {
            // A writer is pending or active: it admits us when it leaves.
            self.reader_wait
                .acquire(Location::caller(), WaitReason::RwMutexRLock);
        }
        RwMutexReadGuard { m: self }
    }

    /// Locks for reading if no writer holds or awaits the lock.
    pub fn try_read(&self) -> Option<RwMutexReadGuard<'_, T>> {
        let mut cur = self.readers.load(Relaxed);
        loop {
            if cur < 0 {
                return None;
            }
            match self
                .readers
                .compare_exchange_weak(cur, cur + 1, Acquire, Relaxed)
            {
                Ok(_) => return Some(RwMutexReadGuard { m: self }),
                Err(now) => cur = now,
            }
        }
    }

    /// Locks for writing, parking until every other holder has left.
    /// Readers arriving meanwhile wait behind this writer.
    #[track_caller]
    pub fn write(&self) -> RwMutexWriteGuard<'_, T> {
        let w = self.writer.lock();
        // AcqRel: announces the writer; acquire pairs with readers' releases.
        let inside = self.readers.fetch_sub(WRITER, AcqRel);
        // The readers that were inside must leave first; the add that brings
        // `departing` to zero (ours, or the last leaver's) decides.
        if inside != 0 && self.departing.fetch_add(inside, AcqRel) + inside != 0 {
            self.writer_wait
                .acquire(Location::caller(), WaitReason::RwMutexLock);
        }
        RwMutexWriteGuard {
            m: self,
            _writer: w,
        }
    }

    /// Locks for writing if nobody holds the lock, without blocking.
    pub fn try_write(&self) -> Option<RwMutexWriteGuard<'_, T>> {
        let w = self.writer.try_lock()?;
        self.readers
            .compare_exchange(0, -WRITER, Acquire, Relaxed)
            .ok()
            .map(|_| RwMutexWriteGuard {
                m: self,
                _writer: w,
            })
    }

    /// Mutable access without locking (the borrow proves exclusivity).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    #[inline]
    fn read_unlock(&self) {
        // Release: publishes the read section to a writer.
        if self.readers.fetch_sub(1, Release) <= 0 {
            self.read_unlock_slow();
        }
    }

    #[cold]
    fn read_unlock_slow(&self) {
        // A writer is pending and counted us among the readers inside (or
        // will, when it adds to `departing`). The last one out wakes it.
        if self.departing.fetch_sub(1, AcqRel) == 1 {
            self.writer_wait.release();
        }
    }

    fn write_unlock(&self) {
        // Release: publishes the write section to readers that arrive now.
        let queued = self.readers.fetch_add(WRITER, Release) + WRITER;
        for _ in 0..queued {
            self.reader_wait.release();
        }
    }
}

impl<T: Default> Default for RwMutex<T> {
    fn default() -> Self {
        RwMutex::new(T::default())
    }
}

impl<T: ?Sized> Deref for RwMutexReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds a read lock: no writer is active.
        unsafe { &*self.m.value.get() }
    }
}

impl<T: ?Sized> Drop for RwMutexReadGuard<'_, T> {
    fn drop(&mut self) {
        self.m.read_unlock();
    }
}

impl<T: ?Sized> Deref for RwMutexWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the write lock.
        unsafe { &*self.m.value.get() }
    }
}

impl<T: ?Sized> DerefMut for RwMutexWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the write lock, and `&mut self` is unique.
        unsafe { &mut *self.m.value.get() }
    }
}

impl<T: ?Sized> Drop for RwMutexWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.m.write_unlock();
    }
}

impl<T: ?Sized> fmt::Debug for RwMutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.readers.load(Relaxed);
        f.debug_struct("RwMutex")
            .field("writer", &(r < 0))
            .field("readers", &r.rem_euclid(WRITER))
            .finish_non_exhaustive()
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwMutexReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwMutexWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

/// A counting semaphore with FIFO hand-off (Go's `semacquire`/`semrelease`
/// as the RWMutex uses them). `release` with a waiter queued hands the
/// permit straight to the oldest waiter; otherwise the permit is banked.
#[derive(Debug, Default)]
struct Sema {
    st: parking_lot::Mutex<SemaState>,
}

#[derive(Debug, Default)]
struct SemaState {
    /// Banked permits (a release that found nobody waiting).
    permits: u64,
    /// Waiters in arrival order.
    queue: VecDeque<Waiter>,
    /// Waiters ever queued: the next waiter's ticket.
    queued: u64,
    /// Waiters ever served. Service is in queue order, so the waiter with
    /// ticket `t` holds its permit once `served > t`.
    served: u64,
}

impl Sema {
    /// Takes a permit, parking (traced as `sync`) until one is handed over.
    fn acquire(&self, site: &'static Location<'static>, reason: WaitReason) {
        let ticket = {
            let mut s = self.st.lock();
            if s.permits > 0 {
                s.permits -= 1;
                return;
            }
            let t = s.queued;
            s.queued += 1;
            s.queue.push_back(Waiter::current());
            t
        };
        loop {
            crate::sched::context::note_site(site);
            park::park_at(reason, site);
            // Re-check: a stale wake-up token can end a park early.
            if self.st.lock().served > ticket {
                return;
            }
        }
    }

    /// Gives a permit to the oldest waiter, or banks it.
    fn release(&self) {
        let w = {
            let mut s = self.st.lock();
            match s.queue.pop_front() {
                Some(w) => {
                    s.served += 1;
                    w
                }
                None => {
                    s.permits += 1;
                    return;
                }
            }
        };
        w.wake();
    }
}
