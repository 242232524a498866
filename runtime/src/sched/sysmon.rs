//! The system monitor thread: timers, and P hand-off from long syscalls.
//!
//! One sysmon thread per runtime. It sleeps until the earliest timer, or
//! indefinitely when there is none and no syscall is in flight (an idle
//! runtime burns no CPU). While syscalls are in flight it polls every
//! 20 µs, backing off to 10 ms, and takes the P of any goroutine that has
//! been in the same syscall across two polls when that P has queued work
//! (Go's `retake`), handing it to another M.

use super::proc;
use super::{Handoff, Shared};
use crate::loom::sync::atomic::{AtomicUsize, Ordering::*};
use crate::loom::sync::{Arc, Condvar, Mutex};
use crate::park::Waiter;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Entry {
    deadline: Instant,
    seq: u64,
    waiter: Waiter,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.deadline, self.seq) == (o.deadline, o.seq)
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
        (self.deadline, self.seq).cmp(&(o.deadline, o.seq))
    }
}

#[derive(Debug, Default)]
struct TimerState {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    shutdown: bool,
    /// Sysmon is waiting with no deadline.
    sleeping: bool,
}

/// The runtime's timers (sleeping goroutines) and sysmon's wake-up channel.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    state: Mutex<TimerState>,
    cv: Condvar,
    /// Timers added and not yet fired-and-delivered (for deadlock detection).
    pending: AtomicUsize,
}

impl Timers {
    /// Timers not yet delivered.
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(SeqCst)
    }

    /// Wakes `w` at `deadline`.
    pub(crate) fn add(&self, deadline: Instant, w: Waiter) {
        self.pending.fetch_add(1, SeqCst);
        let mut s = self.state.lock();
        s.seq += 1;
        let seq = s.seq;
        let earliest = s.heap.peek().is_none_or(|Reverse(e)| deadline < e.deadline);
        s.heap.push(Reverse(Entry {
            deadline,
            seq,
            waiter: w,
        }));
        if earliest {
            self.cv.notify_one();
        }
    }

    /// Makes sysmon poll (a syscall began).
    pub(crate) fn poke(&self) {
        let s = self.state.lock();
        if s.sleeping {
            self.cv.notify_one();
        }
    }

    pub(crate) fn shutdown(&self) {
        let mut s = self.state.lock();
        s.shutdown = true;
        s.heap.clear();
        self.pending.store(0, SeqCst);
        self.cv.notify_all();
    }
}

/// Body of the sysmon thread.
pub(crate) fn run(shared: Arc<Shared>) {
    let mut poll = Duration::from_micros(20);
    let mut seen: Vec<u64> = vec![u64::MAX; shared.procs.len()];
    loop {
        let mut fired = Vec::new();
        {
            let t = &shared.timers;
            let mut s = t.state.lock();
            if s.shutdown {
                return;
            }
            let now = Instant::now();
            while let Some(Reverse(e)) = s.heap.peek() {
                if e.deadline > now {
                    break;
                }
                let Some(Reverse(e)) = s.heap.pop() else {
                    break;
                };
                fired.push(e.waiter);
            }
            if fired.is_empty() {
                let syscalls = shared.in_syscall.load(SeqCst) > 0;
                let next = s.heap.peek().map(|Reverse(e)| e.deadline);
                match (syscalls, next) {
                    (false, None) => {
                        s.sleeping = true;
                        t.cv.wait(&mut s);
                        s.sleeping = false;
                    }
                    (false, Some(d)) => {
                        t.cv.wait_until(&mut s, d);
                    }
                    (true, d) => {
                        let until = Instant::now() + poll;
                        let until = d.map_or(until, |d| d.min(until));
                        t.cv.wait_until(&mut s, until);
                    }
                }
            }
        }
        for w in fired {
            w.wake();
            shared.timers.pending.fetch_sub(1, SeqCst);
        }
        if shared.in_syscall.load(SeqCst) > 0 {
            if retake(&shared, &mut seen) {
                poll = Duration::from_micros(20);
            } else {
                poll = (poll * 2).min(Duration::from_millis(10));
            }
        } else {
            poll = Duration::from_micros(20);
        }
    }
}

/// Takes Ps from goroutines stuck in a syscall when there is work for them.
fn retake(shared: &Arc<Shared>, seen: &mut [u64]) -> bool {
    let mut took = false;
    for (i, p) in shared.procs.iter().enumerate() {
        if p.status.load(Acquire) != proc::SYSCALL {
            seen[i] = u64::MAX;
            continue;
        }
        let tick = p.syscall_tick.load(Acquire);
        if seen[i] != tick {
            // First sight of this syscall: give it one poll period.
            seen[i] = tick;
            continue;
        }
        // Retake when work waits, or when no P is free for work that comes
        // (as Go's `retake`: an idle P, or a spinning M that holds a P
        // while it looks, can take new work without this one).
        let work = p.has_work_hint()
            || shared.global_len.load(Relaxed) > 0
            || (shared.npidle.load(SeqCst) == 0 && shared.nspinning.load(SeqCst) == 0);
        if !work {
            continue;
        }
        // AcqRel: claims the P from the syscall M (whose exit CAS then fails)
        // and acquires the queue state it left.
        if p.status
            .compare_exchange(proc::SYSCALL, proc::RUNNING, AcqRel, Acquire)
            .is_err()
        {
            continue;
        }
        p.stolen_from.store(p.syscall_m.load(Relaxed), Relaxed);
        let mut s = shared.sched.lock();
        if s.stw || s.shutdown {
            p.status.store(proc::IDLE, Release);
            s.idle_procs.push(i);
            shared.npidle.fetch_add(1, SeqCst);
            shared.sched_cv.notify_all();
        } else {
            shared.start_m_locked(
                &mut s,
                Handoff {
                    p: i,
                    task: None,
                    spinning: false,
                },
            );
        }
        took = true;
    }
    took
}
