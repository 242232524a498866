//! Session control: configuration, start, stop, errors and statistics.
//!
//! A session is one trace file. Its life:
//!
//! 1. [`start`] (no M reading the flag): opens the sink (thread writing to the given
//!    `io::Write`), starts the advancer's timer thread, publishes the first
//!    generation and switches the enabled flag on. The runtime then writes the
//!    start events itself through a locker.
//! 2. While running, the timer thread ends a generation every period (and
//!    on request: a ring's size cut).
//! 3. [`begin_stop`] (no M reading the flag): switches the flag off and tells the
//!    timer thread to stop. No new locker can be taken from here on.
//! 4. [`finish_stop`] (Ms reading again): joins the timer thread, ends the last
//!    generation (flushing every M), waits for the sink to write everything,
//!    and returns the statistics or the writer's first error.
//!
//! A flight recorder's session ([`start_ring`]) is the same, except that the
//! sink keeps the generations in a [`Ring`] and the timer thread also ends
//! a generation when the sink reports it full; [`snapshot`] ends the current
//! generation and writes the ring's generations out while the session runs.
//!
//! `start` and `begin_stop` are `unsafe fn`s: they write the enabled flag,
//! which is sound only while no M reads it (see [`crate::locker`]).

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use crate::buf::MIN_BUF_BYTES;
use crate::clock::Clock;
pub use crate::generation::StatusSource;
use crate::generation::{self, Advanced, Advancer};
use crate::locker::{self, Flags};
use crate::loom::sync::atomic::AtomicBool;
use crate::loom::sync::{Arc, Condvar, Mutex};
use crate::loom::thread::{self, JoinHandle};
use crate::ring::Ring;
pub use crate::sink::TraceError;
use crate::sink::{self, Output, SinkStats};
use crate::wire::header::HEADER;
use crate::wire::limits::MAX_BATCH_BYTES;

/// Session settings, built with chained setters from [`Config::default`].
#[derive(Clone, Copy, Debug)]
pub struct Config {
    period: Duration,
    buf_bytes: usize,
    stacks: bool,
}

impl Default for Config {
    /// A 1 s generation period, 64 KiB buffers, stacks on.
    fn default() -> Self {
        Config {
            period: Duration::from_secs(1),
            buf_bytes: MAX_BATCH_BYTES,
            stacks: true,
        }
    }
}

impl Config {
    /// The defaults, as [`Config::default`]: a start for chained setters.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long a generation lasts (at least 1 ms).
    pub fn period(mut self, d: Duration) -> Self {
        self.period = d.max(Duration::from_millis(1));
        self
    }

    /// Size of each M's batch buffers, clamped to 256 B ..= 64 KiB.
    pub fn buffer_size(mut self, bytes: usize) -> Self {
        self.buf_bytes = bytes.clamp(MIN_BUF_BYTES, MAX_BATCH_BYTES);
        self
    }

    /// Whether stacks are recorded; when off every stack ID is 0.
    pub fn stacks(mut self, on: bool) -> Self {
        self.stacks = on;
        self
    }

    /// The generation period.
    pub fn get_period(&self) -> Duration {
        self.period
    }

    /// The buffer size in bytes.
    pub fn get_buffer_size(&self) -> usize {
        self.buf_bytes
    }

    /// Whether stacks are recorded.
    pub fn get_stacks(&self) -> bool {
        self.stacks
    }
}

/// Why [`start`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// A session is running (or stopping: `finish_stop` not yet called).
    AlreadyRunning,
    /// A tracer thread could not be spawned.
    Spawn(io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::AlreadyRunning => {
                f.write_str("trace start: a trace session is already running")
            }
            StartError::Spawn(e) => write!(f, "trace start: cannot spawn a tracer thread: {e}"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Spawn(e) => Some(e),
            StartError::AlreadyRunning => None,
        }
    }
}

/// What a finished session wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Generations written.
    pub generations: u64,
    /// Timed events written (statuses included, table entries not).
    pub events: u64,
    /// Bytes written, header included.
    pub bytes: u64,
    /// Batches written.
    pub batches: u64,
    /// Most bytes waiting for the writer at once.
    pub peak_queued_bytes: u64,
    /// Batch buffers the Ms allocated because no written one was free for
    /// reuse (a writer that falls behind makes this grow).
    pub fresh_buffers: u64,
    /// Batch buffers the Ms reused after the writer was done with them.
    pub reused_buffers: u64,
}

/// State shared with the timer thread.
#[derive(Debug)]
struct Timer {
    advancer: Mutex<Advancer>,
    /// Tracing is on (cleared by `begin_stop`); read by the advancer.
    tracing: Arc<AtomicBool>,
    ctl: Mutex<TimerCtl>,
    cv: Condvar,
}

