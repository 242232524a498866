//! Model 4: "first mention in this generation" bookkeeping
//! (`status::ResourceTrace`: `claim`, `traced_in`, `next_seq`) when two Ms
//! touch the same goroutine.
//!
//! Goroutine G is parked. M1 unblocks it (`go_unblock`: G's lazy status,
//! then a sequenced event) and hands it to M2 through a channel (the run
//! queue), and M2 starts it (`go_start`): the runtime orders the two Ms'
//! mentions of G, which is the precondition `status.rs` states. Both write
//! through the real lockers and event writers, and either may be the first
//! to mention G in a generation. Meanwhile the advancer (the
//! model's main thread) ends generation 1 as `Advancer::advance` does it:
//! step 1 records G if it is not traced in 1, steps 2 and 3 publish
//! generation 2 and take every M's buffer, step 4 writes G's status only if
//! G is *still* not traced in 1 (extracted from `generation.rs`).
//!
//! Checked, on the decoded batches: G has exactly one status in generation 1
//! (an M's or the advancer's) and in generation 2 exactly one if any event
//! there names it; in each generation G's sequence numbers are 1, 2, ... in
//! the order of the events (unblock before start).

use super::{check, check_rejects, end_generation, events, trace_on};
use crate::buf::TraceBuf;
use crate::locker::{self, acquire};
use crate::loom::sync::Arc;
use crate::registry::ThreadTrace;
use crate::status::GoTrace;
use crate::wire::{EventType, GoStatus};

/// The advance as written.
const FAITHFUL: u8 = 0;
/// Step 4 removed: the advancer writes a status for every goroutine it
/// recorded in step 1, even one an M mentioned meanwhile.
const NO_RECHECK: u8 = 1;
/// Outside the precondition: M2 also mentions G (`go_status`) while M1
/// unblocks it, unordered. The claim gives one status, but the winner's
/// reset of the sequence counter can land after the loser's increment.
const RACING_MENTION: u8 = 2;

const G: u64 = 42;

/// G's statuses and sequence numbers in `bufs`.
fn mentions(bufs: &[TraceBuf]) -> (usize, Vec<(EventType, u64)>) {
    let mut statuses = 0;
    let mut seqs = Vec::new();
    for b in bufs {
        for (ty, n) in events(b) {
            match ty {
                EventType::GoStatus if n[1] == G => statuses += 1,
                EventType::GoUnblock | EventType::GoStart if n[1] == G => seqs.push((ty, n[2])),
                _ => {}
            }
        }
    }
    (statuses, seqs)
}

fn model<const V: u8>() {
    trace_on(1);
    let gt = Arc::new(GoTrace::default());
    let ms: Vec<Arc<ThreadTrace>> = (0..2)
        .map(|i| {
            let t = ThreadTrace::register(20 + i);
            t.unlist();
            t
        })
        .collect();
    let (tx, rx) = loom::sync::mpsc::channel::<()>();
    let m1 = {
        let (t, gt) = (ms[0].clone(), gt.clone());
        loom::thread::spawn(move || {
            let mut l = acquire(&t).expect("tracing is on");
            l.writer(None, None).go_unblock(G, &gt, 0);
            drop(l);
            tx.send(()).unwrap();
        })
    };
    let m2 = {
        let (t, gt) = (ms[1].clone(), gt.clone());
        loom::thread::spawn(move || {
            if V == RACING_MENTION {
                let mut l = acquire(&t).expect("tracing is on");
                l.writer(None, None)
                    .go_status(G, &gt, None, GoStatus::Waiting);
            }
            rx.recv().unwrap();
            let mut l = acquire(&t).expect("tracing is on");
            l.writer(None, None).go_start(G, &gt);
        })
    };
    // Step 1: G is pending if not traced in generation 1 yet.
    let pending = !gt.traced_in(1);
    let gen1 = end_generation(1, &ms);
    // Step 4: still pending?
    let advancer_status = pending && (V == NO_RECHECK || !gt.traced_in(1));
    m1.join().unwrap();
    m2.join().unwrap();
    let gen2 = end_generation(2, &ms);

    for (gen, bufs, extra) in [(1, &gen1, usize::from(advancer_status)), (2, &gen2, 0)] {
        let (statuses, seqs) = mentions(bufs);
        let statuses = statuses + extra;
        let named = statuses > 0 || !seqs.is_empty();
        assert_eq!(
            statuses,
            usize::from(gen == 1 || named),
            "generation {gen}: G has {statuses} statuses (events {seqs:?})"
        );
        let mut nums: Vec<u64> = seqs.iter().map(|&(_, s)| s).collect();
        nums.sort_unstable();
        assert_eq!(
            nums,
            (1..=seqs.len() as u64).collect::<Vec<_>>(),
            "generation {gen}: G's sequence numbers {seqs:?}"
        );
        if let [(EventType::GoUnblock, a), (EventType::GoStart, b)]
        | [(EventType::GoStart, b), (EventType::GoUnblock, a)] = seqs[..]
        {
            assert!(a < b, "generation {gen}: unblock {a} not before start {b}");
        }
    }
}

#[test]
fn loom_status_first_mention_two_ms_one_goroutine_vs_advance() {
    check(
        "status_first_mention_two_ms_one_goroutine_vs_advance",
        model::<FAITHFUL>,
    );
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_status_twin_advance_without_recheck_is_rejected() {
    check_rejects(
        "status_twin_advance_without_recheck",
        &["statuses"],
        model::<NO_RECHECK>,
    );
}

/// Documents the precondition of `status.rs` (mentions of one resource that
/// advance its sequence are ordered by the runtime): with an unordered
/// first mention, loom finds a generation where G's sequence numbers repeat.
#[test]
#[should_panic(expected = "loom rejected")]
fn loom_status_racing_first_mentions_break_sequence_numbers() {
    check_rejects(
        "status_racing_first_mentions",
        &["sequence numbers"],
        model::<RACING_MENTION>,
    );
}
