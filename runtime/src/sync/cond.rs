//! `Cond`: a condition variable over [`Mutex`](super::Mutex), with Go's `sync.Cond`
//! semantics in the shape of Rust's `Condvar`.
//!
//! Waiters take tickets in arrival order; `signal` and `broadcast` advance
//! a second counter, `notified`. A waiter whose ticket is below `notified`
//! has been woken, so the condition variable never needs to know whether a
//! waiter has parked yet:
//!
//! ```text
//!   wait:       ticket = next++        (while still holding the mutex)
//!               unlock the mutex
//!               park until ticket < notified, then relock
//!   signal:     if notified < next: wake ticket `notified`, notified += 1
//!   broadcast:  wake every ticket in [notified, next), notified = next
//! ```
//!
//! Taking the ticket before unlocking is what makes a signal sent right
//! after the unlock count. A signal or broadcast with no waiter does
//! nothing and is not remembered (as in Go), so callers wait in a loop on a
//! predicate ([`Cond::wait_while`]). Wake-ups are in arrival order, like
//! Go's `notifyList`.
#![deny(unsafe_code)]

use super::MutexGuard;
use crate::sched::park::{self, Waiter};
use crate::task::WaitReason;
use std::collections::VecDeque;
use std::panic::Location;

/// A condition variable: goroutines (or plain threads) wait on it while
/// holding a [`Mutex`](super::Mutex), and another releases them with
/// [`signal`](Cond::signal) or [`broadcast`](Cond::broadcast). Go's
/// `sync.Cond`; the waiting goroutine parks, its thread runs others.
///
/// One `Cond` may be used with several mutexes (it stores none); each
/// predicate should be guarded by the mutex its waiters hold.
///
/// ```
/// use gort_runtime::sync::{Cond, Mutex};
/// use std::sync::Arc;
/// gort_runtime::run(|| {
///     let state = Arc::new((Mutex::new(false), Cond::new()));
///     let s = state.clone();
///     gort_runtime::go(move || {
///         *s.0.lock() = true;
///         s.1.signal();
///     });
///     let (m, c) = &*state;
///     let ready = c.wait_while(m.lock(), |ready| !*ready);
///     assert!(*ready);
/// });
/// ```
#[derive(Debug, Default)]
pub struct Cond {
    list: parking_lot::Mutex<List>,
}

#[derive(Debug, Default)]
struct List {
    /// The next waiter's ticket.
    next: u64,
    /// Tickets below this have been notified.
    notified: u64,
    /// Waiters that have queued and not been notified, by ticket order.
    queue: VecDeque<(u64, Waiter)>,
}

impl Cond {
    /// A condition variable with no waiters.
    pub fn new() -> Cond {
        Cond::default()
    }

    /// Unlocks the guard's mutex, parks until a [`signal`](Cond::signal)
    /// or [`broadcast`](Cond::broadcast) that comes after this call
    /// releases it, then locks the mutex again and returns the guard.
    ///
    /// The condition the caller waits for may be false again by the time
    /// the mutex is relocked: check it in a loop, or use
    /// [`wait_while`](Cond::wait_while). Traced as Go's `Cond.Wait`
    /// (block reason `sync.(*Cond).Wait`) at the caller's location.
    #[track_caller]
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        let site = Location::caller();
        let m = guard.m;
        let ticket = {
            let mut l = self.list.lock();
            let t = l.next;
            l.next += 1;
            t
        };
        drop(guard);
        self.park_until_notified(ticket, site);
        m.lock()
    }

    /// Waits while `condition` holds: checks it under the mutex and calls
    /// [`wait`](Cond::wait) until it returns false. Returns the guard with
    /// the condition false.
    #[track_caller]
    pub fn wait_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> MutexGuard<'a, T>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard);
        }
        guard
    }

    /// Wakes the longest-waiting goroutine or thread, if any. A signal with
    /// nobody waiting is lost. Holding the mutex while signalling is allowed
    /// but not required.
    pub fn signal(&self) {
        let w = {
            let mut l = self.list.lock();
            if l.notified == l.next {
                return;
            }
            let t = l.notified;
            l.notified += 1;
            // The waiter with ticket `t` may not have queued yet; then it
            // sees `t < notified` and does not park.
            match l.queue.front() {
                Some(&(qt, _)) if qt == t => l.queue.pop_front().map(|(_, w)| w),
                _ => None,
            }
        };
        if let Some(w) = w {
            w.wake();
        }
    }

    /// Wakes every goroutine and thread waiting now. Later waiters are not
    /// affected.
    pub fn broadcast(&self) {
        let ws = {
            let mut l = self.list.lock();
            if l.notified == l.next {
                return;
            }
            l.notified = l.next;
            std::mem::take(&mut l.queue)
        };
        for (_, w) in ws {
            w.wake();
        }
    }

    /// The second half of `wait`: queue and park until `ticket` is notified.
    fn park_until_notified(&self, ticket: u64, site: &'static Location<'static>) {
        {
            let mut l = self.list.lock();
            if ticket < l.notified {
                return;
            }
            // Tickets are handed out under the mutex but queued after it is
            // released, so a later ticket may queue first: keep the queue
            // sorted so that `signal` finds the oldest at the front.
            let at = l.queue.partition_point(|&(t, _)| t < ticket);
            l.queue.insert(at, (ticket, Waiter::current()));
        }
        loop {
            crate::sched::context::note_site(site);
            park::park_at(WaitReason::CondWait, site);
            // Re-check: a stale wake-up token can end a park early.
            if ticket < self.list.lock().notified {
                return;
            }
        }
    }
}
