//! `gort-trace dump --raw`: wire-level events, as `go tool trace -d=2` prints them.
//!
//! The file is read as a stream, buffering little more than one event at a
//! time; event texts are gathered in one buffer and handed to the output in
//! large pieces (Go writes one line per system call). Events before an
//! error are printed, then the error is returned, as Go does.

use std::io::{Read, Write};
use std::path::Path;

use gort_parser::raw::StreamReader;

/// Bytes of text gathered before each write.
const FLUSH_AT: usize = 256 << 10;

/// Runs `gort-trace dump --raw FILE`.
pub(crate) fn run(path: &Path, out: &mut dyn Write) -> crate::CmdResult {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    dump(file, out)
}

/// Writes the `-d=2` text of every event of `input` to `out`.
pub(crate) fn dump(input: impl Read, out: &mut dyn Write) -> crate::CmdResult {
    let mut reader = StreamReader::new(input)?;
    let mut text = Vec::with_capacity(FLUSH_AT + 4096);
    loop {
        match reader.read_event() {
            Ok(Some(ev)) => ev.write_text_bytes(&mut text),
            Ok(None) => break,
            Err(e) => {
                out.write_all(&text)?;
                return Err(e.into());
            }
        }
        text.push(b'\n');
        if text.len() >= FLUSH_AT {
            out.write_all(&text)?;
            text.clear();
        }
    }
    out.write_all(&text)?;
    Ok(())
}
