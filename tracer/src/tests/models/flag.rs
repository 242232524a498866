//! Model 1: the enabled flag, a plain (non-atomic) `bool` in a loom
//! `UnsafeCell` (`locker::FLAGS`), read by [`locker::enabled`] on every hook
//! and written by [`locker::set_flags`] only while the world is stopped.
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

use super::{check, check_rejects};
use crate::locker::{self, enabled};
use loom::sync::atomic::{AtomicBool, Ordering::*};
use loom::sync::{Arc, Condvar, Mutex};

/// The protocol as the runtime runs it.
const FAITHFUL: u8 = 0;
/// Step 4 removed: the coordinator writes the flag without waiting for the
/// other Ms to acknowledge the stop.
const NO_WAIT_FOR_ACKS: u8 = 1;

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
        while s.idle_procs + s.stw_stopped < MS {
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
fn m(world: &World) -> Vec<bool> {
    let mut seen = Vec::new();
    for _ in 0..HOOKS {
        seen.push(enabled());
        if world.stw_flag.load(Relaxed) {
            world.stop_for_stw();
        }
    }
    world.release_p();
    seen
}

fn set_enabled(on: bool) {
    let mut f = locker::flags();
    f.enabled = on;
    // SAFETY: the world is stopped (in the faithful model), and every M
    // restarts through the sched lock; the twin breaks this on purpose and
    // loom must see it.
    unsafe { locker::set_flags(f) };
}

fn model<const V: u8>() {
    let world = Arc::new(World {
        sched: Mutex::new(Sched::default()),
        cv: Condvar::new(),
        stw_flag: AtomicBool::new(false),
    });
    let ms: Vec<_> = (0..MS)
        .map(|_| {
            let world = world.clone();
            loom::thread::spawn(move || m(&world))
        })
        .collect();
    for on in [true, false] {
        world.stop_the_world::<V>();
        set_enabled(on);
        world.start_the_world();
    }
    for h in ms {
        let seen = h.join().unwrap();
        // off* on* off*
        let flips = seen.windows(2).filter(|w| w[0] != w[1]).count();
        assert!(
            flips <= 2 && !(flips == 2 && seen[0]),
            "an M saw the flag flip out of order: {seen:?}"
        );
    }
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
