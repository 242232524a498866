//! Per-thread trace state and the global list of it.
//!
//! Every M (OS thread that runs goroutines) owns one [`ThreadTrace`]: its
//! seqlock, its two batch buffers (one per generation parity), its string and
//! stack caches and the last timestamp it wrote. The runtime creates it with
//! [`ThreadTrace::register`], which also lists it here so the advancer can
//! find every M's buffers, and calls [`ThreadTrace::retire`] when the thread
//! exits.
//!
//! Who touches what:
//!
//! | state          | owner (holding the seqlock)       | advancer                         |
//! |----------------|-----------------------------------|----------------------------------|
//! | `seq`          | odd on acquire, even on release   | reads                            |
//! | `bufs[g % 2]`  | writes while holding a gen-`g` locker | takes it once `g` is over and `seq` was seen even |
//! | `caches`       | reads and writes                  | never                            |
//! | `last_time`    | writes (`Relaxed`)                | reads, to place its own batches for this M after the M's |
//!
//! A retired thread keeps its seqlock odd forever, so later acquires fail and
//! the advancer skips it.

use std::ptr;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};

use crate::buf::TraceBuf;
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicBool, AtomicU64};
use crate::loom::sync::{Arc, Mutex};
use crate::loom::thread;
use crate::stacks::StackCache;
use crate::strings::StringCache;

/// Per-M caches in front of the shared string and stack tables.
#[derive(Debug, Default)]
pub(crate) struct Caches {
    /// Interned strings.
    pub(crate) strings: StringCache,
    /// Interned stacks.
    pub(crate) stacks: StackCache,
}

/// Trace state of one M (an OS thread that runs goroutines).
///
/// Create one per thread with [`ThreadTrace::register`], pass it to
/// [`acquire`](crate::acquire) for every event, and call
/// [`retire`](ThreadTrace::retire) before the thread exits.
#[derive(Debug)]
pub struct ThreadTrace {
    m: u64,
    /// Seqlock: odd while a locker is held (or forever once retired).
    pub(crate) seq: AtomicU64,
    retired: AtomicBool,
    /// Last timestamp written by this M, in any of its batches.
    pub(crate) last_time: AtomicU64,
    bufs: [UnsafeCell<Option<TraceBuf>>; 2],
    /// Goroutines that exited on this M, per generation parity; owned like
    /// `bufs` (see [`Locker::note_exit`](crate::Locker)).
    exited: [UnsafeCell<Vec<u64>>; 2],
    caches: UnsafeCell<Caches>,
    /// Serialises the advancer and `retire` when they take buffers.
    flush: Mutex<()>,
}

// SAFETY: the cells are the only non-`Sync` fields. `caches` and
// `bufs[gen % 2]` for the current generation are touched only by the thread
// that moved `seq` from even to odd (a CAS, so at most one at a time; each
// holder's accesses happen-before the next holder's through the `Release`
// store that ends a hold and the CAS that begins the next). The advancer
// touches `bufs[g % 2]` only after `g` stopped being current and `seq` was
// seen even or the thread retired (see `take_finished`), and `retire` and the
// advancer take buffers only under `flush`. No two threads ever access the
// same cell concurrently.
unsafe impl Sync for ThreadTrace {}

/// Outcome of trying to take a finished generation's buffer from an M.
#[derive(Debug)]
pub(crate) enum Take {
    /// The M holds a locker that may still write the generation: try later.
    Busy,
    /// The buffer (if the M wrote anything in that generation).
    Done(Option<TraceBuf>),
}

crate::loom::global! {
    /// Every registered, not yet retired M.
    static REGISTRY: Mutex<Vec<Arc<ThreadTrace>>> = Mutex::new(Vec::new());
}

crate::loom::global! {
    /// Goroutines that exited on Ms that have retired since, per generation
    /// parity, until the advancer of that generation collects them with the
    /// live Ms' lists ([`take_retired_exited`]).
    static RETIRED_EXITED: Mutex<[Vec<u64>; 2]> = Mutex::new([Vec::new(), Vec::new()]);
}