/// Requests to the timer thread.
#[derive(Debug, Default)]
struct TimerCtl {
    /// Exit.
    stop: bool,
    /// End the current generation now (a ring's generation is full).
    kick: bool,
}

#[derive(Debug)]
struct Session {
    timer: Arc<Timer>,
    timer_thread: Option<JoinHandle<()>>,
    sink_thread: Option<JoinHandle<(SinkStats, Option<TraceError>)>>,
    stopping: bool,
    /// The ring a flight-recorder session fills.
    ring: Option<Arc<Ring>>,
}

crate::loom::global! {
    static SESSION: Mutex<Option<Session>> = Mutex::new(None);
}

fn timer_loop(t: &Timer, period: Duration) {
    let mut ctl = t.ctl.lock();
    loop {
        // N.B. check before waiting: `begin_stop` may have run before this
        // thread first took the lock, and a kick may have come meanwhile.
        if ctl.stop {
            return;
        }
        let timed_out = if ctl.kick {
            true
        } else {
            let (g, timed_out) = t.cv.wait_timeout(ctl, period);
            ctl = g;
            timed_out
        };
        if ctl.stop {
            return;
        }
        if timed_out || ctl.kick {
            ctl.kick = false;
            drop(ctl);
            let _ = t.advancer.lock().advance(false);
            ctl = t.ctl.lock();
        }
    }
}

/// Starts a session writing to `w`.
///
/// On success tracing is on: the caller then writes the start events through
/// a locker (its P's and goroutine's statuses, `ProcsChange`,
/// `STWBegin("start trace")`/`STWEnd`, `ProcStatus(Idle)` for idle Ps).
/// `src`, if given, lets the advancer write end-of-generation statuses for
/// resources that had no event (Go always writes them; without it a goroutine
/// that exists at start must be mentioned in the first generation, and a
/// generation in which nothing happens is not ended). A session in which
/// nothing at all is written produces only the header, which Go's reader
/// rejects: the start events are what make the first generation.
///
/// # Errors
///
/// [`StartError::AlreadyRunning`] if a session exists (even one stopping), and
/// [`StartError::Spawn`] if a tracer thread cannot be created (nothing changes).
///
/// # Safety
///
/// No thread is inside a section that calls
/// [`enabled_on_m`](crate::enabled_on_m) or
/// [`acquire_local`](crate::acquire_local) or holds a locker taken by it,
/// and each such thread will synchronise-with the caller before it enters
/// one again (gort's runtime: every M's trace gate, `sched/stw.rs`).
pub unsafe fn start(
    w: Box<dyn Write + Send>,
    cfg: Config,
    src: Option<Arc<dyn StatusSource>>,
) -> Result<(), StartError> {
    // SAFETY: the caller's guarantee is ours.
    unsafe { start_to(Dest::Writer(w), cfg, src) }
}

/// Starts a session that keeps its generations in `ring` instead of
/// writing them (a flight recorder): as [`start`] otherwise. Besides the
/// timer, a generation ends when it reaches the ring's
/// [`generation_target`](Ring::generation_target) size. Whatever the ring
/// held is dropped; [`snapshot`] writes what it keeps.
///
/// # Errors
///
/// As [`start`].
///
/// # Safety
///
/// As [`start`].
pub unsafe fn start_ring(
    ring: Arc<Ring>,
    cfg: Config,
    src: Option<Arc<dyn StatusSource>>,
) -> Result<(), StartError> {
    // SAFETY: the caller's guarantee is ours.
    unsafe { start_to(Dest::Ring(ring), cfg, src) }
}

/// Where a session's batches go.
enum Dest {
    Writer(Box<dyn Write + Send>),
    Ring(Arc<Ring>),
}

