//! The worker loop: an M (OS thread) that runs goroutines while it holds a P.
//!
//! Loop, per M:
//! 1. Find a runnable goroutine ([`Worker::find_runnable`]); with none, spin
//!    a little if this M is a spinning one, then give the P back and park
//!    until handed a P (and maybe a goroutine).
//! 2. Resume it ([`Worker::execute`]) and act on what it asks when it
//!    suspends: requeue (yield), park, switch to a coroutine and back, queue
//!    itself after a syscall that lost its P; or retire it when it returns.
//! 3. A goroutine wired to this M (`lock_os_thread`) that blocks keeps the M:
//!    the M hands its P away and waits until the goroutine is runnable again
//!    and another M hands it a P ([`Worker::locked_wait`]).
//!
//! Shutdown: `Runtime::drop` sets `shutdown`; Ms finish the goroutine they run,
//! then exit at their next scheduling point.

use super::context::set_current_worker;
use super::proc::{self, Proc, ProcLocal};
use super::queue::Stolen;
use super::{Handoff, Shared, WorkerHandle};
use crate::coro::Resume;
use crate::hooks as tr;
use crate::loom::sync::atomic::{fence, Ordering::*};
use crate::loom::sync::{Arc, Mutex};
use crate::park;
use crate::task::state::{transition, Status, WaitReason};
use crate::task::CoroLink;
use crate::task::Req;
use crate::task::TaskRef;
use crossbeam_utils::sync::Parker;
use std::cell::Cell;
use std::ptr::NonNull;

/// Picks from `runnext` at most this many times in a row.
const RUNNEXT_STREAK_MAX: u32 = 64;
/// How long a thief leaves a victim's `runnext` to its owner (Go waits
/// about 3 µs too).
const RUNNEXT_STEAL_GRACE: std::time::Duration = std::time::Duration::from_micros(3);
/// Every this many picks, look at the global queue first (Go uses 61).
const GLOBAL_CHECK_EVERY: u32 = 61;
/// How long a spinning M that found nothing keeps its P and keeps looking
/// before it gives the P back and sleeps. While it looks, `wakep` sees a
/// spinning M and wakes nobody, so a burst of hand-offs between goroutines
/// on another P costs no futex wake each; an idle runtime still goes quiet
/// after this long.
const IDLE_SPIN: std::time::Duration = std::time::Duration::from_micros(100);

/// The M: per-thread scheduler state. Reached from goroutine code only
/// through `context::current_worker()`; all fields are `Cell`s because the
/// loop and the goroutines it runs share them on one thread.
pub(crate) struct Worker {
    pub(crate) shared: Arc<Shared>,
    pub(crate) handle: Arc<WorkerHandle>,
    parker: Parker,
    /// The P held, if any.
    pub(crate) p: Cell<Option<usize>>,
    /// The goroutine running right now (null in the loop).
    pub(crate) cur: Cell<*const crate::task::Task>,
    /// Whether a goroutine is wired to this M.
    pub(crate) locked: Cell<bool>,
    spinning: Cell<bool>,
    /// Exit the thread after the current goroutine (a wired goroutine exited
    /// while still wired, as Go does).
    exit: Cell<bool>,
    /// A goroutine to run before looking at queues.
    next: Cell<Option<TaskRef>>,
    /// A goroutine that was running on this M when it stopped for the world;
    /// it continues without a new start.
    resume: Cell<Option<TaskRef>>,
    /// A coroutine (and its request) handed over by a caller whose direct
    /// switch could not complete (see `Req::Forward`).
    pub(crate) forwarded: Cell<Option<(TaskRef, Req)>>,
    /// Inside `gort::syscall`: readies go through the global queue.
    pub(crate) in_syscall: Cell<bool>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("id", &self.handle.id)
            .field("p", &self.p.get())
            .finish()
    }
}

