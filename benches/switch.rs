//! Context-switch costs: the floor (a bare corosensei resume + suspend round
//! trip) and gort's `Pull::next()` round trip.
//!
//! Benchmark ids (group `switch`):
//! - `corosensei_resume_suspend`: one `resume` + `suspend` on a `DefaultStack`.
//! - `pull_next/trace_off`: `next()` on an endless sequence, tracer hooks
//!   compiled in but tracing stopped.
//! - `pull_next/trace_on`: the same while tracing into `io::sink()` with
//!   `gort::trace` (needs the default `trace` feature);
//!   `pull_next/trace_on_nostacks` with stack recording off.
//! - `pull_next/flight_recorder`: the same while a `gort::trace::FlightRecorder`
//!   (default settings: 10 s, 10 MiB) records.
//! - `pull_next/no_trace_feature`: the tracer compiled out:
//!   `cargo bench --no-default-features --bench switch`.

mod common;

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, Yielder};
use criterion::{black_box, Criterion};
use std::time::Duration;

fn corosensei_round_trip(c: &mut Criterion) {
    let stack = match DefaultStack::new(64 << 10) {
        Ok(s) => s,
        Err(e) => panic!("cannot allocate a coroutine stack: {e}"),
    };
    let mut co = Coroutine::with_stack(stack, |y: &Yielder<u64, u64>, mut v: u64| loop {
        v = y.suspend(v.wrapping_add(1));
    });
    c.bench_function("switch/corosensei_resume_suspend", |b| {
        let mut v = 0u64;
        b.iter(|| match co.resume(black_box(v)) {
            CoroutineResult::Yield(n) => v = n,
            CoroutineResult::Return(()) => unreachable!("the coroutine loops forever"),
        })
    });
}

/// Times `iters` `next()` calls, excluding the `pull` creation and first
/// `next`.
fn time_pull_next(rt: &gort::Runtime, iters: u64) -> Duration {
    rt.block_on(move || common::pull_next_loop(iters))
}

fn pull_next_trace_off(c: &mut Criterion) {
    let rt = common::runtime(1);
    let id = format!("switch/pull_next/{}", common::trace_off_label());
    c.bench_function(&id, |b| b.iter_custom(|iters| time_pull_next(&rt, iters)));
}

/// `next()` round trip while tracing into `io::sink()`, with and without
/// stacks.
#[cfg(feature = "trace")]
fn pull_next_trace_on(c: &mut Criterion) {
    let rt = common::runtime(1);
    for how in [common::Tracing::Default, common::Tracing::NoStacks] {
        let id = format!("switch/pull_next/{}", how.label());
        let _trace = how.start(&rt, &id);
        c.bench_function(&id, |b| b.iter_custom(|iters| time_pull_next(&rt, iters)));
    }
}

/// Without the `trace` feature there is no `gort::trace`, and no tracing-on
/// variant.
#[cfg(not(feature = "trace"))]
fn pull_next_trace_on(_c: &mut Criterion) {}

/// `next()` round trip while a flight recorder keeps the trace in memory.
#[cfg(feature = "trace")]
fn pull_next_flight_recorder(c: &mut Criterion) {
    use gort::trace::{FlightRecorder, FlightRecorderConfig};
    let rt = common::runtime(1);
    let rec = std::sync::Arc::new(FlightRecorder::new(FlightRecorderConfig::default()));
    let r2 = rec.clone();
    if let Err(e) = rt.block_on(move || r2.start()) {
        panic!("cannot start the flight recorder: {e:?}");
    }
    c.bench_function("switch/pull_next/flight_recorder", |b| {
        b.iter_custom(|iters| time_pull_next(&rt, iters))
    });
    let st = rec.stats();
    rec.stop();
    eprintln!(
        "flight_recorder_stats: peak_held_bytes={} largest_generation_bytes={} generations={}",
        st.peak_held_bytes, st.largest_generation_bytes, st.generations_recorded
    );
}

#[cfg(not(feature = "trace"))]
fn pull_next_flight_recorder(_c: &mut Criterion) {}

fn main() {
    common::main(&[
        corosensei_round_trip,
        pull_next_trace_off,
        pull_next_trace_on,
        pull_next_flight_recorder,
    ]);
}
