//! `select!` and `Select`: Go's select semantics (uniform choice among ready
//! cases, closed channels ready, nil cases never, `default`, exactly one
//! waker wins), the operand kinds of the macro, and plain threads.

mod runtime_support;

use gort::{chan, go, select, Receiver, Select, SendError, Sender};
use runtime_support::{panic_text, rt, timed};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

/// Go's TestSelectFairness: with two channels always ready (and two never),
/// each is picked about half the time (10 sigma bound).
#[test]
fn ready_cases_are_chosen_uniformly() {
    for procs in [1, 2] {
        let (n1, n2) = timed(move || {
            rt(procs).block_on(|| {
                const TRIALS: usize = 10_000;
                let (t1, c1) = chan::<u8>(TRIALS + 1);
                let (t2, c2) = chan::<u8>(TRIALS + 1);
                for _ in 0..=TRIALS {
                    t1.send(1).unwrap();
                    t2.send(2).unwrap();
                }
                let (_t3, c3) = chan::<u8>(0);
                let (_t4, c4) = chan::<u8>(0);
                let (out_tx, out_rx) = chan::<u8>(0);
                let (done_tx, done_rx) = chan::<()>(0);
                let h = go(move || loop {
                    let b = select! {
                        recv(c3) -> b => b,
                        recv(c4) -> b => b,
                        recv(c1) -> b => b,
                        recv(c2) -> b => b,
                    };
                    let b = b.expect("open channels");
                    select! {
                        send(&out_tx, b) -> r => r.unwrap(),
                        recv(done_rx) -> _ => return,
                    }
                });
                let (mut n1, mut n2) = (0usize, 0usize);
                for _ in 0..TRIALS {
                    match out_rx.recv().unwrap() {
                        1 => n1 += 1,
                        2 => n2 += 1,
                        b => panic!("unexpected value {b}"),
                    }
                }
                drop(done_tx);
                h.join().unwrap();
                (n1, n2)
            })
        });
        // Binomial(10000, 1/2): sigma = 50.
        let dev = (n1 as f64 - 5000.0).abs();
        assert!(
            dev < 500.0,
            "procs={procs}: {n1} vs {n2} picks, {dev} off the mean"
        );
    }
}

#[test]
fn closed_channels_are_ready_and_nil_cases_never_fire() {
    let v = timed(|| {
        rt(1).block_on(|| {
            let (tx, rx) = chan::<u32>(0);
            drop(tx);
            let nil: Option<&Receiver<u32>> = None;
            let mut closed_seen = 0;
            for _ in 0..100 {
                select! {
                    recv(nil) -> _ => panic!("a nil receive fired"),
                    recv(rx) -> v => { assert_eq!(v, None); closed_seen += 1 }
                }
            }
            // A send on a channel whose receiver is gone fails with the value back.
            let (tx2, rx2) = chan::<String>(0);
            drop(rx2);
            let nil_tx: Option<&Sender<String>> = None;
            let r = select! {
                send(nil_tx, "never".to_string()) -> _ => panic!("a nil send fired"),
                send(&tx2, "back".to_string()) -> r => r,
            };
            (closed_seen, r)
        })
    });
    assert_eq!(v.0, 100);
    assert_eq!(v.1, Err(SendError("back".to_string())));
}

#[test]
fn default_runs_when_nothing_is_ready_and_only_then() {
    timed(|| {
        rt(1).block_on(|| {
            let (tx, rx) = chan::<u32>(1);
            let nil: Option<&Receiver<u32>> = None;
            let d = select! {
                recv(rx) -> _ => false,
                recv(nil) -> _ => false,
                default => true,
            };
            assert!(d, "empty channel: default");
            tx.send(3).unwrap();
            let got = select! {
                recv(rx) -> v => v,
                default => None,
            };
            assert_eq!(got, Some(3), "a ready case beats default");
            // Only nil cases with default: default (Go's select with nil
            // channels and a default).
            let got = select! { recv(nil) -> _ => 1, default => 2 };
            assert_eq!(got, 2);
            // A full buffered channel: the send case is not ready.
            tx.send(4).unwrap();
            let full = select! { send(&tx, 5) -> _ => false, default => true };
            assert!(full);
            assert_eq!(rx.recv(), Some(4));
        })
    });
}

