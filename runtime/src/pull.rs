//! `pull()`: turns a push iterator into a pull iterator (Go's `iter.Pull`).
//!
//! The sequence runs on its own coroutine goroutine; `next()` is a direct
//! coroutine switch to it and `yield` a switch back (`sched::coroswitch`).
//!
//! # The guard against overlapping calls
//!
//! `Pull` is `Sync`, so two goroutines can call `next` at once, and the
//! sequence itself can call `next` on its own `Pull`; such overlapping calls
//! must panic rather than run the coroutine twice. A compare-and-swap per
//! call would do it, but its locked instruction alone costs about as much as
//! the bare stack switch. Nearly every `Pull` is only ever driven by one
//! goroutine, so the guard is *biased*, in the manner of biased locking:
//!
//! ```text
//!   owner:  NONE --first call--> G (biased to goroutine G)
//!           G --another goroutine's call--> REVOKING --G inside--> G   (that call panics)
//!                                                    \--G outside--> SHARED
//!   G's call (owner == G):  busy = true; light fence; owner still G? -> enter
//!                           ... busy = false (Release)
//!   SHARED: every call     state: IDLE --CAS--> BUSY --Release--> IDLE | DONE
//!           (a call that finds BUSY panics)
//! ```
//!
//! The biased goroutine's calls use plain stores and loads only. The
//! goroutine that takes the `Pull` over (the rare side) stores REVOKING, runs
//! the heavy half of an asymmetric fence (`gort_tracer::fence`: one
//! `membarrier` system call) and then loads `busy`. That is a Dekker
//! handshake: either the taker sees `busy` (the owner is inside, the calls
//! overlap, the taker puts the bias back and panics), or the owner's re-check
//! sees REVOKING and it leaves through the slow path. After SHARED, every
//! call takes the state word with a compare-and-swap, as an unbiased guard
//! would. The bias is never re-established, so a `Pull` that moves between
//! goroutines pays for one revocation in its life.
//!
//! Cell ownership: the biased goroutine's calls follow each other in its own
//! program order; its last `busy = false` (Release) is read by the taker
//! (Acquire) before SHARED is published (Release), so every later caller
//! (Acquire on `owner`, then on `state`) sees the cells it left.

#[cfg(not(loom))]
use crate::coro::{Cancelled, Resume};
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering, Ordering::*};
#[cfg(not(loom))]
use crate::sched::context::Running;
#[cfg(not(loom))]
use crate::sched::coroswitch as coroutine;
#[cfg(not(loom))]
use crate::task::CoroLink;
use gort_tracer::fence;
use std::any::Any;
use std::marker::PhantomData;
#[cfg(not(loom))]
use std::panic::{self, AssertUnwindSafe};
#[cfg(not(loom))]
use std::ptr::NonNull;

pub(crate) const IDLE: u8 = 0;
pub(crate) const BUSY: u8 = 1;
pub(crate) const DONE: u8 = 2;

/// `owner`: no call yet.
const NONE: usize = 0;
/// `owner`: revoked; every call uses the state word.
const SHARED: usize = 1;
/// `owner`: a taker is checking whether the biased goroutine is inside.
const REVOKING: usize = 2;

/// The steps of the guard that a loom model's broken twin replaces (the
/// twins live in `tests/pull.rs`). The runtime runs the defaults, through
/// [`Faithful`]: constants and one function that fold away after
/// monomorphisation.
pub(crate) trait GuardSteps {
    /// The biased goroutine re-checks the bias after raising `busy`.
    const OWNER_RECHECKS: bool = true;
    /// A taker runs the heavy fence between REVOKING and reading `busy`.
    const REVOKE_FENCES: bool = true;
    /// The ordering of `leave`'s stores, which hand the cells on.
    const LEAVE_ORDER: Ordering = Release;

