//! The flight recorder: the last seconds of the execution trace, kept in
//! memory and written out on demand (Go 1.25's `runtime/trace.FlightRecorder`).
//!
//! A recorder owns a [`gort_tracer::Ring`] and, while started, the tracer's
//! session: the tracer runs as for [`start`](super::start) (same hooks, same
//! events, generations of about a second), but its sink appends each
//! generation to the ring instead of writing it, and the ring drops the
//! oldest generations beyond the configured age and size. A generation also
//! ends when it reaches an eighth of `max_bytes`, so a busy program's
//! generations stay small enough for the age bound to mean something.
//!
//! [`FlightRecorder::write_to`] ends the current generation and writes the
//! header and the kept generations, oldest first: a Go 1.23 trace whose
//! first generation states every live goroutine's status (the tracer states
//! every goroutine in every generation), which Go 1.23's `go tool trace`
//! reads as it reads a trace that started there.
//!
//! A recorder does not run beside [`start`](super::start): the tracer has one
//! session, and sharing it would need every generation's batches to go to
//! two outputs whose first generations differ. Each refuses while the other
//! runs ([`Error::RecorderRunning`], [`Error::AlreadyRunning`]), and only one
//! recorder records at a time.

#![deny(unsafe_code)]

use super::{end_session, lock_session, start_recording, Config, Error, Owner};
use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

/// A [`FlightRecorder`]'s retention settings (hints, as Go's): at least
/// `min_age` of the most recent trace, in about `max_bytes`.
///
/// When the two disagree `max_bytes` wins: the recorder keeps the newest
/// whole generation, then older ones while they are younger than `min_age`
/// and fit in `max_bytes`. A zero field means its default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlightRecorderConfig {
    /// How much recent time to keep at least (default 10 s).
    pub min_age: Duration,
    /// About how many trace bytes to keep (default 10 MiB). Memory held is
    /// at most this plus the generation being recorded (see
    /// [`FlightRecorder::held_bytes`]).
    pub max_bytes: u64,
}

impl Default for FlightRecorderConfig {
    /// Go's defaults: 10 s and 10 MiB.
    fn default() -> Self {
        FlightRecorderConfig {
            min_age: Duration::from_secs(10),
            max_bytes: 10 << 20,
        }
    }
}

/// Figures on what a [`FlightRecorder`] holds ([`FlightRecorder::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlightRecorderStats {
    /// Trace bytes held now (as [`FlightRecorder::held_bytes`]).
    pub held_bytes: u64,
    /// The largest `held_bytes` since the recorder was created.
    pub peak_held_bytes: u64,
    /// The largest generation recorded since the recorder was created.
    pub largest_generation_bytes: u64,
    /// Generations recorded since the recorder was created (kept or dropped).
    pub generations_recorded: u64,
    /// Whole generations kept now (what [`FlightRecorder::write_to`] would write).
    pub generations_kept: usize,
    /// Size at which a generation is ended early (an eighth of `max_bytes`,
    /// at least 16 KiB).
    pub generation_target_bytes: u64,
}

/// Keeps the most recent part of the execution trace in memory, to write it
/// out when something interesting happens (Go's `trace.FlightRecorder`).
///
/// `Send + Sync`: goroutines share it through an `Arc` or a `static`.
///
/// ```no_run
/// use gort_runtime::trace::{FlightRecorder, FlightRecorderConfig};
/// gort_runtime::run(|| {
///     let rec = FlightRecorder::new(FlightRecorderConfig::default());
///     rec.start().unwrap();
///     // ... serve; when a request is too slow:
///     let mut f = std::fs::File::create("slow.trace").unwrap();
///     rec.write_to(&mut f).unwrap();
///     rec.stop();
/// });
/// // go tool trace slow.trace
/// ```
pub struct FlightRecorder {
    ring: Arc<gort_tracer::Ring>,
}

impl std::fmt::Debug for FlightRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlightRecorder")
            .field("min_age", &self.ring.min_age())
            .field("max_bytes", &self.ring.max_bytes())
            .field("enabled", &self.enabled())
            .field("held_bytes", &self.held_bytes())
            .finish()
    }
}

impl FlightRecorder {
    /// A stopped recorder with these settings.
    pub fn new(cfg: FlightRecorderConfig) -> FlightRecorder {
        let d = FlightRecorderConfig::default();
        let min_age = if cfg.min_age.is_zero() {
            d.min_age
        } else {
            cfg.min_age
        };
        let max_bytes = if cfg.max_bytes == 0 {
            d.max_bytes
        } else {
            cfg.max_bytes
        };
        FlightRecorder {
            ring: Arc::new(gort_tracer::Ring::new(min_age, max_bytes)),
        }
    }

