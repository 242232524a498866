//! Go's trace-derived pprof profiles (`go tool trace -pprof=TYPE`): where
//! goroutines waited on the network, on synchronisation, in syscalls, or
//! for a P, keyed by stack.
//!
//! A [`ProfileBuilder`] takes every ordered event once. It keeps, per
//! goroutine, the interval in progress, and per finished interval a small
//! fixed-size record (goroutine, stack index, start, end); stacks are
//! interned by their PCs across generations, so memory grows with the number
//! of distinct stacks and intervals, never with event payloads. Alongside,
//! it follows each goroutine's window as Go's goroutine summary
//! ([`crate::summary`]) defines it (first run to end, reset when the ID is
//! created anew), which the intervals are clipped to at the end.
//!
//! Two accountings, side by side:
//!
//! | | [`Accounting::GoCompatible`] (default) | [`Accounting::Accurate`] |
//! |---|---|---|
//! | transitions that open or close an interval | only those carrying a stack | every goroutine transition |
//! | `sched` | from becoming runnable to the next stack-bearing exit (block, syscall), so it includes run time | time runnable |
//! | `syscall` | from a syscall to the next block or stop (later syscalls absorbed, syscalls before exit lost) | time in syscalls (blocked ones included) |
//! | `net`, `sync` | to the next stack-bearing exit (network wakeups carry none) | time blocked for that reason |
//! | intervals open at the end | dropped | closed at the end of the trace |
//! | clipped to | the goroutine's first run to its end | nothing |
//!
//! `GoCompatible` reproduces Go 1.23's `-pprof` exactly (golang/go#74850
//! describes its interval rule), and Go 1.25's on go 1.25 traces. On go
//! 1.26 traces it reproduces Go 1.27, which fixed that issue: every
//! goroutine transition opens and closes intervals (an interval opened by a
//! stackless transition gets an empty stack), while open intervals are
//! still dropped and intervals still clipped to the goroutine's window; `Accurate` totals equal the goroutine
//! summary's: network and sync block time, syscall plus syscall block
//! time, and scheduling wait (without the summary's own quirk for a
//! blocked syscall pending at the end).
//!
//! The interval's stack is the stack of the transition that opened it: for
//! a creation, the creator's; for an unblock, the waker's; for a stop,
//! block or syscall, the goroutine's own. Stacks are cut at 128 frames.

mod encode;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use crate::error::{Error, ErrorKind, Result};
use crate::event::{Event, EventKind, Stack, StateTransition};
use crate::reader::Reader;
use crate::resources::{GoId, GoState, Transition};
use crate::slots::GoSlots;
use crate::tables::IdMap;

/// Frames kept per stack (Go's limit for trace profiles).
pub const MAX_FRAMES: usize = 128;

/// Which profile (the `TYPE` of `go tool trace -pprof=TYPE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProfileKind {
    /// `net`: blocked on the network.
    Net,
    /// `sync`: blocked on channels, `select` or `sync` primitives.
    Sync,
    /// `syscall`: in system calls.
    Syscall,
    /// `sched`: waiting for a P.
    Sched,
}

impl ProfileKind {
    /// Every kind, in Go's order.
    pub const ALL: [ProfileKind; 4] = [
        ProfileKind::Net,
        ProfileKind::Sync,
        ProfileKind::Syscall,
        ProfileKind::Sched,
    ];

    /// The name `-pprof=` takes.
    pub const fn name(self) -> &'static str {
        match self {
            ProfileKind::Net => "net",
            ProfileKind::Sync => "sync",
            ProfileKind::Syscall => "syscall",
            ProfileKind::Sched => "sched",
        }
    }

    /// The state whose intervals are measured.
    const fn state(self) -> GoState {
        match self {
            ProfileKind::Net | ProfileKind::Sync => GoState::Waiting,
            ProfileKind::Syscall => GoState::Syscall,
            ProfileKind::Sched => GoState::Runnable,
        }
    }

    /// Whether entering the state for `reason` starts an interval.
    fn tracks(self, reason: &[u8]) -> bool {
        let has = |w: &[u8]| reason.windows(w.len()).any(|x| x == w);
        match self {
            ProfileKind::Net => reason == b"network",
            ProfileKind::Sync => has(b"chan") || has(b"sync") || has(b"select"),
            ProfileKind::Syscall | ProfileKind::Sched => true,
        }
    }
}

