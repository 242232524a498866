//! Per-P timer heaps, run by the scheduler as Go 1.23 runs them; no timer
//! thread and no goroutine per timer.
//!
//! - Each P has a heap of entries `(when, target)`: a sleeping goroutine to
//!   wake, or a [`Core`] (a `gort::time` timer) to fire. A timer is queued on
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

use super::context::current_worker;
use super::timer_core::Core;
use super::Shared;
use crate::loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering::*};
use crate::loom::sync::{Arc, Mutex};
use crate::netpoll::Poller;
use crate::sched::park::Waiter;
use crossbeam_utils::sync::{Parker, Unparker};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::OnceLock;
use std::time::Instant;

/// No entry (the `next` word of an empty heap).
const NONE: u64 = u64::MAX;

/// What a heap entry does when due.
pub(crate) enum Target {
    /// Wake a sleeping goroutine (or thread).
    Wake(Waiter),
    /// Fire a timer's arming `seq`.
    Timer(Arc<Core>, u64),
}

struct Entry {
    when: Instant,
    /// Insertion order: equal deadlines fire first come, first served.
    order: u64,
    target: Target,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.when, self.order) == (o.when, o.order)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.when, self.order).cmp(&(o.when, o.order))
    }
}

/// The process's time origin for the heaps' lock-free `next` words.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn nanos(t: Instant) -> u64 {
    t.saturating_duration_since(epoch())
        .as_nanos()
        .min(NONE as u128 - 1) as u64
}

#[derive(Default)]
struct HeapState {
    heap: BinaryHeap<Reverse<Entry>>,
    order: u64,
}

/// One timer heap (a P's, or the process-wide one).
pub(crate) struct Heap {
    state: Mutex<HeapState>,
    /// Deadline of the earliest entry (nanoseconds since [`epoch`]), or
    /// [`NONE`]: read without the lock by the Ms deciding whether to look.
    next: AtomicU64,
    len: AtomicUsize,
    /// Entries known stale (see [`Core`]); shared with the cores that make
    /// them so.
    zombies: Arc<AtomicUsize>,
}

impl Default for Heap {
    fn default() -> Heap {
        Heap {
            state: Mutex::new(HeapState::default()),
            next: AtomicU64::new(NONE),
            len: AtomicUsize::new(0),
            zombies: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl std::fmt::Debug for Heap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Heap")
            .field("len", &self.len.load(Relaxed))
            .field("zombies", &self.zombies.load(Relaxed))
            .finish()
    }
}

impl Heap {
    /// Queues `target` at `when`; returns whether it is now the earliest.
    fn push(&self, when: Instant, target: Target) -> bool {
        let mut s = self.state.lock();
        s.order += 1;
        let order = s.order;
        s.heap.push(Reverse(Entry {
            when,
            order,
            target,
        }));
        self.len.store(s.heap.len(), SeqCst);
        let n = nanos(when);
        let earliest = n < self.next.load(Relaxed);
        if earliest {
            self.next.store(n, SeqCst);
        }
        earliest
    }

    /// The earliest deadline, if any.
    fn next_when(&self) -> Option<u64> {
        let n = self.next.load(SeqCst);
        (n != NONE).then_some(n)
    }

    /// Pops the entries due at `now` into `out`, after purging zombies if
    /// they are more than a quarter of the heap.
    fn take_due(&self, now: Instant, out: &mut Vec<Entry>) {
        let mut s = self.state.lock();
        let z = self.zombies.load(SeqCst);
        if z > 0 && z * 4 >= s.heap.len() {
            let before = s.heap.len();
            s.heap.retain(|Reverse(e)| match &e.target {
                Target::Timer(c, seq) => c.seq() == *seq,
                Target::Wake(_) => true,
            });
            uncount(&self.zombies, before - s.heap.len());
        }
        while s.heap.peek().is_some_and(|Reverse(e)| e.when <= now) {
            if let Some(Reverse(e)) = s.heap.pop() {
                out.push(e);
            }
        }
        self.len.store(s.heap.len(), SeqCst);
        let n = s.heap.peek().map_or(NONE, |Reverse(e)| nanos(e.when));
        self.next.store(n, SeqCst);
    }

