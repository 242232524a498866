//! Parser throughput on `tests/data/go1.23/large.trace` (a real Go 1.23.9
//! trace of about 4 MB).
//!
//! Benchmark ids (group `parse`, throughput in bytes, so criterion prints
//! MB/s):
//! - `raw_reader`: `gort_parser::raw::Reader`, every wire event decoded with
//!   no validation.
//! - `ordered_reader`: `gort_parser::Reader`, the validated events in Go's
//!   order.
//!
//! Before measuring, each prints `parse/<id>: events=N bytes=M` so that
//! events per second follow from the median time.

mod common;

use criterion::{black_box, Criterion, Throughput};
use std::time::Duration;

const TRACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/go1.23/large.trace");

fn load() -> Vec<u8> {
    match std::fs::read(TRACE) {
        Ok(b) => b,
        Err(e) => panic!("cannot read {TRACE}: {e}"),
    }
}

fn count_raw(data: &[u8]) -> u64 {
    let reader = match raw_reader(data) {
        Ok(r) => r,
        Err(e) => panic!("{TRACE}: {e}"),
    };
    let mut n = 0u64;
    for ev in reader {
        match ev {
            Ok(ev) => {
                black_box(&ev);
                n += 1;
            }
            Err(e) => panic!("{TRACE}: {e}"),
        }
    }
    n
}

fn raw_reader(data: &[u8]) -> gort::parser::Result<gort::parser::raw::Reader<'_>> {
    gort::parser::raw::Reader::new(data)
}

fn count_ordered(data: &[u8]) -> u64 {
    let reader = match gort::parser::Reader::from_slice(data) {
        Ok(r) => r,
        Err(e) => panic!("{TRACE}: {e}"),
    };
    let mut n = 0u64;
    for ev in reader {
        match ev {
            Ok(ev) => {
                black_box(&ev);
                n += 1;
            }
            Err(e) => panic!("{TRACE}: {e}"),
        }
    }
    n
}

/// Reads a whole trace and returns its number of events.
type Counter = fn(&[u8]) -> u64;

fn parse(c: &mut Criterion) {
    let data = load();
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Bytes(data.len() as u64))
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    let readers: [(&str, Counter); 2] =
        [("raw_reader", count_raw), ("ordered_reader", count_ordered)];
    for (name, count) in readers {
        println!("parse/{name}: events={} bytes={}", count(&data), data.len());
        g.bench_function(name, |b| b.iter(|| count(black_box(&data))));
    }
    g.finish();
}

fn main() {
    common::main(&[parse]);
}