/// Body of every worker thread.
pub(crate) fn run(shared: Arc<Shared>, id: usize, handoff: Option<Handoff>, _unused: Option<()>) {
    crate::coro::overflow::ensure_altstack();
    let parker = Parker::new();
    let handle = Arc::new(WorkerHandle {
        id,
        unparker: parker.unparker().clone(),
        handoff: Mutex::new(handoff),
        #[cfg(feature = "trace")]
        trace: tr::register_thread(id),
    });
    shared.sched.lock().handles.insert(id, handle.clone());
    let w = Worker {
        shared,
        handle,
        parker,
        p: Cell::new(None),
        cur: Cell::new(std::ptr::null()),
        locked: Cell::new(false),
        spinning: Cell::new(false),
        exit: Cell::new(false),
        next: Cell::new(None),
        resume: Cell::new(None),
        forwarded: Cell::new(None),
        in_syscall: Cell::new(false),
    };
    set_current_worker(&w);
    w.take_handoff();
    w.schedule();
    set_current_worker(std::ptr::null());
    let mut s = w.shared.sched.lock();
    s.nworkers -= 1;
    s.handles.remove(&id);
    w.shared.sched_cv.notify_all();
    drop(s);
    #[cfg(feature = "trace")]
    w.handle.trace.retire();
}

impl Worker {
    /// The P this M holds.
    #[inline(always)]
    pub(crate) fn proc(&self) -> Option<&Proc> {
        self.p.get().map(|i| &self.shared.procs[i])
    }

    /// Runs `f` on the held P's owner-only state.
    #[inline(always)]
    pub(crate) fn with_local<R>(&self, f: impl FnOnce(&mut ProcLocal) -> R) -> Option<R> {
        let p = self.proc()?;
        // SAFETY: this thread holds the P; the borrow ends with `f`, and no
        // caller nests `with_local`.
        Some(f(unsafe { p.local() }))
    }

    fn take_handoff(&self) -> bool {
        let h = self.handle.handoff.lock().take();
        match h {
            Some(h) => {
                self.acquire_p(h.p);
                self.spinning.set(h.spinning);
                if let Some(t) = h.task {
                    self.next.set(Some(t));
                }
                true
            }
            None => false,
        }
    }

    fn acquire_p(&self, p: usize) {
        self.shared.procs[p].status.store(proc::RUNNING, Release);
        self.p.set(Some(p));
        tr::proc_start(self, p);
        // A P became busy: sysmon, asleep while every P was idle, watches
        // the network poller again.
        self.shared.sysmon.busy_p();
    }

    fn schedule(&self) {
        loop {
            if self.exit.get() {
                self.release_p(false);
                return;
            }
            if self.locked.get() {
                if self.shared.shutting_down.load(Acquire) {
                    self.release_p(false);
                    return;
                }
                // Our wired goroutine is blocked or queued: wait for it.
                self.release_p(true);
                self.locked_wait();
                if let Some(t) = self.next.take() {
                    self.execute(t, true);
                }
                continue;
            }
            if self.p.get().is_some() && self.shared.stw_requested() {
                self.stop_for_stw();
            }
            if let Some(t) = self.resume.take() {
                // Stopped for the world between two coroutine switches: it
                // is still running, so no new start.
                self.execute(t, false);
                continue;
            }
            let Some(t) = self.find_runnable() else {
                return;
            };
            self.execute(t, true);
        }
    }

    /// Finds the next goroutine to run, parking when there is none.
    /// Returns `None` only at shutdown.
    fn find_runnable(&self) -> Option<TaskRef> {
        loop {
            if self.p.get().is_some() && self.shared.stw_requested() {
                self.stop_for_stw();
                continue;
            }
            if let Some(t) = self.next.take() {
                return Some(t);
            }
            if self.shared.shutting_down.load(Acquire) {
                return None;
            }
            if self.p.get().is_none() {
                self.idle_without_p();
                continue;
            }
            if let Some(pid) = self.p.get() {
                // Go's `findRunnable` top: this P's due timers first.
                self.shared.run_timers(pid, false);
            }
            if let Some(t) = self.find_local_or_global() {
                return self.found(t);
            }
            // Go's `netpoll(0)` in `findRunnable`: the network, without
            // blocking, unless an M is blocked in the poll already.
            if let Some(t) = self.poll_network() {
                return self.found(t);
            }
            if let Some(t) = self.steal() {
                return self.found(t);
            }
            // Before going idle, every P's due timers (Go's `stealWork`
            // checks other Ps' timers too): an idle P's timers run here.
            if let Some(pid) = self.p.get() {
                if self.shared.run_timers(pid, true) {
                    continue;
                }
            }
            if let Some(t) = self.idle_spin() {
                return self.found(t);
            }
            self.go_idle();
        }
    }

