//! Goroutines and async Rust in one program, both ways:
//! - goroutines await futures with `gort::future::block_on`: a `futures`
//!   oneshot completed by another goroutine (executor-agnostic), and a
//!   `tokio::time::sleep`, which needs tokio's timer driver, so a tokio
//!   runtime runs on its own threads beside gort's;
//! - async code on that tokio runtime awaits goroutines through their
//!   `JoinHandle`s;
//! - `gort::future::spawn` runs many small futures as goroutines, with no
//!   executor of their own.
//!
//! Run: `cargo run --release --example async_bridge`
//! With a trace: `GORT_TRACE=async.trace cargo run --release --example async_bridge`
//! (waits in `block_on` are GoBlock events with the reason `future`).

use futures::channel::oneshot;
use std::time::{Duration, Instant};

fn main() {
    // tokio's reactor and timers on their own two threads.
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("start tokio");
    let handle = tokio.handle().clone();
    let rt = gort::Runtime::builder()
        .procs(2)
        .build()
        .expect("start the gort runtime");
    let start = Instant::now();
    let (oneshots, slept, from_tokio, spawned) = rt.block_on(move || {
        // 1. 1,000 goroutines each await a oneshot that another completes.
        let waiters: Vec<_> = (0..1_000u64)
            .map(|i| {
                let (tx, rx) = oneshot::channel::<u64>();
                gort::go(move || {
                    let _ = tx.send(i * 2);
                });
                gort::go(move || gort::future::block_on(rx).expect("the sender sent"))
            })
            .collect();
        let oneshots: u64 = waiters.into_iter().map(|h| h.join().unwrap()).sum();

        // 2. A goroutine awaits tokio's timer; its M runs other goroutines
        //    meanwhile.
        let h2 = handle.clone();
        let sleeper = gort::go(move || {
            let t = Instant::now();
            // tokio's context is thread-local and a goroutine may move
            // between threads while it waits: enter it only to build the
            // future (which keeps its driver's handle), never across a wait.
            let sleep = {
                let _guard = h2.enter();
                tokio::time::sleep(Duration::from_millis(20))
            };
            gort::future::block_on(sleep);
            t.elapsed()
        });
        let mut busy = 0u64;
        while !sleeper.is_finished() {
            busy += 1;
            gort::yield_now();
        }
        let slept = sleeper.join().unwrap();
        assert!(
            busy > 0,
            "the main goroutine kept running while the sleeper waited"
        );

        // 3. A tokio task awaits goroutines (JoinHandle is a Future).
        let jobs: Vec<_> = (1..=10u64).map(|i| gort::go(move || i * i)).collect();
        let task = handle.spawn(async move {
            let mut sum = 0;
            for j in jobs {
                sum += j.await.expect("the goroutine returned");
            }
            sum
        });
        let from_tokio = gort::future::block_on(task).expect("the tokio task finished");

        // 4. Futures run as goroutines.
        let spawned: Vec<_> = (0..100u64)
            .map(|i| gort::future::spawn(async move { i + 1 }))
            .collect();
        let spawned: u64 = spawned.into_iter().map(|h| h.join().unwrap()).sum();
        (oneshots, slept, from_tokio, spawned)
    });
    println!("1000 goroutines awaited oneshots: sum {oneshots}");
    println!("a goroutine awaited tokio::time::sleep(20 ms): {slept:.2?}");
    println!("a tokio task awaited 10 goroutines: sum of squares {from_tokio}");
    println!("100 futures ran as goroutines: sum {spawned}");
    println!("total {:.2?}", start.elapsed());
}
