//! The shape of one wire event: its name, arguments and flags.

use super::events::EventType;

/// What an event argument means, derived from its name in the Go table
/// (`name_kind` or just `kind`, for example `new_g`, `reason_string`, `p_seq`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArgKind {
    /// Timestamp delta from the previous event of the batch.
    Dt,
    /// A goroutine ID.
    GoId,
    /// A P ID.
    ProcId,
    /// An M (thread) ID.
    ThreadId,
    /// A sequence number (goroutine, P or GC).
    Seq,
    /// An ID into the generation's string table.
    StringId,
    /// An ID into the generation's stack table.
    StackId,
    /// A plain number.
    Value,
    /// A user task ID.
    TaskId,
    /// A goroutine status (see [`GoStatus`](super::GoStatus)).
    GoStatus,
    /// A P status (see [`ProcStatus`](super::ProcStatus)).
    ProcStatus,
    /// A field of a structural event (batch headers, table entries).
    Other,
}

impl ArgKind {
    /// The kind of an argument named `name` in the Go table.
    pub const fn of(name: &str) -> ArgKind {
        let b = name.as_bytes();
        // The kind is whatever follows the last underscore.
        let mut start = 0;
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'_' {
                start = i + 1;
            }
            i += 1;
        }
        let (_, kind) = b.split_at(start);
        match kind {
            b"dt" => ArgKind::Dt,
            b"g" => ArgKind::GoId,
            b"p" => ArgKind::ProcId,
            b"m" => ArgKind::ThreadId,
            b"seq" => ArgKind::Seq,
            b"string" => ArgKind::StringId,
            b"stack" => ArgKind::StackId,
            b"value" => ArgKind::Value,
            b"task" => ArgKind::TaskId,
            b"gstatus" => ArgKind::GoStatus,
            b"pstatus" => ArgKind::ProcStatus,
            _ => ArgKind::Other,
        }
    }
}

/// Everything the format says about one event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    /// The event's name, as Go's `-d=2` dump prints it.
    pub name: &'static str,
    /// Argument names in wire order (for timed events the first is `dt`).
    pub args: &'static [&'static str],
    /// Indices into `args` of string IDs.
    pub string_ids: &'static [usize],
    /// Indices into `args` of stack IDs; the first is the event's own stack.
    pub stack_ids: &'static [usize],
    /// For the end of a range, the event that begins it.
    pub start_ev: Option<EventType>,
    /// Appears in per-M event batches, with a timestamp delta first.
    pub timed: bool,
    /// Followed by a uvarint length and that many raw bytes.
    pub has_data: bool,
    /// Followed by a frame count and four uvarints per frame.
    pub is_stack: bool,
    /// The experiment this event belongs to (0 = none, 1 = AllocFree).
    pub experiment: u8,
    /// The Go minor version whose table first defines the event (22, 23
    /// or 25; see [`Format`](super::Format)).
    pub since: u8,
}

