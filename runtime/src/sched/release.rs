//! Releasing the stacks of goroutines parked for long: the scheduler's
//! side of `coro::release`.
//!
//! Sysmon runs a pass every so often while goroutines may be waiting
//! ([`Shared::release_due`]); a pass walks every P's registry for
//! goroutines that parked before a cutoff and whose stack is not released
//! yet, and for each:
//! 1. takes it over through its park word (`ParkWord::claim_parked`:
//!    PARKED -> EMPTY, as a waker would; a goroutine that is not parked is
//!    left alone);
//! 2. as its owner now, copies the live top of its stack to the heap and
//!    gives the pages back (`Coro::release_top`), from the stack pointer it
//!    recorded as it parked less the suspension's measured depth;
//! 3. gives it back: EMPTY -> PARKED, exactly the M's commit of a park. A
//!    wake-up that came in between found the word EMPTY and left a token
//!    (NOTIFIED): the commit fails, consumes it, and the pass schedules the
//!    goroutine as that waker would have (from outside any M, so the M that
//!    starts it writes its unblock event).
//!
//! So a wake-up is never lost, and never waits on more than one goroutine's
//! copy: the park word's protocol with the releaser as one more unparker
//! followed by one more committer (the loom model `release_claim` in
//! `tests/park.rs`). The goroutine's next resume copies its stack back
//! (`Coro::resume`).

use super::Shared;
use crate::coro::release::Canary;
use crate::park::{ParkWord, PARKED};
use crate::task::{Status, TaskRef};
use std::sync::atomic::Ordering::*;
use std::time::{Duration, Instant};

/// Goroutines taken per registry lock.
const BATCH: usize = 256;

impl Shared {
    /// Whether sysmon should look for stacks to release every so often:
    /// release is on and more goroutines live than there are Ps.
    pub(crate) fn release_watch(&self) -> bool {
        // SeqCst: the Dekker pair with `new_task`'s increment and its read
        // of sysmon's armed flag (`Sysmon::watch_release`).
        self.release_after.is_some() && self.live.load(SeqCst) > self.procs.len()
    }

    /// Whether a release pass may find something: goroutines hold more
    /// stacks than Ps run plus stacks already released.
    pub(crate) fn release_due(&self) -> bool {
        self.release_after.is_some()
            && self.stacks.live() > self.stack_ledger.stacks.load(Relaxed) + self.procs.len()
    }

    /// One pass: releases the stacks of the goroutines parked since before
    /// `cutoff` (a coarse-clock stamp). Returns how many it released.
    ///
    /// A `bounded` pass (sysmon's) stops once it has run past its budget
    /// ([`release_budget`](Self::release_budget), looked at after each
    /// batch), and the next bounded pass goes on where it stopped: releasing
    /// a million stacks is a few seconds of copying and page-table work,
    /// which must not take more than a slice of a core from busy goroutines
    /// nor keep sysmon from its other duties for long. An unbounded pass
    /// covers every goroutine.
    pub(crate) fn release_parked(
        self: &std::sync::Arc<Self>,
        cutoff: usize,
        bounded: bool,
    ) -> usize {
        let Some(depth) = Canary::depth() else {
            return 0;
        };
        self.releasing.fetch_add(1, SeqCst);
        let released = self.release_pass(cutoff, depth, bounded);
        self.releasing.fetch_sub(1, SeqCst);
        // A deadlock check that ran during the pass stood down for it.
        let mut s = self.sched.lock();
        self.check_deadlock(&mut s);
        released
    }

    fn release_pass(
        self: &std::sync::Arc<Self>,
        cutoff: usize,
        depth: usize,
        bounded: bool,
    ) -> usize {
        let started = Instant::now();
        let mut released = 0;
        let mut batch: Vec<TaskRef> = Vec::with_capacity(BATCH);
        // Where the last budgeted pass stopped: (P, registry entry).
        let (first, mut at) = if bounded {
            *self.release_cursor.lock()
        } else {
            (0, 0)
        };
        for (i, p) in self.procs.iter().enumerate().skip(first) {
            if i > first {
                at = 0;
            }
            loop {
                at = p.registry.lock().candidates(at, BATCH, &mut batch, |t| {
                    // A stamp of 0 is a park before the coarse clock first
                    // ran: older than any cutoff.
                    let (site, since) = t.last_wait();
                    site.is_some()
                        && since <= cutoff
                        && t.status() == Status::Waiting
                        && t.park.load(Relaxed) == PARKED
                        && !t.stack_released.load(Relaxed)
                });
                for t in batch.drain(..) {
                    released += usize::from(self.release_one(t, depth));
                }
                if at == 0 {
                    break;
                }
                if bounded && started.elapsed() >= self.release_budget() {
                    *self.release_cursor.lock() = (i, at);
                    return released;
                }
            }
        }
        if bounded {
            *self.release_cursor.lock() = (0, 0);
        }
        released
    }

    /// Steps 1 to 3 of the module doc for `t`. True if its stack was
    /// released.
    fn release_one(self: &std::sync::Arc<Self>, t: TaskRef, depth: usize) -> bool {
        if !ParkWord::new(&t.park).claim_parked() {
            return false;
        }
        // The claim's acquire pairs with the commit of the park, which came
        // after the goroutine recorded its stack pointer and suspended. No
        // live data lies more than the measured depth below that pointer.
        // SAFETY: the claim made this thread the goroutine's owner: it is
        // suspended (parked, in no queue) until the commit below; the flag is
        // a field of the task that owns the coroutine.
        let done = unsafe {
            let sp = t.park_sp.with_mut(|p| *p);
            let ledger = &self.stack_ledger;
            t.with_coro(|c| match c {
                Some(c) if sp > depth => c.release_top(sp - depth, ledger, &t.stack_released),
                _ => None,
            })
        };
        if !ParkWord::new(&t.park).commit() {
            // Woken meanwhile: schedule it as its waker would have.
            super::park::ready_claimed(t);
        }
        done.is_some()
    }

    /// The coarse-clock cutoff for a pass now: `now` less the configured
    /// delay, or `None` if release is off or nothing can be old enough.
    pub(crate) fn release_cutoff(&self, now: usize) -> Option<usize> {
        let after = self.release_after?;
        let secs = after.as_secs().max(1) as usize;
        now.checked_sub(secs).filter(|&c| c > 0)
    }

    /// The time a sysmon pass may run, judged now: a tenth of its period
    /// while any P is busy, the whole period while every P is idle (nothing
    /// to take it from).
    pub(crate) fn release_budget(&self) -> Duration {
        let period = self.release_period().unwrap_or(Duration::from_secs(1));
        if self.idle.idle_ps() >= self.procs.len() {
            period
        } else {
            period / 10
        }
    }

    /// How often sysmon looks for goroutines to release.
    pub(crate) fn release_period(&self) -> Option<Duration> {
        self.release_after
            .map(|d| (d / 2).clamp(Duration::from_millis(500), Duration::from_secs(10)))
    }
}
