//! `WaitGroup`: wait for a collection of goroutines to finish.
#![deny(unsafe_code)]

use crate::loom::sync::atomic::{AtomicI64, Ordering::*};
use crate::sched::park::{self, Waiter};
use crate::task::WaitReason;
use std::sync::Arc;

#[derive(Debug, Default)]
struct Inner {
    count: AtomicI64,
    waiters: parking_lot::Mutex<Vec<Waiter>>,
}

/// Go's `sync.WaitGroup`: `add` before starting work, `done` when each
/// piece finishes, `wait` parks until the counter is zero. Cloning shares
/// the same counter.
///
/// ```
/// use gort_runtime::sync::WaitGroup;
/// gort_runtime::run(|| {
///     let wg = WaitGroup::new();
///     for _ in 0..4 {
///         wg.add(1);
///         let wg = wg.clone();
///         gort_runtime::go(move || wg.done());
///     }
///     wg.wait();
/// });
/// ```
#[derive(Clone, Debug, Default)]
pub struct WaitGroup {
    inner: Arc<Inner>,
}

impl WaitGroup {
    /// A wait group with counter zero.
    pub fn new() -> WaitGroup {
        WaitGroup::default()
    }

    /// Adds `delta` (which may be negative) to the counter; at zero, wakes
    /// every waiter.
    ///
    /// # Panics
    /// If the counter goes negative: `sync: negative WaitGroup counter`.
    pub fn add(&self, delta: i64) {
        // AcqRel: the decrement that reaches zero publishes all prior work
        // (release) to the waiters, who acquire in `wait`.
        let new = self.inner.count.fetch_add(delta, AcqRel) + delta;
        if new < 0 {
            self.inner.count.fetch_sub(delta, AcqRel);
            panic!("sync: negative WaitGroup counter");
        }
        if new == 0 {
            let ws = std::mem::take(&mut *self.inner.waiters.lock());
            for w in ws {
                w.wake();
            }
        }
    }

    /// Decrements the counter by one.
    ///
    /// # Panics
    /// If the counter goes negative.
    pub fn done(&self) {
        self.add(-1);
    }

    /// The counter's current value.
    pub fn count(&self) -> i64 {
        self.inner.count.load(Acquire)
    }

    /// Parks until the counter is zero.
    #[track_caller]
    pub fn wait(&self) {
        crate::sched::context::note_site(std::panic::Location::caller());
        loop {
            if self.inner.count.load(Acquire) == 0 {
                return;
            }
            {
                let mut ws = self.inner.waiters.lock();
                // Re-check under the lock: `add` takes it after reaching zero.
                if self.inner.count.load(Acquire) == 0 {
                    return;
                }
                ws.push(Waiter::current());
            }
            park::park(WaitReason::WaitGroupWait);
        }
    }
}
