//! Helpers shared by the runtime and `pull()` end-to-end tests.
#![allow(dead_code)]

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::Duration;

/// How long one test body may run before it counts as hung. Under AddressSanitizer
/// (`cfg(gort_asan)`, `scripts/asan`) three times as long: every goroutine gets a fake
/// stack of its own (a mapping made on its first call and unmapped with its shadow cleared
/// at its exit), and every frame is poisoned and unpoisoned, which makes the tests that run
/// 100,000 goroutines several times slower.
pub(crate) const LIMIT: Duration = Duration::from_secs(if cfg!(gort_asan) { 60 } else { 20 });

/// Runs `f` on its own thread and returns its result, re-raising its panic
/// unchanged; panics if it has not finished within `limit` (a hang fails the
/// test instead of stalling the whole run).
#[track_caller]
pub(crate) fn within<T, F>(limit: Duration, f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let th = std::thread::Builder::new()
        .name("test-body".into())
        .spawn(move || {
            let r = panic::catch_unwind(AssertUnwindSafe(f));
            let _ = tx.send(r);
        })
        .expect("spawn the test body thread");
    match rx.recv_timeout(limit) {
        Ok(Ok(v)) => {
            let _ = th.join();
            v
        }
        Ok(Err(p)) => {
            let _ = th.join();
            panic::resume_unwind(p)
        }
        Err(_) => panic!("test body still running after {limit:?}: hung"),
    }
}

/// [`within`] the default [`LIMIT`].
#[track_caller]
pub(crate) fn timed<T, F>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    within(LIMIT, f)
}

/// A runtime with `procs` Ps.
pub(crate) fn rt(procs: usize) -> gort::Runtime {
    gort::Runtime::builder()
        .procs(procs)
        .build()
        .expect("build a gort runtime")
}

/// The text of a panic payload (`&str` or `String`), or a placeholder.
pub(crate) fn panic_text(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

/// Runs `f`, expecting it to panic; returns the panic's text.
#[track_caller]
pub(crate) fn expect_panic<R>(f: impl FnOnce() -> R) -> String {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a panic, but the call returned"),
        Err(p) => panic_text(&*p),
    }
}

/// Counts drops: each [`DropCount::guard`] increments the shared counter
/// when it is dropped (normally or by unwinding).
#[derive(Clone, Debug, Default)]
pub(crate) struct DropCount(std::sync::Arc<std::sync::atomic::AtomicUsize>);

/// One guard of a [`DropCount`].
#[derive(Debug)]
pub(crate) struct Guard(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl DropCount {
    pub(crate) fn guard(&self) -> Guard {
        Guard(self.0.clone())
    }

    pub(crate) fn get(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A field of `/proc/self/status` in kB (`VmRSS`, `VmSize`) or as a count
/// (`Threads`).
pub(crate) fn proc_status(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    for line in s.lines() {
        if let Some(rest) = line.strip_prefix(field) {
            if let Some(rest) = rest.strip_prefix(':') {
                let num = rest.split_whitespace().next().unwrap_or("");
                return num
                    .parse()
                    .unwrap_or_else(|_| panic!("bad {field} line: {line}"));
            }
        }
    }
    panic!("{field} not found in /proc/self/status")
}

/// Hands the allocator's freed memory back before a memory reading. Under
/// AddressSanitizer (`cfg(gort_asan)`) freed blocks sit in a quarantine of up
/// to 256 MiB so that a use after free is caught; that memory is resident but
/// is not the program's, so the reading would count it as a leak. Elsewhere a
/// no-op.
pub(crate) fn settle_allocator() {
    #[cfg(gort_asan)]
    {
        extern "C" {
            fn __sanitizer_purge_allocator();
        }
        // SAFETY: the sanitizer runtime is linked into every `gort_asan` build;
        // this entry point takes no arguments, drains the quarantine and returns
        // free chunks to the OS, and is safe to call from any thread at any time.
        unsafe { __sanitizer_purge_allocator() };
    }
}

/// The number of mappings in `/proc/self/maps`.
pub(crate) fn map_count() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .expect("read /proc/self/maps")
        .lines()
        .count()
}

/// How long [`eventually`] and [`yield_until`] wait for their condition
/// before they fail the test: generous, so a loaded machine cannot fail it.
pub(crate) const SETTLE_LIMIT: Duration = Duration::from_secs(10);

/// Polls `cond` for up to [`SETTLE_LIMIT`]; panics with `what` if it never
/// holds. For counters that settle just after a call returns (a finished
/// goroutine is retired by its M right after its joiner is woken).
#[track_caller]
pub(crate) fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        if start.elapsed() > SETTLE_LIMIT {
            panic!("{what}: still false after {SETTLE_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// From a goroutine: yields until `cond` holds; panics with `what` if it
/// still does not after [`SETTLE_LIMIT`].
///
/// On a runtime with one P this is how a test knows that another goroutine
/// has reached a blocking operation: goroutines are not preempted, so if the
/// other one publishes a flag (or a count) and then, with no blocking point
/// in between, calls the operation, then once `cond` sees the flag the other
/// goroutine has run on into the operation and either parked in it or
/// completed it. The test then asserts which one.
#[track_caller]
pub(crate) fn yield_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        if start.elapsed() > SETTLE_LIMIT {
            panic!("{what}: still false after {SETTLE_LIMIT:?}");
        }
        gort::yield_now();
    }
}
