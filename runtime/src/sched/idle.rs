//! Idle accounting: which Ps are idle, which Ms sleep waiting to be handed
//! one, how many Ms are spinning (looking for work while holding a P), and
//! the handshake that keeps a goroutine from being stranded while every M
//! that could run it goes to sleep.
//!
//! The state comes in two halves. [`Lists`] lives under the scheduler lock:
//! the idle Ps, the sleeping Ms and the count of Ms parked without a P (the
//! deadlock check compares it with the number of Ms). [`Counts`] mirrors the
//! two numbers that code without the lock needs: `npidle` (the length of
//! the idle-P list) and `nspinning`. Every change to the idle-P list goes
//! through a method here that moves `npidle` with it, under the lock, so the
//! two never disagree when the lock is free.
//!
//! # The wake-up handshake
//!
//! An M that makes a goroutine runnable on its P (a queue store, release)
//! then asks [`Counts::wake_wanted`]: is there an idle P and nobody spinning?
//! If so it hands an idle P to a sleeping M ([`Lists::take_p_spinning`],
//! [`Lists::pop_m`]). An M that runs out of work announces its P idle
//! ([`Lists::announce`], which raises `npidle`), leaves the lock, and
//! [`Counts::recheck`]s every queue before it sleeps; finding work, it takes
//! an idle P back ([`Lists::reclaim`]).
//!
//! That is a store-buffering pair: each side publishes (the queue slot; the
//! idle P) and then reads what the other publishes. Release/acquire on the
//! queue and `SeqCst` on the counters alone do not forbid both reads seeing
//! the old values (the queue's store is not `SeqCst`); a `SeqCst` fence
//! between the publish and the read on each side does: either the waker sees
//! the idle P and wakes an M, or the idle M sees the queued goroutine. The
//! loom model in `tests/idle.rs` drives these functions and rejects each
//! weakening of it ([`IdleSteps`]: without either fence, without the
//! re-check).
#![deny(unsafe_code)]

use crate::loom::sync::atomic::{fence, AtomicUsize, Ordering::*};
use std::marker::PhantomData;

/// The steps of the handshake that its loom model replaces to show that
/// each is needed; the runtime uses [`Faithful`].
pub(crate) trait IdleSteps {
    /// Between a waker's queue store and its reads of the counters.
    fn wake_fence() {
        fence(SeqCst);
    }
    /// Between an M's announcement of its idle P and its re-check.
    fn recheck_fence() {
        fence(SeqCst);
    }
    /// Whether an M re-checks the queues after announcing its idle P.
    const RECHECK: bool = true;
}

/// The handshake as the runtime runs it.
#[derive(Debug)]
pub(crate) struct Faithful;

impl IdleSteps for Faithful {}

/// The counters read without the scheduler lock.
#[derive(Debug)]
pub(crate) struct Counts<S: IdleSteps = Faithful> {
    /// Idle Ps: the length of [`Lists`]'s idle-P list.
    npidle: AtomicUsize,
    /// Ms looking for work while holding a P (or handed one to look).
    nspinning: AtomicUsize,
    steps: PhantomData<S>,
}

impl<S: IdleSteps> Counts<S> {
    /// `nprocs` Ps, all idle; nobody spinning.
    pub(crate) fn new(nprocs: usize) -> Self {
        Counts {
            npidle: AtomicUsize::new(nprocs),
            nspinning: AtomicUsize::new(0),
            steps: PhantomData,
        }
    }

    /// Idle Ps now.
    #[inline]
    pub(crate) fn idle_ps(&self) -> usize {
        self.npidle.load(SeqCst)
    }

    /// Spinning Ms now.
    #[inline]
    pub(crate) fn spinning(&self) -> usize {
        self.nspinning.load(SeqCst)
    }

    /// Called after making work runnable: whether an M should be woken to
    /// run it (an idle P exists and no M is spinning, which would find the
    /// work itself). The fence is this side of the handshake.
    #[inline]
    pub(crate) fn wake_wanted(&self) -> bool {
        S::wake_fence();
        self.npidle.load(SeqCst) != 0 && self.nspinning.load(SeqCst) == 0
    }

