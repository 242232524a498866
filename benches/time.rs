//! Timers (group `time`), in a 2-P runtime:
//! - `timer_create_stop`: `Timer::new(1 h)` then `stop()`: a heap insert and
//!   a zombie (Go: `time.NewTimer(time.Hour).Stop()`).
//! - `after_recv`: `after(0)` then a receive: a heap insert, the scheduler
//!   firing it and the goroutine woken (Go: `<-time.After(0)`).

mod common;

use criterion::Criterion;
use std::time::Duration;

fn bench(c: &mut Criterion) {
    let rt = common::runtime(2);
    let mut g = c.benchmark_group("time");
    g.bench_function("timer_create_stop", |b| {
        b.iter_custom(|iters| {
            common::time_in_goroutine(&rt, iters, |iters| {
                for _ in 0..iters {
                    let t = gort::time::Timer::new(Duration::from_secs(3600));
                    std::hint::black_box(t.stop());
                }
            })
        })
    });
    g.bench_function("after_recv", |b| {
        b.iter_custom(|iters| {
            common::time_in_goroutine(&rt, iters, |iters| {
                for _ in 0..iters {
                    std::hint::black_box(gort::time::after(Duration::ZERO).recv());
                }
            })
        })
    });
    g.finish();
}

fn main() {
    common::main(&[bench]);
}
