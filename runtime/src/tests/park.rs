//! Model 5a: goroutine park/unpark through the park word (`park::ParkWord`).
//!
//! A goroutine G waits for one value from each of two senders. It starts on
//! M1 (the model's main thread); each sender, on its own M, delivers a value
//! and unparks G, and a sender whose unpark claims the parked G runs it next
//! on its own M (as `ready` puts it in the sender's `runnext`). G's loop is
//! the runtime's: check the condition, `take_token` (step 1), suspend (its
//! stack is written), and the M's `commit` (step 2); a failed commit resumes
//! it at once.
//!
//! Checked: no lost wake-up (G always ends with both values), G never runs
//! on two Ms at once and every M that resumes it sees the stack its last M
//! wrote (loom checks the `UnsafeCell` stack), and each park is claimed at
//! most once.
//!
//! Model 5b (`release_claim`): the stack releaser of `sched::release` as
//! one more party. G waits for one value; a releaser thread claims G if it
//! is parked (`claim_parked`), works on its stack, and gives it back with
//! the M's `commit`, running G itself if a wake-up came in between (the
//! runtime queues it). Checked as above; its twin gives G back with a plain
//! store of PARKED and loses the wake-up that arrived while it held G.

use super::{check, check_rejects};
use crate::park::{Faithful, ParkSteps, ParkWord, EMPTY, PARKED};
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicU8, AtomicUsize, Ordering, Ordering::*};
use loom::sync::{Arc, Mutex};

/// Senders, hence values G waits for.
const SENDERS: usize = 2;

/// What lives on G's stack.
#[derive(Debug, Default)]
struct Stack {
    /// Values G has seen.
    received: usize,
    /// Times G suspended in a park.
    suspends: usize,
    /// G returned.
    done: bool,
}

struct G {
    park: AtomicU8,
    stack: UnsafeCell<Stack>,
    /// The channel G waits on: values sent so far.
    mailbox: Mutex<usize>,
    /// Parks claimed by an unparker (each claim queues G once).
    claims: AtomicUsize,
}

/// G's stack, for the M running it.
fn on_stack<R>(g: &G, f: impl FnOnce(&mut Stack) -> R) -> R {
    // SAFETY: only the M running G touches its stack; that G runs on one M
    // at a time is what the model checks (loom reports overlapping access).
    g.stack.with_mut(|p| f(unsafe { &mut *p }))
}

/// An M runs G until G parks or returns (`Worker::execute` with
/// `park::park_task` and `park::commit`).
fn execute<S: ParkSteps>(g: &G) {
    loop {
        let have = *g.mailbox.lock().unwrap();
        if on_stack(g, |s| {
            s.received = have;
            s.done = have == SENDERS;
            s.done
        }) {
            return;
        }
        if ParkWord::<S>::with_steps(&g.park).take_token() {
            continue;
        }
        on_stack(g, |s| s.suspends += 1);
        if ParkWord::<S>::with_steps(&g.park).commit() {
            return;
        }
    }
}

/// A sender on its own M: deliver, unpark, and run G if this unpark claimed it.
fn send<S: ParkSteps>(g: &G) {
    *g.mailbox.lock().unwrap() += 1;
    if ParkWord::<S>::with_steps(&g.park).unpark() {
        g.claims.fetch_add(1, Relaxed);
        execute::<S>(g);
    }
}

fn model<S: ParkSteps>() {
    let g = Arc::new(G {
        park: AtomicU8::new(0),
        stack: UnsafeCell::new(Stack::default()),
        mailbox: Mutex::new(0),
        claims: AtomicUsize::new(0),
    });
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| {
            let g = g.clone();
            loom::thread::spawn(move || send::<S>(&g))
        })
        .collect();
    execute::<S>(&g);
    for s in senders {
        s.join().unwrap();
    }
    let (done, suspends) = on_stack(&g, |s| (s.done, s.suspends));
    assert!(
        done,
        "lost wake-up: G stays parked although both values were sent"
    );
    let claims = g.claims.load(Relaxed);
    assert!(
        claims <= suspends,
        "G was queued {claims} times for {suspends} parks"
    );
}

