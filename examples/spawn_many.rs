//! Spawns many goroutines at once, each parked on a gate until all exist,
//! then releases and joins them; prints the time and the stack pool's use.
//!
//! Run: `cargo run --release --example spawn_many [-- COUNT]` (default 100,000)

use gort::sync::WaitGroup;
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map_or(100_000, |a| a.parse().expect("COUNT is a number"));
    let rt = Arc::new(gort::Runtime::builder().build().expect("start the runtime"));
    let probe = rt.clone();
    let start = Instant::now();
    let (sum, peak, spawned_in) = rt.block_on(move || {
        let gate = WaitGroup::new();
        gate.add(1);
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let gate = gate.clone();
                gort::go(move || {
                    gate.wait(); // every goroutine is alive and parked here at once
                    i
                })
            })
            .collect();
        let spawned_in = start.elapsed();
        gort::yield_now();
        let peak = probe.stack_stats();
        gate.done();
        let sum: u64 = handles
            .into_iter()
            .map(|h| h.join().expect("no goroutine panics"))
            .sum();
        (sum, peak, spawned_in)
    });
    let took = start.elapsed();
    assert_eq!(sum, n * (n - 1) / 2);
    println!("{n} goroutines spawned in {spawned_in:.2?}, all joined after {took:.2?}");
    println!("stacks live at the peak: {}, carved: {}", peak.0, peak.1);
    println!("stacks live now: {}", rt.stack_stats().0);
}
