//! How long `gort::trace::start` and `gort::trace::stop` take while other
//! goroutines never reach a scheduling point: one computes in a loop without
//! one, another sits in a plain `std::net::TcpStream::read` (not wrapped in
//! `gort::syscall`) for the whole run. Neither may delay tracing: the goal is
//! that each call returns within 10 ms.
//!
//! Each sample times one call (the other call of the pair runs outside the
//! timed part); the traces go to `io::sink()`. A third benchmark times a
//! flight recorder's snapshot, which ends the current generation (a
//! generation advance) while the two goroutines run on.

mod common;

use criterion::Criterion;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The two goroutines that never reach a scheduling point while the
/// benchmarks run, and how to end them.
struct Busy {
    stop: Arc<AtomicBool>,
    writer: TcpStream,
    handles: Vec<gort::JoinHandle<()>>,
}

impl Busy {
    fn start() -> Busy {
        let stop = Arc::new(AtomicBool::new(false));
        let spinning = Arc::new(AtomicBool::new(false));
        let (s, sp) = (stop.clone(), spinning.clone());
        let spinner = gort::go(move || {
            sp.store(true, SeqCst);
            let mut x = 0u64;
            while !s.load(SeqCst) {
                for i in 0..1000u64 {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
                }
            }
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback listener");
        let addr = listener.local_addr().expect("its address");
        let reading = Arc::new(AtomicBool::new(false));
        let r = reading.clone();
        let reader = gort::go(move || {
            let mut conn = TcpStream::connect(addr).expect("a loopback connection");
            r.store(true, SeqCst);
            let mut b = [0u8; 1];
            // Blocks this goroutine's thread until the bench ends.
            let _ = conn.read(&mut b);
        });
        let (writer, _) = listener.accept().expect("the reader's connection");
        while !spinning.load(SeqCst) || !reading.load(SeqCst) {
            std::thread::yield_now();
        }
        // The reader is in its read (or about to be): give it the moment.
        std::thread::sleep(Duration::from_millis(10));
        Busy {
            stop,
            writer,
            handles: vec![spinner, reader],
        }
    }

    fn end(self) {
        self.stop.store(true, SeqCst);
        drop(self.writer);
        for h in self.handles {
            h.join().expect("a busy goroutine panicked");
        }
    }
}

fn start_stop(c: &mut Criterion) {
    // One P for each busy goroutine, one for the caller.
    let rt = gort::Runtime::builder().procs(3).build().unwrap();
    let busy = rt.block_on(Busy::start);
    for which in ["start", "stop"] {
        let id = format!("trace/{which}_while_a_goroutine_spins_and_one_reads");
        c.bench_function(&id, |b| {
            b.iter_custom(|iters| {
                rt.block_on(move || {
                    let mut timed = Duration::ZERO;
                    for _ in 0..iters {
                        let t = Instant::now();
                        gort::trace::start(std::io::sink()).expect("trace start");
                        if which == "start" {
                            timed += t.elapsed();
                        }
                        let t = Instant::now();
                        gort::trace::stop().expect("trace stop");
                        if which == "stop" {
                            timed += t.elapsed();
                        }
                    }
                    timed
                })
            })
        });
    }
    // A generation advance: a flight recorder's snapshot ends the current
    // generation (and writes the kept ones, here to `io::sink()`).
    let rec = std::sync::Arc::new(gort::trace::FlightRecorder::new(
        gort::trace::FlightRecorderConfig::default(),
    ));
    let r = rec.clone();
    rt.block_on(move || r.start().expect("flight recorder start"));
    c.bench_function(
        "trace/flight_recorder_snapshot_while_a_goroutine_spins_and_one_reads",
        |b| {
            b.iter_custom(|iters| {
                let rec = rec.clone();
                rt.block_on(move || {
                    let t = Instant::now();
                    for _ in 0..iters {
                        rec.write_to(&mut std::io::sink()).expect("snapshot");
                    }
                    t.elapsed()
                })
            })
        },
    );
    rt.block_on(move || {
        rec.stop();
        busy.end()
    });
}

fn main() {
    common::main(&[start_stop]);
}
