//! Blocking a goroutine without blocking its thread (Go's gopark/goready).
//!
//! Each task has a park word:
//!
//! ```text
//!   EMPTY     running (or runnable), no wake-up pending
//!   NOTIFIED  a wake-up arrived while it was not parked: the next park
//!             returns at once (one token; tokens do not accumulate)
//!   PARKED    suspended, in no queue; the unparker that moves it back to
//!             EMPTY owns the duty of scheduling it
//! ```
//!
//! Protocol (no lost wake-up):
//! 1. `park(reason)`: if a token is pending, consume it and return. Else
//!    record the reason and suspend to the M with `Req::Park`.
//! 2. The M ([`commit`]) CASes EMPTY -> PARKED. On failure a token arrived
//!    between 1 and 2: it consumes it and resumes the goroutine at once.
//! 3. `unpark(t)`: EMPTY -> NOTIFIED (the parker will see it in 1 or 2), or
//!    PARKED -> EMPTY followed by queueing `t` (exactly one unparker wins).
//!
//! Callers re-check their condition after `park` returns: a stale token can
//! make a park return early.
//!
//! Outside a goroutine (a plain thread using a channel), the same calls block
//! the thread with `std::thread::park`.

#[cfg(not(loom))]
use crate::hooks as tr;
use crate::loom::sync::atomic::{AtomicU8, Ordering::*};
#[cfg(not(loom))]
use crate::sched::context::{current_worker, Running};
#[cfg(not(loom))]
use crate::sched::worker::Worker;
#[cfg(not(loom))]
use crate::task::state::{transition, Status, WaitReason};
#[cfg(not(loom))]
use crate::task::Req;
#[cfg(not(loom))]
use crate::task::{Task, TaskRef};

const EMPTY: u8 = 0;
const NOTIFIED: u8 = 1;
const PARKED: u8 = 2;

/// The faithful protocol (the only one outside the loom models).
pub(crate) const FAITHFUL: u8 = 0;

/// Broken variants of [`ParkWord`], each one step off the protocol; the loom
/// models must reject every one.
#[cfg(loom)]
pub(crate) mod twin {
    /// `commit` checks for a token with a load, then stores PARKED: an
    /// unpark between the two is lost.
    pub(crate) const COMMIT_LOAD_STORE: u8 = 1;
    /// `unpark` reads and claims a PARKED task with `Relaxed` operations: the
    /// claimer does not see the suspended goroutine's writes.
    pub(crate) const UNPARK_RELAXED: u8 = 2;
}

/// The park word's transitions (see the module doc), over a borrowed word: a
/// task's `park` field, or a bare word in the loom models. `TWIN` selects a
/// broken variant in the models; the runtime uses [`FAITHFUL`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct ParkWord<'a, const TWIN: u8 = FAITHFUL>(pub(crate) &'a AtomicU8);

