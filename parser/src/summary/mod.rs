//! Per-goroutine time accounting: Go's goroutine analysis
//! (`go tool trace`'s `/goroutines` and `/goroutine?name=` pages).
//!
//! A [`Summarizer`] takes every ordered event once and keeps, per goroutine,
//! only the times at which its current state (and its current syscall,
//! block reason and ranges) began: memory grows with the number of
//! goroutines, not with the trace. [`Summarizer::finish`] closes what is
//! still open at the last event and returns a [`Summary`].
//!
//! The accounting is Go 1.23's (and Go 1.25's, the same), quirks included,
//! so the numbers equal the pages of `go tool trace`:
//! - transitions whose old and new states are equal are ignored, naming
//!   included;
//! - a goroutine first seen in state `Undetermined` is created at the time
//!   of the last Sync (the first event of the trace for the first
//!   generation); in go 1.26 traces, as Go 1.27 does, the time since that
//!   Sync also counts as spent in the state it is first seen in (running,
//!   runnable, blocked with its reason, or in a syscall: with a P as
//!   syscall time, without as syscall block time);
//! - its name is the outermost frame of the first transition stack it
//!   shows (its creation's start function, or its own stack when it stops,
//!   blocks or enters a syscall);
//! - waiting with the reason `forever` ends the goroutine there;
//! - a syscall during which its P was taken away (the P went idle) is split
//!   into syscall execution time and syscall block time;
//! - a blocked syscall still pending at the end of the trace adds its block
//!   time to the scheduling wait as well as its whole duration to the
//!   syscall time;
//! - ranges scoped to a P are charged to the goroutine that began them
//!   only if the same goroutine ends them.
//!
//! [`format_duration`] prints nanoseconds as Go's `time.Duration` does, and
//! [`GoroutineSummary::breakdown`] lists the columns of Go's breakdown
//! table.

mod duration;
mod stats;

use std::collections::BTreeMap;

use crate::event::{Event, EventKind};
use crate::resources::{GoId, GoState, ProcId, ProcState, ResourceId, Transition};
use crate::tables::IdMap;

pub use duration::format_duration;
pub use stats::{ExecStats, GoroutineSummary, Group};

/// The running state of one goroutine while events are fed.
#[derive(Clone, Debug, Default)]
struct Pending {
    /// Start of the current run (0: not running).
    start: i64,
    /// Start of the current wait to run (0: not runnable).
    runnable: i64,
    /// Start of the current block (0: not blocked).
    block: i64,
    block_reason: u32,
    /// Start of the current syscall (0: not in one).
    syscall: i64,
    /// When the current syscall lost its P (0: it did not).
    syscall_block: i64,
    /// Ranges in progress, by name, with their start.
    ranges: Vec<(u32, i64)>,
}

/// Strings (block reasons, range names) by a small index, so the per-event
/// path compares and stores integers.
///
/// N.B. A trace has a few dozen distinct reasons and range names at most, so
/// a linear scan beats hashing the bytes.
#[derive(Clone, Debug, Default)]
struct Names {
    raw: Vec<Vec<u8>>,
    names: Vec<String>,
    /// Indexes of the current generation's strings by address (its string
    /// table stays put while its events are read): no byte comparisons,
    /// no hashing.
    by_addr: Vec<(usize, usize, u32)>,
}

impl Names {
    fn intern(&mut self, b: &[u8]) -> u32 {
        if let Some(i) = self.raw.iter().position(|r| r == b) {
            return i as u32;
        }
        self.raw.push(b.to_vec());
        self.names.push(String::from_utf8_lossy(b).into_owned());
        (self.names.len() - 1) as u32
    }

    /// [`intern`](Names::intern) for a string of the current generation's
    /// tables.
    fn intern_gen(&mut self, b: &[u8]) -> u32 {
        let (a, n) = (b.as_ptr() as usize, b.len());
        if let Some(&(_, _, i)) = self.by_addr.iter().find(|e| e.0 == a && e.1 == n) {
            return i;
        }
        let i = self.intern(b);
        self.by_addr.push((a, n, i));
        i
    }

    fn get(&self, i: u32) -> &str {
        self.names.get(i as usize).map_or("", String::as_str)
    }
}

impl Entry {
    fn new(id: GoId, creation: i64) -> Entry {
        Entry {
            summary: GoroutineSummary::new(id, creation),
            block: Vec::new(),
            ranges: Vec::new(),
            pending: Pending::default(),
        }
    }
}