impl fmt::Display for ProfileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ProfileKind {
    type Err = Error;

    /// Parses a `-pprof=` name; any other gives Go's message.
    fn from_str(s: &str) -> Result<ProfileKind> {
        ProfileKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| Error::new(ErrorKind::Unsupported, format!("unknown pprof type {s}")))
    }
}

/// How intervals are delimited (see the module documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Accounting {
    /// Go's rule for the trace's format: Go 1.23's and 1.25's (only
    /// transitions with a stack count), or on go 1.26 traces Go 1.27's
    /// (every transition counts).
    #[default]
    GoCompatible,
    /// Every transition counts; the totals are the goroutine summary's.
    Accurate,
}

/// One frame of a profile stack.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProfileFrame {
    /// Program counter (0 when the trace's frame table lacks it).
    pub pc: u64,
    /// Function name (bytes as in the trace).
    pub func: Vec<u8>,
    /// Source file.
    pub file: Vec<u8>,
    /// Line number.
    pub line: u64,
}

/// Time spent in the profiled state from one stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The stack, leaf first (at most [`MAX_FRAMES`] frames).
    pub frames: Vec<ProfileFrame>,
    /// Number of intervals.
    pub count: u64,
    /// Their total duration, ns.
    pub delay: i64,
}

/// A trace profile: records in order of their stack's first interval.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    /// One record per distinct stack (PCs compared, first 128 frames).
    pub records: Vec<Record>,
}

/// A finished interval, waiting for the goroutine's window.
#[derive(Clone, Copy, Debug)]
struct Sample {
    /// The goroutine's slot.
    g: u32,
    stack: u32,
    start: i64,
    end: i64,
}

/// An interval in progress.
#[derive(Clone, Copy, Debug)]
struct Open {
    stack: u32,
    start: i64,
}

/// One goroutine: its window and its interval in progress.
#[derive(Clone, Copy, Debug)]
struct GoProfile {
    id: GoId,
    /// (first run, end), 0 when not (yet) seen; `None` before the
    /// goroutine's creation (or first sight).
    window: Option<(i64, i64)>,
    open: Option<Open>,
}

/// Accumulates one profile over an ordered event stream.
#[derive(Debug)]
pub struct ProfileBuilder {
    kind: ProfileKind,
    accounting: Accounting,
    /// Each goroutine's slot in `gs`.
    slots: GoSlots,
    gs: Vec<GoProfile>,
    samples: Vec<Sample>,
    /// Stack index by this generation's stack ID.
    by_id: IdMap<u64, u32>,
    /// Stack index by PCs (first [`MAX_FRAMES`]).
    by_pcs: HashMap<Vec<u64>, u32>,
    /// Each stack's frames.
    stacks: Vec<Vec<ProfileFrame>>,
    /// Each stack's record: Go keys records by a zero-padded array of 128
    /// PCs, so stacks that differ only by trailing zero PCs share one.
    record_of: Vec<u32>,
    /// Record index by PCs without trailing zeros.
    by_key: HashMap<Vec<u64>, u32>,
    last_ts: i64,
}

impl ProfileBuilder {
    /// A builder for `kind` with the given accounting.
    pub fn new(kind: ProfileKind, accounting: Accounting) -> ProfileBuilder {
        ProfileBuilder {
            kind,
            accounting,
            slots: GoSlots::default(),
            gs: Vec::new(),
            samples: Vec::new(),
            by_id: IdMap::default(),
            by_pcs: HashMap::new(),
            stacks: Vec::new(),
            record_of: Vec::new(),
            by_key: HashMap::new(),
            last_ts: 0,
        }
    }

    /// Accounts for the next event of the trace.
    pub fn event(&mut self, ev: &Event<'_>) {
        self.last_ts = ev.time();
        match ev.kind() {
            // Stack IDs are per generation.
            EventKind::Sync => self.by_id.clear(),
            EventKind::StateTransition => self.transition(ev),
            _ => {}
        }
    }

