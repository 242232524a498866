//! Finding work: the local queue and `runnext`, the global queue, stealing
//! from other Ps, and the short spin before an M gives its P back.

use super::super::proc::{Proc, GLOBAL_CHECK_EVERY};
use super::super::queue::Stolen;
use super::{fastrand, Worker};
use crate::loom::sync::atomic::Ordering::*;
use crate::task::TaskRef;

/// Picks from `runnext` at most this many times in a row.
const RUNNEXT_STREAK_MAX: u32 = 64;
/// How long a thief leaves a victim's `runnext` to its owner (Go waits
/// about 3 µs too).
const RUNNEXT_STEAL_GRACE: std::time::Duration = std::time::Duration::from_micros(3);
/// How long a spinning M that found nothing keeps its P and keeps looking
/// before it gives the P back and sleeps. While it looks, `wakep` sees a
/// spinning M and wakes nobody, so a burst of hand-offs between goroutines
/// on another P costs no futex wake each; an idle runtime still goes quiet
/// after this long.
const IDLE_SPIN: std::time::Duration = std::time::Duration::from_micros(100);
/// How long an M that runs dry while goroutines wait on the network keeps
/// polling it without blocking before it gives its P back and blocks in
/// the poll (`idle_spin`).
const NET_SPIN: std::time::Duration = std::time::Duration::from_micros(100);
/// Stacks a spinning M warms between two looks for work (a page fault
/// each: a few microseconds).
const PREWARM_BATCH: usize = 16;