impl<const TWIN: u8> ParkWord<'_, TWIN> {
    /// Step 1 (the goroutine): consumes a pending token. True: the park
    /// returns at once.
    #[inline]
    pub(crate) fn take_token(self) -> bool {
        // A plain load first: the common case (no token) costs no
        // read-modify-write. A token seen here can only be consumed by us
        // (the owner), so the CAS that follows succeeds.
        self.0.load(Acquire) == NOTIFIED
            && self
                .0
                .compare_exchange(NOTIFIED, EMPTY, AcqRel, Acquire)
                .is_ok()
    }

    /// Step 2 (the M, after the goroutine suspended): EMPTY -> PARKED. False:
    /// a token arrived in between; it is consumed and the goroutine runs on.
    #[inline]
    pub(crate) fn commit(self) -> bool {
        #[cfg(loom)]
        if TWIN == twin::COMMIT_LOAD_STORE {
            if self.0.load(Acquire) == EMPTY {
                self.0.store(PARKED, Release);
                return true;
            }
            self.0.store(EMPTY, Relaxed);
            return false;
        }
        // AcqRel: release publishes the goroutine's writes (and its suspended
        // stack) to the unparker that schedules it; acquire pairs with an
        // unparker's release of NOTIFIED.
        match self.0.compare_exchange(EMPTY, PARKED, AcqRel, Acquire) {
            Ok(_) => true,
            Err(_) => {
                // NOTIFIED: consume the token.
                self.0.store(EMPTY, Relaxed);
                false
            }
        }
    }

    /// Step 3 (any thread): wakes the owner of the word. True: the caller
    /// moved it PARKED -> EMPTY and must schedule the goroutine (exactly one
    /// caller per park gets true).
    #[inline]
    pub(crate) fn unpark(self) -> bool {
        #[cfg(loom)]
        let (read, claim) = if TWIN == twin::UNPARK_RELAXED {
            (Relaxed, Relaxed)
        } else {
            (Acquire, AcqRel)
        };
        #[cfg(not(loom))]
        let (read, claim) = (Acquire, AcqRel);
        let mut cur = self.0.load(read);
        loop {
            match cur {
                NOTIFIED => return false,
                EMPTY => match self.0.compare_exchange(EMPTY, NOTIFIED, AcqRel, Acquire) {
                    Ok(_) => return false,
                    Err(a) => cur = a,
                },
                _ => match self.0.compare_exchange(PARKED, EMPTY, claim, read) {
                    Ok(_) => return true,
                    Err(a) => cur = a,
                },
            }
        }
    }
}

/// Something that can block and be woken: the current goroutine, or the
/// current plain thread.
#[cfg(not(loom))]
#[derive(Clone, Debug)]
pub(crate) enum Waiter {
    Task(TaskRef),
    Thread(std::thread::Thread),
}

#[cfg(not(loom))]
impl Waiter {
    /// The caller, as a waiter.
    pub(crate) fn current() -> Waiter {
        match Running::get() {
            Some(r) => Waiter::Task(r.task_ref()),
            None => Waiter::Thread(std::thread::current()),
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

/// Blocks the caller until woken (a goroutine parks; a thread parks its thread).
#[cfg(not(loom))]
pub(crate) fn park(reason: WaitReason) {
    match Running::get() {
        Some(r) => park_running(r, reason),
        None => std::thread::park(),
    }
}

/// Parks the running goroutine `r`. Consumes the handle: the goroutine may
/// continue on another M.
#[cfg(not(loom))]
pub(crate) fn park_running(r: Running, reason: WaitReason) {
    let t = r.g();
    if ParkWord::<FAITHFUL>(&t.park).take_token() {
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
    r.suspend_or_unwind(Req::Park);
}

/// The M's half of a park: commits `t` to PARKED, or, if a wake-up already
/// arrived, keeps running it. Returns whether `t` is now parked.
#[cfg(not(loom))]
pub(crate) fn commit(w: &Worker, t: &TaskRef) -> bool {
    let reason = t.wait_reason_pending();
    tr::go_block(w, t, reason);
    transition(t, Status::Waiting, reason);
    if ParkWord::<FAITHFUL>(&t.park).commit() {
        return true;
    }
    // A token was pending: run on.
    tr::go_unblock(w, t);
    transition(t, Status::Runnable, WaitReason::Unspecified);
    tr::go_start(w, t);
    false
}

/// Wakes `t` (see the module protocol). The caller's reference becomes the
/// run queue's when this call claims the goroutine.
#[cfg(not(loom))]
pub(crate) fn unpark(t: TaskRef) {
    if ParkWord::<FAITHFUL>(&t.park).unpark() {
        ready(t);
    }
}

/// Queues a parked goroutine that this thread just claimed.
#[cfg(not(loom))]
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

#[cfg(not(loom))]
impl Task {
    /// The reason recorded by the pending park.
    pub(crate) fn wait_reason_pending(&self) -> WaitReason {
        WaitReason::from_u8(self.reason.load(Relaxed))
    }
}
