//! `gort::net` TCP: goroutines that wait on sockets, not threads.

use gort::net::{TcpListener, TcpStream};
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

fn rt(procs: usize) -> gort::Runtime {
    gort::Runtime::builder()
        .procs(procs)
        .build()
        .expect("runtime")
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

fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    (c, s)
}

/// After the peer's `shutdown(Write)` a waiting reader reads end of file
/// (0), and the other direction still works.
#[test]
fn half_close_reads_eof() {
    rt(2).block_on(|| {
        let (c, s) = pair();
        let reader = gort::go(move || {
            let mut all = Vec::new();
            (&s).read_to_end(&mut all).unwrap();
            (&s).write_all(b"bye").unwrap();
            all
        });
        (&c).write_all(b"data").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        assert_eq!(reader.join().unwrap(), b"data");
        let mut back = Vec::new();
        (&c).read_to_end(&mut back).unwrap();
        assert_eq!(back, b"bye");
    });
}

/// A peer that aborts the connection (RST) wakes the waiting reader with
/// `ConnectionReset`, and writes then fail too.
#[test]
fn peer_reset_is_an_error() {
    rt(2).block_on(|| {
        let (c, s) = pair();
        let reader = gort::go(move || {
            let mut buf = [0u8; 16];
            let r = (&s).read(&mut buf);
            (r.map_err(|e| e.kind()), s)
        });
        // SO_LINGER 0: the close is abortive, the peer gets a RST.
        socket2::SockRef::from(&c)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(c);
        let (r, s) = reader.join().unwrap();
        assert_eq!(r, Err(ErrorKind::ConnectionReset));
        let e = (&s).write_all(&[0u8; 1 << 16]).unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset),
            "{e}"
        );
    });
}

/// Connecting to a port nobody listens on fails with `ConnectionRefused`.
#[test]
fn connect_refused_is_an_error() {
    rt(1).block_on(|| {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let e = TcpStream::connect(("127.0.0.1", port)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
    });
}

/// 500 connections served at once by 500 goroutines on 2 Ps, each echoing
/// a few messages of its own.
#[test]
fn five_hundred_concurrent_connections() {
    const N: usize = 500;
    rt(2).block_on(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = gort::go(move || {
            let mut hs = Vec::new();
            for _ in 0..N {
                let (s, _) = l.accept().unwrap();
                hs.push(gort::go(move || {
                    let mut buf = [0u8; 64];
                    loop {
                        let n = (&s).read(&mut buf).unwrap();
                        if n == 0 {
                            return;
                        }
                        (&s).write_all(&buf[..n]).unwrap();
                    }
                }));
            }
            hs.into_iter().for_each(|h| h.join().unwrap());
        });
        let clients: Vec<_> = (0..N)
            .map(|i| {
                gort::go(move || {
                    let c = TcpStream::connect(addr).unwrap();
                    for k in 0..3 {
                        let msg = format!("{i}:{k}");
                        (&c).write_all(msg.as_bytes()).unwrap();
                        let mut back = vec![0u8; msg.len()];
                        (&c).read_exact(&mut back).unwrap();
                        assert_eq!(back, msg.as_bytes());
                    }
                })
            })
            .collect();
        clients.into_iter().for_each(|h| h.join().unwrap());
        server.join().unwrap();
    });
}

/// Closing a socket while another goroutine waits on it wakes that
/// goroutine with an error; later calls fail too.
#[test]
fn close_while_another_goroutine_waits() {
    rt(2).block_on(|| {
        let (_c, s) = pair();
        let s2 = s.try_clone().unwrap();
        let (ready_tx, ready_rx) = gort::chan::<()>(0);
        let reader = gort::go(move || {
            ready_tx.send(()).unwrap();
            let mut buf = [0u8; 4];
            (&s2).read(&mut buf).map_err(|e| e.kind())
        });
        ready_rx.recv().unwrap();
        gort::sleep(Duration::from_millis(10));
        s.close();
        assert_eq!(reader.join().unwrap(), Err(ErrorKind::NotConnected));
        let e = (&s).write(b"x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotConnected, "{e}");

        // A listener too: a waiting accept wakes with an error.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let l2 = l.try_clone().unwrap();
        let acceptor = gort::go(move || l2.accept().map(|_| ()).map_err(|e| e.kind()));
        gort::sleep(Duration::from_millis(10));
        l.close();
        assert_eq!(acceptor.join().unwrap(), Err(ErrorKind::NotConnected));
    });
}

/// One goroutine reads while another writes on the same socket; neither
/// waits for the other.
#[test]
fn read_and_write_from_two_goroutines() {
    rt(2).block_on(|| {
        let (c, s) = pair();
        const LEN: usize = 4 << 20;
        // Echo server: reads and writes in two goroutines on one socket.
        let s2 = s.try_clone().unwrap();
        let (tx, rx) = gort::chan::<Vec<u8>>(16);
        let srv_r = gort::go(move || loop {
            let mut buf = vec![0u8; 32 << 10];
            let n = (&s).read(&mut buf).unwrap();
            if n == 0 {
                return;
            }
            buf.truncate(n);
            tx.send(buf).unwrap();
        });
        let srv_w = gort::go(move || {
            for b in rx.iter() {
                (&s2).write_all(&b).unwrap();
            }
            s2.shutdown(Shutdown::Write).unwrap();
        });
        // Client: a writer goroutine and a reader here, more data than the
        // socket buffers hold, so both sides must run at once.
        let c2 = c.try_clone().unwrap();
        let w = gort::go(move || {
            let data: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
            (&c2).write_all(&data).unwrap();
            c2.shutdown(Shutdown::Write).unwrap();
        });
        let mut got = Vec::new();
        (&c).read_to_end(&mut got).unwrap();
        assert_eq!(got.len(), LEN);
        assert!(got.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
        w.join().unwrap();
        srv_r.join().unwrap();
        srv_w.join().unwrap();
    });
}

/// While the only goroutine waits in `accept` (every M idle), the runtime
/// reports no deadlock: a plain thread connects later and it returns.
#[test]
fn waiting_on_the_network_is_not_a_deadlock() {
    rt(1).block_on(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let th = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            std::net::TcpStream::connect(addr).unwrap()
        });
        let (_s, peer) = l.accept().unwrap();
        let c = th.join().unwrap();
        assert_eq!(peer, c.local_addr().unwrap());
    });
}

