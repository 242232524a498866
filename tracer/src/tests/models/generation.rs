//! Model 2: generation advance against in-flight writers (the per-M seqlock).
//!
//! Two Ms write events through the real lockers while the advancer (the
//! model's main thread) ends generation 1 with [`end_generation`] (steps 2
//! and 3 of `Advancer::advance`). After the writers finish, generation 2 is
//! ended the same way. The first M takes its seqlock as the runtime does
//! ([`acquire_local`]: plain store, the writer's half of the asymmetric
//! fence, generation load), the second with [`acquire`] (compare-and-swap);
//! the advancer's half of the fence is in `set_gen`.
//!
//! Checked: every taken buffer belongs to the generation being ended, every
//! event lands in the generation its locker loaded and is taken exactly
//! once (counts per generation match what the writers wrote), and loom finds
//! no race on the buffer cells between writers and the advancer.

use super::{check, check_rejects, end_generation, events, trace_on};
use crate::locker::{self, acquire, acquire_local};
use crate::loom::sync::Arc;
use crate::registry::ThreadTrace;
use crate::wire::EventType;
use std::sync::atomic::Ordering::{Relaxed, Release, SeqCst};

/// The writers' protocol as written.
const FAITHFUL: u8 = 0;
/// The writer loads the generation before taking its seqlock (the two steps
/// of `acquire_slow` swapped): the advancer can see the seqlock even and
/// take the buffer, and the writer then writes an event of the generation
/// just ended.
const GEN_BEFORE_SEQLOCK: u8 = 1;

/// The writer of `acquire_local` without its half of the fence: its
/// seqlock store can be ordered after its generation load, so the advancer
/// can take a buffer the writer is still filling.
const NO_WRITER_FENCE: u8 = 2;

/// Events each M writes.
const EVENTS: usize = 2;

/// One event through the real locker (`local`: [`acquire_local`]); returns
/// the generation it went to.
fn write_one(t: &ThreadTrace, local: bool) -> Option<u64> {
    let mut l = if local {
        // SAFETY: each model M's trace state is used by its writer thread
        // only (the advancer only takes finished buffers).
        unsafe { acquire_local(t)? }
    } else {
        acquire(t)?
    };
    l.event(EventType::ProcStop, []);
    Some(l.gen())
}

/// [`acquire_local`]'s steps without the fence between the seqlock store and
/// the generation load.
fn write_one_no_fence(t: &ThreadTrace) -> Option<u64> {
    let s = t.seq.load(Relaxed);
    t.seq.store(s + 1, Relaxed);
    let gen = locker::current_gen_relaxed();
    // SAFETY: none in the twin: it is the broken protocol loom must reject.
    unsafe {
        let slot = t.buf_slot(gen);
        crate::writer::write_event(t, slot.deref(), gen, 1, EventType::ProcStop, []);
    }
    t.seq.store(s + 2, Release);
    Some(gen)
}

/// [`write_one`] with the generation loaded before the seqlock is taken.
fn write_one_gen_first(t: &ThreadTrace) -> Option<u64> {
    let gen = locker::current_gen();
    let s = t.seq.load(Relaxed);
    if s & 1 == 1 || t.seq.compare_exchange(s, s + 1, SeqCst, Relaxed).is_err() {
        return None;
    }
    // SAFETY: none in the twin: it is the broken protocol loom must reject.
    unsafe {
        let slot = t.buf_slot(gen);
        crate::writer::write_event(t, slot.deref(), gen, 1, EventType::ProcStop, []);
    }
    t.seq.store(s + 2, Release);
    Some(gen)
}

fn model<const V: u8>() {
    trace_on(1);
    let ms: Vec<Arc<ThreadTrace>> = (0..2)
        .map(|i| {
            let t = ThreadTrace::register(10 + i);
            t.unlist();
            t
        })
        .collect();
    let writers: Vec<_> = ms
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let t = t.clone();
            loom::thread::spawn(move || {
                let mut gens = Vec::new();
                for _ in 0..EVENTS {
                    let g = match V {
                        GEN_BEFORE_SEQLOCK => write_one_gen_first(&t),
                        NO_WRITER_FENCE => write_one_no_fence(&t),
                        _ => write_one(&t, i == 0),
                    };
                    gens.push(g.expect("tracing is on and this M's seqlock is free"));
                }
                gens
            })
        })
        .collect();
    let gen1 = end_generation(1, &ms);
    let written: Vec<u64> = writers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let gen2 = end_generation(2, &ms);
    for (gen, bufs) in [(1, &gen1), (2, &gen2)] {
        let mut got = 0;
        for b in bufs.iter() {
            assert_eq!(
                b.gen(),
                gen,
                "a generation-{} batch taken for {gen}",
                b.gen()
            );
            got += events(b).len();
        }
        let want = written.iter().filter(|&&g| g == gen).count();
        assert_eq!(
            got, want,
            "generation {gen}: {want} events written, {got} taken (lost or taken twice)"
        );
    }
}

#[test]
fn loom_generation_advance_vs_two_writing_ms() {
    check("generation_advance_vs_two_writing_ms", model::<FAITHFUL>);
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_generation_twin_gen_before_seqlock_is_rejected() {
    check_rejects(
        "generation_twin_gen_before_seqlock",
        &["Causality violation", "lost or taken twice"],
        model::<GEN_BEFORE_SEQLOCK>,
    );
}

#[test]
#[should_panic(expected = "loom rejected")]
fn loom_generation_twin_no_writer_fence_is_rejected() {
    check_rejects(
        "generation_twin_no_writer_fence",
        &["Causality violation", "lost or taken twice"],
        model::<NO_WRITER_FENCE>,
    );
}
