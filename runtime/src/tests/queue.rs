//! Model 6: a P's local run queue (`sched::queue`), CAPACITY = 4 under loom.
//!
//! The owner M pops and pushes past capacity (wrapping the ring and
//! overflowing half of it to the global queue) while a thief M steals half
//! into its own queue and drains it. Every goroutine (a plain number) must
//! come out exactly once, and loom checks every slot access for races.

use super::{check, check_rejects};
use crate::sched::queue::{local_variant, Faithful, QueueSteps, Stolen, CAPACITY};
use loom::sync::atomic::Ordering::{self, Relaxed};

/// Twin: `push_back` publishes the new slot with a `Relaxed` store of
/// `tail`: a stealer can claim the slot without seeing its contents.
struct PublishRelaxed;
impl QueueSteps for PublishRelaxed {
    fn publish() -> Ordering {
        Relaxed
    }
}

/// Twin: `push_back` measures free room from `real` instead of `steal`: the
/// owner can overwrite slots a stealer is still copying.
struct RoomFromReal;
impl QueueSteps for RoomFromReal {
    fn room_from(_steal: u32, real: u32) -> u32 {
        real
    }
}

/// Items queued before the thief starts.
const PREFILL: u32 = 2;
/// Items pushed by the owner while the thief runs.
const PUSHED: u32 = 4;

fn model<S: QueueSteps + 'static>() {
    assert_eq!(CAPACITY, 4, "the model is sized for the loom capacity");
    let (mut q, steal) = local_variant::<u32, S>();
    let mut global = Vec::new();
    for i in 0..PREFILL {
        q.push_back(i, &mut |_| unreachable!("prefill cannot overflow"));
    }
    let thief = loom::thread::spawn(move || {
        let (mut mine, _peer) = local_variant::<u32, S>();
        let mut got = Vec::new();
        match steal.steal_into(&mut mine) {
            Stolen::Got(v) => got.push(v),
            Stolen::Empty => {}
            Stolen::Retry => panic!("the only thief was told to retry"),
        }
        while let Some(v) = mine.pop() {
            got.push(v);
        }
        got
    });
    let mut ran = Vec::new();
    ran.extend(q.pop());
    for i in PREFILL..PREFILL + PUSHED {
        q.push_back(i, &mut |batch| global.extend(batch));
    }
    let stolen = thief.join().unwrap();
    while let Some(v) = q.pop() {
        ran.push(v);
    }
    let mut all: Vec<u32> = ran.iter().chain(&stolen).chain(&global).copied().collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (0..PREFILL + PUSHED).collect::<Vec<_>>(),
        "each goroutine runs exactly once (owner {ran:?}, thief {stolen:?}, global {global:?})"
    );
    // The owner pops in FIFO order, and the global queue receives batches
    // in queue order.
    assert!(ran.windows(2).all(|w| w[0] < w[1]), "owner order {ran:?}");
}

#[test]
fn loom_runq_owner_push_pop_overflow_vs_thief_steal() {
    check(
        "runq_owner_push_pop_overflow_vs_thief_steal",
        model::<Faithful>,
    );
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_runq_twin_publish_relaxed_is_rejected() {
    check_rejects(
        "runq_twin_publish_relaxed",
        &["Causality violation"],
        model::<PublishRelaxed>,
    );
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_runq_twin_room_from_real_is_rejected() {
    check_rejects(
        "runq_twin_room_from_real",
        &["Causality violation"],
        model::<RoomFromReal>,
    );
}