    /// Polls the network without blocking when goroutines wait on it and no
    /// M is blocked polling; runs the first goroutine made ready, queues
    /// the rest.
    fn poll_network(&self) -> Option<TaskRef> {
        let n = self.shared.timers.netpoll()?;
        if n.waiters() == 0 || n.blocked() {
            return None;
        }
        let mut ready = Vec::new();
        n.poll(Some(std::time::Duration::ZERO), &mut ready);
        self.inject(ready)
    }

    /// Queues goroutines the network poller made ready (Go's
    /// `injectglist`); returns one to run now if this M holds a P. Their
    /// `GoUnblock` (empty stack: no goroutine runs here) is written when
    /// they start.
    fn inject(&self, ready: Vec<TaskRef>) -> Option<TaskRef> {
        let mut own = Vec::with_capacity(ready.len());
        for t in ready {
            t.unblock_pending.store(true, Relaxed);
            if self.shared.owns(&t) {
                own.push(t);
            } else {
                // A descriptor of this runtime's poller waited on by another
                // runtime's goroutine.
                let home = t.home.clone();
                home.ready_from_outside(t);
            }
        }
        if self.p.get().is_none() {
            self.shared.push_global(own);
            return None;
        }
        let mut it = own.into_iter();
        let first = it.next()?;
        let rest: Vec<TaskRef> = it.collect();
        if !rest.is_empty() {
            self.push_local_many(rest);
            self.shared.wakep();
        }
        Some(first)
    }

    fn found(&self, t: TaskRef) -> Option<TaskRef> {
        if self.spinning.replace(false) {
            self.shared.nspinning.fetch_sub(1, SeqCst);
            self.shared.wakep();
        }
        match t.locked_worker() {
            Some(w) if w != self.handle.id => {
                self.handoff_to_locked(w, t);
                self.find_runnable()
            }
            _ => Some(t),
        }
    }

    fn find_local_or_global(&self) -> Option<TaskRef> {
        let p = self.proc()?;
        let check_global = self
            .with_local(|l| {
                l.tick = l.tick.wrapping_add(1);
                l.tick % GLOBAL_CHECK_EVERY == 0
            })
            .unwrap_or(false);
        if check_global && self.shared.global_len.load(Relaxed) > 0 {
            if let Some(t) = self.take_global(1) {
                return Some(t);
            }
        }
        let local = self.with_local(|l| {
            if l.runnext_streak < RUNNEXT_STREAK_MAX {
                if let Some(t) = p.runnext.take() {
                    l.runnext_streak += 1;
                    return Some(t);
                }
            }
            l.runnext_streak = 0;
            if let Some(t) = l.queue.pop() {
                return Some(t);
            }
            p.runnext.take()
        });
        if let Some(Some(t)) = local {
            return Some(t);
        }
        if self.shared.global_len.load(Relaxed) > 0 {
            let n = self.shared.procs.len();
            return self.take_global(super::queue::CAPACITY / 2 / n.max(1) + 1);
        }
        None
    }

    /// Takes up to `max` goroutines from the global queue: one to run, the
    /// rest into the local queue.
    fn take_global(&self, max: usize) -> Option<TaskRef> {
        let mut s = self.shared.sched.lock();
        let first = s.global.pop_front()?;
        let mut extra = Vec::new();
        while extra.len() + 1 < max {
            match s.global.pop_front() {
                Some(t) => extra.push(t),
                None => break,
            }
        }
        self.shared.global_len.store(s.global.len(), Relaxed);
        drop(s);
        if !extra.is_empty() {
            self.push_local_many(extra);
        }
        Some(first)
    }

    /// Appends goroutines to this P's run queue; what overflows it, or
    /// everything if this M holds no P, goes to the global queue.
    fn push_local_many(&self, ts: impl IntoIterator<Item = TaskRef>) {
        let mut ts = ts.into_iter();
        let mut overflow = Vec::new();
        self.with_local(|l| {
            for t in ts.by_ref() {
                l.queue.push_back(t, &mut |b| overflow.extend(b));
            }
        });
        overflow.extend(ts);
        if !overflow.is_empty() {
            self.shared.push_global(overflow);
        }
    }

