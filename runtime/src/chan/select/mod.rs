//! `select`: wait on several channel operations, complete exactly one.
//!
//! The algorithm is Go's, in three passes over the cases, after a fast path
//! of gort's own:
//!
//! 0. Among the cases whose channel's readiness hint (kept by each
//!    channel's lock holder, read here without the lock) says they may
//!    complete, choose one at random and lock its channel alone; if the case
//!    can complete now, it does. A case ready while its own channel is
//!    locked is a valid choice at that instant, so a select with a ready
//!    case takes one single lock instead of all of them in order. Finding
//!    none proves nothing about one instant (the hints may be stale), so the
//!    select goes on with Go's passes, which alone decide that nothing is
//!    ready.
//! 1. Lock every case's channel (in the order of the channels' lock-word
//!    addresses, each once, so two selects over the same channels cannot
//!    deadlock) and look at the cases in a random order; the first that can
//!    complete now does, and the select returns. This is what makes the
//!    choice among ready cases uniform.
//! 2. If none can and the select may block, queue a slot on every channel,
//!    all sharing one [`Token`](super::token::Token), unlock, and park. A
//!    peer that pops one of the slots claims the token first: exactly one
//!    peer wins and completes its case; any other peer drops the stale slot.
//! 3. Once woken with an outcome, take the remaining slots off their queues
//!    (each under its own channel's lock), so no value is ever handed to a
//!    select that has left.
//!
//! Plain sends and receives lock one channel each, and only ever claim a
//! token (a compare-and-swap, no lock) while holding it, so they need no
//! lock order among themselves or with selects.
//!
//! A nil case (`None` as the operand, Go's nil channel) is never ready and
//! never queued. A select whose cases are all nil blocks for good.

use crate::chan::SelToken;
use crate::sched::context::Running;
use crate::sched::park::{self, Waiter};
use crate::task::waitmem::Lease;
use crate::task::WaitReason;
use std::alloc::Layout;
use std::ptr::NonNull;

mod cases;
mod dynamic;

pub use cases::{CaseRef, RecvCase, RecvOperand, SendCase, SendOperand};
pub use dynamic::{Select, SelectedOperation, TrySelectError};

/// One case of a select, type-erased over the channel's element type.
/// A channel seen by a select, whatever its element type: its place in the
/// lock order and its lock.
pub(crate) trait ChanLock {
    /// The channel's address (the lock order).
    fn key(&self) -> usize;
    /// Whether the channel was made outside any goroutine.
    fn external(&self) -> bool;
    /// Locks the channel.
    fn lock(&self);
    /// Unlocks the channel.
    ///
    /// # Safety
    /// This thread locked it with [`lock`](ChanLock::lock) and holds no
    /// reference into its state.
    unsafe fn unlock(&self);
}

/// One case of a select, type-erased over the channel's element type.
pub(crate) trait Case {
    /// The case's channel, or `None` for a nil case.
    fn chan(&self) -> Option<&dyn ChanLock>;
    /// Whether this is a receive case.
    fn is_recv(&self) -> bool;
    /// The case with its channel's readiness hint, as a select takes it.
    fn case_ref(&self) -> CaseRef<'_>;
    /// The fast path's step for one case whose channel's readiness hint
    /// says it may complete: locks that channel alone and completes the case
    /// if it can (as [`try_now`](Case::try_now)). `None` if it cannot, and
    /// always for a nil case.
    fn try_locked(&self) -> Option<Option<Waiter>>;
    /// The channel's address (the lock order), or 0 for a nil case.
    fn key(&self) -> usize {
        self.chan().map_or(0, ChanLock::key)
    }
    /// Whether the channel was made outside any goroutine.
    fn external(&self) -> bool {
        self.chan().is_some_and(ChanLock::external)
    }
    /// Locks the channel (nothing for a nil case).
    fn lock(&self) {
        if let Some(c) = self.chan() {
            c.lock();
        }
    }
    /// Unlocks the channel.
    ///
    /// # Safety
    /// This thread locked it with [`lock`](Case::lock) (through this case or
    /// another one on the same channel) and holds no reference into its state.
    unsafe fn unlock(&self) {
        if let Some(c) = self.chan() {
            // SAFETY: the caller's guarantee.
            unsafe { c.unlock() }
        }
    }
    /// Completes the operation if it can without blocking: `Some` with the
    /// peer to wake once the locks are released.
    ///
    /// # Safety
    /// The channel is locked by this thread.
    unsafe fn try_now(&self) -> Option<Option<Waiter>>;
    /// The layout of the case's slot (`None` for a nil case, which is never
    /// queued).
    fn slot_layout(&self) -> Option<Layout>;
    /// Places the case's slot at `at` and queues it with the select's token.
    ///
    /// # Safety
    /// The channel is locked by this thread; `at` is unused memory laid out
    /// for [`slot_layout`](Case::slot_layout) that, like `tok`, outlives the
    /// slot's stay (the selector calls [`dequeue`](Case::dequeue) or
    /// [`settle`](Case::settle) before either goes).
    unsafe fn enqueue(&self, tok: &SelToken, case: u32, at: NonNull<u8>);
    /// Takes the slot off its queue if it is still there (locks the channel)
    /// and drops it.
    fn dequeue(&self);
    /// The case won through its token with completion `how`: moves the
    /// outcome out of the slot and drops it.
    fn settle(&self, how: u8);
}

