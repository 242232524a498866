//! Goroutine stacks: carved from large mappings, guarded, and pooled.
//!
//! One `corosensei::DefaultStack` costs two kernel mappings (a `PROT_NONE` guard and the stack),
//! and `vm.max_map_count` (65530 by default) caps a process near 32k of them. gort must hold
//! 100,000 live goroutines, so a [`StackPool`] maps stacks in chunks of up to
//! [`CHUNK_STACKS`] instead, each chunk one kernel mapping, each stack below a guard page.
//!
//! The module has three parts, each with one job:
//!
//! - [`map`]: the memory. Chunk mappings, the guard page of every slot (and which kind the
//!   kernel supports), the slot geometry and header, and the [`PooledStack`] handle that
//!   corosensei runs a coroutine on. It registers each chunk with the overflow handler
//!   (`super::overflow`), which reads the header to name the goroutine that overflowed.
//! - [`pool`]: the bookkeeping. Free lists, the warm/cold memory policy, the counters, and
//!   when a pool may unmap its chunks.
//! - [`cache`]: the per-thread cache in front of the pool's lists, the lock-free fast path of
//!   `get` and `put`.
//!
//! Callers outside `coro` see only [`StackPool`] and [`PooledStack`]; the constants below are
//! the module's tuning knobs.

// N.B. shared state in these modules uses std atomics and `Arc` directly, not the loom shim:
// nothing here is modelled under loom (it maps memory), and the overflow handler reads the
// same words from a signal handler.

mod cache;
mod global;
mod map;
mod pool;

pub(super) use map::page_size;
#[cfg(test)]
pub(super) use map::GuardKind;
pub(crate) use map::PooledStack;
pub(crate) use pool::StackPool;

/// Smallest stack a pool hands out, in bytes: the default panic hook alone needs ~22 KiB.
pub(crate) const MIN_STACK_BYTES: usize = 64 * 1024;
/// The runtime's default goroutine stack size, in bytes.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const DEFAULT_STACK_BYTES: usize = 256 * 1024;
/// Bytes at the top of each slot reserved for the header (owner word); keeps `base` 64-aligned.
pub(crate) const HEADER_BYTES: usize = 64;
/// Most slots carved by one `mmap`.
pub(crate) const CHUNK_STACKS: usize = 256;
/// Capacity of a thread's cache of free stacks.
pub(crate) const CACHE_STACKS: usize = 32;
/// Stacks moved between a thread cache and the global lists at a time.
pub(crate) const CACHE_BATCH: usize = CACHE_STACKS / 2;
/// Free stacks the global list keeps committed before it releases memory.
pub(crate) const DEFAULT_RETAINED_STACKS: usize = 1024;
