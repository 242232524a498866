//! `pull()`: turns a push iterator into a pull iterator (Go's `iter.Pull`).
//!
//! The sequence runs on its own coroutine goroutine; `next()` is a direct
//! coroutine switch to it and `yield` a switch back (`crate::coroutine`).
//!
//! State word (`Pull::state`):
//!
//! ```text
//!   IDLE --next/stop--> BUSY --(value)--> IDLE
//!                          \--(finished, stopped or panicked)--> DONE
//!   a next/stop that finds BUSY panics: two goroutines at once, or a call
//!   from inside the sequence itself
//! ```

use crate::coro::{Cancelled, Resume};
use crate::coroutine::{self, CoroLink};
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicU8, Ordering::*};
use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;

const IDLE: u8 = 0;
const BUSY: u8 = 1;
const DONE: u8 = 2;

struct Inner<T> {
    state: AtomicU8,
    link: CoroLink,
    /// The value passed to `yield`, taken by `next`.
    slot: UnsafeCell<Option<T>>,
    /// Set by `stop`: `yield` returns false from then on.
    stopping: UnsafeCell<bool>,
    /// The sequence returned (or panicked).
    finished: UnsafeCell<bool>,
    /// A panic of the sequence, re-raised by `next` or `stop`.
    panic: UnsafeCell<Option<Box<dyn Any + Send>>>,
}

impl<T> Inner<T> {
    /// # Safety
    /// The caller must be the side that currently owns the cells: the caller
    /// of `next`/`stop` holding BUSY, or the coroutine while it runs.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    unsafe fn cell<U>(c: &UnsafeCell<U>) -> &mut U {
        // SAFETY: exclusive access guaranteed by the caller.
        c.with_mut(|p| unsafe { &mut *p })
    }
}

/// A pull iterator over the values a push-style sequence yields.
///
/// Created by [`pull`]. [`next`](Pull::next) runs the sequence until it
/// yields the next value; [`stop`](Pull::stop) (or dropping the `Pull`) makes
/// its pending `yield` return `false` and lets it finish.
///
/// `Pull<T>` is `Send` and `Sync` for `T: Send`: it can be handed to another
/// goroutine, whose `next` then runs the sequence on that goroutine's M.
/// Calls must not overlap: `next` or `stop` while another `next` or `stop`
/// of the same `Pull` is running (from another goroutine, or from inside the
/// sequence) panics.
pub struct Pull<T> {
    /// Owned (from `Box::into_raw`); a raw pointer because the coroutine
    /// reads it through its own pointer while the `Pull` is borrowed.
    ptr: NonNull<Inner<T>>,
}

// SAFETY: the cells of `Inner` are accessed only by whoever holds the state
// word in BUSY (acquired with an Acquire CAS, released with a Release store)
// or by the coroutine, which runs only inside such a BUSY section; values of
// `T` cross threads, hence `T: Send`.
unsafe impl<T: Send> Send for Pull<T> {}
// SAFETY: every `&self` method starts with the CAS on the state word, so
// shared access never overlaps (see above).
unsafe impl<T: Send> Sync for Pull<T> {}

impl<T> std::fmt::Debug for Pull<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.inner().state.load(Relaxed) {
            IDLE => "idle",
            BUSY => "busy",
            _ => "done",
        };
        f.debug_struct("Pull").field("state", &state).finish()
    }
}

/// Turns the push iterator `seq` into a [`Pull`] (Go's `iter.Pull`).
///
/// `seq` receives a `yield` function: it calls `yield(v)` for each value and
/// stops early when `yield` returns `false`. Nothing runs until the first
/// [`Pull::next`].
///
/// ```
/// gort::run(|| {
///     let squares = gort::iter::pull(|yield_: &mut dyn FnMut(u32) -> bool| {
///         for i in 1.. {
///             if !yield_(i * i) {
///                 return;
///             }
///         }
///     });
///     assert_eq!(squares.next(), Some(1));
///     assert_eq!(squares.next(), Some(4));
///     squares.stop();
///     assert_eq!(squares.next(), None);
/// });
/// ```
///
/// # Panics
/// Outside a gort runtime, or if no goroutine stack can be allocated.
#[track_caller]
pub fn pull<T, F>(seq: F) -> Pull<T>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn FnMut(T) -> bool) + Send + 'static,
{
    let inner = Box::new(Inner {
        state: AtomicU8::new(IDLE),
        link: CoroLink::default(),
        slot: UnsafeCell::new(None),
        stopping: UnsafeCell::new(false),
        finished: UnsafeCell::new(false),
        panic: UnsafeCell::new(None),
    });
    let ptr = NonNull::from(Box::leak(inner));
    let addr = ptr.as_ptr() as usize;
    // SAFETY: `ptr` is a fresh, valid allocation.
    let link = NonNull::from(unsafe { &ptr.as_ref().link });
    let link_addr = link.as_ptr() as usize;
    let body = move || {
        // SAFETY: the `Inner` is boxed (stable address) and outlives the
        // coroutine: `Pull::drop` finishes the coroutine before freeing it.
        let inner = unsafe { &*(addr as *const Inner<T>) };
        let link = NonNull::new(link_addr as *mut CoroLink).expect("link");
        coroutine::set_exit_link(link);
        // SAFETY: the coroutine runs inside its caller's BUSY section.
        if !unsafe { *Inner::<T>::cell(&inner.stopping) } {
            let mut yield_fn = |v: T| -> bool {
                // SAFETY: as above, the coroutine owns the cells while it runs.
                if unsafe { *Inner::<T>::cell(&inner.stopping) } {
                    return false;
                }
                // SAFETY: as above.
                unsafe { *Inner::<T>::cell(&inner.slot) = Some(v) };
                if coroutine::coroswitch_back(link) == Resume::Cancel {
                    panic::resume_unwind(Box::new(Cancelled));
                }
                // SAFETY: resumed by `next` or `stop` inside a BUSY section.
                !unsafe { *Inner::<T>::cell(&inner.stopping) }
            };
            let r = panic::catch_unwind(AssertUnwindSafe(|| seq(&mut yield_fn)));
            if let Err(p) = r {
                if p.is::<Cancelled>() {
                    panic::resume_unwind(p);
                }
                // SAFETY: as above.
                unsafe { *Inner::<T>::cell(&inner.panic) = Some(p) };
            }
        }
        // SAFETY: as above.
        unsafe { *Inner::<T>::cell(&inner.finished) = true };
    };
    if let Err(e) = coroutine::newcoro(link, std::any::type_name::<F>(), body) {
        // SAFETY: no coroutine was created; we still own the allocation.
        drop(unsafe { Box::from_raw(ptr.as_ptr()) });
        panic!("gort::iter::pull: cannot allocate a goroutine stack: {e}");
    }
    Pull { ptr }
}