/// Runs a select over `cases` (see the module doc); `block: false` is a
/// select with a `default` arm. Returns the index of the case that
/// completed, or `None` when nothing was ready and `block` is false.
#[doc(hidden)]
#[track_caller]
pub fn __select_fixed<const N: usize>(cases: [CaseRef<'_>; N], block: bool) -> Option<usize> {
    let mut order = [0u32; N];
    let mut locks = [0u32; N];
    select_in(
        &cases,
        &mut order,
        &mut locks,
        block,
        Some(std::panic::Location::caller()),
    )
}

/// The select over `cases` with scratch space for the poll and lock orders
/// (each as long as `cases`). `site` is the user's call (the caller's
/// caller when not given), for the trace and goroutine dumps.
#[track_caller]
pub(crate) fn select_in(
    cases: &[CaseRef<'_>],
    order: &mut [u32],
    locks: &mut [u32],
    block: bool,
    site: Option<&'static std::panic::Location<'static>>,
) -> Option<usize> {
    let site = site.unwrap_or_else(std::panic::Location::caller);
    if block {
        crate::sched::context::note_site(site);
    }
    let n = cases.len();
    assert!(n <= u32::MAX as usize, "select: too many cases");
    // The fast path (0 in the module doc): one case chosen uniformly at
    // random among those whose readiness hint says they may complete, its
    // channel locked alone. That is the distribution of "the first hinted
    // case in a uniformly random poll order" (a uniform permutation of all
    // the cases orders any subset of them uniformly), without drawing the
    // whole order, and without a random draw at all when one case is
    // hinted ready, the common case.
    //
    // A case ready while its channel is locked is a valid choice at that
    // instant whatever the other channels hold, so this path never needs
    // every lock. The hints are read without the locks and may be stale:
    // - stale "may complete": the chosen case is tried under its lock,
    //   which decides; if it cannot complete the select goes on to Go's
    //   passes: nothing is lost but that lock's cost;
    // - stale "cannot": the case is not chosen here. Every case is tried
    //   again by pass 1 under every lock, and the select blocks (or takes
    //   `default`) only if no case can complete there, at one instant with
    //   all the locks held.
    // So a stale hint never makes a select miss a ready case, block, or
    // take `default`; it only chooses which of the paths finds the case.
    // Pass 1 draws its own poll order, uniform among the cases ready at its
    // instant. A select over more than 64 cases (a dynamic one) goes to the
    // passes directly.
    if n <= 64 {
        let mut hinted = 0u64;
        for (i, c) in cases.iter().enumerate() {
            hinted |= u64::from(c.maybe_ready()) << i;
        }
        if hinted != 0 {
            let k = hinted.count_ones() as usize;
            if k > 1 {
                // Drop a uniformly random number of the lowest set bits.
                for _ in 0..rand_below(k) {
                    hinted &= hinted - 1;
                }
            }
            let i = hinted.trailing_zeros() as usize;
            if let Some(wake) = cases[i].case.try_locked() {
                if let Some(w) = wake {
                    w.wake();
                }
                return Some(i);
            }
        }
    }
    select_passes(cases, order, locks, block, site)
}

/// Go's passes (1 to 3 of the module doc), with `order` and `locks` (each
/// as long as `cases`) as scratch for the poll and lock orders. Kept out of
/// [`select_in`] so that a select whose fast path finds its case pays for
/// none of this.
#[inline(never)]
fn select_passes(
    cases: &[CaseRef<'_>],
    order: &mut [u32],
    locks: &mut [u32],
    block: bool,
    site: &'static std::panic::Location<'static>,
) -> Option<usize> {
    // A random poll order (Fisher-Yates) of the non-nil cases.
    let mut live = 0;
    for (i, c) in cases.iter().enumerate() {
        if c.is_nil() {
            continue;
        }
        let j = if live == 0 { 0 } else { rand_below(live + 1) };
        order[live] = order[j];
        order[j] = i as u32;
        live += 1;
    }
    let order = &order[..live];
    // The lock order: by the address of the channel's lock word (insertion
    // sort: selects are small).
    let locks = &mut locks[..live];
    for (k, &i) in order.iter().enumerate() {
        let key = cases[i as usize].key();
        let mut at = k;
        while at > 0 && cases[locks[at - 1] as usize].key() > key {
            locks[at] = locks[at - 1];
            at -= 1;
        }
        locks[at] = i;
    }
    if live == 0 {
        if !block {
            return None;
        }
        block_forever(WaitReason::Select, site);
    }
    let locks = &*locks;
    lock_all(cases, locks);

    // Pass 1: the first ready case in poll order.
    for &i in order {
        // SAFETY: every case's channel is locked by this thread.
        if let Some(wake) = unsafe { cases[i as usize].case.try_now() } {
            // SAFETY: locked above; `try_now` left no reference behind.
            unsafe { unlock_all(cases, locks) };
            if let Some(w) = wake {
                w.wake();
            }
            return Some(i as usize);
        }
    }
    if !block {
        // SAFETY: as above.
        unsafe { unlock_all(cases, locks) };
        return None;
    }

    // Pass 2: queue on every channel and park. The token and the cases'
    // slots, which peers reach while this goroutine is parked, share one
    // block off its stack (see `task::waitmem`).
    let mut layout = Layout::new::<SelToken>();
    for &i in locks {
        if let Some(slot) = cases[i as usize].case.slot_layout() {
            layout = layout
                .extend(slot)
                .expect("a select's slots fit in memory")
                .0;
        }
    }
    let me = Waiter::current();
    let mem = Lease::new(me.task(), layout);
    let tok = mem.ptr().cast::<SelToken>();
    // SAFETY: the block is laid out for `layout`, which starts with a token,
    // and holds nothing yet.
    unsafe { tok.as_ptr().write(SelToken::new(me)) };
    let mut cleanup = Cleanup {
        cases,
        locks,
        won: None,
        tok,
        _mem: mem,
    };
    // SAFETY: written just above; dropped only by `cleanup`, after this
    // function's last use of the reference.
    let tok = unsafe { tok.as_ref() };
    let mut at = Layout::new::<SelToken>();
    for &i in locks {
        let case = cases[i as usize].case;
        if let Some(slot) = case.slot_layout() {
            let (next, offset) = at.extend(slot).expect("a select's slots fit in memory");
            at = next;
            // `offset` is this case's place in the block, laid out as `layout`
            // was (the same cases in the same order).
            // SAFETY: locked; the place is this case's (above), and the guard
            // dequeues every case before the block and the token go, on return
            // and on unwinding alike.
            unsafe { case.enqueue(tok, i, cleanup._mem.ptr().add(offset)) };
        }
    }
    // SAFETY: locked above, no reference into any state alive.
    unsafe { unlock_all(cases, locks) };
    let external = cases.iter().any(|c| c.case.external());
    let (won, how) = wait(tok, external, site);

    // Pass 3: the winner's outcome, then leave the other channels' queues.
    // The winning case's slot is off its queue already: its waker popped it
    // before claiming the token.
    cleanup.won = Some(won);
    let won = won as usize;
    cases[won].case.settle(how);
    drop(cleanup);
    Some(won)
}

/// A random index below `n` (a select's case count): 32 random bits scaled
/// by `n` (multiply and shift, as Go's `cheaprandn`), sparing the division
/// of a modulo. The bias is at most `n / 2^32`.
#[inline]
fn rand_below(n: usize) -> usize {
    // A modulo by the constant `usize::MAX` folds to a compare (no division).
    let r = crate::sched::worker::fastrand(usize::MAX) as u32;
    ((u64::from(r) * n as u64) >> 32) as usize
}

/// Parks until a peer completed the token.
fn wait(tok: &SelToken, external: bool, site: &'static std::panic::Location<'static>) -> (u32, u8) {
    let shared = if external {
        Running::get().map(|r| r.m().shared.clone())
    } else {
        None
    };
    if let Some(sh) = &shared {
        sh.external_blocked
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    let out = loop {
        if let Some(o) = tok.outcome() {
            break o;
        }
        park::park_at(WaitReason::Select, site);
    };
    if let Some(sh) = &shared {
        sh.external_blocked
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
    out
}

/// Takes every case off its queue when the select leaves (after its
/// wake-up, or when its goroutine unwinds while parked at runtime
/// shutdown), then drops the token and gives the block back.
struct Cleanup<'a, 'c> {
    cases: &'a [CaseRef<'c>],
    locks: &'a [u32],
    /// The case that won, once known and settled: nothing to take off for it.
    won: Option<u32>,
    /// The select's token, at the start of `_mem`.
    tok: NonNull<SelToken>,
    /// Holds the token and the slots; freed after them (fields drop after
    /// `Drop::drop`).
    _mem: Lease,
}

impl Drop for Cleanup<'_, '_> {
    fn drop(&mut self) {
        for &i in self.locks {
            if Some(i) == self.won {
                continue;
            }
            self.cases[i as usize].case.dequeue();
        }
        // SAFETY: every slot is off its queue, so no peer reaches the token
        // any more (a peer claims it only through a queued slot, and a
        // winner touches nothing after completing it); dropped once.
        unsafe { std::ptr::drop_in_place(self.tok.as_ptr()) };
    }
}

fn lock_all(cases: &[CaseRef<'_>], locks: &[u32]) {
    let mut prev = 0;
    for &i in locks {
        let c = &cases[i as usize];
        if c.key() != prev {
            c.case.lock();
            prev = c.key();
        }
    }
}

/// # Safety
/// `lock_all(cases, locks)` locked them on this thread; no reference into
/// any channel's state is alive.
unsafe fn unlock_all(cases: &[CaseRef<'_>], locks: &[u32]) {
    let mut prev = 0;
    for &i in locks.iter() {
        let c = &cases[i as usize];
        if c.key() != prev {
            // SAFETY: the caller's guarantee; each channel once.
            unsafe { c.case.unlock() };
            prev = c.key();
        }
    }
}

/// Blocks the caller for good: `select! {}` (reason `forever`), or a select
/// whose cases are all nil (reason `select`). With nothing else left to run,
/// the runtime reports a deadlock.
fn block_forever(reason: WaitReason, site: &'static std::panic::Location<'static>) -> ! {
    // Nothing will ever wake this goroutine, but something must keep it (a
    // parked goroutine is owned by its wakers): this handle does, so that
    // the runtime still sees it parked, reports the deadlock, and unwinds
    // it at shutdown.
    let _owner = Waiter::current();
    loop {
        park::park_at(reason, site);
    }
}

/// `select! {}`: blocks the goroutine for good (Go's `select {}`).
#[doc(hidden)]
#[track_caller]
pub fn __block_forever() -> ! {
    crate::sched::context::note_site(std::panic::Location::caller());
    block_forever(WaitReason::Forever, std::panic::Location::caller())
}
