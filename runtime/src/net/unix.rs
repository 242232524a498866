//! Unix domain sockets: `UnixListener` and `UnixStream`.
#![deny(unsafe_code)]

use super::io::closed_error;
use super::stream::{stream_methods, Shared};
use super::tcp::connect_nonblocking;
use crate::netpoll::Dir;
use bytes::{Buf, BytesMut};
use socket2::{Domain, SockAddr, Socket, Type};
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::panic::Location;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A Unix domain socket server.
#[derive(Debug, Clone)]
pub struct UnixListener {
    inner: Arc<Shared<std::os::unix::net::UnixListener>>,
}

impl UnixListener {
    /// Binds a listener to the socket file `path`.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        UnixListener::from_std(std::os::unix::net::UnixListener::bind(path)?)
    }

    /// Wraps a std listener (made non-blocking here).
    pub fn from_std(l: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        l.set_nonblocking(true)?;
        Ok(UnixListener {
            inner: Shared::new(l),
        })
    }

    /// Accepts a connection, parking until one comes.
    #[track_caller]
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (s, a) = self
            .inner
            .io
            .op(Dir::Read, Location::caller(), || self.inner.sock.accept())?;
        Ok((UnixStream::from_std(s)?, a))
    }

    /// An iterator of accepted connections (errors are yielded).
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming { listener: self }
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.sock.local_addr()
    }

    /// Stops listening: waiting `accept`s wake with an error.
    pub fn close(&self) {
        self.inner.io.close();
        let _ = socket2::SockRef::from(&self.inner.sock).shutdown(Shutdown::Both);
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.io.fd()
    }
}

/// The iterator of [`UnixListener::incoming`].
#[derive(Debug)]
pub struct UnixIncoming<'a> {
    listener: &'a UnixListener,
}

impl Iterator for UnixIncoming<'_> {
    type Item = io::Result<UnixStream>;

    #[track_caller]
    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

/// A Unix domain stream connection.
#[derive(Debug, Clone)]
pub struct UnixStream {
    inner: Arc<Shared<std::os::unix::net::UnixStream>>,
}

impl UnixStream {
    /// Connects to the socket file `path`.
    #[track_caller]
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let addr = SockAddr::unix(path)?;
        let sock = Socket::new(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None)?;
        let s = UnixStream {
            inner: Shared::new(std::os::unix::net::UnixStream::from(
                std::os::fd::OwnedFd::from(sock),
            )),
        };
        connect_nonblocking(&s.inner.io, &s.inner.sock, &addr, None, Location::caller())?;
        Ok(s)
    }

    /// A connected pair.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
    }

    /// Wraps a std stream (made non-blocking here).
    pub fn from_std(s: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        s.set_nonblocking(true)?;
        Ok(UnixStream {
            inner: Shared::new(s),
        })
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.sock.local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.sock.peer_addr()
    }

    /// Shuts down the read, write or both halves.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if self.inner.io.is_closed() {
            return Err(closed_error());
        }
        self.inner.sock.shutdown(how)
    }

    /// Another handle to this connection (the same descriptor).
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        Ok(self.clone())
    }
}

stream_methods!(UnixStream);
