//! The only user of corosensei: a goroutine's stackful coroutine.
//!
//! ```text
//!   M (worker thread) stack              goroutine stack (PooledStack)
//!  +--------------------------+        +------------------------------+ base
//!  | worker loop              |        | root: catch_unwind(body)     |
//!  |   Coro::resume(Resume) --+------->|   user code ...              |
//!  |                          |<-------+-- suspend(Req) (park, yield, |
//!  |   handle Req             |        |     switch, syscall exit)    |
//!  +--------------------------+        +------------------------------+ limit
//!                                       | guard page                   |
//!                                       +------------------------------+
//! ```
//!
//! Every goroutine's parent is the worker loop of whichever M resumes it; a
//! goroutine never resumes another one directly. A request (`Req`) tells the
//! loop what to do next, including the coroutine hand-off of `pull()`.
//!
//! Cancellation: a parked goroutine that must be freed (runtime shutdown) is
//! resumed with [`Resume::Cancel`]; its park point unwinds with a private
//! payload that the root recognises, so destructors run and the stack goes
//! back to the pool.

pub(crate) mod overflow;
pub(crate) mod stack;

use corosensei::{Coroutine, CoroutineResult, Yielder};
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;

pub(crate) use stack::{PooledStack, StackPool};

use crate::coroutine::CoroLink;

/// What a suspended goroutine asks its M to do.
#[derive(Debug)]
pub(crate) enum Req {
    /// Stay runnable; go to the back of the global queue (Go's Gosched).
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
    /// and its request from `Worker::forwarded`.
    Forward(NonNull<CoroLink>),
}

/// How a goroutine is resumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resume {
    /// Keep running.
    Run,
    /// Unwind and finish (runtime shutdown).
    Cancel,
}

/// The unwinding payload of a cancelled goroutine.
pub(crate) struct Cancelled;

type Inner = Coroutine<Resume, Req, (), PooledStack>;

/// A goroutine's coroutine.
pub(crate) struct Coro {
    inner: Inner,
}

// SAFETY: corosensei's `Coroutine` is `!Send` because a suspended stack may
// hold thread-affine values. A `Coro` is sound to move between Ms because:
// 1. its body is `F: Send + 'static`, and `Resume`/`Req` carry only `Send`
//    data or pointers whose targets are kept alive and handed over by the
//    coroutine protocol (see `coroutine.rs`);
// 2. a suspended `Coro` moves between Ms only through the run queues, the
//    park/unpark state word or the coroutine hand-off, all of which pair a
//    release with an acquire, so values confined to the goroutine (an `Rc`
//    that never leaves it) are never touched by two threads at once;
// 3. the residual hazard, thread-affine state held across a suspension point
//    (a thread-local reference, a std lock guard), is a documented user rule
//    on `gort::go`, and the runtime itself reads its per-thread state only
//    through `#[inline(never)]` accessors (`sched::context`).
unsafe impl Send for Coro {}

impl std::fmt::Debug for Coro {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coro")
            .field("started", &self.inner.started())
            .field("done", &self.inner.done())
            .finish()
    }
}

/// The yielder of a running goroutine, as stored in its task.
pub(crate) type YielderPtr = *const Yielder<Resume, Req>;

impl Coro {
    /// Creates a coroutine on `stack` that, when first resumed, publishes its
    /// yielder through `set_yielder` and runs `body`.
    ///
    /// `body` runs under `catch_unwind`; a panic payload is returned to it for
    /// delivery (to a joiner or a `next()` caller). A cancellation unwinds
    /// through it and ends the coroutine quietly.
    pub(crate) fn new<F>(
        stack: PooledStack,
        set_yielder: impl FnOnce(YielderPtr) + Send + 'static,
        body: F,
    ) -> Coro
    where
        F: FnOnce(Resume) + Send + 'static,
    {
        let inner = Coroutine::with_stack(stack, move |y: &Yielder<Resume, Req>, first: Resume| {
            set_yielder(y as *const _);
            if first == Resume::Cancel {
                // Cancelled before it ever ran: finish without running `body`.
                return;
            }
            // The body handles its own panics; only a cancellation reaches here.
            let r = panic::catch_unwind(AssertUnwindSafe(|| body(first)));
            if let Err(payload) = r {
                if !payload.is::<Cancelled>() {
                    // A panic escaped the body's own handler: that is a bug in
                    // the runtime, not in user code.
                    crate::fatal("a goroutine's root caught an unexpected panic");
                }
            }
        });
        Coro { inner }
    }

    /// Runs the coroutine until it suspends (`Some(req)`) or finishes (`None`).
    #[inline]
    pub(crate) fn resume(&mut self, how: Resume) -> Option<Req> {
        match self.inner.resume(how) {
            CoroutineResult::Yield(req) => Some(req),
            CoroutineResult::Return(()) => None,
        }
    }

    /// Whether the coroutine finished.
    pub(crate) fn done(&self) -> bool {
        self.inner.done()
    }

    /// The stack of a finished (or never started) coroutine, for reuse.
    pub(crate) fn into_stack(self) -> PooledStack {
        self.inner.into_stack()
    }
}

/// Suspends the running goroutine with `req` and returns how it was resumed.
///
/// # Safety
/// `y` must be the yielder of the goroutine running on this thread right now.
#[inline]
pub(crate) unsafe fn suspend(y: YielderPtr, req: Req) -> Resume {
    debug_assert!(
        !std::thread::panicking(),
        "a goroutine suspended while panicking"
    );
    // SAFETY: the caller guarantees `y` belongs to the running coroutine; a
    // yielder lives at a fixed address on that coroutine's stack for its
    // whole life, so the pointer is valid here even after migrations.
    let y = unsafe { &*y };
    y.suspend(req)
}
