//! Format versions: which trace formats share this event table, and how they
//! differ.
//!
//! One numbering serves every version from `go 1.22 trace` on: later Go
//! releases only append event types. What a version may contain is the
//! table cut at the last event type its Go release defines
//! ([`Format::defines`], from each spec's `since`):
//!
//! | header | written by | events | framing |
//! |---|---|---|---|
//! | `go 1.22 trace` | Go 1.22 | 1..=49, 128..=136 (as Go 1.23 reads them) | a lone `Frequency` batch per generation |
//! | `go 1.23 trace` | Go 1.23, 1.24, gort | 1..=49, 128..=136 | as 1.22 |
//! | `go 1.25 trace` | Go 1.25 | adds 50..=52 | a `Sync` batch (`Frequency` + `ClockSnapshot`) per generation |
//! | `go 1.26 trace` | Go 1.26, 1.27 | as 1.25 | as 1.25, and each generation ends with an `EndOfGeneration` byte |

/// A trace format version (the `N` of a `go 1.N trace` header).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Format {
    /// `go 1.22 trace`.
    Go122 = 22,
    /// `go 1.23 trace` (what gort's tracer writes).
    Go123 = 23,
    /// `go 1.25 trace`.
    Go125 = 25,
    /// `go 1.26 trace`.
    Go126 = 26,
}

impl Format {
    /// Every format, oldest first.
    pub const ALL: [Format; 4] = [Format::Go122, Format::Go123, Format::Go125, Format::Go126];

    /// The format whose header says `go 1.minor trace`, if it is one of these.
    pub const fn from_minor(minor: u32) -> Option<Format> {
        match minor {
            22 => Some(Format::Go122),
            23 => Some(Format::Go123),
            25 => Some(Format::Go125),
            26 => Some(Format::Go126),
            _ => None,
        }
    }

    /// The minor version in the header.
    pub const fn minor(self) -> u32 {
        self as u32
    }

    /// The newest `since` of the event types this format may contain: Go
    /// 1.23's reader reads 1.22 traces with its full table.
    pub const fn table_version(self) -> u8 {
        match self {
            Format::Go122 | Format::Go123 => 23,
            Format::Go125 => 25,
            Format::Go126 => 26,
        }
    }

    /// True if this format's table has an event type first defined in `since`.
    #[inline]
    pub const fn defines(self, since: u8) -> bool {
        since <= self.table_version()
    }

    /// Each generation starts with a `Sync` batch holding the frequency and
    /// a clock snapshot (instead of a lone `Frequency` batch).
    #[inline]
    pub const fn has_sync_batches(self) -> bool {
        self.minor() >= 25
    }

    /// Each generation ends with an `EndOfGeneration` byte between batches.
    #[inline]
    pub const fn has_end_of_generation(self) -> bool {
        self.minor() >= 26
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "go 1.{}", self.minor())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minors_round_trip() {
        for f in Format::ALL {
            assert_eq!(Format::from_minor(f.minor()), Some(f));
        }
        for m in [0, 11, 21, 24, 27] {
            assert_eq!(Format::from_minor(m), None);
        }
    }

    #[test]
    fn tables_grow_with_the_version() {
        assert!(Format::Go122.defines(23));
        assert!(!Format::Go123.defines(25));
        assert!(Format::Go125.defines(25) && !Format::Go125.defines(26));
        assert!(Format::Go126.defines(26));
        assert!(!Format::Go123.has_sync_batches() && Format::Go125.has_sync_batches());
        assert!(!Format::Go125.has_end_of_generation() && Format::Go126.has_end_of_generation());
    }
}
