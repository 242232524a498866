//! Dropping a runtime: goroutines still blocked are unwound (their
//! destructors run, their code does not go on) and every stack is freed.

mod runtime_support;

use runtime_support::{rt, timed, DropCount};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn drop_unwinds_goroutines_blocked_forever() {
    const N: usize = 100;
    timed(|| {
        let drops = DropCount::default();
        let ran_on = Arc::new(AtomicUsize::new(0));
        let rt = rt(2);
        let d = drops.clone();
        let r = ran_on.clone();
        rt.block_on(move || {
            let (tx, rx) = gort::chan::<u32>(0);
            let arrived = Arc::new(AtomicUsize::new(0));
            for _ in 0..N {
                let g = d.guard();
                let rx = rx.clone();
                let arrived = arrived.clone();
                let r = r.clone();
                gort::go(move || {
                    arrived.fetch_add(1, SeqCst);
                    rx.recv(); // never sent to
                    r.fetch_add(1, SeqCst);
                    drop(g);
                });
            }
            // Keep the channel open for ever: the Sender leaks into a goroutine
            // that is itself blocked.
            let keep = d.guard();
            gort::go(move || {
                let _tx = tx;
                let _keep = keep;
                let (_t, never) = gort::chan::<()>(0);
                never.recv();
            });
            while arrived.load(SeqCst) < N {
                gort::sleep(Duration::from_millis(1));
            }
        });
        let (live, allocated) = rt.stack_stats();
        assert!(live > N, "{live} live stacks with {N}+1 goroutines parked");
        assert!(allocated >= live);
        assert!(rt.live_goroutines() > N);
        assert_eq!(drops.get(), 0);
        drop(rt);
        assert_eq!(
            drops.get(),
            N + 1,
            "every blocked goroutine's locals were dropped"
        );
        assert_eq!(
            ran_on.load(SeqCst),
            0,
            "a goroutine ran past its blocking call during drop"
        );
    });
}

#[test]
fn drop_with_queued_and_never_started_goroutines() {
    timed(|| {
        let drops = DropCount::default();
        let rt = rt(1);
        let d = drops.clone();
        rt.block_on(move || {
            // The main goroutine returns without blocking: these are still
            // queued, never run, when block_on returns (procs = 1).
            for _ in 0..10 {
                let g = d.guard();
                gort::go(move || {
                    let (_t, r) = gort::chan::<()>(0);
                    r.recv();
                    drop(g);
                });
            }
        });
        drop(rt);
        // Started or not, every goroutine's captured state is dropped.
        assert_eq!(drops.get(), 10);
    });
}

#[test]
fn drop_unwinds_a_goroutine_blocked_in_pull_next() {
    // The caller waits in `next` while the sequence is blocked on a channel.
    timed(|| {
        let drops = DropCount::default();
        let after_next = Arc::new(AtomicBool::new(false));
        let in_seq = Arc::new(AtomicBool::new(false));
        let rt = rt(2);
        let (d, a, s) = (drops.clone(), after_next.clone(), in_seq.clone());
        rt.block_on(move || {
            let (tx, rx) = gort::chan::<u32>(0);
            let ds = d.guard();
            let s2 = s.clone();
            let p = gort::iter::pull(move |y: &mut dyn FnMut(u32) -> bool| {
                let _g = ds;
                s2.store(true, SeqCst);
                for v in rx.iter() {
                    if !y(v) {
                        return;
                    }
                }
            });
            let g = d.guard();
            gort::go(move || {
                let _tx = tx; // held, never used: the sequence waits for ever
                let _g = g;
                let v = p.next();
                a.store(true, SeqCst);
                v
            });
            while !s.load(SeqCst) {
                gort::sleep(Duration::from_millis(1));
            }
            gort::sleep(Duration::from_millis(10));
        });
        assert!(rt.stack_stats().0 >= 2);
        drop(rt);
        assert!(
            !after_next.load(SeqCst),
            "during runtime drop, code after a blocked next() ran (next returned early)"
        );
        assert_eq!(
            drops.get(),
            2,
            "the caller's and the sequence's locals were dropped"
        );
    });
}