/// Takes the goroutines that exited in generation `gen` on Ms that retired
/// meanwhile. Call it after [`ThreadTrace::take_exited`] for every M of the
/// registry snapshot: an M retiring concurrently either handed its list over
/// before that call found it empty, or still had it there.
pub(crate) fn take_retired_exited(gen: u64) -> Vec<u64> {
    std::mem::take(&mut RETIRED_EXITED.lock()[(gen & 1) as usize])
}

impl ThreadTrace {
    /// Creates the trace state of the M with ID `m` and lists it so the
    /// advancer flushes its buffers. Cheap; call it once per thread, whether
    /// or not tracing is on.
    pub fn register(m: u64) -> Arc<ThreadTrace> {
        let t = Arc::new(ThreadTrace {
            m,
            seq: AtomicU64::new(0),
            retired: AtomicBool::new(false),
            last_time: AtomicU64::new(0),
            bufs: [UnsafeCell::new(None), UnsafeCell::new(None)],
            exited: [UnsafeCell::new(Vec::new()), UnsafeCell::new(Vec::new())],
            caches: UnsafeCell::new(Caches::default()),
            flush: Mutex::new(()),
        });
        REGISTRY.lock().push(t.clone());
        t
    }

    /// The M's thread ID, as written in its batches.
    pub fn m_id(&self) -> u64 {
        self.m
    }

    /// Flushes this M's buffers to the sink and removes it from the registry;
    /// later [`acquire`](crate::acquire) calls on it return `None`.
    ///
    /// Call it when the thread exits, with no [`Locker`](crate::Locker) of
    /// this thread alive (it waits for the locker to be dropped otherwise).
    /// Calling it twice is harmless.
    pub fn retire(&self) {
        loop {
            if self.retired.load(Acquire) {
                return;
            }
            let s = self.seq.load(Relaxed);
            if s & 1 == 0 && self.seq.compare_exchange(s, s + 1, SeqCst, Relaxed).is_ok() {
                break;
            }
            thread::yield_now();
        }
        {
            let _g = self.flush.lock();
            for cell in &self.bufs {
                // SAFETY: this thread holds the seqlock (odd, set by the CAS
                // above) so no locker touches the cells, and the advancer only
                // takes buffers while holding `flush`, held here.
                let b = cell.with_mut(|p| unsafe { (*p).take() });
                if let Some(b) = b {
                    crate::sink::submit(b);
                }
            }
            // The goroutines that exited here still matter to the advancer
            // of their generation (`generation.rs`, the pending re-check):
            // hand them over, under `flush` as `take_exited` reads them.
            let mut retired = RETIRED_EXITED.lock();
            for (parity, cell) in self.exited.iter().enumerate() {
                // SAFETY: as for the buffers above.
                let ids = cell.with_mut(|p| std::mem::take(unsafe { &mut *p }));
                retired[parity].extend(ids);
            }
        }
        // Pairs with the `Acquire` load in `take_finished`: the buffers above
        // are queued before the advancer may skip this thread.
        self.retired.store(true, Release);
        REGISTRY.lock().retain(|t| !ptr::eq(&**t, self));
    }

    /// Removes this M from the registry without retiring it, for loom
    /// models that keep their Ms themselves (loom cannot drop a registry
    /// still holding them after a failed execution).
    #[cfg(all(loom, test))]
    pub(crate) fn unlist(&self) {
        REGISTRY.lock().retain(|t| !ptr::eq(&**t, self));
    }

