//! Model 1: the enabled flag, a plain (non-atomic) `bool` in a loom
//! `UnsafeCell` (`locker::ENABLED`), read by [`locker::enabled_on_m`] on
//! every hook and written by [`locker::set_flags`] / [`locker::set_enabled`]
//! only while the world is stopped; and its atomic copy, read by
//! [`locker::enabled`] on threads the world stop does not stop.
//!
//! Two Ms each hold a P and run hooks between scheduling points; the
//! coordinator (the model's main thread, holding a third P) starts tracing
//! and then stops it, each time under a stop-the-world. The stop-the-world
//! is a faithful extraction of the runtime's (`runtime/src/sched/stw.rs`:
//! `stop_the_world`, `start_the_world`; `sched/worker.rs`: the
//! `stw_requested` hint at scheduling points, `stop_for_stw`, and
//! `release_p` when an M gives its P up), without the syscall-P retake and
//! with a plain condvar wait where the runtime polls for syscall Ps.
//!
//! Checked: loom finds no race on the flag (every read happens-before or
//! after every write), and each M sees off, then on, then off (never on
//! again after seeing it off at the end).
//!
//! The second model adds a plain thread (a channel user outside the
//! runtime, user code asking `gort::tracer::enabled`): it reads the atomic
//! flag and, when on, takes a locker of its own (`acquire`) and reads the
//! session settings, while the coordinator starts, stops and starts again
//! (the second start rewrites the settings). Its twin lets the plain thread
//! use the Ms' plain read, which loom must reject.

use super::{check, check_rejects};
use crate::locker::Flags;
use crate::locker::{self, enabled_on_m};
use crate::registry::{Take, ThreadTrace};
use loom::sync::atomic::{AtomicBool, Ordering::*};
use loom::sync::{Arc, Condvar, Mutex};

/// The protocol as the runtime runs it.
const FAITHFUL: u8 = 0;
/// Step 4 removed: the coordinator writes the flag without waiting for the
/// other Ms to acknowledge the stop.
const NO_WAIT_FOR_ACKS: u8 = 1;

/// The plain thread reads the atomic flag (the rule).
const PLAIN_ATOMIC: u8 = 2;
/// The plain thread reads the Ms' plain flag (the race the rule forbids).
const PLAIN_READS_PLAIN: u8 = 3;

/// Ms besides the coordinator.
const MS: usize = 2;
/// Hooks each M runs (each followed by a scheduling point).
const HOOKS: usize = 3;

/// Under the sched lock (`Sched`).
#[derive(Debug, Default)]
struct Sched {
    stw: bool,
    stw_stopped: usize,
    /// Ps given back (counted as stopped, as idle Ps are).
    idle_procs: usize,
}

struct World {
    /// Ms (holding a P each) the stop-the-world waits for.
    ms: usize,
    sched: Mutex<Sched>,
    cv: Condvar,
    /// `Shared::stw_flag`: the hint read at scheduling points.
    stw_flag: AtomicBool,
}

impl World {
    fn stop_the_world<const V: u8>(&self) {
        let mut s = self.sched.lock().unwrap();
        while s.stw {
            s = self.cv.wait(s).unwrap();
        }
        s.stw = true;
        self.stw_flag.store(true, SeqCst);
        if V == NO_WAIT_FOR_ACKS {
            return;
        }
        while s.idle_procs + s.stw_stopped < self.ms {
            s = self.cv.wait(s).unwrap();
        }
    }

    fn start_the_world(&self) {
        let mut s = self.sched.lock().unwrap();
        s.stw = false;
        self.stw_flag.store(false, SeqCst);
        self.cv.notify_all();
    }

    /// `Worker::stop_for_stw`.
    fn stop_for_stw(&self) {
        let mut s = self.sched.lock().unwrap();
        if !s.stw {
            return;
        }
        s.stw_stopped += 1;
        self.cv.notify_all();
        while s.stw {
            s = self.cv.wait(s).unwrap();
        }
        s.stw_stopped -= 1;
    }

    /// `Worker::release_p`: the M gives its P back and runs no more hooks.
    fn release_p(&self) {
        let mut s = self.sched.lock().unwrap();
        s.idle_procs += 1;
        self.cv.notify_all();
    }
}

/// An M: hooks (plain flag reads) between scheduling points.
fn m(world: &World, hooks: usize) -> Vec<bool> {
    let mut seen = Vec::new();
    for _ in 0..hooks {
        // SAFETY: an M that stops for the world (the rule under test).
        seen.push(unsafe { enabled_on_m() });
        if world.stw_flag.load(Relaxed) {
            world.stop_for_stw();
        }
    }
    world.release_p();
    seen
}

