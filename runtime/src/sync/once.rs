//! `Once`: run an initialisation exactly once; later callers park until it
//! has finished.
//!
//! State word:
//!
//! ```text
//!   NEW      nobody has called `call_once`
//!   RUNNING  the first caller is running its closure; others queue and park
//!   DONE     finished (normally or by panicking); `call_once` is one load
//! ```
//!
//! The runner moves RUNNING -> DONE and takes the queue under the queue
//! lock; a waiter checks the state and queues itself under the same lock,
//! so no wake-up is lost.
//!
//! A closure that panics counts as done, as in Go's `sync.Once`: the panic
//! propagates to the caller that ran it, the waiters are released, and no
//! later call runs a closure. (Rust's `std::sync::Once` instead poisons and
//! panics in every later caller; Go code ported to gort expects Go's rule.)
#![deny(unsafe_code)]

use crate::loom::sync::atomic::{AtomicU8, Ordering::*};
use crate::sched::park::{self, Waiter};
use crate::task::WaitReason;
use std::fmt;
use std::panic::Location;

const NEW: u8 = 0;
const RUNNING: u8 = 1;
const DONE: u8 = 2;

/// Go's `sync.Once`: [`call_once`](Once::call_once) runs its closure the
/// first time only. Callers that arrive while the first one runs park (a
/// goroutine's thread runs other goroutines meanwhile; a plain thread
/// sleeps) and return once it has finished, so every caller sees the
/// closure's effects.
///
/// If the closure panics, the `Once` is still done (Go's semantics, unlike
/// `std::sync::Once`, which poisons): the panic reaches the caller that ran
/// it, the parked callers return normally, and later calls do nothing.
///
/// Calling `call_once` on the same `Once` from inside its own closure
/// deadlocks, as in Go.
///
/// ```
/// use gort_runtime::sync::Once;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// static INIT: Once = Once::new();
/// static RUNS: AtomicU32 = AtomicU32::new(0);
/// gort_runtime::run(|| {
///     let hs: Vec<_> = (0..4)
///         .map(|_| gort_runtime::go(|| INIT.call_once(|| { RUNS.fetch_add(1, Ordering::SeqCst); })))
///         .collect();
///     hs.into_iter().for_each(|h| h.join().unwrap());
///     assert_eq!(RUNS.load(Ordering::SeqCst), 1);
///     assert!(INIT.is_completed());
/// });
/// ```
pub struct Once {
    state: AtomicU8,
    waiters: parking_lot::Mutex<Vec<Waiter>>,
}

impl Once {
    /// A `Once` whose closure has not run yet.
    pub const fn new() -> Once {
        Once {
            state: AtomicU8::new(NEW),
            waiters: parking_lot::Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` if no call has run a closure on this `Once` yet; otherwise
    /// parks until the first call's closure has finished, then returns
    /// without running `f`.
    ///
    /// # Panics
    /// Re-raises the panic of `f` if `f` runs and panics; the `Once` then
    /// counts as completed.
    #[inline]
    #[track_caller]
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        // Acquire: pairs with the Release in `Finish::drop`, so the caller
        // sees everything the closure did.
        if self.state.load(Acquire) != DONE {
            self.call_slow(f, Location::caller());
        }
    }

    /// Whether a closure has finished running on this `Once` (returned or
    /// panicked).
    pub fn is_completed(&self) -> bool {
        self.state.load(Acquire) == DONE
    }

    #[cold]
    fn call_slow<F: FnOnce()>(&self, f: F, site: &'static Location<'static>) {
        {
            let mut ws = self.waiters.lock();
            match self.state.load(Acquire) {
                DONE => return,
                NEW => {
                    self.state.store(RUNNING, Relaxed);
                    drop(ws);
                    // Marks DONE and wakes the waiters even if `f` unwinds.
                    let _finish = Finish(self);
                    f();
                    return;
                }
                _ => ws.push(Waiter::current()),
            }
        }
        loop {
            crate::sched::context::note_site(site);
            park::park_at(WaitReason::MutexLock, site);
            // Re-check: a stale wake-up token can end a park early.
            if self.state.load(Acquire) == DONE {
                return;
            }
        }
    }
}

/// Completes a [`Once`] when the running closure returns or unwinds.
struct Finish<'a>(&'a Once);

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        let ws = {
            let mut ws = self.0.waiters.lock();
            // Release: publishes the closure's effects to every later load.
            self.0.state.store(DONE, Release);
            std::mem::take(&mut *ws)
        };
        for w in ws {
            w.wake();
        }
    }
}

impl Default for Once {
    fn default() -> Self {
        Once::new()
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once")
            .field("completed", &self.is_completed())
            .finish_non_exhaustive()
    }
}
