//! loom models of the runtime's lock-free protocols (built only under
//! `RUSTFLAGS="--cfg loom"`; run with `scripts/loom`).
//!
//! Each model drives the real protocol code with plain values standing in
//! for goroutines, and has a broken twin (the same protocol with one step
//! removed or one ordering weakened, selected by a const generic in the
//! modelled type) that loom must reject: its test is `#[should_panic]`.
//!
//! | model file   | protocol                                                  |
//! |--------------|-----------------------------------------------------------|
//! | `pull.rs`    | a `Pull`'s biased guard: the coroutine hand-off between Ms |
//! | `park.rs`    | the park word: goroutine park/unpark                      |
//! | `future.rs`  | `future::block_on`'s waker handshake over the park word   |
//! | `idle.rs`    | idle-M wake-up: `wakep` against `go_idle`                 |
//! | `queue.rs`   | the local run queue: push/pop/steal, overflow to global   |
//! | `timer.rs`   | a timer's `stop` racing its firing (no stale value)        |
//! | `select.rs`  | a blocked select woken by two peers: exactly one wins      |
//! |              | a select skipping channels by their hints, racing a send   |
//! | `netpoll.rs` | the poller's ready/wait handshake per direction            |
//! | `gate.rs`    | the trace gate: Ms entering hooks against a start of tracing |

mod future;
mod gate;
mod idle;
mod netpoll;
mod park;
mod pull;
mod queue;
mod select;
mod timer;

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
