//! The trace clock: timestamps and their frequency.
//!
//! Two sources, chosen once per session at start:
//!
//! - **TSC** (x86-64 with an invariant TSC, the CPU's `constant_tsc` +
//!   `nonstop_tsc`): `rdtsc >> 6`. About 13 ns per read on the development
//!   machine, against about 36 ns for `Instant::now()`. The frequency is not
//!   known up front: the session records a (TSC, monotonic ns) pair at start
//!   and divides at the first generation end, then keeps that value for every
//!   later generation of the session (a frequency that changed between
//!   generations would make absolute times jump). A first generation of at
//!   least 2 ms is enforced at stop, bounding the estimate's error to a few
//!   parts in 10^5.
//! - **Monotonic**: nanoseconds since a process-wide base `Instant`, divided by
//!   64, with Go's fixed frequency of 15 625 000 units per second.
//!
//! Dividing by 64 keeps time deltas in one or two varint bytes, as Go does.

use std::time::{Duration, Instant};

use crate::wire::limits::UNIX_FREQUENCY;

/// Bits dropped from the raw counter (a factor of 64, as in Go).
const TICK_SHIFT: u32 = 6;

/// Shortest calibration window for the TSC frequency.
pub(crate) const MIN_CALIBRATION: Duration = Duration::from_millis(2);

/// Which counter timestamps come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Clock {
    /// `rdtsc >> 6`.
    Tsc,
    /// Monotonic nanoseconds since a process-wide origin (fixed at the
    /// first use), divided by 64.
    Monotonic,
}

/// The origin of [`Clock::Monotonic`]: one per process, so that sessions
/// started one after another never run backwards.
fn monotonic_base() -> Instant {
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

impl Clock {
    /// The best clock on this machine.
    pub(crate) fn detect() -> Clock {
        if invariant_tsc() {
            Clock::Tsc
        } else {
            let _ = monotonic_base();
            Clock::Monotonic
        }
    }

    /// The current time in trace units.
    #[inline(always)]
    pub(crate) fn now(self) -> u64 {
        match self {
            Clock::Tsc => rdtsc() >> TICK_SHIFT,
            Clock::Monotonic => (monotonic_base().elapsed().as_nanos() as u64) >> TICK_SHIFT,
        }
    }
}

/// A (clock, wall) reading taken at session start, to derive the frequency.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Calibration {
    clock: Clock,
    ticks0: u64,
    wall0: Instant,
}

impl Calibration {
    /// Starts measuring `clock` against the monotonic clock.
    pub(crate) fn start(clock: Clock) -> Calibration {
        Calibration {
            clock,
            ticks0: clock.now(),
            wall0: Instant::now(),
        }
    }

    /// Trace units per second. For the TSC, waits (spinning) until the window
    /// is at least [`MIN_CALIBRATION`] long; called once per session.
    pub(crate) fn frequency(&self) -> u64 {
        match self.clock {
            Clock::Monotonic => UNIX_FREQUENCY,
            Clock::Tsc => {
                while self.wall0.elapsed() < MIN_CALIBRATION {
                    std::hint::spin_loop();
                }
                let ticks = self.clock.now().saturating_sub(self.ticks0) as u128;
                let ns = self.wall0.elapsed().as_nanos().max(1);
                (ticks * 1_000_000_000 / ns).max(1) as u64
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn invariant_tsc() -> bool {
    use std::arch::x86_64::__cpuid;
    #[allow(unused_unsafe)]
    // SAFETY: `cpuid` is available on every x86-64 CPU and only reads
    // identification registers; leaf 0x8000_0000 reports the highest extended leaf.
    let max_ext = unsafe { __cpuid(0x8000_0000) }.eax;
    if max_ext < 0x8000_0007 {
        return false;
    }
    #[allow(unused_unsafe)]
    // SAFETY: as above; the leaf was just checked to exist.
    let edx = unsafe { __cpuid(0x8000_0007) }.edx;
    edx & (1 << 8) != 0
}

#[cfg(not(target_arch = "x86_64"))]
fn invariant_tsc() -> bool {
    false
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn rdtsc() -> u64 {
    // SAFETY: `rdtsc` exists on every x86-64 CPU and has no memory effects; it
    // is only used when `invariant_tsc` said the counter is usable.
    unsafe { std::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn rdtsc() -> u64 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_monotonic_and_frequency_plausible() {
        for clock in [Clock::detect(), Clock::Monotonic] {
            let cal = Calibration::start(clock);
            let mut last = clock.now();
            for _ in 0..10_000 {
                let t = clock.now();
                assert!(t >= last);
                last = t;
            }
            let f = cal.frequency();
            // Between 1 MHz and 10 GHz of 64-tick units.
            assert!((1_000_000..10_000_000_000).contains(&f), "{clock:?}: {f}");
            std::thread::sleep(Duration::from_millis(20));
            let (t0, w0) = (clock.now(), Instant::now());
            std::thread::sleep(Duration::from_millis(20));
            let secs = (clock.now() - t0) as f64 / f as f64;
            let wall = w0.elapsed().as_secs_f64();
            assert!(
                (secs / wall - 1.0).abs() < 0.05,
                "{clock:?}: {secs} vs {wall}"
            );
        }
    }
}
