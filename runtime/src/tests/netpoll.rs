//! Model 7: the network poller's ready/wait handshake (`netpoll::half`) on
//! top of the park word.
//!
//! A goroutine G reads a socket: it starts the operation (`take_ready`, Go's
//! `pollReset`), tries the read, and on "would block" runs `prepare` and
//! parks (`take_token`, suspend, the M's `commit`). The poller thread makes
//! data arrive, then reports the edge (`notify`); a waiter it claims through
//! the park word it runs next on its own M, as the scheduler does with the
//! goroutines a poll returns. A woken G unregisters and retries the read.
//!
//! Checked: no lost wake-up (G always ends having read the data).

use super::{check, check_rejects};
use crate::netpoll::half::{Faithful, Half, HalfSteps, Prepared, NIL, READY, WAIT};
use crate::park::ParkWord;
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicU8, Ordering::*};
use loom::sync::Arc;

/// Where G resumes when an M runs it.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum Pc {
    #[default]
    Start,
    /// Woken from the park: unregister, then retry the read.
    Woken,
}

#[derive(Debug, Default)]
struct Stack {
    pc: Pc,
    done: bool,
}

struct G<S: HalfSteps> {
    park: AtomicU8,
    half: Half<usize, S>,
    /// The socket's receive buffer: data arrived.
    data: AtomicBool,
    stack: UnsafeCell<Stack>,
}

const ME: usize = 7;

fn on_stack<S: HalfSteps, R>(g: &G<S>, f: impl FnOnce(&mut Stack) -> R) -> R {
    // SAFETY: only the M running G touches its stack; loom reports any
    // overlapping access.
    g.stack.with_mut(|p| f(unsafe { &mut *p }))
}

/// An M runs G until it parks or finishes.
fn execute<S: HalfSteps>(g: &G<S>) {
    if on_stack(g, |s| s.pc) == Pc::Start {
        g.half.take_ready();
    } else {
        g.half.unregister(|w| *w == ME);
    }
    loop {
        // The read.
        if g.data.load(Acquire) {
            on_stack(g, |s| s.done = true);
            return;
        }
        if g.half.prepare(ME, |w| *w == ME) == Prepared::Ready {
            continue;
        }
        // park(): a pending token returns at once; else suspend (where G
        // resumes is saved first) and commit.
        on_stack(g, |s| s.pc = Pc::Woken);
        if ParkWord::new(&g.park).take_token() || !ParkWord::new(&g.park).commit() {
            g.half.unregister(|w| *w == ME);
            continue;
        }
        return;
    }
}

fn poller<S: HalfSteps>(g: &G<S>) {
    g.data.store(true, Release);
    let mut claimed = false;
    g.half
        .notify(|_w| claimed |= ParkWord::new(&g.park).unpark());
    if claimed {
        execute::<S>(g);
    }
}

fn model<S: HalfSteps + Send + Sync + 'static>() {
    let g = Arc::new(G::<S> {
        park: AtomicU8::new(0),
        half: Half::default(),
        data: AtomicBool::new(false),
        stack: UnsafeCell::new(Stack::default()),
    });
    let p = {
        let g = g.clone();
        loom::thread::spawn(move || poller::<S>(&g))
    };
    execute::<S>(&g);
    p.join().unwrap();
    assert!(
        on_stack(&g, |s| s.done),
        "lost wake-up: G stays parked on a socket that has data"
    );
}

/// The broken twin: the waiter reads the word with a load and then stores
/// WAIT. An edge between the two finds NIL, leaves READY and wakes nobody;
/// the store of WAIT then erases it, and the waiter parks for good.
struct LoadThenStore;

impl HalfSteps for LoadThenStore {
    fn publish_wait(state: &AtomicU8) -> bool {
        if state.load(Acquire) == READY {
            state.store(NIL, Release);
            return false;
        }
        state.store(WAIT, Release);
        true
    }
}

#[test]
fn loom_netpoll_ready_wait_no_lost_wakeup() {
    check("netpoll_ready_wait_no_lost_wakeup", model::<Faithful>);
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_netpoll_twin_load_then_store_is_rejected() {
    check_rejects(
        "netpoll_twin_load_then_store",
        &["lost wake-up"],
        model::<LoadThenStore>,
    );
}
