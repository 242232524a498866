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

use super::spec::Spec;
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
