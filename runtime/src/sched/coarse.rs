//! A coarse clock for goroutine dumps: whole seconds since the first use,
//! kept in one atomic that parking reads with a plain load.
//!
//! A dump says how long a goroutine has waited only once it is a minute or
//! more (as Go's does), so the clock need not be exact; what it must not be
//! is expensive on the park path, where reading the real clock would add a
//! `clock_gettime` to every blocking hand-off. Instead the clock is advanced
//! where reading the real one costs nothing in comparison: by an M every
//! [`TICK_EVERY`] scheduling rounds, by an M waking from idle (after a
//! futex sleep), by sysmon when it runs, and by a dump itself. A goroutine
//! that parks while the value is stale gets an earlier stamp: its wait reads
//! at most that staleness too long, which matters only when every M ran one
//! goroutine for a long time without scheduling and nothing woke sysmon.
#![deny(unsafe_code)]

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::Instant;

/// Scheduling rounds between two advances by a busy M.
pub(crate) const TICK_EVERY: u32 = 1 << 10;

/// Seconds since [`origin`], plus 1 (0 means "never read").
static NOW: AtomicUsize = AtomicUsize::new(0);

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// The coarse time: one relaxed load.
#[inline(always)]
pub(crate) fn now() -> usize {
    NOW.load(Relaxed)
}

/// Reads the real clock and advances the coarse one to it; returns it.
pub(crate) fn advance() -> usize {
    let t = origin().elapsed().as_secs() as usize + 1;
    // `fetch_max`: two advancing threads never move the clock backwards.
    NOW.fetch_max(t, Relaxed).max(t)
}

/// Whole minutes between a stamp from [`now`] and `at` (a fresh
/// [`advance`]); 0 for an unknown stamp.
pub(crate) fn minutes_since(stamp: usize, at: usize) -> usize {
    if stamp == 0 {
        return 0;
    }
    at.saturating_sub(stamp) / 60
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advances_and_never_goes_back() {
        let a = advance();
        assert!(a >= 1);
        assert!(now() >= a);
        assert_eq!(minutes_since(0, 1000), 0);
        assert_eq!(minutes_since(1, 121), 2);
        assert_eq!(minutes_since(100, 50), 0);
    }
}
