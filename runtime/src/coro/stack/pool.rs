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
//! `retained` warm stacks is released with `madvise(MADV_DONTNEED)` first and kept on a
//! *cold* list: it keeps its address space and guard, but no memory. `get` prefers warm
//! stacks. After a burst of 100k goroutines ends, resident stack memory therefore falls back
//! to about `retained` stacks plus one cache per thread. The default is
//! [`DEFAULT_RETAINED_STACKS`]. Stacks held by parked goroutines are not touched: their
//! memory is what the goroutine actually used, page by page.
//!
//! # Lifetime
//!
//! The pool unmaps its chunks when dropped with no stack handed out. Dropping it while a
//! stack is still live is a bug (debug builds assert); release builds then leak the chunks
//! rather than unmap memory a coroutine may still run on, so a [`PooledStack`] can never
//! dangle.

// N.B. std atomics, `Arc` and a parking_lot mutex, not the loom shim: see the parent module.
#![allow(clippy::disallowed_types)]

use std::io;
use std::sync::atomic::{AtomicIsize, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::cache::{cache_get, cache_put};
use super::map::{Chunk, Geometry, GuardKind, PooledStack};
use super::DEFAULT_RETAINED_STACKS;

/// Source of pool ids; a stack records its pool's id so `put` can reject a foreign stack.
static NEXT_POOL_ID: AtomicU64 = AtomicU64::new(1);

/// A pool of guarded goroutine stacks of one size; `Sync`, shared by every worker.
#[derive(Debug)]
pub(crate) struct StackPool {
    shared: Arc<Shared>,
}

/// The pool's state, shared by its handle and every thread cache bound to it.
#[derive(Debug)]
pub(super) struct Shared {
    /// This pool's id, recorded in each stack it hands out.
    id: u64,
    /// The slot layout.
    pub(super) geometry: Geometry,
    /// How guard pages are made.
    guard: GuardKind,
    /// Warm stacks the global list keeps before it releases memory.
    retained: usize,
    /// The free lists and every chunk.
    global: Mutex<Global>,
    /// The parts of `live()`.
    pub(super) live: Mutex<LiveCount>,
    /// Stacks carved in total.
    allocated: AtomicUsize,
    /// Bytes mapped in total.
    reserved: AtomicUsize,
    /// Stacks released with `MADV_DONTNEED` so far.
    released: AtomicUsize,
}

/// The global free lists (slot addresses) and every chunk.
#[derive(Debug, Default)]
struct Global {
    warm: Vec<usize>,
    cold: Vec<usize>,
    chunks: Vec<Chunk>,
}

/// `live()` = `retired` + the sum of each bound thread's net hand-outs.
#[derive(Debug, Default)]
pub(super) struct LiveCount {
    /// Net hand-outs of threads no longer bound, and of uncached gets and puts.
    pub(super) retired: isize,
    /// Each bound thread's published net hand-outs.
    pub(super) threads: Vec<Arc<AtomicIsize>>,
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

    /// Stacks whose memory has been released with `MADV_DONTNEED` so far.
    pub(crate) fn released(&self) -> usize {
        self.shared.released.load(Ordering::Relaxed)
    }
}

impl Shared {
    fn live(&self) -> usize {
        let live = self.live.lock();
        let sum = live
            .threads
            .iter()
            .map(|t| t.load(Ordering::Relaxed))
            .sum::<isize>();
        usize::try_from(live.retired + sum).unwrap_or(0)
    }

    /// Moves up to `want` free slots into `out`, carving a chunk if none is free.
    pub(super) fn take(&self, out: &mut Vec<usize>, want: usize) -> io::Result<()> {
        if self.take_free(out, want) {
            return Ok(());
        }
        // Carve outside the lock: other threads keep reusing stacks meanwhile.
        let chunk = Chunk::carve(&self.geometry, self.guard)?;
        let mut global = self.global.lock();
        global.warm.extend(chunk.slots(&self.geometry).rev());
        global.chunks.push(chunk);
        self.allocated
            .fetch_add(self.geometry.per_chunk, Ordering::Relaxed);
        self.reserved
            .fetch_add(self.geometry.chunk_bytes(), Ordering::Relaxed);
        drop(global);
        self.take_free(out, want);
        Ok(())
    }

    /// Takes up to `want` free slots, warm ones first; false when there were none.
    fn take_free(&self, out: &mut Vec<usize>, want: usize) -> bool {
        let mut guard = self.global.lock();
        let global = &mut *guard;
        let before = out.len();
        for list in [&mut global.warm, &mut global.cold] {
            let n = (want - (out.len() - before)).min(list.len());
            out.extend(list.drain(list.len() - n..));
        }
        out.len() > before
    }

    /// Returns free slots to the global lists, releasing the memory of those beyond the
    /// warm retention. The retention check is a snapshot: racing spills may overshoot it.
    pub(super) fn give_back(&self, slots: &[usize]) {
        let room = self.retained.saturating_sub(self.global.lock().warm.len());
        let (warm, cold) = slots.split_at(room.min(slots.len()));
        for &slot in cold {
            self.release(slot);
        }
        let mut global = self.global.lock();
        global.warm.extend_from_slice(warm);
        global.cold.extend_from_slice(cold);
    }

    fn release(&self, slot: usize) {
        let addr = slot + self.geometry.guard;
        // SAFETY: `addr..addr + size` is the usable part and header of a free slot in one of
        // this pool's chunks; no coroutine runs on a free stack, so dropping its pages (they
        // read back as zeros) loses nothing. The guard page is outside the range.
        let rc = unsafe {
            libc::madvise(
                addr as *mut libc::c_void,
                self.geometry.size,
                libc::MADV_DONTNEED,
            )
        };
        debug_assert_eq!(rc, 0, "MADV_DONTNEED on a free goroutine stack failed");
        self.released.fetch_add(1, Ordering::Relaxed);
    }

    /// The slow path of `get` when the thread cache is unusable (its thread is exiting).
    pub(super) fn get_uncached(&self) -> io::Result<usize> {
        let mut one = Vec::with_capacity(1);
        self.take(&mut one, 1)?;
        self.live.lock().retired += 1;
        one.pop()
            .ok_or_else(|| io::Error::other("goroutine stack pool yielded no stack"))
    }

    /// The slow path of `put` when the thread cache is unusable.
    pub(super) fn put_uncached(&self, slot: usize) {
        self.give_back(&[slot]);
        self.live.lock().retired -= 1;
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let live = self.live();
        // N.B. not while unwinding: a second panic would abort the process.
        debug_assert!(
            live == 0 || std::thread::panicking(),
            "goroutine stack pool dropped with {live} stacks still in use"
        );
        if live != 0 {
            // Never unmap memory a coroutine may still run on: leak every chunk instead.
            std::mem::forget(std::mem::take(&mut self.global.get_mut().chunks));
        }
    }
}

#[cfg(test)]
mod tests;
