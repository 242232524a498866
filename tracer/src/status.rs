//! Per-resource trace state that the runtime embeds in its goroutines and Ps.
//!
//! Each resource keeps, per generation parity (`gen % 2`):
//!
//! | field        | meaning                                                        |
//! |--------------|----------------------------------------------------------------|
//! | `traced[i]`  | the last generation of parity `i` in which the resource's status (or its creation) was written |
//! | `seq[i]`     | its sequence number in that generation                         |
//!
//! A slot holds a generation *number*, not a flag, so it never needs clearing:
//! a stale value from generation `g - 2` simply differs from `g`. Two slots
//! suffice because generation `g + 2` (the next user of slot `g % 2`) begins
//! only after the advancer has finished with `g`, and the advancer is the only
//! reader of a generation's slot once that generation is over. (Go keeps three
//! flags per resource because a flag must be cleared before its generation
//! starts, which needs a visit to every resource; stamps do not.)
//!
//! Orderings: the claim is a `swap` so that two Ms mentioning the same resource
//! at once write exactly one status between them. Everything else is `Relaxed`:
//! writers of a generation publish to the advancer through their seqlock
//! release, and sequence numbers of one resource are advanced by Ms whose
//! state changes the runtime already orders (a goroutine is unblocked before
//! it is started, through the run queue that hands it over).

#![deny(unsafe_code)]

use std::sync::atomic::Ordering::Relaxed;

use crate::loom::sync::atomic::AtomicU64;

/// Trace state of one schedulable resource (goroutine or P).
#[derive(Debug, Default)]
pub(crate) struct ResourceTrace {
    traced: [AtomicU64; 2],
    seq: [AtomicU64; 2],
}

#[inline]
fn slot(gen: u64) -> usize {
    (gen & 1) as usize
}

impl ResourceTrace {
    /// Whether a status or creation was written for this resource in `gen`.
    #[inline]
    pub(crate) fn traced_in(&self, gen: u64) -> bool {
        self.traced[slot(gen)].load(Relaxed) == gen
    }

    /// Claims the right to write this resource's status in `gen`. Returns true
    /// (and resets the sequence number) for exactly one caller per generation.
    #[inline(always)]
    pub(crate) fn claim(&self, gen: u64) -> bool {
        // Almost always already claimed: one load, the rest out of line.
        self.traced[slot(gen)].load(Relaxed) != gen && self.claim_slow(gen)
    }

    #[cold]
    #[inline(never)]
    fn claim_slow(&self, gen: u64) -> bool {
        if self.traced[slot(gen)].swap(gen, Relaxed) == gen {
            return false;
        }
        self.seq[slot(gen)].store(0, Relaxed);
        true
    }

    /// Marks a resource that is being created in `gen`: traced, sequence 0.
    #[inline]
    pub(crate) fn created(&self, gen: u64) {
        self.seq[slot(gen)].store(0, Relaxed);
        self.traced[slot(gen)].store(gen, Relaxed);
    }

    /// Advances and returns the sequence number for `gen`.
    #[inline(always)]
    pub(crate) fn next_seq(&self, gen: u64) -> u64 {
        let s = &self.seq[slot(gen)];
        // N.B. load + store, not fetch_add: the runtime never advances one
        // resource's sequence from two Ms at once (see the module doc), and a
        // plain store is several nanoseconds cheaper than a locked RMW.
        let n = s.load(Relaxed) + 1;
        s.store(n, Relaxed);
        n
    }
}

/// Trace state of a goroutine (the G), embedded by the runtime in its task.
///
/// `Default` gives a goroutine never traced. Hand it to the tracer with the
/// goroutine's ID whenever an event names the goroutine.
#[derive(Debug, Default)]
pub struct GoTrace(pub(crate) ResourceTrace);

/// Trace state of a P (a scheduling slot), embedded by the runtime.
///
/// `Default` gives a P never traced.
#[derive(Debug, Default)]
pub struct ProcTrace(pub(crate) ResourceTrace);

impl GoTrace {
    /// Whether the goroutine's status (or creation) was written in generation `gen`.
    pub fn traced_in(&self, gen: u64) -> bool {
        self.0.traced_in(gen)
    }
}

impl ProcTrace {
    /// Whether the P's status was written in generation `gen`.
    pub fn traced_in(&self, gen: u64) -> bool {
        self.0.traced_in(gen)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn one_claim_per_generation_and_stamps_expire() {
        let r = ResourceTrace::default();
        assert!(!r.traced_in(1));
        assert!(r.claim(1));
        assert!(!r.claim(1));
        assert!(r.traced_in(1));
        assert_eq!(r.next_seq(1), 1);
        assert_eq!(r.next_seq(1), 2);
        // Generation 2 uses the other slot; generation 3 reuses slot 1, whose
        // stamp (1) no longer matches.
        assert!(r.claim(2));
        assert_eq!(r.next_seq(2), 1);
        assert!(!r.traced_in(3));
        assert!(r.claim(3));
        assert_eq!(r.next_seq(3), 1, "a claim resets the sequence");
        r.created(5);
        assert!(r.traced_in(5));
        assert!(!r.claim(5));
        assert_eq!(r.next_seq(5), 1);
    }

    #[test]
    fn concurrent_claims_have_one_winner() {
        let r = std::sync::Arc::new(ResourceTrace::default());
        for gen in 1..200u64 {
            let wins: usize = (0..2)
                .map(|_| {
                    let r = r.clone();
                    std::thread::spawn(move || usize::from(r.claim(gen)))
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|h| h.join().unwrap())
                .sum();
            assert_eq!(wins, 1, "gen {gen}");
        }
    }
}
