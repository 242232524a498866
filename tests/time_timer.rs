//! `gort::time` as users see it: ports of Go's `time` tests for Stop, Reset,
//! Ticker and AfterFunc (time/sleep_test.go, time/tick_test.go) under Go
//! 1.23's timer-channel rules, sleeping goroutines, and deadlock detection
//! with pending timers. Only ordering and behaviour are asserted; the
//! durations are far apart so that noisy machines cannot reorder them.

mod runtime_support;

use gort::time::{after, after_func, tick, Ticker, Timer};
use gort::TryRecvError;
use runtime_support::{expect_panic, rt, timed};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MS: Duration = Duration::from_millis(1);
const HOUR: Duration = Duration::from_secs(3600);

/// Go's TestAfter / TestSleep: the value is the due time, never early.
#[test]
fn after_delivers_its_due_time_and_sleep_waits() {
    timed(|| {
        rt(2).block_on(|| {
            let start = Instant::now();
            let at = after(20 * MS).recv().expect("a timer channel never closes");
            assert!(at >= start + 20 * MS, "delivered before due");
            let before = Instant::now();
            gort::sleep(20 * MS);
            assert!(before.elapsed() >= 20 * MS, "sleep returned early");
            gort::sleep(Duration::ZERO);
        });
    });
}

/// A timer channel never closes: a second receive blocks (here: is empty).
#[test]
fn after_channel_never_closes() {
    timed(|| {
        rt(2).block_on(|| {
            let rx = after(MS);
            assert!(rx.recv().is_some());
            gort::sleep(10 * MS);
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        });
    });
}

/// Go's TestAfterStop: a stopped timer never delivers, even one already due.
#[test]
fn after_stop_no_value_is_ever_received() {
    timed(|| {
        rt(2).block_on(|| {
            let t1 = Timer::new(50 * MS);
            let f = after_func(50 * MS, || panic!("stopped after_func ran"));
            let t2 = Timer::new(10 * MS);
            assert!(t1.stop(), "a pending timer stops with true");
            assert!(f.stop());
            // Due and fired, never received: stop takes the value back.
            gort::sleep(30 * MS);
            assert!(t2.stop(), "an unreceived value counts as pending (Go 1.23)");
            assert!(!t2.stop(), "a second stop finds nothing");
            gort::sleep(100 * MS);
            assert_eq!(t1.chan().try_recv(), Err(TryRecvError::Empty));
            assert_eq!(t2.chan().try_recv(), Err(TryRecvError::Empty));
        });
    });
}

/// Stop after the value was received returns false.
#[test]
fn stop_after_receive_is_false() {
    timed(|| {
        rt(2).block_on(|| {
            let t = Timer::new(MS);
            assert!(t.chan().recv().is_some());
            assert!(!t.stop());
            assert!(!t.reset(MS), "reset of a fired, received timer");
            assert!(t.chan().recv().is_some(), "a reset timer fires again");
        });
    });
}

/// Go's TestReset (1.23): reset of an expired, unreceived timer returns
/// true and the stale value is gone; the receive comes from the new arming.
#[test]
fn reset_discards_the_stale_value() {
    timed(|| {
        rt(2).block_on(|| {
            let t = Timer::new(MS);
            gort::sleep(20 * MS);
            let reset_at = Instant::now();
            assert!(t.reset(30 * MS));
            let at = t.chan().recv().unwrap();
            assert!(at >= reset_at + 30 * MS, "received the stale value");
        });
    });
}

/// Go's TestTimerModifiedEarlier: a timer reset to fire earlier fires at
/// the earlier time (the idle M's deadline moves forward).
#[test]
fn timer_modified_earlier_fires_first() {
    timed(|| {
        rt(2).block_on(|| {
            let late = Timer::new(HOUR);
            let t = Timer::new(HOUR);
            assert!(t.reset(10 * MS));
            assert!(t.chan().recv().is_some());
            assert_eq!(late.chan().try_recv(), Err(TryRecvError::Empty));
            assert!(late.stop());
        });
    });
}

/// Several timers each deliver once, no earlier than their deadlines,
/// whatever the creation order (the firing order is the heap's, checked by
/// `sched::timers`' unit test; two due at once may deliver in either order).
#[test]
fn timers_fire_no_earlier_than_their_deadlines() {
    timed(|| {
        rt(2).block_on(|| {
            let (tx, rx) = gort::chan(8);
            let start = std::time::Instant::now();
            let _ts: Vec<Timer> = [80u64, 20, 50]
                .into_iter()
                .map(|ms| {
                    let tx = tx.clone();
                    after_func(MS * ms as u32, move || {
                        tx.send((ms, start.elapsed())).unwrap()
                    })
                })
                .collect();
            let mut got: Vec<u64> = (0..3)
                .map(|_| {
                    let (ms, at) = rx.recv().unwrap();
                    assert!(at >= MS * ms as u32, "the {ms} ms timer fired at {at:?}");
                    ms
                })
                .collect();
            got.sort_unstable();
            assert_eq!(got, [20, 50, 80]);
        });
    });
}

