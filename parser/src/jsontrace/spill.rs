//! Output of the current generation beyond the hold-back buffer, kept in an
//! unnamed temporary file until the generation ends, so that a generation
//! found damaged after much of its output was produced is dropped whole, as
//! Go drops it.

use std::fs::File;
use std::io::{self, Read, Seek, Write};

/// Bytes read back from the temporary file at a time.
const DRAIN_CHUNK: usize = 1 << 20;

/// The held-back output that did not fit in memory.
#[derive(Debug, Default)]
pub(super) struct Spill {
    /// Created on first use, reused by later generations.
    file: Option<File>,
    /// Bytes of the current generation in `file` (from its start).
    len: u64,
    /// No temporary file could be created or written: held-back output
    /// stays in memory.
    unavailable: bool,
}

impl Spill {
    /// Moves `buf` to the end of the spilled output. Returns false, leaving
    /// `buf` as it is, if there is no usable temporary file (the caller
    /// keeps holding the output in memory).
    pub(super) fn put(&mut self, buf: &mut Vec<u8>) -> bool {
        if self.unavailable {
            return false;
        }
        if self.file.is_none() {
            match tempfile::tempfile() {
                Ok(f) => self.file = Some(f),
                Err(_) => {
                    self.unavailable = true;
                    return false;
                }
            }
        }
        let Some(f) = self.file.as_mut() else {
            return false;
        };
        let wrote = (|| {
            if self.len == 0 {
                f.rewind()?;
            }
            f.write_all(buf)
        })();
        if wrote.is_err() {
            // What a failed write left in the file is not counted: the
            // output so far stays in `buf`, and in memory from now on.
            self.unavailable = true;
            return false;
        }
        self.len += buf.len() as u64;
        buf.clear();
        true
    }

    /// Writes the spilled output to `out` and forgets it.
    ///
    /// # Errors
    ///
    /// Errors reading the temporary file back or writing to `out`.
    pub(super) fn drain_to<W: Write>(&mut self, out: &mut W) -> io::Result<()> {
        if self.len == 0 {
            return Ok(());
        }
        let Some(f) = self.file.as_mut() else {
            return Ok(());
        };
        let n = self.len;
        self.len = 0;
        let read_back = |e: io::Error| {
            io::Error::new(
                e.kind(),
                format!("reading held-back output from its temporary file: {e}"),
            )
        };
        f.rewind().map_err(read_back)?;
        // Large pieces: few system calls, and writes that pass through a
        // buffered `out` without another copy.
        let mut buf = vec![0u8; DRAIN_CHUNK.min(n as usize)];
        let mut left = n;
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let got = f.read(&mut buf[..want]).map_err(read_back)?;
            if got == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "held-back output: its temporary file has {} of {n} bytes",
                        n - left
                    ),
                ));
            }
            out.write_all(&buf[..got])?;
            left -= got as u64;
        }
        Ok(())
    }

    /// Drops the spilled output.
    pub(super) fn discard(&mut self) {
        self.len = 0;
    }
}