impl Worker {
    /// Finds the next goroutine to run, parking when there is none.
    /// Returns `None` only at shutdown. Inlined into the M's loop, which
    /// never returns while the M works, so a pick pays no call frame.
    #[inline]
    pub(super) fn find_runnable(&self) -> Option<TaskRef> {
        loop {
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
                match self.found(t) {
                    Some(t) => return Some(t),
                    None => continue,
                }
            }
            // Go's `netpoll(0)` in `findRunnable`: the network, without
            // blocking, unless an M is blocked in the poll already.
            if let Some(t) = self.poll_network() {
                match self.found(t) {
                    Some(t) => return Some(t),
                    None => continue,
                }
            }
            if let Some(t) = self.steal() {
                match self.found(t) {
                    Some(t) => return Some(t),
                    None => continue,
                }
            }
            // Before going idle, every P's due timers (Go's `stealWork`
            // checks other Ps' timers too): an idle P's timers run here.
            if let Some(pid) = self.p.get() {
                if self.shared.run_timers(pid, true) {
                    continue;
                }
            }
            if let Some(t) = self.idle_spin() {
                match self.found(t) {
                    Some(t) => return Some(t),
                    None => continue,
                }
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
        self.poll_now(n).1
    }

    /// One poll of `n` that returns at once: how many goroutines it made
    /// ready, and the first of them to run here (the rest queued).
    fn poll_now(&self, n: &crate::netpoll::Poller) -> (usize, Option<TaskRef>) {
        let mut ready = Vec::new();
        n.poll(Some(std::time::Duration::ZERO), &mut ready);
        (ready.len(), self.inject(ready))
    }

    /// Queues goroutines the network poller made ready (Go's
    /// `injectglist`); returns one to run now if this M holds a P. Their
    /// `GoUnblock` (empty stack: no goroutine runs here) is written when
    /// they start.
    pub(super) fn inject(&self, ready: Vec<TaskRef>) -> Option<TaskRef> {
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

    /// `t`, found to run: ends this M's spin, and returns `t` unless it is
    /// wired to another M, to which it is handed (`None`: look again).
    #[inline(always)]
    pub(super) fn found(&self, t: TaskRef) -> Option<TaskRef> {
        if !self.spinning.get() && t.locked_worker().is_none() {
            return Some(t);
        }
        self.found_slow(t)
    }

    #[cold]
    fn found_slow(&self, t: TaskRef) -> Option<TaskRef> {
        if self.spinning.replace(false) {
            // A waker that saw this M spinning woke nobody: once it stops,
            // any work queued meanwhile needs another M. The same
            // store-buffering pair as `go_idle`'s re-check (see
            // `sched::idle`): the waker queues, fences and reads the
            // spinning count; this M lowers the count, fences and looks at
            // the queues. Either the waker wakes an M or this M sees the
            // work. Work nobody queued needs no M: waking one anyway would
            // cost a wake-up per pick when two Ms take turns finding one
            // goroutine (a request-response over the network).
            self.shared.idle.stop_spinning();
            let work = self.shared.idle.recheck(|| {
                self.shared.global_len.load(SeqCst) > 0
                    || self.shared.procs.iter().any(|p| p.has_work_hint())
            });
            if work {
                self.shared.wakep();
            }
        }
        match t.locked_worker() {
            Some(w) if w != self.handle.id => {
                self.handoff_to_locked(w, t);
                None
            }
            _ => Some(t),
        }
    }

    #[inline(always)]
    pub(super) fn find_local_or_global(&self) -> Option<TaskRef> {
        let p = self.proc()?;
        let (check_global, tick_clock) = self
            .with_local(|l| {
                l.tick = l.tick.wrapping_add(1);
                // A countdown rather than `tick % 61`: no division per pick.
                l.until_global = l.until_global.saturating_sub(1);
                let check_global = l.until_global == 0;
                if check_global {
                    l.until_global = GLOBAL_CHECK_EVERY;
                }
                (check_global, l.tick % crate::sched::coarse::TICK_EVERY == 0)
            })
            .unwrap_or((false, false));
        if tick_clock {
            crate::sched::coarse::advance();
            if self.shared.stacks.pending() > 0 {
                self.shared.stacks.scavenge(super::idle::SCAVENGE_BUSY);
            }
        }
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
            return self.take_global(super::super::queue::CAPACITY / 2 / n.max(1) + 1);
        }
        None
    }

    /// Takes up to `max` goroutines from the global queue: one to run, the
    /// rest into the local queue.
    pub(super) fn take_global(&self, max: usize) -> Option<TaskRef> {
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

    pub(super) fn steal(&self) -> Option<TaskRef> {
        let n = self.shared.procs.len();
        if n < 2 {
            return None;
        }
        let me = self.p.get()?;
        if !self.spinning.get() {
            if !self.shared.idle.try_start_spinning(n) {
                return None;
            }
            self.spinning.set(true);
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
                if round == 3 && v.steal.is_empty() && v.runnext.is_some() && runnext_stuck(v) {
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
    /// Only a spinning M (counted in `nspinning`) spins here for queued
    /// work: that count is what makes `wakep` skip the futex wake, and
    /// `steal` bounds it. The lost-wake-up argument is unchanged: this M is
    /// a spinning M that has not yet given up; it gives up through
    /// `go_idle`, whose re-check pairs with `wakep` as before.
    ///
    /// Any M, spinning or not, that runs dry while goroutines wait on the
    /// network polls it without blocking, every look, for up to
    /// [`NET_SPIN`], if no other M does so already (`net_spinner`; an M
    /// that finds one does not spin, and sleeps on its parker rather than
    /// in the poll, see `Shared::idle_park`). A reply that comes within that
    /// time runs here at once, instead of after the wake-up of a thread
    /// asleep in `epoll_wait` (an idle core's wake-up: tens of microseconds
    /// on a virtual machine). The cost: one core busy for at most that
    /// long each time an M runs dry while goroutines wait on the network.
    #[cold]
    pub(super) fn idle_spin(&self) -> Option<TaskRef> {
        let poller = self.shared.timers.netpoll().filter(|n| n.waiters() > 0);
        let net = poller.is_some()
            && self
                .shared
                .net_spinner
                .compare_exchange(false, true, Acquire, Relaxed)
                .is_ok();
        let mut spin = NetSpinner {
            shared: net.then_some(&self.shared),
            found: 0,
        };
        if !self.spinning.get() && !net {
            return None;
        }
        let limit = if net { NET_SPIN } else { IDLE_SPIN };
        let since = std::time::Instant::now();
        let mut look = 0u32;
        loop {
            look = look.wrapping_add(1);
            if let Some(n) = poller.filter(|_| net) {
                // Every look, even with an M blocked in the poll since
                // before this spin: this M, awake, mostly takes the
                // readiness first, and the sleeper, woken in the kernel,
                // finds nothing and sleeps on.
                let (found, t) = self.poll_now(n);
                spin.found = found;
                if t.is_some() {
                    return t;
                }
                std::hint::spin_loop();
                if look % 16 == 0 {
                    std::thread::yield_now();
                }
            } else if self.shared.stacks.prewarm(PREWARM_BATCH) == 0 {
                // In a burst of new goroutines, commit the memory of a few
                // stacks they will want instead of pausing: the spawning M
                // then finds them ready rather than taking a page fault for
                // each. Otherwise mostly `pause` between looks: it hands the
                // core's resources to a hyperthread sibling (possibly the M
                // doing the hand-offs), where a `sched_yield` per look would
                // run kernel code there. Every 16th look yields the thread,
                // for an oversubscribed machine's other threads.
                if look % 16 == 0 {
                    // The network too (Go's spinning M re-runs `findRunnable`,
                    // `netpoll(0)` included), when no M blocks in it.
                    if let Some(t) = self.poll_network() {
                        return Some(t);
                    }
                    std::thread::yield_now();
                } else {
                    for _ in 0..64 {
                        std::hint::spin_loop();
                    }
                }
            }
            if since.elapsed() >= limit || self.shared.shutting_down.load(Acquire) {
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
}

/// Ends the network spin when the spin ends, however it ends.
struct NetSpinner<'a> {
    /// The runtime, if this M is the network spinner.
    shared: Option<&'a super::super::Shared>,
    /// Goroutines the spin's last poll made ready (still counted as
    /// waiting on the network until they run).
    found: usize,
}

impl Drop for NetSpinner<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.shared {
            s.net_spin_done(self.found);
        }
    }
}

/// Whether `v`'s `runnext` goroutine waits on an owner busy elsewhere, so a
/// thief should take it: the owner is given [`RUNNEXT_STEAL_GRACE`] to take
/// it or put another one. One that does is running a hand-off pair (two
/// goroutines taking turns through `runnext`), which a steal would only
/// split across threads, each hand-off then waking the other thread.
fn runnext_stuck(v: &Proc) -> bool {
    let puts = v.runnext.puts();
    let since = std::time::Instant::now();
    while since.elapsed() < RUNNEXT_STEAL_GRACE {
        if !v.runnext.is_some() || v.runnext.puts() != puts {
            return false;
        }
        std::hint::spin_loop();
    }
    true
}
