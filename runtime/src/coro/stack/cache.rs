//! Per-thread caches of free goroutine stacks: the pool's lock-free fast path.
//!
//! Each thread keeps up to [`CACHE_STACKS`] free stack slots for the one pool it used last
//! (Go keeps such a cache per P). `get` pops from it and `put` pushes to it: no lock, no
//! atomic read-modify-write, no syscall. An empty cache refills from the pool's global lists,
//! and a full one spills to them, [`CACHE_BATCH`] slots at a time.
//!
//! Invariants:
//!
//! 1. a cache holds slots only of the pool it is bound to; binding to another pool first
//!    gives every cached slot back (or forgets them if that pool is gone, since its chunks
//!    are unmapped);
//! 2. the binding is a `Weak` to the pool, compared by address: the `Weak` keeps the pool's
//!    allocation, so no later pool can reuse the address and be mistaken for it;
//! 3. `live()` adds up each bound thread's `net` (stacks got minus stacks put), published by
//!    a plain store that only the owning thread makes; unbinding (at thread exit, or on a
//!    switch of pool) folds `net` into the pool's `retired` count under the same lock that
//!    `live()` takes, so no hand-out is counted twice or lost;
//! 4. the thread-local is reached only from the `#[inline(never)]` functions [`cache_get`]
//!    and [`cache_put`], so a goroutine that migrates between threads never reuses a cached
//!    thread-local address.
#![deny(unsafe_code)]
// N.B. std `Arc` and atomics, not the loom shim: see the parent module.
#![allow(clippy::disallowed_types)]

use std::cell::RefCell;
use std::io;
use std::ptr;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Arc, Weak};

use super::global::Shared;
use super::{CACHE_BATCH, CACHE_STACKS};

/// A thread's cache of free stacks, bound to one pool at a time.
struct ThreadCache {
    /// The bound pool; `Weak` keeps its allocation, so pointer identity stays unique.
    pool: Weak<Shared>,
    slots: Vec<usize>,
    /// Stacks this thread got minus stacks it put, for the bound pool.
    net: isize,
    /// `net`, published for `live()`; written only by this thread.
    published: Option<Arc<AtomicIsize>>,
}

impl ThreadCache {
    const EMPTY: ThreadCache = ThreadCache {
        pool: Weak::new(),
        slots: Vec::new(),
        net: 0,
        published: None,
    };

    #[inline]
    fn bind(&mut self, shared: &Arc<Shared>) {
        if !ptr::eq(self.pool.as_ptr(), Arc::as_ptr(shared)) {
            self.rebind(shared);
        }
    }

    #[cold]
    fn rebind(&mut self, shared: &Arc<Shared>) {
        self.unbind();
        let published = Arc::new(AtomicIsize::new(0));
        shared.live.lock().threads.push(Arc::clone(&published));
        self.published = Some(published);
        self.pool = Arc::downgrade(shared);
        self.slots.reserve(CACHE_STACKS);
    }

    /// Gives cached stacks back and folds this thread's count into the pool's.
    fn unbind(&mut self) {
        if let Some(shared) = self.pool.upgrade() {
            shared.give_back(&self.slots);
            let mut live = shared.live.lock();
            live.retired += self.net;
            if let Some(mine) = &self.published {
                live.threads.retain(|t| !Arc::ptr_eq(t, mine));
            }
        }
        // A dead pool's slots are unmapped addresses: just forget them.
        self.slots.clear();
        self.net = 0;
        self.published = None;
        self.pool = Weak::new();
    }

    #[inline]
    fn count(&mut self, delta: isize) {
        self.net += delta;
        if let Some(published) = &self.published {
            published.store(self.net, Ordering::Relaxed);
        }
    }
}

impl Drop for ThreadCache {
    fn drop(&mut self) {
        self.unbind();
    }
}

thread_local! {
    static CACHE: RefCell<ThreadCache> = const { RefCell::new(ThreadCache::EMPTY) };
}

/// Pops a free slot of `shared`'s pool from this thread's cache, refilling it if empty.
#[inline(never)]
pub(super) fn cache_get(shared: &Arc<Shared>) -> io::Result<usize> {
    let cached = CACHE.try_with(|cache| {
        let mut cache = cache.borrow_mut();
        cache.bind(shared);
        let slot = match cache.slots.pop() {
            Some(slot) => slot,
            None => refill(shared, &mut cache.slots)?,
        };
        cache.count(1);
        Ok(slot)
    });
    // The cache is gone only while this thread's thread-locals are being destroyed.
    cached.unwrap_or_else(|_| shared.get_uncached())
}

#[cold]
fn refill(shared: &Shared, slots: &mut Vec<usize>) -> io::Result<usize> {
    shared.take(slots, CACHE_BATCH)?;
    slots
        .pop()
        .ok_or_else(|| io::Error::other("goroutine stack pool yielded no stack"))
}

/// Pushes a free slot of `shared`'s pool onto this thread's cache, spilling it if full.
#[inline(never)]
pub(super) fn cache_put(shared: &Arc<Shared>, slot: usize) {
    let cached = CACHE.try_with(|cache| {
        let mut cache = cache.borrow_mut();
        cache.bind(shared);
        if cache.slots.len() >= CACHE_STACKS {
            spill(shared, &mut cache.slots);
        }
        cache.slots.push(slot);
        cache.count(-1);
    });
    if cached.is_err() {
        shared.put_uncached(slot);
    }
}

#[cold]
fn spill(shared: &Shared, slots: &mut Vec<usize>) {
    let keep = slots.len().saturating_sub(CACHE_BATCH);
    shared.give_back(&slots[keep..]);
    slots.truncate(keep);
}
