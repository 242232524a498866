//! Export to Perfetto's native protobuf trace format, streaming.
//!
//! A [`PerfettoWriter`] takes the ordered events one at a time and writes
//! `TracePacket`s as it goes; it keeps only per-goroutine and per-track
//! state (what is running where, open slices, pending flows), so a trace
//! of any size converts in memory proportional to its live goroutines.
//!
//! Layout, all under one process track:
//! - one track per goroutine (`G<id>`): a slice per run (named after the
//!   start function when known), a `syscall` slice per syscall with the
//!   stack at its entry, instants for blocking (with its reason and stack)
//!   and for user logs, and a child track of user regions;
//! - one track per P (`Proc N`) and per M (`Thread N`): a slice per
//!   goroutine run on it (and, on Ms, per syscall);
//! - flows from the goroutine that created or woke another to that
//!   goroutine's next run;
//! - counter tracks: goroutines running, runnable, waiting and in
//!   syscalls, and every metric the trace has (heap, heap goal,
//!   GOMAXPROCS);
//! - a `GC` track with the global GC phases.
//!
//! - one track per user task (`T<id> <type>`) under a `Tasks` track, with
//!   a slice from the task's begin to its end and flows from its parent.
//!
//! Stacks and names are interned (Perfetto's `InternedData`): a frame,
//! function name, file, call stack or slice name is written once, the
//! first time an event uses it, and referred to by id afterwards, so the
//! output grows with the trace's events, not with their stacks' depth.
//! An execution slice carries the stack at which the goroutine last
//! stopped (where it resumes); blocking instants and syscall slices carry
//! the stack at which they began. Call stacks are written outermost frame
//! first, as Perfetto expects.

mod proto;

use std::collections::HashMap;
use std::io::Write;

use proto::{event as te, interned, packet, track, Msg};

use crate::event::{Event, EventKind, Stack};
use crate::resources::{GoId, GoState, ProcId, ResourceId, ThreadId, Transition};
use crate::tables::IdMap;

/// The sequence all packets share.
const SEQUENCE: u64 = 0x60_7274;
/// Track kinds (the low bits of track UUIDs, see [`tuuid`]).
const PROCESS_TRACK: u64 = 1;
const G_TRACKS: u64 = 2;
const REGION_TRACKS: u64 = 3;
const P_TRACKS: u64 = 4;
const M_TRACKS: u64 = 5;
const COUNTER_TRACKS: u64 = 6;
const GC_TRACK: u64 = 7;
const TASKS_TRACK: u64 = 8;
const TASK_TRACKS: u64 = 9;

/// The UUID of track `id` of a kind: the kind in the low four bits keeps
/// UUIDs short varints for small ids.
fn tuuid(kind: u64, id: u64) -> u64 {
    id.wrapping_shl(4) | kind
}

/// Per-goroutine state.
#[derive(Debug, Default)]
struct Gor {
    name: String,
    /// Where its current run or syscall is shown (P and M tracks).
    p_track: Option<u64>,
    m_track: Option<u64>,
    /// Flows to end at its next run.
    flows: Vec<u64>,
    /// Interned call stack where it last stopped (0: none).
    resume_stack: u64,
}

/// Interning tables: each value gets an id (from 1) the first time it is
/// used; new entries wait in `pending` for the next packet.
#[derive(Debug, Default)]
struct Interner {
    /// Function names (`InternedString`).
    funcs: HashMap<Vec<u8>, u64>,
    /// Source paths (`InternedString`).
    paths: HashMap<Vec<u8>, u64>,
    /// Frames by (function id, file id, line, pc).
    frames: HashMap<(u64, u64, u64, u64), u64>,
    /// Call stacks by their frame ids, outermost first.
    stacks: HashMap<Vec<u64>, u64>,
    /// Event names.
    names: HashMap<Vec<u8>, u64>,
    /// Entries not written yet (an `InternedData` message).
    pending: Msg,
    scratch: Vec<u64>,
    /// Call stack ids by the current generation's stack IDs.
    by_stack_id: IdMap<u64, u64>,
}

