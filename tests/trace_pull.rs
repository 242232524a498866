//! The tracer writes exactly the coroutine events a `pull` performs: one
//! GoCreateBlocked per `pull`, one GoSwitch per switch in either direction,
//! one GoSwitchDestroy per finished coroutine; and the trace is valid.
#![cfg(feature = "trace")]

mod support;

use support::*;

fn traced(procs: usize, f: impl FnOnce() + Send + 'static) -> Vec<u8> {
    let _serial = trace_lock();
    let buf = SharedBuf::default();
    let b2 = buf.clone();
    gort::Runtime::builder()
        .procs(procs)
        .build()
        .unwrap()
        .block_on(move || {
            gort::trace::start(b2).unwrap();
            f();
            gort::trace::stop().unwrap();
        });
    buf.take()
}

#[test]
fn drained_pull_emits_create_switches_and_destroy() {
    const N: u32 = 100;
    let trace = traced(1, || {
        let p = gort::iter::pull(|y: &mut dyn FnMut(u32) -> bool| {
            for i in 0..N {
                if !y(i) {
                    return;
                }
            }
        });
        assert_eq!(p.count(), N as usize);
    });
    let c = raw_counts(&trace);
    assert_eq!(c.get("GoCreateBlocked"), Some(&1), "{c:?}");
    // N x (next -> coroutine, yield -> caller), then the last next into the
    // coroutine, which returns with GoSwitchDestroy.
    assert_eq!(c.get("GoSwitch"), Some(&(2 * N as usize + 1)), "{c:?}");
    assert_eq!(c.get("GoSwitchDestroy"), Some(&1), "{c:?}");
    validate_with_gort(&trace);
    let f = scratch("trace-pull").join("drained.trace");
    std::fs::write(&f, &trace).unwrap();
    validate_with_go(&[f]);
}

#[test]
fn stopped_and_bounced_pulls_are_valid() {
    let trace = traced(2, || {
        // Stopped before start, stopped half way.
        let a = gort::iter::pull(|y: &mut dyn FnMut(u32) -> bool| while y(1) {});
        a.stop();
        let b = gort::iter::pull(|y: &mut dyn FnMut(u32) -> bool| while y(2) {});
        assert_eq!(b.next(), Some(2));
        b.stop();
        // One Pull bounced between two goroutines through channels.
        let p = gort::iter::pull(|y: &mut dyn FnMut(u32) -> bool| {
            for i in 0..50 {
                if !y(i) {
                    return;
                }
            }
        });
        let (tx1, rx1) = gort::chan(0);
        let (tx2, rx2) = gort::chan::<gort::iter::Pull<u32>>(0);
        let h = gort::go(move || {
            for p in rx1.iter() {
                let p: gort::iter::Pull<u32> = p;
                if p.next().is_none() {
                    break;
                }
                if tx2.send(p).is_err() {
                    break;
                }
            }
        });
        tx1.send(p).unwrap();
        for p in rx2.iter() {
            if p.next().is_none() {
                break;
            }
            if tx1.send(p).is_err() {
                break;
            }
        }
        drop(tx1);
        h.join().unwrap();
    });
    let c = raw_counts(&trace);
    assert_eq!(c.get("GoCreateBlocked"), Some(&3), "{c:?}");
    assert_eq!(c.get("GoSwitchDestroy"), Some(&3), "{c:?}");
    validate_with_gort(&trace);
    let f = scratch("trace-pull2").join("bounced.trace");
    std::fs::write(&f, &trace).unwrap();
    validate_with_go(&[f]);
}

#[test]
fn goroutines_silent_across_generations_keep_valid_statuses() {
    let _serial = trace_lock();
    let buf = SharedBuf::default();
    let b2 = buf.clone();
    gort::Runtime::builder()
        .procs(2)
        .build()
        .unwrap()
        .block_on(move || {
            // Blocked since before tracing started, and never woken.
            let (_keep, never) = gort::chan::<()>(0);
            let parked = gort::go(move || never.recv());
            gort::yield_now();
            let cfg = gort::trace::Config::default().period(std::time::Duration::from_millis(5));
            gort::trace::start_with(b2, cfg).unwrap();
            // Runs through several generations without a single scheduling event.
            let spinner = gort::go(|| {
                let t = std::time::Instant::now();
                let mut x = 0u64;
                while t.elapsed() < std::time::Duration::from_millis(40) {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
                x
            });
            gort::sleep(std::time::Duration::from_millis(60));
            spinner.join().unwrap();
            gort::trace::stop().unwrap();
            drop(parked);
        });
    let trace = buf.take();
    validate_with_gort(&trace);
    let f = scratch("trace-silent").join("silent.trace");
    std::fs::write(&f, &trace).unwrap();
    validate_with_go(&[f]);
}
