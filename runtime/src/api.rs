//! The goroutine API: `go`, `yield_now`, `sleep`, `run`, thread wiring.
#![deny(unsafe_code)]

use crate::join::JoinHandle;
use crate::sched::context::Running;
use crate::sched::park::{self, Waiter};
use crate::sched::timers::Target;
use crate::task::Req;
use crate::task::WaitReason;
use std::time::{Duration, Instant};

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
/// Outside a gort runtime (use [`run`](crate::run) or [`Runtime::block_on`](crate::Runtime::block_on)), or when no
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
    go_at(
        "gort::go",
        std::panic::Location::caller(),
        std::any::type_name::<F>(),
        f,
    )
}

/// Starts a goroutine running `f` and returns a handle to join it: the body
/// of `gort::go` and `gort::future::spawn` (`api` names the public function
/// for the panic messages).
pub(crate) fn go_at<F, T>(
    api: &str,
    site: &'static std::panic::Location<'static>,
    func: &'static str,
    f: F,
) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let slot = crate::join::JoinSlot::new();
    let slot2 = slot.clone();
    let body = move |_first: crate::coro::Resume| {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        slot2.complete(r);
    };
    let id = crate::sched::spawn_here(api, site, func, body);
    JoinHandle { slot, id }
}

/// Lets other goroutines run (Go's `runtime.Gosched`): the caller stays
/// runnable and goes to the back of its P's run queue, behind the goroutines
/// queued there; the global run queue, which every P serves now and then,
/// gets its turn as it does for any running goroutine. Outside a goroutine,
/// yields the thread.
#[track_caller]
pub fn yield_now() {
    crate::sched::context::note_site(std::panic::Location::caller());
    match Running::get() {
        Some(r) => r.suspend_or_unwind(Req::Yield),
        None => std::thread::yield_now(),
    }
}

/// Blocks the calling goroutine (not its thread) for at least `d` (Go's
/// `time.Sleep`; a zero `d` returns at once). The wake-up is an entry in the
/// timer heap of the caller's P, run by the scheduler: no thread per sleeper.
/// Outside a goroutine, sleeps the thread.
#[track_caller]
pub fn sleep(d: Duration) {
    crate::sched::context::note_site(std::panic::Location::caller());
    if Running::get().is_none() {
        std::thread::sleep(d);
        return;
    }
    if d.is_zero() {
        return;
    }
    let deadline = Instant::now() + d;
    crate::sched::timers::schedule(deadline, Target::Wake(Waiter::current()));
    // A stale wake-up token can end a park early: park until due.
    while Instant::now() < deadline {
        park::park(WaitReason::Sleep);
    }
}

/// Every goroutine, in the shape of Go's goroutine dump (`runtime.Stack`
/// with `all`, or what `SIGQUIT` prints): one paragraph per goroutine with
/// its ID (as [`goroutine_id`] and `JoinHandle::id` report it), its state or
/// Go's word for what it waits on (`chan receive`, `select`,
/// `sync.Mutex.Lock`, `IO wait`, ...) and for how many minutes, the gort
/// call it is parked in at the caller's source line, and `created by` with
/// the goroutine's function and where it was started:
///
/// ```text
/// goroutine 7 [chan receive, 2 minutes]:
/// gort::Receiver::recv(...)
///         src/main.rs:41
/// created by app::serve in goroutine 1
///         src/main.rs:30
/// ```
///
/// Called from a goroutine, the dump covers its runtime and lists the
/// caller first; from any other thread, every runtime in the process. A
/// snapshot: goroutines keep running while it is taken.
#[track_caller]
pub fn goroutine_dump() -> String {
    let site = std::panic::Location::caller();
    match Running::get() {
        Some(r) => {
            let caller = Some((r.g().id, site));
            crate::sched::dump::dump(&r.m().shared, caller)
        }
        None => crate::sched::dump::dump_all(None),
    }
}

