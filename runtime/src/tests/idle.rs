//! Model 5b: waking an idle M (`Shared::wakep` against `Worker::go_idle`).
//!
//! The scheduler's `Shared` and `Worker` need real threads, stacks and the
//! tracer, so this model is a faithful extraction of the protocol: the same
//! steps, counters and orderings as `sched/mod.rs` (`wakep`, `wakep_slow`,
//! `wake_idle_locked`, `start_m_locked`) and `sched/worker.rs`
//! (`find_runnable`'s steal with its spinning bound, `found`, the idle
//! spin, `go_idle`, `idle_wait`, `take_handoff`), over the real run queue
//! (`sched::queue`) with plain numbers for goroutines, and loom's
//! `thread::park`/`unpark` standing in for crossbeam's `Parker`.
//!
//! Two Ps. M1 (the model's main thread) holds P0 and runs a goroutine that
//! makes another one runnable: it pushes it to P0's queue and calls `wakep`,
//! then keeps computing (it never returns to its queue). M2 holds P1, finds
//! nothing, spins (still holding P1 and counted in `nspinning`, so `wakep`
//! may skip the wake-up), looks once more, and goes idle. The runtime's
//! spin repeats its look for a bounded time; one look stands for them all,
//! since loom's interleavings already place M1's push before, between or
//! after any of M2's steps. No lost wake-up means M2 ends up running the
//! goroutine: either its re-check after announcing the idle P sees it, or
//! `wakep` sees the idle P and hands it to M2. Once M1 is done the model
//! ends the observation as the runtime's shutdown does (a flag, then an
//! unpark, checked by `idle_wait` after the hand-off slot): an M2 still
//! parked without a P then is a lost wake-up. (Leaving M2 parked for loom's
//! deadlock detector instead aborts the test process while loom unwinds.)
//!
//! The handshake is a store-buffering (Dekker) pair: M1 publishes the queue
//! slot then reads `npidle`/`nspinning`; M2 publishes `npidle`/`nspinning`
//! then reads the queues. Neither the queue's release/acquire nor
//! `SeqCst` accesses on only the counters forbid both reads seeing the old
//! values; a `SeqCst` fence between the publish and the read on each side
//! does, and that is the variant that passes ([`FENCED`]).

use super::{check, check_rejects};
use crate::sched::queue::{local, Local, Steal, Stolen};
use loom::cell::UnsafeCell;
use loom::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering::*};
use loom::sync::{Arc, Mutex};

/// The protocol with a `SeqCst` fence after each side's publish.
const FENCED: u8 = 0;
/// The orderings of the runtime as written: `SeqCst` accesses to
/// `npidle`/`nspinning`, release/acquire on the queue, no fence.
const SEQCST_ACCESSES_ONLY: u8 = 1;
/// [`FENCED`] with one step removed: `go_idle` does not re-check the queues
/// after announcing its idle P.
const NO_RECHECK: u8 = 2;
/// [`FENCED`] without the fence in `go_idle`: `wakep`'s fence alone does
/// not order M2's publish before its re-check.
const FENCE_IN_WAKEP_ONLY: u8 = 3;
/// [`FENCED`] except that a spinning M whose spin found nothing sleeps
/// still holding its P (and its `nspinning` count) instead of giving the P
/// back through `go_idle`: `wakep` then sees no idle P and wakes nobody.
const SPIN_SLEEPS_WITH_P: u8 = 4;

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
    idle_procs: Vec<usize>,
    idle_workers: Vec<usize>,
    nidle: usize,
}

struct Proc {
    steal: Steal<u32>,
    /// Owner-only: reached by the M holding the P.
    local: UnsafeCell<Local<u32>>,
}

struct Shared {
    procs: Vec<Proc>,
    sched: Mutex<Sched>,
    npidle: AtomicUsize,
    nspinning: AtomicUsize,
    global_len: AtomicUsize,
    /// Per M: the P handed to it while it sleeps.
    handoff: Vec<Mutex<Option<Handoff>>>,
    /// M2's thread, for `unpark`.
    m2: Mutex<Option<loom::thread::Thread>>,
    /// M1 is done: an M still parked without a P is stranded
    /// (`shutting_down`, as `idle_wait` checks it).
    ended: AtomicBool,
}

impl Proc {
    fn has_work_hint(&self) -> bool {
        !self.steal.is_empty()
    }

    /// # Safety
    /// The caller's M holds this P.
    fn with_local<R>(&self, f: impl FnOnce(&mut Local<u32>) -> R) -> R {
        // SAFETY: P ownership moves between Ms through the sched lock and
        // the hand-off lock; loom checks that claim.
        self.local.with_mut(|p| f(unsafe { &mut *p }))
    }
}

impl Shared {
    fn wakep<const V: u8>(&self) {
        if V != SEQCST_ACCESSES_ONLY {
            fence(SeqCst);
        }
        if self.npidle.load(SeqCst) == 0 || self.nspinning.load(SeqCst) != 0 {
            return;
        }
        let mut s = self.sched.lock().unwrap();
        if self.nspinning.load(SeqCst) != 0 {
            return;
        }
        self.wake_idle_locked(&mut s);
    }

