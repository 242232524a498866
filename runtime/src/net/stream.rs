//! What `TcpStream` and `UnixStream` share: the descriptor with its poller
//! state ([`Shared`]), and one definition of their timeouts, deadlines,
//! `close`, `read_buf`/`write_buf`, `Read`/`Write` (for the stream and for
//! `&` the stream) and `AsRawFd`/`AsFd` ([`stream_methods!`]).
#![deny(unsafe_code)]

use super::io::Io;
use std::os::fd::AsRawFd;
use std::sync::Arc;

/// A descriptor and its poller state, shared by `try_clone`d handles.
/// Field order: the registration goes before the descriptor closes.
#[derive(Debug)]
pub(super) struct Shared<S> {
    pub(super) io: Io,
    pub(super) sock: S,
}

impl<S: AsRawFd> Shared<S> {
    pub(super) fn new(sock: S) -> Arc<Self> {
        Arc::new(Shared {
            io: Io::new(sock.as_raw_fd()),
            sock,
        })
    }
}

/// The methods and trait impls every goroutine-blocking stream has, for a
/// type with a field `inner: Arc<Shared<S>>` where `&S: Read + Write`.
macro_rules! stream_methods {
    ($ty:ident) => {
        impl $ty {
            /// Limits each read's wait to `d` (`None`: no limit): a read
            /// that waits longer fails with `TimedOut`. Replaces a read
            /// deadline.
            pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
                self.inner.io.set_timeout(Dir::Read, d)
            }

            /// Limits each write's wait to `d`; replaces a write deadline.
            pub fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
                self.inner.io.set_timeout(Dir::Write, d)
            }

            /// The read timeout set by `set_read_timeout`.
            pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
                Ok(self.inner.io.timeout(Dir::Read))
            }

            /// The write timeout set by `set_write_timeout`.
            pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
                Ok(self.inner.io.timeout(Dir::Write))
            }

            /// Go's `SetReadDeadline`: reads fail with `TimedOut` once
            /// `when` has passed, a read waiting then included; `None`
            /// removes the deadline.
            pub fn set_read_deadline(&self, when: Option<Instant>) {
                self.inner.io.set_deadline(Dir::Read, when);
            }

            /// Go's `SetWriteDeadline`.
            pub fn set_write_deadline(&self, when: Option<Instant>) {
                self.inner.io.set_deadline(Dir::Write, when);
            }

            /// Go's `SetDeadline`: both directions.
            pub fn set_deadline(&self, when: Option<Instant>) {
                self.set_read_deadline(when);
                self.set_write_deadline(when);
            }

            /// Closes the connection for every handle: goroutines waiting
            /// on it wake with an error, later calls fail, and the peer sees
            /// the connection end.
            pub fn close(&self) {
                self.inner.io.close();
                let _ = self.inner.sock.shutdown(Shutdown::Both);
            }

            /// Parks until the stream may be readable: data, the end of
            /// the stream or an error waits. It holds no buffer meanwhile,
            /// so a server that waits here, then reads with
            /// [`try_read`](Self::try_read) into a buffer it takes only
            /// then, keeps an idle connection's stack shallow. A hint: the
            /// next `try_read` can still say `WouldBlock` (then wait
            /// again). The read deadline or timeout applies.
            #[track_caller]
            pub fn readable(&self) -> io::Result<()> {
                self.inner.io.ready(Dir::Read, Location::caller())
            }

            /// Parks until the stream may be writable (a hint, as
            /// [`readable`](Self::readable)). The write deadline or timeout
            /// applies.
            #[track_caller]
            pub fn writable(&self) -> io::Result<()> {
                self.inner.io.ready(Dir::Write, Location::caller())
            }

            /// Reads what is there without waiting: `WouldBlock` if
            /// nothing is. After `WouldBlock`, [`readable`](Self::readable)
            /// waits for more; after a read that returned data, call
            /// `try_read` again before waiting (data left over from it
            /// brings no new readiness).
            pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
                let i = &self.inner;
                i.io.try_op(Dir::Read, || (&i.sock).read(buf))
            }

            /// Writes what fits without waiting: `WouldBlock` if nothing
            /// does (then [`writable`](Self::writable) waits for room).
            pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
                let i = &self.inner;
                i.io.try_op(Dir::Write, || (&i.sock).write(buf))
            }

            /// Reads into `buf`'s spare room (at least 8 KiB is made),
            /// appending what arrives; 0 is end of file.
            #[track_caller]
            pub fn read_buf(&self, buf: &mut BytesMut) -> io::Result<usize> {
                let (i, site) = (&self.inner, Location::caller());
                super::read_into(buf, super::READ_BUF_MIN, |b| {
                    i.io.op(Dir::Read, site, || (&i.sock).read(b))
                })
            }

            /// Writes all of `buf` (a `Bytes`, a `BytesMut`, a chain of
            /// them), vectored over its chunks, advancing it.
            #[track_caller]
            pub fn write_buf(&self, buf: &mut impl Buf) -> io::Result<()> {
                let (i, site) = (&self.inner, Location::caller());
                super::write_from(buf, |s| {
                    i.io.op(Dir::Write, site, || (&i.sock).write_vectored(s))
                })
            }
        }

        impl Read for &$ty {
            #[track_caller]
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let i = &self.inner;
                i.io.op(Dir::Read, Location::caller(), || (&i.sock).read(buf))
            }

            #[track_caller]
            fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
                let (i, site) = (&self.inner, Location::caller());
                super::read_exact_with(buf, |b| i.io.op(Dir::Read, site, || (&i.sock).read(b)))
            }

            #[track_caller]
            fn read_to_end(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
                let (i, site) = (&self.inner, Location::caller());
                super::read_to_end_with(out, |b| i.io.op(Dir::Read, site, || (&i.sock).read(b)))
            }

            #[track_caller]
            fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
                let i = &self.inner;
                i.io.op(Dir::Read, Location::caller(), || {
                    (&i.sock).read_vectored(bufs)
                })
            }
        }

        impl Write for &$ty {
            #[track_caller]
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                let i = &self.inner;
                i.io.op(Dir::Write, Location::caller(), || (&i.sock).write(buf))
            }

            #[track_caller]
            fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
                let (i, site) = (&self.inner, Location::caller());
                super::write_all_with(buf, |b| i.io.op(Dir::Write, site, || (&i.sock).write(b)))
            }

            #[track_caller]
            fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
                let i = &self.inner;
                i.io.op(Dir::Write, Location::caller(), || {
                    (&i.sock).write_vectored(bufs)
                })
            }

            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }

        impl Read for $ty {
            #[track_caller]
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                (&*self).read(buf)
            }

            #[track_caller]
            fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
                (&*self).read_exact(buf)
            }

            #[track_caller]
            fn read_to_end(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
                (&*self).read_to_end(out)
            }

            #[track_caller]
            fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
                (&*self).read_vectored(bufs)
            }
        }

        impl Write for $ty {
            #[track_caller]
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                (&*self).write(buf)
            }

            #[track_caller]
            fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
                (&*self).write_all(buf)
            }

            #[track_caller]
            fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
                (&*self).write_vectored(bufs)
            }

            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }

        impl AsRawFd for $ty {
            fn as_raw_fd(&self) -> RawFd {
                self.inner.io.fd()
            }
        }

        impl AsFd for $ty {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.inner.sock.as_fd()
            }
        }
    };
}
pub(super) use stream_methods;