/// The ID of the running goroutine (1 for the first main goroutine), or
/// `None` outside a goroutine.
pub fn goroutine_id() -> Option<u64> {
    Running::get().map(|r| r.g().id)
}

/// Wires the calling goroutine to its current OS thread: until a matching
/// [`unlock_os_thread`], it runs only on this thread and no other goroutine
/// runs there (Go's `runtime.LockOSThread`). Calls nest.
///
/// A goroutine that exits while wired takes its thread with it (the thread
/// exits), as in Go. A `pull` coroutine resumed by a wired goroutine runs on
/// that same thread until it yields back.
pub fn lock_os_thread() {
    if let Some(r) = Running::get() {
        let (w, t) = (r.m(), r.g());
        r.wire_depth_add(1);
        t.locked_to
            .store(w.handle.id + 1, std::sync::atomic::Ordering::Release);
        w.locked.set(true);
    }
}

/// Undoes one [`lock_os_thread`]; at depth zero the goroutine may migrate
/// again. Without a matching lock it does nothing. A `pull` sequence
/// resumed by a wired goroutine stays on that thread at depth zero: the
/// wiring it runs under is its caller's.
pub fn unlock_os_thread() {
    if let Some(r) = Running::get() {
        let (w, t) = (r.m(), r.g());
        if r.wire_depth_add(-1) == 0
            && !t.wired_by_caller.load(std::sync::atomic::Ordering::Relaxed)
        {
            t.locked_to.store(0, std::sync::atomic::Ordering::Release);
            w.locked.set(false);
        }
    }
}

/// Keeps its runtime from reporting a deadlock while it lives.
///
/// A runtime reports Go's `all goroutines are asleep - deadlock!` when every
/// goroutine is blocked and nothing it knows of can wake one: no timer,
/// syscall, network wait, future's waker, or plain thread blocked in a gort
/// call. A plain thread that will wake goroutines later (send on a channel,
/// close one, call `WaitGroup::done`) while it does something else first,
/// such as sleeping or reading a file, is invisible to that check. Give
/// such a thread a `KeepAlive` and drop it when the thread has nothing more
/// to hand the runtime; when the last one goes, the check runs again.
///
/// ```
/// let v = gort_runtime::run(|| {
///     let (tx, rx) = gort_runtime::chan::<u32>(0);
///     let guard = gort_runtime::keep_alive();
///     std::thread::spawn(move || {
///         std::thread::sleep(std::time::Duration::from_millis(20));
///         tx.send(7).unwrap();
///         drop(guard);
///     });
///     rx.recv()
/// });
/// assert_eq!(v, Some(7));
/// ```
#[must_use = "the runtime may report a deadlock as soon as the guard is dropped"]
pub struct KeepAlive {
    shared: std::sync::Arc<crate::sched::Shared>,
}

impl KeepAlive {
    pub(crate) fn new(shared: std::sync::Arc<crate::sched::Shared>) -> KeepAlive {
        shared
            .keep_alive
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        KeepAlive { shared }
    }
}

impl Clone for KeepAlive {
    fn clone(&self) -> KeepAlive {
        KeepAlive::new(self.shared.clone())
    }
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        let was = self
            .shared
            .keep_alive
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        if was == 1 {
            // Every M may have gone idle while this guard held the check off.
            self.shared.recheck_deadlock();
        }
    }
}

impl std::fmt::Debug for KeepAlive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeepAlive").finish_non_exhaustive()
    }
}

/// A [`KeepAlive`] for the calling goroutine's runtime (see there).
///
/// # Panics
/// Outside a gort runtime; from a plain thread use
/// [`Runtime::keep_alive`](crate::Runtime::keep_alive).
pub fn keep_alive() -> KeepAlive {
    match Running::get() {
        Some(r) => KeepAlive::new(r.m().shared.clone()),
        None => panic!(
            "gort::keep_alive called outside a gort runtime: use Runtime::keep_alive from a plain thread"
        ),
    }
}
