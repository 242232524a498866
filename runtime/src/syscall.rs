//! `syscall`: running a blocking OS call without starving other goroutines
//! (Go's entersyscall/exitsyscall).
//!
//! 1. Enter: the goroutine goes to `Syscall`; its P to `SYSCALL`; sysmon is
//!    told to watch.
//! 2. The call runs on the goroutine's own stack and thread. If it lasts long
//!    and the P has work, sysmon takes the P and hands it to another M.
//! 3. Exit: the goroutine CASes its old P back to RUNNING (fast path); if it
//!    was taken, it takes any idle P; if there is none it asks its M to queue
//!    it on the global queue and waits to be scheduled like any goroutine.
#![deny(unsafe_code)]

use crate::hooks as tr;
use crate::loom::sync::atomic::Ordering::*;
use crate::sched::context::Running;
use crate::sched::proc;
use crate::sched::worker::Reacquired;
use crate::task::state::{transition, Status, WaitReason};
use crate::task::Req;
use std::panic::{self, AssertUnwindSafe};

/// Runs `f`, a call that may block in the OS, the way Go runs a system call.
///
/// While `f` blocks, other goroutines keep running: if it lasts more than
/// about 20 µs and other goroutines are waiting, the P is handed to another
/// thread. When `f` returns, the goroutine gets a P back (its own if it is
/// still free) or waits in the run queue for one.
///
/// `f` must not use the runtime's blocking operations (channels, `sleep`,
/// `join`, `pull`): it runs outside the scheduler. Outside a goroutine, `f`
/// simply runs.
///
/// ```
/// gort_runtime::run(|| {
///     let n = gort_runtime::syscall(|| std::fs::read("/dev/null").map(|v| v.len()));
///     assert_eq!(n.unwrap(), 0);
/// });
/// ```
pub fn syscall<R>(f: impl FnOnce() -> R) -> R {
    let Some(here) = Running::get() else {
        return f();
    };
    let (w, t) = (here.m(), here.g());
    let Some(pid) = w.p.get() else { return f() };
    if here.in_syscall() {
        return f();
    }
    let p = &w.shared.procs[pid];
    w.in_syscall.set(true);
    w.shared.in_syscall.fetch_add(1, SeqCst);
    p.syscall_m.store(w.handle.id as u64 + 1, Relaxed);
    let tick = p.syscall_tick.fetch_add(1, Release) + 1;
    tr::go_syscall_begin(w, t, pid, || {
        transition(t, Status::Syscall, WaitReason::Unspecified);
        // The tracer's status pass states no P in a syscall: it has no
        // holder until an M takes it again (`crate::hooks`).
        p.clear_holder(w.handle.id);
        // Release: publishes the P's state to a sysmon that takes it.
        p.status.store(proc::syscall(tick), Release);
    });
    w.shared.sysmon.poke();

    let r = panic::catch_unwind(AssertUnwindSafe(f));

    let back = w.try_reacquire_after_syscall(pid, tick);
    if back != Reacquired::None {
        if back == Reacquired::Own {
            tr::go_syscall_end(w, t, || {
                p.set_holder(w.handle.id);
                transition(t, Status::Running, WaitReason::Unspecified);
            });
        } else {
            tr::go_syscall_end_blocked(w, t, || {
                transition(t, Status::Running, WaitReason::Unspecified)
            });
        }
        w.in_syscall.set(false);
        w.shared.in_syscall.fetch_sub(1, SeqCst);
    } else {
        // No P: the M queues us; we continue on whichever M runs us next.
        tr::go_syscall_end_blocked_no_p(w, t, || {
            transition(t, Status::Runnable, WaitReason::Unspecified)
        });
        w.in_syscall.set(false);
        // Out of the syscall count before the M queues us: from here on we
        // are an ordinary runnable goroutine to deadlock detection.
        w.shared.in_syscall.fetch_sub(1, SeqCst);
        here.suspend_or_unwind(Req::SyscallNoP);
    }
    match r {
        Ok(v) => v,
        Err(p) => panic::resume_unwind(p),
    }
}
