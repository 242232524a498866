//! Go's channel test programs (`test/chan/*.go` in Go's tree), written for
//! gort: each is a whole program whose result is checked, run under one
//! and two Ps.

mod runtime_support;

use gort::{chan, go, select, Receiver, Sender};
use runtime_support::{rt, timed};
use std::collections::HashSet;

/// The concurrent prime sieve (`sieve1.go`): a chain of filter goroutines.
#[test]
fn sieve() {
    for procs in [1, 2] {
        let primes = timed(move || {
            rt(procs).block_on(|| {
                let (tx, mut rx) = chan::<u32>(0);
                go(move || {
                    for i in 2.. {
                        if tx.send(i).is_err() {
                            return;
                        }
                    }
                });
                let mut primes = Vec::new();
                for _ in 0..100 {
                    let p = rx.recv().unwrap();
                    primes.push(p);
                    let (ftx, frx) = chan::<u32>(0);
                    go(move || {
                        for v in rx.iter() {
                            if v % p != 0 && ftx.send(v).is_err() {
                                return;
                            }
                        }
                    });
                    rx = frx;
                }
                primes
            })
        });
        let expect: Vec<u32> = (2..)
            .filter(|n| (2..*n).take_while(|d| d * d <= *n).all(|d| n % d != 0))
            .take(100)
            .collect();
        assert_eq!(primes, expect, "procs={procs}");
    }
}

/// `doubleselect.go`: senders select over several channels, a multiplexer
/// fans them in; every value arrives exactly once.
#[test]
fn doubleselect() {
    for procs in [1, 2] {
        timed(move || {
            rt(procs).block_on(|| {
                const N: u32 = 10_000;
                let chans: Vec<(Sender<u32>, Receiver<u32>)> = (0..4).map(|_| chan(0)).collect();
                let txs: Vec<Sender<u32>> = chans.iter().map(|c| c.0.clone()).collect();
                let sender = go(move || {
                    for i in 0..N {
                        select! {
                            send(&txs[0], i) -> r => r.unwrap(),
                            send(&txs[1], i) -> r => r.unwrap(),
                            send(&txs[2], i) -> r => r.unwrap(),
                            send(&txs[3], i) -> r => r.unwrap(),
                        }
                    }
                });
                let (out_tx, out_rx) = chan::<u32>(0);
                let rxs: Vec<Receiver<u32>> = chans.into_iter().map(|(_, r)| r).collect();
                for rx in rxs {
                    let out = out_tx.clone();
                    go(move || {
                        for v in rx.iter() {
                            out.send(v).unwrap();
                        }
                    });
                }
                drop(out_tx);
                let mut seen = HashSet::new();
                for _ in 0..N {
                    let v = out_rx.recv().unwrap();
                    assert!(seen.insert(v), "{v} received twice");
                }
                sender.join().unwrap();
                assert_eq!(seen.len(), N as usize);
            })
        });
    }
}

/// `select3.go`: what blocks and what does not. Nil channels block, closed
/// ones do not, a select over a closed channel and a nil one completes.
#[test]
fn select3_blocking_rules() {
    timed(|| {
        rt(2).block_on(|| {
            let never = |f: Box<dyn FnOnce() + Send>| {
                let (done_tx, done_rx) = chan::<()>(0);
                go(move || {
                    f();
                    let _ = done_tx.send(());
                });
                for _ in 0..10 {
                    gort::yield_now();
                }
                let r = select! { recv(done_rx) -> _ => "completed", default => "blocked" };
                assert_eq!(r, "blocked");
            };
            let always = |f: Box<dyn FnOnce() + Send>| {
                let h = go(f);
                h.join().unwrap();
            };
            never(Box::new(|| {
                let nil: Option<&Receiver<u32>> = None;
                select! { recv(nil) -> _ => {} }
            }));
            never(Box::new(|| {
                let nil: Option<&Sender<u32>> = None;
                select! { send(nil, 1) -> _ => {} }
            }));
            never(Box::new(|| {
                let (_t, r) = chan::<u32>(0);
                select! { recv(r) -> _ => {} }
            }));
            never(Box::new(|| {
                let (t, _r) = chan::<u32>(0);
                select! { send(&t, 1) -> _ => {} }
            }));
            always(Box::new(|| {
                let (t, r) = chan::<u32>(0);
                drop(t);
                let nil: Option<&Receiver<u32>> = None;
                select! { recv(nil) -> _ => unreachable!(), recv(r) -> v => assert_eq!(v, None) }
            }));
            always(Box::new(|| {
                let (t, r) = chan::<u32>(1);
                select! { send(&t, 1) -> r => r.unwrap() }
                assert_eq!(select! { recv(r) -> v => v }, Some(1));
            }));
        })
    });
}

/// `nonblock.go`: non-blocking sends and receives meet a partner goroutine
/// eventually, on buffered and unbuffered channels.
#[test]
fn nonblock() {
    for cap in [0, 1, 16] {
        timed(move || {
            rt(2).block_on(move || {
                let (tx, rx) = chan::<u32>(cap);
                let partner = go({
                    let rx = rx.clone();
                    move || rx.recv()
                });
                let mut sent = false;
                for _ in 0..100_000 {
                    let ok = select! { send(&tx, 7) -> r => r.is_ok(), default => false };
                    if ok {
                        sent = true;
                        break;
                    }
                    gort::yield_now();
                }
                assert!(
                    sent,
                    "cap {cap}: a non-blocking send never met its receiver"
                );
                assert_eq!(partner.join().unwrap(), Some(7));
                let sender = go(move || tx.send(8).unwrap());
                let mut got = None;
                for _ in 0..100_000 {
                    got = select! { recv(rx) -> v => v, default => None };
                    if got.is_some() {
                        break;
                    }
                    gort::yield_now();
                }
                assert_eq!(got, Some(8), "cap {cap}");
                sender.join().unwrap();
            })
        });
    }
}

