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

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::event::{Event, EventKind};
use crate::resources::{GoId, GoState, ProcId, ProcState, ResourceId, Transition};
use crate::slots::GoSlots;
use crate::tables::IdMap;

pub use duration::format_duration;
pub use stats::{block_column, ExecStats, GoroutineSummary, Group};

/// A string (block reason, range name, start function) by a small index,
/// so that the per-event path compares and stores integers.
type Sym = u32;

/// The symbol of `""` (interned first): a goroutine without a name yet.
const EMPTY: Sym = 0;

/// The running state of one goroutine while events are fed.
#[derive(Clone, Copy, Debug, Default)]
struct Pending {
    /// Start of the current run (0: not running).
    start: i64,
    /// Start of the current wait to run (0: not runnable).
    runnable: i64,
    /// Start of the current block (0: not blocked).
    block: i64,
    block_reason: Sym,
    /// Start of the current syscall (0: not in one).
    syscall: i64,
    /// When the current syscall lost its P (0: it did not).
    syscall_block: i64,
}

/// The range times of a goroutine that has had ranges (few have: they are
/// kept out of [`Entry`] so that the entries of all goroutines stay small).
#[derive(Clone, Debug, Default)]
struct RangeTimes {
    /// Time by range name.
    done: Vec<(Sym, i64)>,
    /// Ranges in progress, by name, with their start. Reset (emptied) with
    /// the rest of the pending state.
    open: Vec<(Sym, i64)>,
}

/// Interned strings. Two byte strings that read as the same text (after
/// replacing invalid UTF-8) share a symbol, as they share a column.
#[derive(Debug)]
struct Names {
    by_bytes: HashMap<Box<[u8]>, Sym>,
    by_text: HashMap<Arc<str>, Sym>,
    names: Vec<Arc<str>>,
    /// Symbols of the current generation's strings by address and length
    /// (its string table stays put while its events are read): no byte
    /// comparisons, no hashing of the bytes. Cleared at each Sync.
    by_addr: IdMap<usize, (usize, Sym)>,
    /// The last strings looked up in `by_addr`, direct-mapped by address:
    /// block reasons come from a few dozen strings, looked up on every
    /// block.
    recent: [(usize, usize, Sym); RECENT],
}

/// Entries of [`Names::recent`] (a power of two).
const RECENT: usize = 64;

impl Default for Names {
    fn default() -> Names {
        let mut n = Names {
            by_bytes: HashMap::new(),
            by_text: HashMap::new(),
            names: Vec::new(),
            by_addr: IdMap::default(),
            recent: [(0, 0, 0); RECENT],
        };
        n.intern(b"");
        n
    }
}

impl Names {
    fn intern(&mut self, b: &[u8]) -> Sym {
        if let Some(&i) = self.by_bytes.get(b) {
            return i;
        }
        let text: Arc<str> = Arc::from(String::from_utf8_lossy(b));
        let i = match self.by_text.get(&text) {
            Some(&i) => i,
            None => {
                let i = self.names.len() as Sym;
                self.names.push(Arc::clone(&text));
                self.by_text.insert(text, i);
                i
            }
        };
        self.by_bytes.insert(b.into(), i);
        i
    }

    /// [`intern`](Names::intern) for a string of the current generation's
    /// tables.
    #[inline]
    fn intern_gen(&mut self, b: &[u8]) -> Sym {
        let a = b.as_ptr() as usize;
        let slot = (a >> 3) & (RECENT - 1);
        let r = self.recent[slot];
        if r.0 == a && r.1 == b.len() && a != 0 {
            return r.2;
        }
        let i = match self.by_addr.get(&a) {
            Some(&(n, i)) if n == b.len() => i,
            _ => {
                let i = self.intern(b);
                self.by_addr.insert(a, (b.len(), i));
                i
            }
        };
        self.recent[slot] = (a, b.len(), i);
        i
    }

    /// Forgets the addresses of the generation that ends.
    fn new_generation(&mut self) {
        self.by_addr.clear();
        self.recent = [(0, 0, 0); RECENT];
    }
}

/// One goroutine while events are fed: its summary so far, with block
/// reasons, range names and its name as symbols.
#[derive(Clone, Debug)]
struct Entry {
    id: GoId,
    /// Its start function ([`EMPTY`]: none seen yet).
    name: Sym,
    pc: u64,
    creation_time: i64,
    start_time: i64,
    end_time: i64,
    exec: i64,
    sched_wait: i64,
    syscall: i64,
    syscall_block: i64,
    total: i64,
    /// Block time by reason.
    block: Vec<(Sym, i64)>,
    /// Range times, once the goroutine has had a range.
    ranges: Option<Box<RangeTimes>>,
    /// Reset (not removed) when the goroutine ends, as in Go.
    pending: Pending,
}