    /// This M's buffer slot for generation `gen`, as a pointer guard rather
    /// than a closure so that the event path inlines through it.
    ///
    /// # Safety
    ///
    /// The caller holds this M's seqlock (it moved `seq` from even to odd and
    /// has not released it) and loaded `gen` as the current generation while
    /// holding it, and dereferences the result only while it holds the
    /// seqlock. The advancer takes slot `gen % 2` only after `gen` stopped
    /// being current and this seqlock was seen even, which cannot happen
    /// during this hold; the seqlock excludes other holders.
    #[inline(always)]
    pub(crate) unsafe fn buf_slot(&self, gen: u64) -> crate::loom::cell::MutPtr<Option<TraceBuf>> {
        self.bufs[(gen & 1) as usize].get_mut()
    }

    /// This M's list of goroutines that exited in generation `gen`.
    ///
    /// # Safety
    ///
    /// As for [`buf_slot`](Self::buf_slot).
    #[inline(always)]
    pub(crate) unsafe fn exited_slot(&self, gen: u64) -> crate::loom::cell::MutPtr<Vec<u64>> {
        self.exited[(gen & 1) as usize].get_mut()
    }

    /// Takes the goroutines that exited on this M in generation `gen`. Call
    /// it only after [`take_finished`](Self::take_finished)`(gen)` returned
    /// [`Take::Done`] for this M.
    pub(crate) fn take_exited(&self, gen: u64) -> Vec<u64> {
        let _g = self.flush.lock();
        self.exited[(gen & 1) as usize].with_mut(|p| {
            // `take_finished(gen)` returned `Done`: the M writes `gen` no more,
            // `gen + 2` cannot begin before this advance ends, `flush` holds.
            // SAFETY: so nobody else touches this slot now.
            std::mem::take(unsafe { &mut *p })
        })
    }

    /// Runs `f` on this M's caches.
    ///
    /// # Safety
    ///
    /// The caller holds this M's seqlock.
    #[inline(always)]
    pub(crate) unsafe fn with_caches<R>(&self, f: impl FnOnce(&mut Caches) -> R) -> R {
        self.caches.with_mut(|p| {
            // SAFETY: only seqlock holders touch the caches, and the caller
            // holds it.
            f(unsafe { &mut *p })
        })
    }

    /// Takes the buffer this M filled in generation `gen`, which must no
    /// longer be current (checked: `Busy` otherwise).
    pub(crate) fn take_finished(&self, gen: u64) -> Take {
        if crate::state::current_gen() == gen {
            return Take::Busy;
        }
        // `set_gen` ran the advancer's half of the fence after publishing a
        // newer generation, so if this load sees `seq` even, any later
        // holder loads a generation other than `gen` (generations never
        // repeat). `Acquire` pairs with the `Release` store that ended the
        // last hold: its buffer writes are visible below.
        let s = self.seq.load(Acquire);
        // `Acquire` pairs with the `Release` store in `retire`.
        if s & 1 == 1 && !self.retired.load(Acquire) {
            return Take::Busy;
        }
        let _g = self.flush.lock();
        let b = self.bufs[(gen & 1) as usize].with_mut(|p| {
            // `gen` is over and the seqlock was seen even (the load above also
            // acquires every write of the holders before it), or the thread
            // retired; `retire` is excluded by `flush`.
            // SAFETY: so no locker writes slot `gen % 2` until generation
            // `gen + 2`, which cannot begin before this advance finishes.
            unsafe { (*p).take() }
        });
        Take::Done(b)
    }
}

/// The registered Ms, at this moment.
pub(crate) fn snapshot() -> Vec<Arc<ThreadTrace>> {
    REGISTRY.lock().clone()
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn register_and_retire_update_the_list() {
        let t = ThreadTrace::register(900_001);
        assert!(snapshot().iter().any(|x| ptr::eq(&**x, &*t)));
        t.retire();
        t.retire();
        assert!(!snapshot().iter().any(|x| ptr::eq(&**x, &*t)));
        assert_eq!(t.seq.load(Relaxed) & 1, 1, "retired threads stay locked");
        assert!(matches!(t.take_finished(u64::MAX - 5), Take::Done(None)));
    }
}
