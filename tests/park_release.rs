//! The stacks of long-parked goroutines go back to the kernel and come back
//! intact: goroutines parked in every kind of blocking call (channel
//! receive and send, select, mutex, wait group, socket read) have their
//! stack released, hold their frames on the heap meanwhile, and resume with
//! every byte of their stack as they left it. Wake-ups that race a release
//! are never lost. (Under AddressSanitizer release is off: the tests check
//! that it declines.)

mod runtime_support;

use gort::net::{TcpListener, TcpStream};
use runtime_support::{eventually, timed};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// Goroutines parked per kind of blocking call.
const PER_KIND: usize = 300;
/// Connections whose reader parks on the socket.
const CONNS: usize = 20;

fn pattern(i: u64, k: usize) -> u64 {
    i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (k as u64).rotate_left(17)
}

/// Fills an array on the goroutine's stack, blocks in `wait`, then checks
/// the array: true if every word survived.
#[inline(never)]
fn hold<R>(i: u64, wait: impl FnOnce() -> R) -> (R, bool) {
    let mut a = [0u64; 64];
    for (k, w) in a.iter_mut().enumerate() {
        *w = pattern(i, k);
    }
    std::hint::black_box(&mut a);
    let r = wait();
    std::hint::black_box(&mut a);
    let intact = a.iter().enumerate().all(|(k, &w)| w == pattern(i, k));
    (r, intact)
}

fn runtime(procs: usize) -> Arc<gort::Runtime> {
    let rt = gort::Runtime::builder()
        .procs(procs)
        .release_parked_stacks(None)
        .build()
        .expect("runtime");
    Arc::new(rt)
}

#[test]
fn parked_goroutines_give_their_stacks_back_and_resume_intact() {
    timed(|| {
        let rt = runtime(2);
        // Channels between this thread and the scenario: made outside the
        // runtime, so a plain thread may use them.
        let (go_tx, go_rx) = gort::chan::<()>(0);
        let bad = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let scenario = {
            let (rt2, bad, done) = (rt.clone(), bad.clone(), done.clone());
            std::thread::spawn(move || {
                rt2.block_on(move || scenario(go_rx, bad, done));
            })
        };
        let kinds = 5 * PER_KIND + CONNS;
        let mut released = 0;
        eventually("every blocked goroutine's stack released", || {
            released += rt.release_parked_stacks(Duration::ZERO);
            released >= kinds || cfg!(gort_asan)
        });
        let mem = rt.stack_memory();
        if cfg!(gort_asan) {
            assert_eq!(released, 0, "release is off under AddressSanitizer");
        } else {
            assert!(mem.parked_released >= kinds, "{mem:?}");
            let per = mem.parked_saved_bytes / mem.parked_released;
            eprintln!("{released} stacks released, {per} bytes kept per stack: {mem:?}");
            // The frames of a goroutine parked a few calls deep, and the
            // 512-byte array each one holds: far from a whole page.
            assert!(per < 2048, "{per} bytes kept per released stack: {mem:?}");
            assert_eq!(
                rt.release_parked_stacks(Duration::ZERO),
                0,
                "a released stack is not released twice"
            );
        }
        go_tx.send(()).expect("scenario waits");
        scenario.join().expect("scenario");
        assert_eq!(bad.load(Relaxed), 0, "stacks changed while released");
        assert_eq!(done.load(Relaxed), kinds);
        let mem = rt.stack_memory();
        assert_eq!(mem.parked_released, 0, "every stack restored: {mem:?}");
        assert_eq!(mem.parked_saved_bytes, 0);
    });
}

fn scenario(go: gort::Receiver<()>, bad: Arc<AtomicUsize>, done: Arc<AtomicUsize>) {
    let check = {
        let (bad, done) = (bad.clone(), done.clone());
        move |intact: bool| {
            if !intact {
                bad.fetch_add(1, Relaxed);
            }
            done.fetch_add(1, Relaxed);
        }
    };
    let wg_all = gort::sync::WaitGroup::new();
    let spawn = |f: Box<dyn FnOnce() + Send>| {
        let wg = wg_all.clone();
        wg.add(1);
        gort::go(move || {
            f();
            wg.done();
        });
    };

    // Receivers, senders, selects.
    let (rtx, rrx) = gort::chan::<u64>(0);
    let (stx, srx) = gort::chan::<u64>(0);
    let (atx, arx) = gort::chan::<String>(0);
    let (_btx, brx) = gort::chan::<String>(0);
    for i in 0..PER_KIND as u64 {
        let (rrx, ck) = (rrx.clone(), check.clone());
        spawn(Box::new(move || {
            let (v, ok) = hold(i, || rrx.recv());
            ck(ok && v.is_some());
        }));
        let (stx, ck) = (stx.clone(), check.clone());
        spawn(Box::new(move || {
            let (r, ok) = hold(i + 1000, || stx.send(i));
            ck(ok && r.is_ok());
        }));
        let (arx, brx, ck) = (arx.clone(), brx.clone(), check.clone());
        spawn(Box::new(move || {
            let (v, ok) = hold(i + 2000, || {
                gort::select! {
                    recv(arx) -> v => v,
                    recv(brx) -> v => v,
                }
            });
            ck(ok && v.as_deref() == Some("wake"));
        }));
    }
    // A mutex held by this goroutine, and a wait group not done yet.
    let m = Arc::new(gort::sync::Mutex::new(0u64));
    let held = m.lock();
    let gate = gort::sync::WaitGroup::new();
    gate.add(1);
    for i in 0..PER_KIND as u64 {
        let (m, ck) = (m.clone(), check.clone());
        spawn(Box::new(move || {
            let (_, ok) = hold(i + 3000, || *m.lock() += 1);
            ck(ok);
        }));
        let (gate, ck) = (gate.clone(), check.clone());
        spawn(Box::new(move || {
            let (_, ok) = hold(i + 4000, || gate.wait());
            ck(ok);
        }));
    }
    // Readers parked on idle sockets.
    let ln = TcpListener::bind("127.0.0.1:0").expect("listen");
    let addr = ln.local_addr().expect("addr");
    let mut peers = Vec::new();
    for i in 0..CONNS as u64 {
        let ck = check.clone();
        let conn = TcpStream::connect(addr).expect("connect");
        spawn(Box::new(move || {
            let mut conn = conn;
            let (n, ok) = hold(i + 5000, || {
                let mut buf = [0u8; 4];
                conn.read(&mut buf).map(|n| (n, buf))
            });
            ck(ok && matches!(n, Ok((4, b)) if &b == b"ping"));
        }));
        peers.push(ln.accept().expect("accept").0);
    }

    // Everyone parks; the test's thread releases their stacks, then lets
    // this goroutine go on.
    go.recv().expect("go-ahead");

    for i in 0..PER_KIND as u64 {
        rtx.send(i).expect("a receiver");
        assert!(srx.recv().is_some());
        atx.send("wake".to_string()).expect("a select");
    }
    drop(held);
    gate.done();
    for mut p in peers {
        p.write_all(b"ping").expect("write");
    }
    wg_all.wait();
}

