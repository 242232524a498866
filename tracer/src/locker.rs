//! The enabled flag, the per-M seqlock and the locker that writes events.
//!
//! # Fast path
//!
//! [`enabled`] is one plain load of a global `bool`. [`acquire`] inlines that
//! check and returns `None` when tracing is off; otherwise it calls a `#[cold]`
//! slow path that takes this M's seqlock (even → odd, by CAS so a second
//! holder or a re-entrant call gets `None` instead of a data race), loads the
//! generation, and returns a [`Locker`] bound to that generation. Dropping the
//! locker makes the seqlock even again.
//!
//! # The flag's soundness argument
//!
//! [`FLAGS`] is an `UnsafeCell` read without synchronisation by every M on
//! every event. That is sound because it is written only by
//! [`set_flags`], an `unsafe fn` whose callers (`start`, `begin_stop`) promise
//! the world is stopped:
//!
//! 1. while a write happens, no thread executes code that reads the flag
//!    (stopped Ms run nothing; the runtime never parks while holding a
//!    `Locker`, so no locker reads flags either), and the tracer's own
//!    threads (advancer, sink) never read it;
//! 2. every M, before it runs again and reads the flag, synchronises with the
//!    thread that stopped the world (the lock or condvar that restarts it), so
//!    the write happens-before every later read, and every earlier read
//!    happened-before the write (the stop handshake).
//!
//! So no read is concurrent with a write: there is no data race, and no
//! atomic is needed. The generation number, by contrast, changes while Ms run
//! (the advancer bumps it), and is an atomic.
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
use std::sync::atomic::Ordering::{Relaxed, Release, SeqCst};

use crate::clock::Clock;
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::AtomicU64;
use crate::registry::ThreadTrace;
use crate::stacks::Frame;
use crate::wire::EventType;

/// Settings the Ms read without synchronisation (see the module doc).
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

/// The cell holding [`Flags`].
struct FlagCell(UnsafeCell<Flags>);

// SAFETY: the cell is written only through `set_flags`, whose contract (the
// world is stopped, with a happens-before edge to every later read) rules out
// any read concurrent with a write; see the module doc. Reads may run
// concurrently with each other, which is fine for a `Copy` value.
unsafe impl Sync for FlagCell {}

crate::loom::global! {
    /// The session flags.
    static FLAGS: FlagCell = FlagCell(UnsafeCell::new(Flags {
        enabled: false,
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

/// Whether tracing is on: one plain (non-atomic) load.
#[inline(always)]
pub fn enabled() -> bool {
    FLAGS.0.with(|p| {
        // SAFETY: see `FlagCell`: no write can be concurrent with this read.
        unsafe { (*p).enabled }
    })
}

/// The session flags (meaningful while a locker is held).
#[inline(always)]
pub(crate) fn flags() -> Flags {
    flag(|f| *f)
}

/// One field of the session flags: a plain load, no copy of the rest.
#[inline(always)]
pub(crate) fn flag<R>(get: impl FnOnce(&Flags) -> R) -> R {
    FLAGS.0.with(|p| {
        // SAFETY: as in `enabled`.
        get(unsafe { &*p })
    })
}

/// Replaces the session flags.
///
/// # Safety
///
/// The world is stopped: no thread runs code that calls [`enabled`] or
/// [`acquire`] or holds a [`Locker`], and every such thread will
/// synchronise-with the caller (for example through the lock or condvar that
/// restarts it) before it reads the flags again.
pub(crate) unsafe fn set_flags(f: Flags) {
    FLAGS.0.with_mut(|p| {
        // SAFETY: the caller guarantees no concurrent reader (see above).
        unsafe { *p = f }
    });
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
/// belongs to its M.
#[inline(always)]
pub unsafe fn acquire_local(t: &ThreadTrace) -> Option<Locker<'_>> {
    if !enabled() {
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
    crate::fence::light(flag(|f| f.asymmetric));
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
            now: flag(|f| f.clock).now(),
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
        if !flag(|f| f.stacks) {
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
