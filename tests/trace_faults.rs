//! A trace writer that fails (an error, or a panic) stops tracing cleanly:
//! `stop()` reports the failure, the program keeps running, nothing hangs,
//! and tracing can start again afterwards.
#![cfg(feature = "trace")]

mod support;

use std::io::{self, Write};
use support::*;

/// Accepts `left` bytes, then fails every write.
struct FailAfter {
    left: usize,
    panic: bool,
}

impl Write for FailAfter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        if self.left == 0 {
            if self.panic {
                panic!("writer exploded");
            }
            return Err(io::Error::other("disk full"));
        }
        let n = b.len().min(self.left);
        self.left -= n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Work that switches coroutines and blocks, so the tracer has plenty to
/// write while its writer is failing.
fn busy_work() -> u64 {
    let p = gort::iter::pull(|y: &mut dyn FnMut(u64) -> bool| {
        let mut i = 0;
        while y(i) {
            i += 1;
        }
    });
    let (tx, rx) = gort::chan::<u64>(0);
    let h = gort::go(move || {
        for _ in 0..20_000 {
            tx.send(p.next().unwrap()).unwrap();
        }
    });
    let s = rx.iter().sum();
    h.join().unwrap();
    s
}

fn check(panic: bool) {
    let _serial = trace_lock();
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    rt.block_on(move || {
        gort::trace::start(FailAfter { left: 100, panic }).unwrap();
        assert_eq!(busy_work(), (0..20_000u64).sum::<u64>());
        let err = gort::trace::stop().expect_err("the writer failed, so stop must say so");
        match (&err, panic) {
            (gort::trace::Error::Write(e), false) => {
                assert!(e.to_string().contains("disk full"), "{e}")
            }
            (gort::trace::Error::WriterPanicked(m), true) => {
                assert!(m.contains("writer exploded"), "{m}")
            }
            _ => panic!("unexpected error: {err}"),
        }
        // Tracing works again afterwards, and gives a valid trace.
        let buf = SharedBuf::default();
        gort::trace::start(buf.clone()).unwrap();
        busy_work();
        gort::trace::stop().unwrap();
        validate_with_gort(&buf.take());
    });
}

#[test]
fn failing_writer_is_reported_by_stop() {
    check(false);
}

#[test]
fn panicking_writer_is_reported_by_stop() {
    check(true);
}