    fn steal(&self) -> Option<TaskRef> {
        let n = self.shared.procs.len();
        if n < 2 {
            return None;
        }
        let me = self.p.get()?;
        if !self.spinning.get() {
            // Bound the number of thieves to half the busy Ps, like Go.
            let spinning = self.shared.nspinning.load(Relaxed);
            let busy = n - self.shared.npidle.load(Relaxed);
            if 2 * spinning >= busy {
                return None;
            }
            self.spinning.set(true);
            self.shared.nspinning.fetch_add(1, SeqCst);
        }
        let start = fastrand(n);
        for round in 0..4 {
            for i in 0..n {
                let victim = (start + i) % n;
                if victim == me {
                    continue;
                }
                let v = &self.shared.procs[victim];
                if !v.has_work_hint() {
                    continue;
                }
                let got = self.with_local(|l| v.steal.steal_into(&mut l.queue));
                if let Some(Stolen::Got(t)) = got {
                    return Some(t);
                }
                // Last round: take the victim's `runnext` too (as Go does),
                // so a goroutine woken or spawned by a busy one cannot be
                // stranded while this P idles.
                if round == 3 && v.steal.is_empty() && v.runnext.is_some() {
                    // Give the owner a moment first: it is usually about to
                    // run that goroutine itself (a ping-pong pair), and
                    // taking it would move the pair across threads.
                    let since = std::time::Instant::now();
                    while v.runnext.is_some() && since.elapsed() < RUNNEXT_STEAL_GRACE {
                        std::hint::spin_loop();
                    }
                    if let Some(t) = v.runnext.take() {
                        return Some(t);
                    }
                }
            }
        }
        None
    }

    /// A spinning M with nothing to run keeps its P and looks again now and
    /// then, for up to [`IDLE_SPIN`], before going idle. Between looks it
    /// yields its thread rather than reading other Ps' queues in a tight
    /// loop, which would pull their owners' cache lines away from them
    /// (only a look that sees another P's `runnext` filled waits, in
    /// `steal`, for up to `RUNNEXT_STEAL_GRACE` for its owner to take it).
    ///
    /// Only a spinning M (counted in `nspinning`) spins here: that count is
    /// what makes `wakep` skip the futex wake, and `steal` bounds it. The
    /// lost-wake-up argument is unchanged: this M is a spinning M that has
    /// not yet given up; it gives up through `go_idle`, whose re-check
    /// pairs with `wakep` as before.
    #[cold]
    fn idle_spin(&self) -> Option<TaskRef> {
        if !self.spinning.get() {
            return None;
        }
        let since = std::time::Instant::now();
        let mut look = 0u32;
        loop {
            look = look.wrapping_add(1);
            // Mostly `pause` between looks: it hands the core's resources
            // to a hyperthread sibling (possibly the M doing the hand-offs),
            // where a `sched_yield` per look would run kernel code there.
            // Every 16th look yields the thread, for an oversubscribed
            // machine's other threads.
            if look % 16 == 0 {
                // The network too (Go's spinning M re-runs `findRunnable`,
                // `netpoll(0)` included): a reply that arrives while this M
                // spins runs here at once.
                if let Some(t) = self.poll_network() {
                    return Some(t);
                }
                std::thread::yield_now();
            } else {
                for _ in 0..64 {
                    std::hint::spin_loop();
                }
            }
            if since.elapsed() >= IDLE_SPIN
                || self.shared.stw_requested()
                || self.shared.shutting_down.load(Acquire)
            {
                return None;
            }
            // Queued work only: a goroutine alone in another P's `runnext`
            // is about to be run by that P's M (a hand-off in progress), and
            // polling that slot would pull its cache line from under the
            // owner at every hand-off. `go_idle`'s re-check, at the end of
            // the spin, does count `runnext`, so such a goroutine whose owner
            // stays busy waits at most this spin before it is stolen.
            let work = self.shared.global_len.load(Relaxed) > 0
                || self.shared.procs.iter().any(|p| !p.steal.is_empty());
            if !work {
                continue;
            }
            if let Some(t) = self.find_local_or_global() {
                return Some(t);
            }
            if let Some(t) = self.steal() {
                return Some(t);
            }
        }
    }

