//! The flight recorder: snapshots taken under load are traces Go's parser
//! and validator accept, memory stays within the configured bound, and the
//! recorder's misuse gets errors.
#![cfg(feature = "trace")]

mod support;

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use gort::trace::{FlightRecorder, FlightRecorderConfig};
use support::*;

/// Generation numbers of a trace's batches, in file order.
fn generations(trace: &[u8]) -> Vec<u64> {
    let mut r = gort::parser::raw::Reader::new(trace).expect("header");
    let mut gens = Vec::new();
    while let Some(ev) = r.read_event().expect("raw event") {
        if ev.name() == "EventBatch" {
            let g = ev.arg("gen").expect("batch gen");
            if gens.last() != Some(&g) {
                gens.push(g);
            }
        }
    }
    gens
}

/// Goroutines whose status the first generation of `trace` states, by the
/// IDs `JoinHandle::id` reports (a trace's goroutine ID carries its
/// runtime's serial above bit 40).
fn stated_in_first_generation(trace: &[u8]) -> BTreeSet<u64> {
    let mut r = gort::parser::raw::Reader::new(trace).expect("header");
    let mut first = None;
    let mut gs = BTreeSet::new();
    while let Some(ev) = r.read_event().expect("raw event") {
        match ev.name() {
            "EventBatch" => {
                let g = ev.arg("gen").expect("batch gen");
                if *first.get_or_insert(g) != g {
                    break;
                }
            }
            "GoStatus" | "GoStatusStack" => {
                gs.insert(ev.arg("g").expect("status g") & ((1 << 40) - 1));
            }
            _ => {}
        }
    }
    gs
}

/// Load: `pairs` pairs of goroutines ping-ponging on unbuffered channels
/// until `stop`; returns the wait group they signal when done.
fn channel_load(pairs: usize, stop: &Arc<AtomicBool>) -> gort::sync::WaitGroup {
    let wg = gort::sync::WaitGroup::new();
    for _ in 0..pairs {
        let (tx, rx) = gort::chan::<u32>(0);
        let (back_tx, back_rx) = gort::chan::<u32>(0);
        wg.add(2);
        let (s1, w1) = (stop.clone(), wg.clone());
        gort::go(move || {
            let mut i = 0;
            while !s1.load(Ordering::Relaxed) {
                if tx.send(i).is_err() || back_rx.recv().is_none() {
                    break;
                }
                i += 1;
            }
            drop(tx);
            w1.done();
        });
        let w2 = wg.clone();
        gort::go(move || {
            for v in rx.iter() {
                if back_tx.send(v).is_err() {
                    break;
                }
            }
            w2.done();
        });
    }
    wg
}

#[test]
fn twenty_snapshots_under_load_are_valid_and_state_every_goroutine() {
    let _serial = trace_lock();
    let dir = scratch("flight-recorder-snapshots");
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    let files = rt.block_on(move || {
        // Goroutines parked for the whole run: no event of theirs is in any
        // snapshot, only the status the tracer states in every generation.
        let (quiet_tx, quiet_rx) = gort::chan::<()>(0);
        let quiet: Vec<_> = (0..5)
            .map(|_| {
                let rx = quiet_rx.clone();
                gort::go(move || {
                    let _ = rx.recv();
                })
            })
            .collect();
        let quiet_ids: BTreeSet<u64> = quiet.iter().map(|h| h.id()).collect();

        let stop = Arc::new(AtomicBool::new(false));
        let wg = channel_load(100, &stop);
        let rec = FlightRecorder::new(FlightRecorderConfig {
            min_age: Duration::from_millis(50),
            max_bytes: 1 << 20,
        });
        rec.start().unwrap();
        assert!(rec.enabled());
        let mut files = Vec::new();
        let mut firsts = BTreeSet::new();
        for i in 0..20 {
            gort::sleep(Duration::from_millis(20));
            let mut snap = Vec::new();
            let n = rec.write_to(&mut snap).unwrap();
            assert_eq!(n, snap.len() as u64);
            let gens = generations(&snap);
            assert!(!gens.is_empty(), "snapshot {i} has no generation");
            assert!(
                gens.windows(2).all(|w| w[1] == w[0] + 1),
                "snapshot {i}: generations not consecutive: {gens:?}"
            );
            firsts.insert(gens[0]);
            let stated = stated_in_first_generation(&snap);
            assert!(
                quiet_ids.is_subset(&stated),
                "snapshot {i}: parked goroutines {quiet_ids:?} not all stated in generation {} ({stated:?})",
                gens[0]
            );
            // Written first, so a snapshot the parser rejects stays on disk.
            let f = dir.join(format!("snapshot{i:02}.trace"));
            std::fs::write(&f, &snap).unwrap();
            eprintln!("snapshot {i}: {}", f.display());
            validate_with_gort(&snap);
            files.push(f);
        }
        rec.stop();
        assert!(!rec.enabled());
        // Retention dropped old generations: the snapshots do not all start
        // at the session's first generation.
        assert!(firsts.len() > 1, "every snapshot starts at {firsts:?}");
        stop.store(true, Ordering::Relaxed);
        wg.wait();
        drop(quiet_tx);
        drop(quiet_rx);
        quiet.into_iter().for_each(|h| h.join().unwrap());
        files
    });
    validate_with_go(&files);
}

