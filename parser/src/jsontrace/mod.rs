//! The Chrome trace-viewer JSON that `go tool trace` serves at `/jsontrace`
//! (its default, per-P view), written as the trace is read.
//!
//! A [`JsonTraceWriter`] takes the ordered events one at a time. Its output
//! has the events Go's handler emits, with the same names, times, stacks,
//! arguments and metadata:
//! - one slice per goroutine run (`G<id> <start function>`) on its P's
//!   thread, carrying the stack where the goroutine last stopped (`sf`) and
//!   where this run stopped (`esf`); `syscall` slices, mark assists and
//!   stop-the-world ranges nested in them; GC and sweep slices;
//! - `proc start`/`proc stop`, network unblocks, blocked-syscall exits and
//!   user logs as instants; flows (`go`, `unblock`, `exit blocked syscall`)
//!   from the creator or waker to the goroutine's next run;
//! - the `Goroutines`, `Threads` and `Heap` counters;
//! - `stackFrames`, the prefix tree of every frame an event refers to.
//!
//! Each trace is rendered as the Go that reads its format renders it:
//! go 1.22/1.23 traces as Go 1.23, go 1.25 traces as Go 1.25, go 1.26
//! traces as Go 1.27 (whose `proc start`/`proc stop` carry
//! `{"thread","proc"}` instead of `{"ThreadID"}`).
//!
//! Where Go's output order comes from map iteration (the slices still open
//! at the end of the trace, ranges within a stop, the metadata), this one
//! is sorted by ID; stack frame IDs are numbered in first-use order, as in
//! Go, but need not equal Go's numbers.
//!
//! A trace that turns out to be damaged is rendered, as Go renders it, up to
//! its last complete generation ([`JsonTraceWriter::finish_valid`]),
//! wherever in a generation the damage is found. Over any writer, output is
//! held back one generation at a time and written at each generation's end:
//! up to [`HOLD_BACK`] bytes of a generation's output in memory, the rest in
//! an unnamed temporary file (in memory too if none can be created). Over an
//! output that can take back its tail ([`Retract`]: a regular file), it goes
//! straight out instead, and a damaged generation's part is cut off
//! ([`JsonTraceWriter::retracting`], [`write_json_trace_retracting`]).
//! Memory is bounded by the goroutines, the distinct stack frames and the
//! hold-back buffer.

mod emit;
mod retract;
mod spill;

use std::collections::BTreeMap;
use std::io::{self, Write};

use emit::{put_event, Args, FrameTree, Name, ViewerEvent};
use retract::Direct;
pub use retract::Retract;
use spill::Spill;

use crate::error::{Error, Result};
use crate::event::{Event, EventKind, StateTransition};
use crate::reader::Reader;
use crate::resources::{GoId, GoState, ProcId, ProcState, ResourceId, Transition};
use crate::tables::IdMap;

/// Go's pseudo resources: the timer, network, syscall and GC lanes.
const TIMER_P: u64 = 1_000_001;
const NETPOLL_P: u64 = 1_000_002;
const SYSCALL_P: u64 = 1_000_003;
const GC_P: u64 = 1_000_004;

/// The most output of one generation held in memory, in bytes; the rest of
/// it waits in a temporary file until the generation ends.
pub const HOLD_BACK: usize = 8 << 20;

/// Output gathered before it goes to a [`Retract`] output, in bytes.
const DIRECT_CHUNK: usize = 1 << 20;

/// The sections (`pid`).
const PROCS_SECTION: u64 = 0;
const STATS_SECTION: u64 = 1;

/// Heap goals above this are shown as 0 (golang/go#63864).
const PIB: u64 = 1 << 50;

/// The viewer's goroutine states, indexes into the counters.
const G_DEAD: usize = 0;
const G_RUNNABLE: usize = 1;
const G_RUNNING: usize = 2;
const G_WAITING: usize = 3;
const G_WAITING_GC: usize = 4;

/// The thread counter that moves in the per-P view.
const THREAD_RUNNING: usize = 2;

/// No P (`executing` of a goroutine that is not running).
const NO_PROC: i64 = -1;

/// An interned string: a reason, range name, label or function name.
type Sym = u32;

/// A range in progress: where it (last) began and the stack there.
#[derive(Clone, Copy, Debug, Default)]
struct ActiveRange {
    time: i64,
    stack: u32,
}

/// What a completed range on a goroutine is.
#[derive(Clone, Copy, Debug)]
enum Completed {
    Syscall { blocked: bool },
    Range(Sym),
}

#[derive(Clone, Copy, Debug)]
struct CompletedRange {
    what: Completed,
    start: i64,
    end: i64,
    start_stack: u32,
    end_stack: u32,
}

/// Why a goroutine will start: a flow from there to its next run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cause {
    None,
    Go,
    Unblock(Option<Sym>),
    ExitBlockedSyscall,
}

