//! A Go-shaped program on gort: a pool of workers fed through a channel,
//! each job with a deadline (`select!` over the result and
//! `time::after`), a ticker printing progress, a quit channel, a shared
//! cache behind an `RwMutex` filled once per key, a `WaitGroup` to wait for
//! the workers, and a `Cond` handing out a limited number of permits.
//!
//! Run: `cargo run --release --example workers`
//! With a trace: `GORT_TRACE=workers.trace cargo run --release --example workers`,
//! then `go tool trace -pprof=sync workers.trace` shows where goroutines
//! blocked on select, channels and locks.

use gort::sync::{Cond, Mutex, RwMutex, WaitGroup};
use gort::time::{after, Ticker};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const WORKERS: usize = 8;
const JOBS: u64 = 400;
const PERMITS: usize = 3;

/// A counting semaphore from a `Mutex` and a `Cond`.
struct Permits {
    free: Mutex<usize>,
    cond: Cond,
}

impl Permits {
    fn acquire(&self) {
        let g = self.free.lock();
        let mut g = self.cond.wait_while(g, |n| *n == 0);
        *g -= 1;
    }

    fn release(&self) {
        *self.free.lock() += 1;
        self.cond.signal();
    }
}

/// A job's work: a little computation, sometimes slow (it then misses its
/// deadline).
fn work(job: u64, cache: &RwMutex<HashMap<u64, u64>>) -> u64 {
    if job % 50 == 7 {
        gort::sleep(Duration::from_millis(30));
    }
    let key = job % 16;
    if let Some(v) = cache.read().get(&key) {
        return v + job;
    }
    let v = (0..=key).map(|k| k * k).sum::<u64>();
    cache.write().entry(key).or_insert(v);
    v + job
}

fn main() {
    let rt = gort::Runtime::builder()
        .procs(2)
        .build()
        .expect("start the runtime");
    let start = Instant::now();
    let (done, late, ticks) = rt.block_on(|| {
        let (jobs_tx, jobs_rx) = gort::chan::<u64>(16);
        let (results_tx, results_rx) = gort::chan::<Result<u64, u64>>(16);
        let (quit_tx, quit_rx) = gort::chan::<()>(0);
        let cache = Arc::new(RwMutex::new(HashMap::new()));
        let permits = Arc::new(Permits {
            free: Mutex::new(PERMITS),
            cond: Cond::new(),
        });
        let wg = Arc::new(WaitGroup::new());
        for _ in 0..WORKERS {
            wg.add(1);
            let (jobs, results, quit) = (jobs_rx.clone(), results_tx.clone(), quit_rx.clone());
            let (cache, permits, wg) = (cache.clone(), permits.clone(), wg.clone());
            gort::go(move || {
                loop {
                    let job = gort::select! {
                        recv(jobs) -> j => match j { Some(j) => j, None => break },
                        recv(quit) -> _ => break,
                    };
                    // Each job runs in its own goroutine, under a permit,
                    // and must answer within 10 ms.
                    permits.acquire();
                    let (tx, rx) = gort::chan(1);
                    let c = cache.clone();
                    gort::go(move || {
                        let _ = tx.send(work(job, &c));
                    });
                    let r = gort::select! {
                        recv(rx) -> v => v.ok_or(job),
                        recv(after(Duration::from_millis(10))) -> _ => Err(job),
                    };
                    permits.release();
                    if results.send(r).is_err() {
                        break;
                    }
                }
                wg.done();
            });
        }
        drop(results_tx);
        gort::go(move || {
            for j in 0..JOBS {
                jobs_tx.send(j).expect("workers are running");
            }
        });
        let ticker = Ticker::new(Duration::from_millis(5));
        let (mut done, mut late, mut ticks) = (0u64, 0u64, 0u64);
        while done + late < JOBS {
            gort::select! {
                recv(results_rx) -> r => match r {
                    Some(Ok(_)) => done += 1,
                    Some(Err(_)) => late += 1,
                    None => break,
                },
                recv(ticker.chan()) -> _ => ticks += 1,
            }
        }
        ticker.stop();
        drop(quit_tx);
        wg.wait();
        (done, late, ticks)
    });
    println!(
        "{JOBS} jobs on {WORKERS} workers in {:.2?}: {done} in time, {late} past their deadline; {ticks} progress ticks",
        start.elapsed()
    );
}
