//! `select`: wait on several channel operations, complete exactly one.
//!
//! The algorithm is Go's, in three passes over the cases:
//!
//! 1. Lock every case's channel (in address order, each once, so two
//!    selects over the same channels cannot deadlock) and look at the cases
//!    in a random order; the first that can complete now does, and the select
//!    returns. This is what makes the choice among ready cases uniform.
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

use super::token::DONE;
use super::{Chan, Receiver, SelToken, SendError, Sender, Slot, SlotPtr, State, TrySendError};
use crate::park::{self, Waiter};
use crate::sched::context::Running;
use crate::task::WaitReason;
use parking_lot::lock_api::RawMutex as _;
use std::cell::Cell;
use std::fmt;
use std::ptr::NonNull;

/// One case of a select, type-erased over the channel's element type.
pub(crate) trait Case {
    /// The channel's address (the lock order), or 0 for a nil case.
    fn key(&self) -> usize;
    /// Whether the channel was made outside any goroutine.
    fn external(&self) -> bool;
    /// Whether this is a receive case.
    fn is_recv(&self) -> bool;
    /// Locks the channel.
    fn lock(&self);
    /// Unlocks the channel.
    ///
    /// # Safety
    /// This thread locked it with [`lock`](Case::lock) (through this case or
    /// another one on the same channel) and holds no reference into its state.
    unsafe fn unlock(&self);
    /// Completes the operation if it can without blocking: `Some` with the
    /// peer to wake once the locks are released.
    ///
    /// # Safety
    /// The channel is locked by this thread.
    unsafe fn try_now(&self) -> Option<Option<Waiter>>;
    /// Queues the case's slot with the select's token.
    ///
    /// # Safety
    /// The channel is locked by this thread; `tok` outlives the slot's stay
    /// in the queue (the selector calls [`dequeue`](Case::dequeue) before the
    /// token goes).
    unsafe fn enqueue(&self, tok: &SelToken, case: u32);
    /// Takes the slot off its queue if it is still there (locks the channel).
    fn dequeue(&self);
    /// The case won through its token with completion `how`: moves the
    /// outcome out of the slot.
    fn settle(&self, how: u8);
}

/// A type-erased reference to a case, for `select!`'s expansion.
#[doc(hidden)]
pub struct CaseRef<'a>(&'a (dyn Case + 'a));

impl<T> Chan<T> {
    fn key(&self) -> usize {
        self as *const Chan<T> as usize
    }

    fn lock_raw(&self) {
        // SAFETY: locking the raw mutex directly is what `raw()` exists for;
        // every such lock is paired with `unlock_raw` by the select that
        // took it, and no guard of this mutex is alive on this thread (the
        // select holds no other reference into any channel while locking).
        unsafe { self.state.raw() }.lock();
    }

    /// # Safety
    /// Locked by this thread through `lock_raw`, no reference into the state
    /// alive.
    unsafe fn unlock_raw(&self) {
        // SAFETY: guaranteed by the caller.
        unsafe { self.state.force_unlock() }
    }

    /// # Safety
    /// Locked by this thread through `lock_raw`; the reference is dropped
    /// before the lock is released or the state is reached another way.
    #[allow(clippy::mut_from_ref)]
    unsafe fn locked(&self) -> &mut State<T> {
        // SAFETY: the lock gives this thread exclusive access (caller's
        // guarantee), and the pointer is valid for the channel's life.
        unsafe { &mut *self.state.data_ptr() }
    }

    /// Takes `slot` off the receive (or send) queue, if still there. The
    /// search runs from the back: a select's entry is among the newest.
    fn remove_slot(&self, slot: &Slot<T>, recv: bool) {
        let mut s = self.state.lock();
        let q = if recv { &mut s.recvq } else { &mut s.sendq };
        let me = slot as *const Slot<T>;
        if let Some(at) = q.iter().rposition(|p| std::ptr::eq(p.0.as_ptr(), me)) {
            q.remove(at);
        }
    }
}

impl fmt::Debug for CaseRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaseRef").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for RecvCase<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvCase")
            .field("nil", &self.chan.is_none())
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for SendCase<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendCase")
            .field("nil", &self.chan.is_none())
            .finish_non_exhaustive()
    }
}

