//! The network poller: goroutines wait on file descriptors, not threads
//! (Go's netpoll).
//!
//! **Choice: epoll directly, through `libc`** (already a dependency), not
//! `mio` or `polling`:
//! - Go's integration needs concurrent polls of one poller: any M with an
//!   empty run queue polls without blocking while another M may be blocked
//!   in the poll. `epoll_wait` on one fd from several threads does exactly
//!   that; `mio::Poll::poll` takes `&mut self` (a lock, and a non-blocking
//!   poll that has to skip when the lock is held), and `polling::Poller::wait`
//!   returns at once, without polling, while another thread waits.
//! - Go's registration model is edge-triggered, once per descriptor, for
//!   both directions, with an eventfd to break a blocked poll: 30 lines of
//!   system calls (`sys`), the only `unsafe` of the poller.
//! - The blocked poll's deadline is the earliest timer: `epoll_pwait2` takes
//!   it in nanoseconds (Linux 5.11+; older kernels get `epoll_wait` with the
//!   milliseconds rounded up, so a timer is never run early). mio rounds up
//!   always; `polling` pays a timerfd per wait.
//!
//! Linux only, as the rest of the runtime.
//!
//! Structure (the names are Go's):
//! - [`Desc`] is a `pollDesc`: a descriptor's closing and deadline-expired
//!   bits and, per direction, the ready/wait handshake of [`half`].
//! - [`Poller`] owns the epoll instance, the wake-up eventfd, and the
//!   registrations (a slab: the epoll token is a slot index and a
//!   generation, so a late event for a reused slot is dropped, Go's
//!   `fdseq`). [`Poller::poll`] claims the goroutines that readiness wakes
//!   and hands them back; the scheduler queues them.
//! - The scheduler polls (`sched::worker`, `sched::timers`, `sched::sysmon`):
//!   without blocking when an M's run queues are empty; blocking, by the one
//!   idle M that sleeps until the earliest timer, when a poller exists; from
//!   sysmon when nobody polled for 10 ms. [`Poller::wake`] breaks the
//!   blocked poll (an earlier timer, a P handed to the polling M).
//! - Goroutines parked here are counted ([`Poller::waiters`]): while any
//!   waits the runtime reports no deadlock, and an M blocks in the poll.

pub(crate) mod half;
#[cfg(not(loom))]
mod sys;

#[cfg(not(loom))]
pub(crate) use imp::*;

#[cfg(not(loom))]
#[deny(unsafe_code)]
mod imp {
    use super::half::Half;
    pub(crate) use super::half::Prepared;
    use super::sys::{self, Epoll, Event, EventFd};
    use crate::loom::sync::Mutex;
    use crate::park::{ParkWord, Waiter};
    use crate::task::TaskRef;
    use std::io;
    use std::os::fd::RawFd;
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    pub(crate) use sys::{poll_one, set_nonblocking};

    /// The token of the wake-up eventfd.
    const WAKE_TOKEN: u64 = u64::MAX;

