//! Model 8: the trace gate (`sched::stw`): Ms entering trace hooks against
//! a start of tracing.
//!
//! The real `Gate` and `MGate` run; a loom `UnsafeCell<bool>` stands for the
//! tracer's enabled flag (and the settings behind it), which the hooks read
//! with plain loads and the flipper writes. Two Ms each run two hooks (enter,
//! read the flag, leave); the model's main thread flips the flag on, as
//! `trace::start` does, through `Gate::flip` over both Ms' words.
//!
//! Checked: no hook's read races with the write (loom checks every access
//! to the cell: a read not ordered with the write is a causality
//! violation), and an M that saw tracing on in its first hook sees it on in
//! its second (the flip is one point in every M's history). The twins drop
//! the asymmetric fence on one side of the store-buffering pair (steps 2
//! and 7 of the protocol): loom must find the interleaving where the M
//! reads an old `flipping` while the flipper reads an old `inside`, and the
//! read then races with the write.

use super::{check, check_rejects};
use crate::sched::stw::{Faithful, Gate, GateSteps, MGate};

/// Twin: an M loads `flipping` without ordering its store of `inside`
/// before.
struct EnterNoFence;
impl GateSteps for EnterNoFence {
    fn enter_fence(_asymmetric: bool) {}
}

/// Twin: the flipper loads the Ms' words without ordering its store of
/// `flipping` before.
struct FlipNoFence;
impl GateSteps for FlipNoFence {
    fn flip_fence(_asymmetric: bool) {}
}
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;

struct World<S: GateSteps> {
    gate: Gate<S>,
    ms: [MGate<S>; 2],
    enabled: UnsafeCell<bool>,
}

/// One hook of M `i`: the flag's value it read, or `None` if its wait at
/// the gate was cut short (the model's bound on spinning).
fn hook<S: GateSteps>(w: &World<S>, i: usize) -> Option<bool> {
    let m = &w.ms[i];
    if !m.enter(&w.gate) {
        return None;
    }
    // SAFETY: the gate orders this read with the flipper's write; that is
    // the claim under test, and loom reports a read it does not order.
    let on = w.enabled.with(|p| unsafe { *p });
    m.leave();
    Some(on)
}

/// Hooks that read the flag off and on, over all executions of the faithful
/// model: both must happen, or the model shows nothing.
static SEEN: [std::sync::atomic::AtomicUsize; 2] = [
    std::sync::atomic::AtomicUsize::new(0),
    std::sync::atomic::AtomicUsize::new(0),
];

fn model<S: GateSteps + 'static>() {
    let w = Arc::new(World::<S> {
        gate: Gate::new(),
        ms: [MGate::new(), MGate::new()],
        enabled: UnsafeCell::new(false),
    });
    let ms: Vec<_> = (0..2)
        .map(|i| {
            let w = w.clone();
            thread::spawn(move || {
                if let Some(first) = hook(&w, i) {
                    SEEN[usize::from(first)].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if let Some(second) = hook(&w, i) {
                        assert!(!first || second, "M{i} saw tracing on, then off");
                    }
                }
            })
        })
        .collect();
    w.gate.flip(
        |each| w.ms.iter().for_each(|m| each(m)),
        // SAFETY: no M is inside a hook during `write` (the claim under
        // test, checked by loom as above).
        || w.enabled.with_mut(|p| unsafe { *p = true }),
    );
    for m in ms {
        m.join().unwrap();
    }
}

#[test]
fn loom_gate_hooks_vs_start() {
    check("gate_hooks_vs_start", model::<Faithful>);
    let seen = |on: bool| SEEN[usize::from(on)].load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        seen(false) > 0 && seen(true) > 0,
        "hooks saw tracing off {} times and on {} times: the model misses a side",
        seen(false),
        seen(true)
    );
}

const REJECTED: &[&str] = &["Causality violation", "causality violation"];

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_gate_twin_enter_no_fence_is_rejected() {
    check_rejects("gate_twin_enter_no_fence", REJECTED, model::<EnterNoFence>);
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_gate_twin_flip_no_fence_is_rejected() {
    check_rejects("gate_twin_flip_no_fence", REJECTED, model::<FlipNoFence>);
}
