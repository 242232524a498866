//! `gort::net` UDP and Unix domain sockets, and `PollFd` over a pipe.

use gort::net::{PollFd, UdpSocket, UnixListener, UnixStream};
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::time::Duration;

fn rt(procs: usize) -> gort::Runtime {
    gort::Runtime::builder()
        .procs(procs)
        .build()
        .expect("runtime")
}

/// UDP: a goroutine waits in `recv_from` until a datagram comes, answers
/// with `send_to`; connected sockets use `send`/`recv`; a receive timeout
/// expires and the socket keeps working.
#[test]
fn udp_round_trips_and_timeout() {
    rt(1).block_on(|| {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let saddr = server.local_addr().unwrap();
        let echo = gort::go(move || {
            let mut buf = [0u8; 64];
            for _ in 0..3 {
                let (n, from) = server.recv_from(&mut buf).unwrap();
                server.send_to(&buf[..n], from).unwrap();
            }
        });
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.connect(saddr).unwrap();
        assert_eq!(c.peer_addr().unwrap(), saddr);
        for i in 0..3u8 {
            c.send(&[i; 5]).unwrap();
            let mut buf = [0u8; 64];
            let n = c.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], &[i; 5]);
        }
        echo.join().unwrap();
        c.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(c.recv(&mut buf).unwrap_err().kind(), ErrorKind::TimedOut);
        c.set_read_timeout(None).unwrap();
        let other = UdpSocket::bind("127.0.0.1:0").unwrap();
        other.send_to(b"late", c.local_addr().unwrap()).unwrap();
        // Connected to `saddr`: a datagram from elsewhere is filtered out;
        // reconnect to `other` and receive from it.
        c.connect(other.local_addr().unwrap()).unwrap();
        other.send_to(b"again", c.local_addr().unwrap()).unwrap();
        let n = c.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"again");
    });
}

/// Unix streams: accept, echo, half-close, and close while waiting.
#[test]
fn unix_listener_and_stream() {
    let dir = std::env::temp_dir().join(format!("gort-net-unix-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("echo.sock");
    let _ = std::fs::remove_file(&path);
    rt(2).block_on(move || {
        let l = UnixListener::bind(&path).unwrap();
        let server = gort::go(move || {
            let (s, _) = l.accept().unwrap();
            let mut all = Vec::new();
            (&s).read_to_end(&mut all).unwrap();
            (&s).write_all(&all).unwrap();
        });
        let c = UnixStream::connect(&path).unwrap();
        (&c).write_all(b"over unix").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        (&c).read_to_end(&mut back).unwrap();
        assert_eq!(back, b"over unix");
        server.join().unwrap();

        let (a, b) = UnixStream::pair().unwrap();
        let a2 = a.try_clone().unwrap();
        let reader = gort::go(move || {
            let mut buf = [0u8; 1];
            (&a2).read(&mut buf).map_err(|e| e.kind())
        });
        gort::sleep(Duration::from_millis(10));
        a.close();
        assert_eq!(reader.join().unwrap(), Err(ErrorKind::NotConnected));
        drop(b);
        let _ = std::fs::remove_file(&path);
    });
}

/// `PollFd` makes pipes goroutine-blocking: with one P, a goroutine
/// reading `cat`'s stdout and this one writing its stdin (more than the pipe
/// buffers hold, so each waits for the other) share one thread.
#[test]
fn pollfd_pipes_with_one_p() {
    rt(1).block_on(|| {
        let mut child = std::process::Command::new("cat")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut w = PollFd::new(child.stdin.take().unwrap()).unwrap();
        let mut r = PollFd::new(child.stdout.take().unwrap()).unwrap();
        let reader = gort::go(move || {
            let mut got = Vec::new();
            r.read_to_end(&mut got).unwrap();
            got
        });
        let data: Vec<u8> = (0..1 << 20).map(|i| (i % 253) as u8).collect();
        w.write_all(&data).unwrap();
        drop(w);
        assert_eq!(reader.join().unwrap(), data);
        assert!(gort::syscall(|| child.wait()).unwrap().success());
    });
}
