//! `PollFd`: any pollable descriptor, goroutine-blocking.
#![deny(unsafe_code)]

use super::io::Io;
use crate::netpoll::{set_nonblocking, Dir};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::panic::Location;
use std::time::{Duration, Instant};

/// Makes any descriptor `epoll` can watch (a pipe, an eventfd, a socket
/// made by another library, a tty) goroutine-blocking: `T` owns it, and
/// [`read_with`](PollFd::read_with) / [`write_with`](PollFd::write_with)
/// run the caller's non-blocking call, parking the goroutine while it says
/// `WouldBlock`.
///
/// ```
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
/// gort_runtime::run(|| {
///     let (a, b) = UnixStream::pair().unwrap();
///     let mut a = gort_runtime::net::PollFd::new(a).unwrap();
///     let mut b = gort_runtime::net::PollFd::new(b).unwrap();
///     let r = gort_runtime::go(move || {
///         let mut buf = [0; 2];
///         b.read_exact(&mut buf).unwrap();
///         buf
///     });
///     a.write_all(b"hi").unwrap();
///     assert_eq!(&r.join().unwrap(), b"hi");
/// });
/// ```
#[derive(Debug)]
pub struct PollFd<T: AsRawFd> {
    io: Io,
    inner: T,
}

impl<T: AsRawFd> PollFd<T> {
    /// Takes `inner`, putting its descriptor in non-blocking mode.
    pub fn new(inner: T) -> io::Result<PollFd<T>> {
        set_nonblocking(inner.as_raw_fd())?;
        Ok(PollFd {
            io: Io::new(inner.as_raw_fd()),
            inner,
        })
    }

    /// The wrapped object.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped object, mutably (its descriptor must stay the same and
    /// non-blocking).
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the object (still in non-blocking mode).
    pub fn into_inner(self) -> T {
        self.io.close();
        let PollFd { io, inner } = self;
        drop(io);
        inner
    }

    /// Runs `f` until it does not fail with `WouldBlock`, parking until the
    /// descriptor is readable in between.
    #[track_caller]
    pub fn read_with<R>(&self, mut f: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.io.op(Dir::Read, Location::caller(), || f(&self.inner))
    }

    /// [`read_with`](PollFd::read_with) with `&mut T`.
    #[track_caller]
    pub fn read_with_mut<R>(
        &mut self,
        mut f: impl FnMut(&mut T) -> io::Result<R>,
    ) -> io::Result<R> {
        let inner = &mut self.inner;
        self.io.op(Dir::Read, Location::caller(), || f(inner))
    }

    /// Runs `f` until it does not fail with `WouldBlock`, parking until the
    /// descriptor is writable in between.
    #[track_caller]
    pub fn write_with<R>(&self, mut f: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.io
            .op(Dir::Write, Location::caller(), || f(&self.inner))
    }

    /// [`write_with`](PollFd::write_with) with `&mut T`.
    #[track_caller]
    pub fn write_with_mut<R>(
        &mut self,
        mut f: impl FnMut(&mut T) -> io::Result<R>,
    ) -> io::Result<R> {
        let inner = &mut self.inner;
        self.io.op(Dir::Write, Location::caller(), || f(inner))
    }

    /// Parks until the descriptor may be readable (a hint: the next call
    /// can still say `WouldBlock`). The read deadline or timeout applies.
    #[track_caller]
    pub fn readable(&self) -> io::Result<()> {
        self.io.ready(Dir::Read, Location::caller())
    }

    /// Parks until the descriptor may be writable. The write deadline or
    /// timeout applies.
    #[track_caller]
    pub fn writable(&self) -> io::Result<()> {
        self.io.ready(Dir::Write, Location::caller())
    }

    /// Go's `SetReadDeadline` for the read side.
    pub fn set_read_deadline(&self, when: Option<Instant>) {
        self.io.set_deadline(Dir::Read, when);
    }

    /// Go's `SetWriteDeadline` for the write side.
    pub fn set_write_deadline(&self, when: Option<Instant>) {
        self.io.set_deadline(Dir::Write, when);
    }

    /// Limits each read's wait to `d`.
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.io.set_timeout(Dir::Read, d)
    }

    /// Limits each write's wait to `d`.
    pub fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.io.set_timeout(Dir::Write, d)
    }

    /// Wakes every goroutine waiting on this descriptor with an error;
    /// later calls fail. The descriptor closes when `T` drops.
    pub fn close(&self) {
        self.io.close();
    }
}

impl<T: AsRawFd + Read> Read for PollFd<T> {
    #[track_caller]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_with_mut(|t| t.read(buf))
    }
}

impl<T: AsRawFd + Write> Write for PollFd<T> {
    #[track_caller]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_with_mut(|t| t.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_with_mut(|t| t.flush())
    }
}

impl<T: AsRawFd> AsRawFd for PollFd<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl<T: AsRawFd + AsFd> AsFd for PollFd<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}
