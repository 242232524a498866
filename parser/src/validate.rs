//! A stricter check of an ordered event stream: the checks of Go's test
//! validator (`internal/trace/testtrace`), which Go runs over every trace its
//! tests read.
//!
//! Per event, the [`Validator`] checks:
//! 1. times strictly increase;
//! 2. metrics are named `name:unit`; labels are non-empty and name a known
//!    resource;
//! 3. state transitions: never to `Undetermined`, never from `Undetermined`
//!    after the first generation (before go 1.25: after the first Sync, which
//!    ends it; from go 1.25 on: after the second Sync, which opens the next), old state equal to the last new state of the
//!    resource, no goroutine or P dying with active ranges, and a consistent
//!    binding of running goroutines and Ps to threads (one goroutine and one
//!    P per thread; a goroutine that stops must be the one its thread runs,
//!    and its transition stack must be the event's stack);
//! 4. ranges: begun once, ended only while active, per resource and name;
//! 5. tasks: valid IDs and parents; an end's type matches its begin's;
//! 6. from the go 1.25 format on (Go 1.25's validator): Sync counts go up by
//!    one, and every Sync that opens a generation has a clock snapshot with
//!    non-zero times that all increase from one generation to the next.
//!
//! All problems found in one event are reported together, one per line.
//! (Go's validator also walks every stack looking for empty frames, but that
//! walk never inspects a frame, so it is not reproduced.)

use std::collections::HashMap;

use crate::error::{Error, ErrorKind, Result};
use crate::event::{Event, EventKind, Sync};
use crate::raw::quote;
use crate::resources::{
    GoId, GoState, ProcId, ProcState, ResourceId, TaskId, ThreadId, Transition,
};

/// What a thread holds, as the validator tracks it.
#[derive(Clone, Copy, Debug)]
struct ThreadCtx {
    p: ProcId,
    g: GoId,
}

/// Checks a stream of events, one [`Validator::event`] call at a time.
///
/// # Examples
///
/// ```no_run
/// use gort_parser::{Reader, Validator};
///
/// let bytes = std::fs::read("trace.out")?;
/// let mut v = Validator::new();
/// for ev in Reader::from_slice(&bytes)? {
///     v.event(&ev?)?;
/// }
/// # Ok::<(), gort_parser::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct Validator {
    last_ts: i64,
    gs: HashMap<GoId, (GoState, Option<ThreadId>)>,
    ps: HashMap<ProcId, (ProcState, Option<ThreadId>)>,
    ms: HashMap<ThreadId, ThreadCtx>,
    ranges: HashMap<ResourceId, Vec<Vec<u8>>>,
    tasks: HashMap<TaskId, Vec<u8>>,
    /// Past the first generation: states may no longer be undetermined.
    past_first_sync: bool,
    /// The last Sync seen (go 1.25 format on).
    last_sync: Option<Sync>,
}

impl Validator {
    /// A validator that has seen no events.
    pub fn new() -> Validator {
        Validator::default()
    }

