//! The scheduler's side of parking (the protocol is `crate::park`'s): a
//! goroutine suspends to its M with `Req::Park`; a waker claims a parked
//! goroutine and queues it, on its own M's P when it runs on one of this
//! runtime's Ms, else through the goroutine's home runtime.

use crate::coro::release::{self, Canary};
use crate::park::ParkWord;
pub(crate) use crate::park::Waiter;
use crate::sched::context::{current_worker, Running};
use crate::task::state::WaitReason;
use crate::task::{Req, TaskRef};
use std::panic::Location;
use std::sync::atomic::Ordering::Relaxed;

impl Waiter {
    /// The caller, as a waiter.
    pub(crate) fn current() -> Waiter {
        match Running::get() {
            Some(r) => Waiter::Task(r.task_ref()),
            None => Waiter::Thread(std::thread::current()),
        }
    }

    /// The goroutine's task (`None` for a plain thread).
    #[inline]
    pub(crate) fn task(&self) -> Option<&crate::task::Task> {
        match self {
            Waiter::Task(t) => Some(t),
            Waiter::Thread(_) => None,
        }
    }

    /// Wakes the waiter (see the module protocol). Consumes it: the
    /// reference to a parked goroutine moves on into the run queue instead
    /// of being cloned there and dropped here.
    pub(crate) fn wake(self) {
        match self {
            Waiter::Task(t) => unpark(t),
            Waiter::Thread(th) => th.unpark(),
        }
    }
}

/// Blocks the caller until woken (a goroutine parks; a thread parks its
/// thread). The caller's caller is the call site a goroutine dump shows:
/// every function between the public blocking call and here carries
/// `#[track_caller]`.
#[track_caller]
#[inline]
pub(crate) fn park(reason: WaitReason) {
    park_at(reason, Location::caller());
}

/// [`park`], with the call site given.
///
/// Never inlined, with [`park_running`] inlined into it: the depth of the
/// suspension below the stack pointer a park records is measured once
/// (`coro::release::Canary`) and must be the same for every park, so every
/// park runs this one compiled body.
#[inline(never)]
pub(crate) fn park_at(reason: WaitReason, site: &'static Location<'static>) {
    match Running::get() {
        Some(r) => park_running(r, reason, site),
        None => std::thread::park(),
    }
}

/// Parks the running goroutine `r` at `site` (the user's blocking call).
/// Consumes the handle: the goroutine may continue on another M.
/// Only called by [`park_at`], into which it is inlined (see there).
#[inline(always)]
pub(crate) fn park_running(r: Running, reason: WaitReason, site: &'static Location<'static>) {
    let t = r.g();
    if ParkWord::new(&t.park).take_token() {
        return;
    }
    if std::thread::panicking() {
        crate::fatal(
            "a goroutine tried to block while panicking (a Drop that blocks during unwinding)",
        );
    }
    if r.in_syscall() {
        panic!("gort: a goroutine blocked on the runtime inside gort::syscall; block outside the closure instead");
    }
    t.reason.store(reason as u8, Relaxed);
    t.note_wait(site, super::coarse::now());
    let sp = release::stack_pointer();
    let sp = if Canary::wanted() && sp > t.stack_low + 2 * Canary::SPAN {
        // SAFETY: twice the pattern's size is free below the stack pointer.
        match unsafe { Canary::fill() } {
            Some((sp, low)) => {
                // SAFETY: as below.
                unsafe { t.canary_low.with_mut(|l| *l = low) };
                sp
            }
            None => sp,
        }
    } else {
        sp
    };
    // Read by the M that commits the park, and by the owner of the parked
    // goroutine that releases its stack (`super::release`), after the park
    // word's release/acquire pair.
    // SAFETY: `t` is this goroutine, running: the owner of its `OwnCell`s.
    unsafe { t.park_sp.with_mut(|p| *p = sp) };
    r.suspend_or_unwind(Req::Park);
}

/// Wakes `t` (see the module protocol). The caller's reference becomes the
/// run queue's when this call claims the goroutine.
pub(crate) fn unpark(t: TaskRef) {
    if ParkWord::new(&t.park).unpark() {
        ready(t);
    }
}

/// Queues a parked goroutine that this thread just claimed (an unparker,
/// or a releaser whose commit found a wake-up, see `super::release`).
pub(crate) fn ready_claimed(t: TaskRef) {
    ready(t);
}

/// Queues a parked goroutine that this thread just claimed.
fn ready(t: TaskRef) {
    let w = current_worker();
    if w.is_null() {
        let home = t.home.clone();
        t.unblock_pending.store(true, Relaxed);
        home.ready_from_outside(t);
        return;
    }
    // SAFETY: see `current_task`.
    let w = unsafe { &*w };
    if !w.shared.owns(&t) || w.in_syscall.get() || w.p.get().is_none() {
        let home = t.home.clone();
        t.unblock_pending.store(true, Relaxed);
        home.ready_from_outside(t);
        return;
    }
    w.ready(t);
}
