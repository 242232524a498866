//! Panics and deadlocks: a goroutine's panic reaches `join`, the main
//! goroutine's reaches `block_on`, and a runtime where nothing can run again
//! reports Go's deadlock message.

mod runtime_support;

use runtime_support::{expect_panic, panic_text, rt, timed};
use std::time::Duration;

const DEADLOCK: &str = "all goroutines are asleep - deadlock!";

/// Go's deadlock report: the message, a blank line, then the goroutines,
/// each with the wait it is stuck in (`want`: the header words expected).
#[track_caller]
fn assert_deadlock(msg: &str, want: &[&str]) {
    assert!(
        msg.starts_with(&format!("{DEADLOCK}\n\ngoroutine ")),
        "{msg}"
    );
    for w in want {
        assert!(msg.contains(w), "no {w:?} in:\n{msg}");
    }
}

#[test]
fn goroutine_panic_reaches_join_as_err() {
    timed(|| {
        rt(2).block_on(|| {
            let err = gort::go(|| -> u32 { panic!("boom") }).join().unwrap_err();
            assert_eq!(err.downcast_ref::<&str>(), Some(&"boom"));

            let err = gort::go(|| -> u32 { panic!("formatted {}", std::hint::black_box(42)) })
                .join()
                .unwrap_err();
            assert_eq!(
                err.downcast_ref::<String>().map(String::as_str),
                Some("formatted 42")
            );

            // A typed payload survives as is.
            #[derive(Debug, PartialEq)]
            struct Custom(u64);
            let err = gort::go(|| std::panic::panic_any(Custom(7)))
                .join()
                .unwrap_err();
            assert_eq!(err.downcast_ref::<Custom>(), Some(&Custom(7)));

            // A panic after blocking (so after a possible migration) too.
            let err = gort::go(|| {
                gort::sleep(Duration::from_millis(5));
                gort::yield_now();
                panic!("late boom")
            })
            .join()
            .unwrap_err();
            assert_eq!(panic_text(&*err), "late boom");

            // The runtime keeps working.
            assert_eq!(gort::go(|| 1 + 1).join().unwrap(), 2);
        });
    });
}

#[test]
fn detached_goroutine_panic_does_not_disturb_others() {
    timed(|| {
        rt(2).block_on(|| {
            for _ in 0..50 {
                drop(gort::go(|| panic!("nobody joins me")));
            }
            let hs: Vec<_> = (0..100u64).map(|i| gort::go(move || i)).collect();
            let s: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
            assert_eq!(s, 4950);
        });
    });
}

#[test]
fn main_goroutine_panic_is_reraised_by_block_on() {
    timed(|| {
        let rt = rt(2);
        let msg = expect_panic(|| {
            rt.block_on(|| {
                gort::sleep(Duration::from_millis(1));
                panic!("main boom {}", 1)
            })
        });
        assert_eq!(msg, "main boom 1");
        // The runtime is still usable.
        assert_eq!(rt.block_on(|| gort::go(|| 3).join().unwrap()), 3);

        // The payload is re-raised unchanged (resume_unwind, not a new panic).
        let p = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(|| std::panic::panic_any(17u8))
        }))
        .unwrap_err();
        assert_eq!(p.downcast_ref::<u8>(), Some(&17));
    });
}

#[test]
fn gort_run_reraises_a_panic() {
    timed(|| {
        let msg = expect_panic(|| gort::run(|| -> () { panic!("run boom") }));
        assert_eq!(msg, "run boom");
    });
}

#[test]
fn deadlock_main_alone_is_reported() {
    timed(|| {
        let msg = expect_panic(|| {
            rt(2).block_on(|| {
                let (_tx, rx) = gort::chan::<u32>(0);
                rx.recv();
            })
        });
        assert_deadlock(&msg, &["goroutine 1 [chan receive]:"]);
    });
}

#[test]
fn deadlock_among_several_goroutines_is_reported() {
    timed(|| {
        let rt = rt(2);
        let msg = expect_panic(|| {
            rt.block_on(|| {
                let (tx_a, rx_a) = gort::chan::<u32>(0);
                let (tx_b, rx_b) = gort::chan::<u32>(0);
                // Each waits for the other: a cycle.
                let a = gort::go(move || {
                    rx_b.recv();
                    tx_a.send(1).unwrap();
                });
                let b = gort::go(move || {
                    rx_a.recv();
                    tx_b.send(2).unwrap();
                });
                a.join().unwrap();
                b.join().unwrap();
            })
        });
        assert_deadlock(
            &msg,
            &[
                "[join]:",
                "[chan receive]:\ngort::Receiver::recv(...)\n\ttests/runtime_panic.rs:",
            ],
        );
        // The verdict does not stick: the next block_on runs normally.
        assert_eq!(rt.block_on(|| gort::go(|| 4).join().unwrap()), 4);
    });
}

#[test]
fn deadlock_on_mutex_and_waitgroup_is_reported() {
    timed(|| {
        let msg = expect_panic(|| {
            rt(1).block_on(|| {
                let m = std::sync::Arc::new(gort::sync::Mutex::new(0));
                let _g = m.lock();
                let m2 = m.clone();
                gort::go(move || *m2.lock() += 1).join().unwrap();
            })
        });
        assert_deadlock(
            &msg,
            &["goroutine 1 [join]:", "goroutine 2 [sync.Mutex.Lock]:"],
        );
        let msg = expect_panic(|| {
            rt(2).block_on(|| {
                let wg = gort::sync::WaitGroup::new();
                wg.add(1);
                wg.wait();
            })
        });
        assert_deadlock(&msg, &["goroutine 1 [sync.WaitGroup.Wait]:"]);
    });
}

