//! UDP: `UdpSocket`.
#![deny(unsafe_code)]

use super::io::Io;
use super::tcp::each_addr;
use crate::netpoll::Dir;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::panic::Location;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Shared {
    io: Io,
    sock: std::net::UdpSocket,
}

/// A UDP socket; receives park the goroutine until a datagram comes, sends
/// while the socket buffer is full.
#[derive(Debug, Clone)]
pub struct UdpSocket {
    inner: Arc<Shared>,
}

impl UdpSocket {
    /// Binds a socket to `addr` (std's `UdpSocket::bind`).
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        UdpSocket::from_std(std::net::UdpSocket::bind(addr)?)
    }

    /// Wraps a std socket (made non-blocking here).
    pub fn from_std(sock: std::net::UdpSocket) -> io::Result<UdpSocket> {
        sock.set_nonblocking(true)?;
        Ok(UdpSocket {
            inner: Arc::new(Shared {
                io: Io::new(sock.as_raw_fd()),
                sock,
            }),
        })
    }

    /// Sets the default peer of `send`/`recv`, and filters what `recv`
    /// receives to it.
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        each_addr(addr, |a| self.inner.sock.connect(a))
    }

    /// Sends a datagram to the connected peer.
    #[track_caller]
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        let i = &self.inner;
        i.io.op(Dir::Write, Location::caller(), || i.sock.send(buf))
    }

    /// Receives a datagram from the connected peer.
    #[track_caller]
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        let i = &self.inner;
        i.io.op(Dir::Read, Location::caller(), || i.sock.recv(buf))
    }

    /// Sends a datagram to `addr`.
    #[track_caller]
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let (i, site) = (&self.inner, Location::caller());
        each_addr(addr, |a| {
            i.io.op(Dir::Write, site, || i.sock.send_to(buf, a))
        })
    }

    /// Receives a datagram and its sender's address.
    #[track_caller]
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let i = &self.inner;
        i.io.op(Dir::Read, Location::caller(), || i.sock.recv_from(buf))
    }

    /// Receives a datagram without consuming it.
    #[track_caller]
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let i = &self.inner;
        i.io.op(Dir::Read, Location::caller(), || i.sock.peek_from(buf))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.sock.local_addr()
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.sock.peer_addr()
    }

    /// Limits each receive's wait to `d`; replaces a read deadline.
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.inner.io.set_timeout(Dir::Read, d)
    }

    /// Limits each send's wait to `d`; replaces a write deadline.
    pub fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.inner.io.set_timeout(Dir::Write, d)
    }

    /// Go's `SetReadDeadline` (see [`crate::net`]).
    pub fn set_read_deadline(&self, when: Option<Instant>) {
        self.inner.io.set_deadline(Dir::Read, when);
    }

    /// Go's `SetWriteDeadline`.
    pub fn set_write_deadline(&self, when: Option<Instant>) {
        self.inner.io.set_deadline(Dir::Write, when);
    }

    /// Sets `SO_BROADCAST`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.inner.sock.set_broadcast(on)
    }

    /// Another handle to this socket (the same descriptor).
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        Ok(self.clone())
    }

    /// Closes the socket for every handle: waiters wake with an error.
    pub fn close(&self) {
        self.inner.io.close();
        let _ = socket2::SockRef::from(&self.inner.sock).shutdown(std::net::Shutdown::Both);
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.io.fd()
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.sock.as_fd()
    }
}
