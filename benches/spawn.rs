//! Goroutine creation: `go(f)` then `join()` on the handle, one goroutine at
//! a time (Go: `go f()` then waiting for it).
//!
//! Benchmark ids (group `spawn`): `spawn_join/procs1/<trace>` and
//! `spawn_join/procs2/<trace>`, where `<trace>` is `trace_off`,
//! `no_trace_feature` (`--no-default-features`) or `trace_on`
//! (tracing into `io::sink()`).

mod common;

use criterion::Criterion;

fn spawn_join_loop(iters: u64) {
    for i in 0..iters {
        let h = gort::go(move || criterion::black_box(i));
        if h.join().is_err() {
            panic!("the spawned goroutine panicked");
        }
    }
}

fn spawn_join(c: &mut Criterion) {
    for procs in [1, 2] {
        let rt = common::runtime(procs);
        let id = format!(
            "spawn/spawn_join/procs{procs}/{}",
            common::trace_off_label()
        );
        c.bench_function(&id, |b| {
            b.iter_custom(|iters| common::time_in_goroutine(&rt, iters, spawn_join_loop))
        });
        #[cfg(feature = "trace")]
        {
            let id = format!("spawn/spawn_join/procs{procs}/trace_on");
            let _trace = common::Tracing::Default.start(&rt, &id);
            c.bench_function(&id, |b| {
                b.iter_custom(|iters| common::time_in_goroutine(&rt, iters, spawn_join_loop))
            });
        }
    }
}

fn main() {
    common::main(&[spawn_join]);
}