/// The viewer's state of one goroutine (Go's `gState` for the P view).
#[derive(Clone, Debug)]
struct GState {
    /// The outermost function of the first stack seen with it.
    func: Option<Sym>,
    label: Option<Sym>,
    /// The P it executes on ([`NO_PROC`]: none).
    executing: i64,
    last_stop_stack: u32,
    /// In begin order.
    active: Vec<(Sym, ActiveRange)>,
    completed: Vec<CompletedRange>,
    start_running: i64,
    syscall: Option<ActiveRange>,
    block_reason: Option<Sym>,
    cause: Cause,
    cause_time: i64,
    cause_resource: u64,
    cause_stack: u32,
}

impl GState {
    fn new() -> GState {
        GState {
            func: None,
            label: None,
            executing: NO_PROC,
            last_stop_stack: 0,
            active: Vec::new(),
            completed: Vec::new(),
            start_running: 0,
            syscall: None,
            block_reason: None,
            cause: Cause::None,
            cause_time: 0,
            cause_resource: 0,
            cause_stack: 0,
        }
    }

    fn set_cause(&mut self, cause: Cause, time: i64, resource: u64, stack: u32) {
        self.cause = cause;
        self.cause_time = time;
        self.cause_resource = resource;
        self.cause_stack = stack;
    }

    fn in_mark_assist(&self, mark_assist: Option<Sym>) -> bool {
        mark_assist.is_some_and(|m| self.active.iter().any(|&(n, _)| n == m))
    }
}

/// Everything the output depends on, saved at each generation's end.
#[derive(Clone, Debug, Default)]
struct State {
    started: bool,
    start_time: i64,
    last_time: i64,
    syncs: u64,
    gs: IdMap<GoId, GState>,
    in_syscall: IdMap<ProcId, GoId>,
    max_proc: i64,
    proc_ranges: BTreeMap<(ProcId, Sym), ActiveRange>,
    global_ranges: BTreeMap<(ProcId, Sym), ActiveRange>,
    gcounts: [i64; 5],
    prev_gcounts: [i64; 5],
    threads: [i64; 3],
    prev_threads: [i64; 3],
    heap: (u64, u64),
    prev_heap: (u64, u64),
    arrow_seq: u64,
    /// Events written.
    written: u64,
}

impl State {
    fn rel(&self, t: i64) -> i64 {
        t.wrapping_sub(self.start_time)
    }
}

/// A symbol's text: as read, and escaped for a JSON string.
type SymText = (Box<[u8]>, Box<[u8]>);

/// Interned strings, each also kept escaped for JSON; never shrinks, so
/// saved states stay valid.
#[derive(Debug, Default)]
struct Symbols {
    ids: std::collections::HashMap<Box<[u8]>, Sym>,
    /// Each symbol as read and escaped.
    names: Vec<SymText>,
    /// Symbols of the current generation's strings, by address: the
    /// generation's string table does not move while its events are read.
    by_addr: IdMap<(usize, usize), Sym>,
}

impl Symbols {
    fn intern(&mut self, s: &[u8]) -> Sym {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = Sym::try_from(self.names.len()).unwrap_or(Sym::MAX);
        let mut esc = Vec::with_capacity(s.len());
        emit::put_str_body(&mut esc, s);
        self.names.push((s.into(), esc.into()));
        self.ids.insert(s.into(), i);
        i
    }

    /// [`intern`](Symbols::intern) for a string of the current generation's
    /// tables.
    fn intern_gen(&mut self, s: &[u8]) -> Sym {
        let key = (s.as_ptr() as usize, s.len());
        if let Some(&i) = self.by_addr.get(&key) {
            return i;
        }
        let i = self.intern(s);
        self.by_addr.insert(key, i);
        i
    }

    fn new_generation(&mut self) {
        self.by_addr.clear();
    }

    fn get(&self, s: Sym) -> &[u8] {
        self.names.get(s as usize).map_or(&[], |b| &b.0)
    }

    fn esc(&self, s: Sym) -> &[u8] {
        self.names.get(s as usize).map_or(&[], |b| &b.1)
    }
}

/// The output of the current generation and the frames it refers to.
#[derive(Debug, Default)]
struct Emitter {
    buf: Vec<u8>,
    frames: FrameTree,
}

impl Emitter {
    /// Writes one event (Go's `OptionalEvent`), marking its stacks.
    fn emit(&mut self, written: &mut u64, e: &ViewerEvent<'_>) {
        self.frames.require(e.sf);
        self.frames.require(e.esf);
        *written += 1;
        if *written == 1 {
            self.buf.extend_from_slice(b"\"traceEvents\": [");
        } else {
            self.buf.push(b',');
        }
        put_event(&mut self.buf, e);
    }

    /// A slice (`X`), unless it lies wholly before the start.
    fn slice(&mut self, written: &mut u64, s: Slice<'_>) {
        if s.ts < 0 && s.ts.wrapping_add(s.dur) < 0 {
            return;
        }
        self.emit(
            written,
            &ViewerEvent {
                name: s.name,
                ph: "X",
                ts: s.ts,
                dur: s.dur,
                pid: PROCS_SECTION,
                tid: s.tid,
                sf: s.sf,
                esf: s.esf,
                args: s.args,
                ..ViewerEvent::default()
            },
        );
    }