/// `fifo.go`: blocked senders are served in arrival order, also when they
/// block through a select.
#[test]
fn fifo() {
    timed(|| {
        rt(1).block_on(|| {
            let (tx, rx) = chan::<u32>(0);
            for i in 0..100 {
                let tx = tx.clone();
                go(move || {
                    if i % 2 == 0 {
                        tx.send(i).unwrap();
                    } else {
                        select! { send(&tx, i) -> r => r.unwrap() }
                    }
                });
                // Let it block before the next one starts.
                gort::yield_now();
            }
            for i in 0..100 {
                assert_eq!(rx.recv(), Some(i));
            }
        })
    });
}

/// `goroutines.go`: a value passed down a chain of 10,000 goroutines.
#[test]
fn goroutine_chain() {
    for procs in [1, 2] {
        let v = timed(move || {
            rt(procs).block_on(|| {
                let (first_tx, mut rx) = chan::<u32>(0);
                for _ in 0..10_000 {
                    let (tx, next) = chan::<u32>(0);
                    go(move || {
                        let v = select! { recv(rx) -> v => v.unwrap() };
                        tx.send(v + 1).unwrap();
                    });
                    rx = next;
                }
                first_tx.send(0).unwrap();
                rx.recv().unwrap()
            })
        });
        assert_eq!(v, 10_000, "procs={procs}");
    }
}

/// Go's TestSelectStress: four channels of capacities 0, 0, 2 and 3; on
/// each, N plain sends and N plain receives, plus a goroutine that sends N
/// on each through one select and one that receives N from each through
/// one select, dropping a channel from its select (a nil case) once its N
/// are done. Everything completes and every count matches.
#[test]
fn select_stress() {
    for procs in [1, 2] {
        timed(move || {
            rt(procs).block_on(move || {
                const N: usize = 2_000;
                let chans: Vec<(Sender<usize>, Receiver<usize>)> =
                    [0, 0, 2, 3].into_iter().map(chan).collect();
                let mut hs = Vec::new();
                for (tx, rx) in &chans {
                    let tx = tx.clone();
                    hs.push(go(move || {
                        for i in 0..N {
                            tx.send(i).unwrap();
                        }
                        0
                    }));
                    let rx = rx.clone();
                    hs.push(go(move || {
                        (0..N).map(|_| rx.recv().unwrap()).sum::<usize>()
                    }));
                }
                let txs: Vec<Sender<usize>> = chans.iter().map(|c| c.0.clone()).collect();
                hs.push(go(move || {
                    let mut left = [N; 4];
                    while left.iter().any(|&n| n > 0) {
                        let live = |k: usize| (left[k] > 0).then_some(&txs[k]);
                        let (a, b, c, d) = (live(0), live(1), live(2), live(3));
                        let k = select! {
                            send(a, N - left[0]) -> r => { r.unwrap(); 0 }
                            send(b, N - left[1]) -> r => { r.unwrap(); 1 }
                            send(c, N - left[2]) -> r => { r.unwrap(); 2 }
                            send(d, N - left[3]) -> r => { r.unwrap(); 3 }
                        };
                        left[k] -= 1;
                    }
                    0
                }));
                let rxs: Vec<Receiver<usize>> = chans.iter().map(|c| c.1.clone()).collect();
                hs.push(go(move || {
                    let mut left = [N; 4];
                    let mut sum = 0;
                    while left.iter().any(|&n| n > 0) {
                        let live = |k: usize| (left[k] > 0).then_some(&rxs[k]);
                        let (a, b, c, d) = (live(0), live(1), live(2), live(3));
                        let (k, v) = select! {
                            recv(a) -> v => (0, v),
                            recv(b) -> v => (1, v),
                            recv(c) -> v => (2, v),
                            recv(d) -> v => (3, v),
                        };
                        sum += v.expect("no channel closes");
                        left[k] -= 1;
                    }
                    sum
                }));
                let total: usize = hs.into_iter().map(|h| h.join().unwrap()).sum();
                // Each channel carries 0..N twice (plain and selected sends).
                assert_eq!(total, 4 * 2 * (N * (N - 1) / 2), "procs={procs}");
            })
        });
    }
}

/// `select.go`: a select over a growing set of ready cases picks each of
/// them over many rounds (no case starves), and counts add up.
#[test]
fn select_counts() {
    timed(|| {
        rt(1).block_on(|| {
            let chans: Vec<(Sender<u32>, Receiver<u32>)> = (0..4).map(|_| chan(1)).collect();
            let mut hits = [0u32; 4];
            for round in 0..4_000u32 {
                for (tx, _) in &chans {
                    let _ = tx.try_send(round);
                }
                let k = select! {
                    recv(chans[0].1) -> _ => 0,
                    recv(chans[1].1) -> _ => 1,
                    recv(chans[2].1) -> _ => 2,
                    recv(chans[3].1) -> _ => 3,
                };
                hits[k] += 1;
            }
            assert_eq!(hits.iter().sum::<u32>(), 4_000);
            assert!(
                hits.iter().all(|&h| h > 500),
                "a ready case starved: {hits:?}"
            );
        })
    });
}
