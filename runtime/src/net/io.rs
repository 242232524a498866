//! The state every `gort::net` object shares: a descriptor's poller
//! registration, its deadlines, and the "try, wait, retry" loop (Go's
//! `internal/poll.FD`).
#![deny(unsafe_code)]

use crate::loom::sync::Mutex;
use crate::netpoll::{poll_one, Desc, Dir, Poller, Prepared, WaitError};
use crate::sched::context::Running;
use crate::sched::park::{park_at, Waiter};
use crate::sched::timer_core::{Action, Core};
use crate::sched::timers::{schedule, Target};
use crate::task::state::WaitReason;
use std::io;
use std::os::fd::RawFd;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

/// The error of an operation on a closed descriptor (Go's `net.ErrClosed`).
pub(crate) fn closed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "use of closed network connection",
    )
}

/// The error of an operation past its deadline (Go's
/// `os.ErrDeadlineExceeded`).
pub(crate) fn timeout_error() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "i/o timeout")
}

fn wait_error(e: WaitError) -> io::Error {
    match e {
        WaitError::Closed => closed_error(),
        WaitError::TimedOut => timeout_error(),
    }
}

/// A deadline timer's action: marks its direction expired and wakes the
/// waiters (Go's `netpolldeadlineimpl`; the timer's sequence number makes a
/// stale firing do nothing).
struct Expire {
    desc: Weak<Desc>,
    dir: Dir,
}

impl Action for Expire {
    fn fire(&self, _when: Instant) -> bool {
        if let Some(d) = self.desc.upgrade() {
            d.set_expired(self.dir, true);
            d.wake_all(self.dir, Waiter::wake);
        }
        true
    }

    fn drain(&self) -> bool {
        false
    }
}

/// One direction's deadline: an absolute one (a timer), or a timeout per
/// operation (`set_read_timeout`), armed only when an operation waits.
#[derive(Default)]
struct Deadline {
    timer: OnceLock<Arc<Core>>,
    /// Serialises setters.
    lock: Mutex<()>,
    /// The per-operation timeout in ns, 0 for none.
    timeout: AtomicU64,
    /// The absolute deadline, as ns since the `Io`'s creation + 1 (0: none),
    /// for waits on plain threads.
    when: AtomicU64,
}

/// A descriptor as `gort::net` objects hold it.
pub(crate) struct Io {
    fd: RawFd,
    desc: Arc<Desc>,
    poller: OnceLock<Arc<Poller>>,
    reg: Mutex<()>,
    deadlines: [Deadline; 2],
    born: Instant,
}

impl std::fmt::Debug for Io {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Io").field("fd", &self.fd).finish()
    }
}

impl Io {
    /// Wraps a descriptor the caller has put in non-blocking mode. It is
    /// registered with the poller of the runtime that first waits on it.
    pub(crate) fn new(fd: RawFd) -> Io {
        Io {
            fd,
            desc: Arc::new(Desc::new(fd)),
            poller: OnceLock::new(),
            reg: Mutex::new(()),
            deadlines: [Deadline::default(), Deadline::default()],
            born: Instant::now(),
        }
    }

    /// The wrapped descriptor.
    pub(crate) fn fd(&self) -> RawFd {
        self.fd
    }

    /// The poller this descriptor is registered with, registering it with
    /// the running goroutine's runtime's poller on first use.
    fn poller(&self, r: &Running) -> io::Result<&Arc<Poller>> {
        if let Some(p) = self.poller.get() {
            return Ok(p);
        }
        let _g = self.reg.lock();
        if let Some(p) = self.poller.get() {
            return Ok(p);
        }
        let p = r.m().shared.netpoll_or_init()?.clone();
        p.register(&self.desc)?;
        let _ = self.poller.set(p);
        self.poller
            .get()
            .ok_or_else(|| io::Error::other("gort::net: registration lost"))
    }

    /// The check every operation on `dir` starts with: fails when closed,
    /// or past the deadline unless a per-operation timeout (which counts
    /// from the operation's own first wait) replaces it. Returns that
    /// timeout in nanoseconds, 0 for none.
    fn usable(&self, dir: Dir) -> io::Result<u64> {
        let per_op = self.deadlines[dir as usize].timeout.load(Relaxed);
        if per_op == 0 {
            self.desc.check(dir).map_err(wait_error)?;
        } else if self.desc.is_closed() {
            return Err(closed_error());
        }
        Ok(per_op)
    }

