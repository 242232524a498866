//! The per-M seqlock and the locker that writes events, over the enabled
//! flag and the generation of [`crate::state`] (where the flag's soundness
//! argument is).
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

use crate::registry::ThreadTrace;
use crate::stacks::Frame;
#[cfg(loom)]
pub(crate) use crate::state::current_gen_relaxed;
pub(crate) use crate::state::{current_gen, set_enabled, set_flags, set_gen, setting, Flags};
pub(crate) use crate::state::{enabled, enabled_on_m};
use crate::wire::EventType;

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
    Locker::hold(t, s + 1, crate::state::load_gen(Relaxed))
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
    Locker::hold(t, s + 1, crate::state::load_gen(SeqCst))
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
