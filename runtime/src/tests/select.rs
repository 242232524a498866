//! Model 7: a blocked select woken by two peers at once (`chan::token`).
//!
//! The selector S has queued one entry on each of two channels, each a
//! queue under its own lock, both entries sharing one token, and waits for
//! an outcome. Peer P1 sends on channel 1 and peer P2 on channel 2, at the
//! same time: each pops the entry under its channel's lock, and delivers its
//! value into the case's slot only if it wins the token; a peer that loses
//! keeps its value. Once S sees the outcome it takes its remaining entries
//! off both queues (each under its lock) and reads the winning slot.
//!
//! Checked: exactly one peer delivers, S reads that peer's value (and the
//! slot write happens-before the read: loom's cell tracking), the loser kept
//! its value, and no entry is left on any queue.

use super::{check, check_rejects};
use crate::chan::token::{Faithful, Token, TokenSteps, DONE, OPEN};
use crate::loom::sync::atomic::{AtomicU32, Ordering::*};
use crate::loom::sync::{Arc, Mutex};
use loom::cell::UnsafeCell;

/// The shared state: the token, one slot per case, one queue per channel
/// (holding the index of the case queued there).
struct Select<S: TokenSteps> {
    tok: Token<&'static str, S>,
    slots: [UnsafeCell<Option<u32>>; 2],
    queues: [Mutex<Vec<u32>>; 2],
}

// SAFETY: the slots are written only by the token's single winner, before
// its release store, and read by the selector after its acquire load: loom
// checks exactly that discipline on every access.
unsafe impl<S: TokenSteps> Sync for Select<S> {}

/// A peer sending `v` on channel `ch`: `Some(v)` back if it lost.
fn peer<S: TokenSteps>(s: &Select<S>, ch: usize, v: u32) -> Option<u32> {
    let mut q = s.queues[ch].lock();
    while let Some(case) = q.pop() {
        if !s.tok.claim(case) {
            continue; // a stale entry: its select is already won
        }
        // SAFETY: the claim made this thread the only writer (see `Sync`).
        s.slots[case as usize].with_mut(|p| unsafe { *p = Some(v) });
        let waiter = s.tok.complete(DONE);
        drop(q);
        assert_eq!(waiter, "S", "the winner wakes the selector");
        return None;
    }
    Some(v)
}

fn model<S: TokenSteps + 'static>() {
    let s = Arc::new(Select::<S> {
        tok: Token::new("S"),
        slots: [UnsafeCell::new(None), UnsafeCell::new(None)],
        queues: [Mutex::new(vec![0]), Mutex::new(vec![1])],
    });
    let peers: Vec<_> = [(0usize, 10u32), (1, 20)]
        .into_iter()
        .map(|(ch, v)| {
            let s = s.clone();
            loom::thread::spawn(move || peer(&s, ch, v))
        })
        .collect();

    // S waits for an outcome (the park loop, as a yield loop).
    let (won, how) = loop {
        if let Some(o) = s.tok.outcome() {
            break o;
        }
        loom::thread::yield_now();
    };
    assert_eq!(how, DONE);
    // Pass 3: leave both queues.
    for q in &s.queues {
        q.lock().clear();
    }
    // SAFETY: the acquire load in `outcome` saw the winner's completion.
    let got = s.slots[won as usize].with(|p| unsafe { *p });

    let back: Vec<Option<u32>> = peers.into_iter().map(|h| h.join().unwrap()).collect();
    let delivered = back.iter().filter(|b| b.is_none()).count();
    assert_eq!(delivered, 1, "two wakers won one select: {back:?}");
    let winner_value = if back[0].is_none() { 10 } else { 20 };
    assert_eq!(
        got,
        Some(winner_value),
        "the selector reads the winner's value"
    );
    assert!(
        back.contains(&Some(30 - winner_value)),
        "the loser keeps its value"
    );
    assert!(
        s.queues.iter().all(|q| q.lock().is_empty()),
        "an entry was left queued"
    );
}

/// Twin: `claim` checks for an open token with a load, then stores: two
/// peers can both win the same select.
struct ClaimLoadStore;

impl TokenSteps for ClaimLoadStore {
    fn claim(won: &AtomicU32, case: u32) -> bool {
        if won.load(Acquire) != OPEN {
            return false;
        }
        won.store(case + 1, Release);
        true
    }
}

#[test]
fn loom_select_two_wakers() {
    check("select_two_wakers", model::<Faithful>);
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_select_two_wakers_twin_claim_load_store() {
    check_rejects(
        "select_two_wakers (twin: claim is a load then a store)",
        &[
            "two wakers won",
            "completed once",
            "Causality",
            "concurrent",
        ],
        model::<ClaimLoadStore>,
    );
}