    /// A direction of a descriptor.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum Dir {
        Read = 0,
        Write = 1,
    }

    /// Why a wait ended without readiness (Go's `pollErrClosing` /
    /// `pollErrTimeout`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum WaitError {
        /// The descriptor was closed.
        Closed,
        /// The direction's deadline passed.
        TimedOut,
    }

    /// A polled descriptor (Go's `pollDesc`).
    #[derive(Debug)]
    pub(crate) struct Desc {
        fd: RawFd,
        closing: AtomicBool,
        expired: [AtomicBool; 2],
        halves: [Half<Waiter>; 2],
        /// The registration's epoll token, once registered.
        token: AtomicU64,
    }

    fn same(me: &Waiter) -> impl Fn(&Waiter) -> bool + '_ {
        move |w| match (me, w) {
            (Waiter::Task(a), Waiter::Task(b)) => crate::task::TaskRef::ptr_eq(a, b),
            (Waiter::Thread(a), Waiter::Thread(b)) => a.id() == b.id(),
            _ => false,
        }
    }

    impl Desc {
        /// A descriptor's state, not yet registered with a poller.
        pub(crate) fn new(fd: RawFd) -> Desc {
            Desc {
                fd,
                closing: AtomicBool::new(false),
                expired: [AtomicBool::new(false), AtomicBool::new(false)],
                halves: [Half::default(), Half::default()],
                token: AtomicU64::new(WAKE_TOKEN),
            }
        }

        /// The closing and expired bits of `dir` (Go's `netpollcheckerr`).
        #[inline]
        pub(crate) fn check(&self, dir: Dir) -> Result<(), WaitError> {
            if self.closing.load(Acquire) {
                return Err(WaitError::Closed);
            }
            if self.expired[dir as usize].load(Acquire) {
                return Err(WaitError::TimedOut);
            }
            Ok(())
        }

        /// Drops a readiness edge left from before (Go's `pollReset`): call
        /// at the start of an operation, before its first I/O call.
        #[inline]
        pub(crate) fn reset(&self, dir: Dir) {
            self.halves[dir as usize].take_ready();
        }

        /// The waiter's side of `dir`'s handshake, after an I/O call would
        /// block: consumes a pending edge ([`Prepared::Ready`]: retry), or
        /// registers `me` ([`Prepared::Park`]: re-check [`check`](Desc::check),
        /// park, then [`unregister`](Desc::unregister)).
        pub(crate) fn prepare(&self, dir: Dir, me: &Waiter) -> Prepared {
            self.halves[dir as usize].prepare(me.clone(), same(me))
        }

        /// Takes `me` off `dir`'s waiters if it is still there.
        pub(crate) fn unregister(&self, dir: Dir, me: &Waiter) {
            self.halves[dir as usize].unregister(same(me));
        }

        /// Sets or clears `dir`'s expired bit (Go's `publishInfo`); after
        /// setting it, wake the waiters with [`wake_all`](Desc::wake_all).
        pub(crate) fn set_expired(&self, dir: Dir, expired: bool) {
            self.expired[dir as usize].store(expired, Release);
        }

        /// Marks the descriptor closed (Go's `pollUnblock`); then wake the
        /// waiters of both directions, which return [`WaitError::Closed`].
        pub(crate) fn close(&self) {
            self.closing.store(true, Release);
        }

        /// Hands every waiter registered on `dir` to `wake`.
        pub(crate) fn wake_all(&self, dir: Dir, wake: impl FnMut(Waiter)) {
            self.halves[dir as usize].wake_all(wake);
        }

        /// Whether [`close`](Desc::close) was called.
        pub(crate) fn is_closed(&self) -> bool {
            self.closing.load(Acquire)
        }

        fn notify(&self, ev: &Event, out: &mut Vec<TaskRef>) {
            let mut wake = |w: Waiter| match w {
                Waiter::Task(t) => {
                    if ParkWord::new(&t.park).unpark() {
                        out.push(t);
                    }
                }
                Waiter::Thread(th) => th.unpark(),
            };
            if ev.readable {
                self.halves[Dir::Read as usize].notify(&mut wake);
            }
            if ev.writable {
                self.halves[Dir::Write as usize].notify(&mut wake);
            }
        }
    }

    #[derive(Default)]
    struct Slab {
        slots: Vec<(u32, Option<Arc<Desc>>)>,
        free: Vec<u32>,
    }

    /// The epoll instance, its wake-up line and its registrations.
    pub(crate) struct Poller {
        epoll: Epoll,
        wake_fd: EventFd,
        /// A wake is pending in the eventfd (coalesces wakes: Go's
        /// `netpollWakeSig`).
        wake_sig: AtomicBool,
        slab: Mutex<Slab>,
        /// Goroutines parked on a descriptor.
        waiters: AtomicUsize,
        /// When a poll last ended (ns since `epoch`), 0 while an M is blocked
        /// in one (Go's `sched.lastpoll`).
        last_poll: AtomicU64,
        epoch: Instant,
    }

    impl std::fmt::Debug for Poller {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Poller")
                .field("waiters", &self.waiters.load(Relaxed))
                .finish()
        }
    }

    impl Poller {
        pub(crate) fn new() -> io::Result<Poller> {
            let epoll = Epoll::new()?;
            let wake_fd = EventFd::new()?;
            epoll.add_level_read(wake_fd.raw(), WAKE_TOKEN)?;
            Ok(Poller {
                epoll,
                wake_fd,
                wake_sig: AtomicBool::new(false),
                slab: Mutex::new(Slab::default()),
                waiters: AtomicUsize::new(0),
                last_poll: AtomicU64::new(1),
                epoch: Instant::now(),
            })
        }

        /// Registers `desc`'s descriptor, edge-triggered for both
        /// directions. An edge from before the registration is reported by
        /// the first poll after it.
        pub(crate) fn register(&self, desc: &Arc<Desc>) -> io::Result<()> {
            let token = {
                let mut s = self.slab.lock();
                let idx = match s.free.pop() {
                    Some(i) => i,
                    None => {
                        s.slots.push((0, None));
                        (s.slots.len() - 1) as u32
                    }
                };
                let slot = &mut s.slots[idx as usize];
                slot.0 = slot.0.wrapping_add(1);
                slot.1 = Some(desc.clone());
                (u64::from(slot.0) << 32) | u64::from(idx)
            };
            desc.token.store(token, Release);
            if let Err(e) = self.epoll.add_edge(desc.fd, token) {
                self.free_slot(token);
                desc.token.store(WAKE_TOKEN, Release);
                return Err(e);
            }
            Ok(())
        }

        fn free_slot(&self, token: u64) {
            let idx = (token & u32::MAX as u64) as usize;
            let gen = (token >> 32) as u32;
            let mut s = self.slab.lock();
            if let Some(slot) = s.slots.get_mut(idx) {
                if slot.0 == gen && slot.1.is_some() {
                    slot.1 = None;
                    s.free.push(idx as u32);
                }
            }
        }

        /// Removes `desc`'s registration (before its descriptor is closed).
        pub(crate) fn deregister(&self, desc: &Desc) {
            let token = desc.token.swap(WAKE_TOKEN, AcqRel);
            if token == WAKE_TOKEN {
                return;
            }
            // A descriptor already closed elsewhere is gone from the set.
            let _ = self.epoll.delete(desc.fd);
            self.free_slot(token);
        }

        /// Goroutines parked on descriptors of this poller.
        #[inline]
        pub(crate) fn waiters(&self) -> usize {
            self.waiters.load(SeqCst)
        }

        /// Counts a goroutine about to park on a descriptor of this poller
        /// (`true`), or one back from that park (`false`).
        #[inline]
        pub(crate) fn count_waiter(&self, parking: bool) {
            if parking {
                self.waiters.fetch_add(1, SeqCst);
            } else {
                self.waiters.fetch_sub(1, SeqCst);
            }
        }

        /// Whether an M is blocked in [`poll`](Poller::poll) now.
        #[inline]
        pub(crate) fn blocked(&self) -> bool {
            self.last_poll.load(Relaxed) == 0
        }

        /// Whether nobody polled for `d` (and nobody is blocked polling).
        pub(crate) fn stale(&self, d: Duration) -> bool {
            let last = self.last_poll.load(Relaxed);
            last != 0 && self.now() > last.saturating_add(d.as_nanos() as u64)
        }

        fn now(&self) -> u64 {
            (self.epoch.elapsed().as_nanos() as u64).max(1)
        }

        /// Polls: waits up to `timeout` (`Some(ZERO)`: not at all; `None`:
        /// until an event or a [`wake`](Poller::wake)), and appends the
        /// goroutines readiness made runnable to `out`, claimed (moved from
        /// parked to runnable by their park word): the caller queues them.
        pub(crate) fn poll(&self, timeout: Option<Duration>, out: &mut Vec<TaskRef>) {
            let blocking = timeout != Some(Duration::ZERO);
            if blocking {
                self.last_poll.store(0, Relaxed);
            }
            let mut evs = [None; sys::MAX_EVENTS];
            let (mut n, mut woken) = (0, false);
            let r = self.epoll.wait(timeout, |ev| {
                if ev.token == WAKE_TOKEN {
                    woken = true;
                } else if n < evs.len() {
                    evs[n] = Some(ev);
                    n += 1;
                }
            });
            self.last_poll.store(self.now(), Relaxed);
            if let Err(e) = r {
                // Only EBADF/EFAULT/EINVAL, which our own fd and buffer rule out.
                crate::fatal(&format!("netpoll: epoll_wait failed: {e}"));
            }
            if blocking && woken {
                self.wake_fd.drain();
                self.wake_sig.store(false, SeqCst);
            }
            if n == 0 {
                return;
            }
            let mut descs = Vec::with_capacity(n);
            {
                let s = self.slab.lock();
                for ev in evs[..n].iter().flatten() {
                    let idx = (ev.token & u32::MAX as u64) as usize;
                    let gen = (ev.token >> 32) as u32;
                    if let Some((g, Some(d))) = s.slots.get(idx) {
                        if *g == gen {
                            descs.push((d.clone(), *ev));
                        }
                    }
                }
            }
            for (d, ev) in descs {
                d.notify(&ev, out);
            }
        }

        /// Ends a blocked [`poll`](Poller::poll) now, or the next one if none
        /// is blocked (Go's `netpollBreak`).
        pub(crate) fn wake(&self) {
            if self
                .wake_sig
                .compare_exchange(false, true, SeqCst, Relaxed)
                .is_ok()
            {
                self.wake_fd.signal();
            }
        }

        /// Runtime shutdown: drops every registration and the waiters they
        /// hold (parked goroutines hold the runtime).
        pub(crate) fn shutdown(&self) {
            let slots = std::mem::take(&mut *self.slab.lock());
            for d in slots.slots.into_iter().filter_map(|s| s.1) {
                for h in &d.halves {
                    h.wake_all(drop);
                }
            }
        }
    }
}
