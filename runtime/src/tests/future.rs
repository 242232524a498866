//! Model 5b: `future::block_on`'s wake-up handshake (`future::signal`) on
//! top of the park word.
//!
//! A goroutine G runs `block_on` over a future that is ready once two
//! senders have each delivered a value. Each sender, on its own M, delivers
//! and calls the future's waker ([`Handshake::wake`], whose unpark is the
//! park word's); a sender whose unpark claims the parked G runs it next on
//! its own M. G's loop is `block_on`'s: poll; on `Pending` lower the flag,
//! and park (`take_token`, suspend, the M's `commit`) until a lowering finds
//! it raised; after a park G resumes at the lowering, not at the poll.
//!
//! Checked: no lost wake-up (G always ends with both values).

use super::{check, check_rejects};
use crate::future::signal::{twin, Handshake, FAITHFUL};
use crate::park::ParkWord;
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicU8};
use loom::sync::{Arc, Mutex};

const SENDERS: usize = 2;

/// Where G resumes when an M runs it.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum Pc {
    #[default]
    Poll,
    Lower,
}

#[derive(Debug, Default)]
struct Stack {
    pc: Pc,
    done: bool,
}

struct G {
    park: AtomicU8,
    woken: AtomicBool,
    stack: UnsafeCell<Stack>,
    mailbox: Mutex<usize>,
}

fn on_stack<R>(g: &G, f: impl FnOnce(&mut Stack) -> R) -> R {
    // SAFETY: only the M running G touches its stack; loom reports any
    // overlapping access.
    g.stack.with_mut(|p| f(unsafe { &mut *p }))
}

/// An M runs G until it parks or returns.
fn execute<const TWIN: u8>(g: &G) {
    loop {
        if on_stack(g, |s| s.pc) == Pc::Poll {
            if *g.mailbox.lock().unwrap() == SENDERS {
                on_stack(g, |s| s.done = true);
                return;
            }
            on_stack(g, |s| s.pc = Pc::Lower);
        }
        if Handshake::<TWIN>(&g.woken).lower() {
            on_stack(g, |s| s.pc = Pc::Poll);
            continue;
        }
        // park(): a pending token returns at once; else suspend and commit.
        if ParkWord::new(&g.park).take_token() {
            continue;
        }
        if ParkWord::new(&g.park).commit() {
            return;
        }
    }
}

fn send<const TWIN: u8>(g: &G) {
    *g.mailbox.lock().unwrap() += 1;
    let mut claimed = false;
    Handshake::<TWIN>(&g.woken).wake(|| claimed = ParkWord::new(&g.park).unpark());
    if claimed {
        execute::<TWIN>(g);
    }
}

fn model<const TWIN: u8>() {
    let g = Arc::new(G {
        park: AtomicU8::new(0),
        woken: AtomicBool::new(false),
        stack: UnsafeCell::new(Stack::default()),
        mailbox: Mutex::new(0),
    });
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| {
            let g = g.clone();
            loom::thread::spawn(move || send::<TWIN>(&g))
        })
        .collect();
    execute::<TWIN>(&g);
    for s in senders {
        s.join().unwrap();
    }
    assert!(
        on_stack(&g, |s| s.done),
        "lost wake-up: G stays parked in block_on although its future is ready"
    );
}

#[test]
fn loom_future_block_on_two_wakers_no_lost_wakeup() {
    check(
        "future_block_on_two_wakers_no_lost_wakeup",
        model::<FAITHFUL>,
    );
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_future_twin_unpark_first_is_rejected() {
    check_rejects(
        "future_twin_unpark_first",
        &["lost wake-up"],
        model::<{ twin::UNPARK_FIRST }>,
    );
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_future_twin_no_lower_is_rejected() {
    check_rejects(
        "future_twin_no_lower",
        &["lost wake-up"],
        model::<{ twin::NO_LOWER }>,
    );
}