#[derive(Clone, Debug)]
struct Entry {
    summary: GoroutineSummary,
    /// Block time by reason and range time by name, folded into
    /// `summary.stats` at the end.
    block: Vec<(u32, i64)>,
    ranges: Vec<(u32, i64)>,
    /// Reset (not removed) when the goroutine ends, as in Go.
    pending: Pending,
}

/// Builds per-goroutine statistics from an ordered event stream.
///
/// # Examples
///
/// ```no_run
/// use gort_parser::{summary::Summarizer, Reader};
///
/// let bytes = std::fs::read("trace.out")?;
/// let mut s = Summarizer::new();
/// let mut r = Reader::from_slice(&bytes)?;
/// while let Some(ev) = r.next_event()? {
///     s.event(ev);
/// }
/// for g in s.finish().goroutines() {
///     println!("G{} {} ran {} ns", g.id.0, g.name, g.stats.exec);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct Summarizer {
    gs: IdMap<GoId, Entry>,
    /// Goroutine in a syscall on each P, and the reverse binding.
    syscalling_p: IdMap<ProcId, GoId>,
    syscalling_g: IdMap<GoId, ProcId>,
    /// P-scoped ranges in progress: the goroutine they were charged to.
    ranges_p: Vec<(ProcId, u32, GoId)>,
    names: Names,
    last_ts: i64,
    sync_ts: i64,
}

/// The result of a [`Summarizer`]: one summary per goroutine.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    goroutines: BTreeMap<GoId, GoroutineSummary>,
    end: i64,
}

impl Summary {
    /// Every goroutine, by ascending ID.
    pub fn goroutines(&self) -> impl ExactSizeIterator<Item = &GoroutineSummary> + '_ {
        self.goroutines.values()
    }

    /// One goroutine's summary.
    pub fn goroutine(&self, id: GoId) -> Option<&GoroutineSummary> {
        self.goroutines.get(&id)
    }

    /// The time of the last event fed (the end of the trace).
    pub fn end_time(&self) -> i64 {
        self.end
    }

    /// Go's `/goroutines` page: goroutines grouped by name, by descending
    /// execution time (ties by name).
    pub fn groups(&self) -> Vec<Group> {
        let mut by_name: BTreeMap<&str, Group> = BTreeMap::new();
        for g in self.goroutines.values() {
            let e = by_name.entry(&g.name).or_insert_with(|| Group {
                name: g.name.clone(),
                count: 0,
                exec_time: 0,
            });
            e.count += 1;
            e.exec_time = e.exec_time.wrapping_add(g.stats.exec);
        }
        let mut v: Vec<Group> = by_name.into_values().collect();
        v.sort_by(|a, b| b.exec_time.cmp(&a.exec_time).then(a.name.cmp(&b.name)));
        v
    }

    /// Σ execution time of every goroutine (the divisor of the share Go's
    /// `/goroutine?name=` page prints).
    pub fn total_exec_time(&self) -> i64 {
        self.goroutines
            .values()
            .fold(0i64, |a, g| a.wrapping_add(g.stats.exec))
    }
}

impl Summarizer {
    /// A summarizer that has seen nothing.
    pub fn new() -> Summarizer {
        Summarizer::default()
    }

    /// Accounts for the next event of the trace.
    pub fn event(&mut self, ev: &Event<'_>) {
        let t = ev.time();
        if self.sync_ts == 0 {
            self.sync_ts = t;
        }
        self.last_ts = t;
        match ev.kind() {
            EventKind::Sync => {
                self.sync_ts = t;
                self.names.by_addr.clear();
            }
            EventKind::StateTransition => self.transition(ev),
            EventKind::RangeBegin | EventKind::RangeActive => self.range_begin(ev),
            EventKind::RangeEnd => self.range_end(ev),
            _ => {}
        }
    }

