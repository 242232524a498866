//! Scale: N goroutines each parked on one channel receive, woken by closing
//! the channel and joined through a done channel; the same program as
//! `scripts/bench-go/scale` (Go). Run by `scripts/bench-scale`, a fresh
//! process per point.
//!
//! `cargo bench --bench scale -- N [PROCS [STACK_BYTES]]` (PROCS defaults to 2, the stack
//! size to the runtime's default) prints one line:
//! `scale: side=gort n=N procs=P spawn_park_s=S wake_join_s=W rss_before=B rss_after=A bytes_per_goroutine=X page_table_bytes_per_goroutine=T`.
//!
//! With `--long` after N, the goroutines stay parked until the runtime has
//! released their stacks (its monitor does that for goroutines parked two
//! seconds or more; up to 60 s are allowed) and the line adds
//! `long_wait_s=L bytes_per_goroutine_long=Y`: the wait and the RSS growth
//! per goroutine then; `wake_join_s` is then the wake-up of long-parked
//! goroutines, whose stacks come back first.
//!
//! spawn+park runs from the first `go` until every goroutine has reported,
//! just before its receive, and ten `yield_now` calls let the last ones reach
//! it; RSS (from `/proc/self/statm`) is read then, and again before the
//! spawning began, and so is the page-table memory (`VmPTE`), which RSS
//! does not count. wake+join runs from `close` until the last goroutine has
//! sent on the done channel.

use std::sync::Arc;
use std::time::Instant;

#[path = "common/rss.rs"]
mod rss;
use rss::rss_bytes;

/// The process's page-table memory in bytes (`VmPTE` of `/proc/self/status`).
fn page_table_bytes() -> u64 {
    let status = match std::fs::read_to_string("/proc/self/status") {
        Ok(s) => s,
        Err(e) => panic!("cannot read /proc/self/status: {e}"),
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmPTE:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn parse(what: &str, s: &str) -> usize {
    match s.parse() {
        Ok(n) if n > 0 => n,
        _ => panic!("scale: {what} must be a positive integer, got {s:?}"),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; the other arguments are N, PROCS and STACK_BYTES.
    let long = std::env::args().any(|a| a == "--long");
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let n = args.first().map_or(100_000, |s| parse("N", s));
    let procs = args.get(1).map_or(2, |s| parse("PROCS", s));
    let mut builder = gort::Builder::new().procs(procs);
    if let Some(s) = args.get(2) {
        builder = builder.stack_size(parse("STACK_BYTES", s));
    }
    let rt = match builder.build() {
        Ok(rt) => Arc::new(rt),
        Err(e) => panic!("cannot start the runtime: {e}"),
    };
    let rt2 = rt.clone();
    let (spawn_park, wake_join, before, after, pte, long_park) = rt.block_on(move || {
        let (tx, rx) = gort::chan::<()>(0);
        let (done_tx, done_rx) = gort::chan::<()>(0);
        let parked = Arc::new(gort::sync::WaitGroup::new());
        // Warm up: one goroutine through the same path.
        {
            let done_tx = done_tx.clone();
            drop(gort::go(move || done_tx.send(())));
            let _ = done_rx.recv();
        }
        let before = rss_bytes();
        let pte_before = page_table_bytes();
        let t0 = Instant::now();
        parked.add(n as i64);
        for _ in 0..n {
            let rx = rx.clone();
            let parked = parked.clone();
            let done_tx = done_tx.clone();
            drop(gort::go(move || {
                parked.done();
                let _ = rx.recv();
                let _ = done_tx.send(());
            }));
        }
        parked.wait();
        for _ in 0..10 {
            gort::yield_now();
        }
        let spawn_park = t0.elapsed();
        let after = rss_bytes();
        let pte = page_table_bytes().saturating_sub(pte_before);
        let long_park = long.then(|| {
            let t = Instant::now();
            while rt2.stack_memory().parked_released < n
                && t.elapsed() < std::time::Duration::from_secs(60)
            {
                let _ = gort::time::after(std::time::Duration::from_millis(50)).recv();
            }
            let m = rt2.stack_memory();
            (
                t.elapsed(),
                rss_bytes(),
                m.parked_released,
                m.parked_saved_bytes,
            )
        });
        let t1 = Instant::now();
        tx.close();
        for _ in 0..n {
            if done_rx.recv().is_none() {
                panic!("scale: the done channel closed early");
            }
        }
        let wake_join = t1.elapsed();
        (spawn_park, wake_join, before, after, pte, long_park)
    });
    let per = after.saturating_sub(before) as f64 / n as f64;
    let stacks = rt.stack_memory();
    let pte_per = pte as f64 / n as f64;
    let long_fields = long_park.map_or(String::new(), |(wait, rss, released, saved)| {
        format!(
            " long_wait_s={:.3} bytes_per_goroutine_long={:.0} stacks_released_long={} saved_bytes_per_stack={}",
            wait.as_secs_f64(),
            rss.saturating_sub(before) as f64 / n as f64,
            released,
            saved / released.max(1),
        )
    });
    println!(
        "scale: side=gort n={n} procs={procs} spawn_park_s={:.6} wake_join_s={:.6} rss_before={before} rss_after={after} bytes_per_goroutine={per:.0} page_table_bytes_per_goroutine={pte_per:.0} stacks_allocated={} stacks_prewarmed={}{long_fields}",
        spawn_park.as_secs_f64(),
        wake_join.as_secs_f64(),
        stacks.allocated,
        stacks.prewarmed,
    );
}
