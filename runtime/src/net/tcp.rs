//! TCP: `TcpListener` and `TcpStream`.
#![deny(unsafe_code)]

use super::io::{closed_error, Io};
use super::stream::{stream_methods, Shared};
use crate::netpoll::Dir;
use bytes::{Buf, BytesMut};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::panic::Location;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Resolves `addr` and calls `f` on each address until one succeeds
/// (std's rule), returning the last error.
pub(crate) fn each_addr<A: ToSocketAddrs, T>(
    addr: A,
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match f(&a) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}

/// A TCP socket server, listening for connections; `accept` parks the
/// goroutine until a connection comes.
#[derive(Debug, Clone)]
pub struct TcpListener {
    inner: Arc<Shared<std::net::TcpListener>>,
}

impl TcpListener {
    /// Binds a listener to `addr` (std's `TcpListener::bind`).
    ///
    /// The socket has `SO_REUSEADDR` (as std's and Go's), and a backlog of
    /// up to 4096 pending connections (the kernel caps it at `somaxconn`),
    /// as Go's `net.Listen`, rather than std's 128: a burst of connects is
    /// queued, not dropped.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        each_addr(addr, |a| {
            let sock = Socket::new(
                Domain::for_address(*a),
                Type::STREAM.nonblocking().cloexec(),
                Some(Protocol::TCP),
            )?;
            sock.set_reuse_address(true)?;
            sock.bind(&SockAddr::from(*a))?;
            sock.listen(4096)?;
            TcpListener::from_std(sock.into())
        })
    }

    /// Wraps a std listener (made non-blocking here).
    pub fn from_std(l: std::net::TcpListener) -> io::Result<TcpListener> {
        l.set_nonblocking(true)?;
        Ok(TcpListener {
            inner: Shared::new(l),
        })
    }

    /// Accepts a connection, parking until one comes.
    ///
    /// Errors are returned as they come, and the listener stays usable:
    /// after `EMFILE` (too many open files) a later `accept` succeeds once
    /// descriptors are free again. [`incoming`](TcpListener::incoming)
    /// retries such errors itself, backing off.
    #[track_caller]
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (s, a) = self
            .inner
            .io
            .op(Dir::Read, Location::caller(), || self.inner.sock.accept())?;
        Ok((TcpStream::from_std(s)?, a))
    }

    /// An endless iterator of accepted connections. Running out of
    /// descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`) does
    /// not end it: it sleeps (5 ms, doubling up to 1 s, as Go's
    /// `http.Server`) and accepts again; other errors are yielded.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming {
            listener: self,
            backoff: Duration::ZERO,
        }
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.sock.local_addr()
    }

    /// Another handle to this listener (the same descriptor).
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        Ok(self.clone())
    }

    /// Sets a deadline for `accept` (Go's `TCPListener.SetDeadline`).
    pub fn set_accept_deadline(&self, when: Option<Instant>) {
        self.inner.io.set_deadline(Dir::Read, when);
    }

    /// Stops listening: goroutines waiting in `accept` (on any handle) wake
    /// with an error, and every later call fails.
    pub fn close(&self) {
        self.inner.io.close();
        let _ = socket2::SockRef::from(&self.inner.sock).shutdown(Shutdown::Both);
    }

    /// Sets the IP time-to-live.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.sock.set_ttl(ttl)
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.io.fd()
    }
}

impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.sock.as_fd()
    }
}

/// Whether an accept error means "out of descriptors or memory, try later".
fn temporary(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    ) || e.kind() == io::ErrorKind::ConnectionAborted
}

/// The iterator of [`TcpListener::incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
    backoff: Duration,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    #[track_caller]
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        loop {
            match self.listener.accept() {
                Ok((s, _)) => {
                    self.backoff = Duration::ZERO;
                    return Some(Ok(s));
                }
                Err(e) if temporary(&e) && !self.listener.inner.io.is_closed() => {
                    self.backoff = if self.backoff.is_zero() {
                        Duration::from_millis(5)
                    } else {
                        (self.backoff * 2).min(Duration::from_secs(1))
                    };
                    crate::sleep(self.backoff);
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// A TCP connection; reads and writes park the goroutine while the socket
/// is not ready.
#[derive(Debug, Clone)]
pub struct TcpStream {
    inner: Arc<Shared<std::net::TcpStream>>,
}

impl TcpStream {
    /// Connects to `addr`, trying each resolved address in turn.
    #[track_caller]
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        let site = Location::caller();
        each_addr(addr, |a| TcpStream::connect_addr(a, None, site))
    }

    /// Connects to `addr`, failing with `TimedOut` after `timeout`.
    #[track_caller]
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        TcpStream::connect_addr(addr, Some(Instant::now() + timeout), Location::caller())
    }

    fn connect_addr(
        addr: &SocketAddr,
        deadline: Option<Instant>,
        site: &'static Location<'static>,
    ) -> io::Result<TcpStream> {
        let sock = Socket::new(
            Domain::for_address(*addr),
            Type::STREAM.nonblocking().cloexec(),
            Some(Protocol::TCP),
        )?;
        let s = TcpStream {
            inner: Shared::new(std::net::TcpStream::from(sock)),
        };
        connect_nonblocking(
            &s.inner.io,
            &s.inner.sock,
            &SockAddr::from(*addr),
            deadline,
            site,
        )?;
        Ok(s)
    }

    /// Wraps a std stream (made non-blocking here).
    pub fn from_std(s: std::net::TcpStream) -> io::Result<TcpStream> {
        s.set_nonblocking(true)?;
        Ok(TcpStream {
            inner: Shared::new(s),
        })
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.sock.peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.sock.local_addr()
    }

    /// Shuts down the read, write or both halves (std's `shutdown`): after
    /// `Shutdown::Write` the peer reads end of file.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if self.inner.io.is_closed() {
            return Err(closed_error());
        }
        self.inner.sock.shutdown(how)
    }

    /// Another handle to this connection (the same descriptor, as Go's
    /// `net.Conn` copies): one goroutine may read while another writes.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(self.clone())
    }

    /// Sets `TCP_NODELAY`.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.inner.sock.set_nodelay(on)
    }

    /// Reads `TCP_NODELAY`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.sock.nodelay()
    }

    /// Receives without consuming.
    #[track_caller]
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .io
            .op(Dir::Read, Location::caller(), || self.inner.sock.peek(buf))
    }
}

/// A non-blocking connect: start it, wait until the socket is writable,
/// then read its outcome (Go's `netFD.connect`).
pub(crate) fn connect_nonblocking<S: AsFd>(
    io: &Io,
    sock: &S,
    addr: &SockAddr,
    deadline: Option<Instant>,
    site: &'static Location<'static>,
) -> io::Result<()> {
    let s = socket2::SockRef::from(sock);
    match s.connect(addr) {
        Ok(()) => return Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
        Err(e) => return Err(e),
    }
    if deadline.is_some() {
        io.set_deadline(Dir::Write, deadline);
    }
    let r = (|| loop {
        io.wait(Dir::Write, site)?;
        if let Some(e) = s.take_error()? {
            return Err(e);
        }
        match s.peer_addr() {
            Ok(_) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => continue,
            Err(e) => return Err(e),
        }
    })();
    if deadline.is_some() {
        io.set_deadline(Dir::Write, None);
    }
    r
}

stream_methods!(TcpStream);