impl Interner {
    fn string(&mut self, field: u32, b: &[u8]) -> u64 {
        let table = if field == interned::FUNCTION_NAMES {
            &mut self.funcs
        } else {
            &mut self.paths
        };
        if let Some(&i) = table.get(b) {
            return i;
        }
        let i = table.len() as u64 + 1;
        table.insert(b.to_vec(), i);
        let mut m = Msg::default();
        m.uint(1, i).bytes(2, b);
        self.pending.msg(field, &m);
        i
    }

    /// The id of `stack`'s call stack, 0 for no or an empty stack.
    fn stack(&mut self, stack: Option<Stack<'_>>) -> u64 {
        let Some(s) = stack else {
            return 0;
        };
        if let Some(&i) = self.by_stack_id.get(&s.id()) {
            return i;
        }
        let i = self.stack_uncached(s);
        self.by_stack_id.insert(s.id(), i);
        i
    }

    fn stack_uncached(&mut self, s: Stack<'_>) -> u64 {
        let mut ids = std::mem::take(&mut self.scratch);
        ids.clear();
        let frames: Vec<_> = s.frames().collect();
        for f in frames.iter().rev() {
            let func = self.string(interned::FUNCTION_NAMES, f.func);
            let file = self.string(interned::SOURCE_PATHS, f.file);
            let key = (func, file, f.line, f.pc);
            let id = match self.frames.get(&key) {
                Some(&i) => i,
                None => {
                    let i = self.frames.len() as u64 + 1;
                    self.frames.insert(key, i);
                    let mut m = Msg::default();
                    m.uint(1, i)
                        .uint(2, func)
                        .uint(4, f.pc)
                        .uint(5, file)
                        .uint(6, f.line);
                    self.pending.msg(interned::FRAMES, &m);
                    i
                }
            };
            ids.push(id);
        }
        let id = if ids.is_empty() {
            0
        } else if let Some(&i) = self.stacks.get(&ids) {
            i
        } else {
            let i = self.stacks.len() as u64 + 1;
            let mut m = Msg::default();
            m.uint(1, i);
            for f in &ids {
                m.uint(2, *f);
            }
            self.pending.msg(interned::CALLSTACKS, &m);
            self.stacks.insert(ids.clone(), i);
            i
        };
        self.scratch = ids;
        id
    }

    fn name(&mut self, b: &[u8]) -> u64 {
        if let Some(&i) = self.names.get(b) {
            return i;
        }
        let i = self.names.len() as u64 + 1;
        self.names.insert(b.to_vec(), i);
        let mut m = Msg::default();
        m.uint(1, i).bytes(2, b);
        self.pending.msg(interned::EVENT_NAMES, &m);
        i
    }
}

/// Streams ordered trace events into a Perfetto trace.
#[derive(Debug)]
pub struct PerfettoWriter<W: Write> {
    out: W,
    first: bool,
    tracks: IdMap<u64, ()>,
    /// Open slices per track.
    depth: IdMap<u64, u32>,
    gs: IdMap<GoId, Gor>,
    next_flow: u64,
    /// Goroutines running, runnable, waiting, in syscalls.
    counts: [i64; 4],
    last_ts: i64,
    /// The first event's time: timestamps are written relative to it,
    /// which keeps their varints short.
    base: Option<i64>,
    interner: Interner,
    /// Reused buffers: packet, outer frame, track event.
    bufs: (Msg, Msg, Msg),
}

impl<W: Write> PerfettoWriter<W> {
    /// A writer that sends the trace to `out`.
    pub fn new(out: W) -> PerfettoWriter<W> {
        PerfettoWriter {
            out,
            first: true,
            tracks: IdMap::default(),
            depth: IdMap::default(),
            gs: IdMap::default(),
            next_flow: 1,
            counts: [0; 4],
            last_ts: 0,
            base: None,
            interner: Interner::default(),
            bufs: Default::default(),
        }
    }

