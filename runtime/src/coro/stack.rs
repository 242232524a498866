//! Goroutine stacks: carved from large mappings, guarded, and pooled.
//!
//! One `corosensei::DefaultStack` costs two kernel mappings (a `PROT_NONE` guard and the stack),
//! and `vm.max_map_count` (65530 by default) caps a process near 32k of them. gort must hold
//! 100,000 live goroutines, so a [`StackPool`] maps stacks in chunks instead:
//!
//! ```text
//!  chunk start                                                                  chunk end
//!  |<------------------ stride ------------------>|<------------ stride ------------>|
//!  +-------+------------------------------+-------+-------+-----------------+-------+--
//!  | guard |  usable stack (grows down)   |header | guard |      ...        |header | ..
//!  +-------+------------------------------+-------+-------+-----------------+-------+--
//!  ^ limit()                              ^ base()
//!          |<------------- size (the goroutine stack limit) ------------->|
//! ```
//!
//! - A chunk is ONE anonymous `MAP_NORESERVE` read/write mapping of up to [`CHUNK_STACKS`]
//!   slots; memory is committed lazily, page by page, as a goroutine touches it (about one
//!   4 KiB page for a goroutine that never goes deep).
//! - Each slot begins with a one-page guard. [`GuardKind::Madvise`] installs it with
//!   `madvise(MADV_GUARD_INSTALL)` (Linux 6.13+), which marks page-table entries and does not
//!   split the mapping: a chunk stays one kernel mapping whatever its stack count.
//!   [`GuardKind::Mprotect`] is the fallback when that call returns `EINVAL`: `mprotect`
//!   splits the mapping into two per stack, so `vm.max_map_count` again limits a process to
//!   about 32k stacks, and carving past it fails with `ENOMEM`.
//! - One guard page is enough for Rust code: frames larger than a page touch every page on
//!   the way down (stack probes), so none can step over the guard into the stack below.
//!   Foreign code built without stack-clash protection could.
//! - The top [`HEADER_BYTES`] of each slot are the header: the owner word written by
//!   [`PooledStack::set_owner`] and read by the overflow handler (`super::overflow`). The
//!   coroutine's frames live strictly below [`Stack::base`].
//!
//! # Pool
//!
//! Free stacks sit in two tiers, after Go's per-P stack cache:
//!
//! 1. a per-thread cache of up to [`CACHE_STACKS`] stacks for the pool the thread last used:
//!    `get`/`put` touch only it, with no atomic read-modify-write, no lock and no syscall;
//! 2. the pool's global lists, behind a mutex, which a cache refills from or spills to in
//!    batches of [`CACHE_BATCH`].
//!
//! When the global lists are empty a new chunk is carved (one `mmap` and one guard call per
//! slot). Stacks are never unmapped while the pool lives, so in steady state the spawn path
//! makes no syscall.
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
//! `MAP_NORESERVE` keeps the reserved address space (about 25 GiB for 100k default stacks) out
//! of the commit charge under the default `vm.overcommit_memory` modes 0 and 1; mode 2 (strict
//! accounting) ignores the flag and would refuse such a reservation.
//!
//! # Lifetime
//!
//! The pool unmaps its chunks when dropped with no stack handed out. Dropping it while a
//! stack is still live is a bug (debug builds assert); release builds then leak the chunks
//! rather than unmap memory a coroutine may still run on, so a [`PooledStack`] can never
//! dangle.
//!
//! The per-thread cache lives in [`cache`].

// N.B. shared state here uses std atomics and `Arc` directly, not the loom shim: this module
// is never modelled under loom (it maps memory), and the overflow handler reads the same
// words from a signal handler.
#![allow(clippy::disallowed_types)]

