//! A simulated runtime: worker threads (Ms) with Ps and goroutines moving
//! through a shared run queue, a "sysmon" thread stealing Ps from syscalls,
//! and a controller that stops the world to start and stop tracing.
//!
//! Scheduling state lives under one mutex; every state change happens under
//! a tracer locker together with its event, as the tracer requires. User
//! annotations are written without the mutex, so Ms write concurrently.
//! The world is stopped with a `RwLock`: workers hold it shared for each step,
//! the controller exclusively.
// Test harness state, not modelled: std locks are fine here.
#![allow(clippy::disallowed_types)]

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use gort_tracer::wire::{EventType, GoStatus, ProcStatus};
use gort_tracer::{acquire, Config, Frame, GoTrace, ProcTrace, Stats, StatusSource, ThreadTrace};

static F_MAIN: &str = "main.main";
static F_WORK: &str = "sim.work";
static F_CORO: &str = "sim.coro";
static FILE: &str = "/sim/sim.rs";

pub static STACK_A: [Frame; 2] = [
    Frame {
        pc: 0x1010,
        func: F_WORK,
        file: FILE,
        line: 10,
    },
    Frame {
        pc: 0x1000,
        func: F_MAIN,
        file: FILE,
        line: 5,
    },
];
pub static STACK_B: [Frame; 1] = [Frame {
    pc: 0x2020,
    func: F_CORO,
    file: FILE,
    line: 20,
}];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GState {
    Runnable,
    Running(u64),
    Waiting,
    Syscall(u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PState {
    Idle,
    Running(u64),
    Syscall(u64),
}

#[derive(Debug, Default)]
struct GRec {
    trace: GoTrace,
}

struct Sched {
    gs: HashMap<u64, (Arc<GRec>, GState)>,
    runq: VecDeque<u64>,
    waiting: Vec<u64>,
    idle_ps: Vec<usize>,
    pstate: Vec<PState>,
    next_g: u64,
}

/// Counts of events the simulation wrote while tracing was on.
pub struct Counts([AtomicU64; 256]);

impl Counts {
    fn new() -> Counts {
        Counts(std::array::from_fn(|_| AtomicU64::new(0)))
    }
    fn add(&self, t: EventType) {
        self.0[t as usize].fetch_add(1, Relaxed);
    }
    pub fn get(&self, t: EventType) -> u64 {
        self.0[t as usize].load(Relaxed)
    }
    fn reset(&self) {
        self.0.iter().for_each(|c| c.store(0, Relaxed));
    }
    fn snapshot(&self) -> Counts {
        let c = Counts::new();
        for (a, b) in c.0.iter().zip(self.0.iter()) {
            a.store(b.load(Relaxed), Relaxed);
        }
        c
    }
}

pub struct World {
    sched: Mutex<Sched>,
    ps: Vec<ProcTrace>,
    stw: RwLock<()>,
    stop: AtomicBool,
    counts: Counts,
    next_task: AtomicU64,
}

/// The controller's M, P 0 and goroutine 1.
const CTRL_M: u64 = 1;
const MAIN_G: u64 = 1;

struct Source(Arc<World>);

impl StatusSource for Source {
    fn for_each_goroutine(&self, f: &mut dyn FnMut(u64, &GoTrace, GoStatus, Option<u64>)) {
        let s = self.0.sched.lock().unwrap();
        for (&id, (g, st)) in &s.gs {
            let (st, m) = match *st {
                GState::Runnable => (GoStatus::Runnable, None),
                GState::Waiting => (GoStatus::Waiting, None),
                GState::Running(m) => (GoStatus::Running, Some(m)),
                GState::Syscall(m) => (GoStatus::Syscall, Some(m)),
            };
            f(id, &g.trace, st, m);
        }
    }

    fn for_each_proc(&self, f: &mut dyn FnMut(u64, &ProcTrace, ProcStatus, Option<u64>)) {
        let s = self.0.sched.lock().unwrap();
        for (i, st) in s.pstate.iter().enumerate() {
            let (st, m) = match *st {
                PState::Idle => (ProcStatus::Idle, None),
                PState::Running(m) => (ProcStatus::Running, Some(m)),
                PState::Syscall(m) => (ProcStatus::Syscall, Some(m)),
            };
            f(i as u64, &self.0.ps[i], st, m);
        }
    }
}

/// xorshift64*.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A running simulation.
pub struct Sim {
    pub world: Arc<World>,
    ctrl: Arc<ThreadTrace>,
    threads: Vec<JoinHandle<()>>,
}

/// One finished session.
pub struct Session {
    pub stats: Result<Stats, gort_tracer::TraceError>,
    pub counts: Counts,
}

impl Sim {
    /// Starts `workers` Ms (with `workers` Ps plus the controller's P 0) and a
    /// sysmon thread; `initial_gs` goroutines start runnable.
    pub fn new(workers: usize, initial_gs: u64) -> Sim {
        let nprocs = workers + 1;
        let mut pstate = vec![PState::Idle; nprocs];
        pstate[0] = PState::Running(CTRL_M);
        let mut gs = HashMap::new();
        gs.insert(MAIN_G, (Arc::new(GRec::default()), GState::Running(CTRL_M)));
        let mut runq = VecDeque::new();
        for id in 2..2 + initial_gs {
            gs.insert(id, (Arc::new(GRec::default()), GState::Runnable));
            runq.push_back(id);
        }
        let world = Arc::new(World {
            sched: Mutex::new(Sched {
                gs,
                runq,
                waiting: Vec::new(),
                idle_ps: (1..nprocs).collect(),
                pstate,
                next_g: 2 + initial_gs,
            }),
            ps: (0..nprocs).map(|_| ProcTrace::default()).collect(),
            stw: RwLock::new(()),
            stop: AtomicBool::new(false),
            counts: Counts::new(),
            next_task: AtomicU64::new(1),
        });
        let mut threads = Vec::new();
        for i in 0..workers {
            let w = world.clone();
            threads.push(thread::spawn(move || {
                worker(&w, 100 + i as u64, 0x9e37_79b9 + i as u64 * 7919)
            }));
        }
        let w = world.clone();
        threads.push(thread::spawn(move || sysmon(&w, 99)));
        Sim {
            world,
            ctrl: ThreadTrace::register(CTRL_M),
            threads,
        }
    }

    /// One session: start tracing into `path`, let the world run for `len`,
    /// stop; `cfg` as given.
    pub fn session(&self, path: &Path, cfg: Config, len: Duration) -> Session {
        let f = BufWriter::new(File::create(path).expect("create trace file"));
        self.session_to(Box::new(f), cfg, len)
    }

    /// As [`session`](Self::session) with any writer.
    pub fn session_to(&self, w: Box<dyn Write + Send>, cfg: Config, len: Duration) -> Session {
        let world = &self.world;
        let guard = world.stw.write().unwrap();
        world.counts.reset();
        let src: Arc<dyn StatusSource> = Arc::new(Source(world.clone()));
        // SAFETY: every worker and sysmon step runs under `stw` (shared), which
        // we hold exclusively; they re-take it after we release it.
        unsafe { gort_tracer::start(w, cfg, Some(src)) }.expect("start");
        {
            let s = world.sched.lock().unwrap();
            let main = s.gs[&MAIN_G].0.clone();
            let mut l = acquire(&self.ctrl).expect("tracing is on");
            let stack = l.stack(&STACK_A);
            let mut ew = l.writer(
                Some((0, &world.ps[0], ProcStatus::Running)),
                Some((MAIN_G, &main.trace, GoStatus::Running)),
            );
            ew.procs_change(world.ps.len() as u64, stack)
                .stw_begin("start trace", stack);
            for &p in &s.idle_ps {
                ew.proc_status(p as u64, &world.ps[p], ProcStatus::Idle);
            }
            ew.stw_end();
            world.counts.add(EventType::STWBegin);
            world.counts.add(EventType::STWEnd);
        }
        drop(guard);
        let end = std::time::Instant::now() + len;
        let mut i = 0u64;
        while std::time::Instant::now() < end {
            // The controller's goroutine logs now and then.
            {
                let _r = world.stw.read().unwrap();
                let main = world.sched.lock().unwrap().gs[&MAIN_G].0.clone();
                if let Some(mut l) = acquire(&self.ctrl) {
                    l.writer(
                        Some((0, &world.ps[0], ProcStatus::Running)),
                        Some((MAIN_G, &main.trace, GoStatus::Running)),
                    )
                    .user_log(0, "ctrl", "tick", 0);
                    world.counts.add(EventType::UserLog);
                }
            }
            i += 1;
            thread::sleep(Duration::from_millis(2 + i % 3));
        }
        // One cut at a known point, as well as the timer's: every session
        // spans at least two generations, however late the timer thread ran
        // on a loaded machine.
        gort_tracer::advance_now();
        let guard = world.stw.write().unwrap();
        // SAFETY: as for start.
        unsafe { gort_tracer::begin_stop() };
        let counts = world.counts.snapshot();
        drop(guard);
        let stats = gort_tracer::finish_stop();
        Session { stats, counts }
    }

    /// Stops every thread.
    pub fn shutdown(mut self) {
        self.stop_threads();
    }

    fn stop_threads(&mut self) {
        self.world.stop.store(true, Relaxed);
        for t in self.threads.drain(..) {
            t.join().expect("sim thread");
        }
        self.ctrl.retire();
    }
}

impl Drop for Sim {
    /// Stops the threads even when a test fails midway, so a later test does
    /// not share the process with a running simulation.
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.world.stop.store(true, Relaxed);
            for t in self.threads.drain(..) {
                let _ = t.join();
            }
            self.ctrl.retire();
        }
    }
}

