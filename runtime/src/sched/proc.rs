//! `Proc`: a P, the scheduling slot an M must hold to run goroutines.
//!
//! A P owns a local run queue and a `runnext` slot. Owner-only state lives in
//! [`ProcLocal`], reached only by the M holding the P ([`Proc::local`]).
//!
//! ```text
//!   status   meaning                         who may change it
//!   IDLE     in the idle list                 the M that takes it (under sched lock)
//!   RUNNING  held by an M running code        its M
//!   SYSCALL  held by an M in a syscall        its M (back to RUNNING), or sysmon
//!                                             (retake: to IDLE)
//! ```

use super::queue::{self, Local, Steal};
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering::*};
use crate::loom::sync::Mutex;
use crate::task::TaskRef;

pub(crate) const IDLE: u64 = 0;
pub(crate) const RUNNING: u64 = 1;
const SYSCALL_TAG: u64 = 2;

/// The status of a P in the syscall numbered `tick` (`Proc::syscall_tick`):
/// SYSCALL in the low bits, the syscall's number above them. An M leaving its
/// syscall takes its P back only from that very syscall, never from a later
/// one of another M that got the P after sysmon retook it (an ABA the trace
/// would show as a ProcSteal followed by the old M's GoSyscallEnd).
pub(crate) const fn syscall(tick: u64) -> u64 {
    SYSCALL_TAG | tick << 2
}

/// Whether `status` is a SYSCALL status.
pub(crate) const fn is_syscall(status: u64) -> bool {
    status & 3 == SYSCALL_TAG
}

/// Every this many picks, an M looks at the global queue first (Go uses 61).
pub(crate) const GLOBAL_CHECK_EVERY: u32 = 61;

/// State only the holding M touches.
#[derive(Debug)]
pub(crate) struct ProcLocal {
    pub(crate) queue: Local<TaskRef>,
    /// Scheduling decisions made on this P (for the global-queue fairness check).
    pub(crate) tick: u32,
    /// Picks left until the next look at the global queue first.
    pub(crate) until_global: u32,
    /// Consecutive picks from `runnext` (bounded, so a ping-pong pair cannot
    /// starve the rest of the queue).
    pub(crate) runnext_streak: u32,
}

/// The `runnext` slot: the goroutine to run next on this P. The holder puts
/// and takes with `swap`; an idle P may steal it the same way, so exactly one
/// side gets a queued goroutine.
#[derive(Debug, Default)]
pub(crate) struct RunNext {
    slot: AtomicPtr<crate::task::Task>,
    /// Puts so far (wrapping; written by the holder only): a thief that
    /// sees it move knows the holder is busy handing goroutines over.
    puts: AtomicU32,
}

impl RunNext {
    pub(crate) fn is_some(&self) -> bool {
        !self.slot.load(Relaxed).is_null()
    }

    /// How many goroutines the holder has put so far (wrapping).
    pub(crate) fn puts(&self) -> u32 {
        self.puts.load(Relaxed)
    }

    /// Puts `t`; returns the goroutine it displaced. Called by the holder.
    pub(crate) fn replace(&self, t: TaskRef) -> Option<TaskRef> {
        // One writer: a load and a store, no read-modify-write.
        self.puts
            .store(self.puts.load(Relaxed).wrapping_add(1), Relaxed);
        // AcqRel: release publishes `t` to whoever takes it; acquire pairs
        // with the release of the displaced one.
        let old = self.slot.swap(TaskRef::into_raw(t).cast_mut(), AcqRel);
        // SAFETY: non-null pointers in the slot come from `TaskRef::into_raw`
        // and the swap made us their only owner.
        (!old.is_null()).then(|| unsafe { TaskRef::from_raw(old) })
    }

    /// Takes the goroutine, if any.
    pub(crate) fn take(&self) -> Option<TaskRef> {
        if self.slot.load(Relaxed).is_null() {
            return None;
        }
        // AcqRel: see `replace`.
        let old = self.slot.swap(std::ptr::null_mut(), AcqRel);
        // SAFETY: as in `replace`.
        (!old.is_null()).then(|| unsafe { TaskRef::from_raw(old) })
    }
}

impl Drop for RunNext {
    fn drop(&mut self) {
        drop(self.take());
    }
}

/// A P.
pub(crate) struct Proc {
    pub(crate) id: usize,
    pub(crate) status: AtomicU64,
    /// Incremented on every syscall entry; sysmon uses it to see a syscall
    /// that has lasted across two of its checks.
    pub(crate) syscall_tick: AtomicU64,
    /// The worker that entered the current syscall while holding this P.
    pub(crate) syscall_m: AtomicU64,
    /// 0, or 1 + the worker a syscall-retake took this P from (for the
    /// trace's `ProcSteal`); read by the M that acquires the P next.
    pub(crate) stolen_from: AtomicU64,
    /// 0, or 1 + the worker holding this P (for the trace's statuses): set
    /// as an M takes the P, cleared as it gives it up or sysmon retakes it.
    /// A RUNNING P with no holder is being handed to an M.
    pub(crate) holder: AtomicU64,
    pub(crate) steal: Steal<TaskRef>,
    pub(crate) runnext: RunNext,
    local: UnsafeCell<ProcLocal>,
    /// The goroutines created on this P (for shutdown and trace status
    /// enumeration).
    pub(crate) registry: Mutex<Registry>,
    #[cfg(feature = "trace")]
    pub(crate) trace: gort_tracer::ProcTrace,
}