    /// Shared mode's entry: IDLE -> BUSY on the state word. Acquire pairs
    /// with the Release store that ended the previous shared-mode call
    /// (possibly on another thread), making the cells the caller's.
    #[inline(always)]
    fn enter_shared(state: &AtomicU8) -> Enter {
        match state.compare_exchange(IDLE, BUSY, Acquire, Relaxed) {
            Ok(_) => Enter::Shared,
            Err(DONE) => Enter::Done,
            Err(_) => Enter::Busy,
        }
    }
}

/// The guard as the runtime runs it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Faithful;

impl GuardSteps for Faithful {}

/// A panic of the sequence, carried to the caller of `next`/`stop`.
pub(crate) type Payload = Box<dyn Any + Send>;

/// What [`Core::enter`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Enter {
    /// The caller is the biased goroutine and is now inside (`busy`): it owns
    /// the cells.
    Biased,
    /// The caller holds BUSY on the state word and owns the cells.
    Shared,
    /// The sequence has finished: nothing to do.
    Done,
    /// Another `next`/`stop` is inside: overlapping calls (misuse).
    Busy,
}

/// The guard and the cells it protects: the part of a [`Pull`] shared by its
/// callers and its coroutine, generic over the value so that the loom models
/// drive it with plain values and a stand-in for the coroutine switch.
/// `S` is the runtime's [`Faithful`] steps, or a broken twin's in the models.
pub(crate) struct Core<T, S: GuardSteps = Faithful> {
    /// NONE, SHARED, REVOKING, or the address of the goroutine the guard is
    /// biased to (a live `Task`, so never one of the small constants).
    owner: AtomicUsize,
    /// The biased goroutine is inside a call.
    busy: AtomicBool,
    /// IDLE/BUSY (shared mode only) or DONE (either mode).
    state: AtomicU8,
    /// `fence::asymmetric_available()`, fixed at creation so both sides of
    /// the handshake use the same fences.
    asymmetric: bool,
    /// The value passed to `yield`, taken by `next`.
    slot: UnsafeCell<Option<T>>,
    /// Set by `stop`: `yield` returns false from then on.
    stopping: UnsafeCell<bool>,
    /// The sequence returned (or panicked).
    finished: UnsafeCell<bool>,
    /// A panic of the sequence, re-raised by `next` or `stop`.
    panic: UnsafeCell<Option<Payload>>,
    steps: PhantomData<S>,
}

// SAFETY: the cells are accessed only by a caller inside the guard (biased
// or shared, see the module doc) or by the coroutine, which runs only while
// such a caller is inside; values of `T` cross threads, hence `T: Send`.
unsafe impl<T: Send, S: GuardSteps> Send for Core<T, S> {}
// SAFETY: as above: every shared access starts by entering the guard, so
// accesses to the cells never overlap.
unsafe impl<T: Send, S: GuardSteps> Sync for Core<T, S> {}

impl<T, S: GuardSteps> Core<T, S> {
    pub(crate) fn new() -> Self {
        Core {
            owner: AtomicUsize::new(NONE),
            busy: AtomicBool::new(false),
            state: AtomicU8::new(IDLE),
            asymmetric: fence::asymmetric_available(),
            slot: UnsafeCell::new(None),
            stopping: UnsafeCell::new(false),
            finished: UnsafeCell::new(false),
            panic: UnsafeCell::new(None),
            steps: PhantomData,
        }
    }

    /// # Safety
    /// The caller must be the side that currently owns the cells: a caller
    /// of `next`/`stop` inside the guard, or the coroutine while it runs.
    #[inline(always)]
    unsafe fn with<U, R>(c: &UnsafeCell<U>, f: impl FnOnce(&mut U) -> R) -> R {
        // SAFETY: exclusive access guaranteed by the caller.
        c.with_mut(|p| f(unsafe { &mut *p }))
    }

    /// Enters the guard for the goroutine `me` (its `Task` address: never
    /// one of the `owner` constants).
    #[inline(always)]
    pub(crate) fn enter(&self, me: usize) -> Enter {
        if self.owner.load(Relaxed) == me {
            if let Some(e) = self.enter_biased(me) {
                return e;
            }
        }
        self.enter_slow(me)
    }

