//! The trace gate: how tracing starts and stops without waiting for
//! goroutines.
//!
//! The tracer's enabled flag (and the session settings behind it) is read
//! with plain loads by the hooks on every scheduling event, so its writers
//! (`gort_tracer::start`, `gort_tracer::begin_stop`) need every such read to
//! happen before or after their write. Stopping the world gives that, but
//! only once every goroutine reaches a scheduling point: a goroutine that
//! computes for seconds, or that sits in a blocking call not wrapped in
//! `gort::syscall`, would hold tracing up for as long. The gate narrows what
//! must stop to what reads the flag: the hooks, which are short and never
//! block.
//!
//! Each M has a word, `inside` ([`MGate`]), that only it writes: true while
//! it runs a hook (reading the flag, holding a tracer locker), false
//! otherwise (scheduler code between hooks, goroutine code, parked, in a
//! syscall). One process-wide word, `flipping` ([`Gate`]), is true while a
//! flip (a write of the flag) is under way. Flips are serialised by the
//! caller (`trace_api`'s session lock).
//!
//! An M, at each hook ([`MGate::enter`], [`MGate::leave`]):
//! 1. stores `inside = true` (a plain store: `Relaxed`);
//! 2. orders that store before the next load with the frequent side of the
//!    asymmetric fence (`gort_tracer::fence::light`: a compiler fence where
//!    `membarrier` is registered);
//! 3. loads `flipping` (`Acquire`); if it is set, stores `inside = false`
//!    (`Release`), waits until `flipping` is clear (`Acquire`) and starts
//!    again at 1;
//! 4. runs the hook: reads the flag and, if on, writes its events;
//! 5. stores `inside = false` (`Release`).
//!
//! The flipper ([`Gate::flip`]):
//! 6. stores `flipping = true` (`SeqCst`);
//! 7. runs the rare side of the fence (`gort_tracer::fence::heavy`: one
//!    `membarrier(2)` call, which runs a full barrier on every running
//!    thread);
//! 8. for every M, loads `inside` (`Acquire`) until it reads false: an M
//!    inside a hook leaves it within a few hundred nanoseconds (a hook never
//!    blocks or parks);
//! 9. writes the flag (and, for a start, the trace's first events);
//! 10. stores `flipping = false` (`Release`).
//!
//! Why no hook's read races with step 9, and every later read sees it:
//! steps 1-3 and 6-8 are a store-buffering (Dekker) pair whose two
//! StoreLoad orders the asymmetric fence provides (see `gort_tracer::fence`).
//! So for each M and each entry, either
//! - the M's load in step 3 sees `flipping = true` (from step 6): it goes
//!   back out without reading the flag and waits; when it loads
//!   `flipping = false` it reads step 10's store (or a later one), which
//!   releases step 9 to it; or
//! - the flipper's load in step 8 sees this entry's `inside = true`: it
//!   waits for the `Release` store of step 5 (or of step 3's way out), so
//!   everything the hook did happens-before step 9; or
//! - the M's load in step 3 reads `flipping = false` from step 10 of this
//!   flip (or of a later one): step 9 happens-before its hook.
//!
//! The fourth case, the M reading a `false` older than step 6 while the
//! flipper reads an `inside` older than step 1, is what the fence excludes.
//! An M created during a flip registers its handle under its runtime's
//! sched lock after the flipper's walk of the handles (which follows step 6,
//! under the same lock), and so sees step 6, or is seen by that walk; a
//! runtime created during a flip likewise registers after the flipper lists
//! the runtimes, after step 6 (`trace_api::flip`).
//!
//! Goroutine code, the scheduler between hooks and Ms that are parked or in
//! a syscall never hold a flip up: a start or stop waits only for the hooks
//! being run at that moment.
//!
//! Why the traces stay valid, although states keep changing during a flip:
//! 11. Each hook reads the flag once, before the state change it records
//!     (a scheduling step: hook, then `transition`). A step whose hook read
//!     the flag off before a start changes its states without an event,
//!     and the states the trace gives are never read from the runtime
//!     but written lazily by the writer: an event names the M's P and
//!     goroutine (and any goroutine or P it acts on) with the statuses they
//!     have just before it, once per generation, at first mention. Every
//!     later event about the same goroutine or P follows that change
//!     through the run queue, park word or sched lock that hands it over,
//!     so the lazy status it writes is the changed one.
//! 12. So the goroutine running on an M when tracing starts is recorded as
//!     Running on that M and its P at its first event (or, if it has none
//!     in a generation that is not the last, by the advancer's
//!     end-of-generation statuses, in its M's stream).
//! 13. The start's own events (`hooks::emit_start`, in step 9) list the Ps
//!     idle at that moment, under each runtime's sched lock: a P taken from
//!     the idle list before that is described by its next event (its
//!     `ProcStart`, with the status Idle, if that hook comes after the flip;
//!     else a later event, with Running); one taken after it gets a
//!     `ProcStart` (its hook runs after the flip).
//! 14. After a stop's flip, hooks see tracing off; a locker taken just
//!     before it writes into the last generation, which the advancer
//!     collects after waiting for every seqlock (`gort_tracer`'s protocol,
//!     unchanged).
//!
//! The loom model `tests/gate.rs` runs two Ms, two hooks each, against a
//! start, and rejects the twins without the fence on either side.
#![deny(unsafe_code)]
// Without the tracer compiled in, no hook enters the gate and nothing flips.
#![cfg_attr(not(feature = "trace"), allow(dead_code))]