/// [`start`] and [`start_ring`].
///
/// # Safety
///
/// As [`start`].
unsafe fn start_to(
    dest: Dest,
    cfg: Config,
    src: Option<Arc<dyn StatusSource>>,
) -> Result<(), StartError> {
    let mut slot = SESSION.lock();
    if slot.is_some() {
        return Err(StartError::AlreadyRunning);
    }
    let clock = Clock::detect();
    let first = generation::next_first_gen();
    let tracing = Arc::new(AtomicBool::new(true));
    let timer = Arc::new(Timer {
        advancer: Mutex::new(Advancer::new(src, tracing.clone(), clock)),
        tracing,
        ctl: Mutex::new(TimerCtl::default()),
        cv: Condvar::new(),
    });
    let (out, ring) = match dest {
        Dest::Writer(w) => (Output::Writer(w), None),
        Dest::Ring(ring) => {
            let t = timer.clone();
            let kick: sink::Kick = std::sync::Arc::new(move || {
                t.ctl.lock().kick = true;
                t.cv.notify_all();
            });
            (
                Output::Ring {
                    ring: ring.clone(),
                    kick,
                },
                Some(ring),
            )
        }
    };
    let sink_thread = sink::open(out, first).map_err(StartError::Spawn)?;
    let t2 = timer.clone();
    let period = cfg.period;
    let timer_thread = match thread::Builder::new()
        .name("gort-trace-advance".into())
        .spawn(move || timer_loop(&t2, period))
    {
        Ok(h) => h,
        Err(e) => {
            sink::close();
            let _ = sink_thread.join();
            sink::deactivate();
            return Err(StartError::Spawn(e));
        }
    };
    let flags = Flags {
        enabled: true,
        stacks: cfg.stacks,
        buf_bytes: cfg.buf_bytes,
        clock,
        asymmetric: crate::fence::asymmetric_available(),
    };
    // SAFETY: the caller guarantees no M reads the flags meanwhile (our
    // contract is `set_flags`'s); the tracer's own new threads never read the flags.
    unsafe { locker::set_flags(flags) };
    // After the settings: a thread that reads this generation under its
    // seqlock reads the settings written above (see `locker`).
    locker::set_gen(first);
    *slot = Some(Session {
        timer,
        timer_thread: Some(timer_thread),
        sink_thread: Some(sink_thread),
        stopping: false,
        ring,
    });
    Ok(())
}

/// Switches tracing off: from now on [`acquire`](crate::acquire) returns
/// `None`. Call [`finish_stop`] once the world runs again. Does nothing if no
/// session is running. Never blocks on I/O.
///
/// # Safety
///
/// As for [`start`]: no M is inside a section that reads the flag plainly,
/// and every one will synchronise-with the caller before it enters one
/// again.
pub unsafe fn begin_stop() {
    let mut slot = SESSION.lock();
    let Some(s) = slot.as_mut() else { return };
    // Still tracing, and no M inside a hook: the final statuses now.
    s.timer.advancer.lock().record_final();
    // SAFETY: the caller guarantees no M reads the flag meanwhile.
    unsafe { locker::set_enabled(false) };
    s.stopping = true;
    // Pairs with the advancer's load after its status walk.
    s.timer.tracing.store(false, SeqCst);
    s.timer.ctl.lock().stop = true;
    s.timer.cv.notify_all();
}

/// Ends the session after [`begin_stop`]: flushes every M's buffers, writes
/// the last generation's tables, waits until the writer has everything, and
/// joins the tracer's threads. Call it with the world running (it waits for
/// Ms that still hold a locker).
///
/// # Errors
///
/// The writer's first error ([`TraceError::Io`] or
/// [`TraceError::Panicked`]; the trace is then incomplete but the
/// session is over), [`TraceError::NotRunning`] without a session, and
/// [`TraceError::StillEnabled`] if `begin_stop` was not called (the session
/// goes on).
pub fn finish_stop() -> Result<Stats, TraceError> {
    let mut session = {
        let mut slot = SESSION.lock();
        match slot.as_ref() {
            None => return Err(TraceError::NotRunning),
            Some(s) if !s.stopping => return Err(TraceError::StillEnabled),
            Some(_) => {}
        }
        match slot.take() {
            Some(s) => s,
            None => return Err(TraceError::NotRunning),
        }
    };
    if let Some(h) = session.timer_thread.take() {
        let _ = h.join();
    }
    let generations = {
        let mut adv = session.timer.advancer.lock();
        adv.advance(true);
        adv.written
    };
    sink::close();
    let (stats, err) = match session.sink_thread.take().map(JoinHandle::join) {
        Some(Ok(r)) => r,
        Some(Err(_)) | None => (
            SinkStats::default(),
            Some(TraceError::Panicked("sink thread died".into())),
        ),
    };
    sink::deactivate();
    match err {
        Some(e) => Err(e),
        None => Ok(Stats {
            generations,
            events: stats.events,
            bytes: stats.bytes,
            batches: stats.batches,
            peak_queued_bytes: stats.peak_queued_bytes,
            fresh_buffers: stats.fresh_buffers,
            reused_buffers: stats.reused_buffers,
        }),
    }
}

/// Whether the running session's writer has failed (its events are being
/// discarded; [`finish_stop`] will return the error).
pub fn has_failed() -> bool {
    sink::failed()
}

/// Ends the current generation now, as the timer would (for tests and for a
/// runtime that wants a cut at a known point). Returns whether a generation
/// was written; false when no session is running or nothing happened.
pub fn advance_now() -> bool {
    let timer = match SESSION.lock().as_ref() {
        Some(s) if !s.stopping => s.timer.clone(),
        _ => return false,
    };
    let r = timer.advancer.lock().advance(false);
    r == Advanced::Written
}

