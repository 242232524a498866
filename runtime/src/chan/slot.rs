//! A blocked plain send or receive: its slot, where it lives and how it
//! leaves the channel's queues.

use super::token;
use super::{Chan, State};
use crate::loom::sync::atomic::{AtomicU8, Ordering::*};
use crate::sched::context::Running;
use crate::sched::park::{self, Waiter};
use crate::task::waitmem::{Lease, WaitArea};
use crate::task::WaitReason;
use std::cell::Cell;
use std::collections::VecDeque;
use std::ptr::NonNull;

/// A plain slot's `state` while its operation waits.
pub(super) const WAITING: u8 = token::PENDING;

/// The token of a blocked select (see `token`).
pub(super) type SelToken = token::Token<Waiter>;

/// A blocked sender or receiver. It lives off the blocked goroutine's stack
/// (so nothing outside points into a parked goroutine's stack), in its
/// task's wait area or a leased block (see `task::waitmem`: no allocation
/// per blocking operation); the channel's queues hold pointers
/// to it (`SlotPtr`) under the channel lock.
///
/// Lifetime protocol: the owner drops the slot only after `state` leaves
/// WAITING, and `finish` (the only writer of `state`) pops the slot from its
/// queue first and touches nothing after its store. An owner unwound while
/// waiting (runtime shutdown) removes its slot from the queue in
/// `Queued::drop`. A select's slots follow the select's own protocol (see
/// `select`).
pub(super) struct Slot<T> {
    /// Who to wake; guarded like `value`. `finish` moves it out, so the
    /// waker's wake-up consumes the slot's reference to the goroutine
    /// rather than a clone of it.
    pub(super) waiter: std::cell::UnsafeCell<Option<Waiter>>,
    /// Written and read under the channel lock while queued (by whoever
    /// completes the slot), then by the owner after it sees `state` leave
    /// WAITING (acquire, pairing with `finish`'s release).
    pub(super) value: std::cell::UnsafeCell<Option<T>>,
    pub(super) state: AtomicU8,
    /// A select's case: its select's token and the case's index, set
    /// (under the channel lock) before the slot is queued. Such a slot has
    /// no `waiter` and its `state` stays WAITING: the token holds both.
    pub(super) sel: Cell<Option<(NonNull<SelToken>, u32)>>,
}

/// A queued pointer to a blocked operation's `Slot`.
pub(super) struct SlotPtr<T>(pub(super) NonNull<Slot<T>>);

// SAFETY: the slot is only reached under the channel lock, while its owner
// is blocked (see `Slot`); values of `T` cross threads, hence `T: Send`.
unsafe impl<T: Send> Send for SlotPtr<T> {}

impl<T> Slot<T> {
    /// The slot's value.
    ///
    /// # Safety
    /// The caller holds the channel lock with the slot still queued, or is
    /// the owner after `state` left WAITING.
    #[allow(clippy::mut_from_ref)]
    pub(super) unsafe fn value(&self) -> &mut Option<T> {
        // SAFETY: guaranteed by the caller (see the field's doc).
        unsafe { &mut *self.value.get() }
    }
}

impl<T> SlotPtr<T> {
    pub(super) fn get(&self) -> &Slot<T> {
        // SAFETY: a queued slot is alive: its owner waits until `finish`,
        // which happens only after the slot left the queue.
        unsafe { self.0.as_ref() }
    }
}

impl<T> Slot<T> {
    /// Writes a new slot holding `value` for `waiter` at `at`, field by
    /// field (no copy of a whole slot built elsewhere).
    ///
    /// # Safety
    /// `at` is valid for writes of a `Slot<T>` and aligned for one.
    #[inline(always)]
    pub(super) unsafe fn write_at(at: NonNull<Slot<T>>, value: Option<T>, waiter: Waiter) {
        let p = at.as_ptr();
        // SAFETY: the caller's guarantee; each field written once, in place.
        unsafe {
            std::ptr::addr_of_mut!((*p).waiter).write(std::cell::UnsafeCell::new(Some(waiter)));
            std::ptr::addr_of_mut!((*p).value).write(std::cell::UnsafeCell::new(value));
            std::ptr::addr_of_mut!((*p).state).write(AtomicU8::new(WAITING));
            std::ptr::addr_of_mut!((*p).sel).write(Cell::new(None));
        }
    }

