//! gort: Go's runtime model for Rust programs.
//!
//! - An M:N scheduler of stackful goroutines ([`go`], [`chan`], [`sync`]),
//!   run by OS-thread Ms holding Ps, as in Go.
//! - [`iter::pull`]: Go's `iter.Pull`, where `next()` is a direct coroutine
//!   switch.
//! - A built-in execution tracer writing Go 1.23's trace format, which
//!   `go tool trace` opens, and a parser that reads traces back
//!   ([`parser`], and the `gort-trace` command).
//!
//! ```
//! gort::run(|| {
//!     let evens = gort::iter::pull(|yield_: &mut dyn FnMut(u32) -> bool| {
//!         for i in (0..).step_by(2) {
//!             if !yield_(i) {
//!                 return;
//!             }
//!         }
//!     });
//!     let first: Vec<u32> = evens.take(3).collect();
//!     assert_eq!(first, [0, 2, 4]);
//! });
//! ```

pub use gort_runtime::{
    chan, future, go, goroutine_dump, goroutine_id, iter, keep_alive, lock_os_thread, net, run,
    select, sleep, sync, syscall, time, unlock_os_thread, yield_now, Builder, IntoIter, Iter,
    JoinHandle, KeepAlive, Receiver, Runtime, Select, SelectedOperation, SendError, Sender,
    StackMemory, TryRecvError, TrySelectError, TrySendError, DEFAULT_RELEASE_PARKED_STACKS,
    DEFAULT_STACK_SIZE, MIN_STACK_SIZE,
};

/// Execution tracing (Go 1.23 format) and user annotations.
#[cfg(feature = "trace")]
pub use gort_runtime::trace;

/// The trace reader and validator (`gort-parser`).
pub use gort_parser as parser;
/// The trace wire format and writer (`gort-tracer`).
pub use gort_tracer as tracer;