#[test]
fn drop_unwinds_a_goroutine_holding_a_suspended_pull() {
    timed(|| {
        let drops = DropCount::default();
        let rt = rt(2);
        let d = drops.clone();
        rt.block_on(move || {
            let ds = d.guard();
            let p = gort::iter::pull(move |y: &mut dyn FnMut(u32) -> bool| {
                let _g = ds;
                for i in 0.. {
                    if !y(i) {
                        return;
                    }
                }
            });
            let g = d.guard();
            let (ready_tx, ready_rx) = gort::chan::<()>(0);
            gort::go(move || {
                let _g = g;
                assert_eq!(p.next(), Some(0));
                ready_tx.send(()).unwrap();
                let (_t, never) = gort::chan::<()>(0);
                never.recv();
                drop(p);
            });
            ready_rx.recv();
        });
        drop(rt);
        assert_eq!(drops.get(), 2);
    });
}

#[test]
fn stacks_return_to_the_pool_after_a_burst() {
    timed(|| {
        // One P: every burst has all 5000 goroutines alive at its peak, so
        // the two bursts need the same number of stacks.
        let rt = rt(1);
        let (before, _) = rt.stack_stats();
        assert_eq!(before, 0);
        rt.block_on(|| {
            let hs: Vec<_> = (0..5000)
                .map(|i| {
                    gort::go(move || {
                        if i % 3 == 0 {
                            gort::yield_now();
                        }
                        i
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
        });
        runtime_support::eventually("stacks back in the pool", || rt.stack_stats().0 == 0);
        let (_, allocated) = rt.stack_stats();
        // Reuse: a second burst of the same size carves nothing new.
        rt.block_on(|| {
            let hs: Vec<_> = (0..5000).map(|i| gort::go(move || i)).collect();
            for h in hs {
                h.join().unwrap();
            }
        });
        runtime_support::eventually("stacks back in the pool", || rt.stack_stats().0 == 0);
        assert!(
            rt.stack_stats().1 <= allocated + 512,
            "a second burst carved {} -> {} stacks",
            allocated,
            rt.stack_stats().1
        );
    });
}

#[test]
fn drop_with_a_wired_goroutine_blocked() {
    timed(|| {
        let drops = DropCount::default();
        let rt = rt(2);
        let d = drops.clone();
        rt.block_on(move || {
            let wired = Arc::new(AtomicBool::new(false));
            let w2 = wired.clone();
            let g = d.guard();
            gort::go(move || {
                gort::lock_os_thread();
                let _g = g;
                let (_t, never) = gort::chan::<()>(0);
                w2.store(true, SeqCst);
                never.recv();
            });
            while !wired.load(SeqCst) {
                gort::sleep(Duration::from_millis(1));
            }
            gort::sleep(Duration::from_millis(5));
        });
        // Must not hang: the wired M has to notice the shutdown.
        drop(rt);
        assert_eq!(drops.get(), 1);
    });
}

#[test]
fn drop_with_a_never_started_pull_held_by_a_blocked_goroutine() {
    timed(|| {
        let drops = DropCount::default();
        let rt = rt(2);
        let d = drops.clone();
        rt.block_on(move || {
            let ds = d.guard();
            let p = gort::iter::pull(move |y: &mut dyn FnMut(u32) -> bool| {
                let _g = ds;
                y(1);
            });
            let g = d.guard();
            let (ready_tx, ready_rx) = gort::chan::<()>(1);
            gort::go(move || {
                let _g = g;
                let _p = p; // never started
                let (_t, never) = gort::chan::<()>(0);
                ready_tx.send(()).unwrap();
                never.recv();
            });
            ready_rx.recv();
        });
        drop(rt);
        assert_eq!(drops.get(), 2);
    });
}
