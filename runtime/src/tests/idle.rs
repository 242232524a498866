//! Model 5b: waking an idle M (`Shared::wakep` against `Worker::go_idle`).
//!
//! The accounting and the handshake are the real `sched::idle` (`Counts`,
//! `Lists`), over the real run queue (`sched::queue`) with plain numbers
//! for goroutines. The scheduler around them (`Shared`, `Worker`) needs
//! real threads, stacks and the tracer, so the model gives the two Ms the
//! skeleton of their code: `wakep` with its slow path, and M2's
//! `find_runnable` (its own queue, a steal under the spinning bound, the
//! idle spin, `go_idle`, the wait for a hand-off), with loom's
//! `thread::park`/`unpark` standing in for crossbeam's `Parker`.
//!
//! Two Ps. M1 (the model's main thread) holds P0 and runs a goroutine that
//! makes another one runnable: it pushes it to P0's queue and calls `wakep`,
//! then keeps computing (it never returns to its queue). M2 holds P1, finds
//! nothing, spins (still holding P1 and counted as spinning, so `wakep` may
//! skip the wake-up), looks once more, and goes idle. The runtime's spin
//! repeats its look for a bounded time; one look stands for them all, since
//! loom's interleavings already place M1's push before, between or after
//! any of M2's steps. No lost wake-up means M2 ends up running the
//! goroutine: either its re-check after announcing the idle P sees it, or
//! `wakep` sees the idle P and hands it to M2. Once M1 is done the model
//! ends the observation as the runtime's shutdown does (a flag, then an
//! unpark, checked by the wait after the hand-off slot): an M2 still parked
//! without a P then is a lost wake-up. (Leaving M2 parked for loom's
//! deadlock detector instead aborts the test process while loom unwinds.)
//!
//! The twins replace one step of `sched::idle` each ([`IdleSteps`]): no
//! fences at all (the orderings of the counters alone), no fence on the idle
//! side, no re-check; and one the scheduler's: a spinning M that sleeps
//! still holding its P.
//!
//! Model 5c (`found_model`): a spinning M that finds a goroutine nobody
//! queued (one the network poll made ready) stops spinning and wakes an M
//! only if its re-check sees queued work (`Worker::found_slow`). Three Ps:
//! M1 holds P0 and readies goroutine 7 there, then computes on; the finder
//! holds P2, counted as spinning, so M1's `wakep` may skip the wake-up; P1
//! is idle with M2 asleep waiting for it. No lost wake-up means M2 is
//! handed P1 and steals 7: either M1's `wakep` saw no spinning M, or the
//! finder's re-check saw 7. Twins: no re-check (the finder stops spinning
//! and wakes nobody), and no fences.

use super::{check, check_rejects};
use crate::sched::idle::{Counts, Faithful, IdleSteps, Lists};
use crate::sched::queue::{local, Local, Steal, Stolen};
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use loom::sync::{Arc, Mutex};

/// Twin: `SeqCst` accesses to the counters, release/acquire on the queue,
/// and no fence on either side.
struct NoFences;
impl IdleSteps for NoFences {
    fn wake_fence() {}
    fn recheck_fence() {}
}

/// Twin: the waker's fence alone does not order the idle M's announcement
/// before its re-check.
struct FenceInWakepOnly;
impl IdleSteps for FenceInWakepOnly {
    fn recheck_fence() {}
}

/// Twin: the idle M does not re-check the queues after announcing its P.
struct NoRecheck;
impl IdleSteps for NoRecheck {
    const RECHECK: bool = false;
}

const NPROCS: usize = 2;
const M2: usize = 1;

/// What an idle M is handed (`Handoff`).
#[derive(Debug)]
struct Handoff {
    p: usize,
    spinning: bool,
}

/// State under the scheduler lock (`Sched`).
#[derive(Debug, Default)]
struct Sched {
    global: Vec<u32>,
    idle: Lists<usize>,
}

struct Proc {
    steal: Steal<u32>,
    /// Owner-only: reached by the M holding the P.
    local: UnsafeCell<Local<u32>>,
}