    fn transition(&mut self, ev: &Event<'_>) {
        let Some(st) = ev.state_transition() else {
            return;
        };
        let t = ev.time();
        match st.transition {
            Transition::Goroutine { id, from, to } if from != to => {
                // One lookup per transition: the entry is created when the
                // goroutine comes into existence or into view, and (only
                // for a reader that skipped its first transition) when it
                // is missing.
                let e = match self.gs.entry(id) {
                    std::collections::hash_map::Entry::Occupied(o) => {
                        let e = o.into_mut();
                        if matches!(from, GoState::Undetermined | GoState::NotExist) {
                            *e = Entry::new(
                                id,
                                if from == GoState::Undetermined {
                                    self.sync_ts
                                } else {
                                    t
                                },
                            );
                        }
                        e
                    }
                    std::collections::hash_map::Entry::Vacant(v) => v.insert(Entry::new(
                        id,
                        if from == GoState::Undetermined {
                            self.sync_ts
                        } else {
                            t
                        },
                    )),
                };
                if !matches!(from, GoState::Undetermined | GoState::NotExist) {
                    leave(
                        e,
                        id,
                        from,
                        t,
                        &mut self.syscalling_g,
                        &mut self.syscalling_p,
                    );
                } else if from == GoState::Undetermined && ev.format().has_end_of_generation() {
                    // Go 1.27 (the go 1.26 format) counts the time from the
                    // generation's start as spent in the state first seen.
                    let d = t.wrapping_sub(self.sync_ts);
                    let s = &mut e.summary.stats;
                    match to {
                        GoState::Running => s.exec = s.exec.wrapping_add(d),
                        GoState::Waiting => {
                            add(&mut e.block, self.names.intern_gen(st.reason), d);
                        }
                        GoState::Runnable => s.sched_wait = s.sched_wait.wrapping_add(d),
                        GoState::Syscall if ev.proc().is_some() => {
                            s.syscall = s.syscall.wrapping_add(d);
                        }
                        GoState::Syscall => s.syscall_block = s.syscall_block.wrapping_add(d),
                        _ => {}
                    }
                }
                if e.summary.name.is_empty() {
                    if let Some(f) = st.stack.and_then(|s| s.frames().last()) {
                        e.summary.name = String::from_utf8_lossy(f.func).into_owned();
                        e.summary.pc = f.pc;
                    }
                }
                match to {
                    GoState::Running => {
                        e.pending.start = t;
                        if e.summary.start_time == 0 {
                            e.summary.start_time = t;
                        }
                    }
                    GoState::Runnable => e.pending.runnable = t,
                    GoState::Waiting if st.reason != b"forever" => {
                        e.pending.block = t;
                        e.pending.block_reason = self.names.intern_gen(st.reason);
                    }
                    GoState::Waiting | GoState::NotExist => {
                        e.summary.end_time = t;
                        finalize(e, t);
                    }
                    GoState::Syscall => {
                        let proc = ev.proc();
                        self.syscalling_p.insert(proc, id);
                        self.syscalling_g.insert(id, proc);
                        e.pending.syscall = t;
                    }
                    GoState::Undetermined => {}
                }
            }
            Transition::Proc { id, from, to } if from != to && to == ProcState::Idle => {
                if let Some(g) = self.syscalling_p.remove(&id) {
                    if let Some(e) = self.gs.get_mut(&g) {
                        e.pending.syscall_block = t;
                    }
                }
            }
            _ => {}
        }
    }

    fn range_begin(&mut self, ev: &Event<'_>) {
        let Some(r) = ev.range() else {
            return;
        };
        let name = self.names.intern(&r.name);
        let g = match r.scope {
            ResourceId::Goroutine(g) => g,
            ResourceId::Proc(p) => {
                let g = ev.goroutine();
                if !self.gs.contains_key(&g) {
                    return;
                }
                match self
                    .ranges_p
                    .iter_mut()
                    .find(|(q, n, _)| *q == p && *n == name)
                {
                    Some(slot) => slot.2 = g,
                    None => self.ranges_p.push((p, name, g)),
                }
                g
            }
            _ => return,
        };
        let Some(e) = self.gs.get_mut(&g) else {
            return;
        };
        let p = &mut e.pending;
        let start = if ev.kind() == EventKind::RangeActive {
            self.sync_ts
        } else {
            ev.time()
        };
        match p.ranges.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => {
                if ev.kind() == EventKind::RangeActive && slot.1 != 0 {
                    add(&mut e.ranges, name, self.sync_ts.wrapping_sub(slot.1));
                }
                slot.1 = start;
            }
            None => p.ranges.push((name, start)),
        }
    }

    fn range_end(&mut self, ev: &Event<'_>) {
        let Some(r) = ev.range() else {
            return;
        };
        let name = self.names.intern(&r.name);
        let g = match r.scope {
            ResourceId::Goroutine(g) => g,
            ResourceId::Proc(p) => {
                let Some(i) = self
                    .ranges_p
                    .iter()
                    .position(|(q, n, _)| *q == p && *n == name)
                else {
                    return;
                };
                let (_, _, g) = self.ranges_p.swap_remove(i);
                if g != ev.goroutine() {
                    return;
                }
                g
            }
            _ => return,
        };
        let Some(e) = self.gs.get_mut(&g) else {
            return;
        };
        let p = &mut e.pending;
        if let Some(i) = p.ranges.iter().position(|(n, _)| *n == name) {
            let (_, start) = p.ranges.swap_remove(i);
            if start != 0 {
                add(&mut e.ranges, name, ev.time().wrapping_sub(start));
            }
        }
    }

    /// Closes every open interval at the last event and returns the result.
    pub fn finish(mut self) -> Summary {
        let end = self.last_ts;
        let mut goroutines = BTreeMap::new();
        for (id, mut e) in self.gs.drain() {
            finalize(&mut e, end);
            let stats = &mut e.summary.stats;
            for (reason, d) in e.block {
                let v = stats.block_entry(self.names.get(reason));
                *v = v.wrapping_add(d);
            }
            for (name, d) in e.ranges {
                let v = stats.range_entry(self.names.get(name));
                *v = v.wrapping_add(d);
            }
            goroutines.insert(id, e.summary);
        }
        Summary { goroutines, end }
    }
}

