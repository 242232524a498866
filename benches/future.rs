//! The bridge between goroutines and futures (`gort::future`), against the
//! plain channel hand-off of `chan.rs`.
//!
//! Benchmark ids (group `future`, tracing off):
//! - `block_on_ready/procs1`: `block_on` of a future ready at its first poll
//!   (the waker's allocation, one poll).
//! - `pingpong_oneshot/procs{1,2}`: one round trip is two pending futures
//!   (`futures` oneshots), each completed by the other goroutine, whose
//!   waker readies the parked one: the future twin of
//!   `chan/pingpong_unbuffered`.
//! - `pingpong_unbuffered/procs{1,2}`: `chan/pingpong_unbuffered`, repeated
//!   here so that one run gives the ratio.

mod common;

use criterion::Criterion;
use futures::channel::oneshot;
use std::hint::black_box;

fn ready_loop(iters: u64) {
    for i in 0..iters {
        black_box(gort::future::block_on(std::future::ready(black_box(i))));
    }
}

/// Each side sends the other a oneshot sender with its value: every receive
/// parks on a pending future until the other goroutine completes it.
struct Ball(u64, oneshot::Sender<Ball>);

fn oneshot_pingpong_loop(iters: u64) {
    let (first_tx, first_rx) = oneshot::channel::<Ball>();
    let echo = gort::go(move || {
        let mut rx = first_rx;
        while let Ok(Ball(v, back)) = gort::future::block_on(rx) {
            let (tx, next_rx) = oneshot::channel();
            if back.send(Ball(v, tx)).is_err() {
                return;
            }
            rx = next_rx;
        }
    });
    let mut tx = first_tx;
    for i in 0..iters {
        let (back_tx, back_rx) = oneshot::channel();
        if tx.send(Ball(i, back_tx)).is_err() {
            panic!("the echo goroutine went away");
        }
        match gort::future::block_on(back_rx) {
            Ok(Ball(v, next)) if v == i => tx = next,
            _ => panic!("the echo goroutine went away"),
        }
    }
    drop(tx);
    if echo.join().is_err() {
        panic!("the echo goroutine panicked");
    }
}

fn chan_pingpong_loop(iters: u64) {
    let (to_b, from_a) = gort::chan::<u64>(0);
    let (to_a, from_b) = gort::chan::<u64>(0);
    let echo = gort::go(move || {
        while let Some(v) = from_a.recv() {
            if to_a.send(v).is_err() {
                return;
            }
        }
    });
    for i in 0..iters {
        if to_b.send(i).is_err() || from_b.recv() != Some(i) {
            panic!("the echo goroutine went away");
        }
    }
    to_b.close();
    if echo.join().is_err() {
        panic!("the echo goroutine panicked");
    }
}

fn ready(c: &mut Criterion) {
    let rt = common::runtime(1);
    c.bench_function("future/block_on_ready/procs1", |b| {
        b.iter_custom(|iters| common::time_in_goroutine(&rt, iters, ready_loop))
    });
}

fn pingpong(c: &mut Criterion) {
    for procs in [1, 2] {
        let rt = common::runtime(procs);
        for (name, body) in [
            ("pingpong_oneshot", oneshot_pingpong_loop as fn(u64)),
            ("pingpong_unbuffered", chan_pingpong_loop),
        ] {
            let id = format!("future/{name}/procs{procs}");
            c.bench_function(&id, |b| {
                b.iter_custom(|iters| common::time_in_goroutine(&rt, iters, body))
            });
        }
    }
}

fn main() {
    common::main(&[ready, pingpong]);
}