    /// Gives the P back and parks until handed one.
    #[cold]
    fn go_idle(&self) {
        let Some(pid) = self.p.get() else { return };
        let s = self.shared.sched.lock();
        if !s.global.is_empty() && !s.stw {
            return;
        }
        if s.stw {
            drop(s);
            self.stop_for_stw();
            return;
        }
        drop(s);
        tr::proc_stop(self);
        let mut s = self.shared.sched.lock();
        self.p.set(None);
        self.shared.procs[pid].status.store(proc::IDLE, Release);
        s.idle_procs.push(pid);
        // SeqCst: the Dekker pair of `Shared::wakep` (see there).
        self.shared.npidle.fetch_add(1, SeqCst);
        if self.spinning.replace(false) {
            self.shared.nspinning.fetch_sub(1, SeqCst);
        }
        s.nidle += 1;
        s.idle_workers.push(self.handle.clone());
        self.shared.check_deadlock(&mut s);
        drop(s);
        // Re-check the queues after announcing the idle P: a goroutine queued
        // just before (whose waker saw no idle P) must not be stranded. The
        // fence pairs with the one in `Shared::wakep`.
        fence(SeqCst);
        // N.B. `runnext` counts: `wakep` guards it like the queues, so the
        // re-check must see it too, or a goroutine readied into a busy P's
        // `runnext` just before can be stranded while this M sleeps.
        let work = self.shared.procs.iter().any(|p| p.has_work_hint())
            || self.shared.global_len.load(SeqCst) > 0;
        if work {
            let mut s = self.shared.sched.lock();
            if let Some(pos) = s
                .idle_workers
                .iter()
                .position(|h| Arc::ptr_eq(h, &self.handle))
            {
                if let Some(p) = s.idle_procs.pop() {
                    s.idle_workers.swap_remove(pos);
                    s.nidle -= 1;
                    self.shared.npidle.fetch_sub(1, SeqCst);
                    self.shared.nspinning.fetch_add(1, SeqCst);
                    drop(s);
                    self.acquire_p(p);
                    self.spinning.set(true);
                    return;
                }
            }
        }
        self.idle_wait();
    }

    /// Registers this P-less M as idle and parks until handed a P.
    #[cold]
    fn idle_without_p(&self) {
        let mut s = self.shared.sched.lock();
        if let Some(p) = s.idle_procs.pop() {
            if !s.stw && !s.shutdown {
                self.shared.npidle.fetch_sub(1, SeqCst);
                drop(s);
                self.acquire_p(p);
                return;
            }
            s.idle_procs.push(p);
        }
        s.nidle += 1;
        s.idle_workers.push(self.handle.clone());
        self.shared.check_deadlock(&mut s);
        drop(s);
        self.idle_wait();
    }

    /// Parks until another thread hands this M a P (or shutdown). With
    /// timers pending or goroutines waiting on the network, and no other M
    /// waiting for them, this M sleeps until the earliest timer (in the
    /// network poller once there is one), then takes an idle P to run what
    /// became ready.
    fn idle_wait(&self) {
        let mut timed = true;
        loop {
            if self.take_handoff() {
                return;
            }
            if self.shared.shutting_down.load(Acquire) {
                return;
            }
            let (due, ready) = self.shared.idle_park(&self.parker, timed, &self.handle);
            if !ready.is_empty() {
                let claimed = self.claim_idle_p();
                if let Some(t) = self.inject(ready) {
                    // Through the queue, so `found` routes a wired one.
                    self.push_local_many(std::iter::once(t));
                }
                if claimed {
                    return;
                }
                // Every P is busy: the goroutines wait in the global queue,
                // and busy Ms poll when their queues run dry.
                timed = false;
            } else if due {
                if self.claim_idle_p() {
                    return;
                }
                // Every P is busy: their Ms run the due timers when they
                // next look for work. Wait for a hand-off instead.
                timed = false;
            }
        }
    }

