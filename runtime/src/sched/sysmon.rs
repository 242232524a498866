//! The system monitor thread: P hand-off from long syscalls, and the
//! network poll nobody else did.
//!
//! One sysmon thread per runtime. It does not run timers (the Ms do, see
//! [`super::timers`]); it sleeps indefinitely while no syscall is in flight
//! and no P is busy with a network poller in place (an idle runtime burns
//! no CPU). While syscalls are in flight it polls every 20 µs, backing off
//! to 10 ms, and takes the P of any goroutine that has been in the same
//! syscall across two polls when that P has queued work (Go's `retake`),
//! handing it to another M. Once a network poller exists and while a P is
//! busy, it wakes every 10 ms and polls the network if no M has for 10 ms
//! (busy Ms whose run queues never run dry): the goroutines made ready go
//! to the global queue.
#![deny(unsafe_code)]

use super::proc;
use super::{Handoff, Shared};
use crate::loom::sync::atomic::{AtomicBool, Ordering::*};
use crate::loom::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long the network may go unpolled while Ps are busy (Go's 10 ms).
const NET_POLL_EVERY: Duration = Duration::from_millis(10);

#[derive(Debug, Default)]
struct WaitState {
    shutdown: bool,
    /// Sysmon is waiting with no deadline.
    sleeping: bool,
}

/// Sysmon's wake-up channel.
#[derive(Debug, Default)]
pub(crate) struct Sysmon {
    state: Mutex<WaitState>,
    cv: Condvar,
    /// Sleeping only because every P was idle (a network poller exists):
    /// the next P to become busy wakes it ([`busy_p`](Sysmon::busy_p)).
    all_idle: AtomicBool,
    /// Sysmon's next wait ends at a release look (it saw more goroutines
    /// than Ps): a new goroutine need not wake it
    /// ([`watch_release`](Sysmon::watch_release)).
    release_armed: AtomicBool,
}

impl Sysmon {
    /// A P became busy: wake sysmon if it sleeps because none was.
    #[inline]
    pub(crate) fn busy_p(&self) {
        // SeqCst: the Dekker pair with `run`'s store of `all_idle` and its
        // load of `npidle` (the P's `npidle` decrement came before this).
        if self.all_idle.load(SeqCst) {
            self.poke();
        }
    }

    /// More goroutines than Ps now live (`live` was raised before this
    /// call): wake sysmon unless its wait already ends at a release look.
    /// Cheap when armed (one load), so the spawn path can call it on every
    /// goroutine beyond the Ps.
    #[inline]
    pub(crate) fn watch_release(&self) {
        // SeqCst: the Dekker pair with `run`, which clears the flag before
        // it reads `live` (`Shared::release_watch`); one side sees the other.
        if !self.release_armed.load(SeqCst) {
            self.poke();
        }
    }

    /// A network poller was made: sysmon watches it from now on.
    pub(crate) fn poke_net(&self) {
        self.poke();
    }

    /// Makes sysmon poll (a syscall began).
    pub(crate) fn poke(&self) {
        let s = self.state.lock();
        if s.sleeping {
            self.cv.notify_one();
        }
    }

    pub(crate) fn shutdown(&self) {
        let mut s = self.state.lock();
        s.shutdown = true;
        self.cv.notify_all();
    }
}

/// Body of the sysmon thread.
pub(crate) fn run(shared: Arc<Shared>) {
    let mut poll = Duration::from_micros(20);
    let mut seen: Vec<u64> = vec![u64::MAX; shared.procs.len()];
    let started = Instant::now();
    // `GORT_DEBUG=schedtrace`: the next report is due then (None: unset).
    let mut report_at = shared.schedtrace.map(|c| started + c.every);
    // The next look for long-parked goroutines' stacks to release.
    let release_every = shared.release_period();
    let mut release_at = release_every.map(|d| started + d);
    loop {
        {
            let t = &shared.sysmon;
            let mut s = t.state.lock();
            if s.shutdown {
                return;
            }
            let net = shared.timers.netpoll().is_some();
            if net {
                t.all_idle.store(true, SeqCst);
            }
            let busy = net && shared.idle.idle_ps() < shared.procs.len();
            // Looks are due while more goroutines exist than Ps (a
            // goroutine beyond that pokes sysmon unless it is armed, see
            // `Shared::new_task`): disarm, then read the count.
            t.release_armed.store(false, SeqCst);
            let release_next = release_at.filter(|_| shared.release_watch());
            if release_next.is_some() {
                t.release_armed.store(true, SeqCst);
            }
            let cap = |d: Instant| {
                let d = report_at.map_or(d, |r| r.min(d));
                release_next.map_or(d, |r| r.min(d))
            };
            if shared.in_syscall.load(SeqCst) > 0 {
                t.all_idle.store(false, SeqCst);
                t.cv.wait_until(&mut s, cap(Instant::now() + poll.min(NET_POLL_EVERY)));
            } else if busy {
                t.all_idle.store(false, SeqCst);
                t.cv.wait_until(&mut s, cap(Instant::now() + NET_POLL_EVERY));
            } else {
                s.sleeping = true;
                match report_at.into_iter().chain(release_next).min() {
                    Some(r) => {
                        t.cv.wait_until(&mut s, r);
                    }
                    None => t.cv.wait(&mut s),
                }
                s.sleeping = false;
                t.all_idle.store(false, SeqCst);
            }
        }
        if let (Some(at), Some(cfg)) = (report_at, shared.schedtrace) {
            let now = Instant::now();
            if now >= at {
                let line = super::schedtrace::report(&shared, started, now, cfg.detail);
                use std::io::Write as _;
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
                // The next one on the period's grid, skipping missed ones.
                let mut next = at + cfg.every;
                while next <= now {
                    next += cfg.every;
                }
                report_at = Some(next);
            }
        }
        let coarse_now = super::coarse::advance();
        if let (Some(at), Some(every)) = (release_at, release_every) {
            let now = Instant::now();
            if now >= at {
                if let Some(cutoff) = shared.release_cutoff(coarse_now) {
                    if shared.release_due() {
                        shared.release_parked(cutoff, true);
                    }
                }
                release_at = Some(now + every);
            }
        }
        poll_network(&shared);
        if shared.in_syscall.load(SeqCst) > 0 {
            if retake(&shared, &mut seen) {
                poll = Duration::from_micros(20);
            } else {
                poll = (poll * 2).min(Duration::from_millis(10));
            }
        } else {
            poll = Duration::from_micros(20);
        }
    }
}

/// Polls the network if goroutines wait on it and nobody polled for
/// [`NET_POLL_EVERY`]; queues what became ready on the global queue.
fn poll_network(shared: &Arc<Shared>) {
    let Some(n) = shared.timers.netpoll() else {
        return;
    };
    if n.waiters() == 0 || !n.stale(NET_POLL_EVERY) {
        return;
    }
    let mut ready = Vec::new();
    n.poll(Some(Duration::ZERO), &mut ready);
    for t in ready {
        // Claimed by the poll: queue it; its GoUnblock (empty stack) is
        // written when an M with a P starts it.
        t.unblock_pending.store(true, Relaxed);
        let home = t.home.clone();
        home.ready_from_outside(t);
    }
}

/// Takes Ps from goroutines stuck in a syscall when there is work for them.
fn retake(shared: &Arc<Shared>, seen: &mut [u64]) -> bool {
    let mut took = false;
    for (i, p) in shared.procs.iter().enumerate() {
        let status = p.status.load(Acquire);
        if !proc::is_syscall(status) {
            seen[i] = u64::MAX;
            continue;
        }
        let tick = p.syscall_tick.load(Acquire);
        if seen[i] != tick {
            // First sight of this syscall: give it one poll period.
            seen[i] = tick;
            continue;
        }
        // Retake when work waits, or when no P is free for work that comes
        // (as Go's `retake`: an idle P, or a spinning M that holds a P
        // while it looks, can take new work without this one).
        let work = p.has_work_hint()
            || shared.global_len.load(Relaxed) > 0
            || (shared.idle.idle_ps() == 0 && shared.idle.spinning() == 0);
        if !work {
            continue;
        }
        // No holder from here on, whether the retake below wins or not: the
        // tracer's statuses skip a running P without one (it would otherwise
        // name the syscall M while the P is in transit to another). The next
        // M to take the P sets it again.
        p.holder.store(0, Release);
        // AcqRel: claims the P from the syscall M (whose exit CAS then fails)
        // and acquires the queue state it left.
        if p.status
            .compare_exchange(status, proc::RUNNING, AcqRel, Acquire)
            .is_err()
        {
            continue;
        }
        p.stolen_from.store(p.syscall_m.load(Relaxed), Relaxed);
        let mut s = shared.sched.lock();
        if s.shutdown {
            p.status.store(proc::IDLE, Release);
            s.idle.put_p(&shared.idle, i);
        } else {
            shared.start_m_locked(
                &mut s,
                Handoff {
                    p: i,
                    task: None,
                    spinning: false,
                },
            );
        }
        took = true;
    }
    took
}
