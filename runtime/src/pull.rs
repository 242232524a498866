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

#[cfg(not(loom))]
use crate::coro::{Cancelled, Resume};
#[cfg(not(loom))]
use crate::coroutine::{self, CoroLink};
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicU8, Ordering::*};
use std::any::Any;
#[cfg(not(loom))]
use std::panic::{self, AssertUnwindSafe};
#[cfg(not(loom))]
use std::ptr::NonNull;

const IDLE: u8 = 0;
const BUSY: u8 = 1;
const DONE: u8 = 2;

/// The faithful protocol (the only one outside the loom models).
pub(crate) const FAITHFUL: u8 = 0;

/// Broken variants of [`Core`], each one step off the protocol; the loom
/// models must reject every one.
#[cfg(loom)]
pub(crate) mod twin {
    /// `enter` checks IDLE with a load, then stores BUSY: two callers can
    /// both get in.
    pub(crate) const ENTER_LOAD_STORE: u8 = 1;
    /// `leave` hands the cells on with a `Relaxed` store: the next caller
    /// does not see the previous one's writes.
    pub(crate) const LEAVE_RELAXED: u8 = 2;
}

/// A panic of the sequence, carried to the caller of `next`/`stop`.
pub(crate) type Payload = Box<dyn Any + Send>;

/// What [`Core::enter`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Enter {
    /// The caller now holds BUSY and owns the cells.
    Entered,
    /// The sequence has finished: nothing to do.
    Done,
    /// Another `next`/`stop` holds BUSY: overlapping calls (misuse).
    Busy,
}

/// The state word and the cells it guards: the part of a [`Pull`] shared
/// by its callers and its coroutine, generic over the value so that the loom
/// models drive it with plain values and a stand-in for the coroutine switch.
/// `TWIN` selects a broken variant in the models.
pub(crate) struct Core<T, const TWIN: u8 = FAITHFUL> {
    state: AtomicU8,
    /// The value passed to `yield`, taken by `next`.
    slot: UnsafeCell<Option<T>>,
    /// Set by `stop`: `yield` returns false from then on.
    stopping: UnsafeCell<bool>,
    /// The sequence returned (or panicked).
    finished: UnsafeCell<bool>,
    /// A panic of the sequence, re-raised by `next` or `stop`.
    panic: UnsafeCell<Option<Payload>>,
}

// SAFETY: the cells are accessed only by whoever holds the state word in
// BUSY (acquired with an Acquire CAS, released with a Release store) or by
// the coroutine, which runs only inside such a BUSY section; values of `T`
// cross threads, hence `T: Send`.
unsafe impl<T: Send, const TWIN: u8> Send for Core<T, TWIN> {}
// SAFETY: as above: every shared access starts with the CAS on the state
// word, so accesses to the cells never overlap.
unsafe impl<T: Send, const TWIN: u8> Sync for Core<T, TWIN> {}

impl<T, const TWIN: u8> Core<T, TWIN> {
    pub(crate) fn new() -> Self {
        Core {
            state: AtomicU8::new(IDLE),
            slot: UnsafeCell::new(None),
            stopping: UnsafeCell::new(false),
            finished: UnsafeCell::new(false),
            panic: UnsafeCell::new(None),
        }
    }

    /// # Safety
    /// The caller must be the side that currently owns the cells: the caller
    /// of `next`/`stop` holding BUSY, or the coroutine while it runs.
    #[inline(always)]
    unsafe fn with<U, R>(c: &UnsafeCell<U>, f: impl FnOnce(&mut U) -> R) -> R {
        // SAFETY: exclusive access guaranteed by the caller.
        c.with_mut(|p| f(unsafe { &mut *p }))
    }

    /// IDLE -> BUSY: the caller gets the cells.
    #[inline]
    pub(crate) fn enter(&self) -> Enter {
        #[cfg(loom)]
        if TWIN == twin::ENTER_LOAD_STORE {
            return match self.state.load(Acquire) {
                IDLE => {
                    self.state.store(BUSY, Relaxed);
                    Enter::Entered
                }
                DONE => Enter::Done,
                _ => Enter::Busy,
            };
        }
        // Acquire: pairs with the Release store that ended the previous
        // next/stop (possibly on another thread), making the cells ours.
        match self.state.compare_exchange(IDLE, BUSY, Acquire, Relaxed) {
            Ok(_) => Enter::Entered,
            Err(DONE) => Enter::Done,
            Err(_) => Enter::Busy,
        }
    }

    /// BUSY -> IDLE, or DONE once the sequence finished; returns the
    /// sequence's panic, if it panicked, for the caller to re-raise.
    ///
    /// # Safety
    /// The caller holds BUSY (its `enter` returned [`Enter::Entered`]).
    #[inline]
    pub(crate) unsafe fn leave(&self) -> Option<Payload> {
        // SAFETY: we hold BUSY.
        let finished = unsafe { Self::with(&self.finished, |f| *f) };
        // SAFETY: we hold BUSY.
        let panicked = unsafe { Self::with(&self.panic, Option::take) };
        #[cfg(loom)]
        let order = if TWIN == twin::LEAVE_RELAXED {
            Relaxed
        } else {
            Release
        };
        #[cfg(not(loom))]
        let order = Release;
        // Release: hands the cells to the next next/stop (see `enter`).
        self.state.store(if finished { DONE } else { IDLE }, order);
        panicked
    }

