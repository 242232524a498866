//! `JoinHandle`: waiting for a goroutine's result, or its panic.
#![deny(unsafe_code)]

use crate::loom::sync::atomic::{AtomicBool, Ordering::*};
use crate::loom::sync::{Arc, Mutex};
use crate::sched::park::{self, Waiter};
use crate::task::WaitReason;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Who waits for a goroutine's result.
#[derive(Debug)]
enum Joiner {
    /// Nobody yet.
    None,
    /// A goroutine or thread blocked in `join` (or `Runtime::block_on`).
    Waiter(Waiter),
    /// Async code that polled the handle as a future.
    Waker(Waker),
}

/// The result and its joiner, under the slot's lock.
#[derive(Debug)]
struct SlotState<T> {
    result: Option<std::thread::Result<T>>,
    joiner: Joiner,
    /// The result was handed out by a poll: the handle is spent.
    taken: bool,
}

/// Where a goroutine leaves its result for its joiner.
#[derive(Debug)]
pub(crate) struct JoinSlot<T> {
    done: AtomicBool,
    state: Mutex<SlotState<T>>,
}

impl<T> JoinSlot<T> {
    pub(crate) fn new() -> Arc<JoinSlot<T>> {
        Arc::new(JoinSlot {
            done: AtomicBool::new(false),
            state: Mutex::new(SlotState {
                result: None,
                joiner: Joiner::None,
                taken: false,
            }),
        })
    }

    /// Stores the result and wakes the joiner, if any.
    pub(crate) fn complete(&self, r: std::thread::Result<T>) {
        let joiner = {
            let mut s = self.state.lock();
            s.result = Some(r);
            // Release: pairs with the Acquire load in `is_finished`/`wait`.
            self.done.store(true, Release);
            std::mem::replace(&mut s.joiner, Joiner::None)
        };
        // Outside the lock: a waker runs its executor's code.
        match joiner {
            Joiner::None => {}
            Joiner::Waiter(w) => w.wake(),
            Joiner::Waker(w) => w.wake(),
        }
    }

    /// Registers the calling thread to be unparked on completion; true if
    /// the result is already in.
    pub(crate) fn wake_thread_on_complete(&self) -> bool {
        let mut s = self.state.lock();
        if s.result.is_some() {
            return true;
        }
        s.joiner = Joiner::Waiter(Waiter::Thread(std::thread::current()));
        false
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done.load(Acquire)
    }

    /// Blocks the caller (goroutine or thread) until the result is in.
    ///
    /// # Panics
    /// If a poll already took the result (the handle was awaited to
    /// completion through a reference, then joined).
    #[track_caller]
    pub(crate) fn wait(&self) -> std::thread::Result<T> {
        loop {
            {
                let mut s = self.state.lock();
                if let Some(r) = s.result.take() {
                    return r;
                }
                if s.taken {
                    drop(s);
                    panic!("JoinHandle::join: the handle was already awaited to completion, which took the goroutine's result");
                }
                s.joiner = Joiner::Waiter(Waiter::current());
            }
            park::park(WaitReason::Sync);
        }
    }

    /// Takes the result if it is in; else registers `cx`'s waker (replacing
    /// the one of an earlier poll) to be woken on completion.
    fn poll_result(&self, cx: &mut Context<'_>) -> Poll<std::thread::Result<T>> {
        let mut s = self.state.lock();
        if let Some(r) = s.result.take() {
            s.taken = true;
            return Poll::Ready(r);
        }
        if s.taken {
            drop(s);
            panic!("JoinHandle polled after it returned Ready");
        }
        match &s.joiner {
            Joiner::Waker(w) if w.will_wake(cx.waker()) => {}
            _ => s.joiner = Joiner::Waker(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// An owned permission to wait for a goroutine to finish.
///
/// Created by [`go`](crate::go) and [`future::spawn`](crate::future::spawn).
/// Dropping it detaches the goroutine.
///
/// Wait for the goroutine in one of two ways: [`join`](Self::join) blocks
/// the calling goroutine (or thread), and `.await` (the handle is a
/// [`Future`] with the same output) suspends async code on any executor
/// until the goroutine finishes; its M wakes the awaiting task.
///
/// ```
/// gort_runtime::run(|| {
///     let h = gort_runtime::go(|| 6 * 7);
///     // Any executor can await it; gort's own block_on is one.
///     assert_eq!(gort_runtime::future::block_on(h).unwrap(), 42);
/// });
/// ```
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
    ///
    /// # Panics
    /// If the handle was already awaited to completion (through `&mut`),
    /// which took the result.
    #[track_caller]
    pub fn join(self) -> std::thread::Result<T> {
        crate::sched::context::note_site(std::panic::Location::caller());
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

/// Awaiting a handle waits for the goroutine, without blocking the
/// executor's thread: the result, or the payload of its panic as `Err`
/// (as [`join`](JoinHandle::join) and `std::thread::JoinHandle::join`
/// return it).
///
/// # Panics
/// When polled again after it returned `Ready`.
impl<T> Future for JoinHandle<T> {
    type Output = std::thread::Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.slot.poll_result(cx)
    }
}
