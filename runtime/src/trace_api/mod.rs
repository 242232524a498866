//! `gort::trace`: execution tracing in Go 1.23's format, and user annotations.
//!
//! ```no_run
//! gort_runtime::run(|| {
//!     gort_runtime::trace::start(std::fs::File::create("out.trace").unwrap()).unwrap();
//!     let task = gort_runtime::trace::new_task("work");
//!     task.with_region("step", || gort_runtime::trace::log("phase", "one"));
//!     drop(task);
//!     gort_runtime::trace::stop().unwrap();
//! });
//! // go tool trace out.trace
//! ```
//!
//! Starting and stopping never wait for goroutine code: the tracer's enabled
//! flag, read with a plain load on every scheduling event, is written while
//! no M is inside a trace hook, and hooks are short (`sched::stw`'s gate).
//! A goroutine computing without scheduling points, or blocked in a call
//! not wrapped in `gort::syscall`, holds up neither. Set
//! `GORT_TRACE=FILE` to trace every `block_on` of a program into `FILE`
//! without code changes.
//!
//! [`FlightRecorder`] keeps the last seconds of the trace in memory instead
//! and writes them out on demand. A recorder and [`start`] do not run at the
//! same time (each refuses while the other runs, with
//! [`Error::RecorderRunning`] or [`Error::AlreadyRunning`]).

use crate::loom::sync::Arc;
use crate::sched::context::Running;
use crate::sched::{Shared, RUNTIMES};
use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

pub use gort_tracer::Config;

mod recorder;
pub use recorder::{FlightRecorder, FlightRecorderConfig, FlightRecorderStats};

/// Why tracing could not start or stop cleanly.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// `start` while a trace is being written (by [`start`]).
    AlreadyRunning,
    /// [`start`] or [`FlightRecorder::start`] while a flight recorder is
    /// recording: one recorder at a time, and none beside a trace written
    /// by [`start`].
    RecorderRunning,
    /// `stop` with no trace running.
    NotRunning,
    /// `start`/`stop` called outside a goroutine.
    NotInRuntime,
    /// The writer failed (the trace stopped at that point; the program went on).
    Write(std::io::Error),
    /// The writer panicked (the trace stopped at that point).
    WriterPanicked(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::AlreadyRunning => f.write_str("gort::trace: tracing is already running"),
            Error::RecorderRunning => f.write_str(
                "gort::trace: a flight recorder is recording (one at a time, and not beside trace::start)",
            ),
            Error::NotRunning => f.write_str("gort::trace: tracing is not running"),
            Error::NotInRuntime => {
                f.write_str("gort::trace: start/stop must be called from a goroutine")
            }
            Error::Write(e) => write!(f, "gort::trace: the trace writer failed: {e}"),
            Error::WriterPanicked(m) => write!(f, "gort::trace: the trace writer panicked: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Write(e) => Some(e),
            _ => None,
        }
    }
}

/// Who owns the tracer's single session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    /// No session.
    Nobody,
    /// [`start`]: a trace written to a writer.
    Writer,
    /// A [`FlightRecorder`] (identified by its ring's address).
    Recorder(usize),
}

/// Serialises start/stop across the process, and says who traces.
static SESSION: parking_lot::Mutex<Owner> = parking_lot::Mutex::new(Owner::Nobody);

/// Every live runtime, for the process-wide flip of the tracer's flag.
fn all_runtimes() -> Vec<Arc<Shared>> {
    let mut r = RUNTIMES.lock();
    r.retain(|w| w.strong_count() > 0);
    r.iter().filter_map(|w| w.upgrade()).collect()
}

/// Starts tracing into `w` with the default [`Config`] (1 s generations,
/// stacks on).
///
/// # Errors
/// [`Error::AlreadyRunning`], [`Error::NotInRuntime`].
pub fn start(w: impl Write + Send + 'static) -> Result<(), Error> {
    start_with(w, Config::default())
}

/// Starts tracing into `w` with `cfg`.
///
/// # Errors
/// As [`start`].
pub fn start_with(w: impl Write + Send + 'static, cfg: Config) -> Result<(), Error> {
    begin_session(Owner::Writer, |src| {
        // `begin_session` calls this inside a flip: no M is inside a hook,
        // and every M synchronises with this thread before it reads the flag
        // again (the gate, `sched::stw`).
        // SAFETY: that is the tracer's contract for flipping its flag.
        unsafe { gort_tracer::start(Box::new(w), cfg, Some(src)) }
    })
}

