//! The pool's shared state: its global free lists (warm and cold) and the
//! count of live stacks, which the per-thread caches refill from and spill
//! to (see the parent module for the memory policy).

// N.B. std atomics, `Arc` and a parking_lot mutex, not the loom shim: see the parent module.
#![allow(clippy::disallowed_types)]

use std::io;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::map::{Chunk, Geometry, GuardKind};

/// The pool's state, shared by its handle and every thread cache bound to it.
#[derive(Debug)]
pub(super) struct Shared {
    /// This pool's id, recorded in each stack it hands out.
    pub(super) id: u64,
    /// The slot layout.
    pub(super) geometry: Geometry,
    /// How guard pages are made.
    pub(super) guard: GuardKind,
    /// Warm stacks the global list keeps before it releases memory.
    pub(super) retained: usize,
    /// The free lists and every chunk.
    pub(super) global: Mutex<Global>,
    /// The parts of `live()`.
    pub(super) live: Mutex<LiveCount>,
    /// Stacks carved in total.
    pub(super) allocated: AtomicUsize,
    /// Bytes mapped in total.
    pub(super) reserved: AtomicUsize,
    /// Stacks released with `MADV_DONTNEED` so far.
    pub(super) released: AtomicUsize,
    /// Length of `Global::pending`, readable without the lock (a hint).
    pub(super) pending: AtomicUsize,
    /// A getter took stacks without committed memory (a burst of new
    /// goroutines outran the free stacks): an idle thread may warm some
    /// ahead ([`prewarm`](Self::prewarm)) until the warm list holds
    /// [`PREWARM_RESERVE`].
    pub(super) burst: AtomicBool,
    /// Stacks warmed ahead so far.
    pub(super) prewarmed: AtomicUsize,
}

/// Warm stacks [`Shared::prewarm`] keeps ready during a burst.
pub(super) const PREWARM_RESERVE: usize = 512;
/// Stacks a pool must have carved before a getter's miss starts a burst: a
/// program with a few hundred goroutines never has memory committed ahead.
pub(super) const PREWARM_AFTER: usize = 1024;

/// The global free lists (slot addresses) and every chunk. Getters take warm stacks
/// first, then pending, fresh and cold ones.
#[derive(Debug, Default)]
pub(super) struct Global {
    /// Free stacks kept committed, up to the retention.
    pub(super) warm: Vec<usize>,
    /// Free stacks beyond the retention whose memory is still committed:
    /// [`Shared::scavenge`] releases it, off the path that freed them.
    pub(super) pending: Vec<usize>,
    /// Free stacks whose memory was released.
    pub(super) cold: Vec<usize>,
    /// Stacks carved and never used: no memory committed yet.
    pub(super) fresh: Vec<usize>,
    pub(super) chunks: Vec<Chunk>,
}

/// `live()` = `retired` + the sum of each bound thread's net hand-outs.
#[derive(Debug, Default)]
pub(super) struct LiveCount {
    /// Net hand-outs of threads no longer bound, and of uncached gets and puts.
    pub(super) retired: isize,
    /// Each bound thread's published net hand-outs.
    pub(super) threads: Vec<Arc<AtomicIsize>>,
}

impl Shared {
    pub(super) fn live(&self) -> usize {
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
        self.carve()?;
        self.take_free(out, want);
        Ok(())
    }

    /// Maps a new chunk and lists its stacks as fresh.
    fn carve(&self) -> io::Result<()> {
        // Carve outside the lock: other threads keep reusing stacks meanwhile.
        let chunk = Chunk::carve(&self.geometry, self.guard)?;
        let mut global = self.global.lock();
        global.fresh.extend(chunk.slots(&self.geometry).rev());
        global.chunks.push(chunk);
        self.allocated
            .fetch_add(self.geometry.per_chunk, Ordering::Relaxed);
        self.reserved
            .fetch_add(self.geometry.chunk_bytes(), Ordering::Relaxed);
        Ok(())
    }

    /// During a burst (see [`burst`](Self::burst)), commits the top page of up to `max`
    /// fresh or cold stacks (carving a chunk when there are none) and lists them as warm, so
    /// that the getter that would have taken the page faults finds them ready. Returns how
    /// many; 0 at once outside a burst, and ends the burst once the warm list holds
    /// [`PREWARM_RESERVE`] stacks.
    pub(super) fn prewarm(&self, max: usize) -> usize {
        if !self.burst.load(Ordering::Relaxed) {
            return 0;
        }
        let mut batch = Vec::with_capacity(max);
        for attempt in 0..2 {
            let mut guard = self.global.lock();
            let global = &mut *guard;
            let room = PREWARM_RESERVE.saturating_sub(global.warm.len());
            if room == 0 {
                self.burst.store(false, Ordering::Relaxed);
                return 0;
            }
            let want = max.min(room);
            for list in [&mut global.fresh, &mut global.cold] {
                let n = (want - batch.len()).min(list.len());
                batch.extend(list.drain(list.len() - n..));
            }
            drop(guard);
            // None free: carve a chunk (once) rather than leave that to the getter.
            if !batch.is_empty() || attempt == 1 || self.carve().is_err() {
                break;
            }
        }
        for &slot in &batch {
            self.geometry.touch(slot);
        }
        let n = batch.len();
        if n > 0 {
            self.global.lock().warm.extend_from_slice(&batch);
            self.prewarmed.fetch_add(n, Ordering::Relaxed);
        }
        n
    }

