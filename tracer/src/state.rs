//! The tracer's global state: the enabled flag, the session settings, the
//! current generation and which generations saw events. Everything above
//! reads it; it reads nothing of the tracer's own.
//!
//! # The flag's soundness argument
//!
//! Tracing on or off is kept twice: [`ENABLED`], a plain `bool` in an
//! `UnsafeCell` that the Ms read with no synchronisation at every hook
//! ([`enabled_on_m`]), and [`SHARED_ENABLED`], an atomic copy for every
//! other thread ([`enabled`]). The session's settings (stacks, clock,
//! buffer size) sit in a third, separate cell, [`SETTINGS`], read only by
//! threads that hold a [`Locker`](crate::locker::Locker) of a running generation.
//!
//! Readers and what makes each read sound:
//!
//! 1. **Ms** read [`ENABLED`] plainly, each read inside a section that the
//!    writers exclude (gort's runtime: its trace hooks, each entered through
//!    a per-M gate). Writes happen only in [`set_flags`] and
//!    [`set_enabled`], whose callers (`start`, `begin_stop`) promise that no
//!    M is inside such a section while they write, and that every M
//!    synchronises with them before it enters one again (the runtime's gate:
//!    a Dekker handshake paid for by one `membarrier` per flip, see
//!    `gort-runtime`'s `sched/stw.rs`). So every M read happens-before or
//!    after every write: no data race, no atomic needed on the switch path.
//!    Code outside those sections (goroutine code) never holds a write up.
//! 2. **Every other thread** (a plain thread sending on a channel, user
//!    code calling `gort::tracer::enabled`, a goroutine inside a syscall)
//!    reads [`SHARED_ENABLED`], an atomic: no data race whatever the timing.
//!    It may see the flip a little late, which only means an event is not
//!    written (or is refused by [`acquire`](crate::locker::acquire) when the generation is over).
//! 3. **Locker holders** read [`SETTINGS`]. The cell is written by
//!    [`set_flags`] at session start only, before [`SHARED_ENABLED`] turns
//!    true (`Release`) and before the first generation is published
//!    ([`set_gen`], `SeqCst`). A holder read the generation (nonzero) under
//!    its seqlock: it read the value that start published, so the settings
//!    write happens-before its reads; and the next start's write waits for
//!    this session's end, which waits for every held seqlock (the Release
//!    store of [`Locker`](crate::locker::Locker)'s drop). [`set_enabled`] (the stop) writes
//!    [`ENABLED`] and the atomic only, never [`SETTINGS`], so a holder may
//!    read the settings while a stop flips the flag.
//!
//! The loom model `tests/models/flag.rs` runs two Ms and a plain thread
//! against start and stop under stop-the-world, and its broken twins (a
//! coordinator that does not wait for the Ms, a plain thread that uses the
//! Ms' plain read) are rejected.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};

use crate::clock::Clock;
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicBool, AtomicU64};

/// The session flags, as [`set_flags`] takes them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Flags {
    /// Tracing is on.
    pub(crate) enabled: bool,
    /// Stacks are recorded (otherwise every stack ID is 0).
    pub(crate) stacks: bool,
    /// Size of each M's batch buffers.
    pub(crate) buf_bytes: usize,
    /// Timestamp source.
    pub(crate) clock: Clock,
    /// Writers may use the compiler-only fence (`membarrier` registered).
    pub(crate) asymmetric: bool,
}

/// The part of [`Flags`] that locker holders read (see the module doc).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    /// Stacks are recorded (otherwise every stack ID is 0).
    pub(crate) stacks: bool,
    /// Size of each M's batch buffers.
    pub(crate) buf_bytes: usize,
    /// Timestamp source.
    pub(crate) clock: Clock,
    /// Writers may use the compiler-only fence (`membarrier` registered).
    pub(crate) asymmetric: bool,
}

/// A cell read without synchronisation by the readers the module doc
/// names, and written only under the rules given there.
struct PlainCell<T>(UnsafeCell<T>);

// SAFETY: writes go through `set_flags`/`set_enabled` only, whose contract
// (no reader inside its section, a happens-before edge to every later read)
// and the ordering argument of the module doc rule out a read concurrent
// with a write; reads may run concurrently with each other, which is fine
// for a `Copy` value.
unsafe impl<T: Copy> Sync for PlainCell<T> {}

crate::loom::global! {
    /// Tracing is on, for the Ms' plain read.
    static ENABLED: PlainCell<bool> = PlainCell(UnsafeCell::new(false));
}

crate::loom::global! {
    /// Tracing is on, for every other thread.
    static SHARED_ENABLED: AtomicBool = AtomicBool::new(false);
}

