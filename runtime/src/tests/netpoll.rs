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
use crate::netpoll::half::{twin, Half, Prepared, FAITHFUL};
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

struct G<const TWIN: u8> {
    park: AtomicU8,
    half: Half<usize, TWIN>,
    /// The socket's receive buffer: data arrived.
    data: AtomicBool,
    stack: UnsafeCell<Stack>,
}

const ME: usize = 7;

fn on_stack<const TWIN: u8, R>(g: &G<TWIN>, f: impl FnOnce(&mut Stack) -> R) -> R {
    // SAFETY: only the M running G touches its stack; loom reports any
    // overlapping access.
    g.stack.with_mut(|p| f(unsafe { &mut *p }))
}

/// An M runs G until it parks or finishes.
fn execute<const TWIN: u8>(g: &G<TWIN>) {
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
        if ParkWord::<0>(&g.park).take_token() || !ParkWord::<0>(&g.park).commit() {
            g.half.unregister(|w| *w == ME);
            continue;
        }
        return;
    }
}

fn poller<const TWIN: u8>(g: &G<TWIN>) {
    g.data.store(true, Release);
    let mut claimed = false;
    g.half
        .notify(|_w| claimed |= ParkWord::<0>(&g.park).unpark());
    if claimed {
        execute::<TWIN>(g);
    }
}

fn model<const TWIN: u8>() {
    let g = Arc::new(G::<TWIN> {
        park: AtomicU8::new(0),
        half: Half::default(),
        data: AtomicBool::new(false),
        stack: UnsafeCell::new(Stack::default()),
    });
    let p = {
        let g = g.clone();
        loom::thread::spawn(move || poller::<TWIN>(&g))
    };
    execute::<TWIN>(&g);
    p.join().unwrap();
    assert!(
        on_stack(&g, |s| s.done),
        "lost wake-up: G stays parked on a socket that has data"
    );
}

#[test]
fn loom_netpoll_ready_wait_no_lost_wakeup() {
    check("netpoll_ready_wait_no_lost_wakeup", model::<FAITHFUL>);
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_netpoll_twin_load_then_store_is_rejected() {
    check_rejects(
        "netpoll_twin_load_then_store",
        &["lost wake-up"],
        model::<{ twin::LOAD_THEN_STORE }>,
    );
}
