//! The public, ordered [`Event`] and its kind-specific views, and its text
//! form: byte for byte Go's `Event.String()` (the `go tool trace -d=1` line).
//!
//! An event holds a reference-counted handle to its generation's tables, so
//! it can outlive the [`Reader`](crate::Reader) position it came from; views
//! such as [`Event::stack`] or [`Event::log`] borrow from the event.
//!
//! Go API methods that panic on the wrong kind return `None` here.

mod sync;
pub(crate) mod text;
mod wall;

pub use sync::{ClockSnapshot, Sync};

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use gort_tracer::wire::EventType;

use crate::cursor::{spec_of, ID_ARGS, MAX_ARGS, NO_ARG};
use crate::order::state::{ps, SchedCtx};
use crate::resources::{
    GoId, GoState, ProcId, ProcState, ResourceId, TaskId, ThreadId, Transition,
};
use crate::tables::{Frame, Tables};

/// What kind of event this is (Go's `EventKind`, same order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// End of a generation: all resources so far have been described.
    Sync,
    /// A metric sample.
    Metric,
    /// A label attached to a resource.
    Label,
    /// A CPU profile sample.
    StackSample,
    /// A range of time begins.
    RangeBegin,
    /// A range of time was already active when the generation began.
    RangeActive,
    /// A range of time ends.
    RangeEnd,
    /// A user task begins.
    TaskBegin,
    /// A user task ends.
    TaskEnd,
    /// A user region begins.
    RegionBegin,
    /// A user region ends.
    RegionEnd,
    /// A user log message.
    Log,
    /// A goroutine or P changes state.
    StateTransition,
    /// An experimental event, unvalidated.
    Experimental,
}

impl EventKind {
    /// Go's name for the kind.
    pub const fn name(self) -> &'static str {
        match self {
            EventKind::Sync => "Sync",
            EventKind::Metric => "Metric",
            EventKind::Label => "Label",
            EventKind::StackSample => "StackSample",
            EventKind::RangeBegin => "RangeBegin",
            EventKind::RangeActive => "RangeActive",
            EventKind::RangeEnd => "RangeEnd",
            EventKind::TaskBegin => "TaskBegin",
            EventKind::TaskEnd => "TaskEnd",
            EventKind::RegionBegin => "RegionBegin",
            EventKind::RegionEnd => "RegionEnd",
            EventKind::Log => "Log",
            EventKind::StateTransition => "StateTransition",
            EventKind::Experimental => "Experimental",
        }
    }

    /// The kind of events of wire type `t`.
    pub const fn of(t: EventType) -> EventKind {
        use EventType as E;
        match t {
            E::CPUSample => EventKind::StackSample,
            E::ProcsChange | E::HeapAlloc | E::HeapGoal => EventKind::Metric,
            E::STWBegin | E::GCBegin | E::GCSweepBegin | E::GCMarkAssistBegin => {
                EventKind::RangeBegin
            }
            E::GCActive | E::GCSweepActive | E::GCMarkAssistActive => EventKind::RangeActive,
            E::STWEnd | E::GCEnd | E::GCSweepEnd | E::GCMarkAssistEnd => EventKind::RangeEnd,
            E::GoLabel => EventKind::Label,
            E::UserTaskBegin => EventKind::TaskBegin,
            E::UserTaskEnd => EventKind::TaskEnd,
            E::UserRegionBegin => EventKind::RegionBegin,
            E::UserRegionEnd => EventKind::RegionEnd,
            E::UserLog => EventKind::Log,
            E::Span
            | E::SpanAlloc
            | E::SpanFree
            | E::HeapObject
            | E::HeapObjectAlloc
            | E::HeapObjectFree
            | E::GoroutineStack
            | E::GoroutineStackAlloc
            | E::GoroutineStackFree => EventKind::Experimental,
            _ => EventKind::StateTransition,
        }
    }
}