use std::io;
use std::num::NonZeroUsize;
use std::ptr;
use std::sync::atomic::{AtomicIsize, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

use corosensei::stack::{Stack, StackPointer};
use parking_lot::Mutex;

use super::overflow::{self, Registration};

mod cache;

use cache::{cache_get, cache_put};

/// Smallest stack a pool hands out, in bytes: the default panic hook alone needs ~22 KiB.
pub(crate) const MIN_STACK_BYTES: usize = 64 * 1024;
/// The runtime's default goroutine stack size, in bytes.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const DEFAULT_STACK_BYTES: usize = 256 * 1024;
/// Bytes at the top of each slot reserved for the header (owner word); keeps `base` 64-aligned.
pub(super) const HEADER_BYTES: usize = 64;
/// Most slots carved by one `mmap`.
pub(crate) const CHUNK_STACKS: usize = 256;
/// Upper bound on one chunk's mapping, so huge stack sizes carve fewer slots per chunk.
const MAX_CHUNK_BYTES: usize = 1 << 30;
/// Capacity of a thread's cache of free stacks.
pub(crate) const CACHE_STACKS: usize = 32;
/// Stacks moved between a thread cache and the global lists at a time.
pub(crate) const CACHE_BATCH: usize = CACHE_STACKS / 2;
/// Free stacks the global list keeps committed before it releases memory.
pub(crate) const DEFAULT_RETAINED_STACKS: usize = 1024;
/// `MADV_GUARD_INSTALL` from Linux 6.13's `<asm-generic/mman-common.h>` (not yet in `libc`).
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// How a pool makes the guard page at the low end of each stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GuardKind {
    /// `madvise(MADV_GUARD_INSTALL)`: no mapping split; a chunk is one kernel mapping.
    Madvise,
    /// `mprotect(PROT_NONE)`: two kernel mappings per stack (limits a process to ~32k stacks).
    Mprotect,
}

const GUARD_UNKNOWN: u8 = 0;
const GUARD_MADVISE: u8 = 1;
const GUARD_MPROTECT: u8 = 2;
/// The kernel's guard support, probed once per process.
static KERNEL_GUARD: AtomicU8 = AtomicU8::new(GUARD_UNKNOWN);
/// Source of pool ids; a stack records its pool's id so `put` can reject a foreign stack.
static NEXT_POOL_ID: AtomicU64 = AtomicU64::new(1);

impl GuardKind {
    /// The best guard this kernel supports (probed once: `EINVAL` means no guard regions).
    pub(crate) fn detect() -> GuardKind {
        match KERNEL_GUARD.load(Ordering::Relaxed) {
            GUARD_MADVISE => return GuardKind::Madvise,
            GUARD_MPROTECT => return GuardKind::Mprotect,
            _ => {}
        }
        let page = page_size();
        let kind = match Mapping::new(2 * page) {
            Ok(probe) => match install_guard(probe.start, page, GuardKind::Madvise) {
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => GuardKind::Mprotect,
                // Any other failure is not a verdict on the kernel: carving reports it.
                _ => GuardKind::Madvise,
            },
            Err(_) => GuardKind::Madvise,
        };
        let code = if kind == GuardKind::Madvise {
            GUARD_MADVISE
        } else {
            GUARD_MPROTECT
        };
        KERNEL_GUARD.store(code, Ordering::Relaxed);
        kind
    }
}

/// Slot geometry shared by every stack of one pool.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    /// Guard bytes at the low end of a slot (one page).
    guard: usize,
    /// Bytes above the guard: usable stack plus header; the reported stack limit.
    size: usize,
    /// `guard + size`: distance between slots.
    stride: usize,
    /// Slots per chunk.
    per_chunk: usize,
}

impl Geometry {
    fn new(stack_size: usize) -> io::Result<Geometry> {
        let page = page_size();
        let size = stack_size
            .max(MIN_STACK_BYTES)
            .checked_next_multiple_of(page)
            .ok_or_else(|| too_large(stack_size))?;
        let stride = size
            .checked_add(page)
            .ok_or_else(|| too_large(stack_size))?;
        let per_chunk = (MAX_CHUNK_BYTES / stride).clamp(1, CHUNK_STACKS);
        stride
            .checked_mul(per_chunk)
            .ok_or_else(|| too_large(stack_size))?;
        Ok(Geometry {
            guard: page,
            size,
            stride,
            per_chunk,
        })
    }

    fn chunk_bytes(&self) -> usize {
        self.stride * self.per_chunk
    }

    /// The usable range of a slot: above its guard, below the header.
    fn stack_of(&self, slot: usize, pool: u64) -> PooledStack {
        let base = slot + self.stride - HEADER_BYTES;
        PooledStack {
            // N.B. a slot address comes from a successful mmap, which never returns page 0.
            limit: NonZeroUsize::new(slot).unwrap_or(NonZeroUsize::MIN),
            base: NonZeroUsize::new(base).unwrap_or(NonZeroUsize::MIN),
            pool,
        }
    }
}