    /// This idle-listed M takes an idle P for itself (a timer is due).
    fn claim_idle_p(&self) -> bool {
        let mut s = self.shared.sched.lock();
        if s.stw || s.shutdown {
            return false;
        }
        let Some(pos) = s
            .idle_workers
            .iter()
            .position(|h| Arc::ptr_eq(h, &self.handle))
        else {
            // Already taken off the idle list: a hand-off is on its way.
            return false;
        };
        let Some(p) = s.idle_procs.pop() else {
            return false;
        };
        s.idle_workers.swap_remove(pos);
        s.nidle -= 1;
        self.shared.npidle.fetch_sub(1, SeqCst);
        drop(s);
        self.acquire_p(p);
        true
    }

    /// Gives the P to another M if there is work for it, else to the idle
    /// list. `announce_idle`: also count this M as idle.
    fn release_p(&self, announce_idle: bool) {
        let Some(pid) = self.p.get() else {
            if announce_idle {
                let mut s = self.shared.sched.lock();
                s.nidle += 1;
                self.shared.check_deadlock(&mut s);
            }
            return;
        };
        tr::proc_stop(self);
        self.p.set(None);
        let mut s = self.shared.sched.lock();
        if self.spinning.replace(false) {
            self.shared.nspinning.fetch_sub(1, SeqCst);
        }
        let has_work = self.shared.procs[pid].has_work_hint() || !s.global.is_empty();
        if has_work && !s.stw && !s.shutdown {
            self.shared.start_m_locked(
                &mut s,
                Handoff {
                    p: pid,
                    task: None,
                    spinning: false,
                },
            );
        } else {
            self.shared.procs[pid].status.store(proc::IDLE, Release);
            s.idle_procs.push(pid);
            self.shared.npidle.fetch_add(1, SeqCst);
            if announce_idle && self.shared.timers.unwatched() {
                // This M waits for its wired goroutine, not for timers:
                // an idle M must (Go's `handoffp` wakes the poller).
                self.shared.wake_idle_locked(&mut s);
            }
        }
        if announce_idle {
            s.nidle += 1;
            self.shared.check_deadlock(&mut s);
        }
        self.shared.sched_cv.notify_all();
    }

    /// A wired M waits for its goroutine to be handed back with a P.
    fn locked_wait(&self) {
        loop {
            if let Some(h) = self.handle.handoff.lock().take() {
                self.acquire_p(h.p);
                self.spinning.set(h.spinning);
                if let Some(t) = h.task {
                    self.next.set(Some(t));
                    return;
                }
                // Handed a P without our goroutine: look for it in queues.
                continue;
            }
            if self.shared.shutting_down.load(Acquire) {
                return;
            }
            self.parker.park();
        }
    }

    /// Hands our P and `t` to the M `t` is wired to; this M goes idle.
    fn handoff_to_locked(&self, worker: usize, t: TaskRef) {
        let Some(pid) = self.p.get() else { return };
        tr::proc_stop(self);
        self.p.set(None);
        if self.spinning.replace(false) {
            self.shared.nspinning.fetch_sub(1, SeqCst);
        }
        let mut s = self.shared.sched.lock();
        let Some(h) = s.handles.get(&worker).cloned() else {
            // The wired M is gone (cannot happen while its goroutine lives).
            drop(s);
            crate::fatal("a goroutine is wired to an M that no longer exists");
        };
        // The wired M stops counting as idle now, under the lock, so a
        // deadlock check in between cannot see every M idle.
        s.nidle -= 1;
        self.shared.procs[pid].status.store(proc::RUNNING, Release);
        *h.handoff.lock() = Some(Handoff {
            p: pid,
            task: Some(t),
            spinning: false,
        });
        drop(s);
        h.unparker.unpark();
    }

    /// Waits, still holding the P, until a stop-the-world ends.
    #[cold]
    fn stop_for_stw(&self) {
        let mut s = self.shared.sched.lock();
        if !s.stw {
            return;
        }
        s.stw_stopped += 1;
        self.shared.sched_cv.notify_all();
        while s.stw {
            self.shared.sched_cv.wait(&mut s);
        }
        s.stw_stopped -= 1;
    }

