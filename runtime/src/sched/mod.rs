//! The scheduler's shared state and the operations every M uses.
//!
//! Overview (Go's G/M/P model; `Task` = G, `Worker` = M, `Proc` = P):
//!
//! 1. An M runs goroutines only while it holds a P. It looks for work in its
//!    P's `runnext` slot, then the P's local queue, the global queue (first,
//!    every 61st pick, for fairness), then steals half of another P's queue.
//! 2. Finding nothing, a spinning M keeps its P and looks again for a short,
//!    bounded time (so hand-offs elsewhere need not wake anyone), then gives
//!    its P back to the idle list and parks ([`worker`]). Whoever makes work
//!    appear and sees an idle P with no spinning M hands that P to an idle M
//!    (or starts a new one): [`Shared::wakep`].
//! 3. A goroutine made ready by a goroutine goes to its P's `runnext`, so a
//!    ping-pong pair stays on one P; made ready from outside (timers, plain
//!    threads) it goes to the global queue.
//! 4. When every M is idle, no syscall is in flight and no timer is pending,
//!    nothing can ever run again: the runtime reports a deadlock.

pub(crate) mod coarse;
pub(crate) mod context;
pub(crate) mod coroswitch;
pub(crate) mod dump;
pub(crate) mod idle;
pub(crate) mod park;
pub(crate) mod proc;
pub(crate) mod queue;
pub(crate) mod release;
pub(crate) mod schedtrace;
pub(crate) mod stw;
pub(crate) mod sysmon;
pub(crate) mod timer_core;
pub(crate) mod timers;

/// The most Ps a runtime may have. Trace P IDs are the P's index plus
/// this times the runtime's serial, so that two runtimes' Ps never share an
/// ID in one trace.
pub(crate) const MAX_PROCS: usize = 1024;
pub(crate) mod worker;

use crate::coro::StackPool;
use crate::loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use crate::loom::sync::{Arc, Mutex};
use crate::task::TaskRef;
use crossbeam_utils::sync::Unparker;
use proc::Proc;
use std::collections::VecDeque;

/// An M as other threads see it: how to wake it and what to hand it.
pub(crate) struct WorkerHandle {
    pub(crate) id: usize,
    pub(crate) unparker: Unparker,
    /// A P (and optionally a task to run first) handed to this M while it
    /// sleeps; taken by the M when it wakes.
    pub(crate) handoff: Mutex<Option<Handoff>>,
    /// Whether this M is inside a trace hook (`stw`'s gate).
    #[cfg_attr(not(feature = "trace"), allow(dead_code))]
    pub(crate) gate: stw::MGate,
    #[cfg(feature = "trace")]
    pub(crate) trace: std::sync::Arc<crate::hooks::ThreadTrace>,
}

impl std::fmt::Debug for WorkerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerHandle")
            .field("id", &self.id)
            .finish()
    }
}

/// What an idle M is handed when woken.
#[derive(Debug)]
pub(crate) struct Handoff {
    pub(crate) p: usize,
    pub(crate) task: Option<TaskRef>,
    pub(crate) spinning: bool,
}

/// State under the scheduler lock (Go's `sched.lock`).
#[derive(Debug, Default)]
pub(crate) struct Sched {
    pub(crate) global: VecDeque<TaskRef>,
    /// Idle Ps, sleeping Ms, and the Ms parked without a P.
    pub(crate) idle: idle::Lists<Arc<WorkerHandle>>,
    /// Worker threads alive.
    pub(crate) nworkers: usize,
    pub(crate) threads: Vec<std::thread::JoinHandle<()>>,
    pub(crate) shutdown: bool,
    /// Set once a deadlock was found; `block_on` reports it.
    pub(crate) deadlock: bool,
    /// Every live M, by ID, for hand-offs to wired Ms.
    pub(crate) handles: std::collections::HashMap<usize, Arc<WorkerHandle>>,
    /// `block_on` calls waiting for their main goroutine.
    pub(crate) main_waiting: usize,
    /// Their threads, woken when a deadlock is found.
    pub(crate) main_threads: Vec<std::thread::Thread>,
    /// Main goroutines whose `block_on` waits until their M has retired
    /// them (stack back in the pool): ID, the waiting thread, retired yet.
    pub(crate) retire_waits: Vec<(u64, std::thread::Thread, bool)>,
}

