//! The memory under goroutine stacks: chunk mappings, guard pages and slot geometry.
//!
//! A chunk is ONE anonymous `MAP_NORESERVE` read/write mapping cut into equal slots:
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
//! - [`Geometry`] fixes one pool's slot layout: the size rounded up to pages (at least
//!   [`MIN_STACK_BYTES`]), one guard page, and up to [`CHUNK_STACKS`] slots per chunk, fewer
//!   for huge stacks so that a chunk stays under 1 GiB. Memory is committed lazily, page by
//!   page, as a goroutine touches it (about one 4 KiB page for a goroutine that never goes
//!   deep).
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
//!   [`PooledStack::set_owner`] and read by the overflow handler (`coro::overflow`).
//!   The coroutine's frames live strictly below [`Stack::base`].
//! - A [`Chunk`] registers itself with the overflow handler when carved and unregisters
//!   before it is unmapped, so the handler only ever looks at mapped memory.
//!
//! `MAP_NORESERVE` keeps the reserved address space (about 25 GiB for 100k default stacks) out
//! of the commit charge under the default `vm.overcommit_memory` modes 0 and 1; mode 2 (strict
//! accounting) ignores the flag and would refuse such a reservation.

// N.B. std atomics, not the loom shim: see the parent module.
#![allow(clippy::disallowed_types)]

use std::io;
use std::num::NonZeroUsize;
use std::ptr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use corosensei::stack::{Stack, StackPointer};

use super::super::overflow::{self, Registration};
use super::{CHUNK_STACKS, HEADER_BYTES, MIN_STACK_BYTES};

/// Upper bound on one chunk's mapping, so huge stack sizes carve fewer slots per chunk.
const MAX_CHUNK_BYTES: usize = 1 << 30;
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
pub(super) struct Geometry {
    /// Guard bytes at the low end of a slot (one page).
    pub(super) guard: usize,
    /// Bytes above the guard: usable stack plus header; the reported stack limit.
    pub(super) size: usize,
    /// `guard + size`: distance between slots.
    pub(super) stride: usize,
    /// Slots per chunk.
    pub(super) per_chunk: usize,
}

