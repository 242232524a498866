//! Synchronisation primitives that park goroutines, not threads.

mod mutex;
mod waitgroup;

pub use mutex::{Mutex, MutexGuard};
pub use waitgroup::WaitGroup;