use crate::loom::sync::atomic::{AtomicBool, Ordering::*};
use std::marker::PhantomData;

/// The steps of the protocol that the loom model's broken twins replace
/// (`tests/gate.rs`). The runtime runs the defaults, through [`Faithful`].
pub(crate) trait GateSteps {
    /// Step 2's ordering: the M's store of `inside` before its load of
    /// `flipping` (the light half of the asymmetric fence).
    #[inline(always)]
    fn enter_fence(asymmetric: bool) {
        gort_tracer::fence::light(asymmetric);
    }

    /// Step 7's ordering: the flipper's store of `flipping` before its loads
    /// of the Ms' words (the heavy half).
    #[inline(always)]
    fn flip_fence(asymmetric: bool) {
        gort_tracer::fence::heavy(asymmetric);
    }
}

/// The protocol as the runtime runs it.
#[derive(Debug)]
pub(crate) struct Faithful;

impl GateSteps for Faithful {}

/// The process-wide half: a flip is under way.
#[derive(Debug)]
pub(crate) struct Gate<S: GateSteps = Faithful> {
    flipping: AtomicBool,
    steps: PhantomData<fn() -> S>,
}

/// One M's half: it is inside a hook.
#[derive(Debug)]
pub(crate) struct MGate<S: GateSteps = Faithful> {
    inside: AtomicBool,
    steps: PhantomData<fn() -> S>,
    /// `fence::asymmetric_available()`, fixed when the M starts; the same
    /// process-wide value the flipper uses.
    asymmetric: bool,
}

#[cfg(not(loom))]
static GATE: Gate = Gate {
    flipping: AtomicBool::new(false),
    steps: PhantomData,
};

/// The process's gate.
#[cfg(not(loom))]
#[inline(always)]
pub(crate) fn gate() -> &'static Gate {
    &GATE
}

