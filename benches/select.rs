//! `select!` (group `select`), tracing off, against Go's `select` in
//! `scripts/bench-vs-go`:
//! - `ready_of_two/procs1`: a value put on a buffered channel, then a select
//!   over it and an empty channel (pass 1 finds the ready case). Go:
//!   `a <- 1; select { case <-a: case <-b: }`.
//! - `blocking_wake/procs{1,2}`: an echo goroutine blocks in a select over
//!   two channels and is woken by a send on one, then answers on a third
//!   (pass 2 and 3: enqueue on both, park, the waker wins, dequeue). Go: the
//!   same loop with `select { case v := <-a: reply <- v; case <-b: }`.
//!
//!   The answer channel holds one value. With an unbuffered one, the pair
//!   settles (in Go as in gort, at procs=1) into a rhythm where the echo
//!   blocks in its answer's send, the main goroutine's next send then
//!   arrives before the echo selects again, and every select finds that
//!   sender waiting: a ready select, not a blocking one. With one slot the
//!   echo answers without blocking and is back in its select before the main
//!   goroutine runs, so each round's select parks and is woken by the send
//!   (at procs=1, `select_passes` runs once per round under callgrind).

mod common;

use criterion::Criterion;

fn ready_loop(iters: u64) {
    let (atx, arx) = gort::chan::<u64>(1);
    let (_btx, brx) = gort::chan::<u64>(1);
    for i in 0..iters {
        if atx.send(i).is_err() {
            panic!("a closed");
        }
        let v = gort::select! {
            recv(arx) -> v => v,
            recv(brx) -> v => v,
        };
        std::hint::black_box(v);
    }
}

fn blocking_loop(iters: u64) {
    let (atx, arx) = gort::chan::<u64>(0);
    let (_btx, brx) = gort::chan::<u64>(0);
    // One slot: see the module doc.
    let (rtx, rrx) = gort::chan::<u64>(1);
    let echo = gort::go(move || loop {
        gort::select! {
            recv(arx) -> v => match v {
                Some(v) => if rtx.send(v).is_err() { return },
                None => return,
            },
            recv(brx) -> _ => return,
        }
    });
    for i in 0..iters {
        if atx.send(i).is_err() || rrx.recv() != Some(i) {
            panic!("the echo goroutine went away");
        }
    }
    atx.close();
    if echo.join().is_err() {
        panic!("the echo goroutine panicked");
    }
}

fn bench(c: &mut Criterion) {
    let rt = common::runtime(1);
    c.bench_function("select/ready_of_two/procs1", |b| {
        b.iter_custom(|iters| common::time_in_goroutine(&rt, iters, ready_loop))
    });
    for procs in [1, 2] {
        let rt = common::runtime(procs);
        c.bench_function(&format!("select/blocking_wake/procs{procs}"), |b| {
            b.iter_custom(|iters| common::time_in_goroutine(&rt, iters, blocking_loop))
        });
    }
}

fn main() {
    common::main(&[bench]);
}
