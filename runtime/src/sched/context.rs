//! The per-thread "current worker" pointer, and [`Running`], the one handle
//! for "the goroutine running this code, and its M".
//!
//! Goroutines migrate between threads, and LLVM may keep a thread-local's
//! address in a register across a call that switches stacks. Every access to
//! the thread-local therefore goes through an `#[inline(never)]` function, so
//! each read computes the address afresh on the thread running right now.
//!
//! A goroutine that suspends may resume on another M, so what it learnt
//! about "its M" before the suspension is stale after it: the `Cell`s of a
//! `Worker` belong to that worker's thread. [`Running`] makes the compiler
//! enforce this: it lends the M and the goroutine only while the handle is
//! borrowed, and the operation that switches away ([`Running::suspend`])
//! takes the handle by value, so a reference obtained from it cannot be used
//! after the switch. Code that must keep the M across a switch it performs
//! itself (the direct coroutine switch, which resumes on the same thread)
//! takes raw references through an `unsafe fn` that states why.

pub(crate) use super::worker::current_worker;
use super::worker::Worker;
use crate::coro::{self, Resume};
use crate::task::Req;
use crate::task::{Task, TaskRef};
use std::marker::PhantomData;
use std::ptr::NonNull;

/// The goroutine running this code and the M running it, for one
/// scheduling step: valid until the goroutine next suspends.
///
/// Not `Send`, not `Clone`: obtained on the goroutine's thread with
/// [`Running::get`], used there, and consumed by [`Running::suspend`].
/// Take it where it is needed rather than passing it down through calls
/// that may block.
#[derive(Debug)]
pub(crate) struct Running {
    m: NonNull<Worker>,
    g: NonNull<Task>,
    _not_send: PhantomData<*const ()>,
}

impl Running {
    /// The running goroutine, or `None` on a plain thread or in an M's
    /// scheduling loop.
    #[inline(always)]
    pub(crate) fn get() -> Option<Running> {
        let m = NonNull::new(current_worker().cast_mut())?;
        // SAFETY: a non-null current worker is alive for as long as its
        // thread runs its loop, which includes all goroutine code on it.
        let g = NonNull::new(unsafe { m.as_ref() }.cur.get().cast_mut())?;
        Some(Running {
            m,
            g,
            _not_send: PhantomData,
        })
    }

    /// The M running the goroutine.
    #[inline(always)]
    pub(crate) fn m(&self) -> &Worker {
        // SAFETY: the worker outlives the step (see `get`); the handle is
        // not `Send` and is consumed by the switch that would end the step.
        unsafe { self.m.as_ref() }
    }

    /// The running goroutine.
    #[inline(always)]
    pub(crate) fn g(&self) -> &Task {
        // SAFETY: `cur` is kept alive by the M's loop while the goroutine
        // runs, which is the whole life of the handle (see `m`).
        unsafe { self.g.as_ref() }
    }

    /// A new strong reference to the running goroutine (to keep it past
    /// the step: a waiter list, a join slot).
    #[inline]
    pub(crate) fn task_ref(&self) -> TaskRef {
        // `g` came from the `TaskRef` the M's loop holds for the running
        // goroutine (`Worker::cur` is set from `&*t`).
        // SAFETY: so it points to a live task cell (`TaskRef::as_ptr`); we add
        // one strong count and take ownership of exactly that count.
        unsafe {
            TaskRef::increment_strong_count(self.g.as_ptr());
            TaskRef::from_raw(self.g.as_ptr())
        }
    }

    /// Whether the goroutine is inside `gort::syscall` (its M may have lost
    /// its P meanwhile).
    #[inline(always)]
    pub(crate) fn in_syscall(&self) -> bool {
        self.m().in_syscall.get()
    }

    /// Records the call site of the blocking call under way, for its trace
    /// event.
    #[inline(always)]
    pub(crate) fn set_block_site(&self, loc: &'static std::panic::Location<'static>) {
        // SAFETY: the running goroutine itself (this handle) is the owner.
        unsafe { self.g().block_site.with_mut(|p| *p = Some(loc)) }
    }

    /// Runs `f` on the list of `tracing` spans the goroutine is inside.
    #[cfg(feature = "tracing")]
    pub(crate) fn with_spans<R>(&self, f: impl FnOnce(&mut Vec<u64>) -> R) -> R {
        // SAFETY: the running goroutine (this handle) is the owner.
        unsafe { self.g().spans.with_mut(f) }
    }

    /// Changes the goroutine's `lock_os_thread` depth by `delta` (not below
    /// 0) and returns the new depth.
    #[inline]
    pub(crate) fn wire_depth_add(&self, delta: i32) -> u32 {
        // SAFETY: the running goroutine itself (this handle) is the owner.
        unsafe {
            self.g().lock_depth.with_mut(|d| {
                *d = d.saturating_add_signed(delta);
                *d
            })
        }
    }

    /// Suspends the goroutine with `req` for its M to serve; returns how it
    /// was resumed, possibly on another M. Consumes the handle: take a new
    /// one after the switch.
    #[inline(always)]
    pub(crate) fn suspend(self, req: Req) -> Resume {
        #[cfg(feature = "tracing")]
        let spans = crate::task::spans::hooks().map(|h| (h, self.g));
        #[cfg(feature = "tracing")]
        if let Some((h, g)) = spans {
            // SAFETY: the running goroutine (this handle's) owns its span
            // list; the task outlives its own suspension.
            unsafe {
                g.as_ref().spans.with_mut(|v| {
                    if !v.is_empty() {
                        (h.leave)(v)
                    }
                })
            };
        }
        // SAFETY: the handle was made on this thread for the goroutine that
        // runs here (it is not `Send`), so its yielder is the running one.
        let r = unsafe { coro::suspend(self.g().yielder(), req) };
        #[cfg(feature = "tracing")]
        if let Some((h, g)) = spans {
            // SAFETY: as above, now on the thread it resumed on.
            unsafe {
                g.as_ref().spans.with_mut(|v| {
                    if !v.is_empty() {
                        (h.resume)(v)
                    }
                })
            };
        }
        r
    }

    /// [`suspend`](Self::suspend), unwinding the goroutine if the runtime
    /// cancels it meanwhile (shutdown).
    #[inline(always)]
    pub(crate) fn suspend_or_unwind(self, req: Req) {
        if self.suspend(req) == Resume::Cancel {
            std::panic::resume_unwind(Box::new(coro::Cancelled));
        }
    }
}

/// Records the caller of a blocking call in the running goroutine, for the
/// trace event its block writes. Costs one atomic load (a plain `mov` on
/// x86-64) while tracing is off; callable from any thread.
#[inline(always)]
pub(crate) fn note_site(loc: &'static std::panic::Location<'static>) {
    // The atomic read: this may run on a plain thread or inside a syscall,
    // which the trace gate does not hold back.
    if crate::hooks::enabled_anywhere() {
        if let Some(r) = Running::get() {
            r.set_block_site(loc);
        }
    }
}
