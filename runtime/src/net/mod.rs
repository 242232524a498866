//! Networking for goroutines: `std::net`'s shapes, but a call that would
//! block parks the goroutine, not its thread (Go's `net` package on the
//! runtime's network poller).
//!
//! ```
//! use std::io::{Read, Write};
//! gort_runtime::run(|| {
//!     let l = gort_runtime::net::TcpListener::bind("127.0.0.1:0").unwrap();
//!     let addr = l.local_addr().unwrap();
//!     let server = gort_runtime::go(move || {
//!         let (mut s, _) = l.accept().unwrap();
//!         let mut buf = [0; 5];
//!         s.read_exact(&mut buf).unwrap();
//!         s.write_all(&buf).unwrap();
//!     });
//!     let mut c = gort_runtime::net::TcpStream::connect(addr).unwrap();
//!     c.write_all(b"hello").unwrap();
//!     let mut back = [0; 5];
//!     c.read_exact(&mut back).unwrap();
//!     assert_eq!(&back, b"hello");
//!     server.join().unwrap();
//! });
//! ```
//!
//! - Every descriptor is non-blocking and registered (edge-triggered, once)
//!   with the poller of the runtime whose goroutine first waits on it; use
//!   it from that runtime's goroutines (a goroutine of another runtime
//!   waiting on it is woken through the first runtime's poller, which must
//!   still run). On a plain thread the same calls block the thread
//!   (`poll(2)`).
//! - Deadlines are Go's: `set_read_deadline(Some(instant))` makes reads that
//!   wait past it fail with [`std::io::ErrorKind::TimedOut`] ("i/o timeout"),
//!   including one already waiting; the object stays usable, and a later
//!   deadline (or `None`) lets reads succeed again. `set_read_timeout` is
//!   std's: a limit on each operation's wait.
//! - `try_clone` shares the descriptor (as Go's `net.Conn` values do):
//!   a read in one goroutine and a write in another, on one socket, work.
//!   `close` wakes every goroutine waiting on it with an error
//!   ("use of closed network connection", kind `NotConnected`); the
//!   descriptor itself closes when the last handle drops.
//! - Blocking calls outside this module (files, std sockets, DNS through
//!   `ToSocketAddrs` with host names) still block the thread: wrap them in
//!   [`syscall()`](crate::syscall()).
//! - [`PollFd`] makes any pollable descriptor (a pipe, an eventfd, a
//!   socket made elsewhere) goroutine-blocking.
//! - `read_buf`/`write_buf` read into [`bytes::BytesMut`] and write
//!   [`bytes::Buf`]s without an intermediate copy.
#![deny(unsafe_code)]

mod fd;
mod io;
mod stream;
mod tcp;
mod udp;
mod unix;

pub use fd::PollFd;
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixIncoming, UnixListener, UnixStream};

use bytes::{Buf, BytesMut};
use std::io::Result;

/// Reads once into the spare capacity of `buf` (reserving `min` bytes
/// first if it has less), advancing its length by what was read: the
/// kernel writes into the buffer itself, no intermediate copy (the spare
/// room is zeroed first, as safe code must). Returns the number of bytes
/// read; 0 is end of file.
pub(crate) fn read_into(
    buf: &mut BytesMut,
    min: usize,
    mut read: impl FnMut(&mut [u8]) -> Result<usize>,
) -> Result<usize> {
    if buf.capacity() - buf.len() < min {
        buf.reserve(min);
    }
    let len = buf.capacity() - buf.len();
    let start = buf.len();
    buf.resize(start + len, 0);
    let r = read(&mut buf[start..]);
    match r {
        Ok(n) => {
            buf.truncate(start + n.min(len));
            Ok(n)
        }
        Err(e) => {
            buf.truncate(start);
            Err(e)
        }
    }
}

/// Writes all of `buf` with `write`, advancing it as bytes go out; vectored
/// over its chunks where it has several.
pub(crate) fn write_from(
    buf: &mut impl Buf,
    mut write: impl FnMut(&[std::io::IoSlice<'_>]) -> Result<usize>,
) -> Result<()> {
    while buf.has_remaining() {
        let mut slices = [std::io::IoSlice::new(&[]); 16];
        let k = buf.chunks_vectored(&mut slices);
        let n = write(&slices[..k])?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        buf.advance(n);
    }
    Ok(())
}

/// std's `read_exact` over `read`, so the caller's site reaches the trace.
pub(crate) fn read_exact_with(
    mut buf: &mut [u8],
    mut read: impl FnMut(&mut [u8]) -> Result<usize>,
) -> Result<()> {
    while !buf.is_empty() {
        match read(buf) {
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "failed to fill whole buffer",
                ))
            }
            Ok(n) => buf = &mut buf[n..],
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// std's `write_all` over `write`, so the caller's site reaches the trace.
pub(crate) fn write_all_with(
    mut buf: &[u8],
    mut write: impl FnMut(&[u8]) -> Result<usize>,
) -> Result<()> {
    while !buf.is_empty() {
        match write(buf) {
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::WriteZero,
                    "failed to write whole buffer",
                ))
            }
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// std's `read_to_end` over `read`, so the caller's site reaches the trace.
pub(crate) fn read_to_end_with(
    out: &mut Vec<u8>,
    mut read: impl FnMut(&mut [u8]) -> Result<usize>,
) -> Result<usize> {
    let start = out.len();
    let mut chunk = [0u8; 8 << 10];
    loop {
        match read(&mut chunk) {
            Ok(0) => return Ok(out.len() - start),
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The default read size of `read_buf` when the buffer has no room.
pub(crate) const READ_BUF_MIN: usize = 8 << 10;