    /// Follows the goroutine windows as the summary does: a fresh window at
    /// creation (or first sight), the first run starts it, exit or waiting
    /// `forever` ends it.
    fn window(&mut self, ev: &Event<'_>, st: &StateTransition<'_>) {
        let Transition::Goroutine { id, from, to } = st.transition else {
            return;
        };
        if from == to {
            return;
        }
        let slot = if matches!(from, GoState::Undetermined | GoState::NotExist) {
            let s = self.slot(id);
            self.gs[s].window = Some((0, 0));
            s
        } else {
            match self.slots.get(id) {
                Some(s) => s as usize,
                None => return,
            }
        };
        let Some(w) = &mut self.gs[slot].window else {
            return;
        };
        let t = ev.time();
        match to {
            GoState::Running if w.0 == 0 => w.0 = t,
            GoState::NotExist => w.1 = t,
            GoState::Waiting if st.reason == b"forever" => w.1 = t,
            _ => {}
        }
    }

    fn transition(&mut self, ev: &Event<'_>) {
        let Some(st) = ev.state_transition() else {
            return;
        };
        let compat = self.accounting == Accounting::GoCompatible;
        if compat {
            self.window(ev, &st);
        }
        let stack = ev.stack();
        // Go 1.27 (the go 1.26 format) no longer skips stackless transitions.
        if compat && stack.is_none() && !ev.format().has_end_of_generation() {
            return;
        }
        let Transition::Goroutine { id, from, to } = st.transition else {
            return;
        };
        if !compat && from == to {
            return;
        }
        let state = self.kind.state();
        let t = ev.time();
        let slot = self.slots.get(id);
        match slot.and_then(|s| Some((s, self.gs[s as usize].open?))) {
            None => {
                if to == state && self.kind.tracks(st.reason) {
                    let stack = self.intern(stack);
                    let s = match slot {
                        Some(s) => s as usize,
                        None => self.slot(id),
                    };
                    self.gs[s].open = Some(Open { stack, start: t });
                }
            }
            Some(_) if to == state => {}
            Some((s, o)) => {
                self.gs[s as usize].open = None;
                self.samples.push(Sample {
                    g: s,
                    stack: o.stack,
                    start: o.start,
                    end: t,
                });
            }
        }
    }

    /// The slot of `id`, made on first sight.
    fn slot(&mut self, id: GoId) -> usize {
        match self.slots.get(id) {
            Some(s) => s as usize,
            None => {
                let s = self.gs.len();
                self.gs.push(GoProfile {
                    id,
                    window: None,
                    open: None,
                });
                self.slots.insert(id, s as u32, s + 1);
                s
            }
        }
    }

    /// The index of `stack`'s record, interning it on first sight.
    fn intern(&mut self, stack: Option<Stack<'_>>) -> u32 {
        let id = stack.map_or(0, |s| s.id());
        if let Some(&i) = self.by_id.get(&id) {
            return i;
        }
        let frames: Vec<_> = stack
            .into_iter()
            .flat_map(|s| s.frames())
            .take(MAX_FRAMES)
            .collect();
        let pcs: Vec<u64> = frames.iter().map(|f| f.pc).collect();
        let i = match self.by_pcs.get(&pcs) {
            Some(&i) => i,
            None => {
                let i = self.stacks.len() as u32;
                self.stacks.push(
                    frames
                        .iter()
                        .map(|f| ProfileFrame {
                            pc: f.pc,
                            func: f.func.to_vec(),
                            file: f.file.to_vec(),
                            line: f.line,
                        })
                        .collect(),
                );
                let mut key = pcs.clone();
                while key.last() == Some(&0) {
                    key.pop();
                }
                let n = self.by_key.len() as u32;
                let r = *self.by_key.entry(key).or_insert(n);
                self.record_of.push(r);
                self.by_pcs.insert(pcs, i);
                i
            }
        };
        self.by_id.insert(id, i);
        i
    }