/// Starts the tracer's session for `owner`: `start` switches the tracer on
/// (it is called inside a [`flip`], with the status source to give the
/// tracer); then the caller's goroutine writes the trace's first events.
///
/// # Errors
/// [`Error::NotInRuntime`] outside a goroutine; [`Error::AlreadyRunning`] or
/// [`Error::RecorderRunning`] if a session runs (or if `start` fails).
pub(crate) fn begin_session(
    owner: Owner,
    start: impl FnOnce(
        std::sync::Arc<dyn gort_tracer::StatusSource>,
    ) -> Result<(), gort_tracer::StartError>,
) -> Result<(), Error> {
    if Running::get().is_none() {
        return Err(Error::NotInRuntime);
    }
    // May yield, and so move this goroutine to another M: the handle is
    // taken after it.
    let mut session = lock_session();
    match *session {
        Owner::Nobody => {}
        Owner::Writer => return Err(Error::AlreadyRunning),
        Owner::Recorder(_) => return Err(Error::RecorderRunning),
    }
    let Some(here) = Running::get() else {
        return Err(Error::NotInRuntime);
    };
    let (wk, t) = (here.m(), here.g());
    if wk.p.get().is_none() {
        return Err(Error::NotInRuntime);
    }
    let r = flip(|rts| {
        let r = start(std::sync::Arc::new(Source));
        if r.is_ok() {
            crate::hooks::emit_start(wk, t, rts);
        }
        r
    });
    if r.is_ok() {
        *session = owner;
    }
    r.map_err(|_| Error::AlreadyRunning)
}

/// Stops the tracer's session if `owner` has it: switches tracing off
/// inside a [`flip`] and returns once the tracer has written everything.
///
/// # Errors
/// [`Error::NotRunning`] if `owner` has no session, or the writer's failure.
pub(crate) fn end_session(owner: Owner) -> Result<gort_tracer::Stats, Error> {
    let mut session = lock_session();
    if *session != owner {
        return Err(Error::NotRunning);
    }
    // No M is inside a hook during the flip, and every M synchronises with
    // this thread before it reads the flag again.
    // SAFETY: that is the tracer's contract for flipping its flag.
    flip(|_| unsafe { gort_tracer::begin_stop() });
    *session = Owner::Nobody;
    drop(session);
    gort_tracer::finish_stop().map_err(|e| match e {
        gort_tracer::TraceError::Io(e) => Error::Write(e),
        gort_tracer::TraceError::Panicked(m) => Error::WriterPanicked(m),
        #[allow(unreachable_patterns)]
        _ => Error::NotRunning,
    })
}

/// Starts a flight recorder's session: the tracer keeps its generations in
/// `ring` (see [`begin_session`]).
pub(crate) fn start_recording(
    ring: &std::sync::Arc<gort_tracer::Ring>,
    owner: Owner,
    cfg: Config,
) -> Result<(), Error> {
    let ring = ring.clone();
    begin_session(owner, move |src| {
        // `begin_session` calls this inside a flip (as in `start_with`).
        // SAFETY: that is the tracer's contract for flipping its flag.
        unsafe { gort_tracer::start_ring(ring, cfg, Some(src)) }
    })
}

/// Takes the process-wide session lock without blocking the M: a goroutine
/// that waits here yields, so the holder (maybe a goroutine queued behind it
/// on the same P) can finish.
pub(crate) fn lock_session() -> parking_lot::MutexGuard<'static, Owner> {
    loop {
        if let Some(g) = SESSION.try_lock() {
            return g;
        }
        crate::api::yield_now();
    }
}

/// Runs `write` with every live runtime, while no M of any of them is inside
/// a trace hook (`sched::stw`'s gate): it waits only for the hooks running
/// right now, never for goroutine code. Callers hold the session lock, which
/// serialises flips.
///
/// The runtimes are listed after the flip is announced: a runtime created
/// later registers after that announcement (under the same lock) and starts
/// its Ms after registering, so they see it at their first hook.
pub(crate) fn flip<R>(write: impl FnOnce(&[Arc<Shared>]) -> R) -> R {
    let rts = std::cell::OnceCell::new();
    crate::sched::stw::gate().flip(
        |each| {
            for rt in rts.get_or_init(all_runtimes) {
                let ms: Vec<_> = rt.sched.lock().handles.values().cloned().collect();
                ms.iter().for_each(|h| each(&h.gate));
            }
        },
        || write(rts.get_or_init(all_runtimes)),
    )
}

/// Stops tracing: flushes every buffer, finishes the trace and returns what
/// was written, or the writer's first error.
///
/// # Errors
/// [`Error::NotRunning`], [`Error::NotInRuntime`], or the writer's failure.
pub fn stop() -> Result<gort_tracer::Stats, Error> {
    if Running::get().is_none() {
        return Err(Error::NotInRuntime);
    }
    end_session(Owner::Writer)
}

/// Whether a trace started by [`start`] is being written (a
/// [`FlightRecorder`] answers for itself: [`FlightRecorder::enabled`]).
pub fn is_running() -> bool {
    *SESSION.lock() == Owner::Writer
}

/// The runtime's goroutines and Ps, for the tracer's end-of-generation
/// statuses.
pub(crate) struct Source;

impl gort_tracer::StatusSource for Source {
    fn for_each_goroutine(
        &self,
        f: &mut dyn FnMut(u64, &gort_tracer::GoTrace, gort_tracer::wire::GoStatus, Option<u64>),
    ) {
        for rt in all_runtimes() {
            let mut visit = |t: &crate::task::Task| {
                use gort_tracer::wire::GoStatus as G;
                let (st, m) = match t.status() {
                    crate::task::Status::Runnable => (G::Runnable, None),
                    crate::task::Status::Waiting => (G::Waiting, None),
                    crate::task::Status::Running => (
                        G::Running,
                        Some(t.last_m.load(std::sync::atomic::Ordering::Relaxed) as u64),
                    ),
                    crate::task::Status::Syscall => (
                        G::Syscall,
                        Some(t.last_m.load(std::sync::atomic::Ordering::Relaxed) as u64),
                    ),
                    crate::task::Status::Dead => return,
                };
                f(crate::hooks::wire_g(t), &t.trace, st, m);
            };
            rt.live_tasks().iter().for_each(|t| visit(t));
        }
    }

