//! Model 7: a blocked select woken by two peers at once (`chan::token`);
//! model 7b (below): a select's hint-skipping fast path against a send.
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
use crate::chan::lock::{HintLock, RECV_READY, SEND_READY};
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

// Model 7b: a select's fast path reads the channels' readiness hints
// without their locks (`chan::lock`) and may skip a case a send is making
// ready at that moment; a send racing a select must still reach it.
//
// Two buffered channels (room for one value), each a `HintLock` around its
// buffer and the select's queued entry. The sender puts 7 on channel 0:
// under the lock, into the select's slot if the select is queued and the
// sender wins its token, else into the buffer; its unlock publishes the
// hint. The selector runs gort's select: the fast path reads both hints
// and tries one channel whose hint says "a receive may complete", then
// pass 1 under both locks, then queues on both and waits for its token.
//
// The selector's park is modelled as joining the sender (which never
// blocks): a select still queued with no outcome then would sleep for good.
// Checked: the selector receives 7 in every interleaving (a select never
// sleeps while the value sits in a buffer), and the lock keeps the state's
// accesses ordered (loom's cell tracking).

/// A channel of the model: its buffer and the select's queued case.
#[derive(Default)]
struct ChanState {
    buf: Option<u32>,
    queued: Option<u32>,
}

impl ChanState {
    /// The hint its unlock publishes (room for one value).
    fn hint(&self) -> u32 {
        if self.buf.is_some() {
            RECV_READY
        } else {
            SEND_READY
        }
    }
}

struct HintSelect {
    chans: [HintLock<ChanState>; 2],
    tok: Token<&'static str>,
    slots: [UnsafeCell<Option<u32>>; 2],
}

// SAFETY: as for `Select`: the slots are written by the token's winner
// before its release store and read by the selector after its acquire load;
// the channels' states are reached only under their locks.
unsafe impl Sync for HintSelect {}

/// Locks channel `ch`, runs `f` on its state, unlocks with the new hint.
fn locked<R>(s: &HintSelect, ch: usize, f: impl FnOnce(&mut ChanState) -> R) -> R {
    let c = &s.chans[ch];
    c.lock();
    // SAFETY: locked just above.
    let (r, hint) = unsafe { c.with_held(|st| (f(st), st.hint())) };
    // SAFETY: locked above, no reference into the state left.
    unsafe { c.unlock(hint) };
    r
}

/// The sender: 7 on channel 0, to the queued select or into the buffer.
fn hint_sender(s: &HintSelect) {
    locked(s, 0, |st| {
        if let Some(case) = st.queued.take() {
            if s.tok.claim(case) {
                // SAFETY: the claim made this thread the only writer.
                s.slots[case as usize].with_mut(|p| unsafe { *p = Some(7) });
                let w = s.tok.complete(DONE);
                assert_eq!(w, "S", "the winner wakes the selector");
                return;
            }
        }
        st.buf = Some(7);
    });
}

/// The selector up to parking: `Some` value if it found one, `None` once
/// queued on both channels. `PASS1: false` is the broken twin, which trusts
/// hints that said "nothing ready" and queues without looking under the
/// locks.
///
/// The fast path reads every hint first, then tries one channel whose hint
/// said "a receive may complete", as `select_in` does; which one is the
/// select's random draw, here `LAST`: the highest such channel, else the
/// lowest (each choice is a model of its own).
fn hint_selector<const PASS1: bool, const LAST: bool>(s: &HintSelect) -> Option<u32> {
    let hinted: Vec<usize> = (0..2)
        .filter(|&ch| s.chans[ch].hints().any(RECV_READY))
        .collect();
    let pick = if LAST { hinted.last() } else { hinted.first() };
    if let Some(&ch) = pick {
        if let Some(v) = locked(s, ch, |st| st.buf.take()) {
            return Some(v);
        }
    }
    // Pass 1 under both locks (in order), then pass 2: queue on both.
    for c in &s.chans {
        c.lock();
    }
    let mut got = None;
    if PASS1 {
        for c in &s.chans {
            if got.is_none() {
                // SAFETY: both locks are held.
                got = unsafe { c.with_held(|st| st.buf.take()) };
            }
        }
    }
    if got.is_none() {
        for (ch, c) in s.chans.iter().enumerate() {
            // SAFETY: both locks are held.
            unsafe { c.with_held(|st| st.queued = Some(ch as u32)) };
        }
    }
    for c in s.chans.iter().rev() {
        // SAFETY: locked above, no reference into the state left.
        let hint = unsafe { c.with_held(|st| st.hint()) };
        // SAFETY: as above.
        unsafe { c.unlock(hint) };
    }
    if let Some(v) = got {
        return Some(v);
    }
    None
}

/// The selector after queueing, once the sender is done (it never blocks,
/// so no wake-up can come later): the outcome must be there.
fn hint_wait(s: &HintSelect) -> u32 {
    let Some((won, how)) = s.tok.outcome() else {
        panic!("lost wake-up: the select sleeps while the value sits in a buffer");
    };
    assert_eq!(how, DONE);
    // Pass 3: leave both queues.
    for ch in 0..2 {
        locked(s, ch, |st| st.queued = None);
    }
    // SAFETY: the acquire load in `outcome` saw the winner's completion.
    let got = s.slots[won as usize].with(|p| unsafe { *p });
    got.expect("the winner wrote the slot")
}

fn hint_model<const PASS1: bool, const LAST: bool>() {
    let s = Arc::new(HintSelect {
        chans: [
            HintLock::new(ChanState::default(), SEND_READY),
            HintLock::new(ChanState::default(), SEND_READY),
        ],
        tok: Token::new("S"),
        slots: [UnsafeCell::new(None), UnsafeCell::new(None)],
    });
    let sender = {
        let s = s.clone();
        loom::thread::spawn(move || hint_sender(&s))
    };
    let got = hint_selector::<PASS1, LAST>(&s);
    // The park, as a join: the sender never blocks, so whatever wakes the
    // select has happened once it is done.
    sender.join().unwrap();
    let got = got.unwrap_or_else(|| hint_wait(&s));
    assert_eq!(got, 7, "the select received the value sent");
}

#[test]
fn loom_select_hint_skip() {
    check("select_hint_skip", hint_model::<true, false>);
}

#[test]
fn loom_select_hint_skip_pick_last() {
    check(
        "select_hint_skip (the last hinted channel tried)",
        hint_model::<true, true>,
    );
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_select_hint_skip_twin_no_pass1() {
    check_rejects(
        "select_hint_skip (twin: a select trusts the hints and queues without pass 1)",
        &["lost wake-up"],
        hint_model::<false, false>,
    );
}
