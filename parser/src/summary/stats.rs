//! The result types of the goroutine analysis and the columns of Go's
//! breakdown table.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::resources::GoId;

/// Where a goroutine's time went, in nanoseconds (Go's
/// `GoroutineExecStats`).
///
/// `exec`, `sched_wait`, `block`, `syscall` and `syscall_block` do not
/// overlap; `total` (presence in the trace) and `ranges` overlap them.
///
/// Block reasons and range names are shared between the goroutines of one
/// [`Summary`](super::Summary) (cloning one is a reference count).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecStats {
    /// Running.
    pub exec: i64,
    /// Runnable, waiting for a P.
    pub sched_wait: i64,
    /// Blocked, by the reason given when it blocked (`""` when the reason
    /// is unknown: a status at a generation boundary, a blocked creation).
    /// Sorted by reason (byte order), each reason once; a reason seen with
    /// no time still has its entry, as in Go.
    pub block: Vec<(Arc<str>, i64)>,
    /// In a syscall while holding its P.
    pub syscall: i64,
    /// In a syscall after its P was taken away.
    pub syscall_block: i64,
    /// From its creation (or first appearance) to its end (or the end of
    /// the trace).
    pub total: i64,
    /// Time in special ranges (`GC mark assist`, `stop-the-world (…)`, …),
    /// sorted by name (byte order), each name once.
    pub ranges: Vec<(Arc<str>, i64)>,
}

impl ExecStats {
    /// The time blocked for `reason` (0 if never).
    pub fn block_time(&self, reason: &str) -> i64 {
        lookup(&self.block, reason)
    }

    /// The time spent in the range `name` (0 if never).
    pub fn range_time(&self, name: &str) -> i64 {
        lookup(&self.ranges, name)
    }

    /// The time not accounted for by the non-overlapping stats (never
    /// negative).
    pub fn unknown(&self) -> i64 {
        // Wrapping, as Go's int64 arithmetic.
        let known = [self.exec, self.sched_wait, self.syscall, self.syscall_block]
            .into_iter()
            .chain(self.block.iter().map(|(_, d)| *d))
            .fold(0i64, i64::wrapping_add);
        if known < self.total {
            self.total.wrapping_sub(known)
        } else {
            0
        }
    }

    /// The non-overlapping stats as Go's breakdown table names its columns,
    /// in its column order: `Execution time` first, then the others sorted
    /// by name (`Block time (<reason>)`…, `Block time (syscall)`,
    /// `Sched wait time`, `Syscall execution time`, `Unknown time`).
    ///
    /// A block reason named `syscall` shares its column with the syscall
    /// block time, as in Go.
    pub fn breakdown(&self) -> Vec<(String, i64)> {
        let mut m: BTreeMap<String, i64> = BTreeMap::new();
        m.insert("Sched wait time".into(), self.sched_wait);
        m.insert("Syscall execution time".into(), self.syscall);
        m.insert("Block time (syscall)".into(), self.syscall_block);
        m.insert("Unknown time".into(), self.unknown());
        for (reason, d) in &self.block {
            let v = m.entry(block_column(reason)).or_default();
            *v = v.wrapping_add(*d);
        }
        let mut v = Vec::with_capacity(m.len() + 1);
        v.push(("Execution time".to_owned(), self.exec));
        v.extend(m);
        v
    }
}

/// The breakdown column of the block reason `reason`.
pub fn block_column(reason: &str) -> String {
    format!("Block time ({reason})")
}

fn lookup(v: &[(Arc<str>, i64)], key: &str) -> i64 {
    v.binary_search_by(|(k, _)| (**k).cmp(key))
        .map_or(0, |i| v[i].1)
}

/// One goroutine's summary (Go's `GoroutineSummary`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoroutineSummary {
    /// The goroutine.
    pub id: GoId,
    /// Its start function: the outermost frame of the first transition
    /// stack seen (`""` if none was). Shared by the goroutines of a group.
    pub name: Arc<str>,
    /// The PC of that frame (0 if none).
    pub pc: u64,
    /// When it was created, or first seen (the last Sync before it, for a
    /// goroutine that existed before the generation).
    pub creation_time: i64,
    /// When it first ran (0 if it never did).
    pub start_time: i64,
    /// When it ended (0 if it did not end within the trace).
    pub end_time: i64,
    /// Its time breakdown.
    pub stats: ExecStats,
}

impl GoroutineSummary {
    /// [`ExecStats::breakdown`] of this goroutine.
    pub fn breakdown(&self) -> Vec<(String, i64)> {
        self.stats.breakdown()
    }
}

/// Goroutines sharing a start function (a row of Go's `/goroutines`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// The start function (`""`: goroutines never seen with a stack).
    pub name: String,
    /// How many goroutines.
    pub count: usize,
    /// Their total execution time, ns.
    pub exec_time: i64,
}
