//! The select token: one per blocked `select`, shared by all its cases.
//!
//! A blocked select has one entry queued on every channel it waits on. A
//! peer that pops such an entry (holding that channel's lock, but none of
//! the others) must first win the select: [`Token::claim`] is a
//! compare-and-swap from open to "won by case i", so exactly one peer wins,
//! whatever channels the peers hold. A peer that loses drops the entry (it
//! is stale: its select already has its outcome) and looks at the next one;
//! the selector removes its remaining entries itself once it runs again.
//!
//! The winner writes the outcome into the case's slot (under its channel's
//! lock), then [`Token::complete`] takes the waiter out and publishes
//! completion with a release store. The selector reads the outcome only
//! after an acquire load sees completion, so the slot's contents are visible
//! to it; the winner does not touch the token after its store, since the
//! selector may return (and the token, on its stack, go) at once.

use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicU32, AtomicU8, Ordering::*};
use std::marker::PhantomData;

/// No case has won yet.
pub(crate) const OPEN: u32 = 0;

/// Completion states (`Token::done`).
pub(crate) const PENDING: u8 = 0;
/// The winning case's operation happened (a value was handed over).
pub(crate) const DONE: u8 = 1;
/// The winning case's channel closed (or lost its last receiver).
pub(crate) const CLOSED: u8 = 2;

/// The step of the protocol that a loom model's broken twin replaces (in
/// `tests/select.rs`). The runtime runs the default, through [`Faithful`].
pub(crate) trait TokenSteps {
    /// Wins the token for `case` (the index plus one is stored) if no case
    /// has yet. AcqRel: the winner's later reads of the selector's writes
    /// are ordered after it; the failure load needs nothing.
    #[inline(always)]
    fn claim(won: &AtomicU32, case: u32) -> bool {
        won.compare_exchange(OPEN, case + 1, AcqRel, Relaxed)
            .is_ok()
    }
}

/// The protocol as the runtime runs it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Faithful;

impl TokenSteps for Faithful {}

/// See the module doc. `W` is whatever wakes the selector (a goroutine or a
/// thread; a plain value in the models). `S` is the runtime's [`Faithful`]
/// steps, or a broken twin's in the models.
pub(crate) struct Token<W, S: TokenSteps = Faithful> {
    /// `OPEN`, or the winning case's index plus one.
    won: AtomicU32,
    /// `PENDING` until the winner has written the outcome.
    done: AtomicU8,
    /// Taken by the winner, between `claim` and `complete`.
    waiter: UnsafeCell<Option<W>>,
    steps: PhantomData<S>,
}

impl<W, S: TokenSteps> Token<W, S> {
    /// An open token that wakes `waiter`.
    pub(crate) fn new(waiter: W) -> Self {
        Token {
            won: AtomicU32::new(OPEN),
            done: AtomicU8::new(PENDING),
            waiter: UnsafeCell::new(Some(waiter)),
            steps: PhantomData,
        }
    }

    /// A peer holding the lock of the channel where `case` is queued tries
    /// to win the select for that case. True for exactly one caller per
    /// token; that caller must then call [`complete`](Self::complete).
    #[inline]
    pub(crate) fn claim(&self, case: u32) -> bool {
        S::claim(&self.won, case)
    }

    /// The winner, after writing the outcome into the case's slot: publishes
    /// completion (`DONE` or `CLOSED`) and returns the waiter to wake. The
    /// token must not be touched after this call.
    pub(crate) fn complete(&self, how: u8) -> W {
        debug_assert!(how == DONE || how == CLOSED);
        // SAFETY: only the one successful claimer reaches here, and the
        // selector reads the cell only after its acquire load of `done`
        // sees the store below, which comes after this take.
        let w = self.waiter.with_mut(|p| unsafe { (*p).take() });
        let Some(w) = w else {
            unreachable!("a select token is completed once");
        };
        // Release: the slot written before becomes visible to the selector's
        // acquire load in `outcome`.
        self.done.store(how, Release);
        w
    }

    /// The selector: `(case, how)` once a winner completed, else `None`.
    #[inline]
    pub(crate) fn outcome(&self) -> Option<(u32, u8)> {
        let how = self.done.load(Acquire);
        if how == PENDING {
            return None;
        }
        // Relaxed: `won` was stored before `done`'s release store, which
        // the acquire load above saw.
        Some((self.won.load(Relaxed) - 1, how))
    }
}
