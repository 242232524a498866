//! Loom model of the seqlock/generation handshake (Go's `traceAcquire` vs
//! `traceAdvance`): an M writes one event under a locker while the advancer
//! bumps the generation and takes the M's buffer for the old one. Whatever
//! the interleaving, the event is in the old generation's buffer exactly when
//! the M's locker saw the old generation, and the advancer never takes a
//! buffer the M is still writing.

use std::sync::atomic::Ordering::SeqCst;

use crate::clock::Clock;
use crate::locker::{self, Flags};
use crate::loom::sync::atomic::AtomicU64;
use crate::loom::sync::Arc;
use crate::loom::thread;
use crate::registry::{Take, ThreadTrace};
use crate::wire::{GoStatus, ProcStatus};
use crate::{acquire, GoTrace, ProcTrace};

#[test]
fn loom_acquire_races_generation_bump() {
    loom::model(|| {
        let flags = Flags {
            enabled: true,
            stacks: false,
            buf_bytes: 256,
            clock: Clock::Tsc,
            asymmetric: true,
        };
        // SAFETY: no model thread runs yet.
        unsafe { locker::set_flags(flags) };
        locker::set_gen(1);
        let t = ThreadTrace::register(5);
        let seen = Arc::new(AtomicU64::new(0));
        let (t2, seen2) = (t.clone(), seen.clone());
        let m = thread::spawn(move || {
            let (p, g) = (ProcTrace::default(), GoTrace::default());
            if let Some(mut l) = acquire(&t2) {
                seen2.store(l.gen(), SeqCst);
                l.writer(
                    Some((0, &p, ProcStatus::Running)),
                    Some((1, &g, GoStatus::Running)),
                )
                .go_label("x");
            }
        });
        locker::set_gen(2);
        let buf = loop {
            match t.take_finished(1) {
                Take::Busy => thread::yield_now(),
                Take::Done(b) => break b,
            }
        };
        m.join().unwrap();
        match seen.load(SeqCst) {
            1 => assert_eq!(
                buf.map(|b| b.events()),
                Some(3),
                "gen-1 events must be flushed"
            ),
            2 => assert!(
                buf.is_none(),
                "a gen-2 writer must not touch the gen-1 slot"
            ),
            other => panic!("unexpected generation {other}"),
        }
    });
}
