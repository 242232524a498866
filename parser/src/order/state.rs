//! What the ordering engine remembers about each goroutine, P and thread:
//! wire statuses, sequence counters, active ranges and regions.

use std::fmt;
use std::sync::Arc;

use gort_tracer::wire::EventType;

use crate::error::{Error, ErrorKind};
use crate::resources::{GoId, ProcId, ThreadId};
use crate::tables::IdMap;

/// The result type of ordering handlers: errors are boxed so that the hot,
/// successful path moves small values.
pub(crate) type OResult<T> = std::result::Result<T, Box<Error>>;

/// A scheduling context: the thread, and the P and goroutine it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(16))]
pub(crate) struct SchedCtx {
    /// The thread.
    pub(crate) m: ThreadId,
    /// The P it holds.
    pub(crate) p: ProcId,
    /// The goroutine it runs.
    pub(crate) g: GoId,
}

impl SchedCtx {
    /// No thread, no P, no goroutine.
    pub(crate) const NONE: SchedCtx = SchedCtx {
        m: ThreadId::NONE,
        p: ProcId::NONE,
        g: GoId::NONE,
    };
}

/// A requirement on one part of the context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    /// Must be absent.
    Not,
    /// Either way.
    May,
    /// Must be present.
    Must,
}

/// Requirements on an event's (M, P, G) context.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reqs {
    pub(crate) m: Need,
    pub(crate) p: Need,
    pub(crate) g: Need,
}

/// Thread, P and goroutine all required (user goroutine events).
pub(crate) const USER_GO: Reqs = Reqs {
    m: Need::Must,
    p: Need::Must,
    g: Need::Must,
};

/// Checks `ctx` against `reqs`, with Go's messages.
#[inline(always)]
pub(crate) fn check_ctx(ctx: SchedCtx, reqs: Reqs) -> OResult<()> {
    let parts = [
        (reqs.m, ctx.m.is_some(), "a thread"),
        (reqs.p, ctx.p.is_some(), "a proc"),
        (reqs.g, ctx.g.is_some(), "a goroutine"),
    ];
    for (need, have, what) in parts {
        let msg = match (need, have) {
            (Need::Must, false) => format!("expected {what} but didn't have one"),
            (Need::Not, true) => format!("expected no {} but had one", &what[2..]),
            _ => continue,
        };
        return Err(Box::new(Error::new(ErrorKind::InvalidTransition, msg)));
    }
    Ok(())
}

/// A per-generation sequence number: `(generation, n)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Seq {
    pub(crate) gen: u64,
    pub(crate) n: u64,
}

impl Seq {
    /// True if `self` comes right after `prev` in the same generation.
    #[inline]
    pub(crate) fn succeeds(self, prev: Seq) -> bool {
        self.gen == prev.gen && self.n == prev.n.wrapping_add(1)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (gen={})", self.n, self.gen)
    }
}

/// An event type's name, looked up only when formatted (error paths).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Name(pub(crate) EventType);

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

/// Go's name for a wire goroutine status (`Bad` for anything unnamed).
pub(crate) fn go_status_name(s: u8) -> &'static str {
    match s {
        1 => "Runnable",
        2 => "Running",
        3 => "Syscall",
        4 => "Waiting",
        _ => "Bad",
    }
}

/// Go's name for a wire P status (`Bad` for anything unnamed, including
/// `SyscallAbandoned`).
pub(crate) fn proc_status_name(s: u8) -> &'static str {
    match s {
        1 => "Running",
        2 => "Idle",
        3 => "Syscall",
        _ => "Bad",
    }
}

/// Wire goroutine statuses.
pub(crate) mod gs {
    pub(crate) const RUNNABLE: u8 = 1;
    pub(crate) const RUNNING: u8 = 2;
    pub(crate) const SYSCALL: u8 = 3;
    pub(crate) const WAITING: u8 = 4;
}

/// Wire P statuses.
pub(crate) mod ps {
    pub(crate) const RUNNING: u8 = 1;
    pub(crate) const IDLE: u8 = 2;
    pub(crate) const SYSCALL: u8 = 3;
    pub(crate) const SYSCALL_ABANDONED: u8 = 4;
}

