//! `gort-trace dump FILE`: every ordered event as `go tool trace -d=1` prints it.
//!
//! The file is read as a stream, one generation in memory at a time; lines
//! are built in one buffer that is handed to the (buffered) output in large
//! chunks. On an error, everything before it has
//! been written when the error is returned.

use std::io::Write;
use std::path::Path;

use gort_parser::Reader;

/// Flush the line buffer to the output once it holds this much.
const CHUNK_BYTES: usize = 1 << 16;

/// Runs `gort-trace dump FILE`.
pub(crate) fn run(path: &Path, out: &mut dyn Write) -> crate::CmdResult {
    let mut r = Reader::new(crate::open_trace(path)?)?;
    let mut buf = Vec::with_capacity(CHUNK_BYTES + 4096);
    let result = dump(&mut r, out, &mut buf);
    out.write_all(&buf)?;
    result
}

fn dump(r: &mut Reader<'_>, out: &mut dyn Write, buf: &mut Vec<u8>) -> crate::CmdResult {
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
