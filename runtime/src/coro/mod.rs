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
//! Every goroutine's parent is the worker loop of whichever M resumes it (or,
//! on the direct switch of `pull()`, the goroutine that resumes it nested).
//! A suspension hands its resumer a request `R`, which this layer does not
//! interpret: the goroutine layer defines what a goroutine can ask of its M
//! (`task::Req`).
//!
//! Cancellation: a parked goroutine that must be freed (runtime shutdown) is
//! resumed with [`Resume::Cancel`]; its park point unwinds with a private
//! payload that the root recognises, so destructors run and the stack goes
//! back to the pool.
//!
//! Every switch goes through [`Coro::resume`] and [`suspend`], which announce it to
//! AddressSanitizer in sanitized builds and are plain corosensei calls otherwise
//! ([`sanitizer`]).

pub(crate) mod overflow;
pub(crate) mod release;
mod sanitizer;
pub(crate) mod stack;

use corosensei::{Coroutine, CoroutineResult, Yielder};
use std::panic::{self, AssertUnwindSafe};

pub(crate) use stack::{PooledStack, StackPool};

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

/// A goroutine's coroutine, whose suspensions hand out requests `R`.
pub(crate) struct Coro<R> {
    inner: Coroutine<Resume, R, (), PooledStack>,
    /// The stack's bounds, for the sanitizer (empty in unsanitized builds).
    bounds: sanitizer::Bounds,
    /// The live top of the stack while it is released (see [`release`]).
    saved: Option<release::SavedTop>,
    /// The stack's slot: its lowest address and one past its end.
    slot: (usize, usize),
}

// SAFETY: corosensei's `Coroutine` is `!Send` because a suspended stack may
// hold thread-affine values. A `Coro` is sound to move between Ms because:
// 1. its body is `F: Send + 'static`, `Resume` is plain data and the
//    request type `R` is `Send` (the goroutine layer's `Req` carries
//    pointers whose targets the coroutine protocol keeps alive and hands
//    over, see `task::link`);
// 2. a suspended `Coro` moves between Ms only through the run queues, the
//    park/unpark state word or the coroutine hand-off, all of which pair a
//    release with an acquire, so values confined to the goroutine (an `Rc`
//    that never leaves it) are never touched by two threads at once;
// 3. the residual hazard, thread-affine state held across a suspension point
//    (a thread-local reference, a std lock guard), is a documented user rule
//    on `gort::go`, and the runtime itself reads its per-thread state only
//    through `#[inline(never)]` accessors (`sched::context`).
unsafe impl<R: Send> Send for Coro<R> {}

impl<R> std::fmt::Debug for Coro<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coro")
            .field("started", &self.inner.started())
            .field("done", &self.inner.done())
            .finish()
    }
}

/// The yielder of a running goroutine, as stored in its task (with the sanitizer's
/// record of the stack it suspends to, in sanitized builds).
pub(crate) type YielderPtr<R> = *const sanitizer::Fiber<R>;

impl<R: 'static> Coro<R> {
    /// Creates a coroutine on `stack` that, when first resumed, publishes its
    /// yielder through `set_yielder` and runs `body`.
    ///
    /// `body` runs under `catch_unwind`; a panic payload is returned to it for
    /// delivery (to a joiner or a `next()` caller). A cancellation unwinds
    /// through it and ends the coroutine quietly.
    pub(crate) fn new<F>(
        stack: PooledStack,
        set_yielder: impl FnOnce(YielderPtr<R>) + Send + 'static,
        body: F,
    ) -> Coro<R>
    where
        F: FnOnce(Resume) + Send + 'static,
    {
        sanitizer::unpoison(&stack);
        let bounds = sanitizer::Bounds::of(&stack);
        let slot = (stack.limit_addr(), stack.slot_end());
        let inner = Coroutine::with_stack(stack, move |y: &Yielder<Resume, R>, first: Resume| {
            sanitizer::run_root(y, move |y| {
                set_yielder(y);
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
            })
        });
        Coro {
            inner,
            bounds,
            saved: None,
            slot,
        }
    }

    /// Runs the coroutine until it suspends (`Some(req)`) or finishes (`None`).
    #[inline]
    pub(crate) fn resume(&mut self, how: Resume) -> Option<R> {
        if self.saved.is_some() {
            self.restore();
        }
        // SAFETY: the resume below switches to this coroutine's stack and returns here,
        // where `arrive` runs first.
        let leaving = unsafe { sanitizer::leave(self.bounds) };
        let r = self.inner.resume(how);
        // SAFETY: the coroutine suspended or finished: we are back on our own stack.
        let _ = unsafe { sanitizer::arrive(leaving) };
        match r {
            CoroutineResult::Yield(req) => Some(req),
            CoroutineResult::Return(()) => None,
        }
    }

    /// Whether the coroutine finished.
    pub(crate) fn done(&self) -> bool {
        self.inner.done()
    }

    /// The stack of a finished (or never started) coroutine, for reuse.
    pub(crate) fn into_stack(mut self) -> PooledStack {
        // A released stack goes back whole (its live part is dead now, but
        // the slot's header is the pool's).
        self.restore();
        self.inner.into_stack()
    }
}

/// Suspends the running goroutine with `req` and returns how it was resumed.
///
/// # Safety
/// `y` must be the yielder of the goroutine running on this thread right now.
#[inline]
pub(crate) unsafe fn suspend<R>(y: YielderPtr<R>, req: R) -> Resume {
    debug_assert!(
        !std::thread::panicking(),
        "a goroutine suspended while panicking"
    );
    // SAFETY: `y` belongs to the running coroutine (caller's guarantee); its
    // target lives at a fixed address on that coroutine's stack for its whole
    // life, so the pointer is valid here even after migrations.
    unsafe { sanitizer::suspend(&*y, req) }
}