    /// An instant on a thread of the P section, unless it is before the start.
    fn instant(&mut self, written: &mut u64, e: ViewerEvent<'_>) {
        if e.ts < 0 {
            return;
        }
        self.emit(
            written,
            &ViewerEvent {
                ph: "I",
                scope: "t",
                pid: PROCS_SECTION,
                ..e
            },
        );
    }

    /// A counter of the stats section, unless it is before the start.
    fn counter(&mut self, written: &mut u64, name: &'static [u8], ts: i64, args: Args<'_>) {
        if ts < 0 {
            return;
        }
        self.emit(
            written,
            &ViewerEvent {
                name: Name::Bytes(name),
                ph: "C",
                ts,
                pid: STATS_SECTION,
                args,
                ..ViewerEvent::default()
            },
        );
    }

    fn meta(&mut self, written: &mut u64, name: &'static [u8], pid: u64, tid: u64, args: Args<'_>) {
        self.emit(
            written,
            &ViewerEvent {
                name: Name::Bytes(name),
                ph: "M",
                pid,
                tid,
                args,
                ..ViewerEvent::default()
            },
        );
    }
}

/// A slice's fields.
struct Slice<'a> {
    name: Name<'a>,
    ts: i64,
    dur: i64,
    tid: u64,
    sf: u32,
    esf: u32,
    args: Args<'a>,
}

/// Writes Go's `/jsontrace` output for the events it is given.
///
/// ```
/// use gort_parser::{jsontrace::JsonTraceWriter, raw::text_to_binary, Reader};
///
/// let trace = text_to_binary(
///     b"Trace Go1.23
/// EventBatch gen=1 m=18446744073709551615 time=0 size=5
/// Frequency freq=15625000
/// EventBatch gen=1 m=7 time=10 size=13
/// ProcStatus dt=1 p=0 pstatus=1
/// GoStatus dt=1 g=1 m=7 gstatus=2
/// GoDestroy dt=1
/// ProcStop dt=1
/// ",
/// )?;
/// let mut w = JsonTraceWriter::new(Vec::new());
/// let mut r = Reader::from_slice(&trace)?;
/// while let Some(ev) = r.next_event()? {
///     w.event(ev)?;
/// }
/// let json = String::from_utf8(w.finish()?).unwrap();
/// assert!(json.starts_with("{\"displayTimeUnit\":\"ns\"\n,\"traceEvents\": ["));
/// assert!(json.contains(r#"{"name":"G1","ph":"X","ts":0,"dur":0.128,"pid":0,"tid":0}"#));
/// # Ok::<(), gort_parser::Error>(())
/// ```
#[derive(Debug)]
pub struct JsonTraceWriter<W: Write> {
    out: W,
    em: Emitter,
    st: State,
    /// The state at the end of the last complete generation.
    saved: Option<State>,
    /// Output of the current generation beyond [`HOLD_BACK`].
    spill: Spill,
    /// Set for a [`Retract`] output: generations go straight out.
    direct: Option<Direct<W>>,
    syms: Symbols,
    /// The format's rules: Go 1.27's proc arguments; a leading Sync.
    sched_ctx_args: bool,
    leading_sync: bool,
    format_known: bool,
    mark_assist: Option<Sym>,
}

impl<W: Write> JsonTraceWriter<W> {
    /// A writer of JSON to `out`; nothing is written before the first
    /// generation ends.
    pub fn new(out: W) -> JsonTraceWriter<W> {
        JsonTraceWriter {
            out,
            em: Emitter {
                buf: Vec::with_capacity(1 << 16),
                frames: FrameTree::default(),
            },
            st: State::default(),
            saved: None,
            spill: Spill::default(),
            direct: None,
            syms: Symbols::default(),
            sched_ctx_args: false,
            leading_sync: false,
            format_known: false,
            mark_assist: None,
        }
    }

    /// A writer of JSON to `out` that writes each generation as it is made
    /// instead of holding it back: should the trace turn out damaged,
    /// [`finish_valid`](Self::finish_valid) cuts `out` back to where the
    /// damaged generation began (to where `out` stood now if no generation
    /// completed).
    ///
    /// # Errors
    ///
    /// The error of `out`'s [`mark`](Retract::mark).
    pub fn retracting(mut out: W) -> io::Result<JsonTraceWriter<W>>
    where
        W: Retract,
    {
        let direct = Direct::new(&mut out)?;
        let mut w = JsonTraceWriter::new(out);
        w.direct = Some(direct);
        Ok(w)
    }

    /// Whether a generation has ended, so that [`finish_valid`] renders
    /// the trace up to there.
    ///
    /// [`finish_valid`]: JsonTraceWriter::finish_valid
    pub fn can_finish_valid(&self) -> bool {
        self.saved.is_some()
    }