/// A receive case: `recv(rx) -> v`.
#[doc(hidden)]
pub struct RecvCase<'a, T> {
    chan: Option<&'a Chan<T>>,
    slot: Slot<T>,
    /// The outcome once the case completed: `Some(None)` when closed.
    out: Cell<Option<Option<T>>>,
}

impl<'a, T: Send> RecvCase<'a, T> {
    /// A case receiving from `rx`, or a nil case.
    pub fn new(rx: Option<&'a Receiver<T>>) -> Self {
        RecvCase {
            chan: rx.map(|r| &*r.chan),
            slot: Slot::for_select(None),
            out: Cell::new(None),
        }
    }

    /// The case, for [`__select_fixed`].
    pub fn case(&self) -> CaseRef<'_> {
        CaseRef(self)
    }

    /// `Some(received)` if the select chose this case (`received` is
    /// `None` when the channel is closed and drained), else `None`.
    pub fn into_outcome(self) -> Option<Option<T>> {
        self.out.take()
    }
}

impl<T: Send> Case for RecvCase<'_, T> {
    fn key(&self) -> usize {
        self.chan.map_or(0, Chan::key)
    }

    fn is_recv(&self) -> bool {
        true
    }

    fn external(&self) -> bool {
        self.chan.is_some_and(|c| c.external)
    }

    fn lock(&self) {
        if let Some(c) = self.chan {
            c.lock_raw();
        }
    }

    unsafe fn unlock(&self) {
        if let Some(c) = self.chan {
            // SAFETY: the caller's guarantee.
            unsafe { c.unlock_raw() }
        }
    }

    unsafe fn try_now(&self) -> Option<Option<Waiter>> {
        let c = self.chan?;
        // SAFETY: locked by this thread (caller's guarantee); dropped below.
        let s = unsafe { c.locked() };
        match Receiver::take_ready(s) {
            Ok((v, wake)) => {
                self.out.set(Some(Some(v)));
                Some(wake)
            }
            Err(super::TryRecvError::Closed) => {
                self.out.set(Some(None));
                Some(None)
            }
            Err(super::TryRecvError::Empty) => None,
        }
    }

    unsafe fn enqueue(&self, tok: &SelToken, case: u32) {
        let Some(c) = self.chan else { return };
        self.slot.sel.set(Some((NonNull::from(tok), case)));
        // SAFETY: locked by this thread (caller's guarantee); dropped below.
        let s = unsafe { c.locked() };
        s.recvq.push_back(SlotPtr(NonNull::from(&self.slot)));
    }

    fn dequeue(&self) {
        if let Some(c) = self.chan {
            c.remove_slot(&self.slot, true);
        }
    }

    fn settle(&self, how: u8) {
        let v = if how == DONE {
            // SAFETY: the token's completion (acquired by the selector) came
            // after the winner wrote the slot; no one else touches it now.
            unsafe { self.slot.value() }.take()
        } else {
            None
        };
        self.out.set(Some(v));
    }
}

/// A send case: `send(tx, value) -> res`.
#[doc(hidden)]
pub struct SendCase<'a, T> {
    chan: Option<&'a Chan<T>>,
    /// Holds the value until a receiver takes it.
    slot: Slot<T>,
    out: Cell<Option<Result<(), SendError<T>>>>,
}

impl<'a, T: Send> SendCase<'a, T> {
    /// A case sending `v` on `tx`, or a nil case (the value is dropped with
    /// the case unless it is chosen, which a nil case never is).
    pub fn new(tx: Option<&'a Sender<T>>, v: T) -> Self {
        SendCase {
            chan: tx.map(|s| &*s.chan),
            slot: Slot::for_select(Some(v)),
            out: Cell::new(None),
        }
    }

    /// The case, for [`__select_fixed`].
    pub fn case(&self) -> CaseRef<'_> {
        CaseRef(self)
    }

    /// `Some(result)` if the select chose this case (the value back in
    /// the error if the channel was closed), else `None`.
    pub fn into_outcome(self) -> Option<Result<(), SendError<T>>> {
        self.out.take()
    }
}