struct Shared<S: IdleSteps> {
    procs: Vec<Proc>,
    sched: Mutex<Sched>,
    idle: Counts<S>,
    global_len: AtomicUsize,
    /// Per M: the P handed to it while it sleeps.
    handoff: Vec<Mutex<Option<Handoff>>>,
    /// M2's thread, for `unpark`.
    m2: Mutex<Option<loom::thread::Thread>>,
    /// M1 is done: an M still parked without a P is stranded
    /// (`shutting_down`, as the idle wait checks it).
    ended: AtomicBool,
}

impl Proc {
    fn has_work_hint(&self) -> bool {
        !self.steal.is_empty()
    }

    /// The caller's M holds this P.
    fn with_local<R>(&self, f: impl FnOnce(&mut Local<u32>) -> R) -> R {
        // SAFETY: P ownership moves between Ms through the sched lock and
        // the hand-off lock; loom checks that claim.
        self.local.with_mut(|p| f(unsafe { &mut *p }))
    }
}

impl<S: IdleSteps> Shared<S> {
    fn wakep(&self) {
        if !self.idle.wake_wanted() {
            return;
        }
        let mut s = self.sched.lock().unwrap();
        if self.idle.spinning() != 0 {
            return;
        }
        self.wake_idle_locked(&mut s);
    }

    fn wake_idle_locked(&self, s: &mut Sched) {
        if let Some(p) = s.idle.take_p_spinning(&self.idle) {
            let Some(w) = s.idle.pop_m() else {
                panic!("an idle P without an idle M: go_idle registers both at once");
            };
            *self.handoff[w].lock().unwrap() = Some(Handoff { p, spinning: true });
            let m = self.m2.lock().unwrap().clone().expect("M2 registered");
            assert_eq!(w, M2);
            m.unpark();
        }
    }
}

/// M2's per-thread state (`Worker`'s cells).
struct Worker<'a, S: IdleSteps> {
    shared: &'a Shared<S>,
    id: usize,
    p: Option<usize>,
    spinning: bool,
}

impl<S: IdleSteps> Worker<'_, S> {
    fn take_handoff(&mut self) -> bool {
        let h = self.shared.handoff[self.id].lock().unwrap().take();
        match h {
            Some(h) => {
                self.p = Some(h.p);
                self.spinning = h.spinning;
                true
            }
            None => false,
        }
    }

    fn found(&mut self, g: u32) -> u32 {
        if self.spinning {
            self.spinning = false;
            self.shared.idle.stop_spinning();
        }
        g
    }

    fn steal(&mut self) -> Option<u32> {
        let me = self.p?;
        if !self.spinning {
            if !self.shared.idle.try_start_spinning(NPROCS) {
                return None;
            }
            self.spinning = true;
        }
        for victim in 0..NPROCS {
            if victim == me {
                continue;
            }
            let v = &self.shared.procs[victim];
            if !v.has_work_hint() {
                continue;
            }
            let got = self.shared.procs[me].with_local(|l| v.steal.steal_into(l));
            if let Stolen::Got(g) = got {
                return Some(g);
            }
        }
        None
    }

    /// `idle_spin`: a spinning M keeps its P and looks again before going
    /// idle. The runtime yields its thread between looks; that carries no
    /// synchronisation, and `loom::thread::yield_now` would instead steer
    /// loom's scheduler (it deprioritises the yielding thread and collapses
    /// the search to a handful of interleavings), so the model leaves it out.
    fn idle_spin(&mut self) -> Option<u32> {
        if !self.spinning {
            return None;
        }
        let me = self.p?;
        let work = self.shared.global_len.load(Relaxed) > 0
            || self.shared.procs.iter().any(Proc::has_work_hint);
        if !work {
            return None;
        }
        if let Some(g) = self.shared.procs[me].with_local(|l| l.pop()) {
            return Some(g);
        }
        self.steal()
    }

    /// `go_idle`: announce the idle P, re-check, reclaim or sleep.
    fn go_idle(&mut self) {
        let Some(pid) = self.p else { return };
        {
            let s = self.shared.sched.lock().unwrap();
            if !s.global.is_empty() {
                return;
            }
        }
        let mut s = self.shared.sched.lock().unwrap();
        self.p = None;
        let was_spinning = std::mem::replace(&mut self.spinning, false);
        s.idle
            .announce(&self.shared.idle, pid, self.id, was_spinning);
        drop(s);
        let work = self.shared.idle.recheck(|| {
            self.shared.procs.iter().any(Proc::has_work_hint)
                || self.shared.global_len.load(SeqCst) > 0
        });
        if work {
            let mut s = self.shared.sched.lock().unwrap();
            let me = self.id;
            if let Some(p) = s.idle.reclaim(&self.shared.idle, |&w| w == me, true) {
                drop(s);
                self.p = Some(p);
                self.spinning = true;
                return;
            }
        }
        self.idle_wait();
    }

    fn idle_wait(&mut self) {
        loop {
            if self.take_handoff() {
                return;
            }
            if self.shared.ended.load(Acquire) {
                // A hand-off made before the end is still M2's to take.
                self.take_handoff();
                return;
            }
            loom::thread::park();
        }
    }

    /// `find_runnable`, for an M whose only possible work is on P0; `None`:
    /// it was still parked without a P when the model ended.
    fn find_runnable(&mut self, spin_sleeps_with_p: bool) -> Option<u32> {
        for _round in 0..3 {
            let me = self.p?;
            if let Some(g) = self.shared.procs[me].with_local(|l| l.pop()) {
                return Some(self.found(g));
            }
            if let Some(g) = self.steal() {
                return Some(self.found(g));
            }
            if let Some(g) = self.idle_spin() {
                return Some(self.found(g));
            }
            if spin_sleeps_with_p {
                self.idle_wait();
                if self.shared.ended.load(Acquire) {
                    return None;
                }
                continue;
            }
            self.go_idle();
        }
        panic!("M2 went idle three times with one goroutine to run");
    }
}