impl<S: GateSteps> Gate<S> {
    /// A gate with no flip under way.
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Gate {
            flipping: AtomicBool::new(false),
            steps: PhantomData,
        }
    }

    /// Steps 6-10: runs `write` while no M is inside a hook. `each_m` calls
    /// its argument for every M that may enter a hook (walked after step 7).
    #[cfg(not(loom))]
    pub(crate) fn flip<R>(
        &self,
        each_m: impl FnOnce(&mut dyn FnMut(&MGate<S>)),
        write: impl FnOnce() -> R,
    ) -> R {
        self.announce();
        each_m(&mut |m| {
            wait_until(|| !m.inside.load(Acquire));
        });
        let r = write();
        self.flipping.store(false, Release);
        r
    }

    /// [`flip`](Self::flip) for the loom model: `None` (and no write) if a
    /// wait was cut short (see [`wait_until`]).
    #[cfg(loom)]
    pub(crate) fn flip<R>(
        &self,
        each_m: impl FnOnce(&mut dyn FnMut(&MGate<S>)),
        write: impl FnOnce() -> R,
    ) -> Option<R> {
        self.announce();
        let mut all_out = true;
        each_m(&mut |m| {
            all_out = all_out && wait_until(|| !m.inside.load(Acquire));
        });
        let r = all_out.then(write);
        self.flipping.store(false, Release);
        r
    }

    /// Steps 6 and 7.
    fn announce(&self) {
        self.flipping.store(true, SeqCst);
        #[cfg(not(loom))]
        S::flip_fence(gort_tracer::fence::asymmetric_available());
        #[cfg(loom)]
        S::flip_fence(true);
    }
}

/// Waits until `done()` holds: spins briefly, then gives the CPU away (the
/// wait is for a hook to end, or for a flip to end, both short). Returns
/// true.
///
/// Under loom, whose exploration of a spin loop never ends (each look may
/// read an older value), it gives up after a few looks and returns false;
/// the model then drops that execution's remaining steps, which shows
/// nothing either way.
fn wait_until(mut done: impl FnMut() -> bool) -> bool {
    // About 10-50 µs of spinning: a flip (one `membarrier`, the session's
    // start) usually ends within it, and a waiter that gave its CPU away on
    // a loaded machine may not get it back for milliseconds.
    const SPINS: u32 = 4096;
    let mut pass = 0u32;
    while !done() {
        pass += 1;
        if cfg!(loom) && pass > 2 {
            return false;
        }
        if cfg!(not(loom)) && pass < SPINS {
            std::hint::spin_loop();
        } else {
            crate::loom::thread::yield_now();
        }
    }
    true
}

impl<S: GateSteps> MGate<S> {
    /// An M's word, outside any hook.
    pub(crate) fn new() -> Self {
        MGate {
            inside: AtomicBool::new(false),
            steps: PhantomData,
            #[cfg(not(loom))]
            asymmetric: gort_tracer::fence::asymmetric_available(),
            #[cfg(loom)]
            asymmetric: true,
        }
    }

    /// Steps 1-3: enters a hook through `g`, waiting out a flip under way.
    /// Called by this M's thread only, never nested.
    #[cfg(not(loom))]
    #[inline(always)]
    pub(crate) fn enter(&self, g: &Gate<S>) {
        self.inside.store(true, Relaxed);
        S::enter_fence(self.asymmetric);
        if g.flipping.load(Acquire) {
            self.enter_slow(g);
        }
    }

    /// [`enter`](Self::enter) for the loom model: false (not entered) if a
    /// wait was cut short (see [`wait_until`]).
    #[cfg(loom)]
    pub(crate) fn enter(&self, g: &Gate<S>) -> bool {
        self.inside.store(true, Relaxed);
        S::enter_fence(self.asymmetric);
        !g.flipping.load(Acquire) || self.enter_slow(g)
    }

    /// Step 3's way out and back in; true once inside.
    #[cold]
    #[inline(never)]
    fn enter_slow(&self, g: &Gate<S>) -> bool {
        loop {
            self.inside.store(false, Release);
            if !wait_until(|| !g.flipping.load(Acquire)) {
                return false;
            }
            self.inside.store(true, Relaxed);
            gort_tracer::fence::light(self.asymmetric);
            if !g.flipping.load(Acquire) {
                return true;
            }
        }
    }

    /// Step 5: leaves the hook.
    #[inline(always)]
    pub(crate) fn leave(&self) {
        self.inside.store(false, Release);
    }
}