impl<T: Send> Case for SendCase<'_, T> {
    fn key(&self) -> usize {
        self.chan.map_or(0, Chan::key)
    }

    fn is_recv(&self) -> bool {
        false
    }

    fn external(&self) -> bool {
        self.chan.is_some_and(|c| c.external)
    }

    fn lock(&self) {
        if let Some(c) = self.chan {
            c.lock_raw();
        }
    }

    unsafe fn unlock(&self) {
        if let Some(c) = self.chan {
            // SAFETY: the caller's guarantee.
            unsafe { c.unlock_raw() }
        }
    }

    unsafe fn try_now(&self) -> Option<Option<Waiter>> {
        let c = self.chan?;
        // SAFETY: the slot is not queued: only this thread sees it.
        let v = unsafe { self.slot.value() }.take()?;
        // SAFETY: locked by this thread (caller's guarantee); dropped below.
        let s = unsafe { c.locked() };
        match c.send_ready(s, v) {
            Ok(wake) => {
                self.out.set(Some(Ok(())));
                Some(wake)
            }
            Err(TrySendError::Closed(v)) => {
                self.out.set(Some(Err(SendError(v))));
                Some(None)
            }
            Err(TrySendError::Full(v)) => {
                // SAFETY: as above.
                *unsafe { self.slot.value() } = Some(v);
                None
            }
        }
    }

    unsafe fn enqueue(&self, tok: &SelToken, case: u32) {
        let Some(c) = self.chan else { return };
        self.slot.sel.set(Some((NonNull::from(tok), case)));
        // SAFETY: locked by this thread (caller's guarantee); dropped below.
        let s = unsafe { c.locked() };
        s.sendq.push_back(SlotPtr(NonNull::from(&self.slot)));
    }

    fn dequeue(&self) {
        if let Some(c) = self.chan {
            c.remove_slot(&self.slot, false);
        }
    }

    fn settle(&self, how: u8) {
        let r = if how == DONE {
            Ok(())
        } else {
            // SAFETY: as in `RecvCase::settle`; on CLOSED the value is
            // still in the slot.
            match unsafe { self.slot.value() }.take() {
                Some(v) => Err(SendError(v)),
                None => Ok(()),
            }
        };
        self.out.set(Some(r));
    }
}

