//! Generations: the advance protocol that closes one and opens the next.
//!
//! A generation is a self-contained chunk of the trace (about one period of
//! wall time). [`Advancer::advance`] ends generation `N`:
//!
//! 1. If a [`StatusSource`] was given and tracing is still on, record every
//!    goroutine and P whose status was not yet written in `N`, with its
//!    current status (Go's step 2). Once `begin_stop` has switched tracing
//!    off, the runtime changes states without events, so the final
//!    generation's statuses are the ones `begin_stop` recorded just before
//!    (while no M was inside a hook: [`Advancer::record_final`]).
//!    A timer-driven advance of a generation in which nothing happened and
//!    nothing is pending is skipped: every generation must hold an event.
//! 2. Publish `N + 1` (or 0 when stopping) as the current generation
//!    (`SeqCst`, see [`crate::locker`]). Lockers taken from now on write `N + 1`.
//! 3. For every registered M, wait (yielding, then sleeping 50 µs, between
//!    passes) until its seqlock is even or it has retired, then take its `N`
//!    buffer and queue it. Lockers are held only for one scheduling step, never
//!    across a park, so this wait ends.
//! 4. For each resource recorded in step 1 that is *still* not traced in `N` (or
//!    has exited since, in a later generation: the Ms note the goroutines that
//!    exit in each generation), write its recorded status: runnable/waiting
//!    goroutines and idle Ps in a batch of no thread, running or syscall ones
//!    (which must be bound to an M) in a batch of their M placed after that M's
//!    own batches.
//! 5. Write the Frequency batch, the stack table (interning frame names), then
//!    the string table, and empty both tables for generation `N + 2`.
//! 6. Declare `N` complete to the sink, which then moves on to `N + 1`.
//!
//! When stopping, a final generation with no event at all is dropped instead
//! of written (the trace then ends with `N - 1`).

#![deny(unsafe_code)]

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};

use crate::batches::BatchSeq;
use crate::clock::{Calibration, Clock};
use crate::loom::sync::atomic::{AtomicBool, AtomicU64};
use crate::loom::sync::Arc;
use crate::loom::thread;
use crate::registry::{self, Take, ThreadTrace};
use crate::status::{GoTrace, ProcTrace};
use crate::wire::limits::NO_THREAD;
use crate::wire::{EventType, GoStatus, ProcStatus};
use crate::{locker, sink, stacks, state, strings};

crate::loom::global! {
    /// The last generation number used by any session (the next starts after it).
    static LAST_GEN: AtomicU64 = AtomicU64::new(0);
}

/// The first generation of the next session.
pub(crate) fn next_first_gen() -> u64 {
    LAST_GEN.load(Relaxed) + 1
}

/// A resource whose status is pending at the end of a generation.
#[derive(Clone, Copy, Debug)]
enum Pending {
    Go(GoStatus, Option<u64>),
    Proc(ProcStatus, Option<u64>),
}

/// What one advance did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Advanced {
    /// Nothing happened in the generation; it goes on.
    Skipped,
    /// The generation was written out.
    Written,
    /// The generation was empty and dropped (only when stopping).
    Dropped,
}

/// The advancer's state for one session.
pub(crate) struct Advancer {
    source: Option<Arc<dyn StatusSource>>,
    /// Cleared by `begin_stop`: from then on the runtime changes states
    /// without events, so the source's view no longer matches the trace.
    tracing: Arc<AtomicBool>,
    clock: Clock,
    calibration: Calibration,
    frequency: Option<u64>,
    /// Generations written so far.
    pub(crate) written: u64,
    /// The final generation's statuses, recorded by `begin_stop`.
    final_pending: Option<HashMap<Key, Pending>>,
}

impl std::fmt::Debug for Advancer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Advancer")
            .field("clock", &self.clock)
            .field("frequency", &self.frequency)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

/// Keys of recorded resources: (is a P, ID).
type Key = (bool, u64);

impl Advancer {
    /// An advancer for a session timed by `clock`.
    pub(crate) fn new(
        source: Option<Arc<dyn StatusSource>>,
        tracing: Arc<AtomicBool>,
        clock: Clock,
    ) -> Advancer {
        Advancer {
            source,
            tracing,
            clock,
            calibration: Calibration::start(clock),
            frequency: None,
            written: 0,
            final_pending: None,
        }
    }

    /// Step 1 of the final advance, taken by `begin_stop` before it switches
    /// tracing off, while no M is inside a hook (the caller's promise): the
    /// states seen are then the ones the trace's events lead to, and a
    /// goroutine that ran through the whole last generation without an event
    /// (computing, or blocked in a call the runtime does not see) is still
    /// stated, on its P and M.
    pub(crate) fn record_final(&mut self) {
        let gen = locker::current_gen();
        if gen != 0 {
            self.final_pending = Some(self.record_pending(gen));
        }
    }