impl Geometry {
    /// The layout of `stack_size`-byte stacks.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if a slot of that size cannot be laid out in a chunk.
    pub(super) fn new(stack_size: usize) -> io::Result<Geometry> {
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

    /// Bytes of one chunk's mapping.
    pub(super) fn chunk_bytes(&self) -> usize {
        self.stride * self.per_chunk
    }

    /// Commits the top page of the free slot `slot` (its header's page, where a new
    /// coroutine's first frames go) by writing its owner word.
    pub(super) fn touch(&self, slot: usize) {
        let word = (slot + self.stride - HEADER_BYTES) as *mut u64;
        // `slot` is a free slot of a mapped chunk of this geometry, so `word` is the first
        // word of its header: inside the mapping, 64-byte aligned, and used by nobody (no
        // stack is handed out from the slot; the overflow handler reads headers only on a
        // fault in a handed-out stack's guard).
        // SAFETY: as above; the atomic store writes the value a released slot reads anyway.
        unsafe { AtomicU64::from_ptr(word) }.store(0, Ordering::Relaxed);
    }

    /// The usable range of a slot: above its guard, below the header.
    pub(super) fn stack_of(&self, slot: usize, pool: u64) -> PooledStack {
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

/// The system page size (4096 if the system does not say).
pub(in crate::coro) fn page_size() -> usize {
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(page)
        .ok()
        .filter(|p| p.is_power_of_two())
        .unwrap_or(4096)
}

/// An anonymous read/write `MAP_NORESERVE` mapping, unmapped on drop.
#[derive(Debug)]
pub(super) struct Mapping {
    /// First byte of the mapping.
    pub(super) start: usize,
    /// Length in bytes.
    pub(super) len: usize,
}

impl Mapping {
    /// Maps `len` fresh bytes.
    ///
    /// # Errors
    ///
    /// The OS error of `mmap`, with context.
    pub(super) fn new(len: usize) -> io::Result<Mapping> {
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
        let prot = libc::PROT_READ | libc::PROT_WRITE;
        // SAFETY: a fresh anonymous mapping at an address of the kernel's choosing (no
        // MAP_FIXED) cannot alias or replace any existing memory.
        let addr = unsafe { libc::mmap(ptr::null_mut(), len, prot, flags, -1, 0) };
        if addr == libc::MAP_FAILED {
            let e = io::Error::last_os_error();
            let hint = if e.raw_os_error() == Some(libc::ENOMEM) {
                " (the address-space limit, `ulimit -v`, or vm.max_map_count reached)"
            } else {
                ""
            };
            return Err(io::Error::new(
                e.kind(),
                format!("mmap of a {len}-byte goroutine stack chunk failed: {e}{hint}"),
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
        // carved from it has been returned (see the pool's `Shared::drop`), so nothing uses it.
        let rc = unsafe { libc::munmap(self.start as *mut libc::c_void, self.len) };
        debug_assert_eq!(rc, 0, "munmap of a goroutine stack chunk failed");
    }
}

/// Makes `addr..addr + len` fault on any access, by `kind`.
///
/// # Errors
///
/// The OS error of `madvise` or `mprotect`.
pub(super) fn install_guard(addr: usize, len: usize, kind: GuardKind) -> io::Result<()> {
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

/// Installs the guard pages of the first slots of `mapping` (laid out by `geometry`) with
/// one `process_madvise(MADV_GUARD_INSTALL)` call on the calling process (Linux 6.13+
/// accepts any advice for it); returns how many slots, from the first, are guarded.
/// 0 when the kernel refuses the call: the caller guards the rest one call each.
///
/// The process is named by a pidfd opened for the call and closed after it (a pidfd kept
/// open would name the parent in a forked child).
fn install_guards_batched(mapping: &Mapping, geometry: &Geometry) -> usize {
    // At most CHUNK_STACKS ranges, well under the kernel's 1024 (IOV_MAX) per call.
    let n = geometry.per_chunk;
    let iov: Vec<libc::iovec> = (0..n)
        .map(|i| libc::iovec {
            iov_base: (mapping.start + i * geometry.stride) as *mut libc::c_void,
            iov_len: geometry.guard,
        })
        .collect();
    // SAFETY: pidfd_open on our own pid only creates a descriptor.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
    let Ok(pidfd) = libc::c_int::try_from(pidfd) else {
        return 0;
    };
    if pidfd < 0 {
        return 0;
    }
    // SAFETY: `iov` holds `n` page-aligned ranges inside `mapping`, which this caller owns
    // and no stack uses yet; a guard region only makes those pages fault.
    let done = unsafe {
        libc::syscall(
            libc::SYS_process_madvise,
            pidfd,
            iov.as_ptr(),
            iov.len(),
            MADV_GUARD_INSTALL,
            0,
        )
    };
    // SAFETY: the descriptor opened above, used by nothing else.
    unsafe { libc::close(pidfd) };
    // The return is the bytes advised, slot by slot from the first.
    usize::try_from(done).map_or(0, |bytes| (bytes / geometry.guard).min(n))
}

/// One carved chunk: its guarded mapping, registered with the overflow handler.
#[derive(Debug)]
pub(super) struct Chunk {
    // N.B. field order is drop order: unregister before unmapping.
    _registration: Registration,
    /// The chunk's memory.
    pub(super) mapping: Mapping,
}

impl Chunk {
    /// Maps a chunk of `geometry`'s slots, guards each slot and registers the chunk with the
    /// overflow handler.
    ///
    /// # Errors
    ///
    /// The OS error (with context) of the mapping, a guard or the registration.
    pub(super) fn carve(geometry: &Geometry, guard: GuardKind) -> io::Result<Chunk> {
        let mapping = Mapping::new(geometry.chunk_bytes())?;
        // Madvise guards in one call for the whole chunk where the kernel takes it (about
        // half the cost of a call per slot: `cargo bench --bench page_cost`); else, and
        // for any slot it did not reach, one call per slot below.
        let first = match guard {
            GuardKind::Madvise => install_guards_batched(&mapping, geometry),
            GuardKind::Mprotect => 0,
        };
        for i in first..geometry.per_chunk {
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

    /// The slot addresses of this chunk, lowest first.
    pub(super) fn slots<'a>(
        &self,
        geometry: &'a Geometry,
    ) -> impl DoubleEndedIterator<Item = usize> + 'a {
        let start = self.mapping.start;
        (0..geometry.per_chunk).map(move |i| start + i * geometry.stride)
    }
}

/// A goroutine stack from a [`StackPool`](super::StackPool); return it with
/// [`StackPool::put`](super::StackPool::put).
///
/// Dropping it instead leaks the stack (it stays counted by
/// [`StackPool::live`](super::StackPool::live)).
#[derive(Debug)]
pub(crate) struct PooledStack {
    /// Lowest address of the slot, guard included.
    pub(super) limit: NonZeroUsize,
    /// Top of the usable stack; the header lies just above.
    pub(super) base: NonZeroUsize,
    /// Id of the pool that carved it.
    pub(super) pool: u64,
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

    /// The lowest address of the slot (its guard page first).
    pub(crate) fn limit_addr(&self) -> usize {
        self.limit.get()
    }

    /// Bytes of the slot's guard (below the usable stack).
    pub(crate) fn guard_bytes(&self) -> usize {
        page_size()
    }

    /// One past the slot's last byte (the header's end).
    pub(crate) fn slot_end(&self) -> usize {
        self.base.get() + super::HEADER_BYTES
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
// exists (see the pool's `Shared::drop`); its low page is a guard page that faults on
// access, and the usable part is at least MIN_STACK_BYTES - HEADER_BYTES > corosensei's
// 4 KiB minimum. Both ends are 64-byte aligned (slots and strides are page multiples),
// satisfying STACK_ALIGNMENT. The handle is the stack's only owner until it is given back by value.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coro::stack::DEFAULT_STACK_BYTES;

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
}
