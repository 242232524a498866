//! The enabled flag, the per-M seqlock and the locker that writes events.
//!
//! # Fast path
//!
//! [`enabled_on_m`] is one plain load of a global `bool`, for the Ms;
//! [`enabled`] one atomic load, for everyone else. [`acquire_local`] inlines
//! the plain check and returns `None` when tracing is off; otherwise it
//! takes this M's seqlock (even → odd), loads the generation, and returns a
//! [`Locker`] bound to that generation. [`acquire`], for any thread, checks
//! the atomic and takes the seqlock by compare-and-swap, so a second holder
//! or a re-entrant call gets `None` instead of a data race. Dropping the
//! locker makes the seqlock even again.
//!
//! # The flag's soundness argument
//!
//! Tracing on or off is kept twice: [`ENABLED`], a plain `bool` in an
//! `UnsafeCell` that the Ms read with no synchronisation at every hook
//! ([`enabled_on_m`]), and [`SHARED_ENABLED`], an atomic copy for every
//! other thread ([`enabled`]). The session's settings (stacks, clock,
//! buffer size) sit in a third, separate cell, [`SETTINGS`], read only by
//! threads that hold a [`Locker`] of a running generation.
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
//!    written (or is refused by [`acquire`] when the generation is over).
//! 3. **Locker holders** read [`SETTINGS`]. The cell is written by
//!    [`set_flags`] at session start only, before [`SHARED_ENABLED`] turns
//!    true (`Release`) and before the first generation is published
//!    ([`set_gen`], `SeqCst`). A holder read the generation (nonzero) under
//!    its seqlock: it read the value that start published, so the settings
//!    write happens-before its reads; and the next start's write waits for
//!    this session's end, which waits for every held seqlock (the Release
//!    store of [`Locker`]'s drop). [`set_enabled`] (the stop) writes
//!    [`ENABLED`] and the atomic only, never [`SETTINGS`], so a holder may
//!    read the settings while a stop flips the flag.
//!
//! The loom model `tests/models/flag.rs` runs two Ms and a plain thread
//! against start and stop under stop-the-world, and its broken twins (a
//! coordinator that does not wait for the Ms, a plain thread that uses the
//! Ms' plain read) are rejected.
//!
//! # Seqlock and generation
//!
//! A holder makes its M's seqlock odd, then loads the generation. The
//! advancer stores generation `N+1`, then loads each M's seqlock. Each side
//! orders its store before its load, so either the holder sees `N+1`, or the
//! advancer sees the seqlock odd and waits for it. Once the advancer has seen
//! an M's seqlock even after the bump, that M can no longer write generation
//! `N`, and its `N` buffer is final.
//!
//! Two ways in:
//!
//! - [`acquire_local`] (what the runtime uses: each M's `ThreadTrace` is
//!   touched by its own thread only): plain loads and stores, and the
//!   writer's half of an asymmetric fence ([`crate::fence`]): with Linux's
//!   `membarrier` a compiler fence only, the advancer paying one system call
//!   per generation. No locked instruction on the event path.
//! - [`acquire`] (safe for any use): a `SeqCst` compare-and-swap takes the
//!   seqlock, so a second thread or a re-entrant call on the same
//!   `ThreadTrace` gets `None` instead of a data race.

use std::marker::PhantomData;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};

use crate::clock::Clock;
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicBool, AtomicU64};
use crate::registry::ThreadTrace;
use crate::stacks::Frame;
use crate::wire::EventType;

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
/// Meaningful, and sound, only while a [`Locker`] of a running generation
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
/// [`Locker`] taken with [`acquire_local`], and every M will
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

/// Under loom, a `SeqCst` fence standing for the place of [`acquire`]'s
/// `SeqCst` compare-and-swap in the single total order (it pairs with the
/// advancer's fence in [`set_gen`]): loom models `SeqCst` accesses only as
/// acquire/release but does model `SeqCst` fences. Nothing otherwise (on
/// x86-64 the locked instruction is itself a full barrier).
#[inline(always)]
pub(crate) fn loom_seqcst_order() {
    #[cfg(loom)]
    loom::sync::atomic::fence(SeqCst);
}

/// Takes `t`'s seqlock if tracing is on, for writing events of the current
/// generation.
///
/// Returns `None` when tracing is off, when `t` is already locked (a
/// re-entrant call, or another thread using the same `ThreadTrace`), or when
/// `t` has retired. Keep the locker for one scheduling step: never across a
/// park or a stack switch.
#[inline]
pub fn acquire(t: &ThreadTrace) -> Option<Locker<'_>> {
    if !enabled() {
        return None;
    }
    acquire_slow(t)
}