/// [`EventKind::of`] of every event type, by type number (a table load on
/// the hot path of every analysis instead of a jump through the match).
static KINDS: [EventKind; 256] = {
    let mut t = [EventKind::StateTransition; 256];
    let mut i = 0;
    while i < EventType::ALL.len() {
        let e = EventType::ALL[i];
        t[e as usize] = EventKind::of(e);
        i += 1;
    }
    t
};

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A stack: a handle into the generation's stack table.
#[derive(Clone, Copy)]
pub struct Stack<'e> {
    tables: &'e Tables<'e>,
    id: u64,
}

impl<'e> Stack<'e> {
    /// The stack's ID in its generation (0: the empty stack).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The frames, leaf first (`.rev()` walks them outermost first).
    pub fn frames(&self) -> impl DoubleEndedIterator<Item = Frame<'e>> + ExactSizeIterator + 'e {
        self.tables.frames(self.id)
    }
}

impl fmt::Debug for Stack<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stack")
            .field("id", &self.id)
            .field("frames", &self.frames().len())
            .finish()
    }
}

/// A metric sample (`ProcsChange`, `HeapAlloc`, `HeapGoal`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metric {
    /// The `runtime/metrics` name, unit included.
    pub name: &'static str,
    /// The value.
    pub value: u64,
}

/// A label on a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label<'e> {
    /// The label text.
    pub label: &'e [u8],
    /// What it is attached to.
    pub resource: ResourceId,
}

/// A range of time on a resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Range<'e> {
    /// The range's name (for stop-the-world, with its kind in parentheses).
    pub name: Cow<'e, [u8]>,
    /// The resource the range is scoped to.
    pub scope: ResourceId,
}

/// An attribute of a completed range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RangeAttribute {
    /// The attribute's name.
    pub name: &'static str,
    /// Its value.
    pub value: u64,
}

/// A user task's begin or end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Task<'e> {
    /// The task.
    pub id: TaskId,
    /// Its parent ([`TaskId::NONE`] if none or unknown).
    pub parent: TaskId,
    /// The task type (empty if its begin was not seen).
    pub kind: &'e [u8],
}

/// A user region's begin or end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region<'e> {
    /// The task the region belongs to.
    pub task: TaskId,
    /// The region type.
    pub kind: &'e [u8],
}

/// A user log message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Log<'e> {
    /// The task the message belongs to.
    pub task: TaskId,
    /// The category.
    pub category: &'e [u8],
    /// The message.
    pub message: &'e [u8],
}

/// A state change of a goroutine or P.
#[derive(Clone, Copy, Debug)]
pub struct StateTransition<'e> {
    /// Which resource, from which state to which.
    pub transition: Transition,
    /// Why (for goroutines that stop or block).
    pub reason: &'e [u8],
    /// The stack of the resource making the change, if known (for created
    /// goroutines, the stack of their start function; it may be empty).
    pub stack: Option<Stack<'e>>,
}

/// A raw view of an experimental event.
#[derive(Clone, Copy, Debug)]
pub struct Experimental<'e> {
    /// The event's name.
    pub name: &'static str,
    /// Its argument names.
    pub arg_names: &'static [&'static str],
    /// Its arguments.
    pub args: &'e [u64],
}

/// One ordered trace event.
#[derive(Clone)]
pub struct Event<'a> {
    pub(crate) tables: Arc<Tables<'a>>,
    pub(crate) ctx: SchedCtx,
    /// `None` for the reader's Sync events.
    pub(crate) typ: Option<EventType>,
    pub(crate) time: i64,
    pub(crate) args: [u64; MAX_ARGS],
    pub(crate) task_type: Option<Arc<[u8]>>,
}

impl<'a> Event<'a> {
    /// The event's kind.
    #[inline]
    pub fn kind(&self) -> EventKind {
        match self.typ {
            None => EventKind::Sync,
            Some(t) => KINDS[t as usize],
        }
    }

    /// The format of the trace the event comes from.
    #[inline]
    pub fn format(&self) -> gort_tracer::wire::Format {
        self.tables.format
    }

    /// The wire event type this event came from (`None` for Sync). Events the
    /// reader adds itself name the type they imitate (`GoBlock`, `GoStart`
    /// and `GoDestroy` after a switch, `ProcSteal` before `GoDestroySyscall`).
    pub fn wire_type(&self) -> Option<EventType> {
        self.typ
    }

