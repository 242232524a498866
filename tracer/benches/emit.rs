//! Cost of writing one event, tracing off and on, and bytes per event.
//!
//! Each iteration is a whole scheduling step: acquire the M's locker
//! (`acquire`, or `acquire_local` as the runtime does), state the context,
//! write the event, release. The trace
//! goes to `io::sink()` through the real sink thread, with generations
//! advancing every second. After the "on" group, the session's statistics
//! give the average encoded size of an event.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use gort_tracer::wire::{GoStatus, ProcStatus};
use gort_tracer::{acquire, acquire_local, Config, Frame, GoTrace, ProcTrace, ThreadTrace};

static FRAMES: [Frame; 2] = [
    Frame {
        pc: 0x4010,
        func: "bench.step",
        file: "/bench/emit.rs",
        line: 30,
    },
    Frame {
        pc: 0x4000,
        func: "bench.main",
        file: "/bench/emit.rs",
        line: 20,
    },
];

fn emit(c: &mut Criterion) {
    let m = ThreadTrace::register(1);
    let (p, g, other) = (ProcTrace::default(), GoTrace::default(), GoTrace::default());
    let ctx = |p: &'static ProcTrace, g: &'static GoTrace| {
        (
            Some((0u64, p, ProcStatus::Running)),
            Some((1u64, g, GoStatus::Running)),
        )
    };
    let (p, g, other): (&'static ProcTrace, &'static GoTrace, &'static GoTrace) = (
        Box::leak(Box::new(p)),
        Box::leak(Box::new(g)),
        Box::leak(Box::new(other)),
    );

    // The floor of any timestamped event on this machine: one clock read.
    let mut base = c.benchmark_group("baseline");
    base.throughput(Throughput::Elements(1));
    #[cfg(target_arch = "x86_64")]
    base.bench_function("rdtsc", |b| {
        // SAFETY: `rdtsc` exists on every x86-64 CPU and has no memory effects.
        b.iter(|| black_box(unsafe { std::arch::x86_64::_rdtsc() }))
    });
    base.bench_function("instant_now", |b| {
        b.iter(|| black_box(std::time::Instant::now()))
    });
    base.finish();

    let mut off = c.benchmark_group("tracing_off");
    off.throughput(Throughput::Elements(1));
    off.bench_function("go_unblock", |b| {
        b.iter(|| {
            if let Some(mut l) = acquire(black_box(&m)) {
                let (pc, gc) = ctx(p, g);
                l.writer(pc, gc).go_unblock(2, other, 0);
            }
        })
    });
    off.finish();

    // SAFETY: this benchmark is the only user of the tracer.
    unsafe { gort_tracer::start(Box::new(std::io::sink()), Config::default(), None) }
        .expect("start");
    let mut on = c.benchmark_group("tracing_on");
    on.throughput(Throughput::Elements(1));
    on.measurement_time(Duration::from_secs(3));
    on.bench_function("go_unblock", |b| {
        b.iter(|| {
            if let Some(mut l) = acquire(black_box(&m)) {
                let (pc, gc) = ctx(p, g);
                l.writer(pc, gc).go_unblock(2, other, 0);
            }
        })
    });
    on.bench_function("go_block_with_stack", |b| {
        b.iter(|| {
            if let Some(mut l) = acquire(black_box(&m)) {
                let s = l.stack(&FRAMES);
                let (pc, gc) = ctx(p, g);
                l.writer(pc, gc).go_block("chan receive", s);
            }
        })
    });
    on.bench_function("user_log", |b| {
        b.iter(|| {
            if let Some(mut l) = acquire(black_box(&m)) {
                let (pc, gc) = ctx(p, g);
                l.writer(pc, gc).user_log(7, "key", "a log message", 0);
            }
        })
    });
    // The runtime's path: `acquire_local` (no locked instruction), one
    // event per hold, as each coroutine switch writes.
    on.bench_function("go_switch_local", |b| {
        b.iter(|| {
            // SAFETY: `m` is used by this thread only.
            if let Some(mut l) = unsafe { acquire_local(black_box(&m)) } {
                let (pc, gc) = ctx(p, g);
                l.writer(pc, gc).go_switch(2, other);
            }
        })
    });
    // Ten events under one hold share its clock reading.
    on.bench_function("go_switch_x10_one_locker", |b| {
        b.iter(|| {
            if let Some(mut l) = acquire(black_box(&m)) {
                let (pc, gc) = ctx(p, g);
                let mut w = l.writer(pc, gc);
                for _ in 0..10 {
                    w.go_switch(2, other);
                }
            }
        })
    });
    on.finish();
    // SAFETY: as above.
    unsafe { gort_tracer::begin_stop() };
    let st = gort_tracer::finish_stop().expect("stop");
    eprintln!(
        "tracing_on: {} events, {} bytes, {:.2} bytes/event (tables and headers included), \
         {} generations, peak queue {} bytes",
        st.events,
        st.bytes,
        st.bytes as f64 / st.events.max(1) as f64,
        st.generations,
        st.peak_queued_bytes
    );
    m.retire();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    emit(&mut c);
    c.final_summary();
}
