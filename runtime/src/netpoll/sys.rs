//! The system calls of the poller: epoll and an eventfd, through `libc`.
//! Every `unsafe` block of the poller is here.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Events one poll reports at most (Go's 128).
pub(crate) const MAX_EVENTS: usize = 128;

/// One readiness report: the registration's token and its event bits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Event {
    pub(crate) token: u64,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
}

/// An epoll instance.
#[derive(Debug)]
pub(crate) struct Epoll {
    fd: OwnedFd,
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl Epoll {
    pub(crate) fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers; a non-negative result is
        // a new descriptor that only this `OwnedFd` owns.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `fd` was just returned by the kernel and is owned by no one else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Epoll { fd })
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call;
        // the kernel copies it and keeps no pointer.
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &mut ev) })?;
        Ok(())
    }

    /// Registers `fd` once for both directions, edge-triggered (Go's
    /// `netpollopen`: never re-armed).
    pub(crate) fn add_edge(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let ev = libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET;
        self.ctl(libc::EPOLL_CTL_ADD, fd, ev as u32, token)
    }

    /// Registers `fd` for reading, level-triggered (the wake-up eventfd).
    pub(crate) fn add_level_read(&self, fd: RawFd, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, libc::EPOLLIN as u32, token)
    }

    pub(crate) fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0)
    }

    /// Waits up to `timeout` (forever with `None`, not at all with zero)
    /// and calls `each` for every ready registration (at most
    /// [`MAX_EVENTS`]). Nanosecond timeouts through
    /// `epoll_pwait2` where the kernel has it, else milliseconds rounded up
    /// (a timer is never run early; at most 1 ms late). `EINTR` reports
    /// nothing.
    pub(crate) fn wait(
        &self,
        timeout: Option<Duration>,
        mut each: impl FnMut(Event),
    ) -> io::Result<()> {
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS];
        let n = self.wait_raw(&mut evs, timeout)?;
        for ev in &evs[..n] {
            let bits = ev.events as libc::c_int;
            each(Event {
                token: ev.u64,
                readable: bits
                    & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR)
                    != 0,
                writable: bits & (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) != 0,
            });
        }
        Ok(())
    }

    fn wait_raw(
        &self,
        evs: &mut [libc::epoll_event],
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
        static NO_PWAIT2: AtomicBool = AtomicBool::new(false);
        let max = evs.len() as libc::c_int;
        let r = match timeout {
            Some(d) if !d.is_zero() && !NO_PWAIT2.load(Relaxed) => {
                let ts = libc::timespec {
                    tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
                    tv_nsec: d.subsec_nanos() as libc::c_long,
                };
                // SAFETY: `evs` has room for `max` events and `ts` lives
                // through the call; a null sigmask leaves the mask alone.
                let r = unsafe {
                    libc::syscall(
                        libc::SYS_epoll_pwait2,
                        self.fd.as_raw_fd(),
                        evs.as_mut_ptr(),
                        max,
                        &ts as *const libc::timespec,
                        std::ptr::null::<libc::sigset_t>(),
                        0usize,
                    )
                };
                if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
                    NO_PWAIT2.store(true, Relaxed);
                    return self.wait_raw(evs, timeout);
                }
                r as libc::c_int
            }
            _ => {
                let ms = match timeout {
                    None => -1,
                    Some(d) => {
                        let ms = d.as_nanos().div_ceil(1_000_000);
                        ms.min(i32::MAX as u128) as libc::c_int
                    }
                };
                // SAFETY: `evs` has room for `max` events.
                unsafe { libc::epoll_wait(self.fd.as_raw_fd(), evs.as_mut_ptr(), max, ms) }
            }
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(0);
            }
            return Err(e);
        }
        Ok(r as usize)
    }
}

/// A non-blocking eventfd: the poller's wake-up line.
#[derive(Debug)]
pub(crate) struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    pub(crate) fn new() -> io::Result<EventFd> {
        // SAFETY: no pointers; a non-negative result is a new descriptor.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        // SAFETY: `fd` is new and owned by no one else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(EventFd { fd })
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Adds one to the counter (makes the descriptor readable). A full
    /// counter (`EAGAIN`) is readable already.
    pub(crate) fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64.
        let _ = unsafe { libc::write(self.raw(), (&one as *const u64).cast(), 8) };
    }

    /// Resets the counter (`EAGAIN` when it was zero: nothing to do).
    pub(crate) fn drain(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live u64.
        let _ = unsafe { libc::read(self.raw(), (&mut v as *mut u64).cast(), 8) };
    }
}

/// Waits on one descriptor with `poll(2)` (a plain thread, outside the
/// runtime's poller): `write` selects the direction. Returns false on
/// timeout.
pub(crate) fn poll_one(fd: RawFd, write: bool, timeout: Option<Duration>) -> io::Result<bool> {
    let events = if write { libc::POLLOUT } else { libc::POLLIN };
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let ms = match timeout {
        None => -1,
        Some(d) => d.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    let r = unsafe { libc::poll(&mut p, 1, ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(true);
        }
        return Err(e);
    }
    Ok(r > 0)
}

/// Puts `fd` in non-blocking mode (`O_NONBLOCK`).
pub(crate) fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl with F_GETFL/F_SETFL takes no pointers; a bad `fd`
    // fails with EBADF.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    if flags & libc::O_NONBLOCK == 0 {
        // SAFETY: as above.
        cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    }
    Ok(())
}