#[test]
fn memory_stays_within_max_bytes_plus_one_generation() {
    let _serial = trace_lock();
    let max_bytes = 1 << 20;
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    let (stats, snap) = rt.block_on(move || {
        let stop = Arc::new(AtomicBool::new(false));
        let wg = channel_load(100, &stop);
        // The age bound is long: the size bound is the one that binds.
        let rec = FlightRecorder::new(FlightRecorderConfig {
            min_age: Duration::from_secs(60),
            max_bytes,
        });
        rec.start().unwrap();
        // Until well over the bound has been recorded.
        while rec.stats().generations_recorded < 40 {
            gort::sleep(Duration::from_millis(5));
        }
        let mut snap = Vec::new();
        rec.write_to(&mut snap).unwrap();
        rec.stop();
        assert_eq!(rec.held_bytes(), 0, "a stopped recorder holds nothing");
        stop.store(true, Ordering::Relaxed);
        wg.wait();
        (rec.stats(), snap)
    });
    let gen = stats.largest_generation_bytes;
    // Generations end on size too (40 of them came in far less than 40 s of
    // 1 s generations), but how far one overshoots its size target depends
    // on how long the advance waits for an M the OS preempted inside a hook
    // (on a loaded 2-vCPU machine up to about 14 ms, against a usual 0.1 ms,
    // and one generation then holds megabytes): the bound is the ring's
    // (`gort_tracer::ring`), stated against the largest generation seen: the
    // closed generations hold at most max(max_bytes, the newest), and the
    // open one comes on top.
    assert!(
        stats.peak_held_bytes <= max_bytes.max(gen) + gen,
        "held {} B at peak, over max(max_bytes {max_bytes} B, one generation {gen} B) + one generation ({stats:?})",
        stats.peak_held_bytes
    );
    // The snapshot is the kept generations: within the bound (plus the header).
    assert!(
        (snap.len() as u64) <= max_bytes.max(gen) + 16,
        "snapshot of {} B ({stats:?})",
        snap.len()
    );
    // Several generations fit, unless one overshot to half the bound (then
    // retention rightly keeps just the newest).
    if gen <= max_bytes / 2 {
        assert!(generations(&snap).len() > 1, "{stats:?}");
    }
    validate_everywhere(&snap, "flight-recorder-memory", "snapshot.trace");
}

/// A writer whose first write waits until the test lets it go.
struct Gate {
    entered: Option<mpsc::Sender<()>>,
    go: mpsc::Receiver<()>,
    out: Vec<u8>,
}

