//! Goroutine-to-goroutine hand-offs: an unbuffered channel ping-pong and a
//! `yield_now` round trip.
//!
//! Benchmark ids (group `chan`), `<trace>` as in `spawn.rs` plus
//! `trace_on_nostacks` (tracing with stack recording off):
//! - `pingpong_unbuffered/procs{1,2}/<trace>`: one round trip is a send from
//!   A to B on one unbuffered channel and a send back on another.
//! - `yield_round_trip/procs{1,2}/<trace>`: two goroutines each call
//!   `yield_now` `iters` times; one round trip is one `yield_now` of each
//!   (Go's `runtime.Gosched`).

mod common;

use criterion::Criterion;

fn pingpong_loop(iters: u64) {
    let (to_b, from_a) = gort::chan::<u64>(0);
    let (to_a, from_b) = gort::chan::<u64>(0);
    let echo = gort::go(move || {
        while let Some(v) = from_a.recv() {
            if to_a.send(v).is_err() {
                return;
            }
        }
    });
    for i in 0..iters {
        if to_b.send(i).is_err() || from_b.recv() != Some(i) {
            panic!("the echo goroutine went away");
        }
    }
    to_b.close();
    if echo.join().is_err() {
        panic!("the echo goroutine panicked");
    }
}

fn yield_loop(iters: u64) {
    let other = gort::go(move || {
        for _ in 0..iters {
            gort::yield_now();
        }
    });
    for _ in 0..iters {
        gort::yield_now();
    }
    if other.join().is_err() {
        panic!("the yielding goroutine panicked");
    }
}

fn bench_pair(c: &mut Criterion, name: &str, body: fn(u64)) {
    for procs in [1, 2] {
        let rt = common::runtime(procs);
        let id = format!("chan/{name}/procs{procs}/{}", common::trace_off_label());
        c.bench_function(&id, |b| {
            b.iter_custom(|iters| common::time_in_goroutine(&rt, iters, body))
        });
        #[cfg(feature = "trace")]
        for how in [common::Tracing::Default, common::Tracing::NoStacks] {
            let id = format!("chan/{name}/procs{procs}/{}", how.label());
            let _trace = how.start(&rt, &id);
            c.bench_function(&id, |b| {
                b.iter_custom(|iters| common::time_in_goroutine(&rt, iters, body))
            });
        }
    }
}

fn pingpong(c: &mut Criterion) {
    bench_pair(c, "pingpong_unbuffered", pingpong_loop);
}

fn yield_round_trip(c: &mut Criterion) {
    bench_pair(c, "yield_round_trip", yield_loop);
}

fn main() {
    common::main(&[pingpong, yield_round_trip]);
}
