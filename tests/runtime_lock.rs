//! `lock_os_thread`: a wired goroutine stays on its thread across blocking
//! calls, has that thread to itself, and may exit while wired.

mod runtime_support;

use runtime_support::{rt, timed};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

/// A wired goroutine does `rounds` channel round trips with an echo
/// goroutine, sleeping every tenth round; returns the threads it ran on and
/// the threads the echo goroutine ran on while the first was wired.
fn wired_round_trips(rounds: u32) -> (Vec<ThreadId>, Vec<ThreadId>) {
    let (tx, rx) = gort::chan::<u32>(0);
    let (back_tx, back_rx) = gort::chan::<u32>(0);
    let echo_threads = Arc::new(Mutex::new(Vec::new()));
    let et = echo_threads.clone();
    let echo = gort::go(move || {
        for v in rx.iter() {
            et.lock().unwrap().push(std::thread::current().id());
            back_tx.send(v + 1).unwrap();
        }
    });
    let wired = gort::go(move || {
        gort::lock_os_thread();
        let mut seen = vec![std::thread::current().id()];
        for i in 0..rounds {
            tx.send(i).unwrap();
            seen.push(std::thread::current().id());
            assert_eq!(back_rx.recv(), Some(i + 1));
            seen.push(std::thread::current().id());
            if i % 10 == 0 {
                gort::sleep(Duration::from_millis(1));
                seen.push(std::thread::current().id());
                gort::yield_now();
                seen.push(std::thread::current().id());
            }
        }
        drop(tx);
        gort::unlock_os_thread();
        seen
    });
    let seen = wired.join().unwrap();
    echo.join().unwrap();
    let echo_threads = echo_threads.lock().unwrap().clone();
    (seen, echo_threads)
}

fn check_wired(seen: &[ThreadId], echo: &[ThreadId]) {
    let home = seen[0];
    assert!(
        seen.iter().all(|t| *t == home),
        "a wired goroutine moved between threads"
    );
    assert_eq!(echo.len(), 100);
    assert!(
        echo.iter().all(|t| *t != home),
        "another goroutine ran on a wired goroutine's thread"
    );
}

#[test]
fn wired_goroutine_keeps_its_thread_procs2() {
    timed(|| {
        let (seen, echo) = rt(2).block_on(|| wired_round_trips(100));
        check_wired(&seen, &echo);
    });
}

#[test]
fn wired_goroutine_keeps_its_thread_procs1() {
    timed(|| {
        let (seen, echo) = rt(1).block_on(|| wired_round_trips(100));
        check_wired(&seen, &echo);
    });
}

#[test]
fn lock_calls_nest() {
    timed(|| {
        rt(2).block_on(|| {
            gort::go(|| {
                gort::lock_os_thread();
                gort::lock_os_thread();
                let home = std::thread::current().id();
                gort::unlock_os_thread();
                // Still wired (depth 1): sleeping must not move us.
                for _ in 0..20 {
                    gort::sleep(Duration::from_millis(1));
                    assert_eq!(std::thread::current().id(), home);
                }
                gort::unlock_os_thread();
                gort::unlock_os_thread(); // unmatched: does nothing
            })
            .join()
            .unwrap();
        });
    });
}

#[test]
fn goroutine_exiting_while_wired_does_not_break_the_runtime() {
    timed(|| {
        let rt = rt(2);
        rt.block_on(|| {
            for _ in 0..5 {
                let t = gort::go(|| {
                    gort::lock_os_thread();
                    gort::sleep(Duration::from_millis(1));
                    std::thread::current().id()
                    // exits still wired: its thread goes with it
                })
                .join()
                .unwrap();
                // Other goroutines keep running, blocking and waking.
                let (tx, rx) = gort::chan::<u32>(0);
                let h = gort::go(move || rx.iter().sum::<u32>());
                for i in 0..100 {
                    tx.send(i).unwrap();
                    if i % 25 == 0 {
                        gort::sleep(Duration::from_millis(1));
                    }
                }
                drop(tx);
                assert_eq!(h.join().unwrap(), 4950);
                let hs: Vec<_> = (0..50)
                    .map(|_| gort::go(|| std::thread::current().id()))
                    .collect();
                for h in hs {
                    assert_ne!(
                        h.join().unwrap(),
                        t,
                        "the exited wired goroutine's thread ran goroutines again"
                    );
                }
            }
        });
        // And the runtime serves another main goroutine.
        assert_eq!(rt.block_on(|| gort::go(|| 6).join().unwrap()), 6);
    });
}

#[test]
fn main_goroutine_exiting_while_wired() {
    timed(|| {
        let rt = rt(1);
        rt.block_on(gort::lock_os_thread);
        assert_eq!(rt.block_on(|| gort::go(|| 7).join().unwrap()), 7);
        rt.block_on(|| {
            gort::lock_os_thread();
            gort::sleep(Duration::from_millis(2));
        });
        let v = rt.block_on(|| {
            let (tx, rx) = gort::chan(1);
            gort::go(move || tx.send(8).unwrap());
            rx.recv()
        });
        assert_eq!(v, Some(8));
    });
}
