//! Ping-pong over unbuffered channels: `PAIRS` pairs of goroutines pass a
//! counter back and forth `ROUNDS` times each; a `WaitGroup` waits for all.
//!
//! Run: `cargo run --release --example pingpong [-- PAIRS ROUNDS]`

use gort::sync::WaitGroup;
use std::time::Instant;

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<u64>().expect("PAIRS and ROUNDS are numbers"));
    let pairs = args.next().unwrap_or(4);
    let rounds = args.next().unwrap_or(100_000);
    let start = Instant::now();
    let total = gort::run(move || {
        let wg = WaitGroup::new();
        let (sum_tx, sum_rx) = gort::chan::<u64>(pairs as usize);
        for _ in 0..pairs {
            let (ping_tx, ping_rx) = gort::chan::<u64>(0);
            let (pong_tx, pong_rx) = gort::chan::<u64>(0);
            wg.add(2);
            let w = wg.clone();
            // The ponger answers every ping with the value plus one.
            gort::go(move || {
                for v in ping_rx.iter() {
                    pong_tx.send(v + 1).unwrap();
                }
                w.done();
            });
            let (w, sum_tx) = (wg.clone(), sum_tx.clone());
            gort::go(move || {
                let mut v = 0;
                for _ in 0..rounds {
                    ping_tx.send(v).unwrap();
                    v = pong_rx.recv().expect("the ponger stays until we hang up");
                }
                drop(ping_tx); // hang up: the ponger's loop ends
                sum_tx.send(v).unwrap();
                w.done();
            });
        }
        drop(sum_tx);
        wg.wait();
        sum_rx.iter().sum::<u64>()
    });
    let took = start.elapsed();
    assert_eq!(total, pairs * rounds);
    let trips = pairs * rounds;
    println!(
        "{trips} round trips on {pairs} pairs in {took:.2?}: {:.0} ns per round trip",
        took.as_nanos() as f64 / trips as f64
    );
}
