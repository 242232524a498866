//! `after_func`: a timer whose firing starts a goroutine.

use super::{arm, Timer};
use crate::chan::timer::timer_chan;
use crate::hooks as tr;
use crate::sched::context::current_worker;
use crate::sched::timer_core::Action;
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::Arc;
use std::time::{Duration, Instant};

type Callback = Arc<dyn Fn() + Send + Sync + 'static>;

/// Starts `f` in a new goroutine each time the timer fires.
struct Spawn {
    f: Callback,
    site: &'static Location<'static>,
}

impl Action for Spawn {
    fn fire(&self, _when: Instant) -> bool {
        let f = self.f.clone();
        let body = move || {
            // As a goroutine started with `go` whose handle was dropped: a
            // panic is reported by the panic hook and goes no further.
            let _ = panic::catch_unwind(AssertUnwindSafe(|| f()));
        };
        let w = current_worker();
        if w.is_null() {
            // The process-wide timer thread (the timer was made outside any
            // runtime): no goroutine to start, a thread instead.
            if let Err(e) = std::thread::Builder::new()
                .name("gort-after-func".into())
                .spawn(body)
            {
                crate::fatal(&format!(
                    "gort::time::after_func: cannot start a thread: {e}"
                ));
            }
            return true;
        }
        // SAFETY: a non-null current worker is alive while its thread runs
        // its loop, and this call does not suspend.
        let w = unsafe { &*w };
        let name = std::any::type_name::<Callback>();
        match w.shared.new_task(self.site, name, move |_| body()) {
            Ok(t) => {
                // Started by the scheduler (no goroutine running on this M):
                // GoCreate with an empty stack, as Go's `goFunc` timers.
                tr::go_create(w, &t, false);
                w.spawn(t);
            }
            Err(e) => crate::fatal(&format!(
                "gort::time::after_func: cannot allocate a goroutine stack: {e}"
            )),
        }
        true
    }

    fn drain(&self) -> bool {
        false
    }
}

/// Runs `f` in a new goroutine `d` from now (Go's `time.AfterFunc`), and
/// again each time the returned timer is [`reset`](Timer::reset) and fires.
/// [`Timer::stop`] returns true if it stopped the timer before `f` was
/// started. The timer's [`chan`](Timer::chan) never receives.
///
/// Outside a runtime, `f` runs on a new thread.
///
/// ```
/// use std::time::Duration;
/// gort_runtime::run(|| {
///     let (tx, rx) = gort_runtime::chan(1);
///     let _t = gort_runtime::time::after_func(Duration::from_millis(1), move || {
///         let _ = tx.try_send("fired");
///     });
///     assert_eq!(rx.recv(), Some("fired"));
/// });
/// ```
#[track_caller]
pub fn after_func<F>(d: Duration, f: F) -> Timer
where
    F: Fn() + Send + Sync + 'static,
{
    let (rx, _) = timer_chan();
    let t = Timer::with_action(
        rx,
        Box::new(Spawn {
            f: Arc::new(f),
            site: Location::caller(),
        }),
    );
    arm(&t.core, d, None);
    t
}
