//! Helpers shared by the criterion benches: settings sized for a small,
//! shared machine, runtimes with a chosen number of Ps, and timing inside a
//! goroutine.
//!
//! The tracing-on variants (`trace_on` ids) trace into `io::sink()` with
//! `gort::trace`; they exist only with the `trace` feature (the default).
#![allow(dead_code)]

use criterion::Criterion;
use std::time::{Duration, Instant};

/// Criterion settings that keep one benchmark to about three seconds.
pub(crate) fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .without_plots()
}

/// A runtime with `procs` Ps, or a panic naming why it cannot start.
pub(crate) fn runtime(procs: usize) -> gort::Runtime {
    match gort::Runtime::builder().procs(procs).build() {
        Ok(rt) => rt,
        Err(e) => panic!("cannot start a gort runtime with {procs} procs: {e}"),
    }
}

/// Runs `body(iters)` in a main goroutine of `rt` and returns the time it
/// took, measured inside the goroutine (so `block_on`'s own hand-off stays
/// out of the figure).
pub(crate) fn time_in_goroutine<F>(rt: &gort::Runtime, iters: u64, body: F) -> Duration
where
    F: FnOnce(u64) + Send + 'static,
{
    rt.block_on(move || {
        let start = Instant::now();
        body(iters);
        start.elapsed()
    })
}

/// Whether this build has the tracer hooks compiled in (the `trace`
/// feature of `gort`, on by default).
pub(crate) const TRACE_COMPILED_IN: bool = cfg!(feature = "trace");

/// The suffix naming how tracing is set up for a benchmark id: `trace_off`
/// (hooks compiled in, tracing stopped) or `no_trace_feature` (hooks
/// compiled out with `--no-default-features`).
pub(crate) fn trace_off_label() -> &'static str {
    if TRACE_COMPILED_IN {
        "trace_off"
    } else {
        "no_trace_feature"
    }
}

/// How a tracing-on benchmark traces.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Tracing {
    /// The default configuration (stacks recorded, as Go does).
    Default,
    /// Stack recording off: every event's stack ID is 0.
    NoStacks,
}

impl Tracing {
    /// The benchmark id suffix.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Tracing::Default => "trace_on",
            Tracing::NoStacks => "trace_on_nostacks",
        }
    }
}

/// A trace into `io::sink()` that runs from [`Tracing::start`] until this
/// is dropped, across every `block_on` in between: one session spans a whole
/// benchmark, so that starting and stopping (each a stop-the-world) stay out
/// of the samples. On drop it prints the session's totals as
/// `trace_stats: id=... events=... bytes=...` (read by `scripts/bench-vs-go`).
#[cfg(feature = "trace")]
#[derive(Debug)]
pub(crate) struct TraceSession<'a> {
    rt: &'a gort::Runtime,
    id: String,
}

#[cfg(feature = "trace")]
impl Tracing {
    /// Starts tracing from a goroutine of `rt` (`gort::trace` starts and
    /// stops from goroutines only).
    /// `id` is the benchmark's id, for the statistics printed on drop.
    pub(crate) fn start<'a>(self, rt: &'a gort::Runtime, id: &str) -> TraceSession<'a> {
        let cfg = gort::trace::Config::default().stacks(matches!(self, Tracing::Default));
        if let Err(e) = rt.block_on(move || gort::trace::start_with(std::io::sink(), cfg)) {
            panic!("cannot start tracing: {e:?}");
        }
        TraceSession {
            rt,
            id: id.to_owned(),
        }
    }
}

#[cfg(feature = "trace")]
impl Drop for TraceSession<'_> {
    fn drop(&mut self) {
        match self.rt.block_on(gort::trace::stop) {
            Ok(st) => eprintln!(
                "trace_stats: id={} events={} bytes={} bytes_per_event={:.2} peak_queued_bytes={} fresh_buffers={} reused_buffers={}",
                self.id,
                st.events,
                st.bytes,
                st.bytes as f64 / st.events.max(1) as f64,
                st.peak_queued_bytes,
                st.fresh_buffers,
                st.reused_buffers
            ),
            Err(e) => {
                if !std::thread::panicking() {
                    panic!("cannot stop tracing: {e:?}");
                }
            }
        }
    }
}

/// Times `iters` calls of `next()` on an endless sequence, in one goroutine,
/// leaving out the creation, the first `next` and the `stop`.
pub(crate) fn pull_next_loop(iters: u64) -> Duration {
    let p = gort::iter::pull(|yield_: &mut dyn FnMut(u64) -> bool| {
        let mut i = 0u64;
        while yield_(i) {
            i += 1;
        }
    });
    let _ = p.next(); // the first next starts the coroutine: keep it out
    let start = Instant::now();
    let mut sum = 0u64;
    for _ in 0..iters {
        sum = sum.wrapping_add(p.next().unwrap_or(0));
    }
    let elapsed = start.elapsed();
    criterion::black_box(sum);
    p.stop();
    elapsed
}

/// The `main` of a bench binary: runs `targets` with [`config`] and the
/// command-line options criterion understands.
pub(crate) fn main(targets: &[fn(&mut Criterion)]) {
    let mut c = config().configure_from_args();
    for t in targets {
        t(&mut c);
    }
    c.final_summary();
}