    /// Runs `t` and whatever it hands the M to, until the M must pick anew.
    pub(crate) fn execute(&self, mut t: TaskRef, from_queue: bool) {
        if from_queue {
            tr::go_start(self, &t);
        }
        loop {
            transition(&t, Status::Running, WaitReason::Unspecified);
            if t.locked_worker() == Some(self.handle.id) {
                self.locked.set(true);
            }
            self.cur.set(&*t);
            t.last_m.store(self.handle.id, Relaxed);
            // SAFETY: this M runs `t` now; the scheduling protocol gives it
            // exclusive access to the coroutine.
            let req = unsafe { t.with_coro(|c| c.as_mut().map(|c| c.resume(Resume::Run))) };
            self.cur.set(std::ptr::null());
            let Some(mut req) = req else {
                crate::fatal("resumed a goroutine that has no coroutine");
            };
            if let Some(Req::Forward(link)) = req {
                // The caller `t` ran its coroutine directly; the coroutine now
                // needs the M. The caller waits in `link`, the coroutine
                // becomes this M's goroutine with its pending request.
                let Some((target, inner)) = self.forwarded.take() else {
                    crate::fatal("coroutine forward without a coroutine");
                };
                // SAFETY: as in `switch_to`: the caller's `next`/`stop` keeps
                // the link alive while it waits.
                unsafe { link.as_ref() }.set_caller(t);
                t = target;
                req = Some(inner);
            }
            match req {
                Some(Req::Switch(link)) => t = self.switch_to(t, link),
                Some(Req::SwitchBack(link)) => match self.switch_back(t, link) {
                    Some(next) => t = next,
                    None => return,
                },
                Some(Req::Park) => {
                    if park::commit(self, &t) {
                        return;
                    }
                }
                Some(Req::Yield) => {
                    tr::go_stop(self, &t);
                    transition(&t, Status::Runnable, WaitReason::Unspecified);
                    self.queue_yielded(t);
                    return;
                }
                Some(Req::Forward(_)) => crate::fatal("a coroutine forward was forwarded again"),
                Some(Req::SyscallNoP) => {
                    transition(&t, Status::Runnable, WaitReason::Unspecified);
                    self.shared.push_global(std::iter::once(t));
                    return;
                }
                None => match self.retire(t) {
                    Some(next) => t = next,
                    None => return,
                },
            }
            // A goroutine that keeps running on this M without returning to
            // the loop (coroutine switches) still stops for the world.
            if self.shared.stw_requested() {
                self.resume.set(Some(t));
                return;
            }
        }
    }

    /// The caller `t` hands the M to the coroutine of `link`.
    #[inline(always)]
    fn switch_to(&self, t: TaskRef, link: NonNull<CoroLink>) -> TaskRef {
        // SAFETY: `link` points into the `Pull` whose `next`/`stop` suspended
        // `t`; that call keeps it alive until `t` resumes.
        let link = unsafe { link.as_ref() };
        let target = link.take_coro();
        tr::go_switch(self, &t, &target, false);
        transition(&t, Status::Waiting, WaitReason::Coroutine);
        if self.locked.get() {
            // The coroutine runs on the caller's wired thread until it yields.
            target.locked_to.store(self.handle.id + 1, Release);
        }
        link.set_caller(t);
        target
    }

    /// The coroutine `t` hands the M back to its caller.
    #[inline(always)]
    fn switch_back(&self, t: TaskRef, link: NonNull<CoroLink>) -> Option<TaskRef> {
        // SAFETY: the coroutine's `Pull` outlives the coroutine's suspension:
        // the caller waits in `next` until this switch completes.
        let link = unsafe { link.as_ref() };
        let caller = link.take_caller();
        tr::go_switch(self, &t, &caller, false);
        transition(&t, Status::Waiting, WaitReason::Coroutine);
        // A coroutine is wired only while a wired caller waits on it.
        if t.locked_to.load(Relaxed) != 0 {
            t.locked_to.store(0, Release);
            if caller.locked_worker() != Some(self.handle.id) {
                self.locked.set(false);
            }
        }
        link.set_coro(t);
        self.continue_with(caller)
    }

    /// Runs `next` on this M now if it may run here, else queues it.
    fn continue_with(&self, next: TaskRef) -> Option<TaskRef> {
        match next.locked_worker() {
            Some(w) if w != self.handle.id => {
                transition(&next, Status::Runnable, WaitReason::Unspecified);
                self.shared.push_global(std::iter::once(next));
                None
            }
            _ => Some(next),
        }
    }