    /// Checks `ev` as the next event of the stream.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Validation`] with every problem found, one per line.
    pub fn event(&mut self, ev: &Event<'_>) -> Result<()> {
        let mut errs: Vec<String> = Vec::new();
        if self.last_ts != 0 && ev.time() <= self.last_ts {
            errs.push(format!("timestamp out-of-order for {ev}"));
        } else {
            self.last_ts = ev.time();
        }
        match ev.kind() {
            EventKind::Sync => self.sync(ev, &mut errs),
            EventKind::Metric => {
                if let Some(m) = ev.metric() {
                    if !m.name.contains(':') {
                        errs.push(format!("invalid metric name {}", quote(m.name.as_bytes())));
                    }
                }
            }
            EventKind::Label => {
                if let Some(l) = ev.label() {
                    if l.label.is_empty() {
                        errs.push(format!("invalid label {}", quote(l.label)));
                    }
                    match l.resource {
                        ResourceId::None => errs.push("label resource none".into()),
                        ResourceId::Goroutine(g) if !self.gs.contains_key(&g) => {
                            errs.push(format!("label for invalid goroutine {g}"))
                        }
                        ResourceId::Proc(p) if !self.ps.contains_key(&p) => {
                            errs.push(format!("label for invalid proc {p}"))
                        }
                        ResourceId::Thread(m) if !self.ms.contains_key(&m) => {
                            errs.push(format!("label for invalid thread {m}"))
                        }
                        _ => {}
                    }
                }
            }
            EventKind::StateTransition => {
                if let Some(tr) = ev.state_transition() {
                    let same_stack = tr.stack.map(|s| s.id()) == ev.stack().map(|s| s.id());
                    match tr.transition {
                        Transition::Goroutine { id, from, to } => {
                            self.goroutine(ev, id, from, to, same_stack, &mut errs)
                        }
                        Transition::Proc { id, from, to } => self.proc(ev, id, from, to, &mut errs),
                    }
                }
            }
            EventKind::RangeBegin | EventKind::RangeActive | EventKind::RangeEnd => {
                if let Some(r) = ev.range() {
                    let list = self.ranges.entry(r.scope).or_default();
                    let pos = list.iter().position(|n| n[..] == r.name[..]);
                    match ev.kind() {
                        EventKind::RangeBegin => {
                            if pos.is_some() {
                                errs.push(format!(
                                    "already active range {} on {} begun again",
                                    quote(&r.name),
                                    r.scope
                                ));
                            }
                            list.push(r.name.to_vec());
                        }
                        EventKind::RangeActive => {
                            if pos.is_none() {
                                list.push(r.name.to_vec());
                            }
                        }
                        _ => match pos {
                            Some(i) => {
                                list.remove(i);
                            }
                            None => errs.push(format!(
                                "inactive range {} on {} ended",
                                quote(&r.name),
                                r.scope
                            )),
                        },
                    }
                }
            }
            EventKind::TaskBegin => {
                if let Some(t) = ev.task() {
                    let kind = String::from_utf8_lossy(t.kind);
                    if t.id == TaskId::NONE || t.id == TaskId::BACKGROUND {
                        errs.push(format!("found invalid task ID for task of type {kind}"));
                    }
                    if t.parent == TaskId::BACKGROUND {
                        errs.push(format!(
                            "found background task as the parent for task of type {kind}"
                        ));
                    }
                    self.tasks.insert(t.id, t.kind.to_vec());
                }
            }
            EventKind::TaskEnd => {
                if let Some(t) = ev.task() {
                    if let Some(begin) = self.tasks.remove(&t.id) {
                        if begin != t.kind {
                            errs.push(format!(
                                "task end type {} doesn't match task start type {} for task {}",
                                quote(t.kind),
                                quote(&begin),
                                t.id
                            ));
                        }
                    }
                }
            }
            EventKind::StackSample
            | EventKind::RegionBegin
            | EventKind::RegionEnd
            | EventKind::Log
            | EventKind::Experimental => {}
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::Validation, errs.join("\n")))
        }
    }

    fn has_any_range(&self, r: ResourceId) -> bool {
        self.ranges.get(&r).is_some_and(|l| !l.is_empty())
    }

    /// The context of thread `m`, created empty on first use.
    fn thread(&mut self, m: ThreadId, errs: &mut Vec<String>) -> Option<ThreadId> {
        if !m.is_some() {
            errs.push("must have thread, but thread ID is none".into());
            return None;
        }
        self.ms.entry(m).or_insert(ThreadCtx {
            p: ProcId::NONE,
            g: GoId::NONE,
        });
        Some(m)
    }

    /// Checks a Sync event: before go 1.25 it only ends the first
    /// generation; later, counts and clock snapshots are checked.
    fn sync(&mut self, ev: &Event<'_>, errs: &mut Vec<String>) {
        let Some(s) = ev.sync() else {
            return;
        };
        if !ev.format().has_sync_batches() {
            self.past_first_sync = true;
            return;
        }
        let last = self.last_sync.unwrap_or(Sync { n: 0, clock: None });
        if s.n != last.n + 1 {
            errs.push(format!(
                "sync count is not sequential: expected {}, got {}",
                last.n + 1,
                s.n
            ));
        }
        // The Sync that ends a trace (or precedes an error) has no snapshot.
        if s.n <= 1 || s.clock.is_some() {
            match s.clock {
                None => errs.push(format!("sync {} has no clock snapshot", s.n)),
                Some(c) => {
                    // Go's zero time: 0001-01-01T00:00:00Z.
                    if c.wall() == (-62_135_596_800, 0) {
                        errs.push(format!("sync {} has zero wall time", s.n));
                    }
                    if c.mono == 0 {
                        errs.push(format!("sync {} has zero mono time", s.n));
                    }
                    if c.trace == 0 {
                        errs.push(format!("sync {} has zero trace time", s.n));
                    }
                    if let (true, Some(p)) = (s.n >= 2, last.clock) {
                        if c.wall() <= p.wall() {
                            errs.push(format!("sync {} has non-increasing wall time", s.n));
                        }
                        if c.mono <= p.mono {
                            errs.push(format!(
                                "sync {} has non-increasing mono time: {} vs {}",
                                s.n, c.mono, p.mono
                            ));
                        }
                        if c.trace <= p.trace {
                            errs.push(format!(
                                "sync {} has non-increasing trace time: {} vs {}",
                                s.n, c.trace, p.trace
                            ));
                        }
                    }
                }
            }
        }
        self.past_first_sync = s.n > 1;
        self.last_sync = Some(s);
    }

    fn goroutine(
        &mut self,
        ev: &Event<'_>,
        id: GoId,
        from: GoState,
        to: GoState,
        same_stack: bool,
        errs: &mut Vec<String>,
    ) {
        if to == GoState::Undetermined {
            errs.push(format!(
                "transition to undetermined state for goroutine {id}"
            ));
        }
        if self.past_first_sync && from == GoState::Undetermined {
            errs.push(format!(
                "undetermined goroutine {id} after first global sync"
            ));
        }
        if to == GoState::NotExist && self.has_any_range(ResourceId::Goroutine(id)) {
            errs.push(format!("goroutine {id} died with active ranges"));
        }
        match self.gs.get_mut(&id) {
            Some(s) => {
                if from != s.0 {
                    errs.push(format!(
                        "bad old state for goroutine {id}: got {from}, want {}",
                        s.0
                    ));
                }
                s.0 = to;
            }
            None => {
                if from != GoState::Undetermined && from != GoState::NotExist {
                    errs.push(format!(
                        "bad old state for unregistered goroutine {id}: {from}"
                    ));
                }
                self.gs.insert(id, (to, None));
            }
        }
        if to.is_executing() {
            if let Some(m) = self.thread(ev.thread(), errs) {
                if let Some(ctx) = self.ms.get_mut(&m) {
                    if ctx.g.is_some() && ctx.g != id {
                        errs.push(format!(
                            "tried to run goroutine {id} when one was already executing ({}) on thread {m}",
                            ctx.g
                        ));
                    }
                    ctx.g = id;
                }
                if let Some(s) = self.gs.get_mut(&id) {
                    s.1 = Some(m);
                }
            }
        } else if from.is_executing() {
            if !same_stack {
                errs.push("StateTransition.Stack doesn't match Event.Stack".into());
            }
            let binding = self.gs.get(&id).and_then(|s| s.1);
            match binding.and_then(|m| self.ms.get_mut(&m).map(|c| (m, c))) {
                Some((_, ctx)) => {
                    if ctx.g != id {
                        errs.push(format!(
                            "tried to stop goroutine {id} when it wasn't currently executing (currently executing {}) on thread {}",
                            ctx.g,
                            ev.thread()
                        ));
                    }
                    ctx.g = GoId::NONE;
                    if let Some(s) = self.gs.get_mut(&id) {
                        s.1 = None;
                    }
                }
                None => errs.push(format!(
                    "stopping goroutine {id} not bound to any active context"
                )),
            }
        }
    }

    fn proc(
        &mut self,
        ev: &Event<'_>,
        id: ProcId,
        from: ProcState,
        to: ProcState,
        errs: &mut Vec<String>,
    ) {
        if to == ProcState::Undetermined {
            errs.push(format!("transition to undetermined state for proc {id}"));
        }
        if self.past_first_sync && from == ProcState::Undetermined {
            errs.push(format!("undetermined proc {id} after first global sync"));
        }
        if to == ProcState::NotExist && self.has_any_range(ResourceId::Proc(id)) {
            errs.push(format!("proc {id} died with active ranges"));
        }
        match self.ps.get_mut(&id) {
            Some(s) => {
                if from != s.0 {
                    errs.push(format!(
                        "bad old state for proc {id}: got {from}, want {}",
                        s.0
                    ));
                }
                s.0 = to;
            }
            None => {
                if from != ProcState::Undetermined && from != ProcState::NotExist {
                    errs.push(format!("bad old state for unregistered proc {id}: {from}"));
                }
                self.ps.insert(id, (to, None));
            }
        }
        if to.is_executing() {
            if let Some(m) = self.thread(ev.thread(), errs) {
                if let Some(ctx) = self.ms.get_mut(&m) {
                    if ctx.p.is_some() && ctx.p != id {
                        errs.push(format!(
                            "tried to run proc {id} when one was already executing ({}) on thread {m}",
                            ctx.p
                        ));
                    }
                    ctx.p = id;
                }
                if let Some(s) = self.ps.get_mut(&id) {
                    s.1 = Some(m);
                }
            }
        } else if from.is_executing() {
            let binding = self.ps.get(&id).and_then(|s| s.1);
            match binding.and_then(|m| self.ms.get_mut(&m).map(|c| (m, c))) {
                Some((m, ctx)) => {
                    if ctx.p != id {
                        errs.push(format!(
                            "tried to stop proc {id} when it wasn't currently executing (currently executing {}) on thread {m}",
                            ctx.p
                        ));
                    }
                    ctx.p = ProcId::NONE;
                    if let Some(s) = self.ps.get_mut(&id) {
                        s.1 = None;
                    }
                }
                None => errs.push(format!(
                    "stopping proc {id} not bound to any active context"
                )),
            }
        }
    }
}
