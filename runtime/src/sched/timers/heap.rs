//! One timer heap: entries ordered by deadline, a `next` word read without
//! the lock, and a count of stale entries.

use super::super::timer_core::Core;
use crate::loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering::*};
use crate::loom::sync::{Arc, Mutex};
use crate::sched::park::Waiter;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::OnceLock;
use std::time::Instant;

/// No entry (the `next` word of an empty heap).
pub(super) const NONE: u64 = u64::MAX;

/// What a heap entry does when due.
pub(crate) enum Target {
    /// Wake a sleeping goroutine (or thread).
    Wake(Waiter),
    /// Fire a timer's arming `seq`.
    Timer(Arc<Core>, u64),
}

pub(super) struct Entry {
    when: Instant,
    /// Insertion order: equal deadlines fire first come, first served.
    order: u64,
    target: Target,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.when, self.order) == (o.when, o.order)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.when, self.order).cmp(&(o.when, o.order))
    }
}

/// The process's time origin for the heaps' lock-free `next` words.
pub(super) fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

pub(super) fn nanos(t: Instant) -> u64 {
    t.saturating_duration_since(epoch())
        .as_nanos()
        .min(NONE as u128 - 1) as u64
}

#[derive(Default)]
struct HeapState {
    heap: BinaryHeap<Reverse<Entry>>,
    order: u64,
}

/// One timer heap (a P's, or the process-wide one).
pub(crate) struct Heap {
    state: Mutex<HeapState>,
    /// Deadline of the earliest entry (nanoseconds since [`epoch`]), or
    /// [`NONE`]: read without the lock by the Ms deciding whether to look.
    pub(super) next: AtomicU64,
    len: AtomicUsize,
    /// Entries known stale (see [`Core`]); shared with the cores that make
    /// them so.
    pub(super) zombies: Arc<AtomicUsize>,
}

impl Default for Heap {
    fn default() -> Heap {
        Heap {
            state: Mutex::new(HeapState::default()),
            next: AtomicU64::new(NONE),
            len: AtomicUsize::new(0),
            zombies: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl std::fmt::Debug for Heap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Heap")
            .field("len", &self.len.load(Relaxed))
            .field("zombies", &self.zombies.load(Relaxed))
            .finish()
    }
}

impl Heap {
    /// Queues `target` at `when`; returns whether it is now the earliest.
    pub(super) fn push(&self, when: Instant, target: Target) -> bool {
        let mut s = self.state.lock();
        s.order += 1;
        let order = s.order;
        s.heap.push(Reverse(Entry {
            when,
            order,
            target,
        }));
        self.len.store(s.heap.len(), SeqCst);
        let n = nanos(when);
        let earliest = n < self.next.load(Relaxed);
        if earliest {
            self.next.store(n, SeqCst);
        }
        earliest
    }

    /// The earliest deadline, if any.
    pub(super) fn next_when(&self) -> Option<u64> {
        let n = self.next.load(SeqCst);
        (n != NONE).then_some(n)
    }

    /// Pops the entries due at `now` into `out`, after purging zombies if
    /// they are more than a quarter of the heap.
    pub(super) fn take_due(&self, now: Instant, out: &mut Vec<Entry>) {
        let mut s = self.state.lock();
        let z = self.zombies.load(SeqCst);
        if z > 0 && z * 4 >= s.heap.len() {
            let before = s.heap.len();
            s.heap.retain(|Reverse(e)| match &e.target {
                Target::Timer(c, seq) => c.seq() == *seq,
                Target::Wake(_) => true,
            });
            uncount(&self.zombies, before - s.heap.len());
        }
        while s.heap.peek().is_some_and(|Reverse(e)| e.when <= now) {
            if let Some(Reverse(e)) = s.heap.pop() {
                out.push(e);
            }
        }
        self.len.store(s.heap.len(), SeqCst);
        let n = s.heap.peek().map_or(NONE, |Reverse(e)| nanos(e.when));
        self.next.store(n, SeqCst);
    }

    /// Entries not known stale.
    pub(super) fn live(&self) -> usize {
        self.len
            .load(SeqCst)
            .saturating_sub(self.zombies.load(SeqCst))
    }

    /// Empties the heap (runtime shutdown); the entries drop after the lock.
    pub(super) fn clear(&self) -> Vec<Reverse<Entry>> {
        let mut s = self.state.lock();
        self.len.store(0, SeqCst);
        self.next.store(NONE, SeqCst);
        self.zombies.store(0, SeqCst);
        std::mem::take(&mut s.heap).into_vec()
    }
}

/// Takes `n` off a zombie count (a hint: it never wraps).
fn uncount(z: &AtomicUsize, n: usize) {
    if n > 0 {
        let _ = z.fetch_update(SeqCst, SeqCst, |v| Some(v.saturating_sub(n)));
    }
}

/// Runs due entries popped from `from`; a periodic timer's next entry goes
/// to `to`. Returns whether anything ran (stale entries do not count).
pub(super) fn fire_all(
    entries: Vec<Entry>,
    now: Instant,
    from: &Heap,
    to: &dyn Fn(Instant, Target) -> Arc<AtomicUsize>,
) -> bool {
    let mut ran = false;
    for e in entries {
        match e.target {
            Target::Wake(w) => {
                w.wake();
                ran = true;
            }
            Target::Timer(c, seq) => {
                let core = c.clone();
                let fired = c.fire(seq, now, |seq, when| to(when, Target::Timer(core, seq)));
                if fired {
                    ran = true;
                } else {
                    uncount(&from.zombies, 1);
                }
            }
        }
    }
    ran
}

#[cfg(test)]
mod tests {
    use super::{Heap, Target};
    use crate::sched::park::Waiter;
    use std::time::{Duration, Instant};

    /// Entries come out in deadline order, whatever the insertion order,
    /// and only those due.
    #[test]
    fn due_entries_come_out_in_deadline_order() {
        let h = Heap::default();
        let base = Instant::now();
        let ms = |n: u64| base + Duration::from_millis(n);
        for n in [30, 10, 20, 40] {
            h.push(ms(n), Target::Wake(Waiter::Thread(std::thread::current())));
        }
        assert_eq!(h.live(), 4);
        let mut out = Vec::new();
        h.take_due(ms(35), &mut out);
        let got: Vec<Instant> = out.iter().map(|e| e.when).collect();
        assert_eq!(got, [ms(10), ms(20), ms(30)]);
        assert_eq!(h.live(), 1, "the entry not yet due stays");
        // Equal deadlines keep their insertion order.
        h.push(ms(50), Target::Wake(Waiter::Thread(std::thread::current())));
        h.push(ms(50), Target::Wake(Waiter::Thread(std::thread::current())));
        out.clear();
        h.take_due(ms(60), &mut out);
        let orders: Vec<u64> = out.iter().map(|e| e.order).collect();
        assert!(orders.windows(2).all(|w| w[0] < w[1]), "{orders:?}");
    }
}
