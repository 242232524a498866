//! [`RawEvent`]s to a binary trace.
//!
//! The writer emits the header, then each event as its type byte, its
//! arguments, its stack frames and its length-prefixed data. Values are
//! written in minimal uvarint form, except that:
//!
//! - an event read from a binary trace whose encoding was not minimal (the
//!   ten-byte padded batch sizes that runtimes write) is written back byte for
//!   byte, so reading a trace and writing its events reproduces the input;
//! - with [`Writer::pad_batch_sizes`], the `size` of `EventBatch` events and
//!   the data length of `ExperimentalBatch` events built from values use the
//!   padded ten-byte form, as Go's runtime writes them.

use std::io::Write;

use gort_tracer::wire::varint::{padded_uvarint, write_uvarint};
use gort_tracer::wire::EventType;

use super::event::RawEvent;
use crate::error::Result;

/// Appends the encoding of `ev` to `out` (minimal form unless `ev` carries
/// its original bytes; see the module documentation for `pad`).
pub fn encode_event(ev: &RawEvent<'_>, pad: bool, out: &mut Vec<u8>) {
    if let Some(w) = ev.wire_bytes() {
        out.extend_from_slice(w);
        return;
    }
    let ty = ev.event_type();
    out.push(ev.type_byte());
    let args = ev.args();
    for (i, &a) in args.iter().enumerate() {
        let padded = pad && ty == Some(EventType::EventBatch) && i + 1 == args.len();
        if padded {
            out.extend_from_slice(&padded_uvarint(a));
        } else {
            write_uvarint(out, a);
        }
    }
    out.extend_from_slice(ev.encoded_frames());
    if ty.is_some_and(|t| t.spec().has_data) {
        let data = ev.data().unwrap_or_default();
        let len = data.len() as u64;
        if pad && ty == Some(EventType::ExperimentalBatch) {
            out.extend_from_slice(&padded_uvarint(len));
        } else {
            write_uvarint(out, len);
        }
        out.extend_from_slice(data);
    }
}

/// Writes a binary trace: header, then events.
///
/// Output is gathered in an internal buffer and written in large pieces;
/// call [`Writer::finish`] to flush it.
///
/// # Examples
///
/// ```
/// use gort_parser::raw::{RawEvent, Reader, Writer};
/// use gort_tracer::wire::EventType;
///
/// let mut w = Writer::new(Vec::new(), 23).unwrap();
/// w.write_event(&RawEvent::new(EventType::EventBatch, &[1, 0, 0, 2]).unwrap()).unwrap();
/// w.write_event(&RawEvent::new(EventType::Frequency, &[100]).unwrap()).unwrap();
/// let bytes = w.finish().unwrap();
/// let texts: Vec<String> = Reader::new(&bytes).unwrap().map(|e| e.unwrap().to_string()).collect();
/// assert_eq!(texts, ["EventBatch gen=1 m=0 time=0 size=2", "Frequency freq=100"]);
/// ```
#[derive(Debug)]
pub struct Writer<W: Write> {
    out: W,
    buf: Vec<u8>,
    pad: bool,
}

/// Buffer size at which the writer hands its bytes to the sink.
const FLUSH_AT: usize = 64 << 10;

impl<W: Write> Writer<W> {
    /// Starts a trace of format version `go 1.<version>` on `out`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) if writing the header fails.
    pub fn new(out: W, version: u32) -> Result<Writer<W>> {
        let mut w = Writer {
            out,
            buf: Vec::with_capacity(FLUSH_AT + 1024),
            pad: false,
        };
        w.buf
            .extend_from_slice(format!("go 1.{version} trace\0\0\0").as_bytes());
        Ok(w)
    }

    /// Whether batch sizes built from values use the runtime's padded
    /// ten-byte form (off by default, as in Go's raw writer).
    #[must_use]
    pub fn pad_batch_sizes(mut self, on: bool) -> Writer<W> {
        self.pad = on;
        self
    }

    /// Writes one event.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) if the sink fails.
    pub fn write_event(&mut self, ev: &RawEvent<'_>) -> Result<()> {
        encode_event(ev, self.pad, &mut self.buf);
        if self.buf.len() >= FLUSH_AT {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Flushes everything and returns the sink.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) if the sink fails.
    pub fn finish(mut self) -> Result<W> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::Reader;

    #[test]
    fn padding_is_optional_and_round_trips() {
        let batch = RawEvent::new(EventType::EventBatch, &[1, 2, 3, 2]).unwrap();
        let freq = RawEvent::new(EventType::Frequency, &[100]).unwrap();
        let mut min = Vec::new();
        encode_event(&batch, false, &mut min);
        assert_eq!(min, [1, 1, 2, 3, 2]);
        let mut w = Writer::new(Vec::new(), 23).unwrap().pad_batch_sizes(true);
        w.write_event(&batch).unwrap();
        w.write_event(&freq).unwrap();
        let padded = w.finish().unwrap();
        assert_eq!(padded.len(), 16 + 4 + 10 + 2);
        // Read back and rewrite without padding: the padded bytes survive.
        let mut again = Writer::new(Vec::new(), 23).unwrap();
        for ev in Reader::new(&padded).unwrap() {
            again.write_event(&ev.unwrap()).unwrap();
        }
        assert_eq!(again.finish().unwrap(), padded);
    }

    #[test]
    fn data_and_frames_are_encoded() {
        let s = RawEvent::new(EventType::String, &[1])
            .unwrap()
            .with_data(&b"hi"[..]);
        let mut out = Vec::new();
        encode_event(&s, false, &mut out);
        assert_eq!(out, [5, 1, 2, b'h', b'i']);
        let st = RawEvent::new(EventType::Stack, &[1, 1])
            .unwrap()
            .with_frames(&[[300, 1, 2, 3]]);
        out.clear();
        encode_event(&st, false, &mut out);
        assert_eq!(out, [3, 1, 1, 0xac, 0x02, 1, 2, 3]);
    }
}