/// Closes the state a goroutine leaves.
fn leave(
    e: &mut Entry,
    id: GoId,
    from: GoState,
    t: i64,
    syscalling_g: &mut IdMap<GoId, ProcId>,
    syscalling_p: &mut IdMap<ProcId, GoId>,
) {
    let p = &mut e.pending;
    let s = &mut e.summary.stats;
    match from {
        // N.B. Unconditional, as in Go: a run always has a start.
        GoState::Running => {
            s.exec = s.exec.wrapping_add(t.wrapping_sub(p.start));
            p.start = 0;
        }
        GoState::Waiting if p.block != 0 => {
            add(&mut e.block, p.block_reason, t.wrapping_sub(p.block));
            p.block = 0;
        }
        GoState::Runnable if p.runnable != 0 => {
            s.sched_wait = s.sched_wait.wrapping_add(t.wrapping_sub(p.runnable));
            p.runnable = 0;
        }
        GoState::Syscall if p.syscall != 0 => {
            if p.syscall_block != 0 {
                s.syscall_block = s
                    .syscall_block
                    .wrapping_add(t.wrapping_sub(p.syscall_block));
                s.syscall = s
                    .syscall
                    .wrapping_add(p.syscall_block.wrapping_sub(p.syscall));
            } else {
                s.syscall = s.syscall.wrapping_add(t.wrapping_sub(p.syscall));
            }
            p.syscall = 0;
            p.syscall_block = 0;
            if let Some(proc) = syscalling_g.remove(&id) {
                syscalling_p.remove(&proc);
            }
        }
        _ => {}
    }
}

/// Adds what is still open at `t` and resets the open state. Finalizing an
/// ended goroutine again (at the end of the trace) adds nothing, except
/// that a total still zero is measured again, as Go's summarizer does.
fn finalize(e: &mut Entry, t: i64) {
    let s = &mut e.summary.stats;
    if s.total == 0 {
        s.total = t.wrapping_sub(e.summary.creation_time);
    }
    let p = std::mem::take(&mut e.pending);
    if p.start != 0 {
        s.exec = s.exec.wrapping_add(t.wrapping_sub(p.start));
    }
    if p.runnable != 0 {
        s.sched_wait = s.sched_wait.wrapping_add(t.wrapping_sub(p.runnable));
    }
    if p.block != 0 {
        add(&mut e.block, p.block_reason, t.wrapping_sub(p.block));
    }
    if p.syscall != 0 {
        s.syscall = s.syscall.wrapping_add(t.wrapping_sub(p.syscall));
    }
    if p.syscall_block != 0 {
        s.sched_wait = s.sched_wait.wrapping_add(t.wrapping_sub(p.syscall_block));
    }
    for (name, start) in p.ranges {
        add(&mut e.ranges, name, t.wrapping_sub(start));
    }
}

/// Adds `d` to the entry for `key`, creating it (even for 0, as Go's maps
/// do: a reason seen once gets its column).
fn add(v: &mut Vec<(u32, i64)>, key: u32, d: i64) {
    match v.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = slot.1.wrapping_add(d),
        None => v.push((key, d)),
    }
}