fn sysmon(w: &World, m: u64) {
    let t = ThreadTrace::register(m);
    while !w.stop.load(Relaxed) {
        {
            let _r = w.stw.read().unwrap();
            let mut s = w.sched.lock().unwrap();
            let victim = s.pstate.iter().enumerate().find_map(|(i, st)| match *st {
                PState::Syscall(vm) => Some((i, vm)),
                _ => None,
            });
            if let Some((p, vm)) = victim {
                if let Some(mut l) = acquire(&t) {
                    l.writer(None, None).proc_steal(p as u64, &w.ps[p], vm);
                    w.counts.add(EventType::ProcSteal);
                }
                s.pstate[p] = PState::Idle;
                s.idle_ps.push(p);
            }
        }
        thread::sleep(Duration::from_micros(300));
    }
    t.retire();
}

/// Runs `f` with a locker if tracing is on, counting `ty` once per event it
/// reports written.
fn traced(t: &ThreadTrace, f: impl FnOnce(&mut gort_tracer::Locker<'_>)) {
    if let Some(mut l) = acquire(t) {
        f(&mut l);
    }
}

fn worker(w: &World, m: u64, seed: u64) {
    let t = ThreadTrace::register(m);
    let mut rng = Rng(seed | 1);
    let mut my_p: Option<usize> = None;
    let mut my_g: Option<(u64, Arc<GRec>)> = None;
    let c = &w.counts;
    while !w.stop.load(Relaxed) {
        let r = w.stw.read().unwrap();
        let Some(p) = my_p else {
            let mut s = w.sched.lock().unwrap();
            if let Some(p) = s.idle_ps.pop() {
                traced(&t, |l| {
                    l.writer(None, None).proc_start(p as u64, &w.ps[p]);
                    c.add(EventType::ProcStart);
                });
                s.pstate[p] = PState::Running(m);
                my_p = Some(p);
            }
            drop(s);
            drop(r);
            thread::yield_now();
            continue;
        };
        let pctx = Some((p as u64, &w.ps[p], ProcStatus::Running));
        let Some((g, gr)) = my_g.clone() else {
            let mut s = w.sched.lock().unwrap();
            if let Some(g) = s.runq.pop_front() {
                let gr = s.gs[&g].0.clone();
                traced(&t, |l| {
                    l.writer(pctx, None).go_start(g, &gr.trace);
                    c.add(EventType::GoStart);
                });
                s.gs.get_mut(&g).unwrap().1 = GState::Running(m);
                my_g = Some((g, gr));
            } else if s.gs.len() < 40 && rng.below(2) == 0 {
                let id = s.next_g;
                s.next_g += 1;
                let gr = Arc::new(GRec::default());
                traced(&t, |l| {
                    let st = l.stack(&STACK_B);
                    l.writer(pctx, None).go_create(id, &gr.trace, st, 0);
                    c.add(EventType::GoCreate);
                });
                s.gs.insert(id, (gr, GState::Runnable));
                s.runq.push_back(id);
            } else {
                traced(&t, |l| {
                    l.writer(pctx, None).proc_stop();
                    c.add(EventType::ProcStop);
                });
                s.pstate[p] = PState::Idle;
                s.idle_ps.push(p);
                my_p = None;
            }
            continue;
        };
        let gctx = Some((g, &gr.trace, GoStatus::Running));
        match rng.below(10) {
            0 => {
                let mut s = w.sched.lock().unwrap();
                if s.gs.len() < 40 {
                    let id = s.next_g;
                    s.next_g += 1;
                    let nr = Arc::new(GRec::default());
                    traced(&t, |l| {
                        let (ns, st) = (l.stack(&STACK_B), l.stack(&STACK_A));
                        l.writer(pctx, gctx).go_create(id, &nr.trace, ns, st);
                        c.add(EventType::GoCreate);
                    });
                    s.gs.insert(id, (nr, GState::Runnable));
                    s.runq.push_back(id);
                }
            }
            1 => {
                let mut s = w.sched.lock().unwrap();
                traced(&t, |l| {
                    let st = l.stack(&STACK_A);
                    l.writer(pctx, gctx).go_stop("runtime.Gosched", st);
                    c.add(EventType::GoStop);
                });
                s.gs.get_mut(&g).unwrap().1 = GState::Runnable;
                s.runq.push_back(g);
                my_g = None;
            }
            2 => {
                let mut s = w.sched.lock().unwrap();
                traced(&t, |l| {
                    let st = l.stack(&STACK_A);
                    l.writer(pctx, gctx).go_block("sync", st);
                    c.add(EventType::GoBlock);
                });
                s.gs.get_mut(&g).unwrap().1 = GState::Waiting;
                s.waiting.push(g);
                my_g = None;
            }
            3 => {
                let mut s = w.sched.lock().unwrap();
                if !s.waiting.is_empty() {
                    let i = rng.below(s.waiting.len() as u64) as usize;
                    let x = s.waiting.swap_remove(i);
                    let xr = s.gs[&x].0.clone();
                    traced(&t, |l| {
                        l.writer(pctx, gctx).go_unblock(x, &xr.trace, 0);
                        c.add(EventType::GoUnblock);
                    });
                    s.gs.get_mut(&x).unwrap().1 = GState::Runnable;
                    s.runq.push_back(x);
                }
            }
            4 => {
                let mut s = w.sched.lock().unwrap();
                if s.gs.len() > 8 {
                    traced(&t, |l| {
                        l.writer(pctx, gctx).go_destroy();
                        c.add(EventType::GoDestroy);
                    });
                    s.gs.remove(&g);
                    my_g = None;
                }
            }
            5 => {
                // A syscall: the P may be stolen meanwhile.
                {
                    let mut s = w.sched.lock().unwrap();
                    traced(&t, |l| {
                        let st = l.stack(&STACK_A);
                        l.writer(pctx, gctx)
                            .go_syscall_begin(p as u64, &w.ps[p], st);
                        c.add(EventType::GoSyscallBegin);
                    });
                    s.pstate[p] = PState::Syscall(m);
                    s.gs.get_mut(&g).unwrap().1 = GState::Syscall(m);
                }
                drop(r);
                thread::sleep(Duration::from_micros(rng.below(800)));
                let _r = w.stw.read().unwrap();
                let mut s = w.sched.lock().unwrap();
                let gsys = Some((g, &gr.trace, GoStatus::Syscall));
                if s.pstate[p] == PState::Syscall(m) {
                    traced(&t, |l| {
                        l.writer(Some((p as u64, &w.ps[p], ProcStatus::Syscall)), gsys)
                            .go_syscall_end();
                        c.add(EventType::GoSyscallEnd);
                    });
                    s.pstate[p] = PState::Running(m);
                    s.gs.get_mut(&g).unwrap().1 = GState::Running(m);
                } else {
                    traced(&t, |l| {
                        l.writer(None, gsys).go_syscall_end_blocked();
                        c.add(EventType::GoSyscallEndBlocked);
                    });
                    s.gs.get_mut(&g).unwrap().1 = GState::Runnable;
                    s.runq.push_back(g);
                    my_g = None;
                    my_p = None;
                }
                continue;
            }
            6 => {
                // A coroutine (iter.Pull style): create blocked, switch back
                // and forth, then it exits back to us. Each switch is its own
                // step, so generations and stops can fall in between.
                let cid;
                let cr = Arc::new(GRec::default());
                {
                    let mut s = w.sched.lock().unwrap();
                    cid = s.next_g;
                    s.next_g += 1;
                    traced(&t, |l| {
                        let (ns, st) = (l.stack(&STACK_B), l.stack(&STACK_A));
                        l.writer(pctx, gctx)
                            .go_create_blocked(cid, &cr.trace, ns, st);
                        c.add(EventType::GoCreateBlocked);
                    });
                    s.gs.insert(cid, (cr.clone(), GState::Waiting));
                }
                drop(r);
                let rounds = 1 + rng.below(4);
                for round in 0..=rounds {
                    // g -> c
                    let _r = w.stw.read().unwrap();
                    let mut s = w.sched.lock().unwrap();
                    traced(&t, |l| {
                        l.writer(pctx, gctx).go_switch(cid, &cr.trace);
                        c.add(EventType::GoSwitch);
                    });
                    s.gs.get_mut(&g).unwrap().1 = GState::Waiting;
                    s.gs.get_mut(&cid).unwrap().1 = GState::Running(m);
                    drop(s);
                    // c -> g (or c exits)
                    let mut s = w.sched.lock().unwrap();
                    let cctx = Some((cid, &cr.trace, GoStatus::Running));
                    if round == rounds {
                        traced(&t, |l| {
                            l.writer(pctx, cctx).go_switch_destroy(g, &gr.trace);
                            c.add(EventType::GoSwitchDestroy);
                        });
                        s.gs.remove(&cid);
                    } else {
                        traced(&t, |l| {
                            l.writer(pctx, cctx).user_log(0, "coro", "yield", 0);
                            l.writer(pctx, cctx).go_switch(g, &gr.trace);
                            c.add(EventType::UserLog);
                            c.add(EventType::GoSwitch);
                        });
                        s.gs.get_mut(&cid).unwrap().1 = GState::Waiting;
                    }
                    s.gs.get_mut(&g).unwrap().1 = GState::Running(m);
                }
                continue;
            }
            7 | 8 => {
                // Annotations, without the scheduler lock.
                let task = w.next_task.fetch_add(1, Relaxed);
                traced(&t, |l| {
                    let st = l.stack(&STACK_A);
                    let mut ew = l.writer(pctx, gctx);
                    ew.user_task_begin(task, 0, "job", st)
                        .user_region_begin(task, "phase", st)
                        .user_log(task, "key", "value", 0)
                        .user_region_end(task, "phase", st)
                        .user_task_end(task, st);
                    if task % 16 == 0 {
                        ew.go_label("worker");
                        c.add(EventType::GoLabel);
                    }
                    c.add(EventType::UserTaskBegin);
                    c.add(EventType::UserRegionBegin);
                    c.add(EventType::UserLog);
                    c.add(EventType::UserRegionEnd);
                    c.add(EventType::UserTaskEnd);
                });
            }
            _ => {
                traced(&t, |l| {
                    l.writer(pctx, gctx).stw_begin("GC", 0).stw_end();
                    c.add(EventType::STWBegin);
                    c.add(EventType::STWEnd);
                });
            }
        }
        drop(r);
        if rng.below(8) == 0 {
            thread::sleep(Duration::from_micros(50));
        }
    }
    t.retire();
}