/// Why [`snapshot`] wrote nothing.
#[derive(Debug)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The ring is not the one a running session fills.
    NotRecording,
    /// Another snapshot of the same ring is being written.
    InProgress,
    /// The session stopped before the current generation was closed.
    Stopped,
    /// No generation has been closed yet (nothing to write).
    Empty,
    /// The writer failed (the output holds a prefix of the snapshot).
    Io(io::Error),
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::NotRecording => {
                f.write_str("trace snapshot: the ring is not being recorded into")
            }
            SnapshotError::InProgress => {
                f.write_str("trace snapshot: another snapshot of this ring is being written")
            }
            SnapshotError::Stopped => {
                f.write_str("trace snapshot: the recording stopped during the snapshot")
            }
            SnapshotError::Empty => f.write_str("trace snapshot: no generation recorded yet"),
            SnapshotError::Io(e) => write!(f, "trace snapshot: write failed: {e}"),
        }
    }
}

impl std::error::Error for SnapshotError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SnapshotError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// The generations a snapshot writes, taken by [`Snapshot::take`]; holds
/// the ring's writer claim until dropped (a second snapshot of the same ring
/// is refused meanwhile).
#[derive(Debug)]
pub struct Snapshot<'r> {
    ring: &'r Ring,
    gens: Vec<bytes::Bytes>,
}

impl<'r> Snapshot<'r> {
    /// Ends the current generation of the session filling `ring` (as
    /// [`advance_now`]), waits until the sink has closed it in the ring, and
    /// takes the kept generations. Blocks the calling thread for the advance
    /// (it waits for every M to leave the tracer) and no longer; the session
    /// goes on.
    ///
    /// # Errors
    ///
    /// [`SnapshotError::InProgress`] while another snapshot of `ring` exists,
    /// [`SnapshotError::NotRecording`] if no running session fills `ring`,
    /// [`SnapshotError::Stopped`] if it stopped before the generation closed,
    /// [`SnapshotError::Empty`] if no generation was recorded.
    pub fn take(ring: &'r Ring) -> Result<Snapshot<'r>, SnapshotError> {
        if !ring.begin_writing() {
            return Err(SnapshotError::InProgress);
        }
        // From here on, dropping `snap` releases the claim.
        let mut snap = Snapshot {
            ring,
            gens: Vec::new(),
        };
        let timer = match SESSION.lock().as_ref() {
            Some(s) if !s.stopping && s.ring.as_deref().is_some_and(|r| std::ptr::eq(r, ring)) => {
                s.timer.clone()
            }
            _ => return Err(SnapshotError::NotRecording),
        };
        let closed = {
            let mut adv = timer.advancer.lock();
            let gen = locker::current_gen();
            if gen == 0 {
                return Err(SnapshotError::Stopped);
            }
            match adv.advance(false) {
                Advanced::Written => gen,
                // Nothing happened since the last advance: the previous
                // generation is the newest.
                Advanced::Skipped | Advanced::Dropped => gen - 1,
            }
        };
        snap.gens = ring.wait_closed(closed).ok_or(SnapshotError::Stopped)?;
        if snap.gens.is_empty() {
            return Err(SnapshotError::Empty);
        }
        Ok(snap)
    }

    /// The trace's size in bytes, header included.
    pub fn len(&self) -> u64 {
        HEADER.len() as u64 + self.gens.iter().map(|g| g.len() as u64).sum::<u64>()
    }

    /// Whether the trace is empty (never: a snapshot holds a generation).
    pub fn is_empty(&self) -> bool {
        self.gens.is_empty()
    }

    /// Generations in the snapshot.
    pub fn generations(&self) -> usize {
        self.gens.len()
    }

    /// Writes the Go 1.23 trace: the header, then the generations oldest
    /// first. No tracer lock is held meanwhile. Returns the bytes written.
    ///
    /// # Errors
    ///
    /// `w`'s error (the output then holds a prefix of the trace).
    pub fn write_to(&self, w: &mut dyn Write) -> io::Result<u64> {
        w.write_all(HEADER)?;
        let mut n = HEADER.len() as u64;
        for g in &self.gens {
            w.write_all(g)?;
            n += g.len() as u64;
        }
        Ok(n)
    }
}

impl Drop for Snapshot<'_> {
    fn drop(&mut self) {
        self.ring.end_writing();
    }
}

/// [`Snapshot::take`] then [`Snapshot::write_to`]: writes a Go 1.23 trace of
/// what `ring` keeps to `w`, returns the bytes written.
///
/// # Errors
///
/// As [`Snapshot::take`], and [`SnapshotError::Io`] from `w`.
pub fn snapshot(ring: &Ring, w: &mut dyn Write) -> Result<u64, SnapshotError> {
    Snapshot::take(ring)?.write_to(w).map_err(SnapshotError::Io)
}
