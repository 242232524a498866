//! The sink: an ordered queue of finished batches drained into the writer.
//!
//! Ms and the advancer [`submit`] finished batches; a dedicated thread writes
//! them to the session's `io::Write`, so an M never blocks on I/O (it only
//! takes the queue's mutex for a push). Nothing is dropped while the writer
//! works: if it falls behind, the queue grows, and its peak size is reported
//! (with the buffers allocated because none was spare for reuse).
//!
//! Wake-ups: every submission notifies the thread, and while batches are
//! queued the thread also looks again after [`WAKE_AFTER`] without one.
//!
//! Ordering: batches are queued per generation. The thread writes the header,
//! then generation `g`'s batches in submission order (so one M's batches stay
//! in order), and moves on to `g + 1` only after the advancer has declared
//! `g` complete ([`finish_gen`]). So every batch of `g` precedes every batch
//! of `g + 1` in the file, although Ms may already be filling `g + 1`.
//!
//! The output is an `io::Write` (a trace file: the header first, then every
//! batch) or a [`Ring`] (a flight recorder: each generation's batches are
//! appended to the ring's open generation, which is closed when the thread
//! moves past it). For a ring, [`submit`] also counts the newest
//! generation's bytes and, once they reach the ring's target, calls the
//! session's kick (once per generation: a short mutex hold and a condvar
//! notify, see [`Output`]), which makes the timer thread advance early.
//!
//! Failure: an error or a panic from the writer is sticky. The thread records
//! it, drops everything queued and stops; later submissions are discarded at
//! once, so memory does not grow and no one waits. The error is returned by
//! `finish_stop`.

#![deny(unsafe_code)]

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::io::{self, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use crate::buf::TraceBuf;
use crate::loom::sync::{Arc, Condvar, Mutex};
use crate::loom::thread::{self, JoinHandle};
use crate::ring::Ring;
use crate::wire::header::HEADER;

/// Most spare buffers kept for reuse.
const POOL_MAX: usize = 64;

/// How long the thread waits for a notification while batches are queued.
const WAKE_AFTER: Duration = Duration::from_millis(5);

/// What the sink reports when it is done.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SinkStats {
    /// Bytes written, header included.
    pub(crate) bytes: u64,
    /// Batches written.
    pub(crate) batches: u64,
    /// Timed events in the written batches.
    pub(crate) events: u64,
    /// Largest number of bytes waiting in the queue at once.
    pub(crate) peak_queued_bytes: u64,
    /// Batch buffers allocated because no spare one was in the pool.
    pub(crate) fresh_buffers: u64,
    /// Batch buffers taken from the pool.
    pub(crate) reused_buffers: u64,
}

#[derive(Debug)]
struct State {
    /// A session's sink thread is accepting batches.
    active: bool,
    /// The writer failed; submissions are discarded.
    failed: bool,
    /// No more generations will be finished; drain and exit.
    closing: bool,
    /// Every generation up to this one is complete.
    finished_through: u64,
    queues: BTreeMap<u64, VecDeque<TraceBuf>>,
    queued_bytes: u64,
    stats: SinkStats,
    pool: Vec<TraceBuf>,
    /// Generations ended on size (a ring's session).
    cut: Option<Cut>,
}

/// Asks the session for an advance (plain `std` `Arc`: no protocol of the
/// loom models goes through it).
pub(crate) type Kick = std::sync::Arc<dyn Fn() + Send + Sync>;

/// Ends a generation early once its batches reach `limit` bytes.
struct Cut {
    limit: u64,
    /// Asks the session for an advance.
    kick: Kick,
    /// The newest generation submitted, and its bytes so far.
    gen: u64,
    bytes: u64,
    /// The advance was asked for `gen`.
    kicked: bool,
}

impl std::fmt::Debug for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cut")
            .field("limit", &self.limit)
            .field("gen", &self.gen)
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl Cut {
    /// Counts a batch of `gen`; returns the kick to call if the generation
    /// just reached the limit.
    fn count(&mut self, gen: u64, len: u64) -> Option<Kick> {
        if gen > self.gen {
            self.gen = gen;
            self.bytes = 0;
            self.kicked = false;
        }
        if gen != self.gen {
            return None;
        }
        self.bytes += len;
        if self.kicked || self.bytes < self.limit {
            return None;
        }
        self.kicked = true;
        Some(self.kick.clone())
    }
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    cv: Condvar,
}

crate::loom::global! {
    static SINK: Shared = Shared {
        state: Mutex::new(State {
            active: false,
            failed: false,
            closing: false,
            finished_through: 0,
            queues: BTreeMap::new(),
            queued_bytes: 0,
            stats: SinkStats {
                bytes: 0,
                batches: 0,
                events: 0,
                peak_queued_bytes: 0,
                fresh_buffers: 0,
                reused_buffers: 0,
            },
            pool: Vec::new(),
            cut: None,
        }),
        cv: Condvar::new(),
    };
}