/// The same calls on a plain thread block the thread, deadlines included.
#[test]
fn plain_thread_blocks_with_deadlines() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let th = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        let mut buf = [0u8; 2];
        (&s).read_exact(&mut buf).unwrap();
        (&s).write_all(&buf).unwrap();
    });
    let c = TcpStream::connect(addr).unwrap();
    c.set_read_deadline(Some(Instant::now() + Duration::from_millis(10)));
    let mut buf = [0u8; 2];
    assert_eq!((&c).read(&mut buf).unwrap_err().kind(), ErrorKind::TimedOut);
    c.set_read_deadline(None);
    (&c).write_all(b"ok").unwrap();
    (&c).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ok");
    th.join().unwrap();
}

/// `read_buf` appends to a `BytesMut`; `write_buf` sends a chain of `Bytes`.
#[test]
fn bytes_helpers_round_trip() {
    use bytes::{Buf, Bytes, BytesMut};
    rt(2).block_on(|| {
        let (c, s) = pair();
        let mut chain = Bytes::from_static(b"hello, ").chain(Bytes::from(vec![b'w'; 20_000]));
        c.write_buf(&mut chain).unwrap();
        assert!(!chain.has_remaining());
        c.shutdown(Shutdown::Write).unwrap();
        let mut buf = BytesMut::new();
        while s.read_buf(&mut buf).unwrap() != 0 {}
        assert_eq!(buf.len(), 7 + 20_000);
        assert_eq!(&buf[..7], b"hello, ");
        let frozen: Bytes = buf.freeze();
        assert!(frozen[7..].iter().all(|&b| b == b'w'));
    });
}

/// `connect_timeout` to an address that never answers times out.
#[test]
fn connect_timeout_expires() {
    rt(1).block_on(|| {
        // A listener with a full backlog never completes new handshakes...
        // which Linux answers by dropping SYNs: the connect waits.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        socket2::SockRef::from(&l).listen(0).unwrap();
        let mut held = Vec::new();
        let mut timed_out = false;
        for _ in 0..16 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(50)) {
                Ok(s) => held.push(s),
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
                    timed_out = true;
                    break;
                }
            }
        }
        assert!(timed_out, "every connect succeeded: {}", held.len());
    });
}

/// Dropping a runtime while goroutines wait on sockets unwinds them: what
/// they hold is dropped, nothing hangs.
#[test]
fn runtime_drop_unwinds_goroutines_waiting_on_sockets() {
    let held = std::sync::Arc::new(());
    let rt = rt(2);
    let h2 = held.clone();
    let peer = rt.block_on(move || {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let (c, s) = pair();
        let (tx, rx) = gort::chan::<()>(2);
        let (h3, tx2) = (h2.clone(), tx.clone());
        gort::go(move || {
            let _h = h2;
            tx.send(()).unwrap();
            let _ = l.accept();
        });
        gort::go(move || {
            let _h = h3;
            tx2.send(()).unwrap();
            let mut buf = [0u8; 1];
            let _ = (&s).read(&mut buf);
        });
        rx.recv().unwrap();
        rx.recv().unwrap();
        // The peer stays open past the runtime: the reader waits on.
        c
    });
    drop(rt);
    assert_eq!(std::sync::Arc::strong_count(&held), 1);
    drop(peer);
}

/// With one P kept busy by a goroutine that only yields (its M never finds
/// its queues empty, so never polls), sysmon's poll still readies a reader
/// whose data arrived: the reader gets its turn.
#[test]
fn sysmon_polls_while_the_only_p_stays_busy() {
    use std::sync::atomic::{AtomicBool, Ordering::*};
    use std::sync::Arc;
    rt(1).block_on(|| {
        let (c, s) = pair();
        let done = Arc::new(AtomicBool::new(false));
        let d2 = done.clone();
        let (parked_tx, parked_rx) = gort::chan::<()>(1);
        let reader = gort::go(move || {
            parked_tx.send(()).unwrap();
            let mut buf = [0u8; 2];
            (&s).read_exact(&mut buf).unwrap();
            d2.store(true, SeqCst);
            buf
        });
        parked_rx.recv().unwrap();
        // The reader runs until it waits in read_exact, then this goroutine
        // writes and spins with yields only, never leaving the run queue.
        gort::yield_now();
        (&c).write_all(b"hi").unwrap();
        let start = Instant::now();
        while !done.load(SeqCst) {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the reader was never readied while the P stayed busy"
            );
            gort::yield_now();
        }
        assert_eq!(&reader.join().unwrap(), b"hi");
    });
}