    /// A goroutine returned: free it; for a coroutine, switch to its caller.
    fn retire(&self, t: TaskRef) -> Option<TaskRef> {
        transition(&t, Status::Dead, WaitReason::Unspecified);
        let exit_link = super::coroswitch::take_exit_link(&t);
        let next = match exit_link {
            Some(link) => {
                // SAFETY: see `switch_back`.
                let link = unsafe { link.as_ref() };
                let caller = link.take_caller();
                tr::go_switch(self, &t, &caller, true);
                Some(caller)
            }
            None => {
                tr::go_destroy(self, &t);
                None
            }
        };
        if t.locked_worker() == Some(self.handle.id) {
            // Exited while wired: the thread may carry state the goroutine
            // changed, so it exits too (as in Go).
            self.locked.set(false);
            self.exit.set(true);
        }
        self.shared.free_task(&t);
        drop(t);
        match next {
            Some(n) => self.continue_with(n),
            None => None,
        }
    }

    /// Makes `t` runnable from this M (Go's `ready`): into `runnext`, so it
    /// runs next on this P, and the old `runnext` to the local queue.
    pub(crate) fn ready(&self, t: TaskRef) {
        if self.in_syscall.get() || self.p.get().is_none() {
            self.shared.push_global(std::iter::once(t));
            return;
        }
        tr::go_unblock(self, &t);
        transition(&t, Status::Runnable, WaitReason::Unspecified);
        let mut overflow = Vec::new();
        let p = &self.shared.procs[self.p.get().unwrap_or_default()];
        if let Some(old) = p.runnext.replace(t) {
            self.with_local(|l| l.queue.push_back(old, &mut |b| overflow.extend(b)));
        }
        if !overflow.is_empty() {
            self.shared.push_global(overflow);
        }
        self.shared.wakep();
    }

    /// Queues a goroutine that yielded at the back of this P's run queue,
    /// without waking an idle M (Go's `Gosched` wakes none either).
    fn queue_yielded(&self, t: TaskRef) {
        self.push_local_many(std::iter::once(t));
    }

    /// Queues a new goroutine on this P (Go puts it in `runnext` too).
    pub(crate) fn spawn(&self, t: TaskRef) {
        let Some(p) = self.proc() else {
            self.shared.push_global(std::iter::once(t));
            return;
        };
        p.register(&t);
        let mut overflow = Vec::new();
        if let Some(old) = p.runnext.replace(t) {
            self.with_local(|l| l.queue.push_back(old, &mut |b| overflow.extend(b)));
        }
        if !overflow.is_empty() {
            self.shared.push_global(overflow);
        }
        self.shared.wakep();
    }

    /// Parks the M's thread briefly (used by `syscall` when it loses its P).
    pub(crate) fn try_reacquire_after_syscall(&self, old: usize) -> Reacquired {
        let p = &self.shared.procs[old];
        if p.status
            .compare_exchange(proc::SYSCALL, proc::RUNNING, AcqRel, Acquire)
            .is_ok()
        {
            return Reacquired::Own;
        }
        // The P was taken: try any idle P.
        self.p.set(None);
        let mut s = self.shared.sched.lock();
        while s.stw {
            self.shared.sched_cv.wait(&mut s);
        }
        let pick = s
            .idle_procs
            .iter()
            .position(|&i| i == old)
            .or(if s.idle_procs.is_empty() {
                None
            } else {
                Some(s.idle_procs.len() - 1)
            });
        if let Some(pos) = pick {
            let pid = s.idle_procs.swap_remove(pos);
            self.shared.npidle.fetch_sub(1, SeqCst);
            drop(s);
            self.acquire_p(pid);
            return Reacquired::Other;
        }
        Reacquired::None
    }
}

/// How a goroutine got a P back after a syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reacquired {
    /// Its own P, untouched meanwhile.
    Own,
    /// Another (or its own, after a steal) idle P.
    Other,
    /// None available.
    None,
}

/// A thread-local xorshift draw in `0..n` (`n > 0`): the scheduler's steal
/// order and `select`'s poll order.
pub(crate) fn fastrand(n: usize) -> usize {
    thread_local! {
        static STATE: Cell<u64> = const { Cell::new(0) };
    }
    STATE.with(|s| {
        let mut x = s.get();
        if x == 0 {
            x = (s as *const _ as u64) | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x % n as u64) as usize
    })
}