/// Go's TestNonblockRecvRace: a buffered value and a close racing a
/// non-blocking receive: the receive must see one or the other, never
/// `default`.
#[test]
fn a_closed_buffered_channel_never_takes_default() {
    timed(|| {
        rt(2).block_on(|| {
            for _ in 0..2_000 {
                let (tx, rx) = chan::<u32>(1);
                tx.send(1).unwrap();
                let h = go(move || {
                    select! {
                        recv(rx) -> _ => {}
                        default => panic!("nonblock recv took default on a ready channel"),
                    }
                });
                drop(tx);
                h.join().unwrap();
            }
        })
    });
}

/// Go's TestSelfSelect: a goroutine selecting to send and receive on the
/// same channel never pairs with itself, and two such goroutines pair with
/// each other.
#[test]
fn a_select_never_pairs_with_itself() {
    for cap in [0, 10] {
        for procs in [1, 2] {
            timed(move || {
                rt(procs).block_on(move || {
                    let (tx, rx) = chan::<usize>(cap);
                    let hs: Vec<_> = (0..2)
                        .map(|p| {
                            let (tx, rx) = (tx.clone(), rx.clone());
                            go(move || {
                                for i in 0..1_000 {
                                    if p == 0 || i % 2 == 0 {
                                        select! {
                                            send(&tx, p) -> r => r.unwrap(),
                                            recv(rx) -> v => {
                                                let v = v.unwrap();
                                                if cap == 0 {
                                                    assert_ne!(v, p, "received its own value");
                                                }
                                            }
                                        }
                                    } else {
                                        select! {
                                            recv(rx) -> v => {
                                                let v = v.unwrap();
                                                if cap == 0 {
                                                    assert_ne!(v, p, "received its own value");
                                                }
                                            }
                                            send(&tx, p) -> r => r.unwrap(),
                                        }
                                    }
                                }
                            })
                        })
                        .collect();
                    for h in hs {
                        h.join().unwrap();
                    }
                })
            });
        }
    }
}

/// Go's TestSelectDuplicateChannel: one channel in two cases of a select;
/// once the select is woken by a third, both of its entries are gone, and a
/// later send reaches the goroutine that waits there next.
#[test]
fn one_channel_in_two_cases() {
    for procs in [1, 2] {
        let v = timed(move || {
            rt(procs).block_on(|| {
                let (ctx, c) = chan::<u32>(0);
                let (dtx, d) = chan::<u32>(0);
                let (etx, e) = chan::<u32>(0);
                let c2 = c.clone();
                let h = go(move || {
                    select! {
                        recv(c) -> _ => panic!("nothing is sent on c before d"),
                        recv(c) -> _ => panic!("nothing is sent on c before d"),
                        recv(d) -> v => assert_eq!(v, Some(7)),
                    }
                    etx.send(9).unwrap();
                });
                gort::sleep(Duration::from_millis(1));
                let waiter = go(move || c2.recv());
                gort::sleep(Duration::from_millis(1));
                dtx.send(7).unwrap();
                let nine = e.recv();
                ctx.send(8).unwrap();
                h.join().unwrap();
                (nine, waiter.join().unwrap())
            })
        });
        assert_eq!(v, (Some(9), Some(8)), "procs={procs}");
    }
}

/// Many selectors blocked on two channels, many wakers: every value is
/// delivered exactly once, and a send that no select took comes back.
#[test]
fn exactly_one_waker_wins_each_blocked_select() {
    for procs in [1, 2] {
        let (got, back) = timed(move || {
            rt(procs).block_on(|| {
                const N: usize = 200;
                let (atx, arx) = chan::<usize>(0);
                let (btx, brx) = chan::<usize>(0);
                let got = Arc::new(AtomicUsize::new(0));
                let selectors: Vec<_> = (0..N)
                    .map(|_| {
                        let (arx, brx, got) = (arx.clone(), brx.clone(), got.clone());
                        go(move || {
                            let v = select! {
                                recv(arx) -> v => v,
                                recv(brx) -> v => v,
                            };
                            got.fetch_add(v.expect("a value"), SeqCst);
                        })
                    })
                    .collect();
                // 2N senders race for N selectors; N sends fail at close.
                let senders: Vec<_> = (0..2 * N)
                    .map(|i| {
                        let tx = if i % 2 == 0 { atx.clone() } else { btx.clone() };
                        go(move || tx.send(1).err().map(|SendError(v)| v))
                    })
                    .collect();
                for h in selectors {
                    h.join().unwrap();
                }
                drop((arx, brx));
                let back: usize = senders
                    .into_iter()
                    .map(|h| h.join().unwrap().unwrap_or(0))
                    .sum();
                (got.load(SeqCst), back)
            })
        });
        assert_eq!(got, 200, "procs={procs}: one value per selector");
        assert_eq!(
            back, 200,
            "procs={procs}: the sends no select took came back"
        );
    }
}

