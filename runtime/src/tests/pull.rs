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
use crate::loom::sync::atomic::{AtomicU8, Ordering, Ordering::*};
use crate::pull::{Core, Enter, Faithful, GuardSteps, BUSY, DONE, IDLE};
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use std::sync::atomic::AtomicUsize;

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

struct Coro<S: GuardSteps> {
    core: Core<u32, S>,
    stack: UnsafeCell<CoroStack>,
}

impl<S: GuardSteps> Coro<S> {
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
    fn next<S: GuardSteps>(&mut self, c: &Coro<S>, me: usize) {
        match c.next(me) {
            Ok(Some(v)) => self.values.push(v),
            Ok(None) => {}
            Err(_) => self.busy += 1,
        }
    }
}

fn model<S: GuardSteps + 'static>(busy_seen: &AtomicUsize) {
    let c = Arc::new(Coro::<S> {
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
        model::<Faithful>(&seen)
    });
    assert!(
        busy_seen.load(Relaxed) > 0,
        "no interleaving overlapped two calls: the model does not reach misuse"
    );
}

/// Twin: the shared path checks IDLE with a load, then stores BUSY: two
/// callers can both get in.
struct EnterLoadStore;

impl GuardSteps for EnterLoadStore {
    fn enter_shared(state: &AtomicU8) -> Enter {
        match state.load(Acquire) {
            IDLE => {
                state.store(BUSY, Relaxed);
                Enter::Shared
            }
            DONE => Enter::Done,
            _ => Enter::Busy,
        }
    }
}

/// Twin: `leave` hands the cells on with `Relaxed` stores: the next caller
/// does not see the previous one's writes.
struct LeaveRelaxed;

impl GuardSteps for LeaveRelaxed {
    const LEAVE_ORDER: Ordering = Relaxed;
}

/// Twin: the taker skips the heavy fence: it can miss the owner's `busy`
/// while the owner misses the revocation.
struct RevokeNoFence;

impl GuardSteps for RevokeNoFence {
    const REVOKE_FENCES: bool = false;
}

/// Twin: the owner does not re-check the bias after raising `busy`.
struct OwnerNoRecheck;

impl GuardSteps for OwnerNoRecheck {
    const OWNER_RECHECKS: bool = false;
}

/// Runs the model on the broken twin `S`, which loom must reject with
/// two `next`/`stop` calls inside the coroutine's cells at once.
fn twin_rejected<S: GuardSteps + 'static>(name: &str) {
    let seen = std::sync::Arc::new(AtomicUsize::new(0));
    check_rejects(name, &["Causality violation"], move || model::<S>(&seen));
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_pull_twin_enter_load_store_is_rejected() {
    twin_rejected::<EnterLoadStore>("pull_twin_enter_load_store");
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_pull_twin_leave_relaxed_is_rejected() {
    twin_rejected::<LeaveRelaxed>("pull_twin_leave_relaxed");
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_pull_twin_revoke_no_fence_is_rejected() {
    twin_rejected::<RevokeNoFence>("pull_twin_revoke_no_fence");
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_pull_twin_owner_no_recheck_is_rejected() {
    twin_rejected::<OwnerNoRecheck>("pull_twin_owner_no_recheck");
}