/// A batch buffer of `cap` bytes, reused if one is spare.
pub(crate) fn fresh_buf(cap: usize) -> TraceBuf {
    let spare = {
        let mut s = SINK.state.lock();
        let i = s.pool.iter().rposition(|b| b.capacity() == cap);
        let spare = i.map(|i| s.pool.swap_remove(i));
        if spare.is_some() {
            s.stats.reused_buffers += 1;
        } else {
            s.stats.fresh_buffers += 1;
        }
        spare
    };
    spare.unwrap_or_else(|| TraceBuf::new(cap))
}

fn recycle(s: &mut State, b: TraceBuf) {
    if s.pool.len() < POOL_MAX {
        s.pool.push(b);
    }
}

/// Queues a finished batch for writing (patching its size). Discarded when no
/// session is accepting batches or the writer has failed.
pub(crate) fn submit(mut b: TraceBuf) {
    b.finish();
    let mut s = SINK.state.lock();
    if !s.active || s.failed || b.gen() <= s.finished_through {
        debug_assert!(
            !s.active || s.failed || b.gen() > s.finished_through,
            "late batch"
        );
        recycle(&mut s, b);
        return;
    }
    let len = b.bytes().len() as u64;
    s.queued_bytes += len;
    s.stats.peak_queued_bytes = s.stats.peak_queued_bytes.max(s.queued_bytes);
    let gen = b.gen();
    let kick = s.cut.as_mut().and_then(|c| c.count(gen, len));
    s.queues.entry(gen).or_default().push_back(b);
    drop(s);
    SINK.cv.notify_one();
    if let Some(kick) = kick {
        kick();
    }
}

/// Declares generation `gen` (and every earlier one) complete.
pub(crate) fn finish_gen(gen: u64) {
    let mut s = SINK.state.lock();
    s.finished_through = s.finished_through.max(gen);
    drop(s);
    SINK.cv.notify_one();
}

/// Whether a session is accepting batches and its writer has failed.
pub(crate) fn failed() -> bool {
    let s = SINK.state.lock();
    s.active && s.failed
}

/// Where the sink thread puts the batches.
pub(crate) enum Output {
    /// A trace file: header, then every batch in order.
    Writer(Box<dyn Write + Send>),
    /// A flight recorder's ring. `kick` is called (by the thread that
    /// submits the batch, with no sink lock held) when the batches submitted
    /// for the newest generation reach the ring's target size: it asks the
    /// session to end the generation early. It must not block for long (an
    /// M may call it inside a hook).
    Ring {
        /// The ring.
        ring: Arc<Ring>,
        /// Asks for an advance.
        kick: Kick,
    },
}

/// Starts accepting batches from generation `first_gen` on and spawns the
/// thread that writes them to `out`.
pub(crate) fn open(
    out: Output,
    first_gen: u64,
) -> io::Result<JoinHandle<(SinkStats, Option<TraceError>)>> {
    {
        let mut s = SINK.state.lock();
        s.active = true;
        s.failed = false;
        s.closing = false;
        s.finished_through = first_gen - 1;
        s.queues.clear();
        s.queued_bytes = 0;
        s.stats = SinkStats::default();
        s.cut = match &out {
            Output::Ring { ring, kick } => Some(Cut {
                limit: ring.generation_target(),
                kick: kick.clone(),
                gen: first_gen,
                bytes: 0,
                kicked: false,
            }),
            Output::Writer(_) => None,
        };
    }
    // Before the thread exists: a snapshot taken right after the session
    // starts must find the ring receiving.
    let ring = match &out {
        Output::Ring { ring, .. } => {
            ring.activate(first_gen);
            Some(ring.clone())
        }
        Output::Writer(_) => None,
    };
    let h = thread::Builder::new()
        .name("gort-trace-sink".into())
        .spawn(move || match out {
            Output::Writer(w) => run(w, first_gen),
            Output::Ring { ring, .. } => {
                let r = run(RingWriter { ring: ring.clone() }, first_gen);
                ring.deactivate();
                r
            }
        });
    if h.is_err() {
        SINK.state.lock().active = false;
        if let Some(r) = ring {
            r.deactivate();
        }
    }
    h
}

/// Tells the thread to exit once everything finished is written.
pub(crate) fn close() {
    SINK.state.lock().closing = true;
    SINK.cv.notify_all();
}

/// Stops accepting batches (after the thread has exited).
pub(crate) fn deactivate() {
    let mut s = SINK.state.lock();
    s.active = false;
    s.cut = None;
    s.queues.clear();
    s.queued_bytes = 0;
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}