    /// Idle Ps, and running Ps on the M that holds them (a P being handed
    /// between Ms, or held by an M in a syscall, is left out: the events of
    /// its next holder state it).
    fn for_each_proc(
        &self,
        f: &mut dyn FnMut(u64, &gort_tracer::ProcTrace, gort_tracer::wire::ProcStatus, Option<u64>),
    ) {
        use gort_tracer::wire::ProcStatus as P;
        for rt in all_runtimes() {
            for (i, p) in rt.procs.iter().enumerate() {
                let id = rt.serial * crate::sched::MAX_PROCS as u64 + i as u64;
                let st = p.status.load(std::sync::atomic::Ordering::Acquire);
                if st == crate::sched::proc::IDLE {
                    f(id, &p.trace, P::Idle, None);
                } else if st == crate::sched::proc::RUNNING {
                    if let Some(m) = p.holder() {
                        f(id, &p.trace, P::Running, Some(m as u64));
                    }
                }
            }
        }
    }
}

static NEXT_TASK: AtomicU64 = AtomicU64::new(1);

/// A user task (Go's `trace.Task`): a logical operation spanning goroutines.
/// Ends when dropped.
#[derive(Debug)]
pub struct Task {
    id: u64,
}

/// Begins a task named `name` (Go's `trace.NewTask`).
pub fn new_task(name: &str) -> Task {
    let id = NEXT_TASK.fetch_add(1, Relaxed);
    crate::hooks::user_task_begin(id, 0, name);
    Task { id }
}

impl Task {
    /// The task's ID.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Begins a subtask of this task.
    pub fn new_child(&self, name: &str) -> Task {
        let id = NEXT_TASK.fetch_add(1, Relaxed);
        crate::hooks::user_task_begin(id, self.id, name);
        Task { id }
    }

    /// Runs `f` inside a region named `name` of this task.
    pub fn with_region<R>(&self, name: &str, f: impl FnOnce() -> R) -> R {
        let _r = Region::begin(self.id, name);
        f()
    }

    /// Starts a region of this task; it ends when the returned value drops.
    pub fn start_region(&self, name: &str) -> Region {
        Region::begin(self.id, name)
    }

    /// Logs `message` under `category` in this task.
    pub fn log(&self, category: &str, message: &str) {
        crate::hooks::user_log(self.id, category, message);
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        crate::hooks::user_task_end(self.id);
    }
}

/// A region of a goroutine's execution (Go's `trace.Region`); ends when
/// dropped or on [`Region::end`]. Begin and end it on the same goroutine.
#[derive(Debug)]
pub struct Region {
    task: u64,
    name: String,
}

impl Region {
    fn begin(task: u64, name: &str) -> Region {
        crate::hooks::user_region_begin(task, name);
        Region {
            task,
            name: name.to_owned(),
        }
    }

    /// Ends the region.
    pub fn end(self) {}
}

impl Drop for Region {
    fn drop(&mut self) {
        crate::hooks::user_region_end(self.task, &self.name);
    }
}

/// Runs `f` inside a region named `name` of the background task.
pub fn with_region<R>(name: &str, f: impl FnOnce() -> R) -> R {
    let _r = Region::begin(0, name);
    f()
}

/// Starts a region of the background task.
pub fn start_region(name: &str) -> Region {
    Region::begin(0, name)
}

/// Logs `message` under `category` (Go's `trace.Log`), in the background task.
pub fn log(category: &str, message: &str) {
    crate::hooks::user_log(0, category, message);
}

/// The `GORT_TRACE` path, if set.
pub(crate) fn env_trace_path() -> Option<std::path::PathBuf> {
    std::env::var_os("GORT_TRACE")
        .filter(|s| !s.is_empty())
        .map(Into::into)
}

/// Tracing for the length of a `block_on` (from `GORT_TRACE`).
pub(crate) struct EnvTrace {
    on: bool,
}

impl EnvTrace {
    pub(crate) fn start(path: std::path::PathBuf) -> EnvTrace {
        let on = match std::fs::File::create(&path) {
            Ok(f) => match start(std::io::BufWriter::new(f)) {
                Ok(()) => true,
                Err(e) => {
                    eprintln!("gort: GORT_TRACE={}: {e}", path.display());
                    false
                }
            },
            Err(e) => {
                eprintln!("gort: GORT_TRACE={}: {e}", path.display());
                false
            }
        };
        EnvTrace { on }
    }
}

impl Drop for EnvTrace {
    fn drop(&mut self) {
        if self.on {
            if let Err(e) = stop() {
                eprintln!("gort: GORT_TRACE: {e}");
            }
        }
    }
}
