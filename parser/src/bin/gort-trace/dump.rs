//! `gort-trace dump`: placeholder until the ordering engine lands.

use std::io::Write;
use std::path::Path;

/// Runs `gort-trace dump FILE`.
pub(crate) fn run(_path: &Path, _out: &mut dyn Write) -> crate::CmdResult {
    Err("gort-trace dump: unimplemented".into())
}
