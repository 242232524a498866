//! `Task`: a goroutine, the G of G/M/P.
//!
//! A task owns its coroutine, a status (see [`state`]), a park word for
//! blocking without blocking the thread, and room for trace state. Tasks are
//! shared as [`TaskRef`] (counted like `Arc<Task>`, see [`cell`]); the coroutine inside is touched only by
//! the M that currently runs the task, which the scheduling protocol makes
//! exclusive (a task is in at most one run queue, parked, or running).

pub(crate) mod cell;
pub(crate) mod link;
#[cfg(feature = "tracing")]
pub(crate) mod spans;
pub(crate) mod state;
pub(crate) mod waitmem;

use crate::coro::{Coro, YielderPtr};
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering::*};
use crate::loom::sync::Arc;
pub(crate) use link::{CoroLink, Req};
pub(crate) use state::{Status, WaitReason};

pub(crate) use cell::{TaskRef, TaskWeak};

/// What a goroutine needs from the runtime that owns it. The scheduler,
/// one layer up, implements it; the goroutine layer never names it.
pub(crate) trait Home: Send + Sync {
    /// Makes the parked goroutine `t` runnable from a thread that cannot
    /// queue it on a P of its own (a plain thread, another runtime's M, an
    /// M inside a syscall).
    fn ready_from_outside(self: Arc<Self>, t: TaskRef);
    /// Takes back the stack of a goroutine that ends without finishing
    /// (cancelled at shutdown, or dropped unstarted), and counts it out.
    fn reclaim(&self, stack: crate::coro::PooledStack);
}

/// A field of a goroutine that one thread at a time touches: the goroutine
/// itself while it runs, or the M that runs it (or holds it suspended in a
/// request to that M).
///
/// The ownership argument, once for every such field: a goroutine runs on
/// at most one M at a time, and it passes between Ms only through a run
/// queue, its park word or a coroutine hand-off, each of which pairs a
/// release with an acquire. So no two threads touch the field at once, and
/// each owner sees the writes of the previous one.
pub(crate) struct OwnCell<T>(UnsafeCell<T>);

impl<T> OwnCell<T> {
    fn new(v: T) -> OwnCell<T> {
        OwnCell(UnsafeCell::new(v))
    }

    /// Runs `f` on the field.
    ///
    /// # Safety
    /// The caller is the field's owner right now (see the type's doc): the
    /// goroutine itself while it runs, or the M that runs or holds it.
    #[inline(always)]
    pub(crate) unsafe fn with_mut<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: the caller owns the field, so this is the only access.
        self.0.with_mut(|p| f(unsafe { &mut *p }))
    }
}

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
    pub(crate) lock_depth: OwnCell<u32>,
    /// Set while the task runs as a `pull` coroutine for a wired caller,
    /// whose wiring it borrows: the thread stays wired when the task's own
    /// `lock_os_thread` depth returns to zero.
    pub(crate) wired_by_caller: AtomicBool,
    /// The coroutine; `None` once finished.
    pub(crate) coro: OwnCell<Option<Coro<Req>>>,
    /// The coroutine's yielder, published by the coroutine when it starts.
    pub(crate) yielder: OwnCell<YielderPtr<Req>>,
    /// Where the task was created, for traces.
    pub(crate) site: &'static std::panic::Location<'static>,
    /// The type name of the task's body, for traces.
    pub(crate) func: &'static str,
    /// Where the task last blocked or yielded, for the trace's event stack
    /// (written by the task itself, only while tracing).
    pub(crate) block_site: OwnCell<Option<&'static std::panic::Location<'static>>>,
    /// For a coroutine: the caller to switch to when it exits.
    pub(crate) exit_link: OwnCell<Option<std::ptr::NonNull<CoroLink>>>,
    /// Made ready by a thread that could not write the unblock event; the M
    /// that starts it writes it.
    pub(crate) unblock_pending: AtomicBool,
    /// The runtime the task belongs to.
    pub(crate) home: Arc<dyn Home>,
    /// That runtime's number in the process (0 for the first), for trace IDs.
    pub(crate) serial: u64,
    /// The goroutine that created this one (0: made outside any goroutine).
    pub(crate) parent: u64,
    /// The user's blocking call the goroutine last parked in: the address
    /// of a `&'static Location`, or 0. For goroutine dumps; written by the
    /// goroutine as it parks, read by any thread as a snapshot.
    wait_site: AtomicUsize,
    /// When it last parked, in the scheduler's coarse seconds (0: unknown).
    wait_since: AtomicUsize,
    /// The goroutine's stack pointer when it last parked (written by the
    /// goroutine as it parks; read by the owner of a parked goroutine that
    /// releases its stack, see `coro::release`).
    pub(crate) park_sp: OwnCell<usize>,
    /// Where the pattern of the park depth's measurement begins, while one
    /// is under way (0: none; see `coro::release::Canary`).
    pub(crate) canary_low: OwnCell<usize>,
    /// The lowest usable address of the goroutine's stack (above its guard
    /// page).
    pub(crate) stack_low: usize,
    /// Its stack is released now: set by the release, cleared by the
    /// restore (a hint for the releaser's scan; the coroutine's own record
    /// is the truth).
    pub(crate) stack_released: AtomicBool,
    /// The spare block for the shared records of the goroutine's next
    /// blocking operation (see [`waitmem`]).
    spare_wait_mem: waitmem::Spare,
    /// The record of the goroutine's current plain blocking operation, when
    /// it fits (see [`waitmem`]).
    pub(crate) wait_area: waitmem::WaitArea,
    /// The `tracing` spans the goroutine is inside, outermost first (see
    /// [`spans`]); touched only by the goroutine itself.
    #[cfg(feature = "tracing")]
    pub(crate) spans: OwnCell<Vec<u64>>,
    /// Per-goroutine tracer state.
    #[cfg(feature = "trace")]
    pub(crate) trace: gort_tracer::GoTrace,
}

