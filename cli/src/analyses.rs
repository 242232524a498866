//! `gort-trace pprof`, `perfetto` and `json`: Go's trace profiles, the
//! Perfetto export and Go's trace-viewer JSON, written by the library's
//! [`gort_parser::pprof`], [`gort_parser::perfetto`] and
//! [`gort_parser::jsontrace`] modules.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use gort_parser::jsontrace::{write_json_trace, write_json_trace_retracting, Retract};
use gort_parser::perfetto::PerfettoWriter;
use gort_parser::pprof::{profile_trace, Accounting, ProfileKind};
use gort_parser::Reader;

/// Runs `gort-trace pprof TYPE FILE`: the gzipped profile goes to `out`.
/// The trace is read as a stream, one generation at a time.
pub(crate) fn pprof(
    path: &Path,
    kind: ProfileKind,
    accurate: bool,
    out: &mut dyn Write,
) -> crate::CmdResult {
    let reader = Reader::new(crate::open_trace(path)?)
        .map_err(|e| format!("failed to create trace reader: {e}"))?;
    let accounting = if accurate {
        Accounting::Accurate
    } else {
        Accounting::GoCompatible
    };
    let profile = profile_trace(reader, kind, accounting)?;
    profile.write_gzip(out)?;
    Ok(())
}

/// Runs `gort-trace perfetto FILE`: the trace is read as a stream, one
/// generation at a time, and converted as it is read.
pub(crate) fn perfetto(path: &Path, out: &mut dyn Write) -> crate::CmdResult {
    let mut r = Reader::new(crate::open_trace(path)?)
        .map_err(|e| format!("failed to create trace reader: {e}"))?;
    let mut w = PerfettoWriter::new(out);
    while let Some(ev) = r.next_event()? {
        w.event(ev)?;
    }
    w.finish()?;
    Ok(())
}

/// Runs `gort-trace json FILE [-o OUT]`: the trace is read as a stream and
/// converted as it is read. To a regular file (`-o OUT`, or standard output
/// redirected to one) or the null device, each generation is written as it
/// is made, and a damaged generation's part is cut off again; to a pipe or a
/// terminal, each generation is held back until it is complete (see
/// [`gort_parser::jsontrace`]). The output is the same either way.
pub(crate) fn json(path: &Path, output: Option<&Path>, stdout: &mut dyn Write) -> crate::CmdResult {
    let r = Reader::new(crate::open_trace(path)?)
        .map_err(|e| format!("failed to create trace reader: {e}"))?;
    match output {
        Some(p) if p != Path::new("-") => {
            let mut w = write_json_trace_retracting(r, crate::create_output(p)?)?;
            w.flush().map_err(|e| format!("{}: {e}", p.display()))?;
        }
        _ => match stdout_sink() {
            Some(sink) => {
                // Nothing went to the buffered standard output before this.
                stdout.flush()?;
                let mut w =
                    write_json_trace_retracting(r, BufWriter::with_capacity(1 << 16, sink))?;
                w.flush()?;
            }
            None => {
                write_json_trace(r, stdout)?;
            }
        },
    }
    Ok(())
}

/// Standard output as a [`Retract`] output, when it is one: a regular file
/// (the shell's `>` or `>>`), or the null device, which keeps nothing and so
/// has nothing to take back.
enum StdoutSink {
    File(File),
    Null(File),
}

#[cfg(unix)]
fn stdout_sink() -> Option<StdoutSink> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let f = File::from(io::stdout().as_fd().try_clone_to_owned().ok()?);
    let m = f.metadata().ok()?;
    if m.is_file() {
        return Some(StdoutSink::File(f));
    }
    let null = std::fs::metadata("/dev/null").ok()?;
    if m.file_type().is_char_device() && m.rdev() == null.rdev() {
        return Some(StdoutSink::Null(f));
    }
    None
}

#[cfg(not(unix))]
fn stdout_sink() -> Option<StdoutSink> {
    None
}

impl Write for StdoutSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            StdoutSink::File(f) | StdoutSink::Null(f) => f.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            StdoutSink::File(f) | StdoutSink::Null(f) => f.flush(),
        }
    }
}

impl Retract for StdoutSink {
    fn mark(&mut self) -> io::Result<u64> {
        match self {
            StdoutSink::File(f) => f.mark(),
            StdoutSink::Null(_) => Ok(0),
        }
    }

    fn retract_to(&mut self, mark: u64) -> io::Result<()> {
        match self {
            StdoutSink::File(f) => f.retract_to(mark),
            StdoutSink::Null(_) => Ok(()),
        }
    }
}