/// Everything the Ms of one runtime share.
pub(crate) struct Shared {
    pub(crate) procs: Box<[Proc]>,
    pub(crate) sched: Mutex<Sched>,
    pub(crate) stacks: StackPool,
    /// What the released stacks of parked goroutines hold on the heap (see
    /// [`release`]).
    pub(crate) stack_ledger: std::sync::Arc<crate::coro::release::Ledger>,
    /// How long a goroutine stays parked before its stack is released
    /// (`None`: never).
    pub(crate) release_after: Option<std::time::Duration>,
    pub(crate) next_goid: AtomicU64,
    /// Idle Ps and spinning Ms, readable without the lock.
    pub(crate) idle: idle::Counts,
    /// Goroutines inside `gort::syscall`.
    pub(crate) in_syscall: AtomicUsize,
    /// Goroutines blocked on channels made outside the runtime (a plain
    /// thread may wake them): no deadlock while any exist.
    pub(crate) external_blocked: AtomicUsize,
    /// Live `KeepAlive` guards: a plain thread that will wake goroutines
    /// holds one, so no deadlock is reported while any exist.
    pub(crate) keep_alive: AtomicUsize,
    /// Release passes under way (see [`release`]): a goroutine they hold
    /// for a moment is neither parked nor queued, so no deadlock is
    /// declared meanwhile; each pass checks once it ends.
    pub(crate) releasing: AtomicUsize,
    /// Where the next budgeted release pass starts: (P, registry entry).
    pub(crate) release_cursor: Mutex<(usize, usize)>,
    /// Live goroutines (created, not yet finished).
    pub(crate) live: AtomicUsize,
    /// When `live` falls to this many, the per-P registries drop their
    /// finished goroutines' entries (see `free_task`); raised as `live`
    /// grows (see `new_task`).
    compact_mark: AtomicUsize,
    /// Length hint of the global queue, readable without the lock.
    pub(crate) global_len: AtomicUsize,
    /// An M polls the network in its idle spin (`worker::find`): one at a
    /// time, so that at most one core waits that way.
    pub(crate) net_spinner: std::sync::atomic::AtomicBool,
    /// Per-P timer heaps and the idle M sleeping until the earliest timer.
    pub(crate) timers: timers::Timers,
    pub(crate) sysmon: sysmon::Sysmon,
    pub(crate) shutting_down: AtomicBool,
    /// Goroutines created outside any P (main goroutines).
    pub(crate) orphans: Mutex<Vec<crate::task::TaskWeak>>,
    /// This runtime's number in the process (0 for the first).
    pub(crate) serial: u64,
    /// Entries in `Sched::retire_waits`: `free_task` looks there only
    /// when this is nonzero.
    pub(crate) retire_waiters: AtomicUsize,
    /// `GORT_DEBUG=schedtrace`, read when the runtime started.
    pub(crate) schedtrace: Option<schedtrace::Config>,
}

/// Worker (M) numbers are process-wide, so that traces of several runtimes
/// never give two threads one ID.
static NEXT_WORKER: AtomicUsize = AtomicUsize::new(0);
/// Runtime serial numbers.
static NEXT_RUNTIME: AtomicU64 = AtomicU64::new(0);
/// Every live runtime, for the flips of the tracer's flag (which is
/// process-wide).
pub(crate) static RUNTIMES: parking_lot::Mutex<Vec<std::sync::Weak<Shared>>> =
    parking_lot::Mutex::new(Vec::new());

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("procs", &self.procs.len())
            .finish()
    }
}