/// A select that leaves takes its entries off the other channels' queues:
/// after many selects won by `a`, a receiver on `b` meets the first send.
#[test]
fn a_select_leaves_no_entry_behind() {
    timed(|| {
        rt(2).block_on(|| {
            let (atx, arx) = chan::<u32>(0);
            let (btx, brx) = chan::<u32>(0);
            let feeder = go(move || {
                for i in 0..10_000 {
                    atx.send(i).unwrap();
                }
            });
            for i in 0..10_000 {
                let v = select! {
                    recv(arx) -> v => v,
                    recv(brx) -> _ => panic!("nothing is sent on b"),
                };
                assert_eq!(v, Some(i));
            }
            feeder.join().unwrap();
            // Nothing waits on `b` now: a non-blocking send finds no taker.
            assert!(btx.try_send(1).is_err());
            let h = go(move || brx.recv());
            btx.send(5).unwrap();
            assert_eq!(h.join().unwrap(), Some(5));
        })
    });
}

#[test]
fn operands_of_every_kind() {
    timed(|| {
        rt(2).block_on(|| {
            // A receiver by value (a temporary): Go's `case <-time.After(d)`.
            let (_tx, rx) = chan::<u32>(0);
            let timed_out = select! {
                recv(rx) -> _ => false,
                recv(gort::time::after(Duration::from_millis(2))) -> t => { assert!(t.is_some()); true }
            };
            assert!(timed_out);
            // A reference, an Option<&Receiver>, an owned Option<Receiver>.
            let (tx, rx) = chan::<u32>(3);
            tx.send(1).unwrap();
            tx.send(2).unwrap();
            tx.send(3).unwrap();
            assert_eq!(select! { recv(&rx) -> v => v }, Some(1));
            assert_eq!(select! { recv(Some(&rx)) -> v => v }, Some(2));
            let owned = Some(rx);
            assert_eq!(select! { recv(owned) -> v => v }, Some(3));
            // Senders: a reference and an Option<&Sender>; the value is
            // evaluated once.
            let (tx, rx) = chan::<String>(2);
            let mut evaluated = 0;
            select! { send(&tx, { evaluated += 1; "a".to_string() }) -> r => r.unwrap() }
            select! { send(Some(&tx), "b".to_string()) -> r => r.unwrap(), }
            assert_eq!(evaluated, 1);
            assert_eq!(rx.recv().as_deref(), Some("a"));
            assert_eq!(rx.recv().as_deref(), Some("b"));
            // An arm may reassign its operand: Go's "set to nil once closed".
            let (t1, r1) = chan::<u32>(0);
            let (t2, r2) = chan::<u32>(0);
            go(move || {
                t1.send(1).unwrap();
            });
            go(move || {
                t2.send(2).unwrap();
            });
            let (mut a, mut b) = (Some(&r1), Some(&r2));
            let mut sum = 0;
            while a.is_some() || b.is_some() {
                select! {
                    recv(a) -> v => match v { Some(v) => sum += v, None => a = None },
                    recv(b) -> v => match v { Some(v) => sum += v, None => b = None },
                }
            }
            assert_eq!(sum, 3);
        })
    });
}

#[test]
fn dynamic_select_over_a_runtime_built_list() {
    timed(|| {
        rt(2).block_on(|| {
            let chans: Vec<(Sender<usize>, Receiver<usize>)> = (0..16).map(|_| chan(0)).collect();
            for (i, (tx, _)) in chans.iter().enumerate().filter(|(i, _)| i % 5 == 3) {
                let tx = tx.clone();
                go(move || tx.send(i * 10).unwrap());
            }
            let mut seen = Vec::new();
            for _ in 0..3 {
                let mut sel = Select::new();
                for (_, rx) in &chans {
                    sel.recv(rx);
                }
                let op = sel.select();
                let i = op.index();
                seen.push(op.recv(&chans[i].1).unwrap());
            }
            seen.sort_unstable();
            assert_eq!(seen, vec![30, 80, 130]);
            // try_select with nothing ready, then a send case.
            let mut sel = Select::new();
            sel.recv(&chans[0].1);
            assert!(sel.try_select().is_err());
            let (tx, rx) = chan::<u8>(1);
            let mut sel = Select::new();
            sel.recv(&chans[1].1);
            let i = sel.send(&tx, 7);
            let op = sel.select();
            assert_eq!(op.index(), i);
            op.send(&tx).unwrap();
            assert_eq!(rx.recv(), Some(7));
        })
    });
}