    /// Step 1: resources not yet traced in `gen`, with their status now.
    fn record_pending(&self, gen: u64) -> HashMap<Key, Pending> {
        let mut pending = HashMap::new();
        if let Some(src) = &self.source {
            src.for_each_goroutine(&mut |id, t, st, m| {
                if !t.0.traced_in(gen) {
                    pending.insert((false, id), Pending::Go(st, m));
                }
            });
            src.for_each_proc(&mut |id, t, st, m| {
                if !t.0.traced_in(gen) {
                    pending.insert((true, id), Pending::Proc(st, m));
                }
            });
        }
        // If tracing was switched off before or during the walk, states seen
        // may have changed without events: describe nothing. `SeqCst` (an
        // acquire suffices) pairs with the store in `begin_stop`: a state
        // written after the world restarted happens-after that store, so a
        // walk that saw one also sees the flag cleared here.
        if !self.tracing.load(SeqCst) {
            pending.clear();
        }
        pending
    }

    /// Step 4: drops recorded resources that got traced in `gen` meanwhile.
    ///
    /// A goroutine recorded in step 1 that the source no longer lists has
    /// exited since. If it exited in `gen`, its exit was an event of `gen`
    /// (it is in `exited`, noted by the M that wrote it) and it needs no
    /// status; otherwise it exited in a later generation, after being
    /// mentioned there, and its recorded status is the one it had at the end
    /// of `gen`: keep it, or the next generation would mention a goroutine
    /// this one never did.
    fn still_pending(&self, gen: u64, pending: &mut HashMap<Key, Pending>, exited: &HashSet<u64>) {
        let Some(src) = &self.source else { return };
        let mut keep = HashMap::with_capacity(pending.len());
        let mut listed = HashSet::new();
        src.for_each_goroutine(&mut |id, t, _, _| {
            listed.insert(id);
            if !t.0.traced_in(gen) {
                if let Some(p) = pending.get(&(false, id)) {
                    keep.insert((false, id), *p);
                }
            }
        });
        for (&(is_p, id), p) in pending.iter() {
            if !is_p && !listed.contains(&id) && !exited.contains(&id) {
                keep.insert((false, id), *p);
            }
        }
        src.for_each_proc(&mut |id, t, _, _| {
            if !t.0.traced_in(gen) {
                if let Some(p) = pending.get(&(true, id)) {
                    keep.insert((true, id), *p);
                }
            }
        });
        *pending = keep;
    }

    /// Ends the current generation; see the module doc. `stopping` publishes
    /// generation 0 (the session's tracing has been switched off already).
    pub(crate) fn advance(&mut self, stopping: bool) -> Advanced {
        let gen = locker::current_gen();
        if gen == 0 {
            return Advanced::Skipped;
        }
        let used = state::events_in;
        let mut pending = match self.final_pending.take() {
            Some(p) if stopping => p,
            _ => self.record_pending(gen),
        };
        if !stopping && !used(gen) && pending.is_empty() {
            return Advanced::Skipped;
        }
        locker::set_gen(if stopping { 0 } else { gen + 1 });

        let ms = registry::snapshot();
        let by_id: HashMap<u64, Arc<ThreadTrace>> =
            ms.iter().map(|t| (t.m_id(), t.clone())).collect();
        let mut left = ms;
        let mut pass = 0;
        loop {
            left.retain(|t| match t.take_finished(gen) {
                Take::Busy => true,
                Take::Done(b) => {
                    if let Some(b) = b {
                        sink::submit(b);
                    }
                    false
                }
            });
            if left.is_empty() {
                break;
            }
            thread::backoff(pass);
            pass += 1;
        }

        // Every M is done with `gen` (each `take_finished` returned `Done`).
        let mut exited: HashSet<u64> = by_id.values().flat_map(|t| t.take_exited(gen)).collect();
        exited.extend(registry::take_retired_exited(gen));
        self.still_pending(gen, &mut pending, &exited);
        let now = self.clock.now();
        let status_batches = status_batches(gen, &pending, &by_id, now);
        if stopping {
            LAST_GEN.store(gen, Relaxed);
        }
        if !used(gen) && status_batches.is_empty() {
            // Nothing to read in this generation: drop it (stopping only; a
            // running session never gets here, see step 1).
            let mut discard = BatchSeq::new(gen, NO_THREAD, None, now);
            let mut strs = strings::table(gen);
            stacks::table(gen).write_and_clear(&mut strs, &mut discard);
            strs.write_and_clear(&mut discard);
            drop(strs);
            sink::finish_gen(gen);
            return Advanced::Dropped;
        }

        let freq = *self
            .frequency
            .get_or_insert_with(|| self.calibration.frequency());
        let mut f = BatchSeq::new(gen, NO_THREAD, None, now);
        f.record(EventType::Frequency, &[freq]);
        for b in f.finish().into_iter().chain(status_batches) {
            sink::submit(b);
        }

        let now = self.clock.now();
        let mut stack_batches = BatchSeq::new(gen, NO_THREAD, Some(EventType::Stacks), now);
        let mut string_batches = BatchSeq::new(gen, NO_THREAD, Some(EventType::Strings), now);
        {
            let mut strs = strings::table(gen);
            stacks::table(gen).write_and_clear(&mut strs, &mut stack_batches);
            strs.write_and_clear(&mut string_batches);
        }
        for b in stack_batches
            .finish()
            .into_iter()
            .chain(string_batches.finish())
        {
            sink::submit(b);
        }
        sink::finish_gen(gen);
        self.written += 1;
        Advanced::Written
    }
}