    /// A select case's slot: woken through its token, not on its own.
    pub(super) fn for_select(value: Option<T>) -> Slot<T> {
        Slot {
            waiter: std::cell::UnsafeCell::new(None),
            value: std::cell::UnsafeCell::new(value),
            state: AtomicU8::new(WAITING),
            sel: Cell::new(None),
        }
    }

    /// The select token of a select case's slot.
    pub(super) fn token(&self) -> Option<(&SelToken, u32)> {
        let (t, case) = self.sel.get()?;
        // SAFETY: the token outlives its slots' stay in their queues (the selector
        // takes each off under its lock), and a queued slot is only reached under it.
        Some((unsafe { t.as_ref() }, case))
    }

    /// Whoever pops a slot off a queue claims it before completing it.
    /// False: the slot belongs to a select that another case already won;
    /// it is stale and stays off the queue.
    pub(super) fn claim(&self) -> bool {
        match self.token() {
            None => true,
            Some((tok, case)) => tok.claim(case),
        }
    }

    /// Completes a slot already taken off its queue and claimed (chan lock
    /// held by the caller) and returns the waiter to wake once the lock is
    /// released. The slot must not be touched after this call.
    pub(super) fn finish(&self, how: u8) -> Waiter {
        if let Some((tok, _)) = self.token() {
            return tok.complete(how);
        }
        // SAFETY: the caller holds the channel lock and `state` is still
        // WAITING, so the owner does not look at the slot yet (see `Slot`).
        let w = unsafe { (*self.waiter.get()).take() };
        let Some(w) = w else {
            unreachable!("a channel slot is completed once");
        };
        // Release: pairs with the Acquire load in the waiting loop, so the
        // value written before is visible to the woken side.
        self.state.store(how, Release);
        w
    }

    /// Parks until the slot completes. On a channel made outside the
    /// runtime, a plain thread may complete it, so the wait does not count
    /// towards deadlock detection.
    #[track_caller]
    pub(super) fn wait(&self, reason: WaitReason, external: bool) -> u8 {
        let shared = if external {
            Running::get().map(|r| r.m().shared.clone())
        } else {
            None
        };
        if let Some(sh) = &shared {
            sh.external_blocked.fetch_add(1, SeqCst);
        }
        let r = loop {
            let s = self.state.load(Acquire);
            if s != WAITING {
                break s;
            }
            park::park(reason);
        };
        if let Some(sh) = &shared {
            sh.external_blocked.fetch_sub(1, SeqCst);
        }
        r
    }
}

/// A blocked plain send or receive: its slot, placed off the goroutine's
/// stack (in its task's wait area when it fits, else in a leased block) and
/// queued on the channel. Dropping it takes the slot off its queue if it is
/// still there (its owner unwound while parked: a cancelled goroutine at
/// runtime shutdown), moves the slot out and drops it.
pub(super) struct Queued<'a, T> {
    pub(super) chan: &'a Chan<T>,
    pub(super) slot: NonNull<Slot<T>>,
    pub(super) recv: bool,
    /// The block holding `slot`, when it is not in the task's wait area;
    /// given back after the slot is moved out (fields drop after
    /// `Drop::drop`).
    pub(super) _mem: Option<Lease>,
}

impl<'a, T> Queued<'a, T> {
    /// Places a slot holding `value` for the caller and queues it on `s`,
    /// the state of `chan` (locked by the caller).
    #[inline(always)]
    pub(super) fn new(chan: &'a Chan<T>, s: &mut State<T>, value: Option<T>, recv: bool) -> Self {
        let me = Waiter::current();
        let (at, mem) = match me.task() {
            Some(t) if WaitArea::fits::<Slot<T>>() => (t.wait_area.ptr(), None),
            t => Self::lease(t),
        };
        let at = at.cast::<Slot<T>>();
        // The wait area is free once its last record was moved out, when its
        // operation ended.
        // SAFETY: `at` is the running goroutine's free wait area, large and
        // aligned enough for a `Slot<T>` (`fits`), or a leased block laid out for one.
        unsafe { Slot::write_at(at, value, me) };
        let q = if recv { &mut s.recvq } else { &mut s.sendq };
        q.push_back(SlotPtr(at));
        Queued {
            chan,
            slot: at,
            recv,
            _mem: mem,
        }
    }