fn too_large(stack_size: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("goroutine stack size {stack_size} is too large for a stack chunk"),
    )
}

fn page_size() -> usize {
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(page)
        .ok()
        .filter(|p| p.is_power_of_two())
        .unwrap_or(4096)
}

/// An anonymous read/write `MAP_NORESERVE` mapping, unmapped on drop.
#[derive(Debug)]
struct Mapping {
    start: usize,
    len: usize,
}

impl Mapping {
    fn new(len: usize) -> io::Result<Mapping> {
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
        let prot = libc::PROT_READ | libc::PROT_WRITE;
        // SAFETY: a fresh anonymous mapping at an address of the kernel's choosing (no
        // MAP_FIXED) cannot alias or replace any existing memory.
        let addr = unsafe { libc::mmap(ptr::null_mut(), len, prot, flags, -1, 0) };
        if addr == libc::MAP_FAILED {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("mmap of a {len}-byte goroutine stack chunk failed: {e}"),
            ));
        }
        Ok(Mapping {
            start: addr as usize,
            len,
        })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `start..start + len` is a mapping this value created and owns; every stack
        // carved from it has been returned (see `Shared::drop`), so nothing still uses it.
        let rc = unsafe { libc::munmap(self.start as *mut libc::c_void, self.len) };
        debug_assert_eq!(rc, 0, "munmap of a goroutine stack chunk failed");
    }
}

fn install_guard(addr: usize, len: usize, kind: GuardKind) -> io::Result<()> {
    let rc = match kind {
        // SAFETY: `addr..addr + len` is page-aligned and inside a mapping owned by the
        // caller that no stack uses yet; a guard region only makes those pages fault.
        GuardKind::Madvise => unsafe {
            libc::madvise(addr as *mut libc::c_void, len, MADV_GUARD_INSTALL)
        },
        // SAFETY: as above; PROT_NONE only makes those pages fault.
        GuardKind::Mprotect => unsafe {
            libc::mprotect(addr as *mut libc::c_void, len, libc::PROT_NONE)
        },
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One carved chunk: its guarded mapping, registered with the overflow handler.
#[derive(Debug)]
struct Chunk {
    // N.B. field order is drop order: unregister before unmapping.
    _registration: Registration,
    mapping: Mapping,
}

impl Chunk {
    fn carve(geometry: &Geometry, guard: GuardKind) -> io::Result<Chunk> {
        let mapping = Mapping::new(geometry.chunk_bytes())?;
        for i in 0..geometry.per_chunk {
            let slot = mapping.start + i * geometry.stride;
            if let Err(e) = install_guard(slot, geometry.guard, guard) {
                let hint = if e.raw_os_error() == Some(libc::ENOMEM) {
                    " (vm.max_map_count reached: mprotect guards cost two mappings per stack)"
                } else {
                    ""
                };
                return Err(io::Error::new(
                    e.kind(),
                    format!("installing the {guard:?} guard page of goroutine stack {i} of a new chunk failed: {e}{hint}"),
                ));
            }
        }
        let registration = overflow::register(
            mapping.start,
            mapping.len,
            geometry.stride,
            geometry.guard,
            geometry.size,
        )?;
        Ok(Chunk {
            _registration: registration,
            mapping,
        })
    }

    fn slots<'a>(&self, geometry: &'a Geometry) -> impl DoubleEndedIterator<Item = usize> + 'a {
        let start = self.mapping.start;
        (0..geometry.per_chunk).map(move |i| start + i * geometry.stride)
    }
}

/// A goroutine stack from a [`StackPool`]; return it with [`StackPool::put`].
///
/// Dropping it instead leaks the stack (it stays counted by [`StackPool::live`]).
#[derive(Debug)]
pub(crate) struct PooledStack {
    /// Lowest address of the slot, guard included.
    limit: NonZeroUsize,
    /// Top of the usable stack; the header lies just above.
    base: NonZeroUsize,
    /// Id of the pool that carved it.
    pool: u64,
}

impl PooledStack {
    /// Records which goroutine runs on this stack, for the overflow report.
    pub(crate) fn set_owner(&mut self, goroutine_id: u64) {
        self.owner_word().store(goroutine_id, Ordering::Relaxed);
    }