    /// Takes the next event of the trace.
    ///
    /// # Errors
    ///
    /// Errors writing to the output (at the end of each generation).
    pub fn event(&mut self, ev: &Event<'_>) -> io::Result<()> {
        if !self.format_known {
            self.format_known = true;
            let f = ev.format();
            self.sched_ctx_args = f.has_end_of_generation();
            self.leading_sync = f.has_sync_batches();
        }
        if !self.st.started {
            self.start_output(ev.time());
        }
        self.st.last_time = ev.time();
        match ev.kind() {
            EventKind::Sync => {
                self.st.syncs += 1;
                self.em.frames.new_generation();
                self.syms.new_generation();
                self.commit()?;
            }
            EventKind::StackSample => {
                let p = ev.proc();
                if p.is_some() {
                    let sf = self.em.frames.node(ev.stack());
                    let ts = self.st.rel(ev.time());
                    self.em.instant(
                        &mut self.st.written,
                        ViewerEvent {
                            name: Name::Bytes(b"CPU profile sample"),
                            ts,
                            tid: p.0 as u64,
                            sf,
                            ..ViewerEvent::default()
                        },
                    );
                }
            }
            EventKind::RangeBegin | EventKind::RangeActive | EventKind::RangeEnd => {
                self.range(ev);
            }
            EventKind::Metric => self.metric(ev),
            EventKind::Label => {
                if let Some(l) = ev.label() {
                    if let ResourceId::Goroutine(g) = l.resource {
                        let sym = (!l.label.is_empty()).then(|| self.syms.intern(l.label));
                        if let Some(gs) = self.st.gs.get_mut(&g) {
                            gs.label = sym;
                        }
                    }
                }
            }
            EventKind::StateTransition => {
                if let Some(st) = ev.state_transition() {
                    match st.transition {
                        Transition::Goroutine { id, from, to } => {
                            self.goroutine(ev, &st, id, from, to);
                        }
                        Transition::Proc { id, from, to } => self.proc(ev, id, from, to),
                    }
                }
            }
            EventKind::Log => {
                let p = ev.proc();
                if let (true, Some(log)) = (p.is_some(), ev.log()) {
                    let sf = self.em.frames.node(ev.stack());
                    let ts = self.st.rel(ev.time());
                    self.em.instant(
                        &mut self.st.written,
                        ViewerEvent {
                            name: Name::Log {
                                category: log.category,
                                message: log.message,
                            },
                            ts,
                            tid: p.0 as u64,
                            sf,
                            cat: "user event",
                            ..ViewerEvent::default()
                        },
                    );
                }
            }
            EventKind::TaskBegin
            | EventKind::TaskEnd
            | EventKind::RegionBegin
            | EventKind::RegionEnd
            | EventKind::Experimental => {}
        }
        if self.direct.is_some() {
            if self.em.buf.len() >= DIRECT_CHUNK {
                self.out.write_all(&self.em.buf)?;
                self.em.buf.clear();
            }
        } else if self.em.buf.len() >= HOLD_BACK {
            // Without a temporary file the output stays in memory.
            self.spill.put(&mut self.em.buf);
        }
        Ok(())
    }

    /// Ends the output after the last event of a complete trace and returns
    /// the writer.
    ///
    /// # Errors
    ///
    /// Errors writing to the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.finish_trace();
        self.spill.drain_to(&mut self.out)?;
        self.out.write_all(&self.em.buf)?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// Ends the output as of the end of the last complete generation, as Go
    /// renders a trace whose reading failed: the events after it are
    /// dropped. Without a complete generation, nothing more is written.
    ///
    /// # Errors
    ///
    /// Errors writing to the output.
    pub fn finish_valid(mut self) -> io::Result<W> {
        self.spill.discard();
        if let Some(d) = self.direct {
            (d.retract_to)(&mut self.out, d.committed)?;
        }
        if let Some(saved) = self.saved.take() {
            self.st = saved;
            self.em.buf.clear();
            self.em.frames.rollback();
            self.finish_trace();
            self.out.write_all(&self.em.buf)?;
        }
        self.out.flush()?;
        Ok(self.out)
    }

    fn start_output(&mut self, t: i64) {
        self.st.started = true;
        self.st.start_time = t;
        self.em
            .buf
            .extend_from_slice(b"{\"displayTimeUnit\":\"ns\"\n,");
    }

    /// Writes the held-back generation and saves the state after it.
    fn commit(&mut self) -> io::Result<()> {
        self.spill.drain_to(&mut self.out)?;
        self.out.write_all(&self.em.buf)?;
        self.em.buf.clear();
        self.em.frames.commit();
        self.saved = Some(self.st.clone());
        if let Some(d) = self.direct.as_mut() {
            d.committed = (d.mark)(&mut self.out)?;
        }
        Ok(())
    }

    fn first_generation(&self) -> bool {
        if self.leading_sync {
            self.st.syncs < 2
        } else {
            self.st.syncs == 0
        }
    }