    /// Takes up to `want` free slots, those with committed memory first (warm, then
    /// pending release); false when there were none.
    fn take_free(&self, out: &mut Vec<usize>, want: usize) -> bool {
        let mut guard = self.global.lock();
        let global = &mut *guard;
        let before = out.len();
        for (i, list) in [
            &mut global.warm,
            &mut global.pending,
            &mut global.fresh,
            &mut global.cold,
        ]
        .into_iter()
        .enumerate()
        {
            let n = (want - (out.len() - before)).min(list.len());
            out.extend(list.drain(list.len() - n..));
            if i == 1 {
                self.pending.store(list.len(), Ordering::Relaxed);
                if out.len() - before < want
                    && self.allocated.load(Ordering::Relaxed) >= PREWARM_AFTER
                {
                    // The committed stacks ran out: the rest come fresh or cold (or carved).
                    self.burst.store(true, Ordering::Relaxed);
                }
            }
        }
        out.len() > before
    }

    /// Returns free slots to the global lists: up to the warm retention they stay warm, the
    /// rest wait for [`scavenge`](Self::scavenge) to release their memory. The retention
    /// check is a snapshot: racing spills may overshoot it.
    pub(super) fn give_back(&self, slots: &[usize]) {
        let mut global = self.global.lock();
        let room = self.retained.saturating_sub(global.warm.len());
        let (warm, beyond) = slots.split_at(room.min(slots.len()));
        global.warm.extend_from_slice(warm);
        if !beyond.is_empty() {
            global.pending.extend_from_slice(beyond);
            self.pending.store(global.pending.len(), Ordering::Relaxed);
        }
    }

    /// Releases the memory of up to `max` free stacks beyond the retention (the most recently
    /// freed first); returns how many. The `madvise` runs outside the lock, so gets and puts
    /// go on meanwhile; the stacks are off every list until it is done.
    pub(super) fn scavenge(&self, max: usize) -> usize {
        let batch: Vec<usize> = {
            let mut global = self.global.lock();
            let n = max.min(global.pending.len());
            let at = global.pending.len() - n;
            let batch = global.pending.split_off(at);
            self.pending.store(global.pending.len(), Ordering::Relaxed);
            batch
        };
        if batch.is_empty() {
            return 0;
        }
        self.release(&batch);
        self.global.lock().cold.extend_from_slice(&batch);
        batch.len()
    }

    /// Drops the memory of free `slots`, one `madvise` per run of adjacent slots.
    ///
    /// A run spans the guard pages between its slots: `MADV_DONTNEED` keeps both kinds of
    /// guard (guard-region markers and `PROT_NONE` pages hold no memory to drop), so one
    /// call and one TLB flush serve a whole spill of neighbouring stacks instead of one each.
    pub(super) fn release(&self, slots: &[usize]) {
        if slots.is_empty() {
            return;
        }
        let mut sorted: Vec<usize> = slots.to_vec();
        sorted.sort_unstable();
        let stride = self.geometry.stride;
        let mut i = 0;
        while i < sorted.len() {
            let mut j = i + 1;
            while j < sorted.len() && sorted[j] == sorted[j - 1] + stride {
                j += 1;
            }
            // From above the first slot's guard to the end of the last slot's header.
            let addr = sorted[i] + self.geometry.guard;
            let len = (j - i - 1) * stride + self.geometry.size;
            // The range: slots are `stride` apart and each is `stride` long, so
            // `addr..addr + len` lies inside the slots `sorted[i..j]` of this pool's chunks
            // (whichever chunk each one is in): their usable parts, their headers and the
            // guards between them.
            // SAFETY: that range is all free stacks and guards, no coroutine runs on a free
            // stack, so dropping the pages (they read back as zeros) loses nothing.
            let rc = unsafe { libc::madvise(addr as *mut libc::c_void, len, libc::MADV_DONTNEED) };
            debug_assert_eq!(rc, 0, "MADV_DONTNEED on free goroutine stacks failed");
            i = j;
        }
        self.released.fetch_add(slots.len(), Ordering::Relaxed);
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