    /// `next`: runs the coroutine (`switch` returns when it yields or
    /// exits) and takes the value it left. `Ok(None)`: finished.
    #[inline]
    pub(crate) fn next(
        &self,
        switch: impl FnOnce(),
    ) -> Result<(Option<T>, Option<Payload>), Enter> {
        match self.enter() {
            Enter::Entered => {}
            Enter::Done => return Ok((None, None)),
            Enter::Busy => return Err(Enter::Busy),
        }
        switch();
        // SAFETY: we hold BUSY; the coroutine switched back to us.
        let v = unsafe { Self::with(&self.slot, Option::take) };
        // SAFETY: we hold BUSY.
        let p = unsafe { self.leave() };
        Ok((v, p))
    }

    /// `stop`: makes the pending `yield` return false and, if the coroutine
    /// still exists (`alive`), runs it to its end.
    #[inline]
    pub(crate) fn stop(
        &self,
        alive: impl FnOnce() -> bool,
        switch: impl FnOnce(),
    ) -> Result<Option<Payload>, Enter> {
        match self.enter() {
            Enter::Entered => {}
            Enter::Done => return Ok(None),
            Enter::Busy => return Err(Enter::Busy),
        }
        // SAFETY: we hold BUSY.
        unsafe { Self::with(&self.stopping, |s| *s = true) };
        if alive() {
            switch();
        }
        // SAFETY: we hold BUSY.
        unsafe { Self::with(&self.finished, |f| *f = true) };
        // SAFETY: we hold BUSY.
        Ok(unsafe { self.leave() })
    }

    /// Whether the sequence has finished or been stopped.
    pub(crate) fn is_done(&self) -> bool {
        self.state.load(Acquire) == DONE
    }

    /// The state word's name (for `Debug`).
    #[cfg_attr(loom, allow(dead_code))]
    fn state_name(&self) -> &'static str {
        match self.state.load(Relaxed) {
            IDLE => "idle",
            BUSY => "busy",
            _ => "done",
        }
    }

    /// Coroutine side: whether `stop` was called.
    ///
    /// # Safety
    /// Called by the coroutine while it runs (inside its caller's BUSY).
    #[inline]
    pub(crate) unsafe fn stopping(&self) -> bool {
        // SAFETY: guaranteed by the caller.
        unsafe { Self::with(&self.stopping, |s| *s) }
    }

    /// Coroutine side: leaves `v` for the `next` that resumed it.
    ///
    /// # Safety
    /// As for [`stopping`](Self::stopping).
    #[inline]
    pub(crate) unsafe fn put(&self, v: T) {
        // SAFETY: guaranteed by the caller.
        unsafe { Self::with(&self.slot, |s| *s = Some(v)) }
    }

    /// Coroutine side: the sequence returned (with its panic, if any).
    ///
    /// # Safety
    /// As for [`stopping`](Self::stopping).
    #[inline]
    pub(crate) unsafe fn finish(&self, panicked: Option<Payload>) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            if panicked.is_some() {
                Self::with(&self.panic, |p| *p = panicked);
            }
            Self::with(&self.finished, |f| *f = true);
        }
    }
}

#[cfg(not(loom))]
struct Inner<T> {
    core: Core<T>,
    link: CoroLink,
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
#[cfg(not(loom))]
pub struct Pull<T> {
    /// Owned (from `Box::into_raw`); a raw pointer because the coroutine
    /// reads it through its own pointer while the `Pull` is borrowed.
    ptr: NonNull<Inner<T>>,
}

// SAFETY: the cells of `Inner` are accessed only by whoever holds the state
// word in BUSY (acquired with an Acquire CAS, released with a Release store)
// or by the coroutine, which runs only inside such a BUSY section; values of
// `T` cross threads, hence `T: Send`.
#[cfg(not(loom))]
unsafe impl<T: Send> Send for Pull<T> {}
// SAFETY: every `&self` method starts with the CAS on the state word, so
// shared access never overlaps (see above).
#[cfg(not(loom))]
unsafe impl<T: Send> Sync for Pull<T> {}

#[cfg(not(loom))]
impl<T> std::fmt::Debug for Pull<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pull")
            .field("state", &self.inner().core.state_name())
            .finish()
    }
}