/// Runs a select over `cases` (see the module doc); `block: false` is a
/// select with a `default` arm. Returns the index of the case that
/// completed, or `None` when nothing was ready and `block` is false.
#[doc(hidden)]
#[track_caller]
pub fn __select_fixed<const N: usize>(cases: [CaseRef<'_>; N], block: bool) -> Option<usize> {
    let mut order = [0u32; N];
    let mut locks = [0u32; N];
    let cases: [&dyn Case; N] = cases.map(|c| c.0);
    select_in(
        &cases,
        &mut order,
        &mut locks,
        block,
        Some(std::panic::Location::caller()),
    )
}

/// The select over `cases` with scratch space for the poll and lock orders
/// (each as long as `cases`).
pub(crate) fn select_in(
    cases: &[&dyn Case],
    order: &mut [u32],
    locks: &mut [u32],
    block: bool,
    site: Option<&'static std::panic::Location<'static>>,
) -> Option<usize> {
    if let Some(site) = site {
        if block {
            crate::api::note_site(site);
        }
    }
    let n = cases.len();
    assert!(n <= u32::MAX as usize, "select: too many cases");
    // A random poll order (Fisher-Yates) of the non-nil cases.
    let mut live = 0;
    for (i, c) in cases.iter().enumerate() {
        if c.key() == 0 {
            continue;
        }
        let j = crate::sched::worker::fastrand(live + 1);
        order[live] = order[j];
        order[j] = i as u32;
        live += 1;
    }
    let order = &order[..live];
    // The lock order: by channel address (insertion sort: selects are small).
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
        block_forever(WaitReason::Select);
    }
    let locks = &*locks;
    lock_all(cases, locks);

    // Pass 1: the first ready case in poll order.
    for &i in order {
        // SAFETY: every case's channel is locked by this thread.
        if let Some(wake) = unsafe { cases[i as usize].try_now() } {
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

    // Pass 2: queue on every channel and park.
    let tok = SelToken::new(Waiter::current());
    for &i in locks {
        // SAFETY: locked; the guard below dequeues every case before `tok`
        // goes out of scope, on return and on unwinding alike.
        unsafe { cases[i as usize].enqueue(&tok, i) };
    }
    let cleanup = Cleanup { cases, locks };
    // SAFETY: locked above, no reference into any state alive.
    unsafe { unlock_all(cases, locks) };
    let external = cases.iter().any(|c| c.external());
    let (won, how) = wait(&tok, external);

    // Pass 3: leave the other channels' queues.
    drop(cleanup);
    let won = won as usize;
    cases[won].settle(how);
    Some(won)
}

/// Parks until a peer completed the token.
fn wait(tok: &SelToken, external: bool) -> (u32, u8) {
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
        park::park(WaitReason::Select);
    };
    if let Some(sh) = &shared {
        sh.external_blocked
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
    out
}

/// Takes every case off its queue when the select leaves: after its wake-up,
/// or when its goroutine unwinds while parked (runtime shutdown).
struct Cleanup<'a, 'c> {
    cases: &'a [&'c dyn Case],
    locks: &'a [u32],
}

impl Drop for Cleanup<'_, '_> {
    fn drop(&mut self) {
        for &i in self.locks {
            self.cases[i as usize].dequeue();
        }
    }
}

fn lock_all(cases: &[&dyn Case], locks: &[u32]) {
    let mut prev = 0;
    for &i in locks {
        let c = cases[i as usize];
        if c.key() != prev {
            c.lock();
            prev = c.key();
        }
    }
}

/// # Safety
/// `lock_all(cases, locks)` locked them on this thread; no reference into
/// any channel's state is alive.
unsafe fn unlock_all(cases: &[&dyn Case], locks: &[u32]) {
    let mut prev = 0;
    for &i in locks.iter() {
        let c = cases[i as usize];
        if c.key() != prev {
            // SAFETY: the caller's guarantee; each channel once.
            unsafe { c.unlock() };
            prev = c.key();
        }
    }
}

/// Blocks the caller for good: `select! {}` (reason `forever`), or a select
/// whose cases are all nil (reason `select`). With nothing else left to run,
/// the runtime reports a deadlock.
fn block_forever(reason: WaitReason) -> ! {
    // Nothing will ever wake this goroutine, but something must keep it (a
    // parked goroutine is owned by its wakers): this handle does, so that
    // the runtime still sees it parked, reports the deadlock, and unwinds
    // it at shutdown.
    let _owner = Waiter::current();
    loop {
        park::park(reason);
    }
}

/// `select! {}`: blocks the goroutine for good (Go's `select {}`).
#[doc(hidden)]
#[track_caller]
pub fn __block_forever() -> ! {
    crate::api::note_site(std::panic::Location::caller());
    block_forever(WaitReason::Forever)
}

/// What a receive operand of `select!` may be: a `Receiver<T>` (by value or
/// by reference), or an `Option<&Receiver<T>>` where `None` is a nil channel
/// (never ready).
pub trait RecvOperand {
    /// The element type.
    type Item;
    #[doc(hidden)]
    fn __receiver(&self) -> Option<&Receiver<Self::Item>>;
}

impl<T> RecvOperand for Receiver<T> {
    type Item = T;
    fn __receiver(&self) -> Option<&Receiver<T>> {
        Some(self)
    }
}

impl<T> RecvOperand for &Receiver<T> {
    type Item = T;
    fn __receiver(&self) -> Option<&Receiver<T>> {
        Some(self)
    }
}

impl<T> RecvOperand for Option<&Receiver<T>> {
    type Item = T;
    fn __receiver(&self) -> Option<&Receiver<T>> {
        *self
    }
}

impl<T> RecvOperand for Option<Receiver<T>> {
    type Item = T;
    fn __receiver(&self) -> Option<&Receiver<T>> {
        self.as_ref()
    }
}

/// What a send operand of `select!` may be: a `&Sender<T>` (or a `Sender<T>`
/// by value), or an `Option<&Sender<T>>` where `None` is a nil channel.
pub trait SendOperand {
    /// The element type.
    type Item;
    #[doc(hidden)]
    fn __sender(&self) -> Option<&Sender<Self::Item>>;
}

impl<T> SendOperand for &Sender<T> {
    type Item = T;
    fn __sender(&self) -> Option<&Sender<T>> {
        Some(self)
    }
}

impl<T> SendOperand for Sender<T> {
    type Item = T;
    fn __sender(&self) -> Option<&Sender<T>> {
        Some(self)
    }
}

impl<T> SendOperand for Option<&Sender<T>> {
    type Item = T;
    fn __sender(&self) -> Option<&Sender<T>> {
        *self
    }
}

/// Waits on a set of channel operations chosen at run time, and completes
/// exactly one (Go's `reflect.Select`; the shape of crossbeam's `Select`).
///
/// Cases are added with [`recv`](Select::recv) and [`send`](Select::send),
/// which return the case's index; a send's value is given up front, as in
/// Go, since a waiting receiver may take it at any moment once the select
/// blocks. [`select`](Select::select) blocks until one case completes and
/// returns it; [`SelectedOperation::recv`] and [`SelectedOperation::send`]
/// then give its outcome.
///
/// ```
/// gort_runtime::run(|| {
///     let chans: Vec<_> = (0..4).map(|_| gort_runtime::chan::<usize>(1)).collect();
///     chans[2].0.send(7).unwrap();
///     let mut sel = gort_runtime::Select::new();
///     for (_, rx) in &chans {
///         sel.recv(rx);
///     }
///     let op = sel.select();
///     assert_eq!(op.index(), 2);
///     assert_eq!(op.recv(&chans[2].1), Some(7));
/// });
/// ```
pub struct Select<'a> {
    cases: Vec<Box<dyn Case + 'a>>,
    order: Vec<u32>,
    locks: Vec<u32>,
}