    /// The goroutine id last recorded by [`set_owner`](Self::set_owner) (0 after release).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn owner(&self) -> u64 {
        self.owner_word().load(Ordering::Relaxed)
    }

    fn owner_word(&self) -> &AtomicU64 {
        let word = self.base.get() as *mut u64;
        // `base..base + HEADER_BYTES` is this slot's header inside a live chunk (a pool never
        // unmaps a chunk while any of its stacks is handed out); `base` is 64-byte aligned.
        // SAFETY: coroutine frames lie strictly below `base`, so the word is accessed only
        // atomically, by this handle and by the overflow handler; the returned borrow is tied
        // to `&self`, which keeps the mapping alive.
        unsafe { AtomicU64::from_ptr(word) }
    }
}

// SAFETY: `limit..base` lies in a read/write mapping that stays mapped while this handle
// exists (see `Shared::drop`); its low page is a guard page that faults on access, and the
// usable part is at least MIN_STACK_BYTES - HEADER_BYTES > corosensei's 4 KiB minimum. Both
// ends are 64-byte aligned (slots and strides are page multiples), satisfying
// STACK_ALIGNMENT. The handle is the stack's only owner until it is given back by value.
unsafe impl Stack for PooledStack {
    #[inline]
    fn base(&self) -> StackPointer {
        self.base
    }

    #[inline]
    fn limit(&self) -> StackPointer {
        self.limit
    }
}