    /// Writes one packet (`Trace.packet`, field 1).
    fn packet(&mut self, mut p: Msg) -> std::io::Result<()> {
        if !self.interner.pending.0.is_empty() {
            let data = std::mem::take(&mut self.interner.pending);
            p.msg(packet::INTERNED_DATA, &data);
        }
        p.uint(packet::SEQUENCE_ID, SEQUENCE);
        p.uint(packet::SEQUENCE_FLAGS, if self.first { 3 } else { 2 });
        self.first = false;
        // The buffers are kept for the next packet: no allocation per event.
        let mut outer = std::mem::take(&mut self.bufs.1);
        outer.0.clear();
        outer.msg(1, &p);
        let r = self.out.write_all(&outer.0);
        self.bufs.1 = outer;
        self.bufs.0 = p;
        r
    }

    /// Describes a track once, before its first event.
    fn track(&mut self, uuid: u64, describe: impl FnOnce(&mut Msg)) -> std::io::Result<()> {
        if self.tracks.insert(uuid, ()).is_some() {
            return Ok(());
        }
        let mut d = Msg::default();
        d.uint(track::UUID, uuid);
        describe(&mut d);
        let mut p = Msg::default();
        p.msg(packet::TRACK_DESCRIPTOR, &d);
        self.packet(p)
    }

    fn process_track(&mut self) -> std::io::Result<()> {
        self.track(PROCESS_TRACK, |d| {
            let mut proc = Msg::default();
            proc.uint(1, 1).bytes(6, b"Go trace");
            d.msg(track::PROCESS, &proc);
        })
    }

    fn child_track(&mut self, uuid: u64, name: &str) -> std::io::Result<()> {
        self.process_track()?;
        self.track(uuid, |d| {
            d.uint(track::PARENT_UUID, PROCESS_TRACK)
                .bytes(track::NAME, name.as_bytes());
        })
    }

    fn g_track(&mut self, g: GoId) -> std::io::Result<u64> {
        let uuid = tuuid(G_TRACKS, g.0 as u64);
        self.child_track(uuid, &format!("G{g}"))?;
        Ok(uuid)
    }

    fn p_track(&mut self, p: ProcId) -> std::io::Result<Option<u64>> {
        if !p.is_some() {
            return Ok(None);
        }
        let uuid = tuuid(P_TRACKS, p.0 as u64);
        self.child_track(uuid, &format!("Proc {p}"))?;
        Ok(Some(uuid))
    }

    fn m_track(&mut self, m: ThreadId) -> std::io::Result<Option<u64>> {
        if !m.is_some() {
            return Ok(None);
        }
        let uuid = tuuid(M_TRACKS, m.0 as u64);
        self.process_track()?;
        self.track(uuid, |d| {
            let mut t = Msg::default();
            t.uint(1, 1)
                .uint(2, m.0 as u64)
                .bytes(5, format!("Thread {m}").as_bytes());
            d.uint(track::PARENT_UUID, PROCESS_TRACK)
                .msg(track::THREAD, &t);
        })?;
        Ok(Some(uuid))
    }

    /// One track event at `ts`; `build` adds the fields beyond type and track.
    fn emit(
        &mut self,
        ts: i64,
        track_uuid: u64,
        typ: u64,
        build: impl FnOnce(&mut Msg),
    ) -> std::io::Result<()> {
        match typ {
            te::SLICE_BEGIN => *self.depth.entry(track_uuid).or_default() += 1,
            te::SLICE_END => {
                let d = self.depth.entry(track_uuid).or_default();
                if *d == 0 {
                    return Ok(());
                }
                *d -= 1;
            }
            _ => {}
        }
        let mut e = std::mem::take(&mut self.bufs.2);
        e.0.clear();
        e.uint(te::TYPE, typ).uint(te::TRACK_UUID, track_uuid);
        build(&mut e);
        let mut p = std::mem::take(&mut self.bufs.0);
        p.0.clear();
        p.uint(
            packet::TIMESTAMP,
            ts.saturating_sub(self.base.unwrap_or(0)).max(0) as u64,
        )
        .msg(packet::TRACK_EVENT, &e);
        self.bufs.2 = e;
        self.packet(p)
    }

