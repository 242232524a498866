//! Coroutine switches announced to AddressSanitizer.
//!
//! ASan keeps, per thread, the bounds of the stack that thread runs on and a "fake stack"
//! (with `detect_stack_use_after_return=1`, frames that have addressable locals live there,
//! so a pointer into a returned frame can be caught). A coroutine switch changes both behind
//! its back: without being told, ASan takes a goroutine stack for part of the thread's,
//! refuses to unpoison it when a panic unwinds (`__asan_handle_no_return` sees a "stack" of
//! gigabytes, google/sanitizers#189) and then reports false errors, or crashes, in code that
//! later reuses that memory. So every switch is announced, as seastar, folly and
//! boost.context do:
//!
//! ```text
//!   leaving side                               arriving side (on the other stack)
//!   __sanitizer_start_switch_fiber(            __sanitizer_finish_switch_fiber(
//!       &my_fake_stack,                             its_saved_fake_stack,
//!       destination bottom, size)                   &bottom_left, &size_left)
//!   ...the stack switch...
//! ```
//!
//! In gort every switch is a corosensei `resume` (into a coroutine) or `suspend` (out of
//! it to whoever resumed it), so announcing those two in this layer covers them all: the
//! M loop resuming a goroutine and the goroutine suspending to it; the direct `pull()`
//! switch (a goroutine resuming a coroutine nested on its own stack); forwarding (a
//! coroutine first resumed by its caller, later by the M loop: its parent's bounds are
//! read anew at every arrival); the resume with `Resume::Cancel` that unwinds a goroutine
//! at shutdown or when the last reference goes; and the last switch out of a finished
//! coroutine, which passes a null fake-stack slot so that ASan frees the coroutine's fake
//! stack. A wired goroutine's thread exits only from the M loop, on the thread's own stack
//! after the last switch back to it, so ASan's thread teardown finds the thread's own
//! bounds and fake stack.
//!
//! [`Bounds`] are a stack's bottom and size; [`Leaving`] carries the leaving side's fake
//! stack across the switch; [`Fiber`] is what a running coroutine's yielder pointer points
//! at: in sanitized builds a record on the coroutine's root frame holding the corosensei
//! yielder and the bounds of the stack to suspend to (the resumer's, learned at arrival).
//!
//! # Which builds
//!
//! The annotations are compiled in under `cfg(gort_asan)`, which `runtime/build.rs` sets
//! exactly when the target is built with `-Zsanitizer=address` (cargo reports that to build
//! scripts as `CARGO_CFG_SANITIZE`), so the run that enables the sanitizer also enables the
//! annotations and nothing else needs setting. In every other build, [`Bounds`] and
//! [`Leaving`] are empty, [`Fiber`] is corosensei's `Yielder` itself and every function here
//! is an empty `#[inline(always)]` one: the switch path compiles to the same instructions
//! as without this module (`scripts/switch-disasm` counts them).
//!
//! Coroutine stacks are also unpoisoned before a new coroutine starts on a pooled stack,
//! since a previous coroutine's redzones may still be marked there.
//!
//! # ThreadSanitizer
//!
//! TSan models each stack as a fiber with its own happens-before clock and shadow call
//! stack; it needs the same switch points, with a different protocol:
//! `__tsan_create_fiber(0)` when a coroutine is created (keeping the handle beside the
//! coroutine, `__tsan_destroy_fiber` when it is freed), `__tsan_get_current_fiber()` for the
//! thread's own (M loop's) fiber, and `__tsan_switch_to_fiber(to, 0)` immediately before
//! every stack switch in both directions (flag 0 makes the switch a synchronisation, which
//! matches the runtime's hand-offs; `__tsan_switch_to_fiber_no_sync` would check them
//! instead). Unlike ASan's, the call happens only on the leaving side and needs the
//! destination's handle rather than its bounds, so the `Fiber` record would hold the
//! parent's fiber handle and `Coro` its own. What blocks it here is not the annotations:
//! TSan needs every crate, std included, built with `-Zsanitizer=thread`, i.e.
//! `-Zbuild-std` and the `rust-src` component, which these machines cannot install. Run as
//! `RUSTFLAGS=-Zsanitizer=thread cargo +nightly test -Zbuild-std --target
//! x86_64-unknown-linux-gnu`, it would check the runtime's orderings, among them the
//! tracer's plain enabled flag (which relies on the trace gate and a `membarrier`, not on
//! atomics TSan sees: that read would need a TSan annotation or an allowance of its own).

use corosensei::stack::Stack;
use corosensei::Yielder;

use super::Resume;

#[cfg(gort_asan)]
mod ffi {
    use std::ffi::c_void;

