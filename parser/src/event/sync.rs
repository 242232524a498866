//! What a Sync event says, from the go 1.25 format on: its running count and
//! the clock snapshot of the generation it opens.

use super::Event;

/// The trace, monotonic and wall clocks read at about the same time, as a
/// generation's sync batch records them (go 1.25 format on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockSnapshot {
    /// The trace clock, in nanoseconds (the time base of every event).
    pub trace: i64,
    /// The monotonic clock, in nanoseconds.
    pub mono: u64,
    /// Wall clock: seconds since the Unix epoch (normalised as Go's
    /// `time.Unix` does, with `wall_nsec` in `0..1e9`).
    pub wall_sec: i64,
    /// Wall clock: nanoseconds within the second.
    pub wall_nsec: u32,
}

impl ClockSnapshot {
    /// The wall time as `(seconds, nanoseconds)`, for ordering.
    pub fn wall(&self) -> (i64, u32) {
        (self.wall_sec, self.wall_nsec)
    }
}

/// Details of a Sync event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sync {
    /// This is the `n`th Sync of the trace (go 1.25 format on; 0 before,
    /// where Sync events carry no count).
    pub n: u64,
    /// The clock snapshot of the generation this Sync opens; `None` for the
    /// Sync that ends a trace or comes before an error, and before go 1.25.
    pub clock: Option<ClockSnapshot>,
}

/// Go's `time.Unix` normalisation of wire seconds and nanoseconds.
pub(crate) fn unix(sec: u64, nsec: u64) -> (i64, u32) {
    let (mut sec, nsec) = (sec as i64, nsec as i64);
    let carry = nsec.div_euclid(1_000_000_000);
    sec = sec.wrapping_add(carry);
    (sec, nsec.rem_euclid(1_000_000_000) as u32)
}

impl Event<'_> {
    /// True for the one Sync event of each generation: before the go 1.25
    /// format the Sync that ends it, from then on the Sync that opens it
    /// (the last Sync of such a trace, and one before an error, belong to
    /// no generation).
    pub fn is_generation_sync(&self) -> bool {
        match self.sync() {
            None => false,
            Some(s) => !self.tables.format.has_sync_batches() || s.clock.is_some(),
        }
    }

    /// The details of a Sync event (`None` for other kinds).
    pub fn sync(&self) -> Option<Sync> {
        if self.typ.is_some() {
            return None;
        }
        let clock = match self.tables.snapshot {
            Some(s) if self.args[1] != 0 => {
                let (wall_sec, wall_nsec) = unix(s.sec, s.nsec);
                Some(ClockSnapshot {
                    trace: self.tables.freq.to_ns(s.time),
                    mono: s.mono,
                    wall_sec,
                    wall_nsec,
                })
            }
            _ => None,
        };
        Some(Sync {
            n: self.args[0],
            clock,
        })
    }
}
