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
//! Stacks travel as inline callstacks (outermost frame first), which
//! Perfetto shows on the slice or instant that carries them.

mod proto;

use std::collections::HashMap;
use std::io::Write;

use proto::{event as te, packet, track, Msg};

use crate::event::{Event, EventKind, Stack};
use crate::resources::{GoId, GoState, ProcId, ResourceId, ThreadId, Transition};
use crate::tables::IdMap;

/// The sequence all packets share.
const SEQUENCE: u64 = 0x60_7274;
/// Track UUID spaces (high bits) for each kind of track.
const PROCESS_TRACK: u64 = 1;
const G_TRACKS: u64 = 1 << 60;
const REGION_TRACKS: u64 = 2 << 60;
const P_TRACKS: u64 = 3 << 60;
const M_TRACKS: u64 = 4 << 60;
const COUNTER_TRACKS: u64 = 5 << 60;
const GC_TRACK: u64 = 6 << 60;

/// Per-goroutine state.
#[derive(Debug, Default)]
struct Gor {
    name: String,
    /// Where its current run or syscall is shown (P and M tracks).
    p_track: Option<u64>,
    m_track: Option<u64>,
    /// Flows to end at its next run.
    flows: Vec<u64>,
}

/// Streams ordered trace events into a Perfetto trace.
#[derive(Debug)]
pub struct PerfettoWriter<W: Write> {
    out: W,
    first: bool,
    tracks: HashMap<u64, ()>,
    /// Open slices per track.
    depth: HashMap<u64, u32>,
    gs: IdMap<GoId, Gor>,
    next_flow: u64,
    /// Goroutines running, runnable, waiting, in syscalls.
    counts: [i64; 4],
    last_ts: i64,
}

impl<W: Write> PerfettoWriter<W> {
    /// A writer that sends the trace to `out`.
    pub fn new(out: W) -> PerfettoWriter<W> {
        PerfettoWriter {
            out,
            first: true,
            tracks: HashMap::new(),
            depth: HashMap::new(),
            gs: IdMap::default(),
            next_flow: 1,
            counts: [0; 4],
            last_ts: 0,
        }
    }

    /// Writes one packet (`Trace.packet`, field 1).
    fn packet(&mut self, mut p: Msg) -> std::io::Result<()> {
        p.uint(packet::SEQUENCE_ID, SEQUENCE);
        p.uint(packet::SEQUENCE_FLAGS, if self.first { 3 } else { 2 });
        self.first = false;
        let mut outer = Msg::default();
        outer.msg(1, &p);
        self.out.write_all(&outer.0)
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
        let uuid = G_TRACKS | (g.0 as u64 & 0xffff_ffff_ffff);
        self.child_track(uuid, &format!("G{g}"))?;
        Ok(uuid)
    }

    fn p_track(&mut self, p: ProcId) -> std::io::Result<Option<u64>> {
        if !p.is_some() {
            return Ok(None);
        }
        let uuid = P_TRACKS | (p.0 as u64 & 0xffff_ffff_ffff);
        self.child_track(uuid, &format!("Proc {p}"))?;
        Ok(Some(uuid))
    }

    fn m_track(&mut self, m: ThreadId) -> std::io::Result<Option<u64>> {
        if !m.is_some() {
            return Ok(None);
        }
        let uuid = M_TRACKS | (m.0 as u64 & 0xffff_ffff_ffff);
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
        let mut e = Msg::default();
        e.uint(te::TYPE, typ).uint(te::TRACK_UUID, track_uuid);
        build(&mut e);
        let mut p = Msg::default();
        p.uint(packet::TIMESTAMP, ts.max(0) as u64)
            .msg(packet::TRACK_EVENT, &e);
        self.packet(p)
    }

    fn counter(&mut self, ts: i64, name: &str, slot: u64, value: i64) -> std::io::Result<()> {
        let uuid = COUNTER_TRACKS | slot;
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
        match ev.kind() {
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
                    let stack = ev.stack();
                    self.emit(ts, t, te::INSTANT, |e| {
                        e.bytes(te::NAME, &name).bytes(te::CATEGORIES, b"log");
                        callstack(e, stack);
                    })?;
                }
            }
            EventKind::RegionBegin | EventKind::RegionEnd => {
                if let Some(r) = ev.region() {
                    let g = ev.goroutine();
                    let uuid = REGION_TRACKS | (g.0 as u64 & 0xffff_ffff_ffff);
                    let parent = self.g_track(g)?;
                    self.track(uuid, |d| {
                        d.uint(track::PARENT_UUID, parent)
                            .bytes(track::NAME, b"regions");
                    })?;
                    let begin = ev.kind() == EventKind::RegionBegin;
                    let stack = ev.stack();
                    let kind = r.kind.to_vec();
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
                                e.bytes(te::NAME, &kind).bytes(te::CATEGORIES, b"region");
                                callstack(e, stack);
                            }
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
            let stack = ev.stack();
            self.emit(ts, wt, te::INSTANT, |e| {
                e.bytes(te::NAME, name.as_bytes())
                    .fixed64(te::FLOW_IDS, flow);
                callstack(e, stack);
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
                let stack = if running { None } else { st.stack };
                let label = if running {
                    name.clone()
                } else {
                    "syscall".to_owned()
                };
                self.emit(ts, gt, te::SLICE_BEGIN, |e| {
                    e.bytes(te::NAME, label.as_bytes());
                    for f in &flows {
                        e.fixed64(te::TERMINATING_FLOW_IDS, *f);
                    }
                    callstack(e, stack);
                })?;
                let p = if running {
                    self.p_track(ev.proc())?
                } else {
                    None
                };
                let m = self.m_track(ev.thread())?;
                let slice = if running {
                    name
                } else {
                    format!("{name} syscall")
                };
                for t in [p, m].into_iter().flatten() {
                    self.emit(ts, t, te::SLICE_BEGIN, |e| {
                        e.bytes(te::NAME, slice.as_bytes());
                    })?;
                }
                if let Some(g) = self.gs.get_mut(&id) {
                    g.p_track = p;
                    g.m_track = m;
                }
            }
            GoState::Waiting => {
                let reason = String::from_utf8_lossy(st.reason).into_owned();
                let stack = st.stack;
                self.emit(ts, gt, te::INSTANT, |e| {
                    e.bytes(te::NAME, format!("block ({reason})").as_bytes());
                    callstack(e, stack);
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

/// Adds `stack` (leaf first in the trace) as an inline callstack,
/// outermost frame first.
fn callstack(e: &mut Msg, stack: Option<Stack<'_>>) {
    let Some(s) = stack else {
        return;
    };
    let frames: Vec<_> = s.frames().collect();
    if frames.is_empty() {
        return;
    }
    let mut cs = Msg::default();
    for f in frames.iter().rev() {
        let mut fr = Msg::default();
        fr.bytes(1, f.func).bytes(2, f.file).uint(3, f.line);
        cs.msg(1, &fr);
    }
    e.msg(te::CALLSTACK, &cs);
}
