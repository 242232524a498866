//! The M's half of Go's `newcoro`/`coroswitch`: coroutine goroutines that
//! start blocked and take turns with their caller on one M, the layer under
//! `pull()`. The goroutine-level half (the [`CoroLink`] and its rules) is
//! `task::link`.
//!
//! The switch normally runs nested: the caller resumes the coroutine's
//! stack directly ([`coroswitch_fast`]). When that cannot complete (the
//! coroutine blocks, or the caller is wired, or the world is stopping), the
//! M's loop performs the switch (`Worker::switch_to`, `switch_back`), so a
//! coroutine that blocks inside (a channel receive) parks like any
//! goroutine while its caller stays waiting, and the hand-back happens on
//! whichever M the coroutine runs on when it yields.

use super::context::Running;
use super::worker::Worker;
use crate::coro::{self, Resume};
use crate::task::state::{transition, Status, WaitReason};
use crate::task::{CoroLink, Req, Task, TaskRef};
use std::ptr::NonNull;

/// Creates a coroutine goroutine that starts blocked (Go's `newcoro`): it is
/// in no run queue and first runs when its caller switches to it.
#[track_caller]
pub(crate) fn newcoro<F>(
    link: NonNull<CoroLink>,
    func: &'static str,
    body: F,
) -> std::io::Result<()>
where
    F: FnOnce() + Send + 'static,
{
    let site = std::panic::Location::caller();
    let Some(here) = Running::get() else {
        panic!(
            "gort::iter::pull called outside a gort runtime (use gort::run or Runtime::block_on)"
        );
    };
    let w = here.m();
    let t = w.shared.new_task(site, func, move |_first| body())?;
    transition(&t, Status::Waiting, WaitReason::Coroutine);
    // The creation event first: once registered, the tracer's
    // end-of-generation pass can see the goroutine, and it must not find
    // one whose creation is still to be written (in the next generation).
    crate::hooks::go_create(w, &t, true);
    if let Some(p) = w.proc() {
        p.register(&t);
    }
    // SAFETY: the link is new and owned by the `Pull` being built.
    unsafe { link.as_ref() }.set_coro(t);
    Ok(())
}

/// The running goroutine's yielder (fixed for its whole life), or `None`
/// outside a goroutine: callers that switch repeatedly look it up once.
#[inline]
pub(crate) fn current_yielder() -> Option<crate::coro::YielderPtr<Req>> {
    // SAFETY: the task is the running goroutine (us).
    Running::get().map(|r| unsafe { r.g().yielder() })
}

/// Switches from the running goroutine (whose yielder is `y`) to the
/// coroutine of `link`; returns when it switches back (yields) or exits.
///
/// # Safety
/// `y` must be the running goroutine's yielder.
#[inline(always)]
pub(crate) unsafe fn coroswitch_with(
    y: crate::coro::YielderPtr<Req>,
    link: NonNull<CoroLink>,
) -> Resume {
    // SAFETY: guaranteed by the caller.
    unsafe { coro::suspend(y, Req::Switch(link)) }
}

/// From inside a coroutine (whose yielder is `y`): switches back to the
/// goroutine waiting on it.
///
/// # Safety
/// `y` must be the running goroutine's yielder.
#[inline(always)]
pub(crate) unsafe fn coroswitch_back_with(
    y: crate::coro::YielderPtr<Req>,
    link: NonNull<CoroLink>,
) -> Resume {
    // SAFETY: guaranteed by the caller.
    unsafe { coro::suspend(y, Req::SwitchBack(link)) }
}

/// Marks the running coroutine so that its exit switches to the caller
/// waiting in `link` (Go's `coroexit`).
pub(crate) fn set_exit_link(link: NonNull<CoroLink>) {
    let Some(r) = Running::get() else {
        panic!("gort: coroutine operation outside a goroutine");
    };
    // SAFETY: the running goroutine owns its fields (`OwnCell`).
    unsafe { r.g().exit_link.with_mut(|p| *p = Some(link)) }
}