/// A kind of time range bound to a resource: its begin event and, for
/// stop-the-world, the kind string ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RangeType {
    pub(crate) typ: EventType,
    pub(crate) desc: u64,
}

impl RangeType {
    /// The range an event belongs to (an end or active event maps to its begin).
    pub(crate) fn of(typ: EventType, desc: u64) -> RangeType {
        RangeType {
            typ: typ.spec().start_ev.unwrap_or(typ),
            desc,
        }
    }
}

impl fmt::Display for RangeType {
    /// Go's `%v` of its range struct: `{35 0}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{} {}}}", self.typ as u8, self.desc)
    }
}

/// Ranges in flight on one resource.
#[derive(Clone, Debug, Default)]
pub(crate) struct Ranges(Vec<RangeType>);

impl Ranges {
    fn has(&self, r: RangeType) -> bool {
        self.0.contains(&r)
    }

    /// Starts range `r`; error if it is already active.
    pub(crate) fn begin(&mut self, r: RangeType) -> OResult<()> {
        if self.has(r) {
            return Err(invalid(format!(
                "discovered event already in-flight for when starting event {}",
                r.typ.name()
            )));
        }
        self.0.push(r);
        Ok(())
    }

    /// In the first generation, adds `r`; later, requires it to be active.
    pub(crate) fn active(&mut self, r: RangeType, initial_gen: bool) -> OResult<()> {
        if initial_gen {
            if self.has(r) {
                return Err(invalid(format!(
                    "found named active range already in first gen: {r}"
                )));
            }
            self.0.push(r);
        } else if !self.has(r) {
            let list: Vec<String> = self.0.iter().map(|r| r.to_string()).collect();
            return Err(invalid(format!(
                "resource is missing active range: {} [{}]",
                r.typ.name(),
                list.join(" ")
            )));
        }
        Ok(())
    }

    /// Ends the range that `end` closes; returns its description.
    pub(crate) fn end(&mut self, end: EventType) -> OResult<u64> {
        let start = end.spec().start_ev.unwrap_or(end);
        let Some(i) = self.0.iter().position(|r| r.typ == start) else {
            return Err(invalid(format!(
                "tried to end event {}, but not in-flight",
                start.name()
            )));
        };
        Ok(self.0.swap_remove(i).desc)
    }
}

/// A user region open on a goroutine: task and name (the name resolved,
/// because string IDs change between generations).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Region {
    pub(crate) task: u64,
    pub(crate) name: Arc<[u8]>,
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{{} {}}}",
            self.task,
            String::from_utf8_lossy(&self.name)
        )
    }
}

/// What is known about a goroutine. Kept small (most goroutines never
/// open a region or a range, and the state of every goroutine is looked up
/// by ID on most events): regions and ranges live in a box of their own.
#[derive(Clone, Debug)]
pub(crate) struct GState {
    pub(crate) status: u8,
    pub(crate) seq: Seq,
    extra: Option<Box<GExtra>>,
}

/// The regions and ranges of a goroutine that has had any.
#[derive(Clone, Debug, Default)]
struct GExtra {
    regions: Vec<Region>,
    ranges: Ranges,
}

impl GState {
    pub(crate) fn new(status: u8, seq: Seq) -> GState {
        GState {
            status,
            seq,
            extra: None,
        }
    }

    fn extra(&mut self) -> &mut GExtra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// The ranges in flight on the goroutine.
    pub(crate) fn ranges(&mut self) -> &mut Ranges {
        &mut self.extra().ranges
    }

    /// Opens region `r` (the innermost one from now on).
    pub(crate) fn begin_region(&mut self, r: Region) {
        self.extra().regions.push(r);
    }

    /// Closes region `r`; an end with no open region is accepted (it began
    /// before the trace did).
    pub(crate) fn end_region(&mut self, id: GoId, r: &Region) -> OResult<()> {
        let Some(x) = self.extra.as_mut() else {
            return Ok(());
        };
        match x.regions.last() {
            None => Ok(()),
            Some(top) if top == r => {
                x.regions.pop();
                Ok(())
            }
            Some(top) => Err(invalid(format!(
                "misuse of region in goroutine {id}: region end {r} when the inner-most active region start event is {top}"
            ))),
        }
    }
}

