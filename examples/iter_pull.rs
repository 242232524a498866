//! Go's `internal/trace/testdata/testprog/iter-pull.go` in gort: a pull loop
//! over 100 values, then one iterator bounced between two goroutines through
//! two channels, traced into `iter_pull.trace` (or the path given).
//!
//! Run: `cargo run --release --example iter_pull [-- OUT.trace]`

use gort::iter::{pull, Pull};
use gort::sync::WaitGroup;
use gort::{Receiver, Sender};

type It = Pull<u32>;

/// Go's `pullRange`: the values `0..n`, ignoring what `yield` answers.
fn pull_range(n: u32) -> It {
    pull(move |yield_: &mut dyn FnMut(u32) -> bool| {
        for i in 0..n {
            yield_(i);
        }
    })
}

/// Pulls a value from each iterator received and passes it on; returns the count.
fn bouncer(first: Option<It>, rx: Receiver<It>, tx: Sender<It>, wg: WaitGroup) -> usize {
    if let Some(it) = first {
        tx.send(it).unwrap();
    }
    let mut pulled = 0;
    for it in rx.iter() {
        if it.next().is_none() {
            tx.close();
            break;
        }
        pulled += 1;
        tx.send(it).unwrap();
    }
    wg.done();
    pulled
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "iter_pull.trace".into());
    let out = std::fs::File::create(&path).unwrap_or_else(|e| panic!("cannot create {path}: {e}"));
    let (looped, bounced, stats) = gort::run(move || {
        gort::trace::start(std::io::BufWriter::new(out)).expect("start tracing");
        // A simple pull loop.
        let it = pull_range(100);
        let looped = std::iter::from_fn(|| it.next()).count();
        // One iterator bounced between two goroutines.
        let wg = WaitGroup::new();
        wg.add(2);
        let (to_a, from_b) = gort::chan(0);
        let (to_b, from_a) = gort::chan(0);
        let (wa, wb) = (wg.clone(), wg.clone());
        let a = gort::go(move || bouncer(Some(pull_range(100)), from_b, to_b, wa));
        let b = gort::go(move || bouncer(None, from_a, to_a, wb));
        wg.wait();
        let stats = gort::trace::stop().expect("write the trace");
        (looped, [a, b].map(|h| (h.id(), h.join().unwrap())), stats)
    });
    let [(ga, na), (gb, nb)] = bounced;
    println!(
        "pulled {looped} values in a loop, then {na} on goroutine {ga} and {nb} on goroutine {gb}"
    );
    println!(
        "trace: {path}: {} events, {} bytes, {} generation(s)",
        stats.events, stats.bytes, stats.generations
    );
}