impl Shared {
    /// Live goroutines below which the registries' own sweep (a few entries
    /// per registration) is left to keep up alone.
    const COMPACT_MIN: usize = 1024;

    pub(crate) fn new(
        procs: usize,
        stack_size: usize,
        release_after: Option<std::time::Duration>,
    ) -> std::io::Result<Shared> {
        let stacks = StackPool::new(stack_size)?;
        let sched = Sched {
            idle: idle::Lists::new(procs),
            ..Sched::default()
        };
        Ok(Shared {
            procs: (0..procs).map(Proc::new).collect(),
            sched: Mutex::new(sched),
            stacks,
            stack_ledger: std::sync::Arc::default(),
            release_after,
            next_goid: AtomicU64::new(1),
            idle: idle::Counts::new(procs),
            in_syscall: AtomicUsize::new(0),
            external_blocked: AtomicUsize::new(0),
            keep_alive: AtomicUsize::new(0),
            releasing: AtomicUsize::new(0),
            release_cursor: Mutex::new((0, 0)),
            live: AtomicUsize::new(0),
            compact_mark: AtomicUsize::new(0),
            global_len: AtomicUsize::new(0),
            net_spinner: std::sync::atomic::AtomicBool::new(false),
            timers: timers::Timers::new(procs),
            sysmon: sysmon::Sysmon::default(),
            shutting_down: AtomicBool::new(false),
            orphans: Mutex::new(Vec::new()),
            retire_waiters: AtomicUsize::new(0),
            schedtrace: schedtrace::from_env(),
            serial: NEXT_RUNTIME.fetch_add(1, Relaxed),
        })
    }

    /// Appends tasks to the global queue and wakes Ms to run them.
    pub(crate) fn push_global(self: &Arc<Self>, tasks: impl IntoIterator<Item = TaskRef>) {
        let mut s = self.sched.lock();
        self.push_global_locked(&mut s, tasks);
    }

    /// [`push_global`](Self::push_global) with the sched lock already held.
    pub(crate) fn push_global_locked(
        self: &Arc<Self>,
        s: &mut Sched,
        tasks: impl IntoIterator<Item = TaskRef>,
    ) {
        for t in tasks {
            s.global.push_back(t);
        }
        self.global_len.store(s.global.len(), Relaxed);
        self.wake_idle_locked(s);
    }

    /// Wakes one idle M with an idle P, if both exist (sched lock held).
    pub(crate) fn wake_idle_locked(self: &Arc<Self>, s: &mut Sched) {
        if s.shutdown {
            return;
        }
        if let Some(p) = s.idle.take_p_spinning(&self.idle) {
            self.start_m_locked(
                s,
                Handoff {
                    p,
                    task: None,
                    spinning: true,
                },
            );
        }
    }

    /// Wakes an M to look for work if a P is idle and no M is already
    /// looking (Go's `wakep`).
    ///
    /// Called by an M that holds a P, after making work appear there. With
    /// a single P there is then no idle P to hand out, so nothing to do
    /// (and no fence to pay).
    #[inline]
    pub(crate) fn wakep(self: &Arc<Self>) {
        if self.procs.len() < 2 {
            return;
        }
        // The waker's side of the handshake with `Worker::go_idle` (see
        // `idle`): after our queue store, either we see its idle P or it
        // sees our work.
        if self.idle.wake_wanted() {
            self.wakep_slow();
        }
    }

    #[cold]
    fn wakep_slow(self: &Arc<Self>) {
        let mut s = self.sched.lock();
        if self.idle.spinning() != 0 {
            return;
        }
        self.wake_idle_locked(&mut s);
    }