impl Spec {
    pub(crate) const fn structural(name: &'static str, args: &'static [&'static str]) -> Spec {
        Spec {
            name,
            args,
            string_ids: &[],
            stack_ids: &[],
            start_ev: None,
            timed: false,
            has_data: false,
            is_stack: false,
            experiment: 0,
            since: 22,
        }
    }

    pub(crate) const fn timed(name: &'static str, args: &'static [&'static str]) -> Spec {
        let mut s = Spec::structural(name, args);
        s.timed = true;
        s
    }

    pub(crate) const fn strings(mut self, ids: &'static [usize]) -> Spec {
        self.string_ids = ids;
        self
    }

    pub(crate) const fn stacks(mut self, ids: &'static [usize]) -> Spec {
        self.stack_ids = ids;
        self
    }

    pub(crate) const fn ends(mut self, start: EventType) -> Spec {
        self.start_ev = Some(start);
        self
    }

    pub(crate) const fn data(mut self) -> Spec {
        self.has_data = true;
        self
    }

    pub(crate) const fn stack_table(mut self) -> Spec {
        self.is_stack = true;
        self
    }

    pub(crate) const fn experiment(mut self, id: u8) -> Spec {
        self.experiment = id;
        self
    }

    pub(crate) const fn since(mut self, minor: u8) -> Spec {
        self.since = minor;
        self
    }

    /// The kind of argument `i`.
    pub fn arg_kind(&self, i: usize) -> Option<ArgKind> {
        self.args.get(i).map(|n| ArgKind::of(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::events::EventType;

    #[test]
    fn timed_events_start_with_dt() {
        for &t in EventType::ALL {
            let s = t.spec();
            if s.timed {
                assert_eq!(s.args.first(), Some(&"dt"), "{}", s.name);
            } else {
                assert!(!s.args.contains(&"dt"), "{}", s.name);
            }
        }
    }

    #[test]
    fn only_strings_and_experimental_batches_carry_data() {
        for &t in EventType::ALL {
            let s = t.spec();
            let expect = matches!(t, EventType::String | EventType::ExperimentalBatch);
            assert_eq!(s.has_data, expect, "{}", s.name);
            assert_eq!(s.is_stack, t == EventType::Stack, "{}", s.name);
            assert!(!(s.timed && s.has_data), "{}", s.name);
        }
    }

    #[test]
    fn string_and_stack_indices_name_matching_args() {
        for &t in EventType::ALL {
            let s = t.spec();
            for &i in s.string_ids {
                assert_eq!(s.arg_kind(i), Some(ArgKind::StringId), "{}", s.name);
            }
            for &i in s.stack_ids {
                assert_eq!(s.arg_kind(i), Some(ArgKind::StackId), "{}", s.name);
            }
            // Every argument of a Go (non-experimental) timed event has a
            // known kind, except the clock readings of a clock snapshot.
            if s.timed && s.experiment == 0 && t != EventType::ClockSnapshot {
                for i in 0..s.args.len() {
                    assert_ne!(s.arg_kind(i), Some(ArgKind::Other), "{} arg {i}", s.name);
                }
            }
        }
    }

    #[test]
    fn end_events_name_existing_timed_starts() {
        for &t in EventType::ALL {
            if let Some(start) = t.spec().start_ev {
                assert!(start.spec().timed);
                assert!(start.spec().start_ev.is_none());
            }
        }
    }

    #[test]
    fn numbers_are_dense_up_to_the_last_event_of_each_table() {
        use crate::wire::Format;
        for n in 1..=49u8 {
            assert!(EventType::from_u8_in(n, Format::Go123).is_some(), "{n}");
        }
        for n in 50..128u8 {
            assert!(EventType::from_u8_in(n, Format::Go123).is_none(), "{n}");
            assert!(EventType::from_u8_in(n, Format::Go122).is_none(), "{n}");
        }
        for n in 1..=52u8 {
            assert!(EventType::from_u8_in(n, Format::Go125).is_some(), "{n}");
            assert!(EventType::from_u8_in(n, Format::Go126).is_some(), "{n}");
        }
        for n in 53..128u8 {
            assert!(EventType::from_u8(n).is_none(), "{n}");
        }
        for n in 128..=136u8 {
            assert_eq!(EventType::from_u8(n).map(|t| t.spec().experiment), Some(1));
        }
        assert!(EventType::from_u8(0).is_none());
        assert!(EventType::from_u8(137).is_none());
    }

    #[test]
    fn names_match_go() {
        #[rustfmt::skip]
        // Names and numbers of Go 1.27's internal/trace/tracev2 table (Go
        // 1.23's go122 table without 50 to 52).
        const GO: &[(u8, &str)] = &[
            (1, "EventBatch"), (2, "Stacks"), (3, "Stack"), (4, "Strings"), (5, "String"),
            (6, "CPUSamples"), (7, "CPUSample"), (8, "Frequency"), (9, "ProcsChange"),
            (10, "ProcStart"), (11, "ProcStop"), (12, "ProcSteal"), (13, "ProcStatus"),
            (14, "GoCreate"), (15, "GoCreateSyscall"), (16, "GoStart"), (17, "GoDestroy"),
            (18, "GoDestroySyscall"), (19, "GoStop"), (20, "GoBlock"), (21, "GoUnblock"),
            (22, "GoSyscallBegin"), (23, "GoSyscallEnd"), (24, "GoSyscallEndBlocked"),
            (25, "GoStatus"), (26, "STWBegin"), (27, "STWEnd"), (28, "GCActive"),
            (29, "GCBegin"), (30, "GCEnd"), (31, "GCSweepActive"), (32, "GCSweepBegin"),
            (33, "GCSweepEnd"), (34, "GCMarkAssistActive"), (35, "GCMarkAssistBegin"),
            (36, "GCMarkAssistEnd"), (37, "HeapAlloc"), (38, "HeapGoal"), (39, "GoLabel"),
            (40, "UserTaskBegin"), (41, "UserTaskEnd"), (42, "UserRegionBegin"),
            (43, "UserRegionEnd"), (44, "UserLog"), (45, "GoSwitch"), (46, "GoSwitchDestroy"),
            (47, "GoCreateBlocked"), (48, "GoStatusStack"), (49, "ExperimentalBatch"),
            (50, "Sync"), (51, "ClockSnapshot"), (52, "EndOfGeneration"),
            (128, "Span"), (129, "SpanAlloc"), (130, "SpanFree"), (131, "HeapObject"),
            (132, "HeapObjectAlloc"), (133, "HeapObjectFree"), (134, "GoroutineStack"),
            (135, "GoroutineStackAlloc"), (136, "GoroutineStackFree"),
        ];
        assert_eq!(GO.len(), EventType::ALL.len());
        for &(n, name) in GO {
            let t = EventType::from_u8(n).expect("defined");
            assert_eq!(t as u8, n);
            assert_eq!(t.name(), name);
            assert_eq!(EventType::from_name(name), Some(t));
        }
    }
}