    fn range(&mut self, ev: &Event<'_>) {
        let Some(r) = ev.range() else {
            return;
        };
        let kind = ev.kind();
        let name = self.syms.intern(&r.name);
        if self.mark_assist.is_none() && &*r.name == b"GC mark assist" {
            self.mark_assist = Some(name);
        }
        let t = ev.time();
        match r.scope {
            ResourceId::Goroutine(g) => {
                let stack = if kind == EventKind::RangeActive {
                    0
                } else {
                    self.em.frames.node(ev.stack())
                };
                let Some(gs) = self.st.gs.get_mut(&g) else {
                    return;
                };
                let executing = gs.executing != NO_PROC;
                if kind == EventKind::RangeEnd {
                    let pos = gs.active.iter().position(|(n, _)| *n == name);
                    if executing {
                        let r = pos.map_or(ActiveRange::default(), |i| gs.active[i].1);
                        gs.completed.push(CompletedRange {
                            what: Completed::Range(name),
                            start: r.time,
                            end: t,
                            start_stack: r.stack,
                            end_stack: stack,
                        });
                    }
                    if let Some(i) = pos {
                        gs.active.remove(i);
                    }
                    return;
                }
                let time = match (executing, kind) {
                    (false, _) => 0,
                    (true, EventKind::RangeBegin) => t,
                    (true, _) => gs.start_running,
                };
                let ar = ActiveRange { time, stack };
                match gs.active.iter_mut().find(|(n, _)| *n == name) {
                    Some(slot) => slot.1 = ar,
                    None => gs.active.push((name, ar)),
                }
            }
            ResourceId::Proc(_) | ResourceId::None => {
                let proc = match r.scope {
                    ResourceId::Proc(p) => Some(p),
                    _ => None,
                };
                let key = (proc.unwrap_or(ProcId::NONE), name);
                match kind {
                    EventKind::RangeBegin => {
                        let stack = self.em.frames.node(ev.stack());
                        self.st
                            .ranges(proc)
                            .insert(key, ActiveRange { time: t, stack });
                    }
                    EventKind::RangeActive => {
                        if self.first_generation() {
                            let stack = self.em.frames.node(ev.stack());
                            let time = self.st.start_time;
                            self.st
                                .ranges(proc)
                                .insert(key, ActiveRange { time, stack });
                        }
                    }
                    _ => {
                        let ar = self.st.ranges(proc).remove(&key).unwrap_or_default();
                        // Only GC's global ranges have a lane.
                        if proc.is_none() && !contains(&r.name, b"GC") {
                            return;
                        }
                        let esf = self.em.frames.node(ev.stack());
                        let s = Slice {
                            name: Name::Bytes(&r.name),
                            ts: self.st.rel(ar.time),
                            dur: t.wrapping_sub(ar.time),
                            tid: proc.map_or(GC_P, |p| p.0 as u64),
                            sf: ar.stack,
                            esf,
                            args: Args::None,
                        };
                        self.em.slice(&mut self.st.written, s);
                    }
                }
            }
            ResourceId::Thread(_) => {}
        }
    }

    fn metric(&mut self, ev: &Event<'_>) {
        let Some(m) = ev.metric() else {
            return;
        };
        match m.name {
            "/memory/classes/heap/objects:bytes" => self.st.heap.0 = m.value,
            "/gc/heap/goal:bytes" => self.st.heap.1 = if m.value > PIB { 0 } else { m.value },
            _ => return,
        }
        if self.st.heap == self.st.prev_heap {
            return;
        }
        let (allocated, goal) = self.st.heap;
        let ts = self.st.rel(ev.time());
        let args = Args::Heap {
            allocated,
            next_gc: goal.saturating_sub(allocated),
        };
        self.em.counter(&mut self.st.written, b"Heap", ts, args);
        self.st.prev_heap = self.st.heap;
    }

