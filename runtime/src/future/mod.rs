//! Goroutines and async Rust, both ways.
//!
//! - [`block_on`] awaits a [`Future`](std::future::Future) from a goroutine: while the future is
//!   pending the goroutine parks, and its M and P run other goroutines. The
//!   future's waker makes it runnable again, from any thread. Outside a
//!   goroutine, `block_on` blocks the calling thread, as
//!   `futures::executor::block_on` does.
//! - [`JoinHandle`](crate::JoinHandle) is a `Future`, so async code on any
//!   executor can `.await` a goroutine.
//! - [`spawn`] runs a future as a goroutine, which polls it and parks
//!   between polls: many small futures need no executor of their own.
//!
//! Executor-agnostic futures work as they are: `futures` channels,
//! `async-channel`, tokio's `sync` types. Futures that need a reactor
//! (tokio's `net` and `time` types) still need that reactor running, e.g. a
//! tokio runtime on its own threads (`examples/async_bridge.rs`).
//!
//! ```
//! use gort_runtime::future;
//! gort_runtime::run(|| {
//!     // A future run as a goroutine, awaited by a future run by a goroutine.
//!     let h = future::spawn(async { 40 + 2 });
//!     assert_eq!(future::block_on(async move { h.await.unwrap() }), 42);
//! });
//! ```
//!
//! Traces: a goroutine waiting in `block_on` is blocked (`GoBlock`) with
//! the reason string `future`, and its waker's thread unblocks it
//! (`GoUnblock`, written by the waker's M, or by the M that next runs the
//! goroutine when the waker is a thread outside the runtime). Go's parser
//! carries any reason string. Of `go tool trace`'s profiles, `-pprof=net`
//! counts the reason `network` and `-pprof=sync` the reasons containing
//! `chan`, `sync` or `select`, so neither counts a `future` wait; the
//! goroutine analysis (`/goroutines`, `gort-trace goroutines`) shows it
//! as its own `Block time (future)`.
//!
//! Deadlock detection: a goroutine waiting in `block_on` may be woken by
//! any thread (a tokio task, an I/O driver), so while one waits the
//! runtime never reports `all goroutines are asleep`.
#![deny(unsafe_code)]

pub(crate) mod signal;

#[cfg(not(loom))]
mod bridge;

#[cfg(not(loom))]
pub use bridge::{block_on, spawn};