    /// An M holding a P starts spinning, unless half the busy Ps already
    /// have a spinning M (Go's bound on thieves; `nprocs` Ps in all).
    /// Whether it did.
    #[inline]
    pub(crate) fn try_start_spinning(&self, nprocs: usize) -> bool {
        // Relaxed: only a heuristic bound; the increment below is what the
        // wake-up handshake reads.
        let spinning = self.nspinning.load(Relaxed);
        let busy = nprocs.saturating_sub(self.npidle.load(Relaxed));
        if 2 * spinning >= busy {
            return false;
        }
        self.nspinning.fetch_add(1, SeqCst);
        true
    }

    /// A spinning M stopped spinning (it found work, or gives its P up).
    #[inline]
    pub(crate) fn stop_spinning(&self) {
        self.nspinning.fetch_sub(1, SeqCst);
    }

    /// The idle M's side of the handshake, after [`Lists::announce`] and
    /// outside the lock: whether `work` (a look at every run queue,
    /// `runnext` included, and the global queue) finds something, in which
    /// case the M must [`Lists::reclaim`] a P instead of sleeping.
    #[inline]
    pub(crate) fn recheck(&self, work: impl FnOnce() -> bool) -> bool {
        if !S::RECHECK {
            return false;
        }
        S::recheck_fence();
        work()
    }
}

/// The idle state under the scheduler lock; `H` is the handle of a
/// sleeping M.
#[derive(Debug)]
pub(crate) struct Lists<H> {
    /// Idle Ps (a stack: the most recently idled is reused first).
    procs: Vec<usize>,
    /// Ms asleep waiting to be handed a P.
    ms: Vec<H>,
    /// Ms parked without a P: those in `ms`, plus Ms that wait for their
    /// wired goroutine or sit in a syscall without a P.
    nidle: usize,
}

impl<H> Default for Lists<H> {
    fn default() -> Self {
        Lists::new(0)
    }
}

impl<H> Lists<H> {
    /// `nprocs` idle Ps (P 0 handed out first), no sleeping M.
    pub(crate) fn new(nprocs: usize) -> Self {
        Lists {
            procs: (0..nprocs).rev().collect(),
            ms: Vec::new(),
            nidle: 0,
        }
    }

    /// The idle Ps (for the tracer's statuses at a trace's start).
    #[cfg_attr(not(feature = "trace"), allow(dead_code))]
    pub(crate) fn idle_procs(&self) -> &[usize] {
        &self.procs
    }

    /// The Ms asleep waiting for a P.
    pub(crate) fn sleeping(&self) -> &[H] {
        &self.ms
    }

    /// Ms parked without a P.
    pub(crate) fn nidle(&self) -> usize {
        self.nidle
    }

    /// Puts P `p` on the idle list.
    pub(crate) fn put_p<S: IdleSteps>(&mut self, c: &Counts<S>, p: usize) {
        self.procs.push(p);
        // SeqCst: the idle P is what wakers read (see the module doc).
        c.npidle.fetch_add(1, SeqCst);
    }

    /// Takes an idle P, if any.
    pub(crate) fn take_p<S: IdleSteps>(&mut self, c: &Counts<S>) -> Option<usize> {
        let p = self.procs.pop()?;
        c.npidle.fetch_sub(1, SeqCst);
        Some(p)
    }

    /// Takes P `preferred` if it is idle, else any idle P.
    pub(crate) fn take_p_preferring<S: IdleSteps>(
        &mut self,
        c: &Counts<S>,
        preferred: usize,
    ) -> Option<usize> {
        let pos = self.procs.iter().position(|&p| p == preferred);
        let p = match pos {
            Some(i) => self.procs.swap_remove(i),
            None => self.procs.pop()?,
        };
        c.npidle.fetch_sub(1, SeqCst);
        Some(p)
    }