crate::loom::global! {
    /// The session settings.
    static SETTINGS: PlainCell<Settings> = PlainCell(UnsafeCell::new(Settings {
        stacks: true,
        buf_bytes: 64 << 10,
        clock: Clock::Tsc,
        asymmetric: false,
    }));
}

crate::loom::global! {
    /// The current generation; 0 when no session is running.
    static GEN: AtomicU64 = AtomicU64::new(0);
}

/// Whether tracing is on, from any thread: one atomic load.
///
/// Runtime code on an M reads [`enabled_on_m`] instead, a plain load.
#[inline]
pub fn enabled() -> bool {
    SHARED_ENABLED.load(Acquire)
}

/// Whether tracing is on: one plain (non-atomic) load, for the Ms.
///
/// # Safety
///
/// The caller reads inside a section that the writers exclude (a runtime's
/// M inside its trace gate, or the thread that writes): no such section is
/// open while `set_flags` or `set_enabled` writes, and each one opened
/// later synchronises with their caller first (see the module doc). Any
/// other thread calls [`enabled`].
#[inline(always)]
pub unsafe fn enabled_on_m() -> bool {
    ENABLED.0.with(|p| {
        // SAFETY: the caller's contract rules out a concurrent write.
        unsafe { *p }
    })
}

/// One field of the session settings: a plain load, no copy of the rest.
///
/// Meaningful, and sound, only while a [`Locker`](crate::locker::Locker) of a running generation
/// is held (see the module doc).
#[inline(always)]
pub(crate) fn setting<R>(get: impl FnOnce(&Settings) -> R) -> R {
    SETTINGS.0.with(|p| {
        // SAFETY: a locker holder read a nonzero generation published after
        // the settings were written, and the next write waits for its
        // release (module doc, reader 3).
        get(unsafe { &*p })
    })
}

/// Starts or ends a session's flags: settings first, then the flag for the
/// Ms, then the atomic copy (`Release`, so a thread that sees it on also
/// sees the settings).
///
/// # Safety
///
/// No M is inside a section that reads the flag plainly or holds a
/// [`Locker`](crate::locker::Locker) taken with [`acquire_local`](crate::locker::acquire_local), and every M will
/// synchronise-with the caller (the runtime's trace gate) before it enters
/// one again. No session is running (no generation is published), so no other
/// thread holds a locker either.
pub(crate) unsafe fn set_flags(f: Flags) {
    SETTINGS.0.with_mut(|p| {
        // SAFETY: no locker is held (the caller's contract), and no M runs.
        unsafe {
            *p = Settings {
                stacks: f.stacks,
                buf_bytes: f.buf_bytes,
                clock: f.clock,
                asymmetric: f.asymmetric,
            }
        }
    });
    // SAFETY: forwarded from our caller.
    unsafe { set_enabled(f.enabled) };
}

/// Turns the flag on or off, leaving the settings as they are (a stop:
/// lockers of the ending session may still read them).
///
/// # Safety
///
/// As for [`set_flags`], except that sessions and lockers may exist: only
/// the Ms must be stopped.
pub(crate) unsafe fn set_enabled(on: bool) {
    ENABLED.0.with_mut(|p| {
        // SAFETY: the caller guarantees no M runs, and only Ms read this
        // cell (module doc, reader 1).
        unsafe { *p = on }
    });
    SHARED_ENABLED.store(on, Release);
}

/// The current generation (0 when off).
#[inline]
pub(crate) fn current_gen() -> u64 {
    GEN.load(SeqCst)
}

/// The current generation, loaded with `order`: for a locker that has just
/// made its seqlock odd (see `locker`'s seqlock protocol).
#[inline(always)]
pub(crate) fn load_gen(order: std::sync::atomic::Ordering) -> u64 {
    GEN.load(order)
}

/// The current generation, loaded without ordering (loom twins only).
#[cfg(loom)]
pub(crate) fn current_gen_relaxed() -> u64 {
    GEN.load(Relaxed)
}

/// Publishes a new current generation, then runs the advancer's half of the
/// fence (see the module doc): seqlock loads after this see every holder
/// that may have loaded an older generation.
pub(crate) fn set_gen(gen: u64) {
    GEN.store(gen, SeqCst);
    crate::fence::heavy(crate::fence::asymmetric_available());
}

crate::loom::global! {
    /// Per generation parity, the last generation in which some M opened a batch.
    static USED: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
}

/// Records that an M wrote an event in `gen` (called when it opens a batch).
pub(crate) fn note_events(gen: u64) {
    USED[(gen & 1) as usize].store(gen, Relaxed);
}

/// Whether some M opened a batch in generation `gen` (its parity's last).
pub(crate) fn events_in(gen: u64) -> bool {
    USED[(gen & 1) as usize].load(Relaxed) == gen
}
