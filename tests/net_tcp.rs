//! `gort::net` TCP: goroutines that wait on sockets, not threads.

use gort::net::{TcpListener, TcpStream};
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

fn rt(procs: usize) -> gort::Runtime {
    gort::Runtime::builder().procs(procs).build().expect("runtime")
}

/// With one P, a goroutine reading an idle socket does not hold the thread:
/// other goroutines keep running, and the reader gets its data afterwards.
#[test]
fn idle_reader_does_not_stall_one_p() {
    rt(1).block_on(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).unwrap();
        let (server, _) = l.accept().unwrap();
        let reader = gort::go(move || {
            let mut s = server;
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).unwrap();
            buf
        });
        // Others run while the reader waits: 1,000 hand-offs on a channel.
        let (tx, rx) = gort::chan::<u32>(0);
        let counter = gort::go(move || rx.iter().sum::<u32>());
        for i in 0..1000 {
            tx.send(i).unwrap();
        }
        drop(tx);
        assert_eq!(counter.join().unwrap(), (0..1000).sum::<u32>());
        client.write_all(b"ping").unwrap();
        assert_eq!(&reader.join().unwrap(), b"ping");
    });
}

/// A read deadline that passes fails the read with `TimedOut`; the socket
/// stays usable, and a read after the deadline is cleared gets the data.
#[test]
fn read_timeout_then_successful_read() {
    rt(2).block_on(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let mut buf = [0u8; 3];
        let e = s.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
        s.set_read_deadline(Some(Instant::now() + Duration::from_millis(10)));
        let e = s.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
        // Past deadline: fails at once, even with data waiting.
        c.write_all(b"abc").unwrap();
        let e = s.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
        s.set_read_deadline(None);
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"abc");
    });
}