    /// A block for the slot of a plain thread, or of a large `T`.
    #[cold]
    pub(super) fn lease(task: Option<&crate::task::Task>) -> (NonNull<u8>, Option<Lease>) {
        let mem = Lease::new(task, std::alloc::Layout::new::<Slot<T>>());
        (mem.ptr(), Some(mem))
    }

    #[inline(always)]
    pub(super) fn slot(&self) -> &Slot<T> {
        // SAFETY: written in `new`, moved out only in `drop`.
        unsafe { self.slot.as_ref() }
    }
}

impl<T> Drop for Queued<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        if self.slot().state.load(Acquire) == WAITING {
            self.abandon();
        }
        // Moved out before it drops, so that a value's `Drop` may block on
        // a channel again (reusing the wait area).
        // SAFETY: the slot is off its queue (its completer popped it, or
        // `abandon` did), so no peer reaches it any more; moved out once.
        drop(unsafe { self.slot.as_ptr().read() });
    }
}

impl<T> Queued<'_, T> {
    /// Parks until the slot completes; returns how, and the value the slot
    /// holds then (a received value, or a send's value given back).
    #[inline(always)]
    #[track_caller]
    pub(super) fn wait(self, reason: WaitReason, external: bool) -> (u8, Option<T>) {
        let how = self.slot().wait(reason, external);
        // The rest of the slot holds nothing to drop: `finish` took the
        // waiter, and the other fields are plain. The `forget` skips `drop`
        // (which would drop the slot again); the block goes back.
        // SAFETY: `state` left WAITING, so the slot is off its queue and no
        // peer reaches it (see `Slot`): the owner takes the value out.
        let (v, mem) = unsafe {
            (
                (*self.slot().value.get()).take(),
                std::ptr::read(&self._mem),
            )
        };
        std::mem::forget(self);
        drop(mem);
        (how, v)
    }

    /// The owner leaves while its slot may still be queued: takes it off,
    /// or, if a peer popped it, waits for that peer's completion under the
    /// channel lock (which `remove_slot` takes).
    #[cold]
    pub(super) fn abandon(&self) {
        self.chan.remove_slot(self.slot.as_ptr(), self.recv);
    }
}

/// Pops the first live slot of a queue (claiming it), dropping stale select
/// entries on the way.
pub(super) fn pop_live<T>(q: &mut VecDeque<SlotPtr<T>>) -> Option<SlotPtr<T>> {
    while let Some(p) = q.pop_front() {
        if p.get().claim() {
            return Some(p);
        }
    }
    None
}

/// Completes every live slot of a queue with `how`, for waking after the
/// lock is released.
pub(super) fn finish_all<T>(q: &mut VecDeque<SlotPtr<T>>, how: u8, wake: &mut Vec<Waiter>) {
    // Each slot lives in its own block, cold when a channel with many
    // waiters closes: ask for the slots a few ahead, so their misses overlap
    // instead of queueing up.
    q.iter()
        .take(PREFETCH_AHEAD)
        .for_each(|p| prefetch(p.0.as_ptr()));
    while let Some(p) = q.pop_front() {
        if let Some(ahead) = q.get(PREFETCH_AHEAD - 1) {
            prefetch(ahead.0.as_ptr());
        }
        if p.get().claim() {
            wake.push(p.get().finish(how));
        }
    }
}

/// Hints that `w`'s goroutine is about to be woken (its park word and
/// status change).
#[inline(always)]
pub(super) fn prefetch_waiter(w: &Waiter) {
    if let Waiter::Task(t) = w {
        prefetch(std::ptr::addr_of!(t.park));
        prefetch(std::ptr::addr_of!(t.status));
    }
}

/// How many slots or goroutines ahead a wake-up loop over many of them asks
/// the memory system for.
pub(super) const PREFETCH_AHEAD: usize = 8;

/// Hints that the memory at `p` will be written soon (no effect on what
/// the program computes; the address need not be valid).
#[inline(always)]
pub(super) fn prefetch<T>(p: *const T) {
    // SAFETY: SSE is part of the x86-64 baseline, so the instruction exists;
    // a prefetch never faults and changes no program state, whatever `p` is.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