/// The model over the handshake `S`; `spin_sleeps_with_p`: the twin whose
/// spinning M sleeps still holding its P (and its spinning count) instead of
/// giving the P back through `go_idle`, so `wakep` sees no idle P and wakes
/// nobody.
fn model<S: IdleSteps + 'static>(spin_sleeps_with_p: bool) {
    let procs = new_procs(NPROCS);
    // Both Ps are held (by M1 and M2) from the start: no idle P.
    let idle = Counts::<S>::new(0);
    let sched = Sched::default();
    let shared = Arc::new(Shared {
        procs,
        sched: Mutex::new(sched),
        idle,
        global_len: AtomicUsize::new(0),
        handoff: (0..2).map(|_| Mutex::new(None)).collect(),
        m2: Mutex::new(None),
        ended: AtomicBool::new(false),
    });
    let m2 = {
        let shared = shared.clone();
        loom::thread::spawn(move || {
            let mut w = Worker {
                shared: &shared,
                id: M2,
                p: Some(1),
                spinning: false,
            };
            w.find_runnable(spin_sleeps_with_p)
        })
    };
    *shared.m2.lock().unwrap() = Some(m2.thread().clone());
    ready_and_observe(&shared, m2, || {});
}

/// `n` Ps with empty run queues.
fn new_procs(n: usize) -> Vec<Proc> {
    (0..n)
        .map(|_| {
            let (q, steal) = local::<u32>();
            Proc {
                steal,
                local: UnsafeCell::new(q),
            }
        })
        .collect()
}

/// M1, holding P0: its goroutine readies goroutine 7 (`Worker::ready` when
/// `runnext` is taken: the queue, then `wakep`) and computes on; `before_end`
/// runs before the end of the observation, which wakes M2 as shutdown does.
/// M2 must have run goroutine 7.
fn ready_and_observe<S: IdleSteps>(
    shared: &Shared<S>,
    m2: loom::thread::JoinHandle<Option<u32>>,
    before_end: impl FnOnce(),
) {
    shared.procs[0].with_local(|l| l.push_back(7, &mut |_| unreachable!("room for one")));
    shared.wakep();
    before_end();
    shared.ended.store(true, Release);
    m2.thread().unpark();
    let ran = m2.join().unwrap();
    assert_eq!(
        ran,
        Some(7),
        "lost wake-up: M2 stayed parked while P0 had a runnable goroutine"
    );
}