/// After a burst of hand-offs, Ms that keep looking for work (spinning, so
/// that hand-offs need not wake them) stop after a bounded time and go
/// idle: a deadlock needs every M idle, so it is reported only if they do.
#[test]
fn deadlock_is_reported_after_ms_spun_through_a_burst_of_hand_offs() {
    timed(|| {
        let rt = rt(4);
        let msg = expect_panic(|| {
            rt.block_on(|| {
                let pairs: Vec<_> = (0..4)
                    .map(|_| {
                        gort::go(|| {
                            let (to_echo, from_main) = gort::chan::<u32>(0);
                            let (to_main, from_echo) = gort::chan::<u32>(0);
                            let echo = gort::go(move || {
                                while let Some(v) = from_main.recv() {
                                    to_main.send(v).unwrap();
                                }
                            });
                            for i in 0..2_000 {
                                to_echo.send(i).unwrap();
                                assert_eq!(from_echo.recv(), Some(i));
                            }
                            drop(to_echo);
                            echo.join().unwrap();
                        })
                    })
                    .collect();
                for p in pairs {
                    p.join().unwrap();
                }
                let (_tx, rx) = gort::chan::<u32>(0);
                rx.recv();
            })
        });
        assert_deadlock(&msg, &["goroutine 1 [chan receive]:"]);
    });
}

#[test]
fn a_pending_timer_or_syscall_is_not_a_deadlock() {
    timed(|| {
        rt(2).block_on(|| {
            let (tx, rx) = gort::chan::<u32>(0);
            gort::go(move || {
                gort::sleep(Duration::from_millis(100));
                tx.send(1).unwrap();
            });
            assert_eq!(rx.recv(), Some(1));

            let (tx, rx) = gort::chan::<u32>(0);
            gort::go(move || {
                gort::syscall(|| std::thread::sleep(Duration::from_millis(100)));
                tx.send(2).unwrap();
            });
            assert_eq!(rx.recv(), Some(2));
        });
    });
}

/// Back-to-back `block_on` calls on a runtime whose Ms go idle between them
/// (the main goroutine is the only one): an M that goes idle just as the
/// next `block_on` registers must not take it for a deadlock. Each round is
/// a few microseconds; before the fix, a false report came within tens of
/// thousands of rounds.
#[test]
fn consecutive_block_ons_are_never_taken_for_a_deadlock() {
    timed(|| {
        let rt = rt(2);
        for round in 0..60_000u64 {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                rt.block_on(move || {
                    let p = gort::iter::pull(move |y: &mut dyn FnMut(u64) -> bool| {
                        let _ = y(round) && y(round + 1);
                    });
                    (p.next(), p.next())
                })
            }));
            match r {
                Ok(v) => assert_eq!(v, (Some(round), Some(round + 1))),
                Err(p) => panic!("round {round}: block_on panicked: {}", panic_text(&*p)),
            }
        }
    });
}

#[test]
fn a_plain_thread_holding_a_keep_alive_is_waited_for() {
    // The thread sleeps before it sends, so for a while every goroutine is
    // blocked and nothing the runtime can see will wake one.
    for procs in [1, 2] {
        timed(move || {
            let v = rt(procs).block_on(|| {
                let (tx, rx) = gort::chan::<u32>(0);
                let guard = gort::keep_alive();
                let t = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(50));
                    tx.send(7).unwrap();
                    drop(guard);
                });
                let v = rx.recv();
                gort::syscall(|| t.join()).unwrap();
                v
            });
            assert_eq!(v, Some(7));
        });
    }
}

#[test]
fn the_deadlock_is_reported_once_the_last_keep_alive_goes() {
    timed(|| {
        let rt = rt(2);
        let outside = rt.keep_alive();
        let (keep_tx, keep_rx) = std::sync::mpsc::channel();
        let start = std::time::Instant::now();
        let msg = expect_panic(|| {
            rt.block_on(move || {
                let (tx, rx) = gort::chan::<u32>(0);
                let inside = gort::keep_alive();
                let again = inside.clone();
                std::thread::spawn(move || {
                    // Holds the sender (the channel stays open) and lets go
                    // of the guards one by one, never sending.
                    keep_tx.send(tx).unwrap();
                    std::thread::sleep(Duration::from_millis(30));
                    drop(inside);
                    std::thread::sleep(Duration::from_millis(30));
                    drop(again);
                    std::thread::sleep(Duration::from_millis(30));
                    drop(outside);
                });
                rx.recv()
            })
        });
        // Not before the last guard went (three sleeps of 30 ms).
        assert!(
            start.elapsed() >= Duration::from_millis(90),
            "{:?}",
            start.elapsed()
        );
        assert_deadlock(&panic_text(&msg), &["goroutine 1 [chan receive]:"]);
        drop(keep_rx);
    });
}

#[test]
fn keep_alive_outside_a_runtime_panics_with_a_clear_message() {
    let msg = expect_panic(|| drop(gort::keep_alive()));
    assert!(
        panic_text(&msg).contains("gort::keep_alive called outside a gort runtime"),
        "{}",
        panic_text(&msg)
    );
}
