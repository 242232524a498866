//! The network poll and the timers: an M blocked in the poll sleeps until
//! the earliest timer, and a timer made earlier than that deadline while it
//! sleeps (by another M, or by a goroutine woken from outside) breaks the
//! poll. The poll's first deadline here is an hour away: a poll that kept
//! it would hang the test (and `timed` fails it), so nothing is asserted on
//! time itself.

mod runtime_support;

use gort::net::{TcpListener, TcpStream};
use runtime_support::{rt, timed};
use std::io::Read;
use std::time::Duration;

fn scenario() {
    // A goroutine waiting on a socket: the idle M waits in the network poll.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (server, _) = l.accept().unwrap();
    let reader = gort::go(move || {
        let mut b = [0u8; 1];
        (&server).read(&mut b).map(|n| n as u8)
    });
    // The earliest timer, and so the poll's deadline: an hour away.
    let far = gort::time::after(Duration::from_secs(3600));
    // A goroutine that a plain thread wakes once everything is parked, and
    // that then sleeps briefly: its timer is the earlier one.
    let (tx, rx) = gort::chan::<u32>(0);
    let sleeper = gort::go(move || {
        let v = rx.recv().unwrap();
        gort::sleep(Duration::from_millis(5));
        v + 1
    });
    // A second sleeper started by the first's neighbour M while the other
    // M polls (with two Ps).
    let (tx2, rx2) = gort::chan::<u32>(0);
    let second = gort::go(move || {
        let v = rx2.recv().unwrap();
        gort::sleep(Duration::from_millis(5));
        v * 2
    });
    let th = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        tx.send(1).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        tx2.send(21).unwrap();
    });
    assert_eq!(sleeper.join().unwrap(), 2);
    assert_eq!(second.join().unwrap(), 42);
    th.join().unwrap();
    // The far timer never fired; the reader sees the client close.
    assert!(far.try_recv().is_err());
    drop(client);
    assert_eq!(reader.join().unwrap().unwrap(), 0);
}

#[test]
fn an_earlier_timer_breaks_a_blocked_network_poll() {
    for procs in [1, 2] {
        for _ in 0..3 {
            timed(move || rt(procs).block_on(scenario));
        }
    }
}
