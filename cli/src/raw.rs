//! `gort-trace dump --raw`: wire-level events, as `go tool trace -d=2` prints them.
//!
//! The file is read whole and decoded zero-copy; event texts are gathered in
//! one string and handed to the output in large pieces (Go writes one line per
//! system call). Events before an error are printed, then the error is
//! returned, as Go does.

use std::io::Write;
use std::path::Path;

use gort_parser::raw::{RawEvent, Reader};

/// Bytes of text gathered before each write.
const FLUSH_AT: usize = 256 << 10;

/// Runs `gort-trace dump --raw FILE`.
pub(crate) fn run(path: &Path, out: &mut dyn Write) -> crate::CmdResult {
    let input = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    dump(&input, out)
}

/// Writes the `-d=2` text of every event of `input` to `out`.
pub(crate) fn dump(input: &[u8], out: &mut dyn Write) -> crate::CmdResult {
    let mut reader = Reader::new(input)?;
    let mut text = Vec::with_capacity(FLUSH_AT + 4096);
    let mut ev = RawEvent::default();
    loop {
        match reader.read_into(&mut ev) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                out.write_all(&text)?;
                return Err(e.into());
            }
        }
        ev.write_text_bytes(&mut text);
        text.push(b'\n');
        if text.len() >= FLUSH_AT {
            out.write_all(&text)?;
            text.clear();
        }
    }
    out.write_all(&text)?;
    Ok(())
}
