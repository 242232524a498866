//! `gort-trace pprof`, `perfetto` and `json`: Go's trace profiles, the
//! Perfetto export and Go's trace-viewer JSON, written by the library's
//! [`gort_parser::pprof`], [`gort_parser::perfetto`] and
//! [`gort_parser::jsontrace`] modules.

use std::io::Write;
use std::path::Path;

use gort_parser::jsontrace::write_json_trace;
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

/// Runs `gort-trace json FILE`: the trace is read as a stream and converted
/// as it is read.
pub(crate) fn json(path: &Path, out: &mut dyn Write) -> crate::CmdResult {
    let r = Reader::new(crate::open_trace(path)?)
        .map_err(|e| format!("failed to create trace reader: {e}"))?;
    write_json_trace(r, out)?;
    Ok(())
}
