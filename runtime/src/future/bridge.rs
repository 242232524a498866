//! `block_on` and `spawn`: the runtime side of the handshake in [`signal`].

use super::signal::Handshake;
use crate::join::JoinHandle;
use crate::loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use crate::sched::context::Running;
use crate::sched::park::{self, Waiter};
use crate::sched::Shared;
use crate::task::WaitReason;
use std::future::Future;
use std::panic::Location;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

#[cfg(doc)]
use super::signal;

/// The waker `block_on` hands its future: the handshake's flag and whom to
/// unpark.
#[derive(Debug)]
struct Signal {
    woken: AtomicBool,
    waiter: Waiter,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        Handshake::new(&self.woken).wake(|| self.waiter.clone().wake());
    }
}

/// Takes a goroutine waiting in `block_on` out of deadlock detection (any
/// thread may wake it) until dropped, also when the future's poll unwinds.
struct ExternalWait(Arc<Shared>);

impl ExternalWait {
    /// Counts the running goroutine in; `None` on a plain thread.
    fn enter() -> Option<ExternalWait> {
        let shared = Running::get()?.m().shared.clone();
        // SeqCst: read by the deadlock check under the sched lock, as the
        // channels' own count is.
        shared.external_blocked.fetch_add(1, SeqCst);
        Some(ExternalWait(shared))
    }
}

impl Drop for ExternalWait {
    fn drop(&mut self) {
        self.0.external_blocked.fetch_sub(1, SeqCst);
    }
}

/// Records `site` as the running goroutine's block site, for the trace
/// event of its next park (one plain load while tracing is off).
#[inline(always)]
fn note_site(site: &'static Location<'static>) {
    if crate::hooks::enabled_anywhere() {
        if let Some(r) = Running::get() {
            r.set_block_site(site);
        }
    }
}

/// Runs `fut` to completion on the calling goroutine and returns its
/// output.
///
/// Inside a goroutine, while the future is pending the goroutine parks (its
/// thread runs other goroutines) until the future's waker, called from any
/// thread, makes it runnable again; it then polls the future again. A wake
/// that arrives before the goroutine has parked is not lost: the park
/// returns at once. Waking more than once between two polls costs one
/// atomic read-modify-write per extra wake.
///
/// Outside a goroutine (a plain thread, or a thread of another executor),
/// it blocks the thread, like `futures::executor::block_on`.
///
/// A panic in the future's `poll` unwinds out of `block_on` into the
/// caller (and, uncaught in a goroutine, into its
/// [`JoinHandle`]'s `Err`).
///
/// The goroutine waiting is traced as blocked with the reason `future` at
/// the caller's location (see the [module doc](crate::future)).
///
/// # Panics
/// Inside [`syscall`](crate::syscall())'s closure, when the future is
/// pending (block outside the closure instead); and if `fut` panics.
///
/// ```
/// gort_runtime::run(|| {
///     let h = gort_runtime::go(|| 7);
///     // The goroutine parks here until `h`'s goroutine finishes.
///     assert_eq!(gort_runtime::future::block_on(h).unwrap(), 7);
///     assert_eq!(gort_runtime::future::block_on(async { 1 + 1 }), 2);
/// });
/// ```
#[track_caller]
pub fn block_on<F: Future>(fut: F) -> F::Output {
    block_on_at(Location::caller(), fut)
}

/// [`block_on`] with the caller's location given.
fn block_on_at<F: Future>(site: &'static Location<'static>, fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let signal = Arc::new(Signal {
        woken: AtomicBool::new(false),
        waiter: Waiter::current(),
    });
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    let mut external = None;
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        while !Handshake::new(&signal.woken).lower() {
            if external.is_none() {
                external = ExternalWait::enter();
            }
            note_site(site);
            park::park_at(WaitReason::Future, site);
        }
    }
}

/// Runs `fut` as a new goroutine, and returns a handle to its output.
///
/// The goroutine polls the future and parks between polls, as
/// [`block_on`] does; it starts like one of [`go`](crate::go) (next on the
/// caller's P). A panic in the future is caught, as for [`go`](crate::go),
/// and the handle's `join` or `.await` returns it as `Err`.
///
/// # Panics
/// Outside a gort runtime, or when no goroutine stack can be allocated.
///
/// ```
/// gort_runtime::run(|| {
///     let h = gort_runtime::go(|| 41);
///     let sum = gort_runtime::future::spawn(async move { h.await.unwrap() + 1 });
///     assert_eq!(sum.join().unwrap(), 42);
/// });
/// ```
#[track_caller]
pub fn spawn<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let site = Location::caller();
    crate::api::go_at(
        "gort::future::spawn",
        site,
        std::any::type_name::<F>(),
        move || block_on_at(site, fut),
    )
}
