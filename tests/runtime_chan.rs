//! Channel semantics, end to end: rendezvous, FIFO buffering, close, and
//! closing by dropping every `Sender`.
//!
//! A test that needs a goroutine blocked in a channel operation runs on one
//! P and waits with [`yield_until`] for a flag the goroutine sets just before
//! the operation: goroutines are not preempted, so by then it has parked in
//! it (or, if the channel is broken, completed it, which the test catches).

mod runtime_support;

use runtime_support::{rt, timed, yield_until};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

#[test]
fn unbuffered_send_waits_for_its_receive() {
    timed(|| {
        rt(1).block_on(|| {
            let (tx, rx) = gort::chan::<u32>(0);
            // Nobody receives yet: a non-blocking send cannot complete.
            assert_eq!(tx.try_send(7), Err(gort::TrySendError::Full(7)));
            let started = Arc::new(AtomicBool::new(false));
            let sent = Arc::new(AtomicBool::new(false));
            let (started2, sent2) = (started.clone(), sent.clone());
            let h = gort::go(move || {
                started2.store(true, SeqCst);
                tx.send(1).unwrap();
                sent2.store(true, SeqCst);
            });
            yield_until("the sender starts", || started.load(SeqCst));
            assert!(
                !sent.load(SeqCst) && !h.is_finished(),
                "an unbuffered send completed before any receive"
            );
            assert_eq!(rx.recv(), Some(1));
            h.join().unwrap();
            assert!(sent.load(SeqCst));
        });
    });
}

#[test]
fn unbuffered_receive_waits_for_its_send() {
    timed(|| {
        rt(1).block_on(|| {
            let (tx, rx) = gort::chan::<u32>(0);
            assert_eq!(rx.try_recv(), Err(gort::TryRecvError::Empty));
            let started = Arc::new(AtomicBool::new(false));
            let got = Arc::new(AtomicBool::new(false));
            let (started2, got2) = (started.clone(), got.clone());
            let h = gort::go(move || {
                started2.store(true, SeqCst);
                let v = rx.recv();
                got2.store(true, SeqCst);
                v
            });
            yield_until("the receiver starts", || started.load(SeqCst));
            assert!(
                !got.load(SeqCst) && !h.is_finished(),
                "a receive completed with no sender"
            );
            tx.send(9).unwrap();
            assert_eq!(h.join().unwrap(), Some(9));
        });
    });
}

#[test]
fn unbuffered_each_send_pairs_with_one_receive() {
    // The receiver acknowledges value i only after receiving it; a sender that
    // completed a send before its receive would run ahead of `received`.
    timed(|| {
        rt(2).block_on(|| {
            let (tx, rx) = gort::chan::<usize>(0);
            let received = Arc::new(AtomicUsize::new(0));
            let r2 = received.clone();
            let h = gort::go(move || {
                for (i, v) in rx.iter().enumerate() {
                    assert_eq!(v, i);
                    r2.store(i + 1, SeqCst);
                    if i % 100 == 0 {
                        gort::yield_now();
                    }
                }
            });
            for i in 0..2000 {
                tx.send(i).unwrap();
                // Our send returned, so its receive has begun: the receiver
                // is past every earlier value.
                assert!(received.load(SeqCst) >= i, "send {i} ran ahead of receives");
            }
            drop(tx);
            h.join().unwrap();
            assert_eq!(received.load(SeqCst), 2000);
        });
    });
}

#[test]
fn buffered_is_fifo_and_bounded() {
    timed(|| {
        rt(2).block_on(|| {
            let (tx, rx) = gort::chan::<u32>(10);
            assert_eq!(tx.capacity(), 10);
            for i in 0..10 {
                tx.try_send(i).unwrap();
            }
            assert_eq!(tx.len(), 10);
            assert_eq!(tx.try_send(10), Err(gort::TrySendError::Full(10)));
            let got: Vec<u32> = (0..10).map(|_| rx.recv().unwrap()).collect();
            assert_eq!(got, (0..10).collect::<Vec<_>>());
            assert!(rx.is_empty());

            // Through a small buffer, with a sender that blocks when it is full.
            let (tx, rx) = gort::chan::<u32>(4);
            let h = gort::go(move || {
                for i in 0..5000 {
                    tx.send(i).unwrap();
                }
            });
            let got: Vec<u32> = rx.iter().collect();
            assert_eq!(got, (0..5000).collect::<Vec<_>>());
            h.join().unwrap();
        });
    });
}