// SAFETY: the `OwnCell` fields are touched by their owner only (see
// `OwnCell`); everything else is atomic or immutable.
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
        home: Arc<dyn Home>,
        serial: u64,
        parent: u64,
        stack_low: usize,
    ) -> Task {
        Task {
            id,
            status: AtomicU8::new(Status::Runnable as u8),
            reason: AtomicU8::new(0),
            park: AtomicU8::new(0),
            last_m: AtomicUsize::new(0),
            locked_to: AtomicUsize::new(0),
            lock_depth: OwnCell::new(0),
            wired_by_caller: AtomicBool::new(false),
            coro: OwnCell::new(None),
            yielder: OwnCell::new(std::ptr::null()),
            site,
            func,
            block_site: OwnCell::new(None),
            exit_link: OwnCell::new(None),
            unblock_pending: AtomicBool::new(false),
            home,
            serial,
            parent,
            wait_site: AtomicUsize::new(0),
            wait_since: AtomicUsize::new(0),
            park_sp: OwnCell::new(0),
            canary_low: OwnCell::new(0),
            stack_low,
            stack_released: AtomicBool::new(false),
            spare_wait_mem: OwnCell::new(None),
            wait_area: waitmem::WaitArea::new(),
            #[cfg(feature = "tracing")]
            spans: OwnCell::new(Vec::new()),
            #[cfg(feature = "trace")]
            trace: gort_tracer::GoTrace::default(),
        }
    }

    /// Records where and when the running task parks (called by the task
    /// itself, just before it suspends). Two plain stores.
    #[inline(always)]
    pub(crate) fn note_wait(&self, site: &'static std::panic::Location<'static>, since: usize) {
        self.wait_site.store(
            site as *const std::panic::Location<'static> as usize,
            Relaxed,
        );
        self.wait_since.store(since, Relaxed);
    }

    /// Where and when (coarse seconds) the task last parked: a snapshot,
    /// meaningful while it waits.
    pub(crate) fn last_wait(&self) -> (Option<&'static std::panic::Location<'static>>, usize) {
        let site = self.wait_site.load(Relaxed) as *const std::panic::Location<'static>;
        // SAFETY: the field only ever holds 0 or the address of a
        // `&'static Location` (see `note_wait`), which lives forever.
        let site = unsafe { site.as_ref() };
        (site, self.wait_since.load(Relaxed))
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
    pub(crate) unsafe fn set_coro(&self, c: Coro<Req>) {
        // SAFETY: guaranteed by the caller.
        unsafe { self.coro.with_mut(|p| *p = Some(c)) };
    }

    /// Runs `f` on the task's coroutine slot.
    ///
    /// # Safety
    /// The calling thread must be the one running (or about to run) the task:
    /// the scheduling protocol gives it exclusive access to the coroutine.
    #[inline(always)]
    pub(crate) unsafe fn with_coro<R>(&self, f: impl FnOnce(&mut Option<Coro<Req>>) -> R) -> R {
        // SAFETY: exclusive access is guaranteed by the caller.
        unsafe { self.coro.with_mut(f) }
    }

    /// The running task's yielder.
    ///
    /// # Safety
    /// Must be called by the task itself, while it runs.
    #[inline(always)]
    pub(crate) unsafe fn yielder(&self) -> YielderPtr<Req> {
        // SAFETY: written once by this task before it first ran user code;
        // read only by the task itself.
        unsafe { self.yielder.with_mut(|p| *p) }
    }

    /// Publishes the task's yielder.
    ///
    /// # Safety
    /// Must be called by the task itself, when its coroutine starts.
    pub(crate) unsafe fn set_yielder(&self, y: YielderPtr<Req>) {
        // SAFETY: only the task itself touches this field.
        unsafe { self.yielder.with_mut(|p| *p = y) };
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
        self.home.reclaim(c.into_stack());
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no other reference to the task exists.
        unsafe { self.cancel() };
    }
}

impl Task {
    /// Takes the exit link of a task that finished on the calling M.
    ///
    /// # Safety
    /// The task has finished (or is suspended) on the calling M, which owns
    /// its fields while no other thread can run it.
    pub(crate) unsafe fn take_exit_link(&self) -> Option<std::ptr::NonNull<CoroLink>> {
        // SAFETY: the caller's guarantee: this thread owns the cell now.
        unsafe { self.exit_link.with_mut(|p| p.take()) }
    }

    /// The call site recorded by the task's last blocking call, taken.
    ///
    /// # Safety
    /// Called by the M running the task, while the task is suspended in its
    /// blocking call (or by the task itself).
    #[cfg_attr(not(feature = "trace"), allow(dead_code))]
    pub(crate) unsafe fn take_block_site(&self) -> Option<&'static std::panic::Location<'static>> {
        // SAFETY: the task and its M never run at the same time.
        unsafe { self.block_site.with_mut(|p| p.take()) }
    }
}

/// A runtime that owns nothing, for tasks made by unit tests.
#[cfg(all(test, not(loom)))]
struct NoHome;

#[cfg(all(test, not(loom)))]
impl Home for NoHome {
    fn ready_from_outside(self: Arc<Self>, _: TaskRef) {}
    fn reclaim(&self, _: crate::coro::PooledStack) {}
}

#[cfg(all(test, not(loom)))]
impl Task {
    /// A task with no coroutine and no runtime, for unit tests.
    pub(crate) fn for_test() -> Task {
        Task::new(
            1,
            std::panic::Location::caller(),
            "test",
            Arc::new(NoHome),
            0,
            0,
            0,
        )
    }
}
