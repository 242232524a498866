//! The per-thread "current worker" pointer.
//!
//! Goroutines migrate between threads, and LLVM may keep a thread-local's
//! address in a register across a call that switches stacks. Every access to
//! the thread-local therefore goes through an `#[inline(never)]` function, so
//! each read computes the address afresh on the thread running right now.

use super::worker::Worker;
use std::cell::Cell;

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
