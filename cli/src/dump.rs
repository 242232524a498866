//! `gort-trace dump FILE`: every ordered event as `go tool trace -d=1` prints it.
//!
//! The file is read into memory and parsed zero-copy; lines are built in one
//! buffer that is handed to the (buffered) output in large chunks. On an
//! error, everything before it has been written when the error is returned.

use std::io::Write;
use std::path::Path;

use gort_parser::Reader;

/// Flush the line buffer to the output once it holds this much.
const CHUNK_BYTES: usize = 1 << 16;

/// Runs `gort-trace dump FILE`.
pub(crate) fn run(path: &Path, out: &mut dyn Write) -> crate::CmdResult {
    let data = std::fs::read(path)
        .map_err(|e| format!("failed to read trace file: open {}: {e}", path.display()))?;
    let mut buf = Vec::with_capacity(CHUNK_BYTES + 4096);
    let result = dump(&data, out, &mut buf);
    out.write_all(&buf)?;
    result
}

fn dump(data: &[u8], out: &mut dyn Write, buf: &mut Vec<u8>) -> crate::CmdResult {
    let mut r = Reader::from_slice(data)?;
    while let Some(ev) = r.next_event()? {
        ev.write_go_text(buf);
        buf.push(b'\n');
        if buf.len() >= CHUNK_BYTES {
            out.write_all(buf)?;
            buf.clear();
        }
    }
    Ok(())
}