/// Go's TestTicker: ticks arrive; a slow receiver misses ticks (at most one
/// buffered, later ones dropped) and the ticker skips the missed periods.
#[test]
fn ticker_drops_ticks_for_a_slow_receiver() {
    timed(|| {
        rt(2).block_on(|| {
            let t = Ticker::new(10 * MS);
            let a = t.chan().recv().unwrap();
            let b = t.chan().recv().unwrap();
            assert!(b > a);
            gort::sleep(100 * MS);
            // One tick waited in the buffer; the others were dropped.
            let buffered = t.chan().try_recv().expect("one tick is buffered");
            assert_eq!(t.chan().try_recv(), Err(TryRecvError::Empty));
            let next = t.chan().recv().unwrap();
            assert!(next > buffered);
            // Skipped periods: the next tick is not the buffered one's
            // successor but the first period after the sleep.
            assert!(next >= buffered + 10 * MS);
        });
    });
}

/// Go's TestTicker/stop: no tick after stop, even one already buffered.
#[test]
fn ticker_stop_no_tick_afterwards() {
    timed(|| {
        rt(2).block_on(|| {
            let t = Ticker::new(5 * MS);
            t.chan().recv().unwrap();
            gort::sleep(20 * MS);
            t.stop();
            gort::sleep(30 * MS);
            assert_eq!(t.chan().try_recv(), Err(TryRecvError::Empty));
        });
    });
}

/// Go's ticker Reset: the new period applies, old ticks are gone; a zero
/// period gives a ticker that never ticks (Go's `Tick(0)` is nil).
#[test]
fn ticker_reset_changes_period() {
    timed(|| {
        rt(2).block_on(|| {
            let t = Ticker::new(HOUR);
            t.reset(5 * MS);
            let a = t.chan().recv().unwrap();
            let b = t.chan().recv().unwrap();
            assert!(b >= a + 5 * MS);
            t.reset(HOUR);
            assert_eq!(t.chan().try_recv(), Err(TryRecvError::Empty));
            let z = Ticker::new(Duration::ZERO);
            gort::sleep(10 * MS);
            assert_eq!(z.chan().try_recv(), Err(TryRecvError::Empty));
            let rx = tick(2 * MS);
            assert!(rx.recv().is_some() && rx.recv().is_some());
        });
    });
}

/// Go's TestAfterFunc: the callback runs in a new goroutine, each time the
/// timer is reset and fires.
#[test]
fn after_func_runs_in_a_goroutine_each_firing() {
    timed(|| {
        rt(2).block_on(|| {
            let main = gort::goroutine_id();
            let n = Arc::new(AtomicUsize::new(0));
            let (tx, rx) = gort::chan(4);
            let n2 = n.clone();
            let t = after_func(MS, move || {
                n2.fetch_add(1, SeqCst);
                tx.send(gort::goroutine_id()).unwrap();
            });
            let g1 = rx.recv().unwrap();
            assert!(g1.is_some() && g1 != main, "ran in a goroutine of its own");
            assert!(!t.stop(), "already fired");
            assert!(!t.reset(MS));
            let g2 = rx.recv().unwrap();
            assert_ne!(g1, g2, "each firing starts a new goroutine");
            assert_eq!(n.load(SeqCst), 2);
            assert_eq!(t.chan().try_recv(), Err(TryRecvError::Empty));
        });
    });
}

/// 100,000 goroutines sleeping at once all wake.
#[test]
fn hundred_thousand_sleepers_complete() {
    timed(|| {
        rt(2).block_on(|| {
            let done = Arc::new(AtomicUsize::new(0));
            let hs: Vec<_> = (0..100_000u64)
                .map(|i| {
                    let done = done.clone();
                    gort::go(move || {
                        gort::sleep(Duration::from_micros(i % 1000 + 1) * 20);
                        done.fetch_add(1, SeqCst);
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            assert_eq!(done.load(SeqCst), 100_000);
        });
    });
}

/// A pending timer is not a deadlock: a main goroutine waiting on `after`
/// (or sleeping) with nothing else alive is woken by the timer.
#[test]
fn pending_timer_is_not_a_deadlock() {
    timed(|| {
        rt(2).block_on(|| {
            assert!(after(30 * MS).recv().is_some());
            let t = Timer::new(30 * MS);
            assert!(t.chan().recv().is_some());
        });
        rt(1).block_on(|| gort::sleep(30 * MS));
    });
}

/// A stopped timer's channel with nothing else alive is a deadlock.
#[test]
fn receive_from_stopped_timer_alone_is_a_deadlock() {
    timed(|| {
        let msg = expect_panic(|| {
            rt(2).block_on(|| {
                let t = Timer::new(HOUR);
                t.stop();
                t.chan().recv();
            })
        });
        assert!(
            msg.contains("all goroutines are asleep - deadlock!"),
            "{msg}"
        );
    });
}

/// Outside a runtime, timers run on the process-wide timer thread.
#[test]
fn timers_work_from_plain_threads() {
    timed(|| {
        let start = Instant::now();
        assert!(after(10 * MS).recv().unwrap() >= start + 10 * MS);
        let t = Timer::new(HOUR);
        assert!(t.stop());
        let (tx, rx) = gort::chan(1);
        let _f = after_func(MS, move || tx.send(7).unwrap());
        assert_eq!(rx.recv(), Some(7));
        let tk = Ticker::new(2 * MS);
        assert!(tk.chan().recv().is_some());
        tk.stop();
    });
}
