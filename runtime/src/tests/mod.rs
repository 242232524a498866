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
//! | `pull.rs`    | a `Pull`'s state word: the coroutine hand-off between Ms  |
//! | `park.rs`    | the park word: goroutine park/unpark                      |
//! | `idle.rs`    | idle-M wake-up: `wakep` against `go_idle`                 |
//! | `queue.rs`   | the local run queue: push/pop/steal, overflow to global   |

mod idle;
mod park;
mod pull;
mod queue;

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

/// Runs a broken twin under loom, expecting loom to reject it: prints after
/// how many interleavings it failed, then re-raises the failure for the
/// test's `#[should_panic]`. A twin that passes fails its test.
pub(crate) fn check_rejects(name: &str, f: impl Fn() + Sync + Send + 'static) {
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
    match r {
        Ok(()) => panic!(
            "loom model {name}: the broken twin passed {} interleavings; the model cannot fail",
            n.load(Relaxed)
        ),
        Err(p) => {
            eprintln!(
                "loom model {name}: rejected (as it must be) at interleaving {} after {:.2?}",
                n.load(Relaxed),
                start.elapsed()
            );
            panic::resume_unwind(p)
        }
    }
}
