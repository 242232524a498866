//! `Select`: a select whose cases are known only at run time.

use super::cases::{RecvCase, SendCase};
use super::{select_in, Case, CaseRef, ChanLock};
use crate::chan::{Receiver, SendError, Sender};
use std::fmt;

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
        let cases: Vec<CaseRef<'_>> = self.cases.iter().map(|c| c.case_ref()).collect();
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
        // SAFETY: `case_ptr` checked it is a receive case (so a `RecvCase`)
        // on the channel at `rx`'s address, which the case borrows for `'a`:
        // no other `Chan` (of another `T`) can be there meanwhile.
        let c = unsafe { &*(p as *const RecvCase<'a, T>) };
        c.take_outcome().unwrap_or_else(|| {
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
        c.take_outcome().unwrap_or_else(|| {
            unreachable!("gort::SelectedOperation: the completed case has no outcome")
        })
    }
}
