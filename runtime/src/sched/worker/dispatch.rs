//! Dispatch: resuming a goroutine and acting on what it asks when it
//! suspends (yield, park, coroutine switches, syscall requeue), and
//! retiring it when it returns.

use super::Worker;
use crate::coro::release::Canary;
use crate::coro::Resume;
use crate::hooks as tr;
use crate::loom::sync::atomic::Ordering::*;
use crate::park::ParkWord;
use crate::task::state::{transition, Status, WaitReason};
use crate::task::CoroLink;
use crate::task::Req;
use crate::task::Task;
use crate::task::TaskRef;
use std::ptr::NonNull;

impl Worker {
    /// Runs `t` and whatever it hands the M to, until the M must pick anew.
    pub(crate) fn execute(&self, mut t: TaskRef) {
        tr::go_start(self, &t, || self.now_running(&t));
        loop {
            // `t` is Running on this M: started above, or switched to by the
            // event that brought the loop back here (each one's `step`).
            if t.locked_worker() == Some(self.handle.id) {
                self.locked.set(true);
            }
            self.cur.set(&*t);
            // SAFETY: this M runs `t` now; the scheduling protocol gives it
            // exclusive access to the coroutine.
            let req = unsafe { t.with_coro(|c| c.as_mut().map(|c| c.resume(Resume::Run))) };
            self.cur.set(std::ptr::null());
            let Some(mut req) = req else {
                crate::fatal("resumed a goroutine that has no coroutine");
            };
            if let Some(Req::Forward(link)) = req {
                // The caller `t` ran its coroutine directly; the coroutine now
                // needs the M. The caller waits in `link`, the coroutine
                // becomes this M's goroutine with its pending request.
                let Some((target, inner)) = self.forwarded.take() else {
                    crate::fatal("coroutine forward without a coroutine");
                };
                // SAFETY: as in `switch_to`: the caller's `next`/`stop` keeps
                // the link alive while it waits.
                unsafe { link.as_ref() }.set_caller(t);
                t = target;
                req = Some(inner);
            }
            match req {
                Some(Req::Switch(link)) => t = self.switch_to(t, link),
                Some(Req::SwitchBack(link)) => match self.switch_back(t, link) {
                    Some(next) => t = next,
                    None => return,
                },
                Some(Req::Park) => {
                    if self.commit_park(&t) {
                        return;
                    }
                }
                Some(Req::Yield) => {
                    tr::go_stop(self, &t, || {
                        transition(&t, Status::Runnable, WaitReason::Unspecified)
                    });
                    self.queue_yielded(t);
                    return;
                }
                Some(Req::Forward(_)) => crate::fatal("a coroutine forward was forwarded again"),
                Some(Req::SyscallNoP) => {
                    // Already Runnable (`syscall`'s end event made it so).
                    self.shared.push_global(std::iter::once(t));
                    return;
                }
                None => match self.retire(t) {
                    Some(next) => t = next,
                    None => return,
                },
            }
        }
    }

    /// The caller `t` hands the M to the coroutine of `link`.
    #[inline(always)]
    pub(super) fn switch_to(&self, t: TaskRef, link: NonNull<CoroLink>) -> TaskRef {
        // SAFETY: `link` points into the `Pull` whose `next`/`stop` suspended
        // `t`; that call keeps it alive until `t` resumes.
        let link = unsafe { link.as_ref() };
        let target = link.take_coro();
        tr::go_switch(self, &t, &target, false, || {
            transition(&t, Status::Waiting, WaitReason::Coroutine);
            self.now_running(&target);
        });
        if self.locked.get() {
            // The coroutine runs on the caller's wired thread until it yields.
            target.locked_to.store(self.handle.id + 1, Release);
            target.wired_by_caller.store(true, Relaxed);
        }
        link.set_caller(t);
        target
    }

    /// The coroutine `t` hands the M back to its caller.
    #[inline(always)]
    pub(super) fn switch_back(&self, t: TaskRef, link: NonNull<CoroLink>) -> Option<TaskRef> {
        // SAFETY: the coroutine's `Pull` outlives the coroutine's suspension:
        // the caller waits in `next` until this switch completes.
        let link = unsafe { link.as_ref() };
        let caller = link.take_caller();
        let elsewhere = self.wired_elsewhere(&caller);
        if elsewhere {
            tr::go_block(self, &t, WaitReason::Coroutine, || {
                transition(&t, Status::Waiting, WaitReason::Coroutine)
            });
        } else {
            tr::go_switch(self, &t, &caller, false, || {
                transition(&t, Status::Waiting, WaitReason::Coroutine);
                self.now_running(&caller);
            });
        }
        self.unwire_coroutine(&t, &caller);
        link.set_coro(t);
        if elsewhere {
            self.ready_on_its_m(caller);
            return None;
        }
        Some(caller)
    }