/// [`acquire`] for a `ThreadTrace` that only the calling thread uses: no
/// read-modify-write, no locked instruction (see the module doc).
///
/// Returns `None` when tracing is off, on a re-entrant call (a locker of
/// `t` is alive on this thread), or when `t` has retired.
///
/// # Safety
///
/// No other thread uses `t` (through `acquire`, `acquire_local` or
/// [`ThreadTrace::retire`]) while the returned locker is alive or while this
/// call runs: `t` belongs to the calling thread, as an M's trace state
/// belongs to its M. And the calling thread may read the flag plainly:
/// [`enabled_on_m`]'s contract.
#[inline(always)]
pub unsafe fn acquire_local(t: &ThreadTrace) -> Option<Locker<'_>> {
    // SAFETY: forwarded from our caller.
    if !unsafe { enabled_on_m() } {
        return None;
    }
    let s = t.seq.load(Relaxed);
    if s & 1 == 1 {
        return None;
    }
    // Only this thread writes `seq` (the caller's contract), so a plain
    // store takes the lock. `Relaxed`: the ordering against the generation
    // load below is the fence's job, and the buffer writes of the previous
    // hold were ours.
    t.seq.store(s + 1, Relaxed);
    crate::fence::light(setting(|f| f.asymmetric));
    Locker::hold(t, s + 1, GEN.load(Relaxed))
}

#[cold]
fn acquire_slow(t: &ThreadTrace) -> Option<Locker<'_>> {
    let s = t.seq.load(Relaxed);
    if s & 1 == 1 {
        return None;
    }
    // `SeqCst`: the Dekker pairing with the advancer (module doc).
    if t.seq.compare_exchange(s, s + 1, SeqCst, Relaxed).is_err() {
        return None;
    }
    loom_seqcst_order();
    Locker::hold(t, s + 1, GEN.load(SeqCst))
}

/// The right to write events for one M in one generation (a held seqlock).
///
/// Obtained from [`acquire`]; released on drop. It is `!Send`: it must be
/// dropped on the thread that took it.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<gort_tracer::Locker<'static>>();
/// ```
#[derive(Debug)]
pub struct Locker<'t> {
    pub(crate) t: &'t ThreadTrace,
    pub(crate) gen: u64,
    seq: u64,
    /// The clock, read once when the hold began (see `crate::writer`).
    now: u64,
    _not_send: PhantomData<*mut ()>,
}

impl Drop for Locker<'_> {
    #[inline]
    fn drop(&mut self) {
        // `Release` pairs with the advancer's `SeqCst` load in
        // `ThreadTrace::take_finished` and with the next holder's CAS: every
        // buffer write of this hold happens-before them.
        self.t.seq.store(self.seq + 1, Release);
    }
}

impl<'t> Locker<'t> {
    /// The locker of a seqlock just made odd (`seq`), with the generation
    /// loaded after it; releases the seqlock at once if tracing has ended
    /// (generation 0). Reads the clock for the hold's events.
    #[inline(always)]
    fn hold(t: &'t ThreadTrace, seq: u64, gen: u64) -> Option<Locker<'t>> {
        if gen == 0 {
            // Pairs with the next holder and the advancer, as a drop does.
            t.seq.store(seq + 1, Release);
            return None;
        }
        Some(Locker {
            t,
            gen,
            seq,
            now: setting(|f| f.clock).now(),
            _not_send: PhantomData,
        })
    }

    /// The generation this locker writes.
    pub fn gen(&self) -> u64 {
        self.gen
    }

    /// The M's thread ID.
    pub fn m_id(&self) -> u64 {
        self.t.m_id()
    }

    /// The ID of `s` in this generation's string table (first 1 KiB kept;
    /// the empty string is 0).
    #[inline]
    pub fn string(&mut self, s: &str) -> u64 {
        let gen = self.gen;
        // SAFETY: this locker holds the M's seqlock.
        unsafe { self.t.with_caches(|c| c.strings.intern(gen, s.as_bytes())) }
    }

    /// The ID of the stack `frames` (leaf first; the first 128 frames kept)
    /// in this generation's stack table; 0 for an empty stack or when stacks
    /// are off in the [`Config`](crate::Config).
    #[inline]
    pub fn stack(&mut self, frames: &[Frame]) -> u64 {
        if !setting(|f| f.stacks) {
            return 0;
        }
        let gen = self.gen;
        // SAFETY: this locker holds the M's seqlock.
        unsafe { self.t.with_caches(|c| c.stacks.intern(gen, frames)) }
    }

    /// Notes that goroutine `g` exits in this locker's generation (its exit
    /// event is written under this locker), for the advancer's
    /// end-of-generation statuses.
    pub(crate) fn note_exit(&mut self, g: u64) {
        // SAFETY: this locker holds the M's seqlock and loaded `gen` under
        // it: `exited_slot`'s contract.
        let list = unsafe { self.t.exited_slot(self.gen) };
        // SAFETY: as above; no other reference to the list exists.
        unsafe { list.deref() }.push(g);
    }

    /// Appends one timed event (`args` without the time delta).
    #[inline(always)]
    pub(crate) fn event<const N: usize>(&mut self, ty: EventType, args: [u64; N]) {
        let (t, gen) = (self.t, self.gen);
        // SAFETY: this locker holds the M's seqlock and loaded `gen` under
        // it: `buf_slot`'s contract. The slot is used only in this call.
        let slot = unsafe { t.buf_slot(gen) };
        // SAFETY: as above; no other reference to the slot exists.
        let slot = unsafe { slot.deref() };
        crate::writer::write_event(t, slot, gen, self.now, ty, args);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn locker_is_not_send_but_thread_trace_is_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<ThreadTrace>();
        assert_send_sync::<crate::GoTrace>();
        assert_send_sync::<crate::ProcTrace>();
    }
}