/// A case [`Select::select`] completed.
pub struct SelectedOperation<'s, 'a> {
    sel: &'s mut Select<'a>,
    index: usize,
}

/// [`Select::try_select`] found no case ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrySelectError;

impl fmt::Display for TrySelectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no select case was ready")
    }
}

impl std::error::Error for TrySelectError {}

impl Default for Select<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Select<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Select")
            .field("cases", &self.cases.len())
            .finish()
    }
}

impl fmt::Debug for SelectedOperation<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelectedOperation")
            .field("index", &self.index)
            .finish()
    }
}

impl<'a> Select<'a> {
    /// A select with no cases.
    pub fn new() -> Self {
        Select {
            cases: Vec::new(),
            order: Vec::new(),
            locks: Vec::new(),
        }
    }

    fn push(&mut self, c: Box<dyn Case + 'a>) -> usize {
        self.cases.push(c);
        self.order.push(0);
        self.locks.push(0);
        self.cases.len() - 1
    }

    /// Adds a receive from `rx`; returns the case's index.
    pub fn recv<T: Send>(&mut self, rx: &'a Receiver<T>) -> usize {
        self.push(Box::new(RecvCase::new(Some(rx))))
    }

    /// Adds a receive from `rx`, or a nil case (never ready) for `None`;
    /// returns the case's index.
    pub fn recv_opt<T: Send>(&mut self, rx: Option<&'a Receiver<T>>) -> usize {
        self.push(Box::new(RecvCase::new(rx)))
    }

    /// Adds a send of `v` on `tx`; returns the case's index. The value is
    /// dropped with the `Select` unless this case completes.
    pub fn send<T: Send>(&mut self, tx: &'a Sender<T>, v: T) -> usize {
        self.push(Box::new(SendCase::new(Some(tx), v)))
    }

    /// Adds a send of `v` on `tx`, or a nil case (never ready) for `None`;
    /// returns the case's index.
    pub fn send_opt<T: Send>(&mut self, tx: Option<&'a Sender<T>>, v: T) -> usize {
        self.push(Box::new(SendCase::new(tx, v)))
    }