    fn counter(&mut self, ts: i64, name: &str, slot: u64, value: i64) -> std::io::Result<()> {
        let uuid = tuuid(COUNTER_TRACKS, slot);
        self.process_track()?;
        self.track(uuid, |d| {
            d.uint(track::PARENT_UUID, PROCESS_TRACK)
                .bytes(track::NAME, name.as_bytes())
                .msg(track::COUNTER, &Msg::default());
        })?;
        self.emit(ts, uuid, te::COUNTER, |e| {
            e.uint(te::COUNTER_VALUE, value as u64);
        })
    }

    /// Accounts for the next event of the trace.
    ///
    /// # Errors
    ///
    /// Any error writing the output.
    pub fn event(&mut self, ev: &Event<'_>) -> std::io::Result<()> {
        let ts = ev.time();
        self.last_ts = ts;
        self.base.get_or_insert(ts);
        match ev.kind() {
            // Stack IDs are per generation.
            EventKind::Sync => self.interner.by_stack_id.clear(),
            EventKind::StateTransition => self.transition(ev)?,
            EventKind::Metric => {
                if let Some(m) = ev.metric() {
                    let slot = 16 + metric_slot(m.name);
                    self.counter(ts, m.name, slot, m.value as i64)?;
                }
            }
            EventKind::Log => {
                if let Some(l) = ev.log() {
                    let t = self.g_track(ev.goroutine())?;
                    let mut name = l.category.to_vec();
                    if !name.is_empty() {
                        name.extend_from_slice(b": ");
                    }
                    name.extend_from_slice(l.message);
                    let cs = self.interner.stack(ev.stack());
                    self.emit(ts, t, te::INSTANT, |e| {
                        e.bytes(te::NAME, &name).bytes(te::CATEGORIES, b"log");
                        callstack(e, cs);
                    })?;
                }
            }
            EventKind::TaskBegin | EventKind::TaskEnd => {
                if let Some(t) = ev.task() {
                    let begin = ev.kind() == EventKind::TaskBegin;
                    let uuid = tuuid(TASK_TRACKS, t.id.0);
                    if begin || self.tracks.contains_key(&uuid) {
                        self.child_track(TASKS_TRACK, "Tasks")?;
                        let label = format!("T{} {}", t.id.0, String::from_utf8_lossy(t.kind));
                        self.track(uuid, |d| {
                            d.uint(track::PARENT_UUID, TASKS_TRACK)
                                .bytes(track::NAME, label.as_bytes());
                        })?;
                        let name = self.interner.name(t.kind);
                        let cs = self.interner.stack(ev.stack());
                        let g = ev.goroutine();
                        self.emit(
                            ts,
                            uuid,
                            if begin {
                                te::SLICE_BEGIN
                            } else {
                                te::SLICE_END
                            },
                            |e| {
                                if begin {
                                    e.uint(te::NAME_IID, name).bytes(te::CATEGORIES, b"task");
                                }
                                if g.is_some() {
                                    let mut a = Msg::default();
                                    a.bytes(10, if begin { b"start_g" } else { b"end_g" })
                                        .uint(4, g.0 as u64);
                                    e.msg(te::DEBUG_ANNOTATIONS, &a);
                                }
                                callstack(e, cs);
                            },
                        )?;
                    }
                }
            }
            EventKind::RegionBegin | EventKind::RegionEnd => {
                if let Some(r) = ev.region() {
                    let g = ev.goroutine();
                    let uuid = tuuid(REGION_TRACKS, g.0 as u64);
                    let parent = self.g_track(g)?;
                    self.track(uuid, |d| {
                        d.uint(track::PARENT_UUID, parent)
                            .bytes(track::NAME, b"regions");
                    })?;
                    let begin = ev.kind() == EventKind::RegionBegin;
                    let cs = self.interner.stack(ev.stack());
                    let name = self.interner.name(r.kind);
                    self.emit(
                        ts,
                        uuid,
                        if begin {
                            te::SLICE_BEGIN
                        } else {
                            te::SLICE_END
                        },
                        |e| {
                            if begin {
                                e.uint(te::NAME_IID, name).bytes(te::CATEGORIES, b"region");
                            }
                            callstack(e, cs);
                        },
                    )?;
                }
            }
            EventKind::RangeBegin | EventKind::RangeActive | EventKind::RangeEnd => {
                if let Some(r) = ev.range() {
                    if r.scope == ResourceId::None {
                        self.child_track(GC_TRACK, "GC")?;
                        let begin = ev.kind() != EventKind::RangeEnd;
                        let name = r.name.to_vec();
                        self.emit(
                            ts,
                            GC_TRACK,
                            if begin {
                                te::SLICE_BEGIN
                            } else {
                                te::SLICE_END
                            },
                            |e| {
                                if begin {
                                    e.bytes(te::NAME, &name);
                                }
                            },
                        )?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn transition(&mut self, ev: &Event<'_>) -> std::io::Result<()> {
        let Some(st) = ev.state_transition() else {
            return Ok(());
        };
        let Transition::Goroutine { id, from, to } = st.transition else {
            return Ok(());
        };
        if from == to {
            return Ok(());
        }
        let ts = ev.time();
        let gt = self.g_track(id)?;
        let g = self.gs.entry(id).or_default();
        if g.name.is_empty() {
            if let Some(f) = st.stack.and_then(|s| s.frames().last()) {
                g.name = String::from_utf8_lossy(f.func).into_owned();
            }
        }
        // Where it stops is where its next run resumes.
        if from == GoState::Running && st.stack.is_some() {
            let cs = self.interner.stack(st.stack);
            if let Some(g) = self.gs.get_mut(&id) {
                g.resume_stack = cs;
            }
        }
        let g = self.gs.entry(id).or_default();
        // Leaving.
        match from {
            GoState::Running | GoState::Syscall => {
                let (p, m) = (g.p_track.take(), g.m_track.take());
                self.emit(ts, gt, te::SLICE_END, |_| {})?;
                for t in [p, m].into_iter().flatten() {
                    self.emit(ts, t, te::SLICE_END, |_| {})?;
                }
            }
            _ => {}
        }
        // Who made it happen: creation and wakeups become flows.
        let waker = ev.goroutine();
        if matches!(from, GoState::NotExist | GoState::Waiting)
            && matches!(to, GoState::Runnable | GoState::Waiting)
            && waker.is_some()
            && waker != id
        {
            let flow = self.next_flow;
            self.next_flow += 1;
            let wt = self.g_track(waker)?;
            let name = if from == GoState::NotExist {
                format!("go G{id}")
            } else {
                format!("unblock G{id}")
            };
            let cs = self.interner.stack(ev.stack());
            self.emit(ts, wt, te::INSTANT, |e| {
                e.bytes(te::NAME, name.as_bytes())
                    .fixed64(te::FLOW_IDS, flow);
                callstack(e, cs);
            })?;
            if let Some(g) = self.gs.get_mut(&id) {
                g.flows.push(flow);
            }
        }
        // Entering.
        let name = match self.gs.get(&id) {
            Some(g) if !g.name.is_empty() => format!("G{id} {}", g.name),
            _ => format!("G{id}"),
        };
        match to {
            GoState::Running | GoState::Syscall => {
                let running = to == GoState::Running;
                let flows = match self.gs.get_mut(&id) {
                    Some(g) if running => std::mem::take(&mut g.flows),
                    _ => Vec::new(),
                };
                let cs = if running {
                    self.gs.get(&id).map_or(0, |g| g.resume_stack)
                } else {
                    self.interner.stack(st.stack)
                };
                let label = if running {
                    self.interner.name(name.as_bytes())
                } else {
                    self.interner.name(b"syscall")
                };
                self.emit(ts, gt, te::SLICE_BEGIN, |e| {
                    e.uint(te::NAME_IID, label);
                    for f in &flows {
                        e.fixed64(te::TERMINATING_FLOW_IDS, *f);
                    }
                    callstack(e, cs);
                })?;
                let p = if running {
                    self.p_track(ev.proc())?
                } else {
                    None
                };
                let m = self.m_track(ev.thread())?;
                let slice = if running {
                    label
                } else {
                    self.interner.name(format!("{name} syscall").as_bytes())
                };
                for t in [p, m].into_iter().flatten() {
                    self.emit(ts, t, te::SLICE_BEGIN, |e| {
                        e.uint(te::NAME_IID, slice);
                        callstack(e, cs);
                    })?;
                }
                if let Some(g) = self.gs.get_mut(&id) {
                    g.p_track = p;
                    g.m_track = m;
                }
            }
            GoState::Waiting => {
                let mut label = b"block (".to_vec();
                label.extend_from_slice(st.reason);
                label.push(b')');
                let label = self.interner.name(&label);
                let cs = self.interner.stack(st.stack);
                self.emit(ts, gt, te::INSTANT, |e| {
                    e.uint(te::NAME_IID, label);
                    callstack(e, cs);
                })?;
            }
            _ => {}
        }
        self.count(from, -1);
        self.count(to, 1);
        let c = self.counts;
        for (i, name) in [
            "Goroutines running",
            "Goroutines runnable",
            "Goroutines waiting",
            "Goroutines in syscalls",
        ]
        .into_iter()
        .enumerate()
        {
            if [from, to].iter().any(|s| state_slot(*s) == Some(i)) {
                self.counter(ts, name, i as u64, c.get(i).copied().unwrap_or(0))?;
            }
        }
        Ok(())
    }

    fn count(&mut self, s: GoState, d: i64) {
        if let Some(c) = state_slot(s).and_then(|i| self.counts.get_mut(i)) {
            *c += d;
        }
    }

    /// Ends every slice still open at the last event and returns the
    /// output.
    ///
    /// # Errors
    ///
    /// Any error writing the output.
    pub fn finish(mut self) -> std::io::Result<W> {
        let ts = self.last_ts;
        // Goroutines woken too late to run within the trace: their flows
        // end on an instant at the end.
        let mut pending: Vec<(GoId, Vec<u64>)> = self
            .gs
            .iter_mut()
            .filter(|(_, g)| !g.flows.is_empty())
            .map(|(id, g)| (*id, std::mem::take(&mut g.flows)))
            .collect();
        pending.sort_unstable();
        for (id, flows) in pending {
            let t = self.g_track(id)?;
            self.emit(ts, t, te::INSTANT, |e| {
                e.bytes(te::NAME, b"not run before the end");
                for f in &flows {
                    e.fixed64(te::TERMINATING_FLOW_IDS, *f);
                }
            })?;
        }
        let mut open: Vec<(u64, u32)> = self.depth.iter().map(|(k, v)| (*k, *v)).collect();
        open.sort_unstable();
        for (t, n) in open {
            for _ in 0..n {
                self.emit(ts, t, te::SLICE_END, |_| {})?;
            }
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

fn state_slot(s: GoState) -> Option<usize> {
    match s {
        GoState::Running => Some(0),
        GoState::Runnable => Some(1),
        GoState::Waiting => Some(2),
        GoState::Syscall => Some(3),
        GoState::Undetermined | GoState::NotExist => None,
    }
}

fn metric_slot(name: &str) -> u64 {
    match name {
        "/sched/gomaxprocs:threads" => 0,
        "/memory/classes/heap/objects:bytes" => 1,
        _ => 2,
    }
}

/// Refers to an interned call stack (0: none).
fn callstack(e: &mut Msg, iid: u64) {
    if iid != 0 {
        e.uint(te::CALLSTACK_IID, iid);
    }
}
