//! Session control: failing and panicking writers, a slow writer, an empty
//! session, and misuse of start/stop.
// Test harness state, not modelled: std locks are fine here.
#![allow(clippy::disallowed_types)]
// The writer only; and its public API takes loom's `Arc` under `--cfg loom`.
#![cfg(all(feature = "writer", not(loom)))]

mod common;

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::decode::decode;
use common::oracle::validate;
use common::sim::Sim;
use gort_tracer::{Config, StartError, TraceError};

/// The tracer is process-global: tests in this file run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Aborts the process if the test has not finished within `secs` (a deadlock
/// must fail the run, not hang it).
struct Watchdog(Arc<AtomicBool>);

impl Watchdog {
    fn new(secs: u64) -> Watchdog {
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        std::thread::spawn(move || {
            for _ in 0..secs * 10 {
                std::thread::sleep(Duration::from_millis(100));
                if d.load(Relaxed) {
                    return;
                }
            }
            eprintln!("watchdog: test deadlocked");
            std::process::abort();
        });
        Watchdog(done)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.store(true, Relaxed);
    }
}

/// Accepts `budget` bytes, then fails (with an error, or by panicking).
struct Failing {
    budget: usize,
    panic: bool,
    seen: Arc<Mutex<usize>>,
}

impl Write for Failing {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let mut seen = self.seen.lock().unwrap();
        if *seen + b.len() > self.budget {
            if self.panic {
                let n = *seen;
                drop(seen);
                panic!("writer gave up after {n} bytes");
            }
            return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
        }
        *seen += b.len();
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A writer that is slow, into a shared buffer.
struct Slow(Arc<Mutex<Vec<u8>>>);

impl Write for Slow {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        std::thread::sleep(Duration::from_millis(3));
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn out(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("session-tests");
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn cfg() -> Config {
    Config::default()
        .period(Duration::from_millis(10))
        .buffer_size(2048)
}

#[test]
fn failing_writer_returns_the_error_without_deadlock_and_tracing_recovers() {
    let _s = serial();
    let _w = Watchdog::new(120);
    let sim = Sim::new(2, 8);
    for (budget, panic) in [(5000, false), (3_000, true), (0, false), (10, true)] {
        let seen = Arc::new(Mutex::new(0));
        let w = Failing {
            budget,
            panic,
            seen: seen.clone(),
        };
        let s = sim.session_to(Box::new(w), cfg(), Duration::from_millis(80));
        match (s.stats, panic) {
            (Err(TraceError::Io(e)), false) => assert_eq!(e.kind(), io::ErrorKind::StorageFull),
            (Err(TraceError::Panicked(m)), true) => assert!(m.contains("writer gave up"), "{m}"),
            (r, _) => panic!("budget {budget} panic {panic}: unexpected {r:?}"),
        }
        assert!(*seen.lock().unwrap() <= budget);
        assert!(!gort_tracer::has_failed(), "no session after finish_stop");
        // The next session is fine.
        let path = out(&format!("after-failure-{budget}.trace"));
        let ok = sim.session(&path, cfg(), Duration::from_millis(40));
        let stats = ok.stats.expect("a good writer after a failed one");
        let data = std::fs::read(&path).unwrap();
        assert_eq!(stats.bytes, data.len() as u64);
        decode(&data).expect("well formed");
        validate(&[path]);
    }
    sim.shutdown();
}

#[test]
fn slow_writer_loses_nothing_and_reports_the_queue_peak() {
    let _s = serial();
    let _w = Watchdog::new(120);
    let sim = Sim::new(2, 8);
    let buf = Arc::new(Mutex::new(Vec::new()));
    let s = sim.session_to(
        Box::new(Slow(buf.clone())),
        cfg(),
        Duration::from_millis(150),
    );
    sim.shutdown();
    let stats = s.stats.expect("slow but working writer");
    let data = buf.lock().unwrap().clone();
    assert_eq!(stats.bytes, data.len() as u64);
    let sum = decode(&data).expect("well formed");
    assert_eq!(stats.events, sum.total_events());
    assert!(
        stats.peak_queued_bytes > 4096,
        "peak {}",
        stats.peak_queued_bytes
    );
    for t in [
        gort_tracer::wire::EventType::UserLog,
        gort_tracer::wire::EventType::GoStart,
    ] {
        assert_eq!(sum.count(t), s.counts.get(t), "{}", t.name());
    }
    let path = out("slow.trace");
    std::fs::write(&path, &data).unwrap();
    validate(&[path]);
}

#[test]
fn session_without_events_writes_only_the_header() {
    let _s = serial();
    let _w = Watchdog::new(60);
    let path = out("empty.trace");
    let f = std::fs::File::create(&path).unwrap();
    // SAFETY: no thread of this test calls the tracer concurrently.
    unsafe { gort_tracer::start(Box::new(f), cfg(), None) }.expect("start");
    std::thread::sleep(Duration::from_millis(30));
    // SAFETY: as above.
    unsafe { gort_tracer::begin_stop() };
    let stats = gort_tracer::finish_stop().expect("stop");
    assert_eq!(stats.generations, 0);
    assert_eq!(stats.events, 0);
    let data = std::fs::read(&path).unwrap();
    // Go's reader wants at least one generation, which needs an event: the
    // runtime's start events provide it in practice.
    assert_eq!(data, gort_tracer::wire::header::HEADER);
}

#[test]
fn start_and_stop_misuse_is_reported() {
    let _s = serial();
    assert!(matches!(
        gort_tracer::finish_stop(),
        Err(TraceError::NotRunning)
    ));
    // SAFETY: no thread of this test calls the tracer concurrently.
    unsafe { gort_tracer::begin_stop() }; // no session: nothing happens
                                          // SAFETY: as above.
    unsafe { gort_tracer::start(Box::new(io::sink()), cfg(), None) }.expect("start");
    assert!(gort_tracer::enabled());
    // SAFETY: as above.
    let again = unsafe { gort_tracer::start(Box::new(io::sink()), cfg(), None) };
    assert!(
        matches!(again, Err(StartError::AlreadyRunning)),
        "{again:?}"
    );
    assert!(matches!(
        gort_tracer::finish_stop(),
        Err(TraceError::StillEnabled)
    ));
    assert!(
        gort_tracer::enabled(),
        "a refused finish_stop leaves the session on"
    );
    // SAFETY: as above.
    unsafe { gort_tracer::begin_stop() };
    assert!(!gort_tracer::enabled());
    // SAFETY: as above.
    let during = unsafe { gort_tracer::start(Box::new(io::sink()), cfg(), None) };
    assert!(
        matches!(during, Err(StartError::AlreadyRunning)),
        "stopping is still running"
    );
    gort_tracer::finish_stop().expect("stop");
    assert!(matches!(
        gort_tracer::finish_stop(),
        Err(TraceError::NotRunning)
    ));
}
