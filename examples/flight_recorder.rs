//! A flight recorder in a server (the use case of Go's flight-recorder blog
//! post): the recorder runs all the time, keeping the last second or so of
//! the execution trace in memory, and the first request that takes too long
//! writes it out, so the trace shows what led up to the slow request.
//!
//! The "server": client goroutines send requests to a pool of handlers over
//! a channel; a handler looks the key up in a table behind a `gort::sync::Mutex`
//! and replies. Now and then a maintenance goroutine holds the table's lock
//! for 150 ms, and the requests that wait for it are slow. In the trace
//! (`go tool trace OUT`, "Goroutine analysis" or `-pprof=sync`) the handlers
//! are blocked in `sync` on the table's lock while the maintenance goroutine
//! runs.
//!
//! Run: `cargo run --release --example flight_recorder [-- OUT.trace] [--seconds N]`
//!
//! Without `--seconds` it stops after the first snapshot (written to OUT,
//! default `flight_recorder.trace`). With `--seconds N` it serves for N
//! seconds, snapshots at every slow request (the last one is written to
//! OUT), and prints the memory the recorder held against its bound.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gort::trace::{FlightRecorder, FlightRecorderConfig};

const HANDLERS: usize = 8;
const CLIENTS: usize = 32;
/// A request slower than this is worth a snapshot.
const TOO_SLOW: Duration = Duration::from_millis(100);

struct Request {
    key: u64,
    reply: gort::Sender<u64>,
}

struct Args {
    out: String,
    seconds: Option<u64>,
}

fn args() -> Args {
    let mut out = "flight_recorder.trace".to_string();
    let mut seconds = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        if a == "--seconds" {
            let v = it
                .next()
                .unwrap_or_else(|| usage("--seconds needs a value"));
            seconds = Some(
                v.parse()
                    .unwrap_or_else(|_| usage("--seconds takes a whole number")),
            );
        } else if a.starts_with('-') {
            usage(&format!("unknown flag {a}"));
        } else {
            out = a;
        }
    }
    Args { out, seconds }
}

fn usage(msg: &str) -> ! {
    eprintln!("flight_recorder: {msg}\nusage: flight_recorder [OUT.trace] [--seconds N]");
    std::process::exit(2);
}

/// What the snapshots came to.
#[derive(Default)]
struct Snapshots {
    count: u64,
    smallest: u64,
    largest: u64,
    busy: u64,
}

fn main() {
    let Args { out, seconds } = args();
    gort::run(move || {
        let rec = Arc::new(FlightRecorder::new(FlightRecorderConfig {
            min_age: Duration::from_secs(1),
            max_bytes: 4 << 20,
        }));
        rec.start().expect("start the flight recorder");

        let table = Arc::new(gort::sync::Mutex::new(
            (0..1024u64).map(|k| k * k).collect::<Vec<u64>>(),
        ));
        let done = Arc::new(AtomicBool::new(false));
        let (req_tx, req_rx) = gort::chan::<Request>(64);

        // Handlers.
        let mut handlers = Vec::new();
        for _ in 0..HANDLERS {
            let (rx, table) = (req_rx.clone(), table.clone());
            handlers.push(gort::go(move || {
                for r in rx.iter() {
                    let v = table.lock()[(r.key % 1024) as usize];
                    let _ = r.reply.send(v);
                }
            }));
        }
        drop(req_rx);

        // Maintenance: holds the table's lock for a long time, now and then.
        let (t2, d2) = (table.clone(), done.clone());
        let maintenance = gort::go(move || {
            while !d2.load(Relaxed) {
                gort::sleep(Duration::from_millis(400));
                let _task = gort::trace::new_task("compaction");
                let mut t = t2.lock();
                gort::trace::with_region("rebuild", || {
                    let until = Instant::now() + Duration::from_millis(150);
                    while Instant::now() < until {
                        t.rotate_left(1);
                        gort::yield_now();
                    }
                });
            }
        });

        // Clients: measure each request; a slow one takes a snapshot.
        let snaps = Arc::new(gort::sync::Mutex::new(Snapshots::default()));
        let served = Arc::new(AtomicU64::new(0));
        let (slow_tx, slow_rx) = gort::chan::<(u64, Duration, u64)>(1);
        let mut clients = Vec::new();
        for c in 0..CLIENTS as u64 {
            let (tx, rec, done) = (req_tx.clone(), rec.clone(), done.clone());
            let (snaps, served, slow_tx, out) =
                (snaps.clone(), served.clone(), slow_tx.clone(), out.clone());
            clients.push(gort::go(move || {
                let (reply_tx, reply_rx) = gort::chan::<u64>(1);
                let mut key = c;
                while !done.load(Relaxed) {
                    let task = gort::trace::new_task("request");
                    let start = Instant::now();
                    let sent = tx.send(Request {
                        key,
                        reply: reply_tx.clone(),
                    });
                    if sent.is_err() || reply_rx.recv().is_none() {
                        break;
                    }
                    let took = start.elapsed();
                    drop(task);
                    served.fetch_add(1, Relaxed);
                    key = key.wrapping_mul(6364136223846793005).wrapping_add(1);
                    if took > TOO_SLOW && rec.enabled() {
                        let mut buf = Vec::new();
                        match rec.write_to(&mut buf) {
                            Ok(n) => {
                                std::fs::write(&out, &buf)
                                    .unwrap_or_else(|e| panic!("cannot write {out}: {e}"));
                                let mut s = snaps.lock();
                                s.count += 1;
                                s.smallest = if s.smallest == 0 {
                                    n
                                } else {
                                    s.smallest.min(n)
                                };
                                s.largest = s.largest.max(n);
                                drop(s);
                                let _ = slow_tx.try_send((c, took, n));
                            }
                            // Another client is writing a snapshot of the same moments.
                            Err(e) if e.kind() == std::io::ErrorKind::ResourceBusy => {
                                snaps.lock().busy += 1;
                            }
                            Err(e) => panic!("snapshot: {e}"),
                        }
                    }
                    gort::sleep(Duration::from_micros(200));
                }
            }));
        }
        drop(req_tx);
        drop(slow_tx);

        let started = Instant::now();
        match seconds {
            None => {
                let (c, took, n) = slow_rx.recv().expect("a slow request");
                println!(
                    "client {c}: request took {} ms (over {} ms): wrote {n} bytes of recent trace to {out}",
                    took.as_millis(),
                    TOO_SLOW.as_millis()
                );
            }
            Some(s) => {
                while started.elapsed() < Duration::from_secs(s) {
                    gort::sleep(Duration::from_millis(50));
                }
            }
        }
        done.store(true, Relaxed);
        clients.into_iter().for_each(|h| h.join().unwrap());
        handlers.into_iter().for_each(|h| h.join().unwrap());
        maintenance.join().unwrap();
        let st = rec.stats();
        rec.stop();
        if seconds.is_some() {
            let s = snaps.lock();
            let max = rec.config().max_bytes;
            println!(
                "served {} requests in {:.1} s; {} snapshots ({} refused while another was written), {}..{} bytes, last in {out}",
                served.load(Relaxed),
                started.elapsed().as_secs_f64(),
                s.count,
                s.busy,
                s.smallest,
                s.largest
            );
            println!(
                "recorder: peak held {} bytes = {:.2} x max_bytes ({max}); largest generation {} bytes; {} generations recorded, {} kept at the end",
                st.peak_held_bytes,
                st.peak_held_bytes as f64 / max as f64,
                st.largest_generation_bytes,
                st.generations_recorded,
                st.generations_kept
            );
        }
    });
}
