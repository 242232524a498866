//! Per-P timer heaps, run by the scheduler as Go 1.23 runs them; no timer
//! thread and no goroutine per timer.
//!
//! - Each P has a heap ([`heap`]) of entries `(when, target)`: a sleeping goroutine to
//!   wake, or a [`Core`](super::timer_core::Core) (a `gort::time` timer) to fire. A timer is queued on
//!   the heap of the P its creator's M holds.
//! - An M that holds a P runs its own P's due timers each time it looks for
//!   work (Go's `findRunnable` top), and, before giving its P up, the due
//!   timers of every other P (Go's `stealWork`), so an idle P's timers run.
//!   A timer wake-up therefore happens on an M that holds a P and runs no
//!   goroutine: `GoUnblock` with an empty stack, as in Go's traces.
//! - When every P is idle, one idle M (the *poller*) sleeps exactly until the
//!   earliest timer of all heaps ([`idle`]): no polling, no CPU while nothing
//!   is due. A new timer earlier than the poller's deadline wakes it; with no
//!   poller, a new timer wakes an idle M (Go's `wakeNetPoller`), which becomes
//!   the poller when it finds nothing to run.
//! - `stop`/`reset` leave a stale entry (a zombie) behind; a heap whose
//!   zombies exceed a quarter of its entries is purged when next run.
//! - Outside any runtime (timers made on a plain thread), entries go to one
//!   process-wide heap served by a thread started on first use.

mod heap;

pub(crate) use heap::Target;
use heap::{epoch, fire_all, nanos, Heap, NONE};

use super::context::current_worker;
use super::Shared;
use crate::loom::sync::atomic::{AtomicUsize, Ordering::*};
use crate::loom::sync::{Arc, Mutex};
use crate::netpoll::Poller;
use crossbeam_utils::sync::{Parker, Unparker};
use std::sync::OnceLock;
use std::time::Instant;

/// The runtime's timers: one heap per P, and the idle M that sleeps until
/// the earliest of them (in the network poller once there is one).
#[derive(Debug)]
pub(crate) struct Timers {
    heaps: Box<[Heap]>,
    /// The poller: the idle M sleeping until `until`, if any.
    poll: Mutex<Poll>,
    /// The network poller, made when the first descriptor is registered.
    net: OnceLock<std::sync::Arc<Poller>>,
    net_init: Mutex<()>,
    /// The worker ID + 1 of the M blocked in the network poller (0: none):
    /// handing that M a P must also break its poll.
    net_worker: AtomicUsize,
}

#[derive(Debug, Default)]
struct Poll {
    m: Option<Unparker>,
    until: u64,
}

impl Timers {
    pub(crate) fn new(procs: usize) -> Timers {
        Timers {
            heaps: (0..procs).map(|_| Heap::default()).collect(),
            poll: Mutex::new(Poll::default()),
            net: OnceLock::new(),
            net_init: Mutex::new(()),
            net_worker: AtomicUsize::new(0),
        }
    }

    /// Whether timers or network waiters wait with no idle M sleeping until
    /// them (a P that goes idle then wakes an M for them: Go's `handoffp`).
    pub(crate) fn unwatched(&self) -> bool {
        self.poll.lock().m.is_none() && (self.next_when().is_some() || self.net_waiting())
    }

    /// The network poller, if one was made.
    #[inline]
    pub(crate) fn netpoll(&self) -> Option<&std::sync::Arc<Poller>> {
        self.net.get()
    }

    /// Whether goroutines are parked in the network poller: the runtime is
    /// not deadlocked while any are.
    #[inline]
    pub(crate) fn net_waiting(&self) -> bool {
        self.net.get().is_some_and(|n| n.waiters() > 0)
    }

    /// Breaks the network poll of worker `id` if it is the M blocked in it
    /// (it was just handed a P and unparked).
    #[inline]
    pub(crate) fn break_poll_of(&self, id: usize) {
        if self.net_worker.load(SeqCst) == id + 1 {
            if let Some(n) = self.net.get() {
                n.wake();
            }
        }
    }

    /// Entries not known stale, over all heaps: while any is pending, the
    /// runtime is not deadlocked.
    pub(crate) fn pending(&self) -> usize {
        self.heaps.iter().map(Heap::live).sum()
    }

    /// Entries not known stale in P `p`'s heap (a snapshot).
    pub(crate) fn len_hint(&self, p: usize) -> usize {
        self.heaps.get(p).map_or(0, Heap::live)
    }

    /// The earliest deadline over all heaps.
    fn next_when(&self) -> Option<u64> {
        self.heaps.iter().filter_map(Heap::next_when).min()
    }

    /// Drops every entry (runtime shutdown: they may hold the runtime's
    /// goroutines, which hold the runtime).
    pub(crate) fn shutdown(&self) {
        let dropped: Vec<_> = self.heaps.iter().flat_map(Heap::clear).collect();
        drop(dropped);
        if let Some(m) = &self.poll.lock().m {
            idle::wake(m);
        }
        if let Some(n) = self.net.get() {
            n.wake();
            n.shutdown();
        }
    }