    fn owner(&self) -> Owner {
        Owner::Recorder(Arc::as_ptr(&self.ring) as usize)
    }

    /// Starts recording (Go's `FlightRecorder.Start`). Call it from a
    /// goroutine: the caller writes the trace's first events.
    ///
    /// # Errors
    /// [`Error::RecorderRunning`] if this or another recorder is recording,
    /// [`Error::AlreadyRunning`] while [`start`](super::start)'s trace is
    /// being written, [`Error::NotInRuntime`] outside a goroutine.
    pub fn start(&self) -> Result<(), Error> {
        let target = self.ring.generation_target();
        // Smaller buffers for small generations: an M hands its batch over
        // only when the buffer is full or the generation ends.
        let buf = usize::try_from(target / 4).unwrap_or(usize::MAX);
        let cfg = Config::default().buffer_size(buf);
        start_recording(&self.ring, self.owner(), cfg)
    }

    /// Stops recording and drops what was kept (Go's `FlightRecorder.Stop`).
    /// Does nothing if the recorder is not recording. A `write_to` running
    /// meanwhile fails or writes what it had already taken. May be called
    /// from any thread.
    pub fn stop(&self) {
        // A ring session writes to memory: it has no writer to fail.
        let _ = end_session(self.owner());
    }

    /// Whether the recorder is recording (Go's `FlightRecorder.Enabled`).
    pub fn enabled(&self) -> bool {
        *lock_session() == self.owner()
    }

    /// Writes the recorded trace to `w` (Go's `FlightRecorder.WriteTo`):
    /// ends the current generation, then writes the trace header and every
    /// kept generation, oldest first. Recording goes on meanwhile. Returns
    /// the bytes written. The output is a Go 1.23 trace (`go tool trace`
    /// opens it); it starts at a whole generation, so events from before it
    /// are not in it (a goroutine running since earlier shows from its
    /// stated status on).
    ///
    /// The caller waits for the generation to close (the tracer flushes
    /// every M's buffer), as in a blocking system call (`gort::syscall`: its
    /// P runs other goroutines meanwhile), then writes to `w` itself.
    ///
    /// # Errors
    /// - [`io::ErrorKind::ResourceBusy`] while another `write_to` of this
    ///   recorder runs (nothing is written);
    /// - [`io::ErrorKind::Other`] if the recorder is not recording (never
    ///   started, or stopped), or stopped during the call;
    /// - `w`'s errors (the output then holds a prefix of the trace).
    pub fn write_to(&self, w: &mut impl Write) -> io::Result<u64> {
        use gort_tracer::SnapshotError as E;
        // The advance waits for every M to leave the tracer: off the P, as
        // a blocking call, so that the other goroutines run meanwhile. The
        // writer runs as the caller's own code (it may use the runtime).
        let snap = crate::syscall::syscall(|| gort_tracer::Snapshot::take(&self.ring));
        let snap = snap.map_err(|e| match e {
            E::InProgress => io::Error::new(
                io::ErrorKind::ResourceBusy,
                "gort::trace::FlightRecorder::write_to: another write_to of this recorder is in progress",
            ),
            E::NotRecording => io::Error::other(
                "gort::trace::FlightRecorder::write_to: the recorder is not recording (start it first)",
            ),
            E::Stopped => io::Error::other(
                "gort::trace::FlightRecorder::write_to: the recorder stopped during the snapshot",
            ),
            e => io::Error::other(format!("gort::trace::FlightRecorder::write_to: {e}")),
        })?;
        snap.write_to(w)
    }

    /// Trace bytes the recorder holds now: the kept generations plus the
    /// part of the current one handed over so far. It stays within
    /// `max(max_bytes, newest generation)` plus the current generation.
    /// Zero once stopped.
    pub fn held_bytes(&self) -> u64 {
        self.ring.held_bytes()
    }

    /// Figures on what the recorder holds and has held.
    pub fn stats(&self) -> FlightRecorderStats {
        FlightRecorderStats {
            held_bytes: self.ring.held_bytes(),
            peak_held_bytes: self.ring.peak_held_bytes(),
            largest_generation_bytes: self.ring.largest_generation(),
            generations_recorded: self.ring.generations_closed(),
            generations_kept: self.ring.generations_kept(),
            generation_target_bytes: self.ring.generation_target(),
        }
    }

    /// The settings in effect (zero fields replaced by their defaults).
    pub fn config(&self) -> FlightRecorderConfig {
        FlightRecorderConfig {
            min_age: self.ring.min_age(),
            max_bytes: self.ring.max_bytes(),
        }
    }
}

impl Drop for FlightRecorder {
    /// Stops recording if this recorder records.
    fn drop(&mut self) {
        self.stop();
    }
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<FlightRecorder>();
};