/// Twin: `commit` checks for a token with a load, then stores PARKED: an
/// unpark between the two is lost.
struct CommitLoadStore;

impl ParkSteps for CommitLoadStore {
    fn commit(word: &AtomicU8) -> bool {
        if word.load(Acquire) == EMPTY {
            word.store(PARKED, Release);
            return true;
        }
        word.store(EMPTY, Relaxed);
        false
    }
}

/// Twin: `unpark` reads and claims a PARKED word with `Relaxed`
/// operations: the claimer does not see the suspended goroutine's writes.
struct UnparkRelaxed;

impl ParkSteps for UnparkRelaxed {
    fn unpark_orderings() -> (Ordering, Ordering) {
        (Relaxed, Relaxed)
    }
}

#[test]
fn loom_park_two_senders_wake_goroutine_on_any_m() {
    check(
        "park_two_senders_wake_goroutine_on_any_m",
        model::<Faithful>,
    );
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_park_twin_commit_load_store_is_rejected() {
    check_rejects(
        "park_twin_commit_load_store",
        &["lost wake-up"],
        model::<CommitLoadStore>,
    );
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_park_twin_unpark_relaxed_is_rejected() {
    check_rejects(
        "park_twin_unpark_relaxed",
        &["Causality violation"],
        model::<UnparkRelaxed>,
    );
}

/// G of model 5b: waits for one value.
fn execute_one(g: &G) {
    loop {
        let have = *g.mailbox.lock().unwrap();
        if on_stack(g, |s| {
            s.received = have;
            s.done = have == 1;
            s.done
        }) {
            return;
        }
        if ParkWord::new(&g.park).take_token() {
            continue;
        }
        on_stack(g, |s| s.suspends += 1);
        if ParkWord::new(&g.park).commit() {
            return;
        }
    }
}

/// The releaser of model 5b; `faithful: false` is its twin.
fn release(g: &G, faithful: bool) {
    if !ParkWord::new(&g.park).claim_parked() {
        return;
    }
    // The owner now: the stack is copied out and back (a write to it).
    on_stack(g, |s| s.received += 0);
    if faithful {
        if !ParkWord::new(&g.park).commit() {
            g.claims.fetch_add(1, Relaxed);
            execute_one(g);
        }
    } else {
        g.park.store(PARKED, Release);
    }
}

fn model_release(faithful: bool) {
    let g = Arc::new(G {
        park: AtomicU8::new(0),
        stack: UnsafeCell::new(Stack::default()),
        mailbox: Mutex::new(0),
        claims: AtomicUsize::new(0),
    });
    let sender = {
        let g = g.clone();
        loom::thread::spawn(move || {
            *g.mailbox.lock().unwrap() += 1;
            if ParkWord::new(&g.park).unpark() {
                g.claims.fetch_add(1, Relaxed);
                execute_one(&g);
            }
        })
    };
    let releaser = {
        let g = g.clone();
        loom::thread::spawn(move || release(&g, faithful))
    };
    execute_one(&g);
    sender.join().unwrap();
    releaser.join().unwrap();
    let (done, suspends) = on_stack(&g, |s| (s.done, s.suspends));
    assert!(
        done,
        "lost wake-up: G stays parked although its value was sent"
    );
    let claims = g.claims.load(Relaxed);
    assert!(
        claims <= suspends,
        "G was queued {claims} times for {suspends} parks"
    );
}

#[test]
fn loom_park_release_claim_never_loses_a_wake_up() {
    check("park_release_claim", || model_release(true));
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_park_twin_release_store_is_rejected() {
    check_rejects("park_twin_release_store", &["lost wake-up"], || {
        model_release(false)
    });
}
