//! The event table: one line per wire event, of every format version.
//!
//! The `events!` invocation below expands into the [`EventType`] enum, its
//! number/name conversions and [`EventType::spec`]. Adding an event is one line
//! here; the writer and the parser pick it up from the expansion.
//!
//! The table is versioned: each spec's `since` names the first format whose
//! table defines it (Go 1.23 added the coroutine events, the status with
//! stack and the experimental ones; Go 1.25 added the sync batch events), and
//! [`EventType::from_u8_in`] reads a type byte as a given format does.

use super::version::Format;

macro_rules! events {
    ($( $(#[doc = $doc:literal])* $variant:ident = $num:literal => $spec:expr; )*) => {
        /// A wire event type (the first byte of every event).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum EventType {
            $( $(#[doc = $doc])* $variant = $num, )*
        }

        impl EventType {
            /// Every defined event type, in ascending number.
            pub const ALL: &'static [EventType] = &[$(EventType::$variant),*];

            /// The event type numbered `b` in the newest table, or `None` if it
            /// defines none (see [`EventType::from_u8_in`] for one format).
            #[inline]
            pub const fn from_u8(b: u8) -> Option<EventType> {
                match b {
                    $( $num => Some(EventType::$variant), )*
                    _ => None,
                }
            }

            /// Everything the format says about this event type.
            #[inline]
            pub const fn spec(self) -> &'static Spec {
                match self {
                    $( EventType::$variant => {
                        const S: Spec = $spec;
                        &S
                    } )*
                }
            }
        }
    };
}

impl EventType {
    /// The event's Go name (`GoSwitch`, `ProcStatus`, ...).
    #[inline]
    pub const fn name(self) -> &'static str {
        self.spec().name
    }

    /// The event type with Go name `name`.
    pub fn from_name(name: &str) -> Option<EventType> {
        EventType::ALL.iter().copied().find(|t| t.name() == name)
    }

    /// The event type with Go name `name` in the table of format `f`.
    pub fn from_name_in(name: &str, f: Format) -> Option<EventType> {
        EventType::from_name(name).filter(|t| t.defined_in(f))
    }

    /// The event type numbered `b` in the table of format `f`.
    #[inline]
    pub const fn from_u8_in(b: u8, f: Format) -> Option<EventType> {
        match EventType::from_u8(b) {
            Some(t) if t.defined_in(f) => Some(t),
            _ => None,
        }
    }

    /// True if format `f`'s table defines this event type.
    #[inline]
    pub const fn defined_in(self, f: Format) -> bool {
        f.defines(self.spec().since)
    }

    /// Number of arguments on the wire (for timed events, `dt` included).
    #[inline]
    pub const fn arg_count(self) -> usize {
        self.spec().args.len()
    }

    /// First number of the experimental range.
    pub const FIRST_EXPERIMENTAL: u8 = 128;

    /// Most arguments on the wire (before stack frames) any event type has.
    pub const MAX_ARGS: usize = {
        let mut max = 0;
        let mut i = 0;
        while i < EventType::ALL.len() {
            let n = EventType::ALL[i].arg_count();
            if n > max {
                max = n;
            }
            i += 1;
        }
        max
    };
}

events! {
    /// Start of a per-M batch: gen, m, time, size.
    EventBatch = 1 => Spec::structural("EventBatch", &["gen", "m", "time", "size"]);
    /// Start of a stack-table batch.
    Stacks = 2 => Spec::structural("Stacks", &[]);
    /// A stack-table entry: id, nframes, then pc/func/file/line per frame.
    Stack = 3 => Spec::structural("Stack", &["id", "nframes"]).stack_table();
    /// Start of a string-table batch.
    Strings = 4 => Spec::structural("Strings", &[]);
    /// A string-table entry: id, then length-prefixed bytes.
    String = 5 => Spec::structural("String", &["id"]).data();
    /// Start of a CPU-sample batch.
    CPUSamples = 6 => Spec::structural("CPUSamples", &[]);
    /// A CPU profile sample with an absolute timestamp.
    CPUSample = 7 => Spec::structural("CPUSample", &["time", "m", "p", "g", "stack"]);
    /// Trace clock units per second.
    Frequency = 8 => Spec::structural("Frequency", &["freq"]);
    /// The GOMAXPROCS value.
    ProcsChange = 9 => Spec::timed("ProcsChange", &["dt", "procs_value", "stack"]).stacks(&[2]);
    /// A P starts running on this M.
    ProcStart = 10 => Spec::timed("ProcStart", &["dt", "p", "p_seq"]);
    /// This M's P stops.
    ProcStop = 11 => Spec::timed("ProcStop", &["dt"]);
    /// A P is taken from an M that is in a syscall.
    ProcSteal = 12 => Spec::timed("ProcSteal", &["dt", "p", "p_seq", "m"]);
    /// A P's status at its first mention in a generation.
    ProcStatus = 13 => Spec::timed("ProcStatus", &["dt", "p", "pstatus"]);
    /// A goroutine is created runnable.
    GoCreate = 14 => Spec::timed("GoCreate", &["dt", "new_g", "new_stack", "stack"]).stacks(&[3, 2]);
    /// A goroutine appears already in a syscall.
    GoCreateSyscall = 15 => Spec::timed("GoCreateSyscall", &["dt", "new_g"]);
    /// A goroutine starts running on this M.
    GoStart = 16 => Spec::timed("GoStart", &["dt", "g", "g_seq"]);
    /// The current goroutine exits.
    GoDestroy = 17 => Spec::timed("GoDestroy", &["dt"]);
    /// The current goroutine, in a syscall, exits.
    GoDestroySyscall = 18 => Spec::timed("GoDestroySyscall", &["dt"]);
    /// The current goroutine yields and stays runnable.
    GoStop = 19 => Spec::timed("GoStop", &["dt", "reason_string", "stack"]).strings(&[1]).stacks(&[2]);
    /// The current goroutine blocks.
    GoBlock = 20 => Spec::timed("GoBlock", &["dt", "reason_string", "stack"]).strings(&[1]).stacks(&[2]);
    /// A goroutine is made runnable.
    GoUnblock = 21 => Spec::timed("GoUnblock", &["dt", "g", "g_seq", "stack"]).stacks(&[3]);
    /// The current goroutine enters a syscall.
    GoSyscallBegin = 22 => Spec::timed("GoSyscallBegin", &["dt", "p_seq", "stack"]).stacks(&[2]);
    /// The current goroutine returns from a syscall and keeps its P.
    GoSyscallEnd = 23 => Spec::timed("GoSyscallEnd", &["dt"]).ends(EventType::GoSyscallBegin);
    /// The current goroutine returns from a syscall whose P was taken.
    GoSyscallEndBlocked = 24 => Spec::timed("GoSyscallEndBlocked", &["dt"]).ends(EventType::GoSyscallBegin);
    /// A goroutine's status at its first mention in a generation.
    GoStatus = 25 => Spec::timed("GoStatus", &["dt", "g", "m", "gstatus"]);
    /// Stop-the-world begins.
    STWBegin = 26 => Spec::timed("STWBegin", &["dt", "kind_string", "stack"]).strings(&[1]).stacks(&[2]);
    /// Stop-the-world ends.
    STWEnd = 27 => Spec::timed("STWEnd", &["dt"]).ends(EventType::STWBegin);
    /// A GC cycle was already running at generation start.
    GCActive = 28 => Spec::timed("GCActive", &["dt", "gc_seq"]).ends(EventType::GCBegin);
    /// A GC cycle begins.
    GCBegin = 29 => Spec::timed("GCBegin", &["dt", "gc_seq", "stack"]).stacks(&[2]);
    /// A GC cycle ends.
    GCEnd = 30 => Spec::timed("GCEnd", &["dt", "gc_seq"]).ends(EventType::GCBegin);
    /// A P was already sweeping at generation start.
    GCSweepActive = 31 => Spec::timed("GCSweepActive", &["dt", "p"]).ends(EventType::GCSweepBegin);
    /// Sweeping begins on this P.
    GCSweepBegin = 32 => Spec::timed("GCSweepBegin", &["dt", "stack"]).stacks(&[1]);
    /// Sweeping ends on this P.
    GCSweepEnd = 33 => Spec::timed("GCSweepEnd", &["dt", "swept_value", "reclaimed_value"]).ends(EventType::GCSweepBegin);
    /// A goroutine was already in a mark assist at generation start.
    GCMarkAssistActive = 34 => Spec::timed("GCMarkAssistActive", &["dt", "g"]).ends(EventType::GCMarkAssistBegin);
    /// A mark assist begins on the current goroutine.
    GCMarkAssistBegin = 35 => Spec::timed("GCMarkAssistBegin", &["dt", "stack"]).stacks(&[1]);
    /// A mark assist ends on the current goroutine.
    GCMarkAssistEnd = 36 => Spec::timed("GCMarkAssistEnd", &["dt"]).ends(EventType::GCMarkAssistBegin);
    /// The live heap size.
    HeapAlloc = 37 => Spec::timed("HeapAlloc", &["dt", "heapalloc_value"]);
    /// The heap goal.
    HeapGoal = 38 => Spec::timed("HeapGoal", &["dt", "heapgoal_value"]);
    /// A label for the current goroutine.
    GoLabel = 39 => Spec::timed("GoLabel", &["dt", "label_string"]).strings(&[1]);
    /// A user task begins.
    UserTaskBegin = 40 => Spec::timed("UserTaskBegin", &["dt", "task", "parent_task", "name_string", "stack"]).strings(&[3]).stacks(&[4]);
    /// A user task ends.
    UserTaskEnd = 41 => Spec::timed("UserTaskEnd", &["dt", "task", "stack"]).stacks(&[2]);
    /// A user region begins on the current goroutine.
    UserRegionBegin = 42 => Spec::timed("UserRegionBegin", &["dt", "task", "name_string", "stack"]).strings(&[2]).stacks(&[3]);
    /// A user region ends on the current goroutine.
    UserRegionEnd = 43 => Spec::timed("UserRegionEnd", &["dt", "task", "name_string", "stack"]).strings(&[2]).stacks(&[3]).ends(EventType::UserRegionBegin);
    /// A user log message.
    UserLog = 44 => Spec::timed("UserLog", &["dt", "task", "key_string", "value_string", "stack"]).strings(&[2, 3]).stacks(&[4]);
    /// The current goroutine hands its M directly to a waiting one.
    GoSwitch = 45 => Spec::timed("GoSwitch", &["dt", "g", "g_seq"]).since(23);
    /// Like `GoSwitch`, and the current goroutine exits.
    GoSwitchDestroy = 46 => Spec::timed("GoSwitchDestroy", &["dt", "g", "g_seq"]).since(23);
    /// A goroutine is created waiting (a coroutine).
    GoCreateBlocked = 47 => Spec::timed("GoCreateBlocked", &["dt", "new_g", "new_stack", "stack"]).stacks(&[3, 2]).since(23);
    /// `GoStatus` plus the goroutine's stack.
    GoStatusStack = 48 => Spec::timed("GoStatusStack", &["dt", "g", "m", "gstatus", "stack"]).stacks(&[4]).since(23);
    /// Start of an experimental batch: exp (one byte), gen, m, time, then data.
    ExperimentalBatch = 49 => Spec::structural("ExperimentalBatch", &["exp", "gen", "m", "time"]).data().since(23);
    /// Start of a sync batch (its first data byte): the frequency and a clock snapshot follow.
    Sync = 50 => Spec::structural("Sync", &[]).since(25);
    /// The trace, monotonic and wall clocks read at about the same time (in a sync batch).
    ClockSnapshot = 51 => Spec::timed("ClockSnapshot", &["dt", "mono", "sec", "nsec"]).since(25);
    /// The end of a generation: one byte between batches (written from the go 1.26 format on).
    EndOfGeneration = 52 => Spec::structural("EndOfGeneration", &[]).since(25);
    /// Experimental (AllocFree): a heap span exists.
    Span = 128 => Spec::timed("Span", &["dt", "id", "npages_value", "kindclass"]).experiment(1).since(23);
    /// Experimental (AllocFree): a heap span is allocated.
    SpanAlloc = 129 => Spec::timed("SpanAlloc", &["dt", "id", "npages_value", "kindclass"]).experiment(1).since(23);
    /// Experimental (AllocFree): a heap span is freed.
    SpanFree = 130 => Spec::timed("SpanFree", &["dt", "id"]).experiment(1).since(23);
    /// Experimental (AllocFree): a heap object exists.
    HeapObject = 131 => Spec::timed("HeapObject", &["dt", "id", "type"]).experiment(1).since(23);
    /// Experimental (AllocFree): a heap object is allocated.
    HeapObjectAlloc = 132 => Spec::timed("HeapObjectAlloc", &["dt", "id", "type"]).experiment(1).since(23);
    /// Experimental (AllocFree): a heap object is freed.
    HeapObjectFree = 133 => Spec::timed("HeapObjectFree", &["dt", "id"]).experiment(1).since(23);
    /// Experimental (AllocFree): a goroutine stack exists.
    GoroutineStack = 134 => Spec::timed("GoroutineStack", &["dt", "id", "order"]).experiment(1).since(23);
    /// Experimental (AllocFree): a goroutine stack is allocated.
    GoroutineStackAlloc = 135 => Spec::timed("GoroutineStackAlloc", &["dt", "id", "order"]).experiment(1).since(23);
    /// Experimental (AllocFree): a goroutine stack is freed.
    GoroutineStackFree = 136 => Spec::timed("GoroutineStackFree", &["dt", "id"]).experiment(1).since(23);
}

// The shape of one wire event: its name, arguments and flags.

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
    /// or 25; see [`Format`]).
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
