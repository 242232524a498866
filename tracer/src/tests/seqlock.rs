//! The per-M seqlock and the generation switch, without loom: acquire and
//! release parity, re-entrancy, and an advance that waits for a held locker.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::serial;
use crate::locker::current_gen;
use crate::registry::Take;
use crate::wire::{GoStatus, ProcStatus};
use crate::{acquire, enabled, Config, GoTrace, ProcTrace, ThreadTrace};

fn start_session() {
    let cfg = Config::default().period(Duration::from_secs(3600));
    // SAFETY: tests holding `serial()` are the only tracer users.
    unsafe { crate::start(Box::new(std::io::sink()), cfg, None) }.expect("start");
}

fn stop_session() -> crate::Stats {
    // SAFETY: as above.
    unsafe { crate::begin_stop() };
    crate::finish_stop().expect("stop")
}

/// Polls `cond` until it holds; panics naming `what` if it still does not after 30 s (a
/// hang fails the test instead of stalling the run).
#[track_caller]
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what}: still not the case after 30 s"
        );
        std::thread::yield_now();
    }
}

#[test]
fn acquire_is_none_when_off_and_parity_tracks_holds() {
    let _s = serial();
    let t = ThreadTrace::register(800_001);
    assert!(!enabled());
    assert!(acquire(&t).is_none());
    assert_eq!(t.seq.load(SeqCst), 0, "a disabled acquire touches nothing");
    start_session();
    {
        let l = acquire(&t).expect("on");
        assert_eq!(l.gen(), current_gen());
        assert_eq!(t.seq.load(SeqCst), 1);
        assert!(acquire(&t).is_none(), "re-entrant acquire is refused");
        assert!(
            matches!(t.take_finished(l.gen()), Take::Busy),
            "current generation"
        );
    }
    assert_eq!(t.seq.load(SeqCst), 2);
    let stats = stop_session();
    assert_eq!(stats.events, 0);
    assert!(acquire(&t).is_none());
    assert_eq!(t.seq.load(SeqCst), 2);
    t.retire();
}

#[test]
fn advance_waits_for_a_held_locker_then_flushes_its_batch() {
    let _s = serial();
    let t = ThreadTrace::register(800_002);
    let (p, g) = (ProcTrace::default(), GoTrace::default());
    start_session();
    let mut l = acquire(&t).expect("on");
    let gen = l.gen();
    l.writer(
        Some((0, &p, ProcStatus::Running)),
        Some((1, &g, GoStatus::Running)),
    )
    .go_label("held");
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let adv = std::thread::spawn(move || {
        let r = crate::advance_now();
        d.store(true, SeqCst);
        r
    });
    // The advancer bumps the generation first, then waits for every M's seqlock to be
    // even; ours stays odd until `l` drops, so from the bump on it cannot finish.
    wait_until("the advancer bumps the generation", || {
        current_gen() == gen + 1
    });
    assert!(
        !done.load(SeqCst),
        "the advancer must wait for the odd seqlock"
    );
    // Still writing generation `gen` after the bump: the locker keeps it.
    l.writer(None, None).go_label("still gen N");
    drop(l);
    assert!(adv.join().unwrap(), "generation written");
    let l = acquire(&t).expect("on");
    assert_eq!(l.gen(), gen + 1);
    assert!(!p.traced_in(gen + 1), "statuses are per generation");
    drop(l);
    let stats = stop_session();
    // ProcStatus, GoStatus and two labels, all in generation `gen`.
    assert_eq!(stats.events, 4);
    assert_eq!(stats.generations, 1, "the empty last generation is dropped");
    t.retire();
}

#[test]
fn a_thread_trace_shared_by_two_threads_never_has_two_holders() {
    let _s = serial();
    let t = ThreadTrace::register(800_003);
    start_session();
    let holders = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let (t, h) = (t.clone(), holders.clone());
            std::thread::spawn(move || {
                let mut got = 0;
                for _ in 0..20_000 {
                    if let Some(mut l) = acquire(&t) {
                        assert_eq!(h.fetch_add(1, SeqCst), 0, "two holders at once");
                        l.writer(None, None).go_label("x");
                        h.fetch_sub(1, SeqCst);
                        got += 1;
                    }
                }
                got
            })
        })
        .collect();
    let got: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let stats = stop_session();
    assert_eq!(
        stats.events, got,
        "every event written under a locker is in the trace"
    );
    t.retire();
}

/// An M that retires keeps no goroutine exits to itself: the advancer of
/// the generation they happened in still learns of them (for its
/// end-of-generation statuses), from the retired Ms' hand-over.
#[test]
fn a_retiring_m_hands_its_exited_goroutines_to_the_advancer() {
    let _s = serial();
    start_session();
    let t = ThreadTrace::register(800_010);
    let gen = {
        let mut l = acquire(&t).expect("on");
        l.note_exit(77);
        l.note_exit(78);
        l.gen()
    };
    t.retire();
    let mut ids = crate::registry::take_retired_exited(gen);
    ids.sort_unstable();
    assert_eq!(ids, [77, 78]);
    assert!(
        t.take_exited(gen).is_empty(),
        "the retired M's own list was handed over, not copied"
    );
    assert!(crate::registry::take_retired_exited(gen).is_empty());
    stop_session();
}
