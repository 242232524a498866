//! The goroutine API: `go`, `yield_now`, `sleep`, `run`, thread wiring.

use crate::coro::{self, Req, Resume};
use crate::park::{self, Waiter};
use crate::runtime::Runtime;
use crate::sched::context::current_worker;
use crate::sched::worker::Worker;
use crate::task::join::{JoinHandle, JoinSlot};
use crate::task::{Task, WaitReason};
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// The worker and goroutine running this code, if any.
#[inline(always)]
pub(crate) fn running() -> Option<(&'static Worker, &'static Task)> {
    let w = current_worker();
    if w.is_null() {
        return None;
    }
    // SAFETY: a non-null current worker outlives all goroutine code on its
    // thread; callers use the references only until they next suspend.
    let w: &'static Worker = unsafe { &*w };
    let t = w.cur.get();
    if t.is_null() {
        return None;
    }
    // SAFETY: `cur` is the running task, kept alive by the worker loop.
    Some((w, unsafe { &*t }))
}

/// Records the caller of a blocking call in the running goroutine, for the
/// trace event its block writes. Costs one plain load while tracing is off.
#[inline(always)]
pub(crate) fn note_site(loc: &'static std::panic::Location<'static>) {
    if crate::hooks::enabled() {
        if let Some((_, t)) = running() {
            // SAFETY: only the task itself writes this while it runs.
            t.block_site.with_mut(|p| unsafe { *p = Some(loc) });
        }
    }
}

/// Starts a goroutine running `f` and returns a handle to join it.
///
/// The new goroutine runs next on this P (like Go's `go`), and may move to
/// other threads whenever it blocks or yields.
///
/// **Thread-affinity rule**: goroutines migrate between OS threads at every
/// blocking call (`join`, channel operations, `sleep`, `yield_now`, `pull`'s
/// `next`, mutexes). Never hold a reference into a thread-local, a std lock
/// guard, or any other thread-affine value across such a call: after it
/// returns the goroutine may run on another thread. Wire the goroutine with
/// [`lock_os_thread`] when it needs one thread.
///
/// # Panics
/// Outside a gort runtime (use [`run`] or [`Runtime::block_on`]), or when no
/// goroutine stack can be allocated.
///
/// ```
/// gort_runtime::run(|| {
///     let h = gort_runtime::go(|| 2 + 2);
///     assert_eq!(h.join().unwrap(), 4);
/// });
/// ```
#[track_caller]
pub fn go<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let site = std::panic::Location::caller();
    let w = current_worker();
    if w.is_null() {
        panic!(
            "gort::go called outside a gort runtime: start one with gort::run or Runtime::block_on"
        );
    }
    // SAFETY: see `running`.
    let w = unsafe { &*w };
    let slot = JoinSlot::new();
    let slot2 = slot.clone();
    let body = move |_first: Resume| {
        let r = panic::catch_unwind(AssertUnwindSafe(f));
        slot2.complete(r);
    };
    let t = match w.shared.new_task(site, std::any::type_name::<F>(), body) {
        Ok(t) => t,
        Err(e) => panic!("gort::go: cannot allocate a goroutine stack: {e}"),
    };
    let id = t.id;
    crate::hooks::go_create(w, &t, false);
    w.spawn(t);
    JoinHandle { slot, id }
}

/// Lets other goroutines run (Go's `runtime.Gosched`): the caller stays
/// runnable and goes to the back of its P's run queue, behind the goroutines
/// queued there; the global run queue, which every P serves now and then,
/// gets its turn as it does for any running goroutine. Outside a goroutine,
/// yields the thread.
#[track_caller]
pub fn yield_now() {
    note_site(std::panic::Location::caller());
    match running() {
        Some((_, t)) => {
            // SAFETY: `t` is the running goroutine.
            if unsafe { coro::suspend(t.yielder(), Req::Yield) } == Resume::Cancel {
                panic::resume_unwind(Box::new(coro::Cancelled));
            }
        }
        None => std::thread::yield_now(),
    }
}

/// Blocks the calling goroutine (not its thread) for at least `d`.
/// Outside a goroutine, sleeps the thread.
#[track_caller]
pub fn sleep(d: Duration) {
    note_site(std::panic::Location::caller());
    let Some((w, _)) = running() else {
        std::thread::sleep(d);
        return;
    };
    let deadline = Instant::now() + d;
    let shared = w.shared.clone();
    shared.timers.add(deadline, Waiter::current());
    while Instant::now() < deadline {
        park::park(WaitReason::Sleep);
    }
}

/// Runs `f` as the main goroutine of a new default runtime (one P per core)
/// and returns its result; the runtime is dropped afterwards.
///
/// # Panics
/// As [`Runtime::block_on`], and if the runtime cannot start.
#[track_caller]
pub fn run<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match Runtime::new() {
        Ok(rt) => rt.block_on(f),
        Err(e) => panic!("gort::run: cannot start the runtime: {e}"),
    }
}

/// The ID of the running goroutine (1 for the first main goroutine), or
/// `None` outside a goroutine.
pub fn goroutine_id() -> Option<u64> {
    running().map(|(_, t)| t.id)
}

/// Wires the calling goroutine to its current OS thread: until a matching
/// [`unlock_os_thread`], it runs only on this thread and no other goroutine
/// runs there (Go's `runtime.LockOSThread`). Calls nest.
///
/// A goroutine that exits while wired takes its thread with it (the thread
/// exits), as in Go. A `pull` coroutine resumed by a wired goroutine runs on
/// that same thread until it yields back.
pub fn lock_os_thread() {
    if let Some((w, t)) = running() {
        // SAFETY: only the task itself touches its lock depth.
        t.lock_depth.with_mut(|d| unsafe { *d += 1 });
        t.locked_to
            .store(w.handle.id + 1, std::sync::atomic::Ordering::Release);
        w.locked.set(true);
    }
}

/// Undoes one [`lock_os_thread`]; at depth zero the goroutine may migrate
/// again. Without a matching lock it does nothing.
pub fn unlock_os_thread() {
    if let Some((w, t)) = running() {
        // SAFETY: only the task itself touches its lock depth.
        let depth = t.lock_depth.with_mut(|d| unsafe {
            *d = (*d).saturating_sub(1);
            *d
        });
        if depth == 0 {
            t.locked_to.store(0, std::sync::atomic::Ordering::Release);
            w.locked.set(false);
        }
    }
}