    /// The number of finished intervals so far (a cut point for
    /// [`ProfileBuilder::finish_at`]).
    pub fn intervals(&self) -> usize {
        self.samples.len()
    }

    /// Builds the profile from every interval finished so far.
    pub fn finish(self) -> Profile {
        let (n, end) = (self.samples.len(), self.last_ts);
        self.finish_at(n, end)
    }

    /// Builds the profile from the first `intervals` finished intervals,
    /// taking `end` as the end of the trace (Go keeps only the events up to
    /// the last Sync when a trace is cut short, while its summary has seen
    /// them all).
    pub fn finish_at(mut self, intervals: usize, end: i64) -> Profile {
        if self.accounting == Accounting::Accurate {
            let mut open: Vec<(u32, GoId, Open)> = self
                .gs
                .iter_mut()
                .enumerate()
                .filter_map(|(s, g)| Some((s as u32, g.id, g.open.take()?)))
                .collect();
            open.sort_by_key(|&(_, g, o)| (o.start, g));
            self.samples.truncate(intervals);
            self.samples
                .extend(open.into_iter().map(|(s, _, o)| Sample {
                    g: s,
                    stack: o.stack,
                    start: o.start,
                    end,
                }));
        } else {
            self.samples.truncate(intervals);
        }
        // Per record: count, delay, and (as Go keeps the newest stack of a
        // record) the stack of its last counted interval.
        let mut totals = vec![(0u64, 0i64, 0u32); self.by_key.len()];
        let mut order = Vec::new();
        for s in &self.samples {
            let d = match self.accounting {
                Accounting::Accurate => s.end.wrapping_sub(s.start),
                Accounting::GoCompatible => clipped(&self.gs, s, end),
            };
            if d <= 0 {
                continue;
            }
            let Some(&r) = self.record_of.get(s.stack as usize) else {
                continue;
            };
            let Some(slot) = totals.get_mut(r as usize) else {
                continue;
            };
            if slot.0 == 0 {
                order.push(r as usize);
            }
            slot.0 += 1;
            slot.1 = slot.1.wrapping_add(d);
            slot.2 = s.stack;
        }
        let stacks = self.stacks;
        let records = order
            .into_iter()
            .filter_map(|i| {
                let (count, delay, stack) = *totals.get(i)?;
                Some(Record {
                    frames: stacks.get(stack as usize)?.clone(),
                    count,
                    delay,
                })
            })
            .collect();
        Profile { records }
    }
}

/// The part of a sample inside its goroutine's window: from its first run
/// (0 if it never ran) to its end (`end` if it did not end).
fn clipped(gs: &[GoProfile], s: &Sample, end: i64) -> i64 {
    let Some((w_start, w_end)) = gs.get(s.g as usize).and_then(|g| g.window) else {
        return 0;
    };
    let w_end = if w_end == 0 { end } else { w_end };
    if w_end < s.start || s.end < w_start {
        return 0;
    }
    s.end.min(w_end).wrapping_sub(s.start.max(w_start))
}

/// Reads a whole trace and builds its `kind` profile, as
/// `go tool trace -pprof=TYPE` does: when the trace is cut short or damaged
/// after at least one complete generation, the profile covers the complete
/// generations.
///
/// # Errors
///
/// Go's `failed to parse any useful part of the trace: …` when no
/// generation could be read.
pub fn profile_trace(
    mut reader: Reader<'_>,
    kind: ProfileKind,
    accounting: Accounting,
) -> Result<Profile> {
    let mut b = ProfileBuilder::new(kind, accounting);
    let mut valid: Option<(usize, i64)> = None;
    loop {
        match reader.next_event() {
            Ok(Some(ev)) => {
                b.event(ev);
                if ev.kind() == EventKind::Sync {
                    valid = Some((b.intervals(), ev.time()));
                }
            }
            Ok(None) => return Ok(b.finish()),
            Err(e) => {
                let Some((n, end)) = valid else {
                    return Err(Error::new(
                        e.kind(),
                        format!("failed to parse any useful part of the trace: {e}"),
                    ));
                };
                return Ok(b.finish_at(n, end));
            }
        }
    }
}

pub use encode::encode;