    fn wake_idle_locked(&self, s: &mut Sched) {
        if let Some(p) = s.idle_procs.pop() {
            self.npidle.fetch_sub(1, SeqCst);
            self.nspinning.fetch_add(1, SeqCst);
            let Some(w) = s.idle_workers.pop() else {
                panic!("an idle P without an idle M: go_idle registers both at once");
            };
            s.nidle -= 1;
            *self.handoff[w].lock().unwrap() = Some(Handoff { p, spinning: true });
            let m = self.m2.lock().unwrap().clone().expect("M2 registered");
            assert_eq!(w, M2);
            m.unpark();
        }
    }
}

/// M2's per-thread state (`Worker`'s cells).
struct Worker<'a> {
    shared: &'a Shared,
    id: usize,
    p: Option<usize>,
    spinning: bool,
}

impl Worker<'_> {
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
            self.shared.nspinning.fetch_sub(1, SeqCst);
        }
        g
    }

    fn steal(&mut self) -> Option<u32> {
        let me = self.p?;
        if !self.spinning {
            let spinning = self.shared.nspinning.load(Relaxed);
            let busy = NPROCS - self.shared.npidle.load(Relaxed);
            if 2 * spinning >= busy {
                return None;
            }
            self.spinning = true;
            self.shared.nspinning.fetch_add(1, SeqCst);
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

    fn go_idle<const V: u8>(&mut self) {
        let Some(pid) = self.p else { return };
        {
            let s = self.shared.sched.lock().unwrap();
            if !s.global.is_empty() {
                return;
            }
        }
        let mut s = self.shared.sched.lock().unwrap();
        self.p = None;
        s.idle_procs.push(pid);
        self.shared.npidle.fetch_add(1, SeqCst);
        if self.spinning {
            self.spinning = false;
            self.shared.nspinning.fetch_sub(1, SeqCst);
        }
        s.nidle += 1;
        s.idle_workers.push(self.id);
        drop(s);
        if V != SEQCST_ACCESSES_ONLY && V != FENCE_IN_WAKEP_ONLY {
            fence(SeqCst);
        }
        let work = V != NO_RECHECK
            && (self.shared.procs.iter().any(Proc::has_work_hint)
                || self.shared.global_len.load(SeqCst) > 0);
        if work {
            let mut s = self.shared.sched.lock().unwrap();
            if let Some(pos) = s.idle_workers.iter().position(|&w| w == self.id) {
                if let Some(p) = s.idle_procs.pop() {
                    s.idle_workers.swap_remove(pos);
                    s.nidle -= 1;
                    self.shared.npidle.fetch_sub(1, SeqCst);
                    self.shared.nspinning.fetch_add(1, SeqCst);
                    drop(s);
                    self.p = Some(p);
                    self.spinning = true;
                    return;
                }
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
    fn find_runnable<const V: u8>(&mut self) -> Option<u32> {
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
            if V == SPIN_SLEEPS_WITH_P {
                self.idle_wait();
                if self.shared.ended.load(Acquire) {
                    return None;
                }
                continue;
            }
            self.go_idle::<V>();
        }
        panic!("M2 went idle three times with one goroutine to run");
    }
}

fn model<const V: u8>() {
    let procs = (0..NPROCS)
        .map(|_| {
            let (q, steal) = local::<u32>();
            Proc {
                steal,
                local: UnsafeCell::new(q),
            }
        })
        .collect();
    let shared = Arc::new(Shared {
        procs,
        sched: Mutex::new(Sched::default()),
        npidle: AtomicUsize::new(0),
        nspinning: AtomicUsize::new(0),
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
            w.find_runnable::<V>()
        })
    };
    *shared.m2.lock().unwrap() = Some(m2.thread().clone());
    // M1 holds P0: its goroutine readies goroutine 7 (`Worker::ready` when
    // `runnext` is taken: the queue, then `wakep`), and computes on.
    shared.procs[0].with_local(|l| l.push_back(7, &mut |_| unreachable!("room for one")));
    shared.wakep::<V>();
    // The end of the observation: wake M2 as shutdown does.
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
    check("idle_m_wakep_vs_go_idle", model::<FENCED>);
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_idle_m_twin_no_recheck_is_rejected() {
    check_rejects(
        "idle_m_twin_no_recheck",
        &["lost wake-up"],
        model::<NO_RECHECK>,
    );
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_idle_m_seqcst_accesses_without_fences_are_rejected() {
    check_rejects(
        "idle_m_seqcst_accesses_without_fences",
        &["lost wake-up"],
        model::<SEQCST_ACCESSES_ONLY>,
    );
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_idle_m_fence_in_wakep_only_is_rejected() {
    check_rejects(
        "idle_m_fence_in_wakep_only",
        &["lost wake-up"],
        model::<FENCE_IN_WAKEP_ONLY>,
    );
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_idle_m_twin_spin_sleeps_with_p_is_rejected() {
    check_rejects(
        "idle_m_twin_spin_sleeps_with_p",
        &["lost wake-up"],
        model::<SPIN_SLEEPS_WITH_P>,
    );
}