    extern "C" {
        /// Announces a switch to the stack `[bottom, bottom + size)`; saves the leaving
        /// stack's fake stack in `*fake_stack_save`, or frees it when that is null.
        pub(super) fn __sanitizer_start_switch_fiber(
            fake_stack_save: *mut *mut c_void,
            bottom: *const c_void,
            size: usize,
        );
        /// Completes a switch on the arriving stack: reinstates `fake_stack_save` (null: a
        /// stack that never ran) and reports the bounds of the stack left.
        pub(super) fn __sanitizer_finish_switch_fiber(
            fake_stack_save: *mut c_void,
            bottom_old: *mut *const c_void,
            size_old: *mut usize,
        );
        /// Marks `[addr, addr + size)` addressable.
        pub(super) fn __asan_unpoison_memory_region(addr: *const c_void, size: usize);
    }
}

/// A stack's bounds as ASan needs them (empty in unsanitized builds).
#[derive(Clone, Copy, Debug)]
pub(super) struct Bounds {
    #[cfg(gort_asan)]
    bottom: *const std::ffi::c_void,
    #[cfg(gort_asan)]
    size: usize,
}

// SAFETY: the bounds are two plain numbers describing memory; nothing is accessed through
// `bottom` except by the sanitizer runtime during a switch to that stack.
unsafe impl Send for Bounds {}

impl Bounds {
    /// The usable part of `stack`: from its limit (lowest address) to its base.
    #[inline(always)]
    pub(super) fn of(stack: &impl Stack) -> Bounds {
        #[cfg(not(gort_asan))]
        let _ = stack;
        Bounds {
            #[cfg(gort_asan)]
            bottom: stack.limit().get() as *const std::ffi::c_void,
            #[cfg(gort_asan)]
            size: stack.base().get() - stack.limit().get(),
        }
    }
}

/// A switch in progress: the leaving side's fake stack, to reinstate when control comes
/// back to this side (empty in unsanitized builds).
#[must_use = "a started switch is finished with `arrive`"]
#[derive(Debug)]
pub(super) struct Leaving {
    #[cfg(gort_asan)]
    fake_stack: *mut std::ffi::c_void,
}

/// What a running coroutine's yielder pointer points at.
#[cfg(not(gort_asan))]
pub(crate) type Fiber<R> = Yielder<Resume, R>;

/// What a running coroutine's yielder pointer points at: its yielder, and the bounds of
/// the stack that last resumed it, where a suspension goes back to. It lives on the
/// coroutine's root frame, at a fixed address for the coroutine's whole life.
#[cfg(gort_asan)]
pub(crate) struct Fiber<R> {
    yielder: *const Yielder<Resume, R>,
    parent: std::cell::Cell<Bounds>,
}

/// Announces a switch from the running stack to `to`, keeping this stack's fake stack.
///
/// # Safety
/// A stack switch to `to` must follow, and [`arrive`] must run first thing when control
/// comes back to this stack.
#[inline(always)]
pub(super) unsafe fn leave(to: Bounds) -> Leaving {
    #[cfg(not(gort_asan))]
    let _ = to;
    #[cfg(gort_asan)]
    let mut fake_stack = std::ptr::null_mut();
    // SAFETY: `fake_stack` is a valid place to write the handle to; the caller guarantees
    // that the announced switch happens and is finished on this side.
    #[cfg(gort_asan)]
    unsafe {
        ffi::__sanitizer_start_switch_fiber(&mut fake_stack, to.bottom, to.size)
    };
    Leaving {
        #[cfg(gort_asan)]
        fake_stack,
    }
}

/// Completes a switch back to this stack, started here by [`leave`]; returns the bounds
/// of the stack that switched here.
///
/// # Safety
/// Control just came back to the stack that called [`leave`] for `l`.
#[inline(always)]
pub(super) unsafe fn arrive(l: Leaving) -> Bounds {
    #[cfg(not(gort_asan))]
    let _ = l;
    #[cfg(gort_asan)]
    let (mut bottom, mut size) = (std::ptr::null(), 0);
    // SAFETY: a switch announced by the stack we left is in progress (caller), and
    // `l.fake_stack` is this stack's own handle saved by `leave`.
    #[cfg(gort_asan)]
    unsafe {
        ffi::__sanitizer_finish_switch_fiber(l.fake_stack, &mut bottom, &mut size)
    };
    Bounds {
        #[cfg(gort_asan)]
        bottom,
        #[cfg(gort_asan)]
        size,
    }
}

/// Suspends the coroutine of `fiber` with `req`, announcing the switch to its parent and
/// the switch back.
///
/// # Safety
/// `fiber` belongs to the coroutine running on this thread right now.
#[inline(always)]
pub(super) unsafe fn suspend<R>(fiber: &Fiber<R>, req: R) -> Resume {
    #[cfg(not(gort_asan))]
    return fiber.suspend(req);
    #[cfg(gort_asan)]
    {
        // SAFETY: the suspension below switches to the parent whose bounds arrival
        // recorded, and comes back here.
        let leaving = unsafe { leave(fiber.parent.get()) };
        // SAFETY: the yielder lives on the coroutine's stack as long as the coroutine,
        // and `fiber` (on the same stack, made by `run_root`) does not outlive it.
        let how = unsafe { &*fiber.yielder }.suspend(req);
        // SAFETY: resumed: control is back on this coroutine's stack. The parent may be
        // another one now (another M's loop, or a caller after a forward).
        fiber.parent.set(unsafe { arrive(leaving) });
        how
    }
}