/// Runs `f` on the writer, turning an error or a panic into a [`TraceError`].
fn guarded(f: impl FnOnce() -> io::Result<()>) -> Result<(), TraceError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(TraceError::Io(e)),
        Err(p) => Err(TraceError::Panicked(panic_message(&*p))),
    }
}

fn fail(e: TraceError) -> (SinkStats, Option<TraceError>) {
    let mut s = SINK.state.lock();
    s.failed = true;
    s.queues.clear();
    s.queued_bytes = 0;
    (s.stats, Some(e))
}

/// What the sink thread writes into.
trait Dest {
    /// Starts the output (a file's header); returns the bytes written.
    fn begin(&mut self) -> io::Result<u64>;
    /// Writes one batch of generation `gen`.
    fn batch(&mut self, gen: u64, b: &[u8]) -> io::Result<()>;
    /// Every batch of `gen` has been written.
    fn end_gen(&mut self, gen: u64);
    /// Flushes and closes the output.
    fn finish(self) -> Result<(), TraceError>;
}

impl Dest for Box<dyn Write + Send> {
    fn begin(&mut self) -> io::Result<u64> {
        self.write_all(HEADER)?;
        Ok(HEADER.len() as u64)
    }

    fn batch(&mut self, _gen: u64, b: &[u8]) -> io::Result<()> {
        self.write_all(b)
    }

    fn end_gen(&mut self, _gen: u64) {}

    fn finish(mut self) -> Result<(), TraceError> {
        let r = guarded(|| self.flush());
        // A writer whose drop panics must not take the program down either.
        let dropped = guarded(move || {
            drop(self);
            Ok(())
        });
        r.and(dropped)
    }
}

/// A flight recorder's ring as the sink's output.
struct RingWriter {
    ring: Arc<Ring>,
}

impl Dest for RingWriter {
    fn begin(&mut self) -> io::Result<u64> {
        Ok(0)
    }

    fn batch(&mut self, gen: u64, b: &[u8]) -> io::Result<()> {
        self.ring.append(gen, b);
        Ok(())
    }

    fn end_gen(&mut self, gen: u64) {
        self.ring.end_gen(gen);
    }

    fn finish(self) -> Result<(), TraceError> {
        Ok(())
    }
}

/// The sink thread's body.
fn run(mut w: impl Dest, first_gen: u64) -> (SinkStats, Option<TraceError>) {
    match guarded(|| w.begin().map(|n| SINK.state.lock().stats.bytes += n)) {
        Ok(()) => {}
        Err(e) => return fail(e),
    }
    let mut reading = first_gen;
    let mut s = SINK.state.lock();
    loop {
        if let Some(b) = s.queues.get_mut(&reading).and_then(VecDeque::pop_front) {
            drop(s);
            let r = guarded(|| w.batch(reading, b.bytes()));
            s = SINK.state.lock();
            if let Err(e) = r {
                drop(s);
                return fail(e);
            }
            let len = b.bytes().len() as u64;
            s.queued_bytes -= len;
            s.stats.bytes += len;
            s.stats.batches += 1;
            s.stats.events += b.events();
            recycle(&mut s, b);
            continue;
        }
        if reading <= s.finished_through {
            s.queues.remove(&reading);
            drop(s);
            w.end_gen(reading);
            s = SINK.state.lock();
            reading += 1;
            continue;
        }
        if s.closing {
            break;
        }
        if s.queues.values().all(VecDeque::is_empty) {
            s = SINK.cv.wait(s);
        } else {
            // Batches of a later generation wait for `finish_gen`.
            s = SINK.cv.wait_timeout(s, WAKE_AFTER).0;
        }
    }
    drop(s);
    match w.finish() {
        Ok(()) => (SINK.state.lock().stats, None),
        Err(e) => fail(e),
    }
}

/// Why a session ended badly ([`finish_stop`](crate::finish_stop)).
#[derive(Debug)]
#[non_exhaustive]
pub enum TraceError {
    /// The writer returned an error; the trace is incomplete.
    Io(io::Error),
    /// The writer panicked (message attached); the trace is incomplete.
    Panicked(String),
    /// No session is running.
    NotRunning,
    /// [`begin_stop`](crate::begin_stop) has not been called.
    StillEnabled,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::Io(e) => write!(f, "trace sink: write failed: {e}"),
            TraceError::Panicked(m) => write!(f, "trace sink: writer panicked: {m}"),
            TraceError::NotRunning => f.write_str("trace stop: no trace session is running"),
            TraceError::StillEnabled => f.write_str("trace stop: begin_stop was not called"),
        }
    }
}

impl std::error::Error for TraceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TraceError::Io(e) => Some(e),
            _ => None,
        }
    }
}
