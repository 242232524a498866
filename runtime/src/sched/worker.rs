//! The worker loop: an M (OS thread) that runs goroutines while it holds a P.
//!
//! Loop, per M:
//! 1. Find a runnable goroutine ([`Worker::find_runnable`]); with none, spin
//!    a little if this M is a spinning one, then give the P back and park
//!    until handed a P (and maybe a goroutine).
//! 2. Resume it ([`Worker::execute`]) and act on what it asks when it
//!    suspends: requeue (yield), park, switch to a coroutine and back, queue
//!    itself after a syscall that lost its P; or retire it when it returns.
//! 3. A goroutine wired to this M (`lock_os_thread`) that blocks keeps the M:
//!    the M hands its P away and waits until the goroutine is runnable again
//!    and another M hands it a P ([`Worker::locked_wait`]).
//!
//! Shutdown: `Runtime::drop` sets `shutdown`; Ms finish the goroutine they run,
//! then exit at their next scheduling point.

use super::proc::{Proc, ProcLocal};
use super::{Handoff, Shared, WorkerHandle};
#[cfg(feature = "trace")]
use crate::hooks as tr;
use crate::loom::sync::atomic::Ordering::*;
use crate::loom::sync::{Arc, Mutex};
use crate::task::Req;
use crate::task::TaskRef;
use crossbeam_utils::sync::Parker;
use std::cell::Cell;

mod dispatch;
mod find;
mod idle;
mod ready;

pub(crate) use idle::Reacquired;

thread_local! {
    static CURRENT: Cell<*const Worker> = const { Cell::new(std::ptr::null()) };
}

/// The worker (M) running on this thread, or null outside the runtime.
#[inline(never)]
pub(crate) fn current_worker() -> *const Worker {
    CURRENT.with(|c| c.get())
}

/// Installs `w` as this thread's worker (null to clear).
#[inline(never)]
pub(crate) fn set_current_worker(w: *const Worker) {
    CURRENT.with(|c| c.set(w));
}

/// The M: per-thread scheduler state. Reached from goroutine code only
/// through `context::current_worker()`; all fields are `Cell`s because the
/// loop and the goroutines it runs share them on one thread.
pub(crate) struct Worker {
    pub(crate) shared: Arc<Shared>,
    pub(crate) handle: Arc<WorkerHandle>,
    parker: Parker,
    /// The P held, if any.
    pub(crate) p: Cell<Option<usize>>,
    /// The goroutine running right now (null in the loop).
    pub(crate) cur: Cell<*const crate::task::Task>,
    /// Whether a goroutine is wired to this M.
    pub(crate) locked: Cell<bool>,
    spinning: Cell<bool>,
    /// Exit the thread after the current goroutine (a wired goroutine exited
    /// while still wired, as Go does).
    exit: Cell<bool>,
    /// A goroutine to run before looking at queues.
    next: Cell<Option<TaskRef>>,
    /// A coroutine (and its request) handed over by a caller whose direct
    /// switch could not complete (see `Req::Forward`).
    pub(crate) forwarded: Cell<Option<(TaskRef, Req)>>,
    /// Inside `gort::syscall`: readies go through the global queue.
    pub(crate) in_syscall: Cell<bool>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("id", &self.handle.id)
            .field("p", &self.p.get())
            .finish()
    }
}

/// Body of every worker thread.
pub(crate) fn run(shared: Arc<Shared>, id: usize, handoff: Option<Handoff>, _unused: Option<()>) {
    crate::coro::overflow::ensure_altstack();
    let parker = Parker::new();
    let handle = Arc::new(WorkerHandle {
        id,
        unparker: parker.unparker().clone(),
        handoff: Mutex::new(handoff),
        gate: super::stw::MGate::new(),
        #[cfg(feature = "trace")]
        trace: tr::register_thread(id),
    });
    shared.sched.lock().handles.insert(id, handle.clone());
    let w = Worker {
        shared,
        handle,
        parker,
        p: Cell::new(None),
        cur: Cell::new(std::ptr::null()),
        locked: Cell::new(false),
        spinning: Cell::new(false),
        exit: Cell::new(false),
        next: Cell::new(None),
        forwarded: Cell::new(None),
        in_syscall: Cell::new(false),
    };
    set_current_worker(&w);
    w.take_handoff();
    w.schedule();
    set_current_worker(std::ptr::null());
    let mut s = w.shared.sched.lock();
    s.nworkers -= 1;
    s.handles.remove(&id);
    drop(s);
    #[cfg(feature = "trace")]
    w.handle.trace.retire();
}

impl Worker {
    /// The P this M holds.
    #[inline(always)]
    pub(crate) fn proc(&self) -> Option<&Proc> {
        self.p.get().map(|i| &self.shared.procs[i])
    }

    /// Runs `f` on the held P's owner-only state.
    #[inline(always)]
    pub(crate) fn with_local<R>(&self, f: impl FnOnce(&mut ProcLocal) -> R) -> Option<R> {
        let p = self.proc()?;
        // SAFETY: this thread holds the P; the borrow ends with `f`, and no
        // caller nests `with_local`.
        Some(f(unsafe { p.local() }))
    }

    fn schedule(&self) {
        loop {
            if self.exit.get() {
                self.release_p(false);
                return;
            }
            if self.locked.get() {
                if self.shared.shutting_down.load(Acquire) {
                    self.release_p(false);
                    return;
                }
                // Our wired goroutine is blocked or queued: wait for it.
                self.release_p(true);
                self.locked_wait();
                if let Some(t) = self.next.take() {
                    self.execute(t);
                }
                continue;
            }
            let Some(t) = self.find_runnable() else {
                return;
            };
            self.execute(t);
        }
    }
}

/// A thread-local xorshift draw in `0..n` (`n > 0`): the scheduler's steal
/// order and `select`'s poll order.
pub(crate) fn fastrand(n: usize) -> usize {
    thread_local! {
        static STATE: Cell<u64> = const { Cell::new(0) };
    }
    STATE.with(|s| {
        let mut x = s.get();
        if x == 0 {
            x = (s as *const _ as u64) | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x % n as u64) as usize
    })
}
