//! Timers and tickers (Go 1.23's `time.After`, `Tick`, `Timer`, `Ticker`,
//! `AfterFunc`), run by the scheduler: no thread and no goroutine per timer.
//!
//! A timer is an entry in the timer heap of the P its creator runs on; the
//! Ms run due entries when they look for work, and an idle M sleeps exactly
//! until the earliest one. Go 1.23's semantics:
//!
//! - After [`Timer::stop`] or [`Timer::reset`] returns, no value of an
//!   earlier arming is ever received (a value sent and not yet received is
//!   taken back, and `stop`/`reset` then return true).
//! - A [`Ticker`] drops ticks its receiver is too slow for, and skips the
//!   periods it missed: the next tick is the next multiple of the period.
//! - A timer channel never closes: a second receive from [`after`] blocks,
//!   as in Go. It buffers at most one value, so its `len()` is 0 or 1 (Go
//!   reports 0 for timer channels).
//! - A timer nobody can receive from is garbage: the heap holds its channel
//!   only weakly, so dropping every handle and receiver frees the channel
//!   at once, and the small heap entry goes at its deadline (a ticker's at
//!   its next tick).
//! - A pending timer, like a sleeping goroutine, is not a deadlock: the
//!   runtime waits for it. (Go also reports a deadlock when the only pending
//!   timer is an unreceived `NewTimer`; gort waits for it.)
//!
//! Outside a runtime (on a plain thread), timers work the same and are run
//! by one process-wide thread, started on first use; [`after_func`]'s
//! callback then runs on a new thread rather than a goroutine.
//!
//! ```
//! use std::time::Duration;
//! gort_runtime::run(|| {
//!     let t = gort_runtime::time::Timer::new(Duration::from_secs(3600));
//!     assert!(t.stop(), "a pending timer is stopped");
//!     let fired = gort_runtime::time::after(Duration::from_millis(1)).recv();
//!     assert!(fired.is_some());
//! });
//! ```

mod func;

pub use func::after_func;

use crate::chan::timer::timer_chan;
use crate::chan::Receiver;
use crate::sched::timer_core::{Action, Core};
use crate::sched::timers::{schedule, Target};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Arms `core` for `d` from now (then every `period`); returns whether it
/// was pending.
fn arm(core: &Arc<Core>, d: Duration, period: Option<Duration>) -> bool {
    let when = Instant::now() + d;
    core.reset(Some(when), period, |seq, when| {
        schedule(when, Target::Timer(core.clone(), seq))
    })
}

/// A channel that receives the time once, `d` from now (Go's `time.After`).
///
/// The timer behind it cannot be stopped; use [`Timer`] for that. Dropping
/// the receiver makes the timer garbage.
pub fn after(d: Duration) -> Receiver<Instant> {
    let (rx, send) = timer_chan();
    let core = Arc::new(Core::new(Box::new(send)));
    arm(&core, d, None);
    rx
}

/// A channel that receives the time every `d` (Go's `time.Tick`), dropping
/// ticks a slow receiver misses. A zero `d` gives a channel that never
/// receives (Go returns a nil channel). Dropping the receiver stops the
/// ticker at its next tick.
pub fn tick(d: Duration) -> Receiver<Instant> {
    Ticker::new(d).rx
}

/// A one-shot timer (Go's `time.Timer`): its channel receives the time it
/// fired at, once per arming.
pub struct Timer {
    rx: Receiver<Instant>,
    core: Arc<Core>,
}

impl Timer {
    /// A timer that fires `d` from now.
    pub fn new(d: Duration) -> Timer {
        let (rx, send) = timer_chan();
        let t = Timer::with_action(rx, Box::new(send));
        arm(&t.core, d, None);
        t
    }

    fn with_action(rx: Receiver<Instant>, action: Box<dyn Action>) -> Timer {
        Timer {
            rx,
            core: Arc::new(Core::new(action)),
        }
    }

    /// The channel the timer delivers on. For a timer made by
    /// [`after_func`] it never receives (Go's nil `C`).
    pub fn chan(&self) -> &Receiver<Instant> {
        &self.rx
    }

    /// Stops the timer. Returns true if it was pending: armed, or fired
    /// with its value not yet received (the value is taken back, so no
    /// stale value is ever received). False if it had already fired and
    /// its value was received, or was stopped.
    pub fn stop(&self) -> bool {
        self.core.stop()
    }

    /// Re-arms the timer to fire `d` from now, cancelling the current
    /// arming as [`stop`](Timer::stop) does; returns what `stop` would have.
    pub fn reset(&self, d: Duration) -> bool {
        arm(&self.core, d, None)
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer").finish_non_exhaustive()
    }
}

/// A periodic timer (Go's `time.Ticker`): its channel receives the time of
/// each tick, dropping ticks a slow receiver misses.
pub struct Ticker {
    rx: Receiver<Instant>,
    core: Arc<Core>,
}

impl Ticker {
    /// A ticker that ticks every `d`, first `d` from now. Go panics on a
    /// zero period; here it gives a ticker that never ticks.
    pub fn new(d: Duration) -> Ticker {
        let (rx, send) = timer_chan();
        let t = Ticker {
            rx,
            core: Arc::new(Core::new(Box::new(send))),
        };
        t.reset(d);
        t
    }

    /// The channel the ticks arrive on.
    pub fn chan(&self) -> &Receiver<Instant> {
        &self.rx
    }

    /// Stops the ticker: no tick is received afterwards (one sent and not
    /// yet received is taken back).
    pub fn stop(&self) {
        self.core.stop();
    }

    /// Restarts the ticker with period `d`, first tick `d` from now (a zero
    /// `d` stops it). No tick of the old period is received afterwards.
    pub fn reset(&self, d: Duration) {
        if d.is_zero() {
            self.core.stop();
        } else {
            arm(&self.core, d, Some(d));
        }
    }
}

impl fmt::Debug for Ticker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticker").finish_non_exhaustive()
    }
}
