//! Model 2: generation advance against in-flight writers (the per-M seqlock).
//!
//! Two Ms write events through the real [`acquire`] / [`Locker::event`]
//! path (seqlock CAS, generation load, the buffer of that generation's
//! parity, seqlock release) while the advancer (the model's main thread)
//! ends generation 1: steps 2 and 3 of `Advancer::advance` (publish the next
//! generation, then `take_finished` from every M until none is busy,
//! yielding between passes), extracted from `generation.rs` without the
//! sink and tables. After the writers finish, generation 2 is ended the
//! same way.
//!
//! Checked: every taken buffer belongs to the generation being ended, every
//! event lands in the generation its locker loaded and is taken exactly
//! once (counts per generation match what the writers wrote), and loom finds
//! no race on the buffer cells between writers and the advancer.

use super::{check, check_rejects, events, trace_on};
use crate::locker::{self, acquire};
use crate::loom::sync::Arc;
use crate::registry::{Take, ThreadTrace};
use crate::wire::EventType;
use std::sync::atomic::Ordering::{Relaxed, Release, SeqCst};

/// The writers' protocol as written.
const FAITHFUL: u8 = 0;
/// The writer loads the generation before taking its seqlock (the two steps
/// of `acquire_slow` swapped): the advancer can see the seqlock even and
/// take the buffer, and the writer then writes an event of the generation
/// just ended.
const GEN_BEFORE_SEQLOCK: u8 = 1;

/// Events each M writes.
const EVENTS: usize = 2;

/// One event through the real locker; returns the generation it went to.
fn write_one(t: &ThreadTrace) -> Option<u64> {
    let mut l = acquire(t)?;
    l.event(EventType::ProcStop, &[]);
    Some(l.gen())
}

/// [`write_one`] with the generation loaded before the seqlock is taken.
fn write_one_gen_first(t: &ThreadTrace) -> Option<u64> {
    let gen = locker::current_gen();
    let s = t.seq.load(Relaxed);
    if s & 1 == 1 || t.seq.compare_exchange(s, s + 1, SeqCst, Relaxed).is_err() {
        return None;
    }
    let flags = locker::flags();
    // SAFETY: none in the twin: it is the broken protocol loom must reject.
    unsafe {
        t.with_buf(gen, |slot| {
            crate::writer::write_event(t, slot, gen, &flags, EventType::ProcStop, &[]);
        });
    }
    t.seq.store(s + 2, Release);
    Some(gen)
}

/// Steps 2 and 3 of an advance: publish `gen + 1`, then take every M's
/// `gen` buffer once it is not busy.
fn advance(gen: u64, ms: &[Arc<ThreadTrace>]) -> Vec<crate::buf::TraceBuf> {
    locker::set_gen(gen + 1);
    let mut taken = Vec::new();
    let mut left: Vec<&Arc<ThreadTrace>> = ms.iter().collect();
    loop {
        left.retain(|t| match t.take_finished(gen) {
            Take::Busy => true,
            Take::Done(b) => {
                taken.extend(b);
                false
            }
        });
        if left.is_empty() {
            return taken;
        }
        loom::thread::yield_now();
    }
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
        .map(|t| {
            let t = t.clone();
            loom::thread::spawn(move || {
                let mut gens = Vec::new();
                for _ in 0..EVENTS {
                    let g = if V == GEN_BEFORE_SEQLOCK {
                        write_one_gen_first(&t)
                    } else {
                        write_one(&t)
                    };
                    gens.push(g.expect("tracing is on and this M's seqlock is free"));
                }
                gens
            })
        })
        .collect();
    let gen1 = advance(1, &ms);
    let written: Vec<u64> = writers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let gen2 = advance(2, &ms);
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