    fn goroutine(
        &mut self,
        ev: &Event<'_>,
        st: &StateTransition<'_>,
        id: GoId,
        from: GoState,
        to: GoState,
    ) {
        use GoState as G;
        let gs = self.st.gs.entry(id).or_insert_with(GState::new);
        // Named after the outermost frame of the first stack seen.
        // (A stack with an ID but no frames names it "", as in Go.)
        if gs.func.is_none() {
            if let Some(s) = st.stack.filter(|s| s.id() != 0) {
                let func = s.frames().last().map_or(&b""[..], |f| f.func);
                gs.func = Some(self.syms.intern_gen(func));
            }
        }
        if from == to {
            return;
        }
        let t = ev.time();
        let p = ev.proc();
        let ev_stack = ev.stack();
        if from == G::Running && !to.is_executing() {
            let stack = self.em.frames.node(ev_stack);
            if to == G::Waiting {
                let reason = st.reason;
                let sym = (!reason.is_empty()).then(|| self.syms.intern_gen(reason));
                if let Some(gs) = self.st.gs.get_mut(&id) {
                    gs.block_reason = sym;
                }
            }
            self.stop(id, t, stack);
        }
        if !from.is_executing() && to == G::Running {
            let start = if from == G::Undetermined {
                self.st.start_time
            } else {
                t
            };
            self.start(id, start, p.0);
        }
        if from == G::Waiting {
            let stack = self.em.frames.node(ev_stack);
            self.unblock(id, t, stack, p);
        }
        if from == G::NotExist && to == G::Runnable && p.is_some() {
            let stack = self.em.frames.node(ev_stack);
            if let Some(gs) = self.st.gs.get_mut(&id) {
                gs.set_cause(Cause::Go, t, p.0 as u64, stack);
            }
        }
        if from == G::Syscall && to != G::Running {
            let stack = self.em.frames.node(ev_stack);
            if let Some(gs) = self.st.gs.get_mut(&id) {
                gs.set_cause(Cause::ExitBlockedSyscall, t, SYSCALL_P, stack);
            }
            let ts = self.st.rel(t);
            self.em.instant(
                &mut self.st.written,
                ViewerEvent {
                    name: Name::Bytes(b"exit blocked syscall"),
                    ts,
                    tid: SYSCALL_P,
                    sf: stack,
                    ..ViewerEvent::default()
                },
            );
        }
        if to == G::Syscall && p.is_some() {
            let start = if from == G::Undetermined {
                self.st.start_time
            } else {
                t
            };
            let stack = self.em.frames.node(ev_stack);
            if let Some(gs) = self.st.gs.get_mut(&id) {
                gs.syscall = Some(ActiveRange { time: start, stack });
                if gs.executing == NO_PROC {
                    gs.executing = p.0;
                    gs.start_running = start;
                }
            }
            self.st.in_syscall.insert(p, id);
        }
        if from == G::Syscall && self.st.in_syscall.contains_key(&p) {
            self.syscall_end(id, t, false);
            self.st.in_syscall.remove(&p);
        }
        let assist = self
            .st
            .gs
            .get(&id)
            .is_some_and(|g| g.in_mark_assist(self.mark_assist));
        let (a, b) = (viewer_state(from, assist), viewer_state(to, assist));
        self.st.gcounts[a] -= 1;
        self.st.gcounts[b] += 1;
        if !same(&self.st.gcounts, &self.st.prev_gcounts) {
            let c = self.st.gcounts;
            let ts = self.st.rel(t);
            let args = Args::Goroutines {
                running: c[G_RUNNING] as u64,
                runnable: c[G_RUNNABLE] as u64,
                gc_waiting: c[G_WAITING_GC] as u64,
            };
            self.em
                .counter(&mut self.st.written, b"Goroutines", ts, args);
            self.st.prev_gcounts = c;
        }
    }

    fn unblock(&mut self, id: GoId, t: i64, stack: u32, p: ProcId) {
        let Some(gs) = self.st.gs.get_mut(&id) else {
            return;
        };
        let reason = gs.block_reason.take();
        let reason_bytes = reason.map_or(&b""[..], |r| self.syms.get(r));
        let mut resource = p.0 as u64;
        if contains(reason_bytes, b"network") {
            resource = NETPOLL_P;
        }
        if resource != 0 {
            gs.set_cause(Cause::Unblock(reason), t, resource, stack);
        }
        if resource == NETPOLL_P {
            let ts = self.st.rel(t);
            let esc = reason.map_or(&b""[..], |r| self.syms.esc(r));
            self.em.instant(
                &mut self.st.written,
                ViewerEvent {
                    name: Name::Unblock(esc),
                    ts,
                    tid: resource,
                    sf: stack,
                    ..ViewerEvent::default()
                },
            );
        }
    }

    fn start(&mut self, id: GoId, ts: i64, p: i64) {
        let Some(gs) = self.st.gs.get_mut(&id) else {
            return;
        };
        for (_, r) in &mut gs.active {
            *r = ActiveRange { time: ts, stack: 0 };
        }
        let cause = gs.cause;
        let (ct, cr, cs) = (gs.cause_time, gs.cause_resource, gs.cause_stack);
        gs.set_cause(Cause::None, 0, 0, 0);
        gs.executing = p;
        gs.start_running = ts;
        let name = match cause {
            Cause::None => return,
            Cause::Go => Name::Bytes(b"go"),
            Cause::ExitBlockedSyscall => Name::Bytes(b"exit blocked syscall"),
            Cause::Unblock(r) => Name::Unblock(r.map_or(&b""[..], |r| self.syms.esc(r))),
        };
        let (start, end) = (self.st.rel(ct), self.st.rel(ts));
        if start < 0 || end < 0 {
            return;
        }
        self.st.arrow_seq += 1;
        let arrow = ViewerEvent {
            name,
            ph: "s",
            ts: start,
            pid: PROCS_SECTION,
            tid: cr,
            id: self.st.arrow_seq,
            sf: cs,
            ..ViewerEvent::default()
        };
        self.em.emit(&mut self.st.written, &arrow);
        let target = ViewerEvent {
            ph: "t",
            ts: end,
            tid: p as u64,
            sf: 0,
            ..arrow
        };
        self.em.emit(&mut self.st.written, &target);
    }

    fn syscall_end(&mut self, id: GoId, t: i64, blocked: bool) {
        let Some(gs) = self.st.gs.get_mut(&id) else {
            return;
        };
        if let Some(s) = gs.syscall.take() {
            gs.completed.push(CompletedRange {
                what: Completed::Syscall { blocked },
                start: s.time,
                end: t,
                start_stack: s.stack,
                end_stack: 0,
            });
        }
    }

