//! Ordered-parse throughput: reads a trace into memory and iterates over all
//! of its events (no printing), several times; prints the best run's events/s
//! and MB/s and the process's peak RSS.
//!
//! ```text
//! cargo run --release -p gort-parser --example parse_bench -- TRACE [RUNS] [--stream]
//! ```
//!
//! Events are visited with `Reader::next_event` (lent, not cloned).
//! `--stream` reads through `Reader::new` over the file (one generation in
//! memory at a time) instead of parsing the in-memory bytes zero-copy;
//! `--iter` uses the `Iterator` (an owned `Event` per item) instead.

use std::time::Instant;

use gort_parser::Reader;

/// Peak resident set size of this process in KiB (`VmHWM`), if known.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time used by this (single-threaded) process so far, in ns.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stream = args.iter().any(|a| a == "--stream");
    let iter = args.iter().any(|a| a == "--iter");
    let pos: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let path = pos
        .first()
        .ok_or("usage: parse_bench TRACE [RUNS] [--stream]")?;
    let runs: usize = pos.get(1).map(|s| s.parse()).transpose()?.unwrap_or(5);
    let size = std::fs::metadata(path)?.len();
    let data = if stream {
        Vec::new()
    } else {
        std::fs::read(path)?
    };
    let mut best = f64::INFINITY;
    let mut events = 0u64;
    let cpu0 = cpu_ns();
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        let mut n = 0u64;
        let mut r = if stream {
            Reader::new(std::fs::File::open(path)?)?
        } else {
            Reader::from_slice(&data)?
        };
        if iter {
            for ev in r {
                ev?;
                n += 1;
            }
        } else {
            while r.next_event()?.is_some() {
                n += 1;
            }
        }
        best = best.min(start.elapsed().as_secs_f64());
        events = n;
    }
    let cpu = (cpu_ns() - cpu0) as f64 / 1e6 / runs.max(1) as f64;
    println!(
        "gort {}: {events} events, {size} bytes, best of {runs}: {:.1} ms, cpu {cpu:.1} ms/run, {:.2} Mevents/s, {:.1} MB/s, peak RSS {} KiB",
        match (stream, iter) {
            (false, false) => "slice",
            (true, false) => "stream",
            (false, true) => "slice, Iterator",
            (true, true) => "stream, Iterator",
        },
        best * 1e3,
        events as f64 / best / 1e6,
        size as f64 / best / 1e6,
        peak_rss_kib().map_or("?".to_string(), |k| k.to_string())
    );
    Ok(())
}
