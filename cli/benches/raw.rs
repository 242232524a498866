//! Raw-layer speed on the large golden trace, with Go's `-d=2` as the baseline.
//!
//! Run with `cargo bench -p gort-parser --bench raw`. Prints, best of several
//! runs on this machine:
//!
//! 1. raw parse throughput (decode every event, touch its arguments) in MB/s
//!    and events/s;
//! 2. `-d=2` text generation into a reused buffer, in MB/s of input;
//! 3. wall time of `gort-trace dump --raw FILE > /dev/null` against
//!    `scripts/go-oracle dump2 FILE > /dev/null` (Go's `go tool trace -d=2`),
//!    and their ratio. Step 3 needs Go 1.23.9; without it the bench fails.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gort_parser::raw::{RawEvent, Reader};

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        last = Some(v);
    }
    (best, last.expect("at least one run"))
}

fn report(what: &str, mb: f64, t: Duration, events: u64) {
    let s = t.as_secs_f64();
    println!(
        "{what}: {mb:.1} MB in {:.1} ms = {:.0} MB/s, {:.1} M events/s ({events} events)",
        s * 1e3,
        mb / s,
        events as f64 / s / 1e6
    );
}

fn wall(cmd: &mut Command) -> Duration {
    let t = Instant::now();
    let status = cmd
        .stdout(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let d = t.elapsed();
    assert!(status.success(), "{cmd:?} failed: {status}");
    d
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let file: PathBuf = root.join("tests/data/go1.23/large.trace");
    let bin = std::fs::read(&file).expect("read large.trace");
    let mb = bin.len() as f64 / 1e6;

    let (t, events) = best_of(10, || {
        let mut n = 0u64;
        let mut sum = 0u64;
        for ev in Reader::new(black_box(&bin)).expect("header") {
            let ev = ev.expect("golden trace");
            sum = sum.wrapping_add(ev.args().first().copied().unwrap_or(0));
            n += 1;
        }
        black_box(sum);
        n
    });
    report("raw parse (Iterator)", mb, t, events);

    let (t, events) = best_of(10, || {
        let mut n = 0u64;
        let mut sum = 0u64;
        let mut r = Reader::new(black_box(&bin)).expect("header");
        let mut ev = RawEvent::default();
        while r.read_into(&mut ev).expect("golden trace") {
            sum = sum.wrapping_add(ev.args().first().copied().unwrap_or(0));
            n += 1;
        }
        black_box(sum);
        n
    });
    report("raw parse (read_into)", mb, t, events);

    let mut out = Vec::with_capacity(1 << 20);
    let (t, text_len) = best_of(10, || {
        // As the CLI does it: a reused buffer handed on every 256 KiB.
        let mut total = 0;
        out.clear();
        let mut r = Reader::new(&bin).expect("header");
        let mut ev = RawEvent::default();
        while r.read_into(&mut ev).expect("golden trace") {
            ev.write_text_bytes(&mut out);
            out.push(b'\n');
            if out.len() >= 256 << 10 {
                total += black_box(&out).len();
                out.clear();
            }
        }
        total + out.len()
    });
    println!(
        "d2 text:    {:.1} MB of text in {:.1} ms = {:.0} MB/s of trace",
        text_len as f64 / 1e6,
        t.as_secs_f64() * 1e3,
        mb / t.as_secs_f64()
    );

    let ours = (0..7)
        .map(|_| {
            wall(
                Command::new(env!("CARGO_BIN_EXE_gort-trace"))
                    .args(["dump", "--raw"])
                    .arg(&file),
            )
        })
        .min()
        .expect("runs");
    let oracle = root.join("scripts/go-oracle");
    // The first Go run may install or warm up the toolchain; it is not timed.
    wall(
        Command::new(&oracle)
            .arg("dump2")
            .arg(root.join("tests/data/go1.23/iterpull_early.trace")),
    );
    let go = (0..3)
        .map(|_| wall(Command::new(&oracle).arg("dump2").arg(&file)))
        .min()
        .expect("runs");
    println!(
        "dump --raw: gort-trace {:.1} ms, go tool trace -d=2 {:.1} ms: {:.1}x faster",
        ours.as_secs_f64() * 1e3,
        go.as_secs_f64() * 1e3,
        go.as_secs_f64() / ours.as_secs_f64()
    );
}