/// Step 4's batches: one for no thread, one per M that holds a resource.
fn status_batches(
    gen: u64,
    pending: &HashMap<Key, Pending>,
    ms: &HashMap<u64, Arc<ThreadTrace>>,
    now: u64,
) -> Vec<crate::buf::TraceBuf> {
    // Deterministic order: Ps before goroutines, then by ID.
    let mut items: Vec<(&Key, &Pending)> = pending.iter().collect();
    items.sort_unstable_by_key(|(k, _)| (!k.0, k.1));
    let mut seqs: HashMap<u64, BatchSeq> = HashMap::new();
    for (&(_, id), p) in items {
        let (m, ty, args): (u64, EventType, [u64; 3]) = match *p {
            Pending::Go(st @ (GoStatus::Runnable | GoStatus::Waiting), _) => {
                (NO_THREAD, EventType::GoStatus, [id, NO_THREAD, st as u64])
            }
            Pending::Go(st @ (GoStatus::Running | GoStatus::Syscall), Some(m)) => {
                (m, EventType::GoStatus, [id, m, st as u64])
            }
            Pending::Proc(ProcStatus::Idle, _) => (
                NO_THREAD,
                EventType::ProcStatus,
                [id, ProcStatus::Idle as u64, 0],
            ),
            Pending::Proc(st @ (ProcStatus::Running | ProcStatus::Syscall), Some(m)) => {
                (m, EventType::ProcStatus, [id, st as u64, 0])
            }
            // A running resource with no thread, or a status never written.
            _ => continue,
        };
        let seq = seqs.entry(m).or_insert_with(|| {
            // Place an M's batch after everything that M wrote so far.
            let after = ms.get(&m).map_or(0, |t| t.last_time.load(Relaxed));
            BatchSeq::new(gen, m, None, now.max(after))
        });
        let n = ty.arg_count() - 1;
        seq.timed(ty, &args[..n], now);
    }
    let mut ids: Vec<u64> = seqs.keys().copied().collect();
    ids.sort_unstable();
    ids.into_iter()
        .flat_map(|m| seqs.remove(&m).map(BatchSeq::finish).unwrap_or_default())
        .collect()
}

/// The runtime's view of its goroutines and Ps, for end-of-generation statuses.
///
/// Each method calls `f` once per live resource with its ID, its trace state,
/// its status and, for a running or syscall resource, the thread it is on.
/// The runtime must change a resource's status only while holding a
/// [`Locker`](crate::Locker) (and write the matching event under it), so that
/// a status read here is the one the resource had at the end of the
/// generation whenever the resource has no event in that generation: a
/// status stored after the locker's release can be read at a later
/// generation's end with its event already written in an earlier one (the
/// loom model `tests/models/state.rs` and its twin). A resource whose status
/// changes with no event at all must not be listed while it does.
/// Called from the advancer's thread, with no tracer lock held.
#[allow(clippy::type_complexity)]
pub trait StatusSource: Send + Sync {
    /// Calls `f(id, trace, status, thread)` for every live goroutine.
    fn for_each_goroutine(&self, f: &mut dyn FnMut(u64, &GoTrace, GoStatus, Option<u64>));

    /// Calls `f(id, trace, status, thread)` for every P. The default lists
    /// none (Ps then get statuses only from their own events).
    fn for_each_proc(&self, f: &mut dyn FnMut(u64, &ProcTrace, ProcStatus, Option<u64>)) {
        let _ = f;
    }
}
