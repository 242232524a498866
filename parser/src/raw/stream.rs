//! Raw reading from any [`Read`]: the slice decoder over a growing buffer.
//!
//! The buffer grows only by what the source actually delivers, so a length
//! field can never make it allocate more than the input holds. When the
//! decoder needs more bytes than are buffered it says so (it never guesses),
//! the reader reads at least [`CHUNK`] more (or as much again as is buffered,
//! so a long event is re-decoded only a logarithmic number of times), and
//! decoding restarts at the same event.

use std::io::Read;

use gort_tracer::wire::header::{scan_header, Scan};

use super::event::RawEvent;
use super::reader::{decode, raw_header, Shape, Step, NO_SHAPES};
use crate::error::{Error, ErrorKind, Result};

/// Raw reader over any [`Read`], buffering as little as each event needs.
///
/// Events borrow the reader's buffer, so each must be dropped (or made
/// owned with [`RawEvent::into_owned`]) before the next call.
#[derive(Debug)]
pub struct StreamReader<R> {
    src: R,
    buf: Vec<u8>,
    /// Start of undecoded bytes in `buf`.
    start: usize,
    /// Stream offset of `buf[0]`.
    base: u64,
    eof: bool,
    done: bool,
    version: u32,
    shapes: &'static [Shape; 256],
}

/// Smallest read the stream reader asks for.
const CHUNK: usize = 64 << 10;

impl<R: Read> StreamReader<R> {
    /// Reads and checks the header.
    ///
    /// # Errors
    ///
    /// As [`read_header`](super::read_header), or [`ErrorKind::Io`] if reading fails.
    pub fn new(src: R) -> Result<StreamReader<R>> {
        let mut r = StreamReader {
            src,
            buf: Vec::new(),
            start: 0,
            base: 0,
            eof: false,
            done: false,
            version: 0,
            shapes: &NO_SHAPES,
        };
        while scan_header(&r.buf, r.eof) == Scan::NeedMore {
            r.fill()?;
        }
        (r.version, r.shapes, r.start) = raw_header(&r.buf)?;
        Ok(r)
    }

    /// The Go minor version in the header (22, 23, 25 or 26; see the module
    /// documentation for older ones).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Stream offset of the next event.
    pub fn offset(&self) -> u64 {
        self.base + self.start as u64
    }

    /// Reads at least one more chunk of input (or notes the end).
    fn fill(&mut self) -> Result<()> {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.base += self.start as u64;
            self.start = 0;
        }
        // Grow geometrically so a long event is re-decoded O(log n) times.
        let want = CHUNK.max(self.buf.len() - self.start);
        let old = self.buf.len();
        self.buf.resize(old + want, 0);
        let got = loop {
            match self.src.read(&mut self.buf[old..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(Error::from(e).at_offset(self.base + old as u64));
                }
            }
        };
        self.buf.truncate(old + got);
        if got == 0 {
            self.eof = true;
        }
        Ok(())
    }

    /// Decodes the next event; `Ok(None)` at the end of the trace.
    ///
    /// # Errors
    ///
    /// As [`Reader::read_event`](super::Reader::read_event), plus I/O errors. After an error the reader
    /// is finished.
    pub fn read_event(&mut self) -> Result<Option<RawEvent<'_>>> {
        if self.done {
            return Ok(None);
        }
        // Decide first with shared borrows, then return a fresh borrow: the
        // event must borrow `self.buf` only after the last `fill`.
        let len = loop {
            let rest = self.buf.get(self.start..).unwrap_or_default();
            let mut scratch = RawEvent::default();
            match decode(rest, self.eof, self.shapes, &mut scratch) {
                Ok(Step::Event(n)) => break n,
                Ok(Step::End) => {
                    self.done = true;
                    return Ok(None);
                }
                Ok(Step::NeedMore) => {
                    if let Err(e) = self.fill() {
                        self.done = true;
                        return Err(e);
                    }
                }
                Err(e) => {
                    self.done = true;
                    return Err(e.at_offset(self.offset()));
                }
            }
        };
        let at = self.start;
        self.start += len;
        let mut ev = RawEvent::default();
        match decode(&self.buf[at..at + len], true, self.shapes, &mut ev) {
            Ok(Step::Event(_)) => Ok(Some(ev)),
            // The same bytes decoded a moment ago; anything else is impossible.
            _ => {
                self.done = true;
                Err(Error::new(
                    ErrorKind::BadBatch,
                    "event changed on re-decoding",
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::Reader;

    fn trace(body: &[u8]) -> Vec<u8> {
        let mut t = b"go 1.23 trace\0\0\0".to_vec();
        t.extend_from_slice(body);
        t
    }

    #[test]
    fn stream_reader_matches_slice_reader_with_tiny_reads() {
        struct Dribble<'a>(&'a [u8]);
        impl Read for Dribble<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                let n = out.len().min(self.0.len()).min(3);
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut body = vec![1, 1, 0, 0, 30, 8, 100, 3, 1, 2];
        body.extend_from_slice(&[1, 2, 3, 4, 0xff, 0x01, 6, 7, 8]);
        body.extend_from_slice(&[5, 1, 5]);
        body.extend_from_slice(b"hello");
        body.extend_from_slice(&[16, 1]);
        let t = trace(&body);
        let want: Vec<String> = Reader::new(&t)
            .unwrap()
            .map(|e| e.unwrap().to_string())
            .collect();
        let mut s = StreamReader::new(Dribble(&t)).unwrap();
        let mut got = Vec::new();
        while let Some(ev) = s.read_event().unwrap() {
            got.push(ev.to_string());
        }
        assert_eq!(got, want);
        assert_eq!(want.len(), 4);
    }
}