    /// Wakes the idle M sleeping until `until`: its parker, or its poll.
    fn wake_poller(&self, ps: &Poll) {
        if let Some(m) = &ps.m {
            idle::wake(m);
            if self.net_worker.load(SeqCst) != 0 {
                if let Some(n) = self.net.get() {
                    n.wake();
                }
            }
        }
    }
}

impl Shared {
    /// Queues `target` at `when` on P `p`'s heap and makes sure an M will
    /// run it in time. Returns the heap's zombie counter.
    pub(crate) fn add_timer(
        self: &Arc<Self>,
        p: usize,
        when: Instant,
        target: Target,
    ) -> Arc<AtomicUsize> {
        let h = &self.timers.heaps[p.min(self.timers.heaps.len() - 1)];
        if h.push(when, target) {
            self.timer_added(nanos(when));
        }
        h.zombies.clone()
    }

    /// A heap's earliest deadline became `when` (Go's `wakeNetPoller`): wake
    /// the poller if it sleeps longer, or, with no poller, an idle M that
    /// will become it. Lock order: the heap's push is done; the poller reads
    /// the heaps under `poll`, so it either sees the entry or is woken here.
    fn timer_added(self: &Arc<Self>, when: u64) {
        let ps = self.timers.poll.lock();
        match &ps.m {
            Some(_) => {
                if when < ps.until {
                    self.timers.wake_poller(&ps);
                }
            }
            None => {
                drop(ps);
                // Not `wakep`, which does nothing with one P.
                let mut s = self.sched.lock();
                if self.idle.spinning() == 0 {
                    self.wake_idle_locked(&mut s);
                }
            }
        }
    }

    /// Runs the due timers of P `mine` (or of every P with `all`), on the M
    /// that holds `mine`. Returns whether any goroutine may have been made
    /// ready.
    ///
    /// The check for no timer at all is inlined into the scheduler's loop,
    /// which makes it on every pick; the rest is out of line.
    #[inline]
    pub(crate) fn run_timers(self: &Arc<Self>, mine: usize, all: bool) -> bool {
        let heaps = &self.timers.heaps;
        let any = if all {
            heaps.iter().any(|h| h.next.load(Relaxed) != NONE)
        } else {
            heaps
                .get(mine)
                .is_some_and(|h| h.next.load(Relaxed) != NONE)
        };
        any && self.run_pending_timers(mine, all)
    }

    /// [`run_timers`](Self::run_timers) once some P has a timer.
    #[inline(never)]
    fn run_pending_timers(self: &Arc<Self>, mine: usize, all: bool) -> bool {
        let heaps = &self.timers.heaps;
        let now = Instant::now();
        let n = nanos(now);
        let mut ran = false;
        let to = |when: Instant, t: Target| self.add_timer(mine, when, t);
        for (i, h) in heaps.iter().enumerate() {
            if (i != mine && !all) || h.next.load(Relaxed) > n {
                continue;
            }
            let mut due = Vec::new();
            h.take_due(now, &mut due);
            ran |= fire_all(due, now, h, &to);
        }
        ran
    }

    /// The network poller, made on first use: the idle M sleeping until
    /// the earliest timer moves into it, and sysmon starts watching it.
    pub(crate) fn netpoll_or_init(self: &Arc<Self>) -> std::io::Result<&std::sync::Arc<Poller>> {
        if let Some(n) = self.timers.net.get() {
            return Ok(n);
        }
        let g = self.timers.net_init.lock();
        if self.timers.net.get().is_none() {
            let p = std::sync::Arc::new(Poller::new()?);
            let _ = self.timers.net.set(p);
            self.timers.wake_poller(&self.timers.poll.lock());
            self.sysmon.poke_net();
        }
        drop(g);
        match self.timers.net.get() {
            Some(n) => Ok(n),
            None => Err(std::io::Error::other("netpoll: poller not initialised")),
        }
    }