/// Runs a coroutine's root on its first arrival: `root` gets the pointer the coroutine
/// publishes as its yielder. Called first thing in the closure corosensei starts.
///
/// In sanitized builds this completes the resumer's switch (the coroutine has no fake
/// stack yet: ASan makes one on first use), and after `root` returns it announces the last
/// switch out with a null fake-stack slot, which frees the coroutine's fake stack. The
/// frames of this function and its callers on the coroutine stack were made before the
/// switch completed, when ASan keeps frames on the real stack, so none of them is on the
/// fake stack freed here.
#[inline(always)]
pub(super) fn run_root<R>(y: &Yielder<Resume, R>, root: impl FnOnce(*const Fiber<R>)) {
    #[cfg(not(gort_asan))]
    root(y);
    #[cfg(gort_asan)]
    {
        // SAFETY: the resumer announced this switch in `Coro::resume`; this stack never
        // ran before, so it has no fake stack to reinstate.
        let parent = unsafe { arrive(first_arrival()) };
        let fiber = Fiber {
            yielder: y,
            parent: std::cell::Cell::new(parent),
        };
        root(&fiber);
        // SAFETY: `root` returned, so the coroutine switches out for good right after this
        // closure ends and never comes back. No frame left on this stack lives on its fake
        // stack (see above).
        unsafe { depart(fiber.parent.get()) };
    }
}

/// A switch into a stack that never ran: nothing to reinstate on arrival.
#[cfg(any(gort_asan, test))]
#[inline(always)]
fn first_arrival() -> Leaving {
    Leaving {
        #[cfg(gort_asan)]
        fake_stack: std::ptr::null_mut(),
    }
}

/// Announces the last switch out of the running coroutine, to `to`: ASan frees the
/// coroutine's fake stack.
///
/// # Safety
/// The coroutine's last switch, to `to`, follows, and no frame that is still to run lives
/// on the coroutine's fake stack.
#[cfg(any(gort_asan, test))]
#[inline(always)]
unsafe fn depart(to: Bounds) {
    #[cfg(not(gort_asan))]
    let _ = to;
    // SAFETY: guaranteed by the caller; a null save slot asks ASan to free the fake stack.
    #[cfg(gort_asan)]
    unsafe {
        ffi::__sanitizer_start_switch_fiber(std::ptr::null_mut(), to.bottom, to.size)
    };
}

/// Runs `f` to its end on a plain corosensei coroutine on `stack`, with both switches
/// announced as [`Coro`](super::Coro) announces them; returns what `f` returned and the
/// stack. For tests of the stack layer, whose coroutines are not `Coro`s: a panic that
/// unwinds on an unannounced stack makes ASan warn and stop unpoisoning.
#[cfg(test)]
pub(super) fn run_to_end<S: Stack + 'static, T: 'static>(
    stack: S,
    f: impl FnOnce() -> T + 'static,
) -> (T, S) {
    let bounds = Bounds::of(&stack);
    let mut co = corosensei::Coroutine::<(), (), T, S>::with_stack(stack, move |_, ()| {
        // SAFETY: the resume below announced this switch; this stack never ran.
        let parent = unsafe { arrive(first_arrival()) };
        let r = f();
        // SAFETY: the coroutine returns right after this, never to run again; the frames
        // still to run (this closure's epilogue, corosensei's) were made on first arrival,
        // before the switch completed, so they are on the real stack.
        unsafe { depart(parent) };
        r
    });
    // SAFETY: the resume below switches to the coroutine's stack and back here.
    let leaving = unsafe { leave(bounds) };
    let r = co.resume(());
    // SAFETY: the coroutine returned: we are back on our own stack.
    let _ = unsafe { arrive(leaving) };
    match r {
        corosensei::CoroutineResult::Return(v) => (v, co.into_stack()),
        corosensei::CoroutineResult::Yield(()) => unreachable!("the coroutine never yields"),
    }
}

/// Marks a stack that no coroutine runs on as addressable, clearing whatever a previous
/// coroutine's frames left poisoned on it.
#[inline(always)]
pub(super) fn unpoison(stack: &impl Stack) {
    #[cfg(not(gort_asan))]
    let _ = stack;
    #[cfg(gort_asan)]
    {
        let b = Bounds::of(stack);
        // SAFETY: the range is the stack's own mapped memory and nothing runs on it.
        unsafe { ffi::__asan_unpoison_memory_region(b.bottom, b.size) };
    }
}