#[test]
fn loom_idle_m_wakep_vs_go_idle_no_lost_wakeup() {
    check("idle_m_wakep_vs_go_idle", || model::<Faithful>(false));
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_idle_m_twin_no_recheck_is_rejected() {
    check_rejects("idle_m_twin_no_recheck", &["lost wake-up"], || {
        model::<NoRecheck>(false)
    });
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_idle_m_seqcst_accesses_without_fences_are_rejected() {
    check_rejects(
        "idle_m_seqcst_accesses_without_fences",
        &["lost wake-up"],
        || model::<NoFences>(false),
    );
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_idle_m_fence_in_wakep_only_is_rejected() {
    check_rejects("idle_m_fence_in_wakep_only", &["lost wake-up"], || {
        model::<FenceInWakepOnly>(false)
    });
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_idle_m_twin_spin_sleeps_with_p_is_rejected() {
    check_rejects("idle_m_twin_spin_sleeps_with_p", &["lost wake-up"], || {
        model::<Faithful>(true)
    });
}

/// The finder's `found_slow` (model 5c): stop spinning, re-check the queues,
/// wake an M for what it sees.
fn found_slow<S: IdleSteps>(shared: &Shared<S>) {
    shared.idle.stop_spinning();
    let work = shared.idle.recheck(|| {
        shared.global_len.load(SeqCst) > 0 || shared.procs.iter().any(Proc::has_work_hint)
    });
    if work {
        shared.wakep();
    }
}

/// Model 5c over the handshake `S` (see the module documentation).
fn found_model<S: IdleSteps + 'static>() {
    const FOUND_PROCS: usize = 3;
    let procs = new_procs(FOUND_PROCS);
    let shared = Arc::new(Shared {
        procs,
        sched: Mutex::new(Sched::default()),
        idle: Counts::<S>::new(0),
        global_len: AtomicUsize::new(0),
        handoff: (0..2).map(|_| Mutex::new(None)).collect(),
        m2: Mutex::new(None),
        ended: AtomicBool::new(false),
    });
    // P1 idle and M2 asleep waiting for a P, as `go_idle` leaves them; the
    // finder, holding P2, spinning.
    shared
        .sched
        .lock()
        .unwrap()
        .idle
        .announce(&shared.idle, 1, M2, false);
    assert!(shared.idle.try_start_spinning(FOUND_PROCS));
    let m2 = {
        let shared = shared.clone();
        loom::thread::spawn(move || {
            let mut ended = false;
            loop {
                let h = shared.handoff[M2].lock().unwrap().take();
                if let Some(h) = h {
                    let got = shared.procs[h.p].with_local(|l| shared.procs[0].steal.steal_into(l));
                    return match got {
                        Stolen::Got(g) => Some(g),
                        _ => None,
                    };
                }
                if ended {
                    return None;
                }
                // A hand-off made before the end is still M2's to take.
                ended = shared.ended.load(Acquire);
                if !ended {
                    loom::thread::park();
                }
            }
        })
    };
    *shared.m2.lock().unwrap() = Some(m2.thread().clone());
    let finder = {
        let shared = shared.clone();
        loom::thread::spawn(move || found_slow(&shared))
    };
    ready_and_observe(&shared, m2, || finder.join().unwrap());
}

#[test]
fn loom_found_work_wakes_an_m_only_for_queued_work() {
    check("found_work_recheck", found_model::<Faithful>);
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_found_work_twin_no_recheck_is_rejected() {
    check_rejects("found_work_twin_no_recheck", &["lost wake-up"], || {
        found_model::<NoRecheck>()
    });
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_found_work_twin_no_fences_is_rejected() {
    check_rejects("found_work_twin_no_fences", &["lost wake-up"], || {
        found_model::<NoFences>()
    });
}
