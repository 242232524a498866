//! `Task`: a goroutine, the G of G/M/P.
//!
//! A task owns its coroutine, a status (see [`state`]), a park word for
//! blocking without blocking the thread, and room for trace state. Tasks are
//! shared as [`TaskRef`] (`Arc<Task>`); the coroutine inside is touched only by
//! the M that currently runs the task, which the scheduling protocol makes
//! exclusive (a task is in at most one run queue, parked, or running).

pub(crate) mod join;
pub(crate) mod state;

use crate::coro::{Coro, YielderPtr};
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering::*};
use crate::loom::sync::Arc;
pub(crate) use state::{Status, WaitReason};

/// A shared reference to a task.
pub(crate) type TaskRef = Arc<Task>;

/// A goroutine.
pub(crate) struct Task {
    /// Goroutine ID: the main goroutine of the first `block_on` is 1; IDs
    /// increase and are never reused within a runtime.
    pub(crate) id: u64,
    /// Packed [`Status`] and [`WaitReason`]; written only by `state::transition`.
    pub(crate) status: AtomicU8,
    pub(crate) reason: AtomicU8,
    /// Park word: see `crate::park`.
    pub(crate) park: AtomicU8,
    /// The worker (M) that last ran the task, for end-of-generation trace
    /// statuses of running goroutines.
    pub(crate) last_m: AtomicUsize,
    /// 0, or 1 + the ID of the worker this task is wired to.
    pub(crate) locked_to: AtomicUsize,
    /// Nesting depth of `lock_os_thread` calls (touched only by the task).
    pub(crate) lock_depth: UnsafeCell<u32>,
    /// The coroutine; `None` once finished.
    pub(crate) coro: UnsafeCell<Option<Coro>>,
    /// The coroutine's yielder, published by the coroutine when it starts.
    pub(crate) yielder: UnsafeCell<YielderPtr>,
    /// Where the task was created, for traces.
    pub(crate) site: &'static std::panic::Location<'static>,
    /// The type name of the task's body, for traces.
    pub(crate) func: &'static str,
    /// Where the task last blocked or yielded, for the trace's event stack
    /// (written by the task itself, only while tracing).
    pub(crate) block_site: UnsafeCell<Option<&'static std::panic::Location<'static>>>,
    /// For a coroutine: the caller to switch to when it exits.
    pub(crate) exit_link: UnsafeCell<Option<std::ptr::NonNull<crate::coroutine::CoroLink>>>,
    /// Made ready by a thread that could not write the unblock event; the M
    /// that starts it writes it.
    pub(crate) unblock_pending: AtomicBool,
    /// The runtime the task belongs to.
    pub(crate) shared: Arc<crate::sched::Shared>,
    /// Per-goroutine tracer state.
    #[cfg(feature = "trace")]
    pub(crate) trace: gort_tracer::GoTrace,
}

// SAFETY: the `UnsafeCell` fields are accessed only by the thread that runs
// the task (coro, yielder, lock_depth) and the scheduling protocol hands the
// task between threads with release/acquire pairs; everything else is atomic.
unsafe impl Sync for Task {}
// SAFETY: as above; `Coro` itself is `Send` (see `coro`).
unsafe impl Send for Task {}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id)
            .field("status", &self.status())
            .finish()
    }
}

impl Task {
    pub(crate) fn new(
        id: u64,
        site: &'static std::panic::Location<'static>,
        func: &'static str,
        shared: Arc<crate::sched::Shared>,
    ) -> Task {
        Task {
            id,
            status: AtomicU8::new(Status::Runnable as u8),
            reason: AtomicU8::new(0),
            park: AtomicU8::new(0),
            last_m: AtomicUsize::new(0),
            locked_to: AtomicUsize::new(0),
            lock_depth: UnsafeCell::new(0),
            coro: UnsafeCell::new(None),
            yielder: UnsafeCell::new(std::ptr::null()),
            site,
            func,
            block_site: UnsafeCell::new(None),
            exit_link: UnsafeCell::new(None),
            unblock_pending: AtomicBool::new(false),
            shared,
            #[cfg(feature = "trace")]
            trace: gort_tracer::GoTrace::default(),
        }
    }

