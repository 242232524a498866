//! Timers (group `time`), in a 2-P runtime:
//! - `timer_create_stop`: `Timer::new(1 h)` then `stop()`: a heap insert and
//!   a zombie (Go: `time.NewTimer(time.Hour).Stop()`).
//! - `after_recv`: `after(0)` then a receive: a heap insert, the scheduler
//!   firing it and the goroutine woken (Go: `<-time.After(0)`).

use criterion::{criterion_group, criterion_main, Criterion};
use std::time::{Duration, Instant};

fn bench(c: &mut Criterion) {
    let rt = gort::Runtime::builder().procs(2).build().expect("runtime");
    let mut g = c.benchmark_group("time");
    g.bench_function("timer_create_stop", |b| {
        b.iter_custom(|iters| {
            rt.block_on(move || {
                let start = Instant::now();
                for _ in 0..iters {
                    let t = gort::time::Timer::new(Duration::from_secs(3600));
                    std::hint::black_box(t.stop());
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("after_recv", |b| {
        b.iter_custom(|iters| {
            rt.block_on(move || {
                let start = Instant::now();
                for _ in 0..iters {
                    std::hint::black_box(gort::time::after(Duration::ZERO).recv());
                }
                start.elapsed()
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