/// A pool of guarded goroutine stacks of one size; `Sync`, shared by every worker.
#[derive(Debug)]
pub(crate) struct StackPool {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    id: u64,
    geometry: Geometry,
    guard: GuardKind,
    retained: usize,
    global: Mutex<Global>,
    live: Mutex<LiveCount>,
    allocated: AtomicUsize,
    reserved: AtomicUsize,
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
struct LiveCount {
    retired: isize,
    threads: Vec<Arc<AtomicIsize>>,
}

impl StackPool {
    /// A pool of `stack_size`-byte stacks (rounded up to pages, at least [`MIN_STACK_BYTES`]),
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
    fn take(&self, out: &mut Vec<usize>, want: usize) -> io::Result<()> {
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
    fn give_back(&self, slots: &[usize]) {
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

    /// The slow path when the thread cache is unusable (its thread is exiting).
    fn get_uncached(&self) -> io::Result<usize> {
        let mut one = Vec::with_capacity(1);
        self.take(&mut one, 1)?;
        self.live.lock().retired += 1;
        one.pop()
            .ok_or_else(|| io::Error::other("goroutine stack pool yielded no stack"))
    }

    fn put_uncached(&self, slot: usize) {
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
mod tests {
    use super::*;
    use corosensei::{Coroutine, CoroutineResult};
    use std::process::{Command, Output};

    /// Set in a re-executed test binary: which child scenario to run.
    const CHILD_ENV: &str = "GORT_STACK_TEST_CHILD";

    fn maps_lines() -> usize {
        std::fs::read_to_string("/proc/self/maps")
            .map(|m| m.lines().count())
            .unwrap_or(0)
    }

    /// Resident bytes of `pool`'s chunks, by `mincore`: immune to other tests' allocations.
    fn resident_bytes(pool: &StackPool) -> usize {
        let page = page_size();
        let global = pool.shared.global.lock();
        let mut resident = 0;
        for chunk in &global.chunks {
            let mut vec = vec![0u8; chunk.mapping.len / page];
            let addr = chunk.mapping.start as *mut libc::c_void;
            // SAFETY: the range is one of the pool's live mappings and `vec` has one byte per
            // page of it; mincore only writes into `vec`.
            let rc = unsafe { libc::mincore(addr, chunk.mapping.len, vec.as_mut_ptr()) };
            assert_eq!(rc, 0, "mincore: {}", io::Error::last_os_error());
            resident += vec.iter().filter(|&&b| b & 1 != 0).count() * page;
        }
        resident
    }

    /// Runs this binary's test `name` (in this module) in a child with `CHILD_ENV=mode`.
    fn run_child(name: &str, mode: &str, env: &[(&str, &str)]) -> Output {
        let module = module_path!().split_once("::").map_or("", |(_, rest)| rest);
        let exe = std::env::current_exe().expect("the test binary's path");
        let mut cmd = Command::new(exe);
        cmd.args([
            "--exact",
            &format!("{module}::{name}"),
            "--nocapture",
            "--test-threads=1",
        ]);
        cmd.env(CHILD_ENV, mode);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("re-executing the test binary")
    }

    fn child_mode() -> Option<String> {
        std::env::var(CHILD_ENV).ok()
    }

    /// Bytes of `stack` ever written, found as the lowest non-zero word of a fresh stack.
    fn high_water(stack: &PooledStack, geometry: &Geometry) -> usize {
        let low = stack.limit.get() + geometry.guard;
        let len = stack.base.get() - low;
        // SAFETY: `low..base` is the usable part of a stack this test owns; no coroutine runs
        // on it now, and reading never-touched anonymous pages yields zeros.
        let words = unsafe { std::slice::from_raw_parts(low as *const u64, len / 8) };
        let first = words.iter().position(|&w| w != 0).unwrap_or(words.len());
        len - first * 8
    }

    #[inline(never)]
    fn recurse(depth: u64) -> u64 {
        let frame = std::hint::black_box([depth; 32]);
        if std::hint::black_box(depth) == u64::MAX {
            return 0;
        }
        recurse(depth + 1).wrapping_add(frame[(depth % 32) as usize])
    }

    #[test]
    fn geometry_rounds_to_pages_with_a_64k_minimum() {
        let page = page_size();
        let g = Geometry::new(1).expect("tiny size");
        assert_eq!(g.size, MIN_STACK_BYTES);
        let g = Geometry::new(DEFAULT_STACK_BYTES + 1).expect("default + 1");
        assert_eq!(g.size, DEFAULT_STACK_BYTES + page);
        assert_eq!(g.stride, g.size + page);
        assert_eq!(g.per_chunk, CHUNK_STACKS);
        let g = Geometry::new(64 << 20).expect("64 MiB");
        assert_eq!(g.per_chunk, 15, "a chunk stays under 1 GiB");
        assert!(Geometry::new(usize::MAX - 10).is_err());
    }

    #[test]
    fn stack_bounds_are_aligned_and_inside_a_guarded_slot() {
        let pool = StackPool::new(DEFAULT_STACK_BYTES).expect("pool");
        let stack = pool.get().expect("stack");
        let (base, limit) = (stack.base().get(), stack.limit().get());
        assert_eq!(limit % page_size(), 0);
        assert_eq!(base % corosensei::stack::STACK_ALIGNMENT, 0);
        assert_eq!(
            base - limit,
            page_size() + DEFAULT_STACK_BYTES - HEADER_BYTES
        );
        assert_eq!(pool.stack_size(), DEFAULT_STACK_BYTES);
        pool.put(stack);
    }

    #[test]
    fn hundred_thousand_live_stacks_share_few_mappings() {
        const N: usize = 100_000;
        let pool = StackPool::new(DEFAULT_STACK_BYTES).expect("pool");
        assert_eq!(
            pool.guard_kind(),
            GuardKind::Madvise,
            "this kernel has MADV_GUARD_INSTALL"
        );
        let maps_before = maps_lines();
        let mut stacks = Vec::with_capacity(N);
        for i in 0..N {
            let mut stack = pool.get().expect("stack");
            // Touch the stack near its top: the owner word sits just above `base`.
            stack.set_owner(i as u64 + 1);
            stacks.push(stack);
        }
        let (maps_after, rss) = (maps_lines(), resident_bytes(&pool));
        assert_eq!(pool.live(), N);
        assert!(pool.allocated() >= N && pool.allocated() < N + CHUNK_STACKS);
        assert_eq!(
            pool.reserved_bytes(),
            pool.allocated() / CHUNK_STACKS * (CHUNK_STACKS * (DEFAULT_STACK_BYTES + page_size()))
        );
        let grew = maps_after.saturating_sub(maps_before);
        let rss_per_stack = rss / N;
        eprintln!(
            "{N} live stacks: /proc/self/maps {maps_before} -> {maps_after} lines, \
             resident {} MiB ({rss_per_stack} bytes per touched stack), reserved {} GiB",
            rss >> 20,
            pool.reserved_bytes() >> 30,
        );
        assert!(
            grew < 1_000,
            "kernel mappings grew by {grew} for {N} stacks"
        );
        assert!(rss_per_stack >= page_size(), "every stack was touched");
        assert!(
            rss_per_stack < 2 * page_size(),
            "{rss_per_stack} bytes of RSS per stack"
        );
        for (i, stack) in stacks.iter().enumerate() {
            assert_eq!(stack.owner(), i as u64 + 1);
        }

        for stack in stacks.drain(..) {
            pool.put(stack);
        }
        let kept = resident_bytes(&pool);
        eprintln!(
            "after returning them: resident {} KiB, {} stacks released",
            kept >> 10,
            pool.released()
        );
        assert_eq!(pool.live(), 0);
        assert!(pool.released() >= N - DEFAULT_RETAINED_STACKS - CACHE_STACKS);
        let warm = (DEFAULT_RETAINED_STACKS + CACHE_STACKS) * page_size();
        assert!(
            kept <= warm,
            "{kept} bytes still resident after release; at most {warm} expected"
        );
        drop(pool);
        assert!(
            maps_lines() <= maps_before + 50,
            "dropping the pool unmaps its chunks"
        );
    }

    #[test]
    fn get_put_cycles_reuse_stacks() {
        let pool = StackPool::new(MIN_STACK_BYTES).expect("pool");
        let mut held = Vec::new();
        for round in 0..200 {
            for _ in 0..(round % 100) {
                held.push(pool.get().expect("stack"));
            }
            for stack in held.drain(..) {
                pool.put(stack);
            }
        }
        assert_eq!(
            pool.allocated(),
            CHUNK_STACKS,
            "one chunk serves every cycle"
        );
        assert_eq!(pool.live(), 0);
        assert_eq!(pool.released(), 0, "nothing beyond the retention was freed");
    }

    #[test]
    fn stacks_move_between_threads_and_exiting_threads_return_their_cache() {
        let pool = Arc::new(StackPool::new(MIN_STACK_BYTES).expect("pool"));
        for _ in 0..50 {
            let getter = Arc::clone(&pool);
            let stacks = std::thread::spawn(move || {
                (0..40)
                    .map(|_| getter.get().expect("stack"))
                    .collect::<Vec<_>>()
            })
            .join()
            .expect("getter thread");
            assert_eq!(pool.live(), 40);
            let putter = Arc::clone(&pool);
            std::thread::spawn(move || stacks.into_iter().for_each(|s| putter.put(s)))
                .join()
                .expect("putter thread");
            assert_eq!(pool.live(), 0);
        }
        assert_eq!(
            pool.allocated(),
            CHUNK_STACKS,
            "exited threads gave their caches back"
        );
    }

    #[test]
    fn counters_track_live_allocated_and_reserved() {
        let pool = StackPool::with_options(100_000, 0, GuardKind::detect()).expect("pool");
        assert_eq!(
            (pool.live(), pool.allocated(), pool.reserved_bytes()),
            (0, 0, 0)
        );
        let stacks: Vec<_> = (0..3).map(|_| pool.get().expect("stack")).collect();
        let size = 100_000usize.next_multiple_of(page_size());
        assert_eq!((pool.live(), pool.allocated()), (3, CHUNK_STACKS));
        assert_eq!(pool.reserved_bytes(), CHUNK_STACKS * (size + page_size()));
        stacks.into_iter().for_each(|s| pool.put(s));
        assert_eq!(pool.live(), 0);
        // Retention 0: spilling a cache releases what it spills.
        let stacks: Vec<_> = (0..CACHE_STACKS + 1)
            .map(|_| pool.get().expect("stack"))
            .collect();
        stacks.into_iter().for_each(|s| pool.put(s));
        assert_eq!(pool.released(), CACHE_BATCH);
    }

    #[test]
    #[should_panic(expected = "did not carve it")]
    fn put_of_a_foreign_stack_panics() {
        let a = StackPool::new(MIN_STACK_BYTES).expect("pool a");
        let b = StackPool::new(MIN_STACK_BYTES).expect("pool b");
        let stack = a.get().expect("stack");
        b.put(stack);
    }

    #[test]
    fn coroutines_run_on_pooled_stacks_and_give_them_back() {
        let pool = StackPool::new(DEFAULT_STACK_BYTES).expect("pool");
        for i in 0..1_000u64 {
            let mut stack = pool.get().expect("stack");
            stack.set_owner(i);
            let mut co = Coroutine::with_stack(stack, move |y, x: u64| {
                let z = y.suspend(x + 1);
                z * 2
            });
            assert!(matches!(co.resume(i), CoroutineResult::Yield(v) if v == i + 1));
            assert!(matches!(co.resume(5), CoroutineResult::Return(10)));
            let stack = co.into_stack();
            assert_eq!(stack.owner(), i);
            pool.put(stack);
        }
        assert_eq!(pool.allocated(), CHUNK_STACKS);
        assert_eq!(pool.live(), 0);
    }

    /// In a child: a coroutine on a pooled stack of `mode`'s guard kind recurses forever.
    fn overflow_child(mode: &str) -> ! {
        let guard = if mode == "mprotect" {
            GuardKind::Mprotect
        } else {
            GuardKind::Madvise
        };
        overflow::install();
        overflow::try_ensure_altstack().expect("alternate signal stack");
        let pool = StackPool::with_options(DEFAULT_STACK_BYTES, 16, guard).expect("pool");
        let mut stack = pool.get().expect("stack");
        stack.set_owner(17);
        let mut co = Coroutine::<(), (), u64, _>::with_stack(stack, |_, ()| recurse(0));
        let _ = co.resume(());
        eprintln!("the unbounded recursion returned");
        std::process::exit(3)
    }

    fn assert_go_overflow_report(out: &Output) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "child status {:?}, stderr:\n{stderr}",
            out.status
        );
        assert!(
            stderr.contains("runtime: goroutine stack exceeds 262144-byte limit\n"),
            "stderr:\n{stderr}"
        );
        assert!(
            stderr.contains("\nfatal error: stack overflow\n\ngoroutine 17 [running]:\n"),
            "stderr:\n{stderr}"
        );
    }

    #[test]
    fn overflow_on_a_madvise_guard_reports_like_go_and_exits_2() {
        if let Some(mode) = child_mode() {
            overflow_child(&mode);
        }
        let out = run_child(
            "overflow_on_a_madvise_guard_reports_like_go_and_exits_2",
            "madvise",
            &[],
        );
        assert_go_overflow_report(&out);
    }

    #[test]
    fn overflow_on_an_mprotect_guard_reports_like_go_and_exits_2() {
        if let Some(mode) = child_mode() {
            overflow_child(&mode);
        }
        let out = run_child(
            "overflow_on_an_mprotect_guard_reports_like_go_and_exits_2",
            "mprotect",
            &[],
        );
        assert_go_overflow_report(&out);
    }

    #[test]
    fn thread_stack_overflow_still_reaches_std_handler() {
        if child_mode().is_some() {
            overflow::install();
            let t = std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(|| recurse(0));
            let _ = t.expect("spawn").join();
            std::process::exit(3);
        }
        let out = run_child(
            "thread_stack_overflow_still_reaches_std_handler",
            "thread",
            &[],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("has overflowed its stack"),
            "std's report is missing:\n{stderr}"
        );
        assert!(
            !stderr.contains("goroutine"),
            "a thread overflow was reported as a goroutine's:\n{stderr}"
        );
        assert_ne!(out.status.code(), Some(2));
        assert_ne!(out.status.code(), Some(3));
    }

    #[test]
    fn other_faults_keep_their_default_action() {
        if child_mode().is_some() {
            overflow::install();
            let pool = StackPool::new(MIN_STACK_BYTES).expect("pool");
            let stack = pool.get().expect("stack");
            let page = Mapping::new(page_size()).expect("mapping");
            install_guard(page.start, page_size(), GuardKind::Mprotect).expect("PROT_NONE");
            // SAFETY: the address is this child's own page-aligned mapping, so the read can
            // touch no other memory; it is PROT_NONE, so the read faults before producing a
            // value, which is what this child exists to do.
            let v = unsafe { ptr::read_volatile(page.start as *const u8) };
            eprintln!("read {v} from a PROT_NONE page");
            pool.put(stack);
            std::process::exit(3);
        }
        let out = run_child("other_faults_keep_their_default_action", "fault", &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGSEGV),
            "{:?}:\n{stderr}",
            out.status
        );
        assert!(!stderr.contains("goroutine"), "{stderr}");
    }

    #[test]
    fn mprotect_guards_cost_two_mappings_per_stack() {
        let pool = StackPool::with_options(MIN_STACK_BYTES, 16, GuardKind::Mprotect).expect("pool");
        let before = maps_lines();
        let stack = pool.get().expect("stack");
        let grew = maps_lines().saturating_sub(before);
        assert!(
            grew >= 2 * CHUNK_STACKS - 1,
            "only {grew} new mappings for {CHUNK_STACKS} mprotect guards"
        );
        pool.put(stack);
    }

    /// Runs a coroutine that panics under the default hook; returns its stack high-water mark.
    fn panic_in_a_coroutine() -> usize {
        let pool = StackPool::new(DEFAULT_STACK_BYTES).expect("pool");
        let stack = pool.get().expect("stack");
        let geometry = pool.shared.geometry;
        let mut co = Coroutine::<(), (), (), _>::with_stack(stack, |_, ()| {
            panic!("a goroutine panicked on purpose");
        });
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| co.resume(())));
        let payload = caught.expect_err("the panic reaches the resumer");
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"a goroutine panicked on purpose")
        );
        let stack = co.into_stack();
        let used = high_water(&stack, &geometry);
        pool.put(stack);
        used
    }

    #[test]
    fn default_panic_hook_fits_in_a_default_stack() {
        if child_mode().is_some() {
            overflow::install();
            overflow::try_ensure_altstack().expect("alternate signal stack");
            println!("high-water {}", panic_in_a_coroutine());
            return;
        }
        let used = panic_in_a_coroutine();
        eprintln!(
            "panic with the default hook used {used} bytes of a {DEFAULT_STACK_BYTES}-byte stack"
        );
        assert!(
            used > 1024 && used < DEFAULT_STACK_BYTES / 2,
            "{used} bytes"
        );
        // With a symbolised backtrace, the hook's deepest path, in a fresh process.
        let out = run_child(
            "default_panic_hook_fits_in_a_default_stack",
            "panic",
            &[("RUST_BACKTRACE", "full")],
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "child {:?}:\n{stderr}", out.status);
        assert!(
            stderr.contains("a goroutine panicked on purpose"),
            "{stderr}"
        );
        assert!(stderr.contains("stack backtrace:"), "{stderr}");
        let used: usize = stdout
            .lines()
            .find_map(|l| l.split_once("high-water ").map(|(_, n)| n))
            .and_then(|n| n.trim().parse().ok())
            .expect("the child's high-water line");
        eprintln!("panic with RUST_BACKTRACE=full used {used} bytes of a {DEFAULT_STACK_BYTES}-byte stack");
        assert!(used < DEFAULT_STACK_BYTES - 4096, "{used} bytes");
    }

    #[test]
    fn pool_is_send_and_sync_and_stacks_are_send() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<StackPool>();
        send::<PooledStack>();
    }

    #[test]
    fn dropping_the_pool_unmaps_and_unregisters_its_chunks() {
        // In a child, so no other test maps memory into the freed range before the check.
        if child_mode().is_some() {
            let pool = StackPool::new(MIN_STACK_BYTES).expect("pool");
            let stacks: Vec<_> = (0..CHUNK_STACKS + 1)
                .map(|_| pool.get().expect("stack"))
                .collect();
            stacks.into_iter().for_each(|s| pool.put(s));
            let chunks: Vec<(usize, usize)> = pool
                .shared
                .global
                .lock()
                .chunks
                .iter()
                .map(|c| (c.mapping.start, c.mapping.len))
                .collect();
            assert_eq!(chunks.len(), 2);
            drop(pool);
            let mut vec = vec![0u8; chunks[0].1 / page_size()];
            for (start, len) in chunks {
                // SAFETY: mincore only inspects the range and writes one byte per page into
                // `vec`, which is large enough; an unmapped range makes it fail with ENOMEM.
                let rc =
                    unsafe { libc::mincore(start as *mut libc::c_void, len, vec.as_mut_ptr()) };
                let errno = io::Error::last_os_error().raw_os_error();
                assert!(
                    rc == -1 && errno == Some(libc::ENOMEM),
                    "chunk at {start:#x} is still mapped"
                );
                assert!(
                    overflow::find_guard_for_test(start).is_none(),
                    "chunk at {start:#x} is still registered"
                );
            }
            return;
        }
        let out = run_child(
            "dropping_the_pool_unmaps_and_unregisters_its_chunks",
            "unmap",
            &[],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
    }
}