#[test]
fn buffered_send_blocks_when_full() {
    timed(|| {
        rt(1).block_on(|| {
            let (tx, rx) = gort::chan::<u32>(2);
            let progress = Arc::new(AtomicUsize::new(0));
            let p2 = progress.clone();
            let h = gort::go(move || {
                for i in 0..3 {
                    tx.send(i).unwrap();
                    p2.store(i as usize + 1, SeqCst);
                }
            });
            // After its second store the sender goes straight into the third send.
            yield_until("two sends complete", || progress.load(SeqCst) >= 2);
            assert_eq!(
                progress.load(SeqCst),
                2,
                "the third send must block on a full buffer"
            );
            assert!(
                !h.is_finished(),
                "the third send must block on a full buffer"
            );
            assert_eq!(rx.len(), 2, "the buffer holds exactly its capacity");
            assert_eq!(rx.recv(), Some(0));
            h.join().unwrap();
            assert_eq!(progress.load(SeqCst), 3);
            assert_eq!(rx.recv(), Some(1));
            assert_eq!(rx.recv(), Some(2));
            assert_eq!(rx.recv(), None);
        });
    });
}

#[test]
fn close_then_drain_then_none() {
    timed(|| {
        rt(1).block_on(|| {
            let (tx, rx) = gort::chan::<u32>(5);
            for i in 0..3 {
                tx.send(i).unwrap();
            }
            tx.close();
            assert!(tx.is_closed());
            assert_eq!(rx.recv(), Some(0));
            assert_eq!(rx.try_recv(), Ok(1));
            assert_eq!(rx.recv(), Some(2));
            assert_eq!(rx.recv(), None);
            assert_eq!(rx.recv(), None);
            assert_eq!(rx.try_recv(), Err(gort::TryRecvError::Closed));
            tx.close(); // closing twice is harmless
        });
    });
}

#[test]
fn send_after_close_errors_with_the_value() {
    timed(|| {
        rt(1).block_on(|| {
            let (tx, rx) = gort::chan::<String>(1);
            tx.close();
            let e = tx.send("lost".to_owned()).unwrap_err();
            assert_eq!(e.0, "lost");
            assert_eq!(e.to_string(), "send on a closed channel");
            match tx.try_send("again".to_owned()) {
                Err(gort::TrySendError::Closed(v)) => assert_eq!(v, "again"),
                other => panic!("try_send after close: {other:?}"),
            }
            assert_eq!(rx.recv(), None);
        });
    });
}

#[test]
fn close_wakes_blocked_senders_and_receivers() {
    timed(|| {
        rt(1).block_on(|| {
            let (tx, rx) = gort::chan::<u32>(0);
            let entered = Arc::new(AtomicUsize::new(0));
            let receivers: Vec<_> = (0..4)
                .map(|_| {
                    let (rx, entered) = (rx.clone(), entered.clone());
                    gort::go(move || {
                        entered.fetch_add(1, SeqCst);
                        rx.recv()
                    })
                })
                .collect();
            yield_until("every receiver blocks", || entered.load(SeqCst) == 4);
            assert!(receivers.iter().all(|h| !h.is_finished()));
            tx.close();
            for h in receivers {
                assert_eq!(h.join().unwrap(), None);
            }

            let (tx, rx) = gort::chan::<u32>(0);
            let entered = Arc::new(AtomicUsize::new(0));
            let senders: Vec<_> = (0..4)
                .map(|i| {
                    let (tx, entered) = (tx.clone(), entered.clone());
                    gort::go(move || {
                        entered.fetch_add(1, SeqCst);
                        tx.send(i)
                    })
                })
                .collect();
            yield_until("every sender blocks", || entered.load(SeqCst) == 4);
            assert!(senders.iter().all(|h| !h.is_finished()));
            tx.close();
            let mut back: Vec<u32> = senders
                .into_iter()
                .map(|h| h.join().unwrap().unwrap_err().0)
                .collect();
            back.sort();
            assert_eq!(back, [0, 1, 2, 3], "every blocked send gets its value back");
            assert_eq!(rx.recv(), None);
        });
    });
}