/// Switches from the running goroutine `caller` (on `w`, with yielder `y`)
/// to the coroutine of `link` and returns when the coroutine yields back or
/// exits.
///
/// Fast path: with the caller not wired, the caller resumes the coroutine's
/// stack directly (the coroutine's parent is then the caller, not the M
/// loop): one resume/suspend round trip and no trip through the scheduler. If the coroutine suspends for anything
/// but yielding back (it blocks, yields the P, switches to a coroutine of its
/// own), the caller hands it to the M with `Req::Forward` and waits, and the
/// rest goes the usual way. Otherwise the switch goes through the M loop.
///
/// # Safety
/// `w` must be this thread's worker, `caller` the goroutine running on it,
/// and `y` that goroutine's yielder.
#[inline(always)]
pub(crate) unsafe fn coroswitch_fast(
    w: &Worker,
    caller: &Task,
    y: crate::coro::YielderPtr<Req>,
    link: NonNull<CoroLink>,
) -> Resume {
    if w.locked.get() {
        // SAFETY: guaranteed by the caller.
        return unsafe { coroswitch_with(y, link) };
    }
    // SAFETY: the caller's `next`/`stop` owns the link's cells right now.
    let l = unsafe { link.as_ref() };
    // Not dropped if the resume below unwinds (a runtime bug: goroutine
    // bodies catch their panics), so this path has no unwind landing pad
    // with a reference-count decrement.
    let target = std::mem::ManuallyDrop::new(l.take_coro());
    crate::hooks::go_switch(w, caller, &target, false, || {
        transition(caller, Status::Waiting, WaitReason::Coroutine);
        w.now_running(&target);
    });
    w.cur.set(&**target);
    // SAFETY: the coroutine is waiting in the link, so nobody else runs it;
    // this thread now does, nested on the caller's stack.
    let r = unsafe { target.with_coro(|c| c.as_mut().map(|c| c.resume(Resume::Run))) };
    w.cur.set(caller);
    // N.B. the status changes are the hooks' `step`s, inside the locker of
    // their event, as the tracer's end-of-generation status pass requires
    // (`crate::hooks`).
    match r {
        Some(Some(Req::SwitchBack(_))) => {
            crate::hooks::go_switch(w, &target, caller, false, || {
                transition(&target, Status::Waiting, WaitReason::Coroutine);
                transition(caller, Status::Running, WaitReason::Unspecified);
            });
            if w.locked.get() {
                unwire_sequence(w, &target);
            }
            l.set_coro(std::mem::ManuallyDrop::into_inner(target));
            Resume::Run
        }
        // SAFETY: forwarded from our caller.
        r => unsafe {
            coroswitch_fast_other(
                w,
                caller,
                y,
                link,
                std::mem::ManuallyDrop::into_inner(target),
                r,
            )
        },
    }
}

/// A sequence run by an unwired caller wired itself (`lock_os_thread`) and
/// yielded or returned: its wiring ends there, as on the M loop's path
/// (`Worker::switch_back`), and the caller goes on unwired.
#[cold]
#[inline(never)]
fn unwire_sequence(w: &Worker, target: &Task) {
    target
        .locked_to
        .store(0, std::sync::atomic::Ordering::Release);
    w.locked.set(false);
}

/// The rest of [`coroswitch_fast`] when the coroutine did not yield back:
/// it exited, or suspended for something else. Out of line, so the yield
/// path carries none of the reference-count work of these arms.
///
/// # Safety
/// As for [`coroswitch_fast`]; `target` is the coroutine of `link`, just
/// suspended with `r` (or finished: `Some(None)`).
#[cold]
#[inline(never)]
unsafe fn coroswitch_fast_other(
    w: &Worker,
    caller: &Task,
    y: crate::coro::YielderPtr<Req>,
    link: NonNull<CoroLink>,
    target: TaskRef,
    r: Option<Option<Req>>,
) -> Resume {
    // N.B. each arm changes statuses in its event's `step` (`crate::hooks`).
    match r {
        Some(None) => {
            // The sequence returned: the coroutine exits (Go's coroexit).
            crate::hooks::go_switch(w, &target, caller, true, || {
                transition(&target, Status::Dead, WaitReason::Unspecified);
                transition(caller, Status::Running, WaitReason::Unspecified);
            });
            if w.locked.get() {
                unwire_sequence(w, &target);
            }
            // SAFETY: the coroutine finished on this M, which owns it now.
            let _ = unsafe { target.take_exit_link() };
            w.shared.free_task(&target);
            Resume::Run
        }
        Some(Some(Req::Forward(inner))) => {
            // The coroutine ran a coroutine of its own directly, and that
            // one (or one further down) needs the M: its hand-off already
            // sits in the M's forward slot. Settle this level here: our
            // coroutine waits in its own link as the caller of the one
            // below, then we forward ourselves with the slot untouched. Each
            // level settles the one below it, so the slot holds one
            // hand-off at any depth of nesting.
            // SAFETY: `inner` is the link of the `Pull` whose `next`/`stop`
            // just suspended `target`; that call keeps it alive while
            // `target` waits.
            unsafe { inner.as_ref() }.set_caller(target);
            // SAFETY: guaranteed by the caller.
            unsafe { coro::suspend(y, Req::Forward(link)) }
        }
        Some(Some(req)) => {
            w.forwarded.set(Some((target, req)));
            // SAFETY: guaranteed by the caller.
            unsafe { coro::suspend(y, Req::Forward(link)) }
        }
        None => crate::fatal("coroutine switch to a goroutine that has no coroutine"),
    }
}