    /// Runs `f` (a non-blocking I/O call) until it does not say
    /// `WouldBlock`, parking the goroutine (or blocking the thread) on
    /// `dir` in between. Fails at once when closed or past the deadline.
    /// `site` is the user's call, for the trace's `GoBlock`.
    pub(crate) fn op<R>(
        &self,
        dir: Dir,
        site: &'static Location<'static>,
        mut f: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        let per_op = self.usable(dir)?;
        self.desc.reset(dir);
        let mut armed = false;
        loop {
            match f() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if per_op != 0 && !armed {
                        // A timeout counts from the first wait of this
                        // operation; it replaces the last one's timer.
                        armed = true;
                        self.arm(dir, Some(Instant::now() + Duration::from_nanos(per_op)));
                    }
                    self.wait(dir, site)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }

    /// One attempt at `f`, never waiting: `WouldBlock` if it would block.
    /// The attempt consumes `dir`'s readiness as [`op`](Io::op)'s do, so
    /// after a `WouldBlock` [`ready`](Io::ready) waits for the next edge.
    pub(crate) fn try_op<R>(
        &self,
        dir: Dir,
        mut f: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        self.usable(dir)?;
        self.desc.reset(dir);
        loop {
            match f() {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }

    /// Waits until `dir` may be ready, as an operation that would block
    /// does: a deadline or a per-operation timeout applies, a close ends
    /// it. A readiness edge since the last attempt returns at once; the
    /// readiness is a hint, the next attempt can still find nothing.
    pub(crate) fn ready(&self, dir: Dir, site: &'static Location<'static>) -> io::Result<()> {
        let per_op = self.usable(dir)?;
        if per_op != 0 {
            self.arm(dir, Some(Instant::now() + Duration::from_nanos(per_op)));
        }
        self.wait(dir, site)
    }

    /// Waits until `dir` may be ready (then retry the call); `site` is the
    /// user's call, for the trace.
    pub(crate) fn wait(&self, dir: Dir, site: &'static Location<'static>) -> io::Result<()> {
        // The goroutine's handle ends here: the park below takes its own.
        let poller = Running::get()
            .filter(|r| !r.in_syscall())
            .map(|r| self.poller(&r).cloned());
        if let Some(p) = poller {
            let p = p?;
            crate::sched::context::note_site(site);
            return wait_parked(&self.desc, &p, dir, site).map_err(wait_error);
        }
        // A plain thread (or inside `gort::syscall`): poll(2) this one
        // descriptor, up to the deadline.
        loop {
            self.desc.check(dir).map_err(wait_error)?;
            let when = self.deadlines[dir as usize].when.load(Acquire);
            let timeout = if when == 0 {
                None
            } else {
                let at = self.born + Duration::from_nanos(when - 1);
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(timeout_error());
                }
                Some(left)
            };
            if poll_one(self.fd, dir == Dir::Write, timeout)? {
                return Ok(());
            }
        }
    }

    /// Sets `dir`'s absolute deadline (Go's `SetReadDeadline`); clears a
    /// per-operation timeout.
    pub(crate) fn set_deadline(&self, dir: Dir, when: Option<Instant>) {
        self.deadlines[dir as usize].timeout.store(0, Relaxed);
        self.arm(dir, when);
    }

    /// Sets `dir`'s per-operation timeout (std's `set_read_timeout`); clears
    /// an absolute deadline. A zero duration is refused as std does.
    pub(crate) fn set_timeout(&self, dir: Dir, d: Option<Duration>) -> io::Result<()> {
        if d.is_some_and(|d| d.is_zero()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        let ns = d.map_or(0, |d| d.as_nanos().clamp(1, u64::MAX as u128) as u64);
        self.arm(dir, None);
        self.deadlines[dir as usize].timeout.store(ns, Relaxed);
        Ok(())
    }

    /// The per-operation timeout of `dir`.
    pub(crate) fn timeout(&self, dir: Dir) -> Option<Duration> {
        match self.deadlines[dir as usize].timeout.load(Relaxed) {
            0 => None,
            ns => Some(Duration::from_nanos(ns)),
        }
    }

    /// Re-arms `dir`'s deadline timer at `when` (stopped with `None`), and
    /// sets the expired bit now for a past deadline.
    fn arm(&self, dir: Dir, when: Option<Instant>) {
        let d = &self.deadlines[dir as usize];
        let _g = d.lock.lock();
        if let Some(core) = d.timer.get() {
            // After this, no firing of an earlier arming runs (see `Core`).
            core.stop();
        }
        d.when.store(
            when.map_or(0, |w| {
                w.saturating_duration_since(self.born).as_nanos() as u64 + 1
            }),
            Release,
        );
        let Some(when) = when else {
            self.desc.set_expired(dir, false);
            return;
        };
        if when <= Instant::now() {
            self.desc.set_expired(dir, true);
            self.desc.wake_all(dir, Waiter::wake);
            return;
        }
        self.desc.set_expired(dir, false);
        let core = d.timer.get_or_init(|| {
            Arc::new(Core::new(Box::new(Expire {
                desc: Arc::downgrade(&self.desc),
                dir,
            })))
        });
        core.reset(Some(when), None, |seq, when| {
            schedule(when, Target::Timer(core.clone(), seq))
        });
    }

    /// Closes the descriptor for this process's users (Go's `pollUnblock`):
    /// waiters wake with an error, later operations fail. The descriptor
    /// itself is closed when its last owner drops it.
    pub(crate) fn close(&self) {
        self.desc.close();
        self.desc.wake_all(Dir::Read, Waiter::wake);
        self.desc.wake_all(Dir::Write, Waiter::wake);
        for d in &self.deadlines {
            if let Some(core) = d.timer.get() {
                core.stop();
            }
        }
        if let Some(p) = self.poller.get() {
            p.deregister(&self.desc);
        }
    }

    /// Whether [`close`](Io::close) was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.desc.is_closed()
    }
}

/// Parks the running goroutine until `dir` of `desc` is ready, closed or
/// past its deadline, after an I/O call said it would block (Go's
/// `netpollblock`). Ok: retry the call.
fn wait_parked(
    desc: &Desc,
    poller: &Poller,
    dir: Dir,
    site: &'static Location<'static>,
) -> Result<(), WaitError> {
    desc.check(dir)?;
    let me = Waiter::current();
    if desc.prepare(dir, &me) == Prepared::Ready {
        return Ok(());
    }
    // WAIT is published: a close or a deadline now either finds us
    // registered, or we see its bit here.
    if let Err(e) = desc.check(dir) {
        desc.unregister(dir, &me);
        return Err(e);
    }
    poller.count_waiter(true);
    park_at(WaitReason::Network, site);
    poller.count_waiter(false);
    desc.unregister(dir, &me);
    desc.check(dir)
}

impl Drop for Io {
    fn drop(&mut self) {
        self.close();
    }
}
