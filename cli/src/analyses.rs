//! `gort-trace pprof`: Go's trace profiles, written by the library's
//! [`gort_parser::pprof`] module.

use std::io::Write;
use std::path::Path;

use gort_parser::pprof::{profile_trace, Accounting, ProfileKind};
use gort_parser::Reader;

/// Runs `gort-trace pprof TYPE FILE`: the gzipped profile goes to `out`.
pub(crate) fn pprof(
    path: &Path,
    kind: ProfileKind,
    accurate: bool,
    out: &mut dyn Write,
) -> crate::CmdResult {
    let data = crate::read_trace(path)?;
    let reader =
        Reader::from_slice(&data).map_err(|e| format!("failed to create trace reader: {e}"))?;
    let accounting = if accurate {
        Accounting::Accurate
    } else {
        Accounting::GoCompatible
    };
    let profile = profile_trace(reader, kind, accounting)?;
    profile.write_gzip(out)?;
    Ok(())
}