#[test]
fn dropping_every_sender_closes() {
    timed(|| {
        rt(1).block_on(|| {
            let (tx, rx) = gort::chan::<u32>(4);
            let tx2 = tx.clone();
            tx.send(1).unwrap();
            drop(tx);
            // One Sender left: still open.
            assert_eq!(rx.try_recv(), Ok(1));
            assert_eq!(rx.try_recv(), Err(gort::TryRecvError::Empty));
            let started = Arc::new(AtomicUsize::new(0));
            let waiter = {
                let (rx, started) = (rx.clone(), started.clone());
                gort::go(move || {
                    started.fetch_add(1, SeqCst);
                    rx.recv()
                })
            };
            yield_until("the first waiter blocks", || started.load(SeqCst) == 1);
            assert!(
                !waiter.is_finished(),
                "a receive on an open, empty channel returned"
            );
            tx2.send(2).unwrap();
            assert_eq!(waiter.join().unwrap(), Some(2));

            let s2 = started.clone();
            let waiter = gort::go(move || {
                s2.fetch_add(1, SeqCst);
                rx.iter().count()
            });
            yield_until("the second waiter blocks", || started.load(SeqCst) == 2);
            assert!(
                !waiter.is_finished(),
                "a receive on an open, empty channel returned"
            );
            let h = gort::go(move || {
                tx2.send(3).unwrap();
                drop(tx2); // the last Sender: wakes the blocked receiver
            });
            h.join().unwrap();
            assert_eq!(waiter.join().unwrap(), 1);
        });
    });
}

#[test]
fn dropping_every_receiver_fails_senders() {
    timed(|| {
        rt(1).block_on(|| {
            let (tx, rx) = gort::chan::<u32>(0);
            let started = Arc::new(AtomicBool::new(false));
            let s2 = started.clone();
            let h = gort::go(move || {
                s2.store(true, SeqCst);
                tx.send(5)
            });
            yield_until("the sender blocks", || started.load(SeqCst));
            assert!(
                !h.is_finished(),
                "an unbuffered send completed with no receiver"
            );
            drop(rx);
            assert_eq!(h.join().unwrap(), Err(gort::SendError(5)));
        });
    });
}

#[test]
fn many_senders_many_receivers_lose_nothing() {
    timed(|| {
        rt(2).block_on(|| {
            let (tx, rx) = gort::chan::<u64>(3);
            let senders: Vec<_> = (0..8u64)
                .map(|s| {
                    let tx = tx.clone();
                    gort::go(move || {
                        for i in 0..1000 {
                            tx.send(s * 1000 + i).unwrap();
                        }
                    })
                })
                .collect();
            drop(tx);
            let receivers: Vec<_> = (0..4)
                .map(|_| {
                    let rx = rx.clone();
                    gort::go(move || rx.iter().collect::<Vec<u64>>())
                })
                .collect();
            drop(rx);
            for h in senders {
                h.join().unwrap();
            }
            let mut all: Vec<u64> = Vec::new();
            for h in receivers {
                let got = h.join().unwrap();
                // Per sender, values arrive in the order sent.
                for s in 0..8u64 {
                    let mine: Vec<u64> = got.iter().copied().filter(|v| v / 1000 == s).collect();
                    assert!(mine.windows(2).all(|w| w[0] < w[1]), "sender {s} reordered");
                }
                all.extend(got);
            }
            all.sort();
            assert_eq!(all, (0..8000).collect::<Vec<_>>());
        });
    });
}

#[test]
fn channel_between_a_goroutine_and_a_plain_thread() {
    timed(|| {
        let rt = rt(2);
        let (tx, rx) = gort::chan::<u32>(0);
        let (back_tx, back_rx) = gort::chan::<u32>(0);
        // No ordering between the two sides: over the round trips, the thread's
        // sends find the goroutine parked in recv or arrive before it, and
        // either way each value crosses once.
        let th = std::thread::spawn(move || {
            for i in 0..100 {
                tx.send(i).unwrap();
                assert_eq!(back_rx.recv(), Some(i * 2));
            }
        });
        rt.block_on(move || {
            for v in rx.iter() {
                back_tx.send(v * 2).unwrap();
            }
        });
        th.join().unwrap();
    });
}