    /// Gives `h.p` to an idle M, or starts a new M with it.
    pub(crate) fn start_m_locked(self: &Arc<Self>, s: &mut Sched, h: Handoff) {
        self.procs[h.p].status.store(proc::RUNNING, Release);
        if let Some(w) = s.idle.pop_m() {
            *w.handoff.lock() = Some(h);
            w.unparker.unpark();
            self.timers.break_poll_of(w.id);
            return;
        }
        let id = NEXT_WORKER.fetch_add(1, Relaxed);
        s.nworkers += 1;
        let shared = self.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("gort-m{id}"))
            .stack_size(256 << 10)
            .spawn(move || worker::run(shared, id, Some(h), None));
        match spawned {
            Ok(j) => s.threads.push(j),
            Err(e) => crate::fatal(&format!("cannot start an M (worker thread): {e}")),
        }
    }

    /// The goroutines alive now (a snapshot, each once, by ID): those
    /// created on each P and the main goroutines. For dumps, `schedtrace`
    /// and the tracer's statuses.
    pub(crate) fn live_tasks(&self) -> Vec<TaskRef> {
        let mut all: Vec<TaskRef> = Vec::new();
        for p in self.procs.iter() {
            all.extend(p.registry.lock().live());
        }
        all.extend(self.orphans.lock().iter().filter_map(|w| w.upgrade()));
        all.retain(|t| t.status() != crate::task::Status::Dead);
        all.sort_by_key(|t| t.id);
        all.dedup_by_key(|t| t.id);
        all
    }

    /// Runs the deadlock check now (it normally runs as an M goes idle).
    pub(crate) fn recheck_deadlock(&self) {
        let mut s = self.sched.lock();
        self.check_deadlock(&mut s);
    }

    /// Reports a deadlock if nothing can ever run again (sched lock held).
    pub(crate) fn check_deadlock(&self, s: &mut Sched) {
        if s.main_waiting == 0 || s.deadlock || s.shutdown {
            return;
        }
        if s.idle.nidle() < s.nworkers || !s.global.is_empty() {
            return;
        }
        if self.in_syscall.load(SeqCst) != 0
            || self.timers.pending() != 0
            || self.timers.net_waiting()
            || self.external_blocked.load(SeqCst) != 0
            || self.keep_alive.load(SeqCst) != 0
            || self.releasing.load(SeqCst) != 0
        {
            return;
        }
        if self.procs.iter().any(|p| p.has_work_hint()) {
            return;
        }
        s.deadlock = true;
        for th in &s.main_threads {
            th.unpark();
        }
    }

    /// Frees a finished goroutine's coroutine and stack.
    pub(crate) fn free_task(&self, t: &crate::task::Task) {
        // SAFETY: `t` finished on this thread; nobody else touches its
        // coroutine any more.
        let coro = unsafe { t.with_coro(|c| c.take()) };
        if let Some(c) = coro {
            self.stacks.put(c.into_stack());
        }
        let live = self.live.fetch_sub(1, Relaxed) - 1;
        if live <= self.compact_mark.load(Relaxed) {
            self.compact_registries(live);
        }
        // Acquire: pairs with the registration in `block_on`, which happens
        // before the main goroutine is queued, and so before it can finish.
        if self.retire_waiters.load(Acquire) != 0 {
            self.note_retired(t.id);
        }
    }

    /// Drops the entries of finished goroutines from every P's registry, once
    /// `live` has fallen to the mark: after a burst of goroutines ends, their
    /// entries (each keeping its goroutine's allocation) go instead of
    /// waiting for new goroutines to sweep them. The mark halves each time
    /// and doubles as `live` grows, so each compaction scans about as many
    /// entries as goroutines finished since the last one.
    #[cold]
    fn compact_registries(&self, live: usize) {
        self.compact_mark.store(live / 2, Relaxed);
        for p in self.procs.iter() {
            p.registry.lock().compact();
        }
    }

    /// Tells a `block_on` waiting for goroutine `id` to be retired that it is.
    #[cold]
    fn note_retired(&self, id: u64) {
        let mut s = self.sched.lock();
        if let Some(e) = s.retire_waits.iter_mut().find(|e| e.0 == id) {
            e.2 = true;
            e.1.unpark();
        }
    }

    /// Creates a goroutine (not yet queued) running `body` on a pooled stack.
    pub(crate) fn new_task<F>(
        self: &Arc<Self>,
        site: &'static std::panic::Location<'static>,
        func: &'static str,
        body: F,
    ) -> std::io::Result<TaskRef>
    where
        F: FnOnce(crate::coro::Resume) + Send + 'static,
    {
        let id = self.next_goid.fetch_add(1, Relaxed);
        let parent = context::Running::get()
            .filter(|r| r.g().serial == self.serial)
            .map_or(0, |r| r.g().id);
        let mut stack = self.stacks.get()?;
        stack.set_owner(id);
        let stack_low = stack.limit_addr() + stack.guard_bytes();
        let t = TaskRef::new(crate::task::Task::new(
            id,
            site,
            func,
            self.clone(),
            self.serial,
            parent,
            stack_low,
        ));
        let addr = TaskRef::as_ptr(&t) as usize;
        let set_yielder = move |y| {
            // SAFETY: the task owns this coroutine, so it is alive whenever
            // the coroutine runs; only the task itself writes its yielder.
            unsafe { (*(addr as *const crate::task::Task)).set_yielder(y) }
        };
        let coro = crate::coro::Coro::new(stack, set_yielder, body);
        // SAFETY: the task is new; nobody else can see it yet.
        unsafe { t.set_coro(coro) };
        // SeqCst: the Dekker pair with sysmon's disarm-then-read of `live`.
        let live = self.live.fetch_add(1, SeqCst) + 1;
        if live > self.procs.len() && self.release_after.is_some() {
            // Sysmon may sleep for good: it watches for long-parked
            // goroutines from now on. Once its wait ends at a look this is
            // one load, so spawning in a loop never wakes it per goroutine.
            self.sysmon.watch_release();
        }
        if live / 4 > self.compact_mark.load(Relaxed) && live >= Self::COMPACT_MIN {
            self.compact_mark.store(live / 2, Relaxed);
        }
        Ok(t)
    }

    /// Whether `t` belongs to this runtime.
    #[inline(always)]
    pub(crate) fn owns(&self, t: &crate::task::Task) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&t.home), self as *const Shared)
    }
}