// SAFETY: `local` is accessed only by the M holding the P (see `Proc::local`);
// P ownership moves between Ms through the sched lock or the status CAS,
// which order those accesses.
unsafe impl Sync for Proc {}
// SAFETY: as above.
unsafe impl Send for Proc {}

impl std::fmt::Debug for Proc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proc")
            .field("id", &self.id)
            .field("status", &self.status.load(Relaxed))
            .finish()
    }
}

impl Proc {
    pub(crate) fn new(id: usize) -> Proc {
        let (q, steal) = queue::local();
        Proc {
            id,
            status: AtomicU64::new(IDLE),
            syscall_tick: AtomicU64::new(0),
            syscall_m: AtomicU64::new(0),
            stolen_from: AtomicU64::new(0),
            holder: AtomicU64::new(0),
            steal,
            runnext: RunNext::default(),
            local: UnsafeCell::new(ProcLocal {
                queue: q,
                tick: 0,
                until_global: GLOBAL_CHECK_EVERY,
                runnext_streak: 0,
            }),
            registry: Mutex::new(Registry::default()),
            #[cfg(feature = "trace")]
            trace: gort_tracer::ProcTrace::default(),
        }
    }

    /// The P's owner-only state.
    ///
    /// # Safety
    /// The caller's thread must hold this P, and must not let two results of
    /// this function be alive at once.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn local(&self) -> &mut ProcLocal {
        // SAFETY: exclusive access is guaranteed by the caller.
        self.local.with_mut(|p| unsafe { &mut *p })
    }

    /// Whether the P has queued work (a snapshot, for any thread).
    pub(crate) fn has_work_hint(&self) -> bool {
        !self.steal.is_empty() || self.runnext.is_some()
    }

    /// Worker `m` holds the P now (called after its `ProcStart` is
    /// written; Release: a reader that sees the holder sees that event's
    /// claim of the P's status too).
    #[inline]
    pub(crate) fn set_holder(&self, m: usize) {
        self.holder.store(m as u64 + 1, Release);
    }

    /// Worker `m` gives the P up (no effect if another M holds it by now).
    #[inline]
    pub(crate) fn clear_holder(&self, m: usize) {
        let _ = self
            .holder
            .compare_exchange(m as u64 + 1, 0, Relaxed, Relaxed);
    }

    /// The worker holding the P, if any (a snapshot).
    #[cfg_attr(not(feature = "trace"), allow(dead_code))]
    pub(crate) fn holder(&self) -> Option<usize> {
        match self.holder.load(Acquire) {
            0 => None,
            h => Some(h as usize - 1),
        }
    }

    /// Records a goroutine created on this P.
    pub(crate) fn register(&self, t: &TaskRef) {
        self.registry.lock().register(t);
    }
}

/// Weak references to the goroutines created on one P.
///
/// Finished goroutines' entries are dropped a few at a time, by each
/// registration: as many finish as start, so the list stays about as long as
/// the number of live goroutines, and a finished goroutine's memory is freed
/// one at a time, soon after it ends (a sweep of many at once would free
/// them in a burst, which the allocator serves much more slowly).
#[derive(Debug, Default)]
pub(crate) struct Registry {
    tasks: Vec<crate::task::TaskWeak>,
    /// Where the incremental sweep looks next.
    cursor: usize,
}

impl Registry {
    /// Entries examined per registration (more than one, so the sweep keeps
    /// up with goroutines that finish).
    const SWEEP: usize = 2;

    fn register(&mut self, t: &TaskRef) {
        for _ in 0..Self::SWEEP {
            if self.tasks.is_empty() {
                break;
            }
            if self.cursor >= self.tasks.len() {
                self.cursor = 0;
            }
            if self.tasks[self.cursor].strong_count() == 0 {
                // The last entry moves here; the next look sees it.
                self.tasks.swap_remove(self.cursor);
            } else {
                self.cursor += 1;
            }
        }
        self.tasks.push(TaskRef::downgrade(t));
    }

    /// Appends to `out` up to `max` live goroutines that pass `keep`, from
    /// entry `from` on; returns where the next call goes on (0: the end).
    pub(crate) fn candidates(
        &self,
        from: usize,
        max: usize,
        out: &mut Vec<TaskRef>,
        keep: impl Fn(&crate::task::Task) -> bool,
    ) -> usize {
        let mut at = from;
        while at < self.tasks.len() {
            if let Some(t) = self.tasks[at].upgrade() {
                if keep(&t) {
                    out.push(t);
                }
            }
            at += 1;
            if out.len() >= max {
                return if at < self.tasks.len() { at } else { 0 };
            }
        }
        0
    }

    /// The goroutines still alive.
    pub(crate) fn live(&self) -> Vec<TaskRef> {
        self.tasks.iter().filter_map(|w| w.upgrade()).collect()
    }

    /// Entries held, finished goroutines' included.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Drops the entries of finished goroutines.
    pub(crate) fn compact(&mut self) {
        self.tasks.retain(|w| w.strong_count() != 0);
        self.cursor = 0;
    }

    /// Empties the list, returning the goroutines still alive.
    pub(crate) fn drain_live(&mut self) -> Vec<TaskRef> {
        self.cursor = 0;
        self.tasks.drain(..).filter_map(|w| w.upgrade()).collect()
    }
}
