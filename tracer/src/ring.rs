//! The ring: whole generations kept in memory, for a flight recorder.
//!
//! A session started with [`start_ring`](crate::start_ring) sends its batches
//! here instead of to an `io::Write`: the sink thread appends each batch of
//! the open generation to one buffer ([`Ring::append`]) and, once the
//! advancer has declared the generation complete, closes it
//! ([`Ring::end_gen`]). A closed generation is a self-contained piece of a Go
//! 1.23 trace: every live goroutine's status is stated in it (lazily before
//! its first event, or by the advancer at the generation's end), so the
//! header followed by any run of consecutive closed generations is a trace
//! Go's parser accepts. [`snapshot`](crate::snapshot) writes exactly that.
//!
//! Retention, applied each time a generation closes (Go 1.25's rule, with
//! `max_bytes` made strict): the newest closed generation is always kept;
//! older ones are kept, newest first, while the kept ones do not yet cover
//! `min_age` and adding the next one keeps the total within `max_bytes`. So
//! the closed generations hold at most `max(max_bytes, newest)` bytes, and
//! the open one comes on top.
//!
//! Generations also end on size: when the batches submitted for the newest
//! generation reach [`Ring::generation_target`] bytes the sink asks the
//! session for an early advance (its `kick`), so that a busy program's
//! generations stay a fraction of `max_bytes` and `min_age` spans several
//! of them.

#![deny(unsafe_code)]

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::time::{Duration, Instant};

use crate::loom::sync::atomic::{AtomicBool, AtomicU64};
use crate::loom::sync::{Condvar, Mutex};

/// A closed generation's bytes, shared with the snapshots that write it.
///
/// `bytes::Bytes` rather than `Arc<[u8]>`: it takes over the open
/// generation's `Vec` as it is, where an `Arc<[u8]>` (its counts sit in
/// front of the data) would allocate again and copy the whole generation
/// on the sink thread each time one closes.
type Bytes = bytes::Bytes;

/// The open generation is cut once it holds `max_bytes / GENS_PER_BOUND`.
const GENS_PER_BOUND: u64 = 8;

/// Smallest size at which a generation is cut (a frequency batch, the status
/// batches and the stack and string tables are repeated in each one).
const MIN_GENERATION_BYTES: u64 = 16 << 10;

/// One closed generation.
#[derive(Debug)]
struct Gen {
    num: u64,
    /// When the generation opened (the previous one closed, or the session
    /// started).
    opened: Instant,
    bytes: Bytes,
}

#[derive(Debug)]
struct State {
    /// A session is sending batches here.
    active: bool,
    /// Closed generations, oldest first, consecutive.
    gens: VecDeque<Gen>,
    closed_bytes: u64,
    /// The open generation's number (0: none yet) and bytes so far.
    open_num: u64,
    open: Vec<u8>,
    opened: Instant,
    /// Every generation up to this one has been closed (or dropped).
    completed_through: u64,
}

/// Closed generations kept in memory, and the open one being filled.
///
/// Built with [`Ring::new`], filled by a session started with
/// [`start_ring`](crate::start_ring), read with [`snapshot`](crate::snapshot).
pub struct Ring {
    min_age: Duration,
    max_bytes: u64,
    state: Mutex<State>,
    /// Signalled when a generation closes or the ring is deactivated.
    cv: Condvar,
    /// A snapshot is being written.
    pub(crate) writing: AtomicBool,
    held: AtomicU64,
    peak_held: AtomicU64,
    largest_gen: AtomicU64,
    closed_total: AtomicU64,
}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("min_age", &self.min_age)
            .field("max_bytes", &self.max_bytes)
            .field("held_bytes", &self.held_bytes())
            .finish_non_exhaustive()
    }
}

impl Ring {
    /// A ring keeping at least `min_age` of the most recent generations, in
    /// about `max_bytes` (see the module doc for the exact rule; `max_bytes`
    /// wins when they disagree).
    pub fn new(min_age: Duration, max_bytes: u64) -> Ring {
        Ring {
            min_age,
            max_bytes,
            state: Mutex::new(State {
                active: false,
                gens: VecDeque::new(),
                closed_bytes: 0,
                open_num: 0,
                open: Vec::new(),
                opened: Instant::now(),
                completed_through: 0,
            }),
            cv: Condvar::new(),
            writing: AtomicBool::new(false),
            held: AtomicU64::new(0),
            peak_held: AtomicU64::new(0),
            largest_gen: AtomicU64::new(0),
            closed_total: AtomicU64::new(0),
        }
    }