impl Entry {
    fn new(id: GoId, creation_time: i64) -> Entry {
        Entry {
            id,
            name: EMPTY,
            pc: 0,
            creation_time,
            start_time: 0,
            end_time: 0,
            exec: 0,
            sched_wait: 0,
            syscall: 0,
            syscall_block: 0,
            total: 0,
            block: Vec::new(),
            ranges: None,
            pending: Pending::default(),
        }
    }
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
    slots: GoSlots,
    gs: Vec<Entry>,
    /// Goroutine in a syscall on each P, and the reverse binding.
    syscalling_p: IdMap<ProcId, GoId>,
    syscalling_g: IdMap<GoId, ProcId>,
    /// P-scoped ranges in progress: the goroutine they were charged to.
    ranges_p: Vec<(ProcId, Sym, GoId)>,
    names: Names,
    last_ts: i64,
    sync_ts: i64,
}

/// The result of a [`Summarizer`]: one summary per goroutine.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// By ascending ID.
    goroutines: Vec<GoroutineSummary>,
    end: i64,
}

impl Summary {
    /// Every goroutine, by ascending ID.
    pub fn goroutines(&self) -> impl ExactSizeIterator<Item = &GoroutineSummary> + '_ {
        self.goroutines.iter()
    }

    /// One goroutine's summary.
    pub fn goroutine(&self, id: GoId) -> Option<&GoroutineSummary> {
        self.goroutines
            .binary_search_by_key(&id, |g| g.id)
            .ok()
            .map(|i| &self.goroutines[i])
    }

    /// The time of the last event fed (the end of the trace).
    pub fn end_time(&self) -> i64 {
        self.end
    }

    /// Go's `/goroutines` page: goroutines grouped by name, by descending
    /// execution time (ties by name).
    pub fn groups(&self) -> Vec<Group> {
        let mut by_name: BTreeMap<&str, Group> = BTreeMap::new();
        for g in &self.goroutines {
            let e = by_name.entry(&g.name).or_insert_with(|| Group {
                name: g.name.to_string(),
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
            .iter()
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
                self.names.new_generation();
            }
            EventKind::StateTransition => self.transition(ev),
            EventKind::RangeBegin | EventKind::RangeActive => self.range_begin(ev),
            EventKind::RangeEnd => self.range_end(ev),
            _ => {}
        }
    }

    /// The entry of `id`, if it has one.
    #[inline]
    fn entry_mut(&mut self, id: GoId) -> Option<&mut Entry> {
        let s = self.slots.get(id)?;
        self.gs.get_mut(s as usize)
    }

    fn transition(&mut self, ev: &Event<'_>) {
        // The reason and the stack are looked up only where they are used.
        let Some(transition) = ev.transition() else {
            return;
        };
        let t = ev.time();
        match transition {
            Transition::Goroutine { id, from, to } if from != to => {
                // One lookup per transition: the entry is created when the
                // goroutine comes into existence or into view, and (only
                // for a reader that skipped its first transition) when it
                // is missing.
                let fresh = matches!(from, GoState::Undetermined | GoState::NotExist);
                let creation = if from == GoState::Undetermined {
                    self.sync_ts
                } else {
                    t
                };
                let slot = match self.slots.get(id) {
                    Some(s) => {
                        if fresh {
                            self.gs[s as usize] = Entry::new(id, creation);
                        }
                        s as usize
                    }
                    None => {
                        let s = self.gs.len();
                        self.gs.push(Entry::new(id, creation));
                        self.slots.insert(id, s as u32, s + 1);
                        s
                    }
                };
                let e = &mut self.gs[slot];
                if !fresh {
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
                    match to {
                        GoState::Running => e.exec = e.exec.wrapping_add(d),
                        GoState::Waiting => {
                            let reason = self.names.intern_gen(ev.transition_reason());
                            add(&mut e.block, reason, d);
                        }
                        GoState::Runnable => e.sched_wait = e.sched_wait.wrapping_add(d),
                        GoState::Syscall if ev.proc().is_some() => {
                            e.syscall = e.syscall.wrapping_add(d);
                        }
                        GoState::Syscall => e.syscall_block = e.syscall_block.wrapping_add(d),
                        _ => {}
                    }
                }
                if e.name == EMPTY {
                    if let Some(f) = ev.transition_stack().and_then(|s| s.frames().last()) {
                        e.name = self.names.intern_gen(f.func);
                        e.pc = f.pc;
                    }
                }
                match to {
                    GoState::Running => {
                        e.pending.start = t;
                        if e.start_time == 0 {
                            e.start_time = t;
                        }
                    }
                    GoState::Runnable => e.pending.runnable = t,
                    GoState::Waiting => {
                        let reason = ev.transition_reason();
                        if reason == b"forever" {
                            e.end_time = t;
                            finalize(e, t);
                        } else {
                            e.pending.block = t;
                            e.pending.block_reason = self.names.intern_gen(reason);
                        }
                    }
                    GoState::NotExist => {
                        e.end_time = t;
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
                    if let Some(e) = self.entry_mut(g) {
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
                if self.slots.get(g).is_none() {
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
        let sync_ts = self.sync_ts;
        let Some(e) = self.entry_mut(g) else {
            return;
        };
        let start = if ev.kind() == EventKind::RangeActive {
            sync_ts
        } else {
            ev.time()
        };
        let r = e.ranges.get_or_insert_with(Box::default);
        match r.open.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => {
                if ev.kind() == EventKind::RangeActive && slot.1 != 0 {
                    add(&mut r.done, name, sync_ts.wrapping_sub(slot.1));
                }
                slot.1 = start;
            }
            None => r.open.push((name, start)),
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
        let Some(e) = self.entry_mut(g) else {
            return;
        };
        let Some(r) = e.ranges.as_mut() else {
            return;
        };
        if let Some(i) = r.open.iter().position(|(n, _)| *n == name) {
            let (_, start) = r.open.swap_remove(i);
            if start != 0 {
                add(&mut r.done, name, ev.time().wrapping_sub(start));
            }
        }
    }

    /// Closes every open interval at the last event and returns the result.
    pub fn finish(mut self) -> Summary {
        let end = self.last_ts;
        let names = &self.names.names;
        // Each symbol's place in byte order of its text.
        let mut order: Vec<Sym> = (0..names.len() as Sym).collect();
        order.sort_unstable_by(|&a, &b| names[a as usize].cmp(&names[b as usize]));
        let mut rank = vec![0u32; names.len()];
        for (r, &s) in order.iter().enumerate() {
            rank[s as usize] = r as u32;
        }
        let texts = |v: &mut Vec<(Sym, i64)>| -> Vec<(Arc<str>, i64)> {
            v.sort_unstable_by_key(|&(s, _)| rank[s as usize]);
            v.iter()
                .map(|&(s, d)| (Arc::clone(&names[s as usize]), d))
                .collect()
        };
        self.gs.sort_unstable_by_key(|e| e.id);
        let mut goroutines = Vec::with_capacity(self.gs.len());
        for e in &mut self.gs {
            finalize(e, end);
            goroutines.push(GoroutineSummary {
                id: e.id,
                name: Arc::clone(&names[e.name as usize]),
                pc: e.pc,
                creation_time: e.creation_time,
                start_time: e.start_time,
                end_time: e.end_time,
                stats: ExecStats {
                    exec: e.exec,
                    sched_wait: e.sched_wait,
                    block: texts(&mut e.block),
                    syscall: e.syscall,
                    syscall_block: e.syscall_block,
                    total: e.total,
                    ranges: match e.ranges.as_mut() {
                        Some(r) => texts(&mut r.done),
                        None => Vec::new(),
                    },
                },
            });
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
    match from {
        // N.B. Unconditional, as in Go: a run always has a start.
        GoState::Running => {
            e.exec = e.exec.wrapping_add(t.wrapping_sub(p.start));
            p.start = 0;
        }
        GoState::Waiting if p.block != 0 => {
            add(&mut e.block, p.block_reason, t.wrapping_sub(p.block));
            p.block = 0;
        }
        GoState::Runnable if p.runnable != 0 => {
            e.sched_wait = e.sched_wait.wrapping_add(t.wrapping_sub(p.runnable));
            p.runnable = 0;
        }
        GoState::Syscall if p.syscall != 0 => {
            if p.syscall_block != 0 {
                e.syscall_block = e
                    .syscall_block
                    .wrapping_add(t.wrapping_sub(p.syscall_block));
                e.syscall = e
                    .syscall
                    .wrapping_add(p.syscall_block.wrapping_sub(p.syscall));
            } else {
                e.syscall = e.syscall.wrapping_add(t.wrapping_sub(p.syscall));
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
    if e.total == 0 {
        e.total = t.wrapping_sub(e.creation_time);
    }
    let p = std::mem::take(&mut e.pending);
    if p.start != 0 {
        e.exec = e.exec.wrapping_add(t.wrapping_sub(p.start));
    }
    if p.runnable != 0 {
        e.sched_wait = e.sched_wait.wrapping_add(t.wrapping_sub(p.runnable));
    }
    if p.block != 0 {
        add(&mut e.block, p.block_reason, t.wrapping_sub(p.block));
    }
    if p.syscall != 0 {
        e.syscall = e.syscall.wrapping_add(t.wrapping_sub(p.syscall));
    }
    if p.syscall_block != 0 {
        e.sched_wait = e.sched_wait.wrapping_add(t.wrapping_sub(p.syscall_block));
    }
    if let Some(r) = e.ranges.as_mut() {
        for (name, start) in std::mem::take(&mut r.open) {
            add(&mut r.done, name, t.wrapping_sub(start));
        }
    }
}

/// Adds `d` to the entry for `key`, creating it (even for 0, as Go's maps
/// do: a reason seen once gets its column).
#[inline]
fn add(v: &mut Vec<(Sym, i64)>, key: Sym, d: i64) {
    match v.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = slot.1.wrapping_add(d),
        None => v.push((key, d)),
    }
}
