//! `gort::sync`'s `RwMutex`, `Cond` and `Once`, as Go's own tests use
//! `sync.RWMutex`, `sync.Cond` and `sync.Once` (sync/rwmutex_test.go,
//! cond_test.go, once_test.go). Each test runs three ways: goroutines on one
//! P, goroutines on two Ps, and plain threads with no runtime.

#[path = "../runtime_support/mod.rs"]
mod runtime_support;

mod cond;
mod once;
mod rwmutex;

use runtime_support::{rt, timed};
use std::time::Duration;

/// Where a test's participants run.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Mode {
    /// Goroutines on a runtime with this many Ps.
    Go(usize),
    /// Plain OS threads, outside any runtime.
    Threads,
}

pub(crate) const MODES: [Mode; 3] = [Mode::Go(1), Mode::Go(2), Mode::Threads];

/// A started goroutine or thread.
pub(crate) enum Handle {
    G(gort::JoinHandle<()>),
    T(std::thread::JoinHandle<()>),
}

impl Handle {
    pub(crate) fn join(self) {
        match self {
            Handle::G(h) => h.join().unwrap(),
            Handle::T(h) => h.join().unwrap(),
        }
    }
}

impl Mode {
    /// Runs the test body `f(mode)` in this mode (on a runtime, or on a
    /// plain thread), failing if it hangs.
    pub(crate) fn run(self, f: fn(Mode)) {
        timed(move || match self {
            Mode::Go(p) => rt(p).block_on(move || f(self)),
            Mode::Threads => f(self),
        });
    }

    /// Starts `f` as a goroutine or as a thread.
    pub(crate) fn spawn(self, f: impl FnOnce() + Send + 'static) -> Handle {
        match self {
            Mode::Go(_) => Handle::G(gort::go(f)),
            Mode::Threads => Handle::T(std::thread::spawn(f)),
        }
    }
}

pub(crate) fn join_all(hs: Vec<Handle>) {
    hs.into_iter().for_each(Handle::join);
}

pub(crate) fn each_mode(f: fn(Mode)) {
    for m in MODES {
        m.run(f);
    }
}

/// Polls (sleeping, so goroutines and threads alike make progress) until
/// `cond` holds.
pub(crate) fn await_true(mut cond: impl FnMut() -> bool) {
    while !cond() {
        gort::sleep(Duration::from_millis(1));
    }
}