    /// The goroutine stops executing at `t`: its run's slice, then the
    /// ranges completed or still open during the run.
    fn stop(&mut self, id: GoId, t: i64, stack: u32) {
        let start_time = self.st.start_time;
        let rel = |x: i64| x.wrapping_sub(start_time);
        let Some(gs) = self.st.gs.get_mut(&id) else {
            return;
        };
        let (exec, start, sf) = (gs.executing, gs.start_running, gs.last_stop_stack);
        gs.start_running = 0;
        gs.last_stop_stack = stack;
        gs.executing = NO_PROC;
        // Go gives up on a stop of a goroutine that was not running.
        if start == 0 || exec == NO_PROC {
            gs.completed.clear();
            for (_, r) in &mut gs.active {
                *r = ActiveRange::default();
            }
            return;
        }
        let tid = exec as u64;
        let written = &mut self.st.written;
        let syms = &self.syms;
        let run = Slice {
            name: Name::Goroutine {
                id: id.0,
                func: gs.func.map(|f| syms.esc(f)),
                label: gs.label.map_or(&b""[..], |l| syms.esc(l)),
            },
            ts: rel(start),
            dur: t.wrapping_sub(start),
            tid,
            sf,
            esf: stack,
            args: Args::None,
        };
        self.em.slice(written, run);
        for c in gs.completed.drain(..) {
            let (name, args) = match c.what {
                Completed::Syscall { blocked } => (Name::Bytes(b"syscall"), Args::Blocked(blocked)),
                Completed::Range(n) => (Name::Escaped(syms.esc(n)), Args::None),
            };
            let s = Slice {
                name,
                ts: rel(c.start),
                dur: c.end.wrapping_sub(c.start),
                tid,
                sf: c.start_stack,
                esf: c.end_stack,
                args,
            };
            self.em.slice(written, s);
        }
        for (n, r) in &mut gs.active {
            // Go panics on a range with no start here; skip it.
            if r.time != 0 {
                let s = Slice {
                    name: Name::Escaped(syms.esc(*n)),
                    ts: rel(r.time),
                    dur: t.wrapping_sub(r.time),
                    tid,
                    sf: r.stack,
                    esf: 0,
                    args: Args::None,
                };
                self.em.slice(written, s);
            }
            *r = ActiveRange::default();
        }
    }

    fn proc(&mut self, ev: &Event<'_>, id: ProcId, from: ProcState, to: ProcState) {
        self.st.max_proc = self.st.max_proc.max(id.0);
        if from == to {
            return;
        }
        let t = ev.time();
        let m = ev.thread().0 as u64;
        let mut name: &'static [u8] = b"";
        let mut ts = 0;
        let mut args = Args::None;
        if self.sched_ctx_args {
            args = Args::SchedCtx {
                thread: m,
                proc: id.0 as u64,
            };
        }
        if to.is_executing() {
            let start = if from == ProcState::Undetermined {
                self.st.start_time
            } else {
                t
            };
            name = b"proc start";
            if !self.sched_ctx_args {
                args = Args::ThreadId(m);
            }
            ts = self.st.rel(start);
            self.thread_count(ts, 1);
        }
        if from.is_executing() {
            name = b"proc stop";
            ts = self.st.rel(t);
            self.thread_count(ts, -1);
            if let Some(g) = self.st.in_syscall.remove(&id) {
                let stack = self.em.frames.node(ev.stack());
                self.syscall_end(g, t, true);
                self.stop(g, t, stack);
            }
        }
        if !name.is_empty() {
            let sf = self.em.frames.node(ev.stack());
            self.em.instant(
                &mut self.st.written,
                ViewerEvent {
                    name: Name::Bytes(name),
                    ts,
                    tid: id.0 as u64,
                    sf,
                    args,
                    ..ViewerEvent::default()
                },
            );
        }
    }

    fn thread_count(&mut self, ts: i64, delta: i64) {
        self.st.threads[THREAD_RUNNING] += delta;
        if same(&self.st.threads, &self.st.prev_threads) {
            return;
        }
        let c = self.st.threads;
        let args = Args::Threads {
            running: c[THREAD_RUNNING],
            in_syscall: c[0],
        };
        self.em.counter(&mut self.st.written, b"Threads", ts, args);
        self.st.prev_threads = c;
    }

