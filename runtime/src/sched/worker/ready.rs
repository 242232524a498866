//! Readying: queueing goroutines on this M's P (new, yielded, woken).

use super::Worker;
use crate::hooks as tr;
use crate::task::state::{transition, Status, WaitReason};
use crate::task::TaskRef;

impl Worker {
    /// Appends goroutines to this P's run queue; what overflows it, or
    /// everything if this M holds no P, goes to the global queue.
    #[inline(never)]
    pub(super) fn push_local_many(&self, ts: impl IntoIterator<Item = TaskRef>) {
        let mut ts = ts.into_iter();
        let mut overflow = Vec::new();
        self.with_local(|l| {
            for t in ts.by_ref() {
                l.queue.push_back(t, &mut |b| overflow.extend(b));
            }
        });
        overflow.extend(ts);
        if !overflow.is_empty() {
            self.shared.push_global(overflow);
        }
    }

    /// Makes `t` runnable from this M (Go's `ready`): into `runnext`, so it
    /// runs next on this P, and the old `runnext` to the local queue.
    pub(crate) fn ready(&self, t: TaskRef) {
        if self.in_syscall.get() || self.p.get().is_none() {
            self.shared.push_global(std::iter::once(t));
            return;
        }
        tr::go_unblock(self, &t, || {
            transition(&t, Status::Runnable, WaitReason::Unspecified)
        });
        let p = &self.shared.procs[self.p.get().unwrap_or_default()];
        if let Some(old) = p.runnext.replace(t) {
            self.push_local_many(std::iter::once(old));
        }
        self.shared.wakep();
    }

    /// Queues a goroutine that yielded at the back of this P's run queue,
    /// without waking an idle M (Go's `Gosched` wakes none either).
    pub(super) fn queue_yielded(&self, t: TaskRef) {
        self.push_local_many(std::iter::once(t));
    }

    /// Queues a new goroutine on this P (Go puts it in `runnext` too).
    pub(crate) fn spawn(&self, t: TaskRef) {
        let Some(p) = self.proc() else {
            self.shared.push_global(std::iter::once(t));
            return;
        };
        p.register(&t);
        if let Some(old) = p.runnext.replace(t) {
            self.push_local_many(std::iter::once(old));
        }
        self.shared.wakep();
    }
}