    /// Blocks until one case completes, and returns it. With no cases (or
    /// only nil ones) this blocks for good, as Go's `select {}`.
    ///
    /// # Panics
    /// If called again after a case completed (each `Select` completes one
    /// operation).
    #[track_caller]
    pub fn select(&mut self) -> SelectedOperation<'_, 'a> {
        let site = std::panic::Location::caller();
        match self.run(true, site) {
            Some(index) => SelectedOperation { sel: self, index },
            None => unreachable!("a blocking select returned no case"),
        }
    }

    /// Completes a case that is ready now, without blocking.
    ///
    /// # Errors
    /// [`TrySelectError`] when no case is ready.
    ///
    /// # Panics
    /// As [`select`](Select::select).
    #[track_caller]
    pub fn try_select(&mut self) -> Result<SelectedOperation<'_, 'a>, TrySelectError> {
        let site = std::panic::Location::caller();
        match self.run(false, site) {
            Some(index) => Ok(SelectedOperation { sel: self, index }),
            None => Err(TrySelectError),
        }
    }

    fn run(&mut self, block: bool, site: &'static std::panic::Location<'static>) -> Option<usize> {
        assert!(
            self.order.first() != Some(&u32::MAX),
            "gort::Select: select called again after a case completed; build a new Select"
        );
        let cases: Vec<&dyn Case> = self.cases.iter().map(|c| &**c).collect();
        let got = select_in(&cases, &mut self.order, &mut self.locks, block, Some(site));
        if got.is_some() {
            if let Some(o) = self.order.first_mut() {
                *o = u32::MAX;
            }
        }
        got
    }
}

impl<'a> SelectedOperation<'_, 'a> {
    /// The index of the case that completed.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The completed case, checked to be a `recv` (or send) case on the
    /// channel at address `chan`.
    fn case_ptr(&self, chan: usize, recv: bool) -> *const (dyn Case + 'a) {
        let c = &*self.sel.cases[self.index];
        let want = if recv { "receive" } else { "send" };
        assert!(
            c.is_recv() == recv,
            "gort::SelectedOperation::{}: case {} is not a {want} case",
            if recv { "recv" } else { "send" },
            self.index
        );
        assert!(
            c.key() == chan,
            "gort::SelectedOperation: the channel passed is not the one of case {}",
            self.index
        );
        c as *const (dyn Case + 'a)
    }

    /// The received value of the completed receive case: `None` when the
    /// channel is closed and drained.
    ///
    /// # Panics
    /// If `rx` is not the channel of the completed case, or the case is a send.
    pub fn recv<T: Send + 'a>(self, rx: &Receiver<T>) -> Option<T> {
        let p = self.case_ptr(rx.chan.key(), true);
        // SAFETY: `case_ptr` checked that the case is a receive case, so
        // `Select::recv`/`recv_opt` built it as a `RecvCase`, on the channel
        // at `rx`'s address; a live `Chan`'s address identifies its `T`
        // (the case borrows its channel for `'a`, so it cannot be another).
        let c = unsafe { &*(p as *const RecvCase<'a, T>) };
        c.out.take().unwrap_or_else(|| {
            unreachable!("gort::SelectedOperation: the completed case has no outcome")
        })
    }

    /// The result of the completed send case.
    ///
    /// # Errors
    /// The value back if the channel was closed.
    ///
    /// # Panics
    /// If `tx` is not the channel of the completed case, or the case is a
    /// receive.
    pub fn send<T: Send + 'a>(self, tx: &Sender<T>) -> Result<(), SendError<T>> {
        let p = self.case_ptr(tx.chan.key(), false);
        // SAFETY: as in `recv`: a send case, built by `Select::send` as a
        // `SendCase` on `tx`'s channel.
        let c = unsafe { &*(p as *const SendCase<'a, T>) };
        c.out.take().unwrap_or_else(|| {
            unreachable!("gort::SelectedOperation: the completed case has no outcome")
        })
    }
}