    /// Parks an idle M (no P, listed idle) until woken; if no other M does
    /// and timers are pending or goroutines wait on the network, as the
    /// poller until the earliest timer (`timed`): in the network poller once
    /// one exists, else on its parker.
    ///
    /// Returns whether a timer is due (the M should take an idle P to run
    /// it), and the goroutines network readiness made runnable (claimed by
    /// the poll, not yet queued).
    pub(crate) fn idle_park(
        &self,
        parker: &Parker,
        timed: bool,
        me: &super::WorkerHandle,
    ) -> (bool, Vec<crate::task::TaskRef>) {
        let net = self.timers.net.get();
        let mut ps = self.timers.poll.lock();
        let poller = timed && ps.m.is_none();
        let until = if poller {
            self.timers.next_when()
        } else {
            None
        };
        let net_wait = poller && net.is_some_and(|n| n.waiters() > 0);
        if until.is_none() && !net_wait {
            drop(ps);
            idle::wait_until(parker, None);
            return (false, Vec::new());
        }
        ps.m = Some(parker.unparker().clone());
        ps.until = until.unwrap_or(NONE);
        // An M spinning on the network (`worker::find`) takes its readiness
        // first: this one sleeps on its parker meanwhile, as the M a timer
        // or the spinner's end wakes (`net_spin_done`), rather than in the
        // poll, where each readiness would wake it too. Read under the
        // lock, after `ps.m` is set: see `net_spin_done`.
        let spinner = net_wait && self.net_spinner.load(SeqCst);
        drop(ps);
        let deadline = until.map(|u| epoch() + std::time::Duration::from_nanos(u));
        let mut ready = Vec::new();
        match net.filter(|_| !spinner) {
            Some(n) => {
                self.timers.net_worker.store(me.id + 1, SeqCst);
                // A hand-off made before `net_worker` was visible did not
                // break the poll: look before blocking (SeqCst store above,
                // the hand-off's mutex, then its SeqCst load in
                // `break_poll_of`: one of the two sees the other).
                let handed = me.handoff.lock().is_some();
                if !handed && !self.shutting_down.load(SeqCst) {
                    let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                    n.poll(timeout, &mut ready);
                }
                self.timers.net_worker.store(0, SeqCst);
            }
            None => idle::wait_until(parker, deadline),
        }
        let mut ps = self.timers.poll.lock();
        ps.m = None;
        ps.until = NONE;
        drop(ps);
        let due = self
            .timers
            .next_when()
            .is_some_and(|w| w <= nanos(Instant::now()));
        (due, ready)
    }

    /// The network spinner's spin ended, its last poll having made `found`
    /// goroutines ready. With others still waiting on the network, the M
    /// that slept on its parker instead of blocking in the poll
    /// (`idle_park`) looks again and blocks there now; with none, it sleeps
    /// on (the next goroutine to wait on the network parks from a running
    /// M, which spins or polls when it runs dry).
    ///
    /// The flag is cleared before `ps.m` is read under the lock, and
    /// `idle_park` sets `ps.m` before it reads the flag under the same
    /// lock: either that M sees the flag clear and polls, or this sees it
    /// and wakes it (a parker keeps a wake-up that comes before the park).
    pub(crate) fn net_spin_done(&self, found: usize) {
        self.net_spinner.store(false, SeqCst);
        if self.timers.net.get().is_none_or(|n| n.waiters() <= found) {
            return;
        }
        if let Some(m) = &self.timers.poll.lock().m {
            idle::wake(m);
        }
    }
}

/// The idle M's wait, as one pair a network poller can replace (with
/// `epoll_wait` and an eventfd write).
pub(crate) mod idle {
    use crossbeam_utils::sync::{Parker, Unparker};
    use std::time::Instant;

    /// Blocks the M until `deadline` (forever with `None`) or until [`wake`].
    pub(crate) fn wait_until(parker: &Parker, deadline: Option<Instant>) {
        match deadline {
            Some(d) => parker.park_deadline(d),
            None => parker.park(),
        }
    }

    /// Ends the M's [`wait_until`] now, or its next one if it is not waiting.
    pub(crate) fn wake(m: &Unparker) {
        m.unpark();
    }
}

/// Queues `target` at `when` where the caller is: on the heap of the P its
/// M holds (P 0's if it holds none), or, outside any runtime, on the
/// process-wide heap. Returns that heap's zombie counter.
pub(crate) fn schedule(when: Instant, target: Target) -> Arc<AtomicUsize> {
    let w = current_worker();
    if !w.is_null() {
        // SAFETY: a non-null current worker is alive while its thread runs
        // its loop, and this call does not suspend.
        let w = unsafe { &*w };
        let p = w.p.get().unwrap_or(0);
        return w.shared.add_timer(p, when, target);
    }
    let f = fallback();
    if f.heap.push(when, target) {
        f.thread.unpark();
    }
    f.heap.zombies.clone()
}

/// The process-wide heap for timers made outside any runtime.
struct Fallback {
    heap: Heap,
    thread: std::thread::Thread,
}

fn fallback() -> &'static Fallback {
    static FALLBACK: OnceLock<Fallback> = OnceLock::new();
    FALLBACK.get_or_init(|| {
        let spawned = std::thread::Builder::new()
            .name("gort-timers".into())
            .spawn(fallback_loop);
        match spawned {
            Ok(j) => Fallback {
                heap: Heap::default(),
                thread: j.thread().clone(),
            },
            Err(e) => crate::fatal(&format!("cannot start the timer thread: {e}")),
        }
    })
}

/// Body of the process-wide timer thread: runs due entries, then sleeps
/// until the next one (or until a new earliest one unparks it).
fn fallback_loop() {
    let f = fallback();
    loop {
        let now = Instant::now();
        let mut due = Vec::new();
        f.heap.take_due(now, &mut due);
        // The loop itself is awake: a new earliest entry needs no unpark.
        let to = |when: Instant, t: Target| {
            f.heap.push(when, t);
            f.heap.zombies.clone()
        };
        fire_all(due, now, &f.heap, &to);
        match f.heap.next_when() {
            Some(n) => {
                let d = epoch() + std::time::Duration::from_nanos(n);
                std::thread::park_timeout(d.saturating_duration_since(Instant::now()));
            }
            None => std::thread::park(),
        }
    }
}