#[test]
fn misusing_a_selected_operation_panics_with_a_message() {
    let text = timed(|| {
        rt(1).block_on(|| {
            let (tx, rx) = chan::<u8>(1);
            tx.send(1).unwrap();
            let (_tx2, rx2) = chan::<u8>(1);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut sel = Select::new();
                sel.recv(&rx);
                let op = sel.select();
                op.recv(&rx2)
            }));
            panic_text(&*r.unwrap_err())
        })
    });
    assert!(text.contains("not the one of case 0"), "{text}");
}

#[test]
fn select_works_on_plain_threads() {
    let (tx, rx) = chan::<u32>(0);
    let (qtx, qrx) = chan::<()>(0);
    let th = std::thread::spawn(move || {
        let mut sum = 0;
        loop {
            select! {
                recv(rx) -> v => sum += v.unwrap(),
                recv(qrx) -> _ => return sum,
            }
        }
    });
    let tx = rt(2).block_on(move || {
        for i in 1..=100 {
            tx.send(i).unwrap();
        }
        drop(qtx);
        tx
    });
    assert_eq!(th.join().unwrap(), 5050);
    drop(tx);
}

#[test]
fn select_with_no_cases_blocks_forever_and_is_a_deadlock() {
    let r = timed(|| {
        std::panic::catch_unwind(|| {
            rt(1).block_on(|| {
                select! {}
            })
        })
    });
    let text = panic_text(&*r.unwrap_err());
    assert!(text.contains("deadlock"), "{text}");
}

#[test]
fn a_runtime_dropped_under_blocked_selects_cleans_up() {
    let (keep_tx, keep_rx) = chan::<u32>(0);
    timed(move || {
        let rt = rt(2);
        rt.block_on(move || {
            for _ in 0..50 {
                let rx = keep_rx.clone();
                let (_t, other) = chan::<u32>(0);
                go(move || {
                    select! {
                        recv(rx) -> _ => {}
                        recv(other) -> _ => {}
                    }
                });
            }
            gort::yield_now();
        });
        drop(rt);
    });
    // The selects' entries left the shared channel with their goroutines.
    assert!(keep_tx.try_send(1).is_err());
}

#[test]
fn a_select_over_nil_cases_only_is_a_deadlock() {
    let r = timed(|| {
        std::panic::catch_unwind(|| {
            rt(2).block_on(|| {
                let nil: Option<&Receiver<u32>> = None;
                select! { recv(nil) -> _ => {} }
            })
        })
    });
    let text = panic_text(&*r.unwrap_err());
    assert!(
        text.contains("all goroutines are asleep - deadlock!"),
        "{text}"
    );
}

/// Every arm form in one place: block bodies with and without a comma after
/// them, followed by more arms (a comma after a block used to be ambiguous
/// to the macro), expression bodies, and `default` in each position.
#[test]
#[rustfmt::skip]
fn block_arms_take_an_optional_comma_before_more_arms() {
    timed(|| rt(1).block_on(|| {
        let (atx, arx) = chan::<u32>(1);
        let (btx, brx) = chan::<u32>(1);
        atx.send(1).unwrap();
        let mut got = 0;
        select! { recv(arx) -> v => { got += v.unwrap(); }, recv(brx) -> _ => {} }
        assert_eq!(got, 1);
        btx.send(2).unwrap();
        select! { recv(arx) -> _ => {} recv(brx) -> v => { got += v.unwrap(); }, }
        assert_eq!(got, 3);
        select! { send(atx, 4) -> r => { r.unwrap(); }, default => { panic!("room for one") }, }
        let d = select! { default => { 7 }, recv(brx) -> _ => 0 };
        assert_eq!(d, 7);
        let v = select! { send(btx, 5) -> _ => { 9 } recv(arx) -> v => { v.unwrap() } default => 0 };
        assert!(v == 9 || v == 4, "{v}");
    }));
}
