//! `gort-trace dump --raw`: wire-level events, as `go tool trace -d=2`.

use std::io::Write;
use std::path::Path;

/// Runs `gort-trace dump --raw FILE`.
pub(crate) fn run(_path: &Path, _out: &mut dyn Write) -> crate::CmdResult {
    Err("gort-trace dump --raw: unimplemented".into())
}
