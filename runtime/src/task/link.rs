//! What a goroutine asks of its M when it suspends ([`Req`]), and the
//! meeting point of a coroutine goroutine and its caller ([`CoroLink`]), the
//! goroutine-level half of Go's `coroswitch` (the M's half is
//! `sched::coroswitch`).
//!
//! A [`CoroLink`] joins a coroutine goroutine to whoever is waiting on it:
//!
//! ```text
//!            coroswitch (caller -> coro)             coroswitch (coro -> caller)
//!   link.coro:   Some(coro) -> None                     None -> Some(coro)
//!   link.caller: None -> Some(caller)                   Some(caller) -> None
//! ```
//!
//! Each switch moves two `TaskRef`s between the link and the M's "current"
//! slot: ownership moves, no reference count changes, no run queue, no lock,
//! no allocation.
//!
//! Exclusive access to the link's cells: the caller side touches them only
//! from `next`/`stop` (serialised by `Pull`'s guard), the M touches them
//! only while that caller is suspended in the switch, and the coroutine only
//! while it runs, which is exactly when the caller waits.

use super::TaskRef;
use crate::loom::cell::UnsafeCell;
use std::ptr::NonNull;

/// What a suspended goroutine asks its M to do.
#[derive(Debug)]
pub(crate) enum Req {
    /// Stay runnable; go to the back of the P's run queue (Go's Gosched).
    Yield,
    /// Block; the wait reason is already stored in the task.
    Park,
    /// Hand the M to the coroutine of `link` (the caller waits).
    Switch(NonNull<CoroLink>),
    /// Hand the M back to the caller recorded in `link` (the coroutine waits).
    SwitchBack(NonNull<CoroLink>),
    /// Returned from a syscall and found no P: queue me and go idle.
    SyscallNoP,
    /// The caller ran the coroutine of `link` directly (the fast path of a
    /// coroutine switch) and the coroutine suspended with a request only the
    /// M can serve: the caller waits in `link`, and the M takes the coroutine
    /// and its request from its forward slot.
    Forward(NonNull<CoroLink>),
}

// SAFETY: the links a request points at live in the `Pull` whose caller is
// suspended in the switch; the coroutine protocol keeps them alive until the
// M that receives the request has served it (see the module doc).
unsafe impl Send for Req {}

/// The meeting point of a coroutine and its caller.
#[derive(Debug, Default)]
pub(crate) struct CoroLink {
    coro: UnsafeCell<Option<TaskRef>>,
    caller: UnsafeCell<Option<TaskRef>>,
}

// SAFETY: see the module doc: the cells are touched by one side at a time, and
// every hand-over between threads passes through the run queues, the park
// word or `Pull`'s guard (release/acquire).
unsafe impl Sync for CoroLink {}
// SAFETY: as above.
unsafe impl Send for CoroLink {}

impl CoroLink {
    #[inline(always)]
    pub(crate) fn take_coro(&self) -> TaskRef {
        // SAFETY: exclusive access (module doc).
        match self.coro.with_mut(|p| unsafe { (*p).take() }) {
            Some(t) => t,
            None => crate::fatal("coroutine switch to a coroutine that is running or finished"),
        }
    }

    #[inline(always)]
    pub(crate) fn set_coro(&self, t: TaskRef) {
        // SAFETY: exclusive access (module doc).
        if let Some(old) = self.coro.with_mut(|p| unsafe { (*p).replace(t) }) {
            // Never dropped here: the hot switch path carries no reference
            // count decrement, and the process is going down anyway.
            std::mem::forget(old);
            crate::fatal("coroutine link already holds a coroutine");
        }
    }

    #[inline(always)]
    pub(crate) fn take_caller(&self) -> TaskRef {
        // SAFETY: exclusive access (module doc).
        match self.caller.with_mut(|p| unsafe { (*p).take() }) {
            Some(t) => t,
            None => crate::fatal("coroutine switch back with no caller waiting"),
        }
    }

    #[inline(always)]
    pub(crate) fn set_caller(&self, t: TaskRef) {
        // SAFETY: exclusive access (module doc).
        self.caller.with_mut(|p| unsafe { *p = Some(t) });
    }

    /// Takes the coroutine out, if it has not exited.
    pub(crate) fn take_coro_if_any(&self) -> Option<TaskRef> {
        // SAFETY: called by the `Pull` owner when no switch is in progress.
        self.coro.with_mut(|p| unsafe { (*p).take() })
    }

    /// Whether the coroutine goroutine still exists (not yet exited).
    pub(crate) fn coro_alive(&self) -> bool {
        // SAFETY: called by the caller side between switches (module doc).
        self.coro.with(|p| unsafe { (*p).is_some() })
    }
}