impl Write for Gate {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        if let Some(tx) = self.entered.take() {
            tx.send(()).unwrap();
            self.go.recv().unwrap();
        }
        self.out.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_second_concurrent_write_to_gets_an_error() {
    let _serial = trace_lock();
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    let snap = rt.block_on(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let wg = channel_load(10, &stop);
        let rec = Arc::new(FlightRecorder::new(FlightRecorderConfig::default()));
        rec.start().unwrap();
        let (entered_tx, entered_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel();
        let r2 = rec.clone();
        // The first write_to, on a thread of its own, stops inside the writer.
        let first = std::thread::spawn(move || {
            let mut w = Gate {
                entered: Some(entered_tx),
                go: go_rx,
                out: Vec::new(),
            };
            r2.write_to(&mut w).map(|n| (n, w.out))
        });
        entered_rx.recv().unwrap();
        let mut second = Vec::new();
        let err = rec.write_to(&mut second).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ResourceBusy, "{err}");
        assert!(err.to_string().contains("in progress"), "{err}");
        assert!(second.is_empty(), "the refused write_to wrote {second:?}");
        go_tx.send(()).unwrap();
        let (n, out) = first.join().unwrap().unwrap();
        assert_eq!(n, out.len() as u64);
        // Once the first is done, another may run.
        let mut third = Vec::new();
        rec.write_to(&mut third).unwrap();
        rec.stop();
        stop.store(true, Ordering::Relaxed);
        wg.wait();
        vec![out, third]
    });
    let dir = scratch("flight-recorder-concurrent");
    let files: Vec<_> = snap
        .iter()
        .enumerate()
        .map(|(i, s)| {
            validate_with_gort(s);
            let f = dir.join(format!("snapshot{i}.trace"));
            std::fs::write(&f, s).unwrap();
            f
        })
        .collect();
    validate_with_go(&files);
}

#[test]
fn stop_and_start_again_and_misuse_errors() {
    let _serial = trace_lock();
    // One P: write_to's wait for the advance must not hold up the goroutines.
    let rt = gort::Runtime::builder().procs(1).build().unwrap();
    let snaps = rt.block_on(|| {
        let rec = FlightRecorder::new(FlightRecorderConfig::default());
        assert_eq!(rec.config(), FlightRecorderConfig::default());
        assert!(!rec.enabled());
        // Never started: a clear error, nothing written.
        let mut out = Vec::new();
        let err = rec.write_to(&mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Other, "{err}");
        assert!(err.to_string().contains("not recording"), "{err}");
        assert!(out.is_empty());

        let mut snaps = Vec::new();
        for round in 0..2 {
            rec.start().unwrap();
            assert!(rec.enabled(), "round {round}");
            assert!(matches!(
                rec.start(),
                Err(gort::trace::Error::RecorderRunning)
            ));
            // One recorder at a time, and none beside trace::start.
            let other = FlightRecorder::new(FlightRecorderConfig::default());
            assert!(matches!(
                other.start(),
                Err(gort::trace::Error::RecorderRunning)
            ));
            assert!(!other.enabled());
            assert!(matches!(
                gort::trace::start(io::sink()),
                Err(gort::trace::Error::RecorderRunning)
            ));
            assert!(matches!(
                gort::trace::stop(),
                Err(gort::trace::Error::NotRunning)
            ));
            let h = gort::go(|| (0..100u64).sum::<u64>());
            assert_eq!(h.join().unwrap(), 4950);
            let mut snap = Vec::new();
            rec.write_to(&mut snap).unwrap();
            snaps.push(snap);
            rec.stop();
            assert!(!rec.enabled());
            rec.stop(); // stopping a stopped recorder does nothing
            let err = rec.write_to(&mut Vec::new()).unwrap_err();
            assert!(err.to_string().contains("not recording"), "{err}");
        }

        // A trace written by trace::start keeps recorders out.
        gort::trace::start(io::sink()).unwrap();
        assert!(matches!(
            rec.start(),
            Err(gort::trace::Error::AlreadyRunning)
        ));
        gort::trace::stop().unwrap();
        // Dropping a recording recorder stops it.
        rec.start().unwrap();
        drop(rec);
        gort::trace::start(io::sink()).unwrap();
        gort::trace::stop().unwrap();
        snaps
    });
    let dir = scratch("flight-recorder-restart");
    let files: Vec<_> = snaps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            validate_with_gort(s);
            let f = dir.join(format!("round{i}.trace"));
            std::fs::write(&f, s).unwrap();
            f
        })
        .collect();
    validate_with_go(&files);
}

#[test]
fn start_outside_a_goroutine_is_refused() {
    let _serial = trace_lock();
    let rec = FlightRecorder::new(FlightRecorderConfig::default());
    assert!(matches!(rec.start(), Err(gort::trace::Error::NotInRuntime)));
    assert!(!rec.enabled());
}
