//! loom models of the tracer's protocols (built only under
//! `RUSTFLAGS="--cfg loom"`; run with `scripts/loom`).
//!
//! Each model drives the tracer's real code (the enabled flag, lockers and
//! their seqlock, buffers, `take_finished`, the status stamps) from loom
//! threads standing in for Ms, with a faithful extraction of the few steps
//! that live elsewhere (the runtime's stop-the-world, the advancer's loop),
//! and has a broken twin (one step removed or one ordering weakened) that
//! loom must reject: its test is `#[should_panic]`.
//!
//! | model file      | protocol                                                       |
//! |-----------------|----------------------------------------------------------------|
//! | `flag.rs`       | the plain enabled flag flipped under stop-the-world            |
//! | `generation.rs` | generation advance against in-flight writers (the seqlock)     |
//! | `status.rs`     | first mention of a goroutine per generation, sequence numbers |
//! | `state.rs`      | a state change with its event, against the advancer's reads    |

mod flag;
mod generation;
mod state;
mod status;

use crate::buf::TraceBuf;
use crate::clock::Clock;
use crate::locker::{self, Flags};
use crate::wire::limits::PADDED_SIZE_BYTES;
use crate::wire::varint::read_uvarint;
use crate::wire::EventType;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

/// Preemption bound when `LOOM_MAX_PREEMPTIONS` is not set.
const DEFAULT_PREEMPTIONS: usize = 2;

fn builder() -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(DEFAULT_PREEMPTIONS);
    }
    b
}

/// Runs `f` under loom, exhaustively within the preemption bound, and prints
/// how many interleavings were explored and how long it took.
pub(crate) fn check(name: &str, f: impl Fn() + Sync + Send + 'static) {
    let b = builder();
    let n = Arc::new(AtomicUsize::new(0));
    let counter = n.clone();
    let start = Instant::now();
    b.check(move || {
        counter.fetch_add(1, Relaxed);
        f();
    });
    eprintln!(
        "loom model {name}: passed, {} interleavings in {:.2?} (preemption bound {:?})",
        n.load(Relaxed),
        start.elapsed(),
        b.preemption_bound
    );
}

/// The text of a panic payload.
fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else {
        "(non-text panic)".to_owned()
    }
}

/// Runs a broken twin under loom, which must reject it with a failure whose
/// text contains one of `reasons` (a loom "Causality violation", a model's
/// "lost wake-up", ...). Prints after how many interleavings it failed, then
/// panics with "loom rejected" for the test's `#[should_panic]`. A twin that
/// passes, or fails for another reason, panics with a different text, so its
/// test fails.
pub(crate) fn check_rejects(name: &str, reasons: &[&str], f: impl Fn() + Sync + Send + 'static) {
    let b = builder();
    let n = Arc::new(AtomicUsize::new(0));
    let counter = n.clone();
    let start = Instant::now();
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        b.check(move || {
            counter.fetch_add(1, Relaxed);
            f();
        })
    }));
    let n = n.load(Relaxed);
    match r {
        Ok(()) => panic!(
            "loom model {name}: the broken twin passed {n} interleavings; the model cannot fail"
        ),
        Err(p) => {
            let text = panic_text(&*p);
            assert!(
                reasons.iter().any(|r| text.contains(r)),
                "loom model {name}: failed for an unexpected reason: {text}"
            );
            eprintln!(
                "loom model {name}: rejected (as it must be) at interleaving {n} after {:.2?}: {}",
                start.elapsed(),
                text.lines().next().unwrap_or("")
            );
            panic!("loom rejected {name}");
        }
    }
}

/// Steps 2 and 3 of an advance (`Advancer::advance` without the sink and
/// tables): publish `gen + 1`, then take every M's `gen` buffer once it is
/// not busy, yielding between passes.
pub(crate) fn end_generation(
    gen: u64,
    ms: &[crate::loom::sync::Arc<crate::registry::ThreadTrace>],
) -> Vec<TraceBuf> {
    use crate::registry::Take;
    locker::set_gen(gen + 1);
    let mut taken = Vec::new();
    let mut left: Vec<_> = ms.iter().collect();
    loop {
        left.retain(|t| match t.take_finished(gen) {
            Take::Busy => true,
            Take::Done(b) => {
                taken.extend(b);
                false
            }
        });
        if left.is_empty() {
            return taken;
        }
        loom::thread::yield_now();
    }
}

/// Turns tracing on for a model: flags on, generation `gen`.
pub(crate) fn trace_on(gen: u64) {
    let f = Flags {
        enabled: true,
        stacks: false,
        buf_bytes: crate::buf::MIN_BUF_BYTES,
        clock: Clock::Tsc,
        asymmetric: true,
    };
    // SAFETY: called before the model spawns any thread: nothing else runs.
    unsafe { locker::set_flags(f) };
    locker::set_gen(gen);
}

/// The events of a batch: type and numbers (`dt` first).
pub(crate) fn events(b: &TraceBuf) -> Vec<(EventType, Vec<u64>)> {
    let bytes = b.bytes();
    let num = |at: &mut usize| {
        let (v, n) = read_uvarint(&bytes[*at..]).expect("a well-formed batch");
        *at += n;
        v
    };
    assert_eq!(bytes[0], EventType::EventBatch as u8);
    let mut at = 1;
    for _ in 0..3 {
        num(&mut at);
    }
    at += PADDED_SIZE_BYTES;
    let mut out = Vec::new();
    while at < bytes.len() {
        let ty = EventType::from_u8(bytes[at]).expect("a known event type");
        at += 1;
        let nums = (0..ty.arg_count()).map(|_| num(&mut at)).collect();
        out.push((ty, nums));
    }
    out
}