/// Turns the push iterator `seq` into a [`Pull`] (Go's `iter.Pull`).
///
/// `seq` receives a `yield` function: it calls `yield(v)` for each value and
/// stops early when `yield` returns `false`. Nothing runs until the first
/// [`Pull::next`].
///
/// ```
/// gort_runtime::run(|| {
///     let squares = gort_runtime::iter::pull(|yield_: &mut dyn FnMut(u32) -> bool| {
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
#[cfg(not(loom))]
pub fn pull<T, F>(seq: F) -> Pull<T>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn FnMut(T) -> bool) + Send + 'static,
{
    let inner = Box::new(Inner {
        core: Core::new(),
        link: CoroLink::default(),
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
        let Some(me) = coroutine::current_yielder() else {
            return;
        };
        let core = &inner.core;
        // SAFETY: the coroutine runs inside its caller's BUSY section, so it
        // owns the cells whenever it runs (here and in `yield_fn`).
        if unsafe { core.stopping() } {
            // SAFETY: as above.
            unsafe { core.finish(None) };
            return;
        }
        let mut yield_fn = |v: T| -> bool {
            // SAFETY: as above.
            if unsafe { core.stopping() } {
                return false;
            }
            // SAFETY: as above.
            unsafe { core.put(v) };
            // SAFETY: `me` is this coroutine's own yielder.
            if unsafe { coroutine::coroswitch_back_with(me, link) } == Resume::Cancel {
                panic::resume_unwind(Box::new(Cancelled));
            }
            // SAFETY: resumed by `next` or `stop` inside a BUSY section.
            !unsafe { core.stopping() }
        };
        let r = panic::catch_unwind(AssertUnwindSafe(|| seq(&mut yield_fn)));
        let panicked = match r {
            Ok(()) => None,
            Err(p) if p.is::<Cancelled>() => panic::resume_unwind(p),
            Err(p) => Some(p),
        };
        // SAFETY: as above.
        unsafe { core.finish(panicked) };
    };
    if let Err(e) = coroutine::newcoro(link, std::any::type_name::<F>(), body) {
        // SAFETY: no coroutine was created; we still own the allocation.
        drop(unsafe { Box::from_raw(ptr.as_ptr()) });
        panic!("gort::iter::pull: cannot allocate a goroutine stack: {e}");
    }
    Pull { ptr }
}

#[cfg(not(loom))]
impl<T> Pull<T> {
    #[inline(always)]
    fn inner(&self) -> &Inner<T> {
        // SAFETY: the allocation lives until `drop` frees it.
        unsafe { self.ptr.as_ref() }
    }

    #[cold]
    #[track_caller]
    fn overlap(what: &str) -> ! {
        panic!(
            "gort::iter::Pull::{what} called while another next or stop of the same Pull is running \
             (from two goroutines at once, or from inside the sequence itself)"
        )
    }

    fn require_goroutine(
        what: &str,
    ) -> (
        &'static crate::sched::worker::Worker,
        &'static crate::task::Task,
    ) {
        match crate::api::running() {
            Some(r) => r,
            None => panic!(
                "gort::iter::Pull::{what} called outside a goroutine (the sequence runs as a coroutine of the caller)"
            ),
        }
    }

    /// Switches from the calling goroutine `t` (on `w`) to the sequence's
    /// coroutine and back.
    #[inline(always)]
    fn switch(&self, w: &crate::sched::worker::Worker, t: &crate::task::Task) {
        // SAFETY: `t` is the running goroutine (`require_goroutine`), so its
        // yielder is current, and `w` is this thread's worker.
        let r = unsafe {
            coroutine::coroswitch_fast(w, t, t.yielder(), NonNull::from(&self.inner().link))
        };
        if r == Resume::Cancel {
            // The caller is being unwound (runtime shutdown).
            panic::resume_unwind(Box::new(Cancelled));
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
        let (w, t) = Self::require_goroutine("next");
        let inner = self.inner();
        match inner.core.next(|| self.switch(w, t)) {
            Ok((v, None)) => v,
            Ok((_, Some(p))) => panic::resume_unwind(p),
            Err(_) => Self::overlap("next"),
        }
    }

    /// Stops the sequence: its pending `yield` returns `false` and it runs to
    /// its end. Idempotent; may be called before the first `next`.
    ///
    /// # Panics
    /// If the sequence panics while finishing (the panic continues here), or
    /// on overlapping calls as for [`next`](Pull::next).
    pub fn stop(&self) {
        let (w, t) = Self::require_goroutine("stop");
        let inner = self.inner();
        let r = inner
            .core
            .stop(|| inner.link.coro_alive(), || self.switch(w, t));
        match r {
            Ok(None) => {}
            Ok(Some(p)) => panic::resume_unwind(p),
            Err(_) => Self::overlap("stop"),
        }
    }

    /// Whether the sequence has finished or been stopped.
    pub fn is_done(&self) -> bool {
        self.inner().core.is_done()
    }
}

#[cfg(not(loom))]
impl<T> Iterator for Pull<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        Pull::next(self)
    }
}

#[cfg(not(loom))]
impl<T> Drop for Pull<T> {
    fn drop(&mut self) {
        if !self.inner().core.is_done() {
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
#[cfg(not(loom))]
struct FreeOnDrop<T>(NonNull<Inner<T>>);

#[cfg(not(loom))]
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
