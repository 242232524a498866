//! Stop-the-world: every P parked at a scheduling point, for the moments the
//! tracer's enabled flag flips.
//!
//! Protocol:
//! 1. The coordinator (a goroutine holding a P) sets `Sched::stw` under the
//!    sched lock. From then on no idle P is handed out.
//! 2. Every other M, at its next scheduling point (picking work, switching
//!    coroutines, going idle), keeps its P but counts itself stopped and
//!    waits on `sched_cv` (`Worker::stop_for_stw`).
//! 3. Ps held by goroutines in a syscall are taken by CAS (SYSCALL -> IDLE);
//!    their goroutines, on return, find the CAS failed and wait on the sched
//!    lock until the world restarts.
//! 4. When every P but the coordinator's is idle, the world is stopped: no
//!    other thread runs goroutine or hook code, and every thread that will
//!    run one again first takes the sched lock (or a handoff lock taken under
//!    it), which orders its later reads after the coordinator's writes.
//! 5. `start_the_world` clears the flag, wakes the stopped Ms and hands idle Ps
//!    with queued work to idle Ms.
//!
//! Goroutines are not preempted: a goroutine that computes without reaching a
//! scheduling point delays step 4 until it does.
#![deny(unsafe_code)]

use super::proc;
use super::Shared;
use crate::loom::sync::atomic::Ordering::*;
use crate::loom::sync::Arc;
use std::time::Duration;

impl Shared {
    /// Stops every P except `mine` (the caller's, when it runs on this runtime).
    pub(crate) fn stop_the_world(self: &Arc<Self>, mine: Option<usize>) {
        let mut s = self.sched.lock();
        while s.stw && !s.shutdown {
            self.sched_cv.wait(&mut s);
        }
        if s.shutdown {
            // A runtime being dropped runs no goroutine code any more.
            return;
        }
        s.stw = true;
        self.stw_flag.store(true, SeqCst);
        let others = self.procs.len() - usize::from(mine.is_some());
        loop {
            for (i, p) in self.procs.iter().enumerate() {
                if Some(i) != mine
                    && p.status.load(Acquire) == proc::SYSCALL
                    && p.status
                        .compare_exchange(proc::SYSCALL, proc::IDLE, AcqRel, Acquire)
                        .is_ok()
                {
                    p.stolen_from.store(p.syscall_m.load(Relaxed), Relaxed);
                    s.idle_procs.push(i);
                    self.npidle.fetch_add(1, SeqCst);
                }
            }
            let stopped = s.idle_procs.iter().filter(|&&i| Some(i) != mine).count() + s.stw_stopped;
            if stopped >= others || s.shutdown {
                return;
            }
            // Stopping Ms notify; syscall Ps need a poll.
            self.sched_cv.wait_for(&mut s, Duration::from_micros(200));
        }
    }

    /// Restarts the world stopped by [`stop_the_world`](Self::stop_the_world).
    pub(crate) fn start_the_world(self: &Arc<Self>) {
        let mut s = self.sched.lock();
        s.stw = false;
        self.stw_flag.store(false, SeqCst);
        self.sched_cv.notify_all();
        let work = self.procs.iter().filter(|p| p.has_work_hint()).count()
            + usize::from(!s.global.is_empty());
        for _ in 0..work {
            if s.idle_procs.is_empty() || s.idle_workers.is_empty() {
                break;
            }
            self.wake_idle_locked(&mut s);
        }
    }
}
