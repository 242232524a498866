//! `gort-trace validate`: placeholder until the ordering engine lands.

use std::io::Write;
use std::path::Path;

/// Runs `gort-trace validate FILE`.
pub(crate) fn run(_path: &Path, _out: &mut dyn Write) -> crate::CmdResult {
    Err("gort-trace validate: unimplemented".into())
}