/// What is known about a P.
#[derive(Clone, Debug)]
pub(crate) struct PState {
    pub(crate) status: u8,
    pub(crate) seq: Seq,
    pub(crate) ranges: Ranges,
}

/// The goroutine and P a thread holds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MState {
    pub(crate) g: GoId,
    pub(crate) p: ProcId,
}

/// A map from resource IDs to state: a vector for small non-negative IDs (as
/// goroutine and P IDs are), a hash map for the rest. The vector covers IDs
/// below its length and at most doubles when an ID just past it arrives, so
/// its size stays proportional to the number of entries, whatever the IDs.
#[derive(Clone, Debug)]
pub(crate) struct DenseMap<V> {
    dense: Vec<Option<V>>,
    sparse: IdMap<i64, V>,
}

/// The vector grows to cover an ID below this many slots even when empty.
const DENSE_START: usize = 1024;

impl<V> Default for DenseMap<V> {
    fn default() -> Self {
        DenseMap {
            dense: Vec::new(),
            sparse: IdMap::default(),
        }
    }
}

impl<V> DenseMap<V> {
    #[inline]
    pub(crate) fn get(&self, k: &i64) -> Option<&V> {
        match usize::try_from(*k) {
            Ok(i) if i < self.dense.len() => self.dense[i].as_ref(),
            _ => self.sparse.get(k),
        }
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, k: &i64) -> Option<&mut V> {
        match usize::try_from(*k) {
            Ok(i) if i < self.dense.len() => self.dense[i].as_mut(),
            _ => self.sparse.get_mut(k),
        }
    }

    #[inline]
    pub(crate) fn contains_key(&self, k: &i64) -> bool {
        self.get(k).is_some()
    }

    pub(crate) fn insert(&mut self, k: i64, v: V) {
        let Ok(i) = usize::try_from(k) else {
            self.sparse.insert(k, v);
            return;
        };
        if i >= self.dense.len() {
            let limit = (self.dense.len() * 2).max(DENSE_START);
            if i >= limit {
                self.sparse.insert(k, v);
                return;
            }
            self.dense.resize_with(limit, || None);
            // Entries now covered by the vector move into it.
            let moved: Vec<i64> = self
                .sparse
                .keys()
                .copied()
                .filter(|&s| (0..limit as i64).contains(&s))
                .collect();
            for s in moved {
                if let Some(old) = self.sparse.remove(&s) {
                    self.dense[s as usize] = Some(old);
                }
            }
        }
        self.dense[i] = Some(v);
    }

    pub(crate) fn remove(&mut self, k: &i64) -> Option<V> {
        match usize::try_from(*k) {
            Ok(i) if i < self.dense.len() => self.dense[i].take(),
            _ => self.sparse.remove(k),
        }
    }

    /// All entries (dense ones first, in ID order).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (i64, &V)> + '_ {
        self.dense
            .iter()
            .enumerate()
            .filter_map(|(i, v)| Some((i as i64, v.as_ref()?)))
            .chain(self.sparse.iter().map(|(k, v)| (*k, v)))
    }
}

/// Thread states in slots that stay put, so a cursor can remember its
/// thread's slot instead of hashing the thread ID for every event. Each slot
/// is the thread's whole context, so that the ordering engine reads and
/// writes it as one value (the same wide loads and stores each time, which
/// the processor forwards from one event to the next).
#[derive(Clone, Debug, Default)]
pub(crate) struct MStates {
    slots: Vec<SchedCtx>,
    index: IdMap<i64, usize>,
}

impl MStates {
    /// The slot of thread `m`, created (holding nothing) if new.
    pub(crate) fn slot(&mut self, m: ThreadId) -> usize {
        if let Some(&i) = self.index.get(&m.0) {
            return i;
        }
        self.insert(
            m.0,
            MState {
                g: GoId::NONE,
                p: ProcId::NONE,
            },
        )
    }

    /// The context in `slot`.
    #[inline]
    pub(crate) fn at(&mut self, slot: usize) -> Option<&mut SchedCtx> {
        self.slots.get_mut(slot)
    }

