//! Synchronisation primitives that park goroutines, not threads: Go's
//! `sync` package (`Mutex`, `RWMutex`, `Cond`, `Once`, `WaitGroup`).
//!
//! Every blocking call parks through the runtime's one park protocol
//! (`crate::park`): a goroutine is suspended and its thread runs other
//! goroutines; a plain thread (code outside the runtime) parks the thread.
//! Each wait is traced with Go 1.23's block reason (`sync`, or
//! `sync.(*Cond).Wait` for [`Cond`]) at the caller's source location, so
//! `go tool trace -pprof=sync` attributes the blocking to the Rust call
//! site.

mod cond;
mod mutex;
mod once;
mod rwmutex;
mod waitgroup;

pub use cond::Cond;
pub use mutex::{Mutex, MutexGuard};
pub use once::Once;
pub use rwmutex::{RwMutex, RwMutexReadGuard, RwMutexWriteGuard};
pub use waitgroup::WaitGroup;