#[test]
fn wake_ups_racing_release_passes_are_never_lost() {
    timed(|| {
        const GOROUTINES: usize = 64;
        const ROUNDS: usize = 2000;
        let rt = runtime(2);
        let stop = Arc::new(AtomicUsize::new(0));
        let bad = Arc::new(AtomicUsize::new(0));
        let releaser = {
            let (rt, stop) = (rt.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut total = 0;
                while stop.load(Relaxed) == 0 {
                    total += rt.release_parked_stacks(Duration::ZERO);
                }
                total
            })
        };
        let bad2 = bad.clone();
        let sum = rt.block_on(move || {
            let mut handles = Vec::new();
            let mut txs = Vec::new();
            let (back_tx, back_rx) = gort::chan::<u64>(GOROUTINES);
            for g in 0..GOROUTINES as u64 {
                let (tx, rx) = gort::chan::<u64>(0);
                txs.push(tx);
                let (back_tx, bad) = (back_tx.clone(), bad2.clone());
                handles.push(gort::go(move || {
                    for r in 0..ROUNDS as u64 {
                        let (v, ok) = hold(g * 1_000_000 + r, || rx.recv());
                        if !ok {
                            bad.fetch_add(1, Relaxed);
                        }
                        back_tx.send(v.expect("a value") + 1).expect("back");
                    }
                }));
            }
            let mut sum = 0;
            for r in 0..ROUNDS as u64 {
                for tx in &txs {
                    tx.send(r).expect("send");
                }
                for _ in 0..GOROUTINES {
                    sum += back_rx.recv().expect("reply");
                }
                // Wake them in a different order each round.
                txs.rotate_left(7);
            }
            for h in handles {
                h.join().expect("goroutine");
            }
            sum
        });
        stop.store(1, Relaxed);
        let released = releaser.join().expect("releaser");
        eprintln!("{released} stacks released by passes racing the wake-ups");
        let rounds = ROUNDS as u64;
        assert_eq!(
            sum,
            GOROUTINES as u64 * (rounds * (rounds - 1) / 2 + rounds)
        );
        assert_eq!(bad.load(Relaxed), 0, "a stack changed while released");
        if cfg!(gort_asan) {
            assert_eq!(released, 0);
        } else {
            assert!(released > 0, "the passes released stacks while they ran");
        }
        assert_eq!(rt.stack_memory().parked_released, 0);
    });
}

#[test]
fn the_monitor_releases_the_stacks_of_goroutines_parked_past_the_delay() {
    timed(|| {
        const N: usize = 200;
        let rt = Arc::new(
            gort::Runtime::builder()
                .procs(2)
                .release_parked_stacks(Some(Duration::from_secs(1)))
                .build()
                .expect("runtime"),
        );
        let (go_tx, go_rx) = gort::chan::<()>(0);
        let bad = Arc::new(AtomicUsize::new(0));
        let scenario = {
            let (rt2, bad) = (rt.clone(), bad.clone());
            std::thread::spawn(move || {
                rt2.block_on(move || {
                    let (tx, rx) = gort::chan::<u64>(0);
                    let handles: Vec<_> = (0..N as u64)
                        .map(|i| {
                            let (rx, bad) = (rx.clone(), bad.clone());
                            gort::go(move || {
                                let (v, ok) = hold(i, || rx.recv());
                                if !ok || v.is_none() {
                                    bad.fetch_add(1, Relaxed);
                                }
                            })
                        })
                        .collect();
                    go_rx.recv().expect("go-ahead");
                    for i in 0..N as u64 {
                        tx.send(i).expect("a receiver");
                    }
                    for h in handles {
                        h.join().expect("goroutine");
                    }
                });
            })
        };
        // Nobody asks: the runtime's monitor releases them on its own, a
        // second or two after they parked.
        eventually("the monitor released every parked stack", || {
            rt.stack_memory().parked_released >= N || cfg!(gort_asan)
        });
        go_tx.send(()).expect("scenario waits");
        scenario.join().expect("scenario");
        assert_eq!(bad.load(Relaxed), 0, "stacks changed while released");
        assert_eq!(rt.stack_memory().parked_released, 0);
    });
}