    /// The time in nanoseconds (strictly increasing along a trace).
    #[inline]
    pub fn time(&self) -> i64 {
        self.time
    }

    /// The thread the event happened on ([`ThreadId::NONE`] if none).
    #[inline]
    pub fn thread(&self) -> ThreadId {
        self.ctx.m
    }

    /// The P held by the thread before the event.
    #[inline]
    pub fn proc(&self) -> ProcId {
        self.ctx.p
    }

    /// The goroutine running on the thread before the event.
    #[inline]
    pub fn goroutine(&self) -> GoId {
        self.ctx.g
    }

    #[inline]
    fn arg(&self, i: usize) -> u64 {
        self.args.get(i).copied().unwrap_or(0)
    }

    #[inline]
    fn string(&self, id: u64) -> &[u8] {
        self.tables.string_or_empty(id)
    }

    fn extra(&self, i: usize) -> u64 {
        match self.typ {
            Some(t) => self.arg(spec_of(t).args.len().saturating_sub(1) + i),
            None => 0,
        }
    }

    /// The stack of the event's own context, if any.
    #[inline]
    pub fn stack(&self) -> Option<Stack<'_>> {
        let t = self.typ?;
        if t == EventType::CPUSample {
            return Some(Stack {
                tables: &self.tables,
                id: self.arg(0),
            });
        }
        let &i = spec_of(t).stack_ids.first()?;
        let id = self.arg(i - 1);
        (id != 0).then_some(Stack {
            tables: &self.tables,
            id,
        })
    }

    /// The metric of a Metric event.
    pub fn metric(&self) -> Option<Metric> {
        let name = match self.typ? {
            EventType::ProcsChange => "/sched/gomaxprocs:threads",
            EventType::HeapAlloc => "/memory/classes/heap/objects:bytes",
            EventType::HeapGoal => "/gc/heap/goal:bytes",
            _ => return None,
        };
        Some(Metric {
            name,
            value: self.arg(0),
        })
    }

    /// The label of a Label event.
    pub fn label(&self) -> Option<Label<'_>> {
        (self.typ? == EventType::GoLabel).then(|| Label {
            label: self.string(self.arg(0)),
            resource: ResourceId::Goroutine(self.ctx.g),
        })
    }

    /// The range of a RangeBegin, RangeActive or RangeEnd event.
    pub fn range(&self) -> Option<Range<'_>> {
        use EventType as E;
        let (name, scope): (Cow<'_, [u8]>, ResourceId) = match self.typ? {
            E::STWBegin | E::STWEnd => {
                let mut n = b"stop-the-world (".to_vec();
                n.extend_from_slice(self.string(self.arg(0)));
                n.push(b')');
                (Cow::Owned(n), ResourceId::Goroutine(self.ctx.g))
            }
            E::GCBegin | E::GCActive | E::GCEnd => (
                Cow::Borrowed(&b"GC concurrent mark phase"[..]),
                ResourceId::None,
            ),
            // N.B. Go before 1.27 (formats before go 1.26) scopes
            // GCSweepActive to the current P, not to the P the event names.
            E::GCSweepActive if self.tables.format.has_end_of_generation() => (
                Cow::Borrowed(&b"GC incremental sweep"[..]),
                ResourceId::Proc(ProcId::from_wire(self.arg(0))),
            ),
            E::GCSweepBegin | E::GCSweepActive | E::GCSweepEnd => (
                Cow::Borrowed(&b"GC incremental sweep"[..]),
                ResourceId::Proc(self.ctx.p),
            ),
            E::GCMarkAssistActive => (
                Cow::Borrowed(&b"GC mark assist"[..]),
                ResourceId::Goroutine(GoId::from_wire(self.arg(0))),
            ),
            E::GCMarkAssistBegin | E::GCMarkAssistEnd => (
                Cow::Borrowed(&b"GC mark assist"[..]),
                ResourceId::Goroutine(self.ctx.g),
            ),
            _ => return None,
        };
        Some(Range { name, scope })
    }

    /// Attributes of a completed range (only sweeping has any).
    pub fn range_attributes(&self) -> Vec<RangeAttribute> {
        if self.typ != Some(EventType::GCSweepEnd) {
            return Vec::new();
        }
        vec![
            RangeAttribute {
                name: "bytes swept",
                value: self.arg(0),
            },
            RangeAttribute {
                name: "bytes reclaimed",
                value: self.arg(1),
            },
        ]
    }

    /// The task of a TaskBegin or TaskEnd event.
    pub fn task(&self) -> Option<Task<'_>> {
        let (parent, kind) = match self.typ? {
            EventType::UserTaskBegin => (self.arg(1), self.string(self.arg(2))),
            EventType::UserTaskEnd => (self.extra(0), self.task_type.as_deref().unwrap_or(b"")),
            _ => return None,
        };
        Some(Task {
            id: TaskId(self.arg(0)),
            parent: TaskId(parent),
            kind,
        })
    }

    /// The region of a RegionBegin or RegionEnd event.
    pub fn region(&self) -> Option<Region<'_>> {
        matches!(
            self.typ?,
            EventType::UserRegionBegin | EventType::UserRegionEnd
        )
        .then(|| Region {
            task: TaskId(self.arg(0)),
            kind: self.string(self.arg(1)),
        })
    }

    /// The message of a Log event.
    pub fn log(&self) -> Option<Log<'_>> {
        (self.typ? == EventType::UserLog).then(|| Log {
            task: TaskId(self.arg(0)),
            category: self.string(self.arg(1)),
            message: self.string(self.arg(2)),
        })
    }

    /// The state change of a StateTransition event.
    #[inline]
    pub fn state_transition(&self) -> Option<StateTransition<'_>> {
        Some(StateTransition {
            transition: self.transition()?,
            reason: self.transition_reason(),
            stack: self.transition_stack(),
        })
    }

    /// The resource and states of [`Event::state_transition`], without the
    /// reason and stack (which cost string and stack table lookups).
    #[inline]
    pub(crate) fn transition(&self) -> Option<Transition> {
        use EventType as E;
        use GoState as G;
        use ProcState as P;
        let t = self.typ?;
        let go = |id: GoId, from, to| Transition::Goroutine { id, from, to };
        let pr = |id: ProcId, from, to| Transition::Proc { id, from, to };
        let arg_g = GoId::from_wire(self.arg(0));
        let arg_p = ProcId::from_wire(self.arg(0));
        Some(match t {
            E::ProcStart => pr(arg_p, P::Idle, P::Running),
            E::ProcStop => pr(self.ctx.p, P::Running, P::Idle),
            E::ProcSteal => {
                let from = if self.extra(0) == u64::from(ps::SYSCALL_ABANDONED) {
                    P::Idle
                } else {
                    P::Running
                };
                pr(arg_p, from, P::Idle)
            }
            E::ProcStatus => pr(
                arg_p,
                P::from_u8(self.extra(0) as u8),
                P::from_wire_status(self.arg(1) as u8).unwrap_or(P::Undetermined),
            ),
            E::GoCreate => go(arg_g, G::NotExist, G::Runnable),
            E::GoCreateBlocked => go(arg_g, G::NotExist, G::Waiting),
            E::GoCreateSyscall => go(arg_g, G::NotExist, G::Syscall),
            E::GoStart => go(arg_g, G::Runnable, G::Running),
            E::GoDestroy => go(self.ctx.g, G::Running, G::NotExist),
            E::GoDestroySyscall => go(self.ctx.g, G::Syscall, G::NotExist),
            E::GoStop => go(self.ctx.g, G::Running, G::Runnable),
            E::GoBlock => go(self.ctx.g, G::Running, G::Waiting),
            E::GoUnblock | E::GoSwitch | E::GoSwitchDestroy => go(arg_g, G::Waiting, G::Runnable),
            E::GoSyscallBegin => go(self.ctx.g, G::Running, G::Syscall),
            E::GoSyscallEnd => go(self.ctx.g, G::Syscall, G::Running),
            E::GoSyscallEndBlocked => go(self.ctx.g, G::Syscall, G::Runnable),
            E::GoStatus | E::GoStatusStack => go(
                arg_g,
                G::from_u8(self.extra(0) as u8),
                G::from_wire_status(self.arg(2) as u8).unwrap_or(G::Undetermined),
            ),
            _ => return None,
        })
    }

    /// The reason of [`Event::state_transition`] (`""` but for goroutines
    /// that stop or block).
    #[inline]
    pub(crate) fn transition_reason(&self) -> &[u8] {
        match self.typ {
            Some(EventType::GoStop | EventType::GoBlock) => self.string(self.arg(0)),
            _ => b"",
        }
    }

    /// The stack of [`Event::state_transition`].
    #[inline]
    pub(crate) fn transition_stack(&self) -> Option<Stack<'_>> {
        use EventType as E;
        match self.typ? {
            E::GoCreate | E::GoCreateBlocked => Some(Stack {
                tables: &self.tables,
                id: self.arg(1),
            }),
            E::GoStop | E::GoBlock | E::GoSyscallBegin => self.stack(),
            // Go 1.27 gives the goroutine's own stack as the transition's.
            E::GoStatus | E::GoStatusStack if self.tables.format.has_end_of_generation() => {
                self.stack()
            }
            _ => None,
        }
    }

    /// The raw view of an Experimental event.
    pub fn experimental(&self) -> Option<Experimental<'_>> {
        let t = self.typ?;
        if EventKind::of(t) != EventKind::Experimental {
            return None;
        }
        let arg_names = t.spec().args.get(1..).unwrap_or(&[]);
        Some(Experimental {
            name: t.name(),
            arg_names,
            args: self.args.get(..arg_names.len()).unwrap_or(&[]),
        })
    }

    /// The side data of this event's experiment: `(thread, bytes)` per batch.
    pub fn experimental_data(&self) -> impl Iterator<Item = (ThreadId, &[u8])> + '_ {
        let exp = self.typ.map_or(0, |t| t.spec().experiment);
        self.tables
            .exp
            .iter()
            .filter(move |b| exp != 0 && b.exp == exp)
            .map(|b| (b.m, self.tables.span_bytes(b.data)))
    }

    /// Appends the event's `go tool trace -d=1` text, without the final
    /// newline, to `out`. The bytes are exactly Go's `Event.String()`.
    pub fn write_go_text(&self, out: &mut Vec<u8>) {
        text::write(self, out);
    }

    /// Checks that every string and stack ID the event uses is defined.
    #[inline]
    pub(crate) fn check_ids(&self) -> crate::error::Result<()> {
        let Some(t) = self.typ else {
            return Ok(());
        };
        let ids = &ID_ARGS[t as usize];
        for &i in &ids.stacks {
            if i == NO_ARG {
                break;
            }
            let id = self.arg(usize::from(i));
            if !self.tables.has_stack(id) {
                return Err(unknown_id("stack", id, t));
            }
        }
        for &i in &ids.strings {
            if i == NO_ARG {
                break;
            }
            let id = self.arg(usize::from(i));
            if !self.tables.has_string(id) {
                return Err(unknown_id("string", id, t));
            }
        }
        Ok(())
    }
}

#[cold]
fn unknown_id(what: &str, id: u64, t: EventType) -> crate::error::Error {
    crate::error::Error::new(
        crate::error::ErrorKind::UnknownId,
        format!("found invalid {what} ID {id} for event {}", t.name()),
    )
}

impl fmt::Display for Event<'_> {
    /// Go's `Event.String()`; bytes that are not UTF-8 (possible only in
    /// frame names) are replaced. Use [`Event::write_go_text`] for exact bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::with_capacity(128);
        self.write_go_text(&mut out);
        f.write_str(&String::from_utf8_lossy(&out))
    }
}

impl fmt::Debug for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("kind", &self.kind())
            .field("type", &self.typ)
            .field("time", &self.time)
            .field("m", &self.ctx.m)
            .field("p", &self.ctx.p)
            .field("g", &self.ctx.g)
            .field("args", &self.args)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_table_agrees_with_the_match() {
        for &t in EventType::ALL {
            assert_eq!(KINDS[t as usize], EventKind::of(t), "{}", t.name());
        }
    }
}