    /// Takes an idle P for an M that will spin with it (the M woken by a
    /// waker): it counts as spinning from now, so other wakers need not
    /// wake another.
    pub(crate) fn take_p_spinning<S: IdleSteps>(&mut self, c: &Counts<S>) -> Option<usize> {
        let p = self.take_p(c)?;
        c.nspinning.fetch_add(1, SeqCst);
        Some(p)
    }

    /// An M goes to sleep waiting for a P.
    pub(crate) fn park_m(&mut self, m: H) {
        self.nidle += 1;
        self.ms.push(m);
    }

    /// Takes a sleeping M to hand a P to; it no longer counts as idle.
    pub(crate) fn pop_m(&mut self) -> Option<H> {
        let m = self.ms.pop()?;
        self.nidle -= 1;
        Some(m)
    }

    /// An M that waits without a P but not on the sleep list (for its wired
    /// goroutine) counts as idle.
    pub(crate) fn count_idle(&mut self) {
        self.nidle += 1;
    }

    /// Such an M is handed its goroutine back: no longer idle.
    pub(crate) fn uncount_idle(&mut self) {
        self.nidle -= 1;
    }

    /// An M with nothing to run gives up its P `p` and goes on the sleep
    /// list as `m`, in one step under the lock; a spinning M stops
    /// spinning. Next, outside the lock: [`Counts::recheck`].
    pub(crate) fn announce<S: IdleSteps>(
        &mut self,
        c: &Counts<S>,
        p: usize,
        m: H,
        was_spinning: bool,
    ) {
        self.put_p(c, p);
        if was_spinning {
            c.stop_spinning();
        }
        self.park_m(m);
    }

    /// The sleeping M `is_me` takes an idle P for itself: after its
    /// [`Counts::recheck`] found work (`spin`: it then looks for that work
    /// as a spinning M), or when a timer fell due. `None` when it is no
    /// longer on the sleep list (a waker took it: a P is on its way) or no P
    /// is idle.
    pub(crate) fn reclaim<S: IdleSteps>(
        &mut self,
        c: &Counts<S>,
        is_me: impl Fn(&H) -> bool,
        spin: bool,
    ) -> Option<usize> {
        let pos = self.ms.iter().position(is_me)?;
        let p = if spin {
            self.take_p_spinning(c)?
        } else {
            self.take_p(c)?
        };
        self.ms.swap_remove(pos);
        self.nidle -= 1;
        Some(p)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_the_lists() {
        let c: Counts = Counts::new(3);
        let mut l: Lists<u32> = Lists::new(3);
        assert_eq!(l.take_p(&c), Some(0));
        assert_eq!(l.take_p_preferring(&c, 2), Some(2));
        assert_eq!(c.idle_ps(), 1);
        assert!(c.try_start_spinning(3));
        l.announce(&c, 2, 7, true);
        assert_eq!((c.idle_ps(), c.spinning(), l.nidle()), (2, 0, 1));
        assert_eq!(l.reclaim(&c, |&m| m == 8, true), None, "not asleep");
        assert_eq!(l.reclaim(&c, |&m| m == 7, true), Some(2));
        assert_eq!((c.idle_ps(), c.spinning(), l.nidle()), (1, 1, 0));
        assert!(l.sleeping().is_empty());
        assert_eq!(l.idle_procs(), &[1]);
    }

    #[test]
    fn spinning_is_bounded_by_half_the_busy_ps() {
        let c: Counts = Counts::new(4);
        let mut l: Lists<u32> = Lists::new(4);
        assert!(!c.try_start_spinning(4), "no busy P: nobody to steal from");
        l.take_p(&c);
        l.take_p(&c);
        assert!(c.try_start_spinning(4));
        assert!(!c.try_start_spinning(4), "one spinner per two busy Ps");
        c.stop_spinning();
        assert!(c.wake_wanted(), "idle Ps and nobody spinning");
    }
}