    /// The retention age given to [`Ring::new`].
    pub fn min_age(&self) -> Duration {
        self.min_age
    }

    /// The size bound given to [`Ring::new`].
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Size at which the open generation is ended early: an eighth of
    /// `max_bytes`, at least 16 KiB.
    pub fn generation_target(&self) -> u64 {
        (self.max_bytes / GENS_PER_BOUND).max(MIN_GENERATION_BYTES)
    }

    /// Trace bytes held now: the closed generations kept plus the open one
    /// received so far (batches still in an M's buffer or in the sink's queue
    /// are not counted).
    pub fn held_bytes(&self) -> u64 {
        self.held.load(Relaxed)
    }

    /// The largest [`Ring::held_bytes`] seen since the ring was created.
    pub fn peak_held_bytes(&self) -> u64 {
        self.peak_held.load(Relaxed)
    }

    /// The largest closed generation seen since the ring was created, in bytes.
    pub fn largest_generation(&self) -> u64 {
        self.largest_gen.load(Relaxed)
    }

    /// Generations closed since the ring was created (kept or not).
    pub fn generations_closed(&self) -> u64 {
        self.closed_total.load(Relaxed)
    }

    /// Closed generations kept now.
    pub fn generations_kept(&self) -> usize {
        self.state.lock().gens.len()
    }

    fn publish_held(&self, s: &State) {
        let held = s.closed_bytes + s.open.len() as u64;
        self.held.store(held, Relaxed);
        self.peak_held.fetch_max(held, Relaxed);
    }

    /// Starts receiving a session whose first generation is `first_gen`;
    /// anything kept from an earlier session is dropped.
    pub(crate) fn activate(&self, first_gen: u64) {
        let mut s = self.state.lock();
        s.active = true;
        s.gens.clear();
        s.closed_bytes = 0;
        s.open_num = first_gen;
        s.open = Vec::new();
        s.opened = Instant::now();
        s.completed_through = first_gen - 1;
        self.publish_held(&s);
    }

    /// Stops receiving and drops everything kept; wakes snapshot waiters.
    pub(crate) fn deactivate(&self) {
        let mut s = self.state.lock();
        s.active = false;
        s.gens.clear();
        s.closed_bytes = 0;
        s.open = Vec::new();
        self.publish_held(&s);
        drop(s);
        self.cv.notify_all();
    }

    /// Appends one batch of generation `gen` (the open one).
    pub(crate) fn append(&self, gen: u64, batch: &[u8]) {
        let mut s = self.state.lock();
        debug_assert_eq!(gen, s.open_num, "batch of a generation not open");
        if s.open.is_empty() {
            s.open.reserve(self.generation_target() as usize);
        }
        s.open.extend_from_slice(batch);
        self.publish_held(&s);
    }

    /// Closes generation `gen` (every batch of it has been appended) and
    /// applies the retention rule.
    pub(crate) fn end_gen(&self, gen: u64) {
        let now = Instant::now();
        let mut s = self.state.lock();
        debug_assert_eq!(gen, s.open_num, "closing a generation not open");
        let mut open = std::mem::take(&mut s.open);
        // The open generation reserved `generation_target` bytes; a closed
        // one holds what it used (a shrink in place, not a copy, for the
        // allocator's large blocks).
        open.shrink_to_fit();
        let bytes = Bytes::from(open);
        let opened = std::mem::replace(&mut s.opened, now);
        s.open_num = gen + 1;
        s.completed_through = gen;
        if !bytes.is_empty() {
            let len = bytes.len() as u64;
            self.largest_gen.fetch_max(len, Relaxed);
            self.closed_total.fetch_add(1, Relaxed);
            // Kept generations are consecutive: a gap (a generation closed
            // empty, which the advancer never produces while running) would
            // make the older ones unusable.
            if s.gens.back().is_some_and(|g| g.num + 1 != gen) {
                s.gens.clear();
                s.closed_bytes = 0;
            }
            s.gens.push_back(Gen {
                num: gen,
                opened,
                bytes,
            });
            s.closed_bytes += len;
            self.retain(&mut s, now);
        }
        self.publish_held(&s);
        drop(s);
        self.cv.notify_all();
    }

    /// The retention rule (module doc).
    fn retain(&self, s: &mut State, now: Instant) {
        let n = s.gens.len();
        let mut keep = 1;
        let mut size = s.gens[n - 1].bytes.len() as u64;
        while keep < n {
            let oldest_kept = &s.gens[n - keep];
            if now.saturating_duration_since(oldest_kept.opened) >= self.min_age {
                break;
            }
            let next = s.gens[n - keep - 1].bytes.len() as u64;
            if size + next > self.max_bytes {
                break;
            }
            size += next;
            keep += 1;
        }
        for _ in 0..n - keep {
            if let Some(g) = s.gens.pop_front() {
                s.closed_bytes -= g.bytes.len() as u64;
            }
        }
    }

