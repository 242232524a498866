//! `readable`/`writable` and `try_read`/`try_write` on `gort::net` streams:
//! waiting for readiness without a buffer, and attempts that never wait.

use gort::net::{TcpListener, TcpStream, UnixStream};
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

fn rt(procs: usize) -> gort::Runtime {
    gort::Runtime::builder()
        .procs(procs)
        .build()
        .expect("runtime")
}

/// A connected pair: (client, server side).
fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    (c, s)
}

/// Reads with `try_read` until `WouldBlock`, appending to `out`; whether the
/// stream ended.
fn drain(s: &TcpStream, out: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 3];
    loop {
        match s.try_read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(e) => panic!("try_read: {e}"),
        }
    }
}

/// `readable` parks until data arrives (other goroutines run meanwhile on
/// the one P); `try_read` then takes it, says `WouldBlock` once it is all
/// read, and the next `readable` waits for the next data, which arrives in
/// parts smaller and larger than the reader's buffer.
#[test]
fn readable_waits_for_data_and_try_read_drains_it() {
    rt(1).block_on(|| {
        let (mut c, s) = pair();
        let (tx, rx) = gort::chan::<&'static str>(0);
        let reader = gort::go(move || {
            let mut got = Vec::new();
            s.readable().unwrap();
            tx.send("readable").unwrap();
            assert!(!drain(&s, &mut got));
            let e = s.try_read(&mut [0u8; 8]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::WouldBlock);
            // Until the end of the stream, which comes after the data.
            let mut ended = false;
            while !ended {
                s.readable().unwrap();
                ended = drain(&s, &mut got);
            }
            got
        });
        // The reader is parked in `readable`: this goroutine runs, and no
        // "readable" comes before the first write.
        gort::yield_now();
        assert!(rx.try_recv().is_err(), "readable returned before any data");
        c.write_all(b"abcd").unwrap();
        assert_eq!(rx.recv(), Some("readable"));
        gort::sleep(Duration::from_millis(5));
        c.write_all(b"efghijkl").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        assert_eq!(reader.join().unwrap(), b"abcdefghijkl");
    });
}

/// `readable` returns at the end of the stream and `try_read` says 0.
#[test]
fn readable_at_end_of_stream() {
    rt(2).block_on(|| {
        let (c, s) = pair();
        c.shutdown(Shutdown::Write).unwrap();
        s.readable().unwrap();
        assert_eq!(s.try_read(&mut [0u8; 4]).unwrap(), 0);
    });
}

/// The read timeout and deadline apply to `readable` as to a read; the
/// stream stays usable after they pass.
#[test]
fn readable_honours_timeout_and_deadline() {
    rt(2).block_on(|| {
        let (mut c, s) = pair();
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let t0 = Instant::now();
        let e = s.readable().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
        assert!(t0.elapsed() >= Duration::from_millis(20));
        // A timeout counts per wait: a second one waits its own 20 ms.
        let e = s.readable().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
        s.set_read_deadline(Some(Instant::now() - Duration::from_millis(1)));
        c.write_all(b"x").unwrap();
        let e = s.readable().unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::TimedOut,
            "a past deadline fails at once: {e}"
        );
        let e = s.try_read(&mut [0u8; 1]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
        s.set_read_deadline(None);
        s.readable().unwrap();
        assert_eq!(s.try_read(&mut [0u8; 4]).unwrap(), 1);
    });
}

/// A goroutine waiting in `readable` wakes with an error when another one
/// closes the stream; `try_read` after the close fails too.
#[test]
fn close_wakes_a_goroutine_in_readable() {
    rt(2).block_on(|| {
        let (_c, s) = pair();
        let s = std::sync::Arc::new(s);
        let waiter = {
            let s = s.clone();
            gort::go(move || s.readable())
        };
        gort::sleep(Duration::from_millis(20));
        s.close();
        assert!(waiter.join().unwrap().is_err());
        assert!(s.try_read(&mut [0u8; 1]).is_err());
    });
}

/// `try_write` fills the socket until `WouldBlock`; `writable` waits until
/// the peer has read enough to make room; everything written arrives.
#[test]
fn try_write_and_writable() {
    rt(2).block_on(|| {
        let (mut c, s) = pair();
        let chunk = [7u8; 16 * 1024];
        let mut sent = 0usize;
        loop {
            match s.try_write(&chunk) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("try_write: {e}"),
            }
        }
        assert!(sent > 0);
        let reader = gort::go(move || {
            gort::sleep(Duration::from_millis(20));
            let mut total = 0usize;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match c.read(&mut buf) {
                    Ok(0) => return total,
                    Ok(n) => {
                        assert!(buf[..n].iter().all(|&b| b == 7));
                        total += n;
                    }
                    Err(e) => panic!("read: {e}"),
                }
            }
        });
        s.writable().unwrap();
        let n = s.try_write(&chunk).unwrap();
        assert!(n > 0, "room after writable");
        s.shutdown(Shutdown::Write).unwrap();
        assert_eq!(reader.join().unwrap(), sent + n);
    });
}

/// Unix streams have the same four methods.
#[test]
fn unix_stream_readiness() {
    rt(2).block_on(|| {
        let (a, mut b) = UnixStream::pair().unwrap();
        let r = gort::go(move || {
            a.readable().unwrap();
            let mut buf = [0u8; 8];
            let n = a.try_read(&mut buf).unwrap();
            assert_eq!(
                a.try_read(&mut buf).unwrap_err().kind(),
                ErrorKind::WouldBlock
            );
            a.writable().unwrap();
            assert_eq!(a.try_write(b"pong").unwrap(), 4);
            n
        });
        gort::sleep(Duration::from_millis(10));
        b.write_all(b"ping").unwrap();
        assert_eq!(r.join().unwrap(), 4);
        let mut buf = [0u8; 4];
        b.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"pong");
    });
}

/// From a plain thread, `readable` blocks the thread in `poll(2)` until data
/// or the deadline.
#[test]
fn readable_from_a_plain_thread() {
    let rt = rt(1);
    let (c, s) = rt.block_on(pair);
    s.set_read_deadline(Some(Instant::now() + Duration::from_millis(20)));
    let e = s.readable().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
    s.set_read_deadline(None);
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(10));
        (&c).write_all(b"hey").unwrap();
        c
    });
    s.readable().unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(s.try_read(&mut buf).unwrap(), 3);
    drop(writer.join().unwrap());
}
