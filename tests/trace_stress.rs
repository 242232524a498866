//! Starting and stopping tracing 100 times while 1,000 goroutines switch
//! coroutines and block on channels gives 100 valid traces.
#![cfg(feature = "trace")]

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use support::*;

#[test]
fn hundred_start_stop_cycles_under_load_give_valid_traces() {
    let _serial = trace_lock();
    let dir = scratch("trace-stress");
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    let files = rt.block_on(move || {
        let stop = Arc::new(AtomicBool::new(false));
        let wg = gort::sync::WaitGroup::new();
        // 500 pairs: each pair ping-pongs on an unbuffered channel and pulls
        // from a coroutine on every round.
        for _ in 0..500 {
            let (tx, rx) = gort::chan::<u32>(0);
            let (back_tx, back_rx) = gort::chan::<u32>(0);
            wg.add(2);
            let (s1, w1) = (stop.clone(), wg.clone());
            gort::go(move || {
                let p = gort::iter::pull(|y: &mut dyn FnMut(u32) -> bool| {
                    let mut i = 0;
                    while y(i) {
                        i += 1;
                    }
                });
                while !s1.load(Ordering::Relaxed) {
                    let v = p.next().unwrap();
                    if tx.send(v).is_err() {
                        break;
                    }
                    if back_rx.recv().is_none() {
                        break;
                    }
                }
                drop(tx);
                w1.done();
            });
            let w2 = wg.clone();
            gort::go(move || {
                for v in rx.iter() {
                    if back_tx.send(v).is_err() {
                        break;
                    }
                }
                w2.done();
            });
        }
        let mut files = Vec::new();
        for i in 0..100 {
            let buf = SharedBuf::default();
            gort::trace::start(buf.clone()).unwrap();
            gort::sleep(std::time::Duration::from_micros(500));
            gort::trace::stop().unwrap();
            let bytes = buf.take();
            let n = validate_with_gort(&bytes);
            assert!(n > 10, "trace {i} has only {n} events");
            let f = dir.join(format!("cycle{i:03}.trace"));
            std::fs::write(&f, &bytes).unwrap();
            files.push(f);
        }
        stop.store(true, Ordering::Relaxed);
        wg.wait();
        files
    });
    validate_with_go(&files);
}

#[test]
fn start_and_stop_errors() {
    let _serial = trace_lock();
    gort::Runtime::builder()
        .procs(1)
        .build()
        .unwrap()
        .block_on(|| {
            assert!(matches!(
                gort::trace::stop(),
                Err(gort::trace::Error::NotRunning)
            ));
            gort::trace::start(std::io::sink()).unwrap();
            assert!(matches!(
                gort::trace::start(std::io::sink()),
                Err(gort::trace::Error::AlreadyRunning)
            ));
            gort::trace::stop().unwrap();
        });
    assert!(matches!(
        gort::trace::start(std::io::sink()),
        Err(gort::trace::Error::NotInRuntime)
    ));
}
