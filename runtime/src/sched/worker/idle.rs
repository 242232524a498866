//! Idle Ms and P hand-off: giving a P back, parking an idle M (until a P,
//! a due timer or shutdown), handing a P and a goroutine to another M, the
//! wired goroutine's wait, and getting a P after a syscall.

use super::super::proc::{self};
use super::super::Handoff;
use super::Worker;
use crate::hooks as tr;
use crate::loom::sync::atomic::Ordering::*;
use crate::loom::sync::Arc;
use crate::task::TaskRef;

/// Stacks an M about to sleep releases per round of its idle loop.
const SCAVENGE_IDLE: usize = 64;
/// Stacks a busy M releases every [`TICK_EVERY`](crate::sched::coarse::TICK_EVERY)
/// scheduling rounds while some await release (a program that never idles
/// still gives the memory of a finished burst back, at a bounded cost).
pub(super) const SCAVENGE_BUSY: usize = 16;

impl Worker {
    pub(super) fn take_handoff(&self) -> bool {
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

    pub(super) fn acquire_p(&self, p: usize) {
        self.shared.procs[p].status.store(proc::RUNNING, Release);
        self.p.set(Some(p));
        // The holder with the ProcStart: a status the tracer takes from the
        // holder is then never one that event is still to lead to.
        tr::proc_start(self, p, || self.shared.procs[p].set_holder(self.handle.id));
        // A P became busy: sysmon, asleep while every P was idle, watches
        // the network poller again.
        self.shared.sysmon.busy_p();
    }

    /// Gives the P back and parks until handed one.
    #[cold]
    pub(super) fn go_idle(&self) {
        let Some(pid) = self.p.get() else { return };
        let s = self.shared.sched.lock();
        if !s.global.is_empty() {
            return;
        }
        drop(s);
        tr::proc_stop(self, || self.shared.procs[pid].clear_holder(self.handle.id));
        let mut s = self.shared.sched.lock();
        self.p.set(None);
        self.shared.procs[pid].status.store(proc::IDLE, Release);
        let was_spinning = self.spinning.replace(false);
        s.idle
            .announce(&self.shared.idle, pid, self.handle.clone(), was_spinning);
        self.shared.check_deadlock(&mut s);
        drop(s);
        // The idle side of the handshake with `Shared::wakep` (see
        // `sched::idle`): a goroutine queued just before, whose waker saw no
        // idle P, must not be stranded. `runnext` counts: `wakep` guards it
        // like the queues.
        let work = self.shared.idle.recheck(|| {
            self.shared.procs.iter().any(|p| p.has_work_hint())
                || self.shared.global_len.load(SeqCst) > 0
        });
        if work {
            let mut s = self.shared.sched.lock();
            let me = |h: &Arc<_>| Arc::ptr_eq(h, &self.handle);
            if let Some(p) = s.idle.reclaim(&self.shared.idle, me, true) {
                drop(s);
                self.acquire_p(p);
                self.spinning.set(true);
                return;
            }
        }
        self.idle_wait();
    }

    /// Registers this P-less M as idle and parks until handed a P.
    #[cold]
    pub(super) fn idle_without_p(&self) {
        let mut s = self.shared.sched.lock();
        if !s.shutdown {
            if let Some(p) = s.idle.take_p(&self.shared.idle) {
                drop(s);
                self.acquire_p(p);
                return;
            }
        }
        s.idle.park_m(self.handle.clone());
        self.shared.check_deadlock(&mut s);
        drop(s);
        self.idle_wait();
    }

    /// Parks until another thread hands this M a P (or shutdown). With
    /// timers pending or goroutines waiting on the network, and no other M
    /// waiting for them, this M sleeps until the earliest timer (in the
    /// network poller once there is one), then takes an idle P to run what
    /// became ready.
    pub(super) fn idle_wait(&self) {
        let mut timed = true;
        loop {
            if self.take_handoff() {
                return;
            }
            if self.shared.shutting_down.load(Acquire) {
                return;
            }
            // Before sleeping, the memory of stacks freed beyond the pool's
            // retention goes back to the kernel, a batch at a time: this M is
            // on the idle list, so work that comes meanwhile is handed to it
            // and taken at the top of the next round.
            if self.shared.stacks.pending() > 0 && self.shared.stacks.scavenge(SCAVENGE_IDLE) > 0 {
                continue;
            }
            let (due, ready) = self.shared.idle_park(&self.parker, timed, &self.handle);
            // Woken after a sleep: the real clock costs nothing next to it.
            crate::sched::coarse::advance();
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
    pub(super) fn claim_idle_p(&self) -> bool {
        let mut s = self.shared.sched.lock();
        if s.shutdown {
            return false;
        }
        // `None` also when already taken off the sleep list: a hand-off is
        // on its way.
        let me = |h: &Arc<_>| Arc::ptr_eq(h, &self.handle);
        let Some(p) = s.idle.reclaim(&self.shared.idle, me, false) else {
            return false;
        };
        drop(s);
        self.acquire_p(p);
        true
    }

    /// Gives the P to another M if there is work for it, else to the idle
    /// list. `announce_idle`: also count this M as idle.
    pub(super) fn release_p(&self, announce_idle: bool) {
        let Some(pid) = self.p.get() else {
            if announce_idle {
                let mut s = self.shared.sched.lock();
                s.idle.count_idle();
                self.shared.check_deadlock(&mut s);
            }
            return;
        };
        tr::proc_stop(self, || self.shared.procs[pid].clear_holder(self.handle.id));
        self.p.set(None);
        let mut s = self.shared.sched.lock();
        if self.spinning.replace(false) {
            self.shared.idle.stop_spinning();
        }
        let has_work = self.shared.procs[pid].has_work_hint() || !s.global.is_empty();
        if has_work && !s.shutdown {
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
            s.idle.put_p(&self.shared.idle, pid);
            if announce_idle && self.shared.timers.unwatched() {
                // This M waits for its wired goroutine, not for timers:
                // an idle M must (Go's `handoffp` wakes the poller).
                self.shared.wake_idle_locked(&mut s);
            }
        }
        if announce_idle {
            s.idle.count_idle();
            self.shared.check_deadlock(&mut s);
        }
    }

    /// A wired M waits for its goroutine to be handed back with a P.
    pub(super) fn locked_wait(&self) {
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
    pub(super) fn handoff_to_locked(&self, worker: usize, t: TaskRef) {
        let Some(pid) = self.p.get() else { return };
        tr::proc_stop(self, || self.shared.procs[pid].clear_holder(self.handle.id));
        self.p.set(None);
        if self.spinning.replace(false) {
            self.shared.idle.stop_spinning();
        }
        let mut s = self.shared.sched.lock();
        let Some(h) = s.handles.get(&worker).cloned() else {
            // The wired M is gone (cannot happen while its goroutine lives).
            drop(s);
            crate::fatal("a goroutine is wired to an M that no longer exists");
        };
        // The wired M stops counting as idle now, under the lock, so a
        // deadlock check in between cannot see every M idle.
        s.idle.uncount_idle();
        self.shared.procs[pid].status.store(proc::RUNNING, Release);
        *h.handoff.lock() = Some(Handoff {
            p: pid,
            task: Some(t),
            spinning: false,
        });
        drop(s);
        h.unparker.unpark();
    }

    /// After a syscall: takes back the P this M left in the SYSCALL state if
    /// sysmon has not retaken it. Otherwise the M drops its claim and takes
    /// an idle P (its old one first), or none.
    pub(crate) fn try_reacquire_after_syscall(&self, old: usize, tick: u64) -> Reacquired {
        let p = &self.shared.procs[old];
        if p.status
            .compare_exchange(proc::syscall(tick), proc::RUNNING, AcqRel, Acquire)
            .is_ok()
        {
            return Reacquired::Own;
        }
        // The P was taken: try any idle P.
        self.p.set(None);
        p.clear_holder(self.handle.id);
        let mut s = self.shared.sched.lock();
        if let Some(pid) = s.idle.take_p_preferring(&self.shared.idle, old) {
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