    /// Whether `caller` is wired to another M, so that a coroutine handing
    /// it the M from here must queue it for its own M instead.
    ///
    /// A coroutine resumed by a wired caller borrows that wiring
    /// (`switch_to`) and runs only on the caller's M, so this holds only
    /// for a caller wired after it handed over, which nothing in the
    /// runtime does; the queueing below keeps even that case traced
    /// correctly rather than running the caller off its thread.
    fn wired_elsewhere(&self, caller: &TaskRef) -> bool {
        caller.locked_worker().is_some_and(|w| w != self.handle.id)
    }

    /// Ends the wiring coroutine `t` held (its own or its caller's) as it
    /// hands the M back to `caller`: a coroutine is wired only while a wired
    /// caller waits on it.
    fn unwire_coroutine(&self, t: &TaskRef, caller: &TaskRef) {
        t.wired_by_caller.store(false, Relaxed);
        if t.locked_to.load(Relaxed) != 0 {
            t.locked_to.store(0, Release);
            if caller.locked_worker() != Some(self.handle.id) {
                self.locked.set(false);
            }
        }
    }

    /// Makes `caller`, wired to another M, runnable there: its coroutine
    /// has blocked or ended (its event is out), so the wake-up is an
    /// unblock from this M, as a timer's is.
    fn ready_on_its_m(&self, caller: TaskRef) {
        tr::go_unblock(self, &caller, || {
            transition(&caller, Status::Runnable, WaitReason::Unspecified)
        });
        self.shared.push_global(std::iter::once(caller));
    }

    /// A goroutine returned: free it; for a coroutine, switch to its caller.
    pub(super) fn retire(&self, t: TaskRef) -> Option<TaskRef> {
        let dead = || transition(&t, Status::Dead, WaitReason::Unspecified);
        // SAFETY: `t` finished on this M, which owns it now.
        let exit_link = unsafe { t.take_exit_link() };
        let next = match exit_link {
            Some(link) => {
                // SAFETY: see `switch_back`.
                let link = unsafe { link.as_ref() };
                let caller = link.take_caller();
                if self.wired_elsewhere(&caller) {
                    tr::go_destroy(self, &t, dead);
                    self.unwire_coroutine(&t, &caller);
                    self.ready_on_its_m(caller);
                    None
                } else {
                    tr::go_switch(self, &t, &caller, true, || {
                        dead();
                        self.now_running(&caller);
                    });
                    // As in `switch_back`: a coroutine is wired only with its
                    // wired caller's thread, which its exit hands back to the
                    // caller instead of taking it down (Go's coroexit likewise
                    // detaches the lock before destroying the coroutine).
                    self.unwire_coroutine(&t, &caller);
                    Some(caller)
                }
            }
            None => {
                tr::go_destroy(self, &t, dead);
                None
            }
        };
        if t.locked_worker() == Some(self.handle.id) {
            // Exited while wired: the thread may carry state the goroutine
            // changed, so it exits too (as in Go).
            self.locked.set(false);
            self.exit.set(true);
        }
        self.shared.free_task(&t);
        drop(t);
        next
    }

    /// The M's half of a park: commits `t` to PARKED, or, if a wake-up already
    /// arrived, keeps running it. Returns whether `t` is now parked.
    pub(super) fn commit_park(&self, t: &TaskRef) -> bool {
        let w = self;
        if Canary::wanted() {
            measure_park(t);
        }
        let reason = t.wait_reason_pending();
        tr::go_block(w, t, reason, || transition(t, Status::Waiting, reason));
        if ParkWord::new(&t.park).commit() {
            return true;
        }
        // A token was pending: run on.
        tr::go_unblock(w, t, || {
            transition(t, Status::Runnable, WaitReason::Unspecified)
        });
        tr::go_start(w, t, || w.now_running(t));
        false
    }

    /// `t` runs on this M from now: its status and the M the tracer's
    /// status pass names for it. The `step` of the event that starts it.
    #[inline(always)]
    pub(crate) fn now_running(&self, t: &Task) {
        t.last_m.store(self.handle.id, Relaxed);
        transition(t, Status::Running, WaitReason::Unspecified);
    }
}

/// Measures the park's depth if `t`, just suspended, filled the pattern for
/// it (see `coro::release::Canary`).
#[cold]
fn measure_park(t: &Task) {
    // SAFETY: the M committing `t`'s park owns it (it is suspended and
    // parked nowhere yet).
    let (sp, low) = unsafe {
        (
            t.park_sp.with_mut(|p| *p),
            t.canary_low.with_mut(std::mem::take),
        )
    };
    if low != 0 {
        // SAFETY: `(sp, low)` came from `Canary::fill` in `t`, suspended and
        // owned by this M, whose stack is mapped while it lives.
        unsafe { Canary::measure(sp, low) };
    }
}
