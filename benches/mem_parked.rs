//! Memory per parked goroutine: parks 100,000 goroutines on one channel and
//! prints (RSS after − RSS before) / 100,000, with RSS read from
//! `/proc/self/statm`.
//!
//! Run with `cargo bench --bench mem_parked`; prints one line:
//! `mem_parked: goroutines=100000 rss_before=B rss_after=A bytes_per_goroutine=X`.
//! The count can be changed with `GORT_MEM_PARKED_N`.

use std::sync::Arc;

#[path = "common/rss.rs"]
mod rss;
use rss::rss_bytes;

fn main() {
    let n: usize = match std::env::var("GORT_MEM_PARKED_N") {
        Ok(s) => match s.parse() {
            Ok(n) if n > 0 => n,
            _ => panic!("GORT_MEM_PARKED_N must be a positive integer, got {s:?}"),
        },
        Err(_) => 100_000,
    };
    let rt = match gort::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => panic!("cannot start the runtime: {e}"),
    };
    let (before, after) = rt.block_on(move || {
        let (tx, rx) = gort::chan::<()>(0);
        let parked = Arc::new(gort::sync::WaitGroup::new());
        let done = Arc::new(gort::sync::WaitGroup::new());
        // Warm up: one goroutine through the same path, so that lazily
        // created runtime state is not counted.
        {
            let rx = rx.clone();
            let h = gort::go(move || rx.try_recv().is_ok());
            let _ = h.join();
        }
        let before = rss_bytes();
        parked.add(n as i64);
        done.add(n as i64);
        for _ in 0..n {
            let rx = rx.clone();
            let parked = parked.clone();
            let done = done.clone();
            drop(gort::go(move || {
                parked.done();
                let _ = rx.recv();
                done.done();
            }));
        }
        parked.wait();
        // Let the last ones reach their park.
        for _ in 0..10 {
            gort::yield_now();
        }
        let after = rss_bytes();
        tx.close();
        done.wait();
        (before, after)
    });
    let per = (after.saturating_sub(before)) as f64 / n as f64;
    println!(
        "mem_parked: goroutines={n} rss_before={before} rss_after={after} bytes_per_goroutine={per:.0}"
    );
}