    /// The biased goroutine's entry: `None` if the bias was revoked
    /// meanwhile (then `busy` is down again).
    #[inline(always)]
    fn enter_biased(&self, me: usize) -> Option<Enter> {
        self.busy.store(true, Relaxed);
        // Frequent side of the handshake: `busy` before the re-check.
        fence::light(self.asymmetric);
        if S::OWNER_RECHECKS && self.owner.load(Relaxed) != me {
            // Release: a taker that reads this sees our earlier calls' cells.
            self.busy.store(false, Release);
            return None;
        }
        // DONE is written only by whoever is inside, which in biased mode
        // is this goroutine (program order).
        if self.state.load(Relaxed) == DONE {
            self.busy.store(false, Release);
            return Some(Enter::Done);
        }
        Some(Enter::Biased)
    }

    #[cold]
    #[inline(never)]
    fn enter_slow(&self, me: usize) -> Enter {
        let mut spins = 0u32;
        loop {
            // Acquire: pairs with the taker's Release of SHARED (the cells
            // the biased goroutine left) and of a restored bias.
            match self.owner.load(Acquire) {
                NONE => {
                    // The first call biases the guard to its goroutine.
                    let _ = self.owner.compare_exchange(NONE, me, Acquire, Relaxed);
                }
                SHARED => return self.enter_shared(),
                REVOKING => {
                    // A taker is between its revocation and its verdict (a
                    // system call at most): wait for it.
                    spins = spins.wrapping_add(1);
                    if cfg!(loom) || spins % 64 == 0 {
                        crate::loom::thread::yield_now();
                    } else {
                        std::hint::spin_loop();
                    }
                }
                o if o == me => {
                    if let Some(e) = self.enter_biased(me) {
                        return e;
                    }
                }
                o => {
                    // Biased to another goroutine: take the `Pull` over.
                    if self
                        .owner
                        .compare_exchange(o, REVOKING, Relaxed, Relaxed)
                        .is_err()
                    {
                        continue;
                    }
                    // Rare side of the handshake: REVOKING before `busy`.
                    if S::REVOKE_FENCES {
                        fence::heavy(self.asymmetric);
                    }
                    // Acquire: pairs with the owner's Release of `busy`.
                    if self.busy.load(Acquire) {
                        // The owner is inside: this call overlaps it. The
                        // bias stays; the owner's call goes on undisturbed.
                        self.owner.store(o, Release);
                        return Enter::Busy;
                    }
                    self.owner.store(SHARED, Release);
                    return self.enter_shared();
                }
            }
        }
    }

    /// Shared mode: IDLE -> BUSY on the state word.
    fn enter_shared(&self) -> Enter {
        S::enter_shared(&self.state)
    }

    /// Leaves the guard entered as `how` ([`Enter::Biased`] or
    /// [`Enter::Shared`]), marking the `Pull` DONE once the sequence
    /// finished; returns the sequence's panic, if it panicked, for the
    /// caller to re-raise.
    ///
    /// # Safety
    /// The caller is inside: its `enter` returned `how`.
    #[inline(always)]
    pub(crate) unsafe fn leave(&self, how: Enter) -> Option<Payload> {
        // SAFETY: we are inside.
        let finished = unsafe { Self::with(&self.finished, |f| *f) };
        // SAFETY: we are inside.
        let panicked = unsafe { Self::with(&self.panic, Option::take) };
        let order = S::LEAVE_ORDER;
        // Release (both stores): hands the cells to the next caller, through
        // the state word or through a taker's read of `busy`.
        if how == Enter::Biased {
            if finished {
                self.state.store(DONE, order);
            }
            self.busy.store(false, order);
        } else {
            self.state.store(if finished { DONE } else { IDLE }, order);
        }
        panicked
    }

