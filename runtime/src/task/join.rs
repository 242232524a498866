//! `JoinHandle`: waiting for a goroutine's result, or its panic.

use crate::loom::sync::atomic::{AtomicBool, Ordering::*};
use crate::loom::sync::{Arc, Mutex};
use crate::park::{self, Waiter};
use crate::task::WaitReason;

/// Where a goroutine leaves its result for its joiner.
#[derive(Debug)]
pub(crate) struct JoinSlot<T> {
    done: AtomicBool,
    state: Mutex<(Option<std::thread::Result<T>>, Option<Waiter>)>,
}

impl<T> JoinSlot<T> {
    pub(crate) fn new() -> Arc<JoinSlot<T>> {
        Arc::new(JoinSlot {
            done: AtomicBool::new(false),
            state: Mutex::new((None, None)),
        })
    }

    /// Stores the result and wakes the joiner, if any.
    pub(crate) fn complete(&self, r: std::thread::Result<T>) {
        let waiter = {
            let mut s = self.state.lock();
            s.0 = Some(r);
            // Release: pairs with the Acquire load in `is_finished`/`wait`.
            self.done.store(true, Release);
            s.1.take()
        };
        if let Some(w) = waiter {
            w.wake();
        }
    }

    /// Registers the calling thread to be unparked on completion; true if
    /// the result is already in.
    pub(crate) fn wake_thread_on_complete(&self) -> bool {
        let mut s = self.state.lock();
        if s.0.is_some() {
            return true;
        }
        s.1 = Some(Waiter::Thread(std::thread::current()));
        false
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done.load(Acquire)
    }

    /// Blocks the caller (goroutine or thread) until the result is in.
    pub(crate) fn wait(&self) -> std::thread::Result<T> {
        loop {
            {
                let mut s = self.state.lock();
                if let Some(r) = s.0.take() {
                    return r;
                }
                s.1 = Some(Waiter::current());
            }
            park::park(WaitReason::Sync);
        }
    }
}

/// An owned permission to wait for a goroutine to finish.
///
/// Created by [`go`](crate::go). Dropping it detaches the goroutine.
#[derive(Debug)]
pub struct JoinHandle<T> {
    pub(crate) slot: Arc<JoinSlot<T>>,
    pub(crate) id: u64,
}

impl<T> JoinHandle<T> {
    /// Waits for the goroutine to finish and returns its result, or the
    /// payload of its panic as `Err`.
    ///
    /// Called from a goroutine, this blocks the goroutine, not its thread;
    /// from a plain thread, it blocks the thread.
    #[track_caller]
    pub fn join(self) -> std::thread::Result<T> {
        crate::api::note_site(std::panic::Location::caller());
        self.slot.wait()
    }

    /// Whether the goroutine has finished.
    pub fn is_finished(&self) -> bool {
        self.slot.is_done()
    }

    /// The goroutine's ID.
    pub fn id(&self) -> u64 {
        self.id
    }
}
