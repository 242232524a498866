//! Model 3: a `Pull` bounced between two goroutines on two Ms (`pull::Core`).
//!
//! The `Pull`'s coroutine yields 1, 2, 3 and returns; it is a plain state
//! machine on a loom `UnsafeCell` "stack" (what the coroutine keeps across
//! its switches), resumed in place of the real `coroswitch`. Goroutine A
//! (the main thread) calls `next` three times; goroutine B (another M) calls
//! `next` then `stop`. Nothing orders their calls but the guard: whichever
//! calls first biases it, the other revokes the bias (the Dekker handshake
//! of the fences, `SeqCst` fences under loom) and from then on both go
//! through the state word. So some calls follow each other (the hand-off
//! runs only through the guard's release/acquire pairs) and some overlap
//! (the late one must see the owner inside, or BUSY).
//!
//! Checked: the coroutine never runs on two Ms at once and each M sees the
//! cells the previous one wrote (loom checks every cell), no resume is lost
//! (the values handed out are exactly 1..=k, each once, in order per
//! goroutine, and k is what the coroutine yielded), a completed `stop`
//! leaves the `Pull` done with its coroutine finished, and overlapping calls
//! are reported (some interleaving must see BUSY).

use super::{check, check_rejects};
use crate::pull::{twin, Core, Enter, FAITHFUL};
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Values the coroutine yields before it returns.
const VALUES: u32 = 3;

/// `next` calls of goroutine A.
const A_CALLS: usize = 3;

/// The goroutines' identities for the guard (task addresses in the runtime:
/// aligned, so never one of the guard's small constants).
const A: usize = 0x1000;
const B: usize = 0x2000;

/// The coroutine's own state across switches.
#[derive(Debug, Default)]
struct CoroStack {
    /// Values yielded so far.
    yielded: u32,
    /// The coroutine returned (`link.coro_alive()` turns false).
    exited: bool,
}

struct Coro<const TWIN: u8> {
    core: Core<u32, TWIN>,
    stack: UnsafeCell<CoroStack>,
}

impl<const TWIN: u8> Coro<TWIN> {
    fn on_stack<R>(&self, f: impl FnOnce(&mut CoroStack) -> R) -> R {
        // SAFETY: the coroutine's stack is touched only by the M running the
        // coroutine, while its caller is inside the guard; loom reports any
        // overlap, which is what the model checks.
        self.stack.with_mut(|p| f(unsafe { &mut *p }))
    }

    /// The coroutine runs from its last switch to its next yield or its
    /// end: the body and `yield` of `pull()`, one step at a time.
    fn resume(&self) {
        // SAFETY: the coroutine runs while its caller is inside the guard.
        let stopping = unsafe { self.core.stopping() };
        self.on_stack(|s| {
            if stopping || s.yielded == VALUES {
                s.exited = true;
                // SAFETY: as above.
                unsafe { self.core.finish(None) };
            } else {
                s.yielded += 1;
                // SAFETY: as above.
                unsafe { self.core.put(s.yielded) };
            }
        });
    }

    fn next(&self, me: usize) -> Result<Option<u32>, Enter> {
        let (v, panicked) = self.core.next(me, || self.resume())?;
        assert!(panicked.is_none());
        Ok(v)
    }

    fn stop(&self, me: usize) -> Result<(), Enter> {
        let panicked = self
            .core
            .stop(me, || !self.on_stack(|s| s.exited), || self.resume())?;
        assert!(panicked.is_none());
        Ok(())
    }
}

/// What one goroutine's calls returned.
#[derive(Debug, Default)]
struct Calls {
    values: Vec<u32>,
    busy: usize,
    stopped: bool,
}

impl Calls {
    fn next<const TWIN: u8>(&mut self, c: &Coro<TWIN>, me: usize) {
        match c.next(me) {
            Ok(Some(v)) => self.values.push(v),
            Ok(None) => {}
            Err(_) => self.busy += 1,
        }
    }
}

fn model<const TWIN: u8>(busy_seen: &AtomicUsize) {
    let c = Arc::new(Coro::<TWIN> {
        core: Core::new(),
        stack: UnsafeCell::new(CoroStack::default()),
    });
    let b = {
        let c = c.clone();
        loom::thread::spawn(move || {
            let mut calls = Calls::default();
            calls.next(&c, B);
            match c.stop(B) {
                Ok(()) => calls.stopped = true,
                Err(_) => calls.busy += 1,
            }
            calls
        })
    };
    let mut a = Calls::default();
    for _ in 0..A_CALLS {
        a.next(&c, A);
    }
    let b = b.join().unwrap();

    for calls in [&a, &b] {
        assert!(
            calls.values.windows(2).all(|w| w[0] < w[1]),
            "out of order: {calls:?}"
        );
    }
    let mut all: Vec<u32> = a.values.iter().chain(&b.values).copied().collect();
    all.sort_unstable();
    let yielded = c.on_stack(|s| s.yielded);
    assert_eq!(
        all,
        (1..=yielded).collect::<Vec<_>>(),
        "a resume was lost or repeated (A {a:?}, B {b:?})"
    );
    if b.stopped {
        assert!(c.core.is_done(), "stop returned but the Pull is not done");
        assert!(
            c.on_stack(|s| s.exited),
            "stop returned but the coroutine runs"
        );
    }
    if a.busy + b.busy > 0 {
        busy_seen.fetch_add(1, Relaxed);
    }
}

#[test]
fn loom_pull_bounced_between_two_ms_next_next_vs_next_stop() {
    let busy_seen = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = busy_seen.clone();
    check("pull_bounced_between_two_ms", move || {
        model::<FAITHFUL>(&seen)
    });
    assert!(
        busy_seen.load(Relaxed) > 0,
        "no interleaving overlapped two calls: the model does not reach misuse"
    );
}

/// Runs the model on the broken twin `TWIN`, which loom must reject with
/// two `next`/`stop` calls inside the coroutine's cells at once.
fn twin_rejected<const TWIN: u8>(name: &str) {
    let seen = std::sync::Arc::new(AtomicUsize::new(0));
    check_rejects(name, &["Causality violation"], move || model::<TWIN>(&seen));
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_pull_twin_enter_load_store_is_rejected() {
    twin_rejected::<{ twin::ENTER_LOAD_STORE }>("pull_twin_enter_load_store");
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_pull_twin_leave_relaxed_is_rejected() {
    twin_rejected::<{ twin::LEAVE_RELAXED }>("pull_twin_leave_relaxed");
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_pull_twin_revoke_no_fence_is_rejected() {
    twin_rejected::<{ twin::REVOKE_NO_FENCE }>("pull_twin_revoke_no_fence");
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_pull_twin_owner_no_recheck_is_rejected() {
    twin_rejected::<{ twin::OWNER_NO_RECHECK }>("pull_twin_owner_no_recheck");
}