    /// Entries not known stale.
    fn live(&self) -> usize {
        self.len
            .load(SeqCst)
            .saturating_sub(self.zombies.load(SeqCst))
    }

    /// Empties the heap (runtime shutdown); the entries drop after the lock.
    fn clear(&self) -> Vec<Reverse<Entry>> {
        let mut s = self.state.lock();
        self.len.store(0, SeqCst);
        self.next.store(NONE, SeqCst);
        self.zombies.store(0, SeqCst);
        std::mem::take(&mut s.heap).into_vec()
    }
}

/// Takes `n` off a zombie count (a hint: it never wraps).
fn uncount(z: &AtomicUsize, n: usize) {
    if n > 0 {
        let _ = z.fetch_update(SeqCst, SeqCst, |v| Some(v.saturating_sub(n)));
    }
}

/// Runs due entries popped from `from`; a periodic timer's next entry goes
/// to `to`. Returns whether anything ran (stale entries do not count).
fn fire_all(
    entries: Vec<Entry>,
    now: Instant,
    from: &Heap,
    to: &dyn Fn(Instant, Target) -> Arc<AtomicUsize>,
) -> bool {
    let mut ran = false;
    for e in entries {
        match e.target {
            Target::Wake(w) => {
                w.wake();
                ran = true;
            }
            Target::Timer(c, seq) => {
                let core = c.clone();
                let fired = c.fire(seq, now, |seq, when| to(when, Target::Timer(core, seq)));
                if fired {
                    ran = true;
                } else {
                    uncount(&from.zombies, 1);
                }
            }
        }
    }
    ran
}

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
    pub(crate) fn run_timers(self: &Arc<Self>, mine: usize, all: bool) -> bool {
        let heaps = &self.timers.heaps;
        let due_any = if all {
            heaps.iter().any(|h| h.next.load(Relaxed) != NONE)
        } else {
            heaps[mine].next.load(Relaxed) != NONE
        };
        if !due_any {
            return false;
        }
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
        let deadline = until.map(|u| epoch() + std::time::Duration::from_nanos(u));
        let mut ready = Vec::new();
        match net {
            Some(n) => {
                self.timers.net_worker.store(me.id + 1, SeqCst);
                drop(ps);
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
            None => {
                drop(ps);
                idle::wait_until(parker, deadline);
            }
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

#[cfg(test)]
mod tests {
    use super::{Heap, Target};
    use crate::sched::park::Waiter;
    use std::time::{Duration, Instant};

    /// Entries come out in deadline order, whatever the insertion order,
    /// and only those due.
    #[test]
    fn due_entries_come_out_in_deadline_order() {
        let h = Heap::default();
        let base = Instant::now();
        let ms = |n: u64| base + Duration::from_millis(n);
        for n in [30, 10, 20, 40] {
            h.push(ms(n), Target::Wake(Waiter::Thread(std::thread::current())));
        }
        assert_eq!(h.live(), 4);
        let mut out = Vec::new();
        h.take_due(ms(35), &mut out);
        let got: Vec<Instant> = out.iter().map(|e| e.when).collect();
        assert_eq!(got, [ms(10), ms(20), ms(30)]);
        assert_eq!(h.live(), 1, "the entry not yet due stays");
        // Equal deadlines keep their insertion order.
        h.push(ms(50), Target::Wake(Waiter::Thread(std::thread::current())));
        h.push(ms(50), Target::Wake(Waiter::Thread(std::thread::current())));
        out.clear();
        h.take_due(ms(60), &mut out);
        let orders: Vec<u64> = out.iter().map(|e| e.order).collect();
        assert!(orders.windows(2).all(|w| w[0] < w[1]), "{orders:?}");
    }
}
