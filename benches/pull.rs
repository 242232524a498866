//! `gort::iter::pull` (Go's `iter.Pull`).
//!
//! Benchmark ids (group `pull`), `<trace>` as in `spawn.rs`:
//! - `create_next_stop/<trace>`: `pull(seq)`, one `next()`, `stop()`, drop:
//!   the whole life of a short-lived Pull.
//! - `next/procs{1,2}/<trace>`: the `next()` round trip on an endless
//!   sequence (the creation is left out of the timing); `trace_on` with
//!   procs 1 only. A long traced run: its `trace_stats:` line reports the
//!   writer's peak queue and the batch buffers allocated against those
//!   reused, which stay flat however many iterations criterion picks.

mod common;

use criterion::Criterion;

fn create_next_stop_loop(iters: u64) {
    for i in 0..iters {
        let p = gort::iter::pull(move |yield_: &mut dyn FnMut(u64) -> bool| {
            let mut v = i;
            while yield_(v) {
                v += 1;
            }
        });
        if p.next() != Some(i) {
            panic!("the first next returned the wrong value");
        }
        p.stop();
    }
}

fn create_next_stop(c: &mut Criterion) {
    let rt = common::runtime(1);
    let id = format!("pull/create_next_stop/{}", common::trace_off_label());
    c.bench_function(&id, |b| {
        b.iter_custom(|iters| common::time_in_goroutine(&rt, iters, create_next_stop_loop))
    });
    #[cfg(feature = "trace")]
    {
        let _trace = common::Tracing::Default.start(&rt, "pull/create_next_stop/trace_on");
        c.bench_function("pull/create_next_stop/trace_on", |b| {
            b.iter_custom(|iters| common::time_in_goroutine(&rt, iters, create_next_stop_loop))
        });
    }
}

fn next(c: &mut Criterion) {
    for procs in [1, 2] {
        let rt = common::runtime(procs);
        let id = format!("pull/next/procs{procs}/{}", common::trace_off_label());
        c.bench_function(&id, |b| {
            b.iter_custom(|iters| rt.block_on(move || common::pull_next_loop(iters)))
        });
        #[cfg(feature = "trace")]
        if procs == 1 {
            let id = "pull/next/procs1/trace_on";
            let _trace = common::Tracing::Default.start(&rt, id);
            c.bench_function(id, |b| {
                b.iter_custom(|iters| rt.block_on(move || common::pull_next_loop(iters)))
            });
        }
    }
}

fn main() {
    common::main(&[create_next_stop, next]);
}