    /// `next` by the goroutine `me`: runs the coroutine (`switch` returns
    /// when it yields or exits) and takes the value it left. `Ok(None)`:
    /// finished.
    #[inline(always)]
    pub(crate) fn next(
        &self,
        me: usize,
        switch: impl FnOnce(),
    ) -> Result<(Option<T>, Option<Payload>), Enter> {
        let how = match self.enter(me) {
            Enter::Done => return Ok((None, None)),
            Enter::Busy => return Err(Enter::Busy),
            how => how,
        };
        switch();
        // SAFETY: we are inside; the coroutine switched back to us.
        let v = unsafe { Self::with(&self.slot, Option::take) };
        // SAFETY: we are inside.
        let p = unsafe { self.leave(how) };
        Ok((v, p))
    }

    /// `stop` by the goroutine `me`: makes the pending `yield` return false
    /// and, if the coroutine still exists (`alive`), runs it to its end.
    #[inline]
    pub(crate) fn stop(
        &self,
        me: usize,
        alive: impl FnOnce() -> bool,
        switch: impl FnOnce(),
    ) -> Result<Option<Payload>, Enter> {
        let how = match self.enter(me) {
            Enter::Done => return Ok(None),
            Enter::Busy => return Err(Enter::Busy),
            how => how,
        };
        // SAFETY: we are inside.
        unsafe { Self::with(&self.stopping, |s| *s = true) };
        if alive() {
            switch();
        }
        // SAFETY: we are inside.
        unsafe { Self::with(&self.finished, |f| *f = true) };
        // SAFETY: we are inside.
        Ok(unsafe { self.leave(how) })
    }

    /// Whether the sequence has finished or been stopped.
    pub(crate) fn is_done(&self) -> bool {
        self.state.load(Acquire) == DONE
    }

    /// The guard's state (for `Debug`).
    #[cfg_attr(loom, allow(dead_code))]
    fn state_name(&self) -> &'static str {
        match self.state.load(Relaxed) {
            DONE => "done",
            BUSY => "busy",
            _ if self.busy.load(Relaxed) => "busy",
            _ => "idle",
        }
    }

    /// Coroutine side: whether `stop` was called.
    ///
    /// # Safety
    /// Called by the coroutine while it runs (while its caller is inside).
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

// SAFETY: the cells of `Inner` are accessed only by a caller inside the
// guard of `Core` (module doc) or by the coroutine, which runs only while
// such a caller is inside; values of `T` cross threads, hence `T: Send`.
#[cfg(not(loom))]
unsafe impl<T: Send> Send for Pull<T> {}
// SAFETY: every `&self` method that touches the cells enters the guard
// first, so shared access never overlaps (see above).
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

    fn require_goroutine(what: &str) -> Running {
        match Running::get() {
            Some(r) => r,
            None => panic!(
                "gort::iter::Pull::{what} called outside a goroutine (the sequence runs as a coroutine of the caller)"
            ),
        }
    }

    /// The guard's name for the goroutine `t`: its address, unique among
    /// live goroutines and never one of the guard's small constants.
    #[inline(always)]
    fn identity(t: &crate::task::Task) -> usize {
        t as *const crate::task::Task as usize
    }

    /// Switches from the calling goroutine `r` to the sequence's coroutine
    /// and back. Consumes the handle: the caller may continue on another M.
    #[inline(always)]
    fn switch(&self, r: Running) {
        let (w, t) = (r.m(), r.g());
        // `coroswitch_fast` uses `w` only while the caller is still on this
        // thread (a nested resume returns here; a forward is its last use).
        // SAFETY: `r` is this thread's running goroutine, so `t`'s yielder is
        // current and `w` is this thread's worker (see above).
        let how = unsafe {
            coroutine::coroswitch_fast(w, t, t.yielder(), NonNull::from(&self.inner().link))
        };
        if how == Resume::Cancel {
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
        let r = Self::require_goroutine("next");
        let me = Self::identity(r.g());
        let inner = self.inner();
        match inner.core.next(me, move || self.switch(r)) {
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
        let r = Self::require_goroutine("stop");
        let me = Self::identity(r.g());
        let inner = self.inner();
        let out = inner
            .core
            .stop(me, || inner.link.coro_alive(), move || self.switch(r));
        match out {
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
            let in_goroutine = Running::get().is_some();
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