    /// Waits until generation `gen` is closed; returns the closed
    /// generations kept then (oldest first), or `None` if the ring was
    /// deactivated meanwhile.
    pub(crate) fn wait_closed(&self, gen: u64) -> Option<Vec<Bytes>> {
        let mut s = self.state.lock();
        loop {
            if !s.active {
                return None;
            }
            if s.completed_through >= gen {
                return Some(s.gens.iter().map(|g| g.bytes.clone()).collect());
            }
            s = self.cv.wait(s);
        }
    }

    /// Claims the right to write a snapshot; false if one is being written.
    pub(crate) fn begin_writing(&self) -> bool {
        self.writing
            .compare_exchange(false, true, AcqRel, Acquire)
            .is_ok()
    }

    /// Releases what [`Ring::begin_writing`] claimed.
    pub(crate) fn end_writing(&self) {
        self.writing.store(false, Release);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Closes generations `first..first + sizes.len()` of the given sizes.
    fn fill(r: &Ring, first: u64, sizes: &[usize]) {
        for (i, &n) in sizes.iter().enumerate() {
            let gen = first + i as u64;
            r.append(gen, &vec![gen as u8; n]);
            r.end_gen(gen);
        }
    }

    fn kept(r: &Ring) -> Vec<(u64, usize)> {
        r.state
            .lock()
            .gens
            .iter()
            .map(|g| (g.num, g.bytes.len()))
            .collect()
    }

    #[test]
    fn size_bound_keeps_the_newest_that_fit() {
        let r = Ring::new(Duration::from_secs(3600), 1000);
        r.activate(5);
        fill(&r, 5, &[400, 400, 300, 300, 300]);
        // Newest first: 300 + 300 + 300 = 900; the next 400 would exceed.
        assert_eq!(kept(&r), vec![(7, 300), (8, 300), (9, 300)]);
        assert_eq!(r.held_bytes(), 900);
        // At most the bound in kept generations, plus the open one: before
        // the last one closed, 400 + 300 + 300 were kept and 300 open.
        assert_eq!(r.peak_held_bytes(), 1000 + 300);
        assert_eq!(r.largest_generation(), 400);
        assert_eq!(r.generations_closed(), 5);
        assert_eq!(r.wait_closed(9).map(|g| g.len()), Some(3));
    }

    #[test]
    fn the_newest_generation_is_kept_even_over_the_bound() {
        let r = Ring::new(Duration::from_secs(3600), 1000);
        r.activate(1);
        fill(&r, 1, &[100, 1500]);
        assert_eq!(kept(&r), vec![(2, 1500)]);
        fill(&r, 3, &[100]);
        // 100 + 1500 > 1000: the big one goes once a newer one exists.
        assert_eq!(kept(&r), vec![(3, 100)]);
    }

    #[test]
    fn age_bound_stops_once_min_age_is_covered() {
        // Every generation is older than a zero age: only the newest stays.
        let r = Ring::new(Duration::ZERO, 1 << 20);
        r.activate(1);
        fill(&r, 1, &[10, 10, 10]);
        assert_eq!(kept(&r), vec![(3, 10)]);
        // A long age keeps them all (the size bound allows it).
        let r = Ring::new(Duration::from_secs(3600), 1 << 20);
        r.activate(1);
        fill(&r, 1, &[10, 10, 10]);
        assert_eq!(kept(&r).len(), 3);
    }

    #[test]
    fn the_open_generation_counts_and_deactivation_drops_everything() {
        let r = Ring::new(Duration::from_secs(3600), 1000);
        r.activate(1);
        fill(&r, 1, &[100]);
        r.append(2, &[0; 50]);
        assert_eq!(r.held_bytes(), 150);
        r.deactivate();
        assert_eq!(r.held_bytes(), 0);
        assert!(
            r.wait_closed(1).is_none(),
            "a stopped ring has nothing to write"
        );
        // A new session starts empty, from its own first generation.
        r.activate(10);
        assert_eq!(r.wait_closed(9).map(|g| g.len()), Some(0));
    }

    #[test]
    fn a_second_writer_is_refused_until_the_first_is_done() {
        let r = Ring::new(Duration::from_secs(1), 1000);
        assert!(r.begin_writing());
        assert!(!r.begin_writing());
        r.end_writing();
        assert!(r.begin_writing());
    }
}