    pub(crate) fn get(&self, m: &i64) -> Option<&SchedCtx> {
        self.slots.get(*self.index.get(m)?)
    }

    pub(crate) fn get_mut(&mut self, m: &i64) -> Option<&mut SchedCtx> {
        let i = *self.index.get(m)?;
        self.at(i)
    }

    /// Sets thread `m`'s state; returns its slot.
    pub(crate) fn insert(&mut self, m: i64, s: MState) -> usize {
        let ctx = SchedCtx {
            m: ThreadId(m),
            p: s.p,
            g: s.g,
        };
        if let Some(&i) = self.index.get(&m) {
            if let Some(slot) = self.slots.get_mut(i) {
                *slot = ctx;
            }
            return i;
        }
        self.slots.push(ctx);
        self.index.insert(m, self.slots.len() - 1);
        self.slots.len() - 1
    }

    /// All threads, in first-seen order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&i64, &SchedCtx)> + '_ {
        self.slots.iter().map(|c| (&c.m.0, c))
    }
}

/// An error about an impossible state change.
#[cold]
pub(crate) fn invalid(msg: String) -> Box<Error> {
    Box::new(Error::new(ErrorKind::InvalidTransition, msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_checks_read_like_go() {
        let e = check_ctx(SchedCtx::NONE, USER_GO).unwrap_err();
        assert_eq!(e.message(), "expected a thread but didn't have one");
        let ctx = SchedCtx {
            m: ThreadId(1),
            p: ProcId(0),
            g: GoId(3),
        };
        let reqs = Reqs {
            m: Need::Must,
            p: Need::Not,
            g: Need::May,
        };
        assert_eq!(
            check_ctx(ctx, reqs).unwrap_err().message(),
            "expected no proc but had one"
        );
        assert!(check_ctx(ctx, USER_GO).is_ok());
    }

    #[test]
    fn ranges_begin_end_and_active() {
        let mut r = Ranges::default();
        let assist = RangeType::of(EventType::GCMarkAssistBegin, 0);
        r.begin(assist).unwrap();
        assert!(r.begin(assist).is_err());
        assert_eq!(r.end(EventType::GCMarkAssistEnd).unwrap(), 0);
        assert_eq!(
            r.end(EventType::GCMarkAssistEnd).unwrap_err().message(),
            "tried to end event GCMarkAssistBegin, but not in-flight"
        );
        let active = RangeType::of(EventType::GCMarkAssistActive, 0);
        assert_eq!(active, assist);
        assert_eq!(
            r.active(active, false).unwrap_err().message(),
            "resource is missing active range: GCMarkAssistBegin []"
        );
        r.active(active, true).unwrap();
        assert_eq!(
            r.active(active, true).unwrap_err().message(),
            "found named active range already in first gen: {35 0}"
        );
    }

    #[test]
    fn dense_map_stays_small_for_sparse_ids() {
        let mut m = DenseMap::default();
        m.insert(5, 'a');
        m.insert(1 << 40, 'b');
        m.insert(-1, 'c');
        m.insert(3000, 'd');
        assert_eq!(m.dense.len(), DENSE_START);
        m.insert(1500, 'e');
        assert_eq!(m.dense.len(), 2 * DENSE_START);
        assert_eq!(m.get(&3000), Some(&'d'));
        assert_eq!(m.get(&(1 << 40)), Some(&'b'));
        assert_eq!(m.remove(&-1), Some('c'));
        assert!(!m.contains_key(&-1));
        let mut all: Vec<_> = m.iter().map(|(k, v)| (k, *v)).collect();
        all.sort();
        assert_eq!(all, [(5, 'a'), (1500, 'e'), (3000, 'd'), (1 << 40, 'b')]);
    }

    #[test]
    fn sequences_continue_only_within_a_generation() {
        let a = Seq { gen: 2, n: 4 };
        assert!(Seq { gen: 2, n: 5 }.succeeds(a));
        assert!(!Seq { gen: 3, n: 5 }.succeeds(a));
        assert!(!Seq { gen: 2, n: 6 }.succeeds(a));
        assert_eq!(a.to_string(), "4 (gen=2)");
    }
}
