//! gort's runtime: Go's G/M/P scheduler of stackful goroutines for Rust.
//!
//! ```
//! gort_runtime::run(|| {
//!     let (tx, rx) = gort_runtime::chan::<u64>(0);
//!     let h = gort_runtime::go(move || (1..=10).for_each(|i| tx.send(i).unwrap()));
//!     assert_eq!(rx.iter().sum::<u64>(), 55);
//!     h.join().unwrap();
//! });
//! ```
//!
//! Glossary (Go's names, then gort's):
//! - **G**, a goroutine: `Task`, a corosensei coroutine on a pooled stack.
//! - **M**, a machine: `Worker`, an OS thread that runs goroutines.
//! - **P**, a processor: `Proc`, the slot an M must hold to run goroutines;
//!   there are `procs` of them (Go's GOMAXPROCS), each with a local run queue.
//!
//! Thread affinity: goroutines migrate between threads at blocking calls;
//! never hold thread-local references or std lock guards across one (see
//! [`go`]).
//!
//! Cargo features: `trace` (default) compiles in the execution-tracer hooks,
//! which cost one plain load each while tracing is off.

#[cfg(not(loom))]
mod api;
#[cfg(not(loom))]
mod builder;
#[cfg(not(loom))]
mod chan;
#[cfg(not(loom))]
mod coro;
mod loom;
#[cfg(not(loom))]
pub mod net;
mod netpoll;
mod park;
mod pull;
#[cfg(not(loom))]
mod runtime;
#[cfg(not(loom))]
mod sched;
/// Under loom only the select token and the channel lock are built of the
/// channels.
#[cfg(loom)]
mod chan {
    pub(crate) mod lock;
    pub(crate) mod token;
}
/// Under loom only the run queue, the trace gate and the timer core are
/// built (models' subjects): the rest
/// of the scheduler needs real threads and goroutine stacks.
#[cfg(loom)]
mod sched {
    pub(crate) mod idle;
    pub(crate) mod queue;
    pub(crate) mod stw;
    pub(crate) mod timer_core;
}
#[cfg(not(loom))]
mod hooks;
#[cfg(not(loom))]
mod join;
#[cfg(not(loom))]
mod sigquit;
#[cfg(not(loom))]
mod syscall;
#[cfg(not(loom))]
mod task;
#[cfg(not(loom))]
#[cfg(feature = "trace")]
mod trace_api;
#[cfg(not(loom))]
#[cfg(feature = "tracing")]
mod tracing_layer;

#[cfg(not(loom))]
pub mod sync;
#[cfg(not(loom))]
pub mod time;

pub mod future;

/// Execution tracing in Go 1.23's format, and user annotations.
#[cfg(not(loom))]
#[cfg(feature = "trace")]
pub mod trace {
    pub use crate::trace_api::*;
    #[cfg(feature = "tracing")]
    pub use crate::tracing_layer::TracingLayer;
}

/// Pull iterators: Go's `iter.Pull` on a direct coroutine switch.
#[cfg(not(loom))]
pub mod iter {
    pub use crate::pull::{pull, Pull};
}

#[cfg(not(loom))]
pub use api::{
    go, goroutine_dump, goroutine_id, keep_alive, lock_os_thread, sleep, unlock_os_thread,
    yield_now, KeepAlive,
};
#[cfg(not(loom))]
pub use builder::{Builder, DEFAULT_RELEASE_PARKED_STACKS, DEFAULT_STACK_SIZE, MIN_STACK_SIZE};
#[cfg(not(loom))]
pub use chan::{
    chan, IntoIter, Iter, Receiver, Select, SelectedOperation, SendError, Sender, TryRecvError,
    TrySelectError, TrySendError,
};

/// What `select!` expands to; not an API.
#[doc(hidden)]
#[cfg(not(loom))]
pub mod __select {
    pub use crate::chan::{
        __block_forever, __select_fixed, CaseRef, RecvCase, RecvOperand, SendCase, SendOperand,
    };
}
#[cfg(not(loom))]
pub use join::JoinHandle;
#[cfg(not(loom))]
pub use runtime::{run, Runtime, StackMemory};
#[cfg(not(loom))]
pub use syscall::syscall;

/// Prints a Go-style fatal error and aborts: for broken runtime invariants,
/// never for user errors.
#[cfg(not(loom))]
#[cold]
pub(crate) fn fatal(msg: &str) -> ! {
    eprintln!("fatal error: {msg}");
    std::process::abort()
}

#[cfg(all(test, loom))]
mod tests;