impl<T> Pull<T> {
    #[inline(always)]
    fn inner(&self) -> &Inner<T> {
        // SAFETY: the allocation lives until `drop` frees it.
        unsafe { self.ptr.as_ref() }
    }

    fn enter(&self, what: &str) -> bool {
        // Acquire: pairs with the Release store that ended the previous
        // next/stop (possibly on another thread), making the cells ours.
        match self.inner().state.compare_exchange(IDLE, BUSY, Acquire, Relaxed) {
            Ok(_) => true,
            Err(DONE) => false,
            Err(_) => panic!(
                "gort::iter::Pull::{what} called while another next or stop of the same Pull is running \
                 (from two goroutines at once, or from inside the sequence itself)"
            ),
        }
    }

    fn leave(&self) {
        // SAFETY: we hold BUSY.
        let finished = unsafe { *Inner::<T>::cell(&self.inner().finished) };
        // SAFETY: we hold BUSY.
        let panicked = unsafe { Inner::<T>::cell(&self.inner().panic).take() };
        // Release: hands the cells to the next next/stop (see `enter`).
        self.inner()
            .state
            .store(if finished { DONE } else { IDLE }, Release);
        if let Some(p) = panicked {
            panic::resume_unwind(p);
        }
    }

    /// Runs the sequence until it yields its next value.
    ///
    /// Returns `None` once the sequence has returned or the `Pull` was
    /// stopped. If the sequence panics, the panic continues in the caller of
    /// `next`, and the `Pull` is finished.
    ///
    /// # Panics
    /// If another `next` or `stop` of this `Pull` is running (from another
    /// goroutine, or from inside the sequence), or outside a goroutine.
    #[inline]
    #[allow(clippy::should_implement_trait)]
    pub fn next(&self) -> Option<T> {
        if !self.enter("next") {
            return None;
        }
        coroutine::coroswitch(NonNull::from(&self.inner().link));
        // SAFETY: we hold BUSY; the coroutine switched back to us.
        let v = unsafe { Inner::<T>::cell(&self.inner().slot).take() };
        self.leave();
        v
    }

    /// Stops the sequence: its pending `yield` returns `false` and it runs to
    /// its end. Idempotent; may be called before the first `next`.
    ///
    /// # Panics
    /// If the sequence panics while finishing (the panic continues here), or
    /// on overlapping calls as for [`next`](Pull::next).
    pub fn stop(&self) {
        if !self.enter("stop") {
            return;
        }
        // SAFETY: we hold BUSY.
        unsafe { *Inner::<T>::cell(&self.inner().stopping) = true };
        if self.inner().link.coro_alive() {
            coroutine::coroswitch(NonNull::from(&self.inner().link));
        }
        // SAFETY: we hold BUSY.
        unsafe { *Inner::<T>::cell(&self.inner().finished) = true };
        self.leave();
    }

    /// Whether the sequence has finished or been stopped.
    pub fn is_done(&self) -> bool {
        self.inner().state.load(Acquire) == DONE
    }
}

impl<T> Iterator for Pull<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        Pull::next(self)
    }
}

impl<T> Drop for Pull<T> {
    fn drop(&mut self) {
        if self.inner().state.load(Acquire) != DONE {
            let in_goroutine = crate::park::current_task().is_some();
            if !std::thread::panicking() && in_goroutine {
                // A panic of the sequence while stopping propagates, as from
                // `stop`; the allocation is then freed below by the guard.
                let guard = FreeOnDrop(self.ptr);
                self.stop();
                drop(guard);
                return;
            }
            // Cannot run the sequence here: its goroutine is unwound (or, while
            // panicking, leaked) when the link releases it below.
        }
        drop(FreeOnDrop(self.ptr));
    }
}

/// Frees a `Pull`'s allocation, unwinding its coroutine first if it still
/// exists.
struct FreeOnDrop<T>(NonNull<Inner<T>>);

impl<T> Drop for FreeOnDrop<T> {
    fn drop(&mut self) {
        // SAFETY: the allocation is valid until freed here; take the
        // coroutine out first so it unwinds while the cells are still intact.
        let coro = unsafe { self.0.as_ref() }.link.take_coro_if_any();
        drop(coro);
        // SAFETY: `Pull::drop` owns the allocation and nobody uses it after.
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}