fn set_enabled(on: bool) {
    // SAFETY: the world is stopped (in the faithful model), and every M
    // restarts through the sched lock; the twin breaks this on purpose and
    // loom must see it.
    unsafe { locker::set_enabled(on) };
}

fn model<const V: u8>() {
    let world = Arc::new(World {
        ms: MS,
        sched: Mutex::new(Sched::default()),
        cv: Condvar::new(),
        stw_flag: AtomicBool::new(false),
    });
    let ms: Vec<_> = (0..MS)
        .map(|_| {
            let world = world.clone();
            loom::thread::spawn(move || m(&world, HOOKS))
        })
        .collect();
    for on in [true, false] {
        world.stop_the_world::<V>();
        set_enabled(on);
        world.start_the_world();
    }
    for h in ms {
        assert_ordered(&h.join().unwrap());
    }
}

/// An M's view of one start and stop: off* on* off*.
fn assert_ordered(seen: &[bool]) {
    let flips = seen.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(
        flips <= 2 && !(flips == 2 && seen[0]),
        "an M saw the flag flip out of order: {seen:?}"
    );
}

/// A plain thread: reads the flag as `V` says, and when it is on writes
/// through a locker of its own, which reads the session settings.
///
/// The twin has no `ThreadTrace` (`t` is `None`): loom's rejection unwinds
/// the model's threads, and a loom object dropped while unwinding aborts
/// the process instead of failing the test.
fn plain<const V: u8>(t: Option<&ThreadTrace>) {
    for _ in 0..2 {
        let on = if V == PLAIN_READS_PLAIN {
            // SAFETY: none: the twin breaks the rule on purpose.
            unsafe { enabled_on_m() }
        } else {
            locker::enabled()
        };
        if let (true, Some(t)) = (on, t) {
            if let Some(l) = crate::acquire(t) {
                // `acquire` read the clock setting; read another one.
                let _ = (l.gen(), locker::setting(|s| s.stacks));
            }
        }
    }
}

/// A session's start, as `tracer::start` does it under stop-the-world:
/// settings and flag, then the generation.
fn start_session(gen: u64) {
    let f = Flags {
        enabled: true,
        stacks: true,
        buf_bytes: crate::buf::MIN_BUF_BYTES,
        clock: crate::clock::Clock::Tsc,
        asymmetric: false,
    };
    // SAFETY: the world is stopped (the model's coordinator holds it).
    unsafe { locker::set_flags(f) };
    locker::set_gen(gen);
}

/// The rest of a stop, with the world running again (`finish_stop`):
/// generation 0, then wait until the thread's locker of `gen` is released.
fn end_session(gen: u64, t: &ThreadTrace) {
    locker::set_gen(0);
    while let Take::Busy = t.take_finished(gen) {
        loom::thread::yield_now();
    }
}

fn model_plain<const V: u8>() {
    let world = Arc::new(World {
        ms: 1,
        sched: Mutex::new(Sched::default()),
        cv: Condvar::new(),
        stw_flag: AtomicBool::new(false),
    });
    let w2 = world.clone();
    let m = loom::thread::spawn(move || m(&w2, 2));
    let t = (V == PLAIN_ATOMIC).then(|| ThreadTrace::register(9));
    let t2 = t.clone();
    let p = loom::thread::spawn(move || plain::<V>(t2.as_deref()));
    for gen in [1, 2] {
        world.stop_the_world::<FAITHFUL>();
        start_session(gen);
        world.start_the_world();
        world.stop_the_world::<FAITHFUL>();
        // SAFETY: the world is stopped.
        unsafe { locker::set_enabled(false) };
        world.start_the_world();
        if let Some(t) = &t {
            end_session(gen, t);
        } else {
            locker::set_gen(0);
        }
    }
    p.join().unwrap();
    let _ = m.join().unwrap();
}

#[test]
fn loom_flag_plain_reads_on_two_ms_vs_start_stop_under_stw() {
    check(
        "flag_plain_reads_on_two_ms_vs_start_stop_under_stw",
        model::<FAITHFUL>,
    );
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_flag_twin_no_wait_for_acks_is_rejected() {
    check_rejects(
        "flag_twin_no_wait_for_acks",
        &["Causality violation"],
        model::<NO_WAIT_FOR_ACKS>,
    );
}

#[test]
fn loom_flag_plain_thread_reads_atomic_copy_across_two_sessions() {
    check(
        "flag_plain_thread_reads_atomic_copy_across_two_sessions",
        model_plain::<PLAIN_ATOMIC>,
    );
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_flag_twin_plain_thread_reads_plain_flag_is_rejected() {
    check_rejects(
        "flag_twin_plain_thread_reads_plain_flag",
        &["Causality violation"],
        model_plain::<PLAIN_READS_PLAIN>,
    );
}