/// Starts a goroutine running `body` next on the calling M's P and returns
/// its ID: what `gort::go` and `gort::future::spawn` build on (`api` names
/// the public function for the panic messages).
///
/// # Panics
/// Outside a gort runtime, or when no goroutine stack can be allocated.
pub(crate) fn spawn_here<B>(
    api: &str,
    site: &'static std::panic::Location<'static>,
    func: &'static str,
    body: B,
) -> u64
where
    B: FnOnce(crate::coro::Resume) + Send + 'static,
{
    let w = context::current_worker();
    if w.is_null() {
        panic!(
            "{api} called outside a gort runtime: start one with gort::run or Runtime::block_on"
        );
    }
    // SAFETY: a non-null current worker is alive while its thread runs its
    // loop, and this call does not suspend before its last use of `w`.
    let w = unsafe { &*w };
    let t = match w.shared.new_task(site, func, body) {
        Ok(t) => t,
        Err(e) => panic!("{api}: cannot allocate a goroutine stack: {e}"),
    };
    let id = t.id;
    crate::hooks::go_create(w, &t, false);
    w.spawn(t);
    id
}

impl crate::task::Home for Shared {
    fn ready_from_outside(self: Arc<Self>, t: TaskRef) {
        self.push_global(std::iter::once(t));
    }

    fn reclaim(&self, stack: crate::coro::PooledStack) {
        self.stacks.put(stack);
        self.live.fetch_sub(1, Relaxed);
    }
}