    /// Go's `Finish` and `Flush`: open ranges and runs end at the trace's
    /// last event; then the metadata and the frames.
    fn finish_trace(&mut self) {
        if !self.st.started {
            self.start_output(0);
        }
        let end = self.st.last_time;
        let ranges = std::mem::take(&mut self.st.proc_ranges)
            .into_iter()
            .map(|((p, n), ar)| (p.0 as u64, n, ar, true))
            .chain(
                std::mem::take(&mut self.st.global_ranges)
                    .into_iter()
                    .map(|((_, n), ar)| (GC_P, n, ar, false)),
            );
        for (tid, n, ar, per_p) in ranges {
            let name = self.syms.get(n);
            if !per_p && !contains(name, b"GC") {
                continue;
            }
            let s = Slice {
                name: Name::Bytes(name),
                ts: self.st.rel(ar.time),
                dur: end.wrapping_sub(ar.time),
                tid,
                sf: ar.stack,
                esf: 0,
                args: Args::None,
            };
            self.em.slice(&mut self.st.written, s);
        }
        let mut ids: Vec<GoId> = self
            .st
            .gs
            .iter()
            .filter(|(_, g)| g.executing != NO_PROC)
            .map(|(&id, _)| id)
            .collect();
        ids.sort_unstable();
        for id in ids {
            self.syscall_end(id, end, false);
            self.stop(id, end, 0);
        }
        // Go's Flush: the metadata.
        let w = &mut self.st.written;
        let em = &mut self.em;
        for (pid, name, sort) in [
            (STATS_SECTION, &b"STATS"[..], 0),
            (PROCS_SECTION, b"PROCS", 2),
        ] {
            em.meta(w, b"process_name", pid, 0, Args::MetaName(name));
            em.meta(w, b"process_sort_index", pid, 0, Args::SortIndex(sort));
        }
        let mut thread = |tid: u64, name: &[u8], sort: i64| {
            em.meta(w, b"thread_name", PROCS_SECTION, tid, Args::MetaName(name));
            em.meta(
                w,
                b"thread_sort_index",
                PROCS_SECTION,
                tid,
                Args::SortIndex(sort),
            );
        };
        thread(GC_P, b"GC", -6);
        thread(NETPOLL_P, b"Network", -5);
        thread(TIMER_P, b"Timers", -4);
        thread(SYSCALL_P, b"Syscalls", -3);
        let mut name = Vec::new();
        for p in 0..=self.st.max_proc.max(0) {
            name.clear();
            name.extend_from_slice(b"Proc ");
            emit::put_i64(&mut name, p);
            thread(p as u64, &name, p);
        }
        if *w == 0 {
            em.buf.extend_from_slice(b"\"traceEvents\": [");
        }
        em.buf.extend_from_slice(b"], \"stackFrames\":");
        em.frames.put_frames(&mut em.buf);
        em.buf.push(b'}');
    }
}

impl State {
    fn ranges(&mut self, proc: Option<ProcId>) -> &mut BTreeMap<(ProcId, Sym), ActiveRange> {
        match proc {
            Some(_) => &mut self.proc_ranges,
            None => &mut self.global_ranges,
        }
    }
}

/// Array equality without a call to `memcmp`.
#[inline]
fn same<const N: usize>(a: &[i64; N], b: &[i64; N]) -> bool {
    let mut d = 0;
    for i in 0..N {
        d |= a[i] ^ b[i];
    }
    d == 0
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The viewer's state of a goroutine state.
fn viewer_state(s: GoState, in_mark_assist: bool) -> usize {
    match s {
        GoState::Undetermined | GoState::NotExist => G_DEAD,
        GoState::Runnable => G_RUNNABLE,
        GoState::Running | GoState::Syscall => G_RUNNING,
        GoState::Waiting if in_mark_assist => G_WAITING_GC,
        GoState::Waiting => G_WAITING,
    }
}

/// Renders a whole trace as Go's `/jsontrace` does, streaming: a trace whose
/// reading fails after a complete generation is rendered up to its last one,
/// as Go renders it.
///
/// # Errors
///
/// A read error before any generation completed (`failed to parse any
/// useful part of the trace: ...`); an error writing to `out` (or to the
/// temporary file that holds back a large generation's output).
pub fn write_json_trace<W: Write>(reader: Reader<'_>, out: W) -> Result<W> {
    render(reader, JsonTraceWriter::new(out))
}

/// [`write_json_trace`] to an output that can take back its tail (a regular
/// file): each generation is written as it is made, without a second copy,
/// and a damaged generation's part is cut off again. What `out` holds at the
/// end is what [`write_json_trace`] writes.
///
/// # Errors
///
/// As [`write_json_trace`]; on the first, nothing written stays in `out`.
pub fn write_json_trace_retracting<W: Retract>(reader: Reader<'_>, out: W) -> Result<W> {
    render(
        reader,
        JsonTraceWriter::retracting(out).map_err(Error::from)?,
    )
}

fn render<W: Write>(mut reader: Reader<'_>, mut w: JsonTraceWriter<W>) -> Result<W> {
    loop {
        match reader.next_event() {
            Ok(Some(ev)) => w.event(ev).map_err(Error::from)?,
            Ok(None) => return w.finish().map_err(Error::from),
            Err(e) => {
                if w.can_finish_valid() {
                    return w.finish_valid().map_err(Error::from);
                }
                // Takes back what went out (a retracting writer's); writes nothing.
                w.finish_valid().map_err(Error::from)?;
                return Err(Error::new(
                    e.kind(),
                    format!("failed to parse any useful part of the trace: {e}"),
                ));
            }
        }
    }
}