    /// The task's current status (a snapshot).
    pub(crate) fn status(&self) -> Status {
        Status::from_u8(self.status.load(Relaxed))
    }

    /// The worker this task is wired to, if any.
    pub(crate) fn locked_worker(&self) -> Option<usize> {
        match self.locked_to.load(Acquire) {
            0 => None,
            n => Some(n - 1),
        }
    }

    /// Installs the coroutine.
    ///
    /// # Safety
    /// No other thread may access the task's coroutine (the task is new).
    pub(crate) unsafe fn set_coro(&self, c: Coro) {
        // SAFETY: guaranteed by the caller.
        self.coro.with_mut(|p| unsafe { *p = Some(c) });
    }

    /// Runs `f` on the task's coroutine slot.
    ///
    /// # Safety
    /// The calling thread must be the one running (or about to run) the task:
    /// the scheduling protocol gives it exclusive access to the coroutine.
    #[inline(always)]
    pub(crate) unsafe fn with_coro<R>(&self, f: impl FnOnce(&mut Option<Coro>) -> R) -> R {
        // SAFETY: exclusive access is guaranteed by the caller.
        self.coro.with_mut(|p| f(unsafe { &mut *p }))
    }

    /// The running task's yielder.
    ///
    /// # Safety
    /// Must be called by the task itself, while it runs.
    #[inline(always)]
    pub(crate) unsafe fn yielder(&self) -> YielderPtr {
        // SAFETY: written once by this task before it first ran user code;
        // read only by the task itself.
        self.yielder.with(|p| unsafe { *p })
    }

    /// Publishes the task's yielder.
    ///
    /// # Safety
    /// Must be called by the task itself, when its coroutine starts.
    pub(crate) unsafe fn set_yielder(&self, y: YielderPtr) {
        // SAFETY: only the task itself touches this field.
        self.yielder.with_mut(|p| unsafe { *p = y });
    }
}

impl Task {
    /// Ends an unfinished coroutine by unwinding it (destructors run) and
    /// returns its stack to the pool. Used at runtime shutdown and when the
    /// last reference to a never-finished goroutine goes away.
    ///
    /// # Safety
    /// No thread may be running the task, and no other thread may touch its
    /// coroutine during the call.
    pub(crate) unsafe fn cancel(&self) {
        // SAFETY: exclusive access is guaranteed by the caller.
        let Some(mut c) = (unsafe { self.with_coro(|c| c.take()) }) else {
            return;
        };
        if !c.done() {
            if std::thread::panicking() {
                // Resuming while unwinding would corrupt this thread's panic
                // state: leak the stack rather than risk that.
                std::mem::forget(c);
                return;
            }
            let mut tries = 0;
            while !c.done() {
                tries += 1;
                if tries > 16 {
                    // The goroutine keeps catching its cancellation.
                    std::mem::forget(c);
                    return;
                }
                let _ = c.resume(crate::coro::Resume::Cancel);
            }
        }
        self.shared.stacks.put(c.into_stack());
        self.shared.live.fetch_sub(1, Relaxed);
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no other reference to the task exists.
        unsafe { self.cancel() };
    }
}

impl Task {
    /// The call site recorded by the task's last blocking call, taken.
    ///
    /// # Safety
    /// Called by the M running the task, while the task is suspended in its
    /// blocking call (or by the task itself).
    pub(crate) unsafe fn take_block_site(&self) -> Option<&'static std::panic::Location<'static>> {
        // SAFETY: the task and its M never run at the same time.
        self.block_site.with_mut(|p| unsafe { (*p).take() })
    }
}
