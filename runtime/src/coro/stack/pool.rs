//! The pool of free goroutine stacks: two tiers, after Go's per-P stack cache.
//!
//! 1. a per-thread cache of up to [`CACHE_STACKS`](super::CACHE_STACKS) stacks for the pool the thread last used:
//!    `get`/`put` touch only it, with no atomic read-modify-write, no lock and no syscall
//!    (see [`super::cache`]);
//! 2. the pool's global lists, behind a mutex, which a cache refills from or spills to in
//!    batches of [`CACHE_BATCH`](super::CACHE_BATCH).
//!
//! When the global lists are empty a new chunk is carved (one `mmap` and one guard call per
//! slot, see [`super::map`]). Stacks are never unmapped while the pool lives, so in steady
//! state the spawn path makes no syscall.
//!
//! Memory policy: the global list keeps up to `retained` stacks *warm* (their pages stay
//! committed, ready for reuse). A stack spilled to the global list while it already holds
//! `retained` warm stacks goes on a *pending* list; [`StackPool::scavenge`] later releases
//! its memory with `madvise(MADV_DONTNEED)` and moves it to the *cold* list, where it keeps
//! its address space and guard but no memory. The release is left to whoever calls
//! `scavenge` (the scheduler: an M about to sleep, and busy Ms a few stacks at a time), not
//! done by the goroutine exit that spilled the stack, so a burst of exits does not pay for
//! page-table zapping and TLB flushes on its way out (Go's background scavenger makes the
//! same trade). `get` prefers warm stacks, then pending ones (still committed), then cold.
//! Once a burst of 100k goroutines has ended and the pending stacks are scavenged, resident
//! stack memory is back to about `retained` stacks plus one cache per thread. The default
//! is [`DEFAULT_RETAINED_STACKS`]. Stacks held by parked goroutines are not touched: their
//! memory is what the goroutine actually used, page by page.
//!
//! # Lifetime
//!
//! The pool unmaps its chunks when dropped with no stack handed out. Dropping it while a
//! stack is still live is a bug (debug builds assert); release builds then leak the chunks
//! rather than unmap memory a coroutine may still run on, so a [`PooledStack`] can never
//! dangle.
#![deny(unsafe_code)]
// N.B. std atomics, `Arc` and a parking_lot mutex, not the loom shim: see the parent module.
#![allow(clippy::disallowed_types)]

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::cache::{cache_get, cache_put};
use super::global::{Global, LiveCount, Shared};
use super::map::{Geometry, GuardKind, PooledStack};
use super::DEFAULT_RETAINED_STACKS;

/// Source of pool ids; a stack records its pool's id so `put` can reject a foreign stack.
static NEXT_POOL_ID: AtomicU64 = AtomicU64::new(1);

/// A pool of guarded goroutine stacks of one size; `Sync`, shared by every worker.
#[derive(Debug)]
pub(crate) struct StackPool {
    shared: Arc<Shared>,
}

impl StackPool {
    /// A pool of `stack_size`-byte stacks (rounded up to pages, at least
    /// [`MIN_STACK_BYTES`](super::MIN_STACK_BYTES)),
    /// with the kernel's best guard and [`DEFAULT_RETAINED_STACKS`]. Maps nothing yet.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `stack_size` cannot be laid out in a chunk.
    pub(crate) fn new(stack_size: usize) -> io::Result<StackPool> {
        StackPool::with_options(stack_size, DEFAULT_RETAINED_STACKS, GuardKind::detect())
    }

    /// Like [`new`](Self::new), with the warm-stack retention and the guard kind chosen.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub(crate) fn with_options(
        stack_size: usize,
        retained: usize,
        guard: GuardKind,
    ) -> io::Result<StackPool> {
        let geometry = Geometry::new(stack_size)?;
        Ok(StackPool {
            shared: Arc::new(Shared {
                id: NEXT_POOL_ID.fetch_add(1, Ordering::Relaxed),
                geometry,
                guard,
                retained,
                global: Mutex::new(Global::default()),
                live: Mutex::new(LiveCount::default()),
                allocated: AtomicUsize::new(0),
                reserved: AtomicUsize::new(0),
                released: AtomicUsize::new(0),
                pending: AtomicUsize::new(0),
                burst: AtomicBool::new(false),
                prewarmed: AtomicUsize::new(0),
            }),
        })
    }

    /// A free stack: from this thread's cache without a syscall when it has one, else from
    /// the global lists, else from a newly carved chunk.
    ///
    /// # Errors
    ///
    /// The OS error (with context) when a new chunk cannot be mapped or guarded.
    #[inline]
    pub(crate) fn get(&self) -> io::Result<PooledStack> {
        let slot = cache_get(&self.shared)?;
        Ok(self.shared.geometry.stack_of(slot, self.shared.id))
    }

    /// Gives a stack back for reuse.
    ///
    /// # Panics
    ///
    /// If `stack` came from another pool.
    #[inline]
    pub(crate) fn put(&self, stack: PooledStack) {
        assert_eq!(
            stack.pool, self.shared.id,
            "goroutine stack returned to a pool that did not carve it"
        );
        cache_put(&self.shared, stack.limit.get());
    }

    /// Stacks handed out and not yet returned.
    pub(crate) fn live(&self) -> usize {
        self.shared.live()
    }

    /// Free stacks beyond the retention whose memory awaits [`scavenge`](Self::scavenge)
    /// (one relaxed load; may lag a concurrent put or scavenge).
    #[inline]
    pub(crate) fn pending(&self) -> usize {
        self.shared.pending.load(Ordering::Relaxed)
    }

    /// While new goroutines outrun the free stacks that have memory (a burst), commits the
    /// memory of up to `max` more, off the getter's path; returns how many (0 at once
    /// outside a burst). For an M that has nothing to run.
    #[inline]
    pub(crate) fn prewarm(&self, max: usize) -> usize {
        self.shared.prewarm(max)
    }

    /// Releases the memory of up to `max` free stacks beyond the retention; returns how
    /// many. A few tens of microseconds per 64 stacks (one `madvise` each, fewer for
    /// neighbours).
    pub(crate) fn scavenge(&self, max: usize) -> usize {
        self.shared.scavenge(max)
    }
}

// Observability for tests, diagnostics and the runtime's checks; a build need not call each.
#[cfg_attr(not(test), allow(dead_code))]
impl StackPool {
    /// The goroutine stack limit: usable bytes plus the header, a page multiple.
    pub(crate) fn stack_size(&self) -> usize {
        self.shared.geometry.size
    }

    /// How this pool's guard pages are made.
    pub(crate) fn guard_kind(&self) -> GuardKind {
        self.shared.guard
    }

    /// Stacks carved in total.
    pub(crate) fn allocated(&self) -> usize {
        self.shared.allocated.load(Ordering::Relaxed)
    }

    /// Address space mapped for stacks, in bytes (memory is committed only when touched).
    pub(crate) fn reserved_bytes(&self) -> usize {
        self.shared.reserved.load(Ordering::Relaxed)
    }

    /// Stacks whose memory [`prewarm`](Self::prewarm) committed ahead so far.
    pub(crate) fn prewarmed(&self) -> usize {
        self.shared.prewarmed.load(Ordering::Relaxed)
    }

    /// Stacks whose memory has been released with `MADV_DONTNEED` so far.
    pub(crate) fn released(&self) -> usize {
        self.shared.released.load(Ordering::Relaxed)
    }
}

// The tests read page residency with `mincore`.
#[cfg(test)]
#[allow(unsafe_code)]
mod tests;
