//! Batch framing: read batch headers and locate batch data, from a byte slice
//! (zero-copy) or from any `std::io::Read` (copied into a per-generation buffer).
//!
//! A batch is `01 gen m time size data[size]` or, for experimental side data,
//! `31 exp gen m time size data[size]` (see [`gort_tracer::wire`]). This module
//! knows nothing about events: it hands out [`Batch`] records whose data is a
//! byte range of the current generation's [`Storage`], and classifies a batch
//! by its first data byte ([`BatchKind`]).
//!
//! Errors read like Go's `internal/trace` reader (`error reading batch gen:
//! unexpected EOF`, `invalid batch size 70000, maximum is 65536`, ...). An EOF
//! exactly at a batch boundary, or right after an experimental batch's type
//! byte (Go reads that byte without promoting EOF), is a clean end of input.

use std::io::{self, BufRead, Read};

use gort_tracer::wire::limits::MAX_BATCH_BYTES;
use gort_tracer::wire::varint::{self, VarintError};
use gort_tracer::wire::{EventType, Format};

use crate::error::{Error, ErrorKind, Result};
use crate::resources::ThreadId;

/// Bytes that batch data ranges point into: the whole input (zero-copy) or a
/// buffer owning one generation's batches.
#[derive(Debug)]
pub(crate) enum Storage<'a> {
    /// Ranges are offsets into the caller's slice.
    Borrowed(&'a [u8]),
    /// Ranges are offsets into this buffer.
    Owned(Vec<u8>),
}

impl Storage<'_> {
    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Storage::Borrowed(b) => b,
            Storage::Owned(v) => v,
        }
    }
}

/// What a batch holds, decided by its first data byte (and its experiment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BatchKind {
    /// The string table (`Strings` first).
    Strings,
    /// The stack table (`Stacks` first).
    Stacks,
    /// CPU samples (`CPUSamples` first).
    CpuSamples,
    /// The generation's clock frequency (`Frequency` first, before the go
    /// 1.25 format).
    Frequency,
    /// The generation's frequency and clock snapshot (`Sync` first, from the
    /// go 1.25 format on).
    Sync,
    /// Side data of an experiment, opaque to the reader.
    Experimental(u8),
    /// Timed events of one thread (anything else, including an empty batch).
    Events,
}

/// One batch: its header fields and where its data is.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Batch {
    /// The thread that wrote it ([`ThreadId::NONE`] for side tables).
    pub(crate) m: ThreadId,
    /// The base timestamp, in trace clock units.
    pub(crate) time: u64,
    /// The experiment (0: none).
    pub(crate) exp: u8,
    /// Start of the data in the generation's storage.
    pub(crate) start: usize,
    /// End (exclusive) of the data.
    pub(crate) end: usize,
    /// Byte offset of the batch header in the input, for error context.
    pub(crate) offset: u64,
}

impl Batch {
    /// The batch's data, given the storage it points into.
    #[inline]
    pub(crate) fn data<'s>(&self, storage: &'s [u8]) -> &'s [u8] {
        storage.get(self.start..self.end).unwrap_or(&[])
    }

    /// Classifies the batch by its experiment and first data byte, as format
    /// `f` does (a lone `Frequency` batch before go 1.25, a `Sync` batch
    /// from then on).
    pub(crate) fn kind(&self, storage: &[u8], f: Format) -> BatchKind {
        if self.exp != 0 {
            return BatchKind::Experimental(self.exp);
        }
        match self
            .data(storage)
            .first()
            .and_then(|&b| EventType::from_u8_in(b, f))
        {
            Some(EventType::Strings) => BatchKind::Strings,
            Some(EventType::Stacks) => BatchKind::Stacks,
            Some(EventType::CPUSamples) => BatchKind::CpuSamples,
            Some(EventType::Frequency) if !f.has_sync_batches() => BatchKind::Frequency,
            Some(EventType::Sync) => BatchKind::Sync,
            _ => BatchKind::Events,
        }
    }
}

/// The name Go's reader of format `f` gives event type `typ` in messages:
/// Go 1.23's `EventString` (the spec name, `""` for unnamed numbers below the
/// end of the table, `Invalid(N)` above it), or from go 1.25 on `EventName`
/// (`Invalid(N)` for every unnamed number).
pub(crate) fn event_string(typ: u8, f: Format) -> String {
    match EventType::from_u8_in(typ, f) {
        Some(t) => t.name().to_string(),
        None if typ <= 136 && !f.has_sync_batches() => String::new(),
        None => format!("Invalid({typ})"),
    }
}

/// Why reading a varint from a byte stream failed, in Go's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VarintFail {
    /// No byte at all (`EOF`).
    Eof,
    /// The stream ended inside the varint (`unexpected EOF`).
    Truncated,
    /// Too long or too large.
    Overflow,
}

impl VarintFail {
    /// The text of Go's `binary.ReadUvarint` error.
    pub(crate) fn go_text(self) -> &'static str {
        match self {
            VarintFail::Eof => "EOF",
            VarintFail::Truncated => "unexpected EOF",
            VarintFail::Overflow => "binary: varint overflows a 64-bit integer",
        }
    }

    /// As an [`Error`] whose message is `context` followed by Go's text.
    pub(crate) fn error(self, context: &str) -> Error {
        let kind = match self {
            VarintFail::Overflow => ErrorKind::BadVarint,
            _ => ErrorKind::UnexpectedEof,
        };
        Error::new(kind, format!("{context}{}", self.go_text()))
    }
}

/// Reads a uvarint from the front of `buf` like Go's `binary.ReadUvarint`
/// over a byte reader; returns the value and its length.
#[inline(always)]
pub(crate) fn read_uvarint(buf: &[u8]) -> std::result::Result<(u64, usize), VarintFail> {
    match *buf {
        [b0, ..] if b0 < 0x80 => Ok((u64::from(b0), 1)),
        [b0, b1, ..] if b1 < 0x80 => Ok((u64::from(b0 & 0x7f) | u64::from(b1) << 7, 2)),
        _ => read_uvarint_long(buf),
    }
}

/// [`read_uvarint`] for values of three bytes or more, and for errors: the
/// wire format's decoder, with Go's distinction between no byte at all
/// (`EOF`) and a cut varint (`unexpected EOF`).
#[inline(never)]
fn read_uvarint_long(buf: &[u8]) -> std::result::Result<(u64, usize), VarintFail> {
    match varint::read_uvarint(buf) {
        Ok(v) => Ok(v),
        Err(VarintError::Overflow) => Err(VarintFail::Overflow),
        Err(VarintError::Truncated) if buf.is_empty() => Err(VarintFail::Eof),
        Err(VarintError::Truncated) => Err(VarintFail::Truncated),
    }
}

/// What a batch source read next.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Item {
    /// A batch and its generation number.
    Batch(u64, Batch),
    /// An `EndOfGeneration` byte (go 1.26 format), at this input offset.
    EndOfGeneration(u64),
}

/// A source of batches for one trace: yields batch records and owns (or
/// borrows) the bytes they point into.
pub(crate) trait BatchSource<'a> {
    /// Reads the next batch or end-of-generation mark; `None` at a clean end.
    fn next_item(&mut self) -> Result<Option<Item>>;

    /// Reads the next batch and its generation number; `None` at a clean end
    /// (formats before go 1.26, where no end-of-generation mark exists).
    fn next_batch(&mut self) -> Result<Option<(u64, Batch)>> {
        match self.next_item()? {
            None => Ok(None),
            Some(Item::Batch(g, b)) => Ok(Some((g, b))),
            Some(Item::EndOfGeneration(at)) => Err(Error::new(
                ErrorKind::BadBatch,
                "expected batch event, got event 52",
            )
            .at_offset(at)),
        }
    }

    /// Bytes of the generation being read so far.
    fn bytes(&self) -> &[u8];

    /// Closes the current generation: returns the storage its batches point
    /// into. `spill`, if any, is the first batch of the next generation (already
    /// read); it is moved into the next generation's storage.
    fn finish_generation(&mut self, spill: Option<&mut Batch>) -> Storage<'a>;

    /// Offers the storage buffer of a generation nobody uses any more, to
    /// read the next one into (memory already mapped, and large enough
    /// for a generation). Sources that copy nothing ignore it.
    fn recycle(&mut self, _buf: Vec<u8>) {}
}

/// What a batch header read found.
enum Head {
    /// A batch header.
    Batch(Header),
    /// An `EndOfGeneration` byte.
    EndOfGeneration,
}

/// Batch header fields, in wire order.
struct Header {
    exp: u8,
    gen: u64,
    m: u64,
    time: u64,
    size: u64,
}

/// Byte-at-a-time access used to decode batch headers.
trait ByteRead {
    fn read_byte(&mut self) -> Result<Option<u8>>;

    fn read_uvarint(&mut self) -> std::result::Result<u64, Result<VarintFail>> {
        let mut got = 0;
        let r = varint::decode_uvarint(|| {
            let b = self.read_byte();
            if let Ok(Some(_)) = b {
                got += 1;
            }
            b
        });
        match r {
            Ok(Ok((v, _))) => Ok(v),
            Ok(Err(VarintError::Overflow)) => Err(Ok(VarintFail::Overflow)),
            Ok(Err(VarintError::Truncated)) if got == 0 => Err(Ok(VarintFail::Eof)),
            Ok(Err(VarintError::Truncated)) => Err(Ok(VarintFail::Truncated)),
            Err(e) => Err(Err(e)),
        }
    }
}

/// Reads a batch header as format `f`'s reader does; `Ok(None)` at a clean
/// end of input.
fn read_header(r: &mut impl ByteRead, f: Format) -> Result<Option<Head>> {
    let Some(typ) = r.read_byte()? else {
        return Ok(None);
    };
    let exp = match EventType::from_u8_in(typ, f) {
        Some(EventType::EventBatch) => 0,
        Some(EventType::ExperimentalBatch) => match r.read_byte()? {
            Some(e) => e,
            None => return Ok(None),
        },
        Some(EventType::EndOfGeneration) if f.has_end_of_generation() => {
            return Ok(Some(Head::EndOfGeneration))
        }
        _ if f.has_sync_batches() => {
            return Err(Error::new(
                ErrorKind::BadBatch,
                format!("expected batch event, got event {typ}"),
            ))
        }
        _ => {
            return Err(Error::new(
                ErrorKind::BadBatch,
                format!("expected batch event, got {}", event_string(typ, f)),
            ))
        }
    };
    let mut field = |what: &str| -> Result<u64> {
        match r.read_uvarint() {
            Ok(v) => Ok(v),
            Err(Ok(fail)) => Err(fail.error(&format!("error reading batch {what}: "))),
            Err(Err(e)) => Err(e),
        }
    };
    let gen = field("gen")?;
    let m = field("M ID")?;
    let time = field("timestamp")?;
    let size = field("size")?;
    if size > MAX_BATCH_BYTES as u64 {
        return Err(Error::new(
            ErrorKind::BatchTooLarge,
            format!("invalid batch size {size}, maximum is {MAX_BATCH_BYTES}"),
        ));
    }
    Ok(Some(Head::Batch(Header {
        exp,
        gen,
        m,
        time,
        size,
    })))
}

/// Batches of a trace held in memory: data ranges point into the slice itself.
#[derive(Debug)]
pub(crate) struct SliceSource<'a> {
    data: &'a [u8],
    pos: usize,
    format: Format,
}

impl<'a> SliceSource<'a> {
    /// Batches of `data` in format `format`, starting at `pos` (just after
    /// the file header).
    pub(crate) fn new(data: &'a [u8], pos: usize, format: Format) -> SliceSource<'a> {
        SliceSource { data, pos, format }
    }
}

impl ByteRead for SliceSource<'_> {
    #[inline]
    fn read_byte(&mut self) -> Result<Option<u8>> {
        let b = self.data.get(self.pos).copied();
        if b.is_some() {
            self.pos += 1;
        }
        Ok(b)
    }
}

impl<'a> BatchSource<'a> for SliceSource<'a> {
    fn next_item(&mut self) -> Result<Option<Item>> {
        let offset = self.pos as u64;
        let f = self.format;
        let h = match read_header(self, f).map_err(|e| e.at_offset(offset))? {
            None => return Ok(None),
            Some(Head::EndOfGeneration) => return Ok(Some(Item::EndOfGeneration(offset))),
            Some(Head::Batch(h)) => h,
        };
        // `size` is at most MAX_BATCH_BYTES, so this cannot overflow.
        let want = h.size as usize;
        let avail = self.data.len() - self.pos;
        if avail < want {
            self.pos = self.data.len();
            return Err(Error::new(
                ErrorKind::UnexpectedEof,
                format!("failed to read full batch: read {avail} but wanted {want}"),
            )
            .at_offset(offset));
        }
        let start = self.pos;
        self.pos += want;
        Ok(Some(Item::Batch(
            h.gen,
            Batch {
                m: ThreadId::from_wire(h.m),
                time: h.time,
                exp: h.exp,
                start,
                end: self.pos,
                offset,
            },
        )))
    }

    fn bytes(&self) -> &[u8] {
        self.data
    }

    fn finish_generation(&mut self, _spill: Option<&mut Batch>) -> Storage<'a> {
        Storage::Borrowed(self.data)
    }
}

/// Batches read from a stream: each generation's batch data is copied into
/// one buffer, which the generation's tables and events then share.
#[derive(Debug)]
pub(crate) struct StreamSource<R> {
    r: R,
    offset: u64,
    buf: Vec<u8>,
    format: Format,
}

impl<R: BufRead> StreamSource<R> {
    /// Batches of `r` in format `format`, whose file header has been
    /// consumed (`offset` bytes).
    pub(crate) fn new(r: R, offset: u64, format: Format) -> StreamSource<R> {
        StreamSource {
            r,
            offset,
            buf: Vec::new(),
            format,
        }
    }
}

impl<R: BufRead> ByteRead for StreamSource<R> {
    #[inline]
    fn read_byte(&mut self) -> Result<Option<u8>> {
        loop {
            match self.r.fill_buf() {
                Ok([]) => return Ok(None),
                Ok(b) => {
                    let v = b[0];
                    self.r.consume(1);
                    self.offset += 1;
                    return Ok(Some(v));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::from(e).at_offset(self.offset)),
            }
        }
    }
}

impl<'a, R: BufRead> BatchSource<'a> for StreamSource<R> {
    fn next_item(&mut self) -> Result<Option<Item>> {
        let offset = self.offset;
        let f = self.format;
        let h = match read_header(self, f).map_err(|e| e.at_offset(offset))? {
            None => return Ok(None),
            Some(Head::EndOfGeneration) => return Ok(Some(Item::EndOfGeneration(offset))),
            Some(Head::Batch(h)) => h,
        };
        let want = h.size as usize;
        let start = self.buf.len();
        self.buf.reserve(want);
        let got = (&mut self.r)
            .take(h.size)
            .read_to_end(&mut self.buf)
            .map_err(|e| Error::from(e).at_offset(offset))?;
        self.offset += got as u64;
        if got != want {
            self.buf.truncate(start);
            return Err(Error::new(
                ErrorKind::UnexpectedEof,
                format!("failed to read full batch: read {got} but wanted {want}"),
            )
            .at_offset(offset));
        }
        Ok(Some(Item::Batch(
            h.gen,
            Batch {
                m: ThreadId::from_wire(h.m),
                time: h.time,
                exp: h.exp,
                start,
                end: self.buf.len(),
                offset,
            },
        )))
    }

    fn bytes(&self) -> &[u8] {
        &self.buf
    }

    fn finish_generation(&mut self, spill: Option<&mut Batch>) -> Storage<'a> {
        let rest = match spill {
            Some(b) => {
                let tail = self.buf.split_off(b.start.min(self.buf.len()));
                b.end -= b.start;
                b.start = 0;
                tail
            }
            None => Vec::new(),
        };
        let mut done = std::mem::replace(&mut self.buf, rest);
        if done.capacity() > done.len() + done.len() / 4 {
            done.shrink_to_fit();
        }
        Storage::Owned(done)
    }

    fn recycle(&mut self, mut buf: Vec<u8>) {
        // The bytes read so far (the next generation's first batch, at
        // most) move into the larger buffer at the same offsets.
        if buf.capacity() > self.buf.capacity() {
            buf.clear();
            buf.extend_from_slice(&self.buf);
            self.buf = buf;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch_bytes(gen: u64, m: u64, time: u64, data: &[u8]) -> Vec<u8> {
        let mut v = vec![1];
        for x in [gen, m, time, data.len() as u64] {
            gort_tracer::wire::varint::write_uvarint(&mut v, x);
        }
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn slice_and_stream_sources_agree() {
        let mut input = batch_bytes(1, u64::MAX, 5, &[8, 3]);
        input.extend(batch_bytes(1, 7, 9, &[0x0b, 1]));
        input.extend(batch_bytes(2, 7, 11, &[0x0b, 2]));
        let mut s = SliceSource::new(&input, 0, Format::Go123);
        let mut t = StreamSource::new(&input[..], 0, Format::Go123);
        for _ in 0..3 {
            let (ga, a) = s.next_batch().unwrap().unwrap();
            let (gb, b) = t.next_batch().unwrap().unwrap();
            assert_eq!(ga, gb);
            assert_eq!((a.m, a.time), (b.m, b.time));
            assert_eq!(a.data(s.bytes()), b.data(t.bytes()));
        }
        assert!(s.next_batch().unwrap().is_none());
        assert!(t.next_batch().unwrap().is_none());
    }

    #[test]
    fn stream_source_moves_the_spilled_batch() {
        let mut input = batch_bytes(1, 3, 5, &[0x0b, 1]);
        input.extend(batch_bytes(2, 3, 9, &[0x0b, 2, 2]));
        let mut t = StreamSource::new(&input[..], 0, Format::Go123);
        let (_, first) = t.next_batch().unwrap().unwrap();
        let (_, mut spill) = t.next_batch().unwrap().unwrap();
        let st = t.finish_generation(Some(&mut spill));
        assert_eq!(first.data(st.bytes()), &[0x0b, 1]);
        assert_eq!(spill.data(t.bytes()), &[0x0b, 2, 2]);
    }

    #[test]
    fn header_errors_read_like_go() {
        let err = |input: &[u8]| {
            SliceSource::new(input, 0, Format::Go123)
                .next_batch()
                .unwrap_err()
                .message()
        };
        assert_eq!(err(&[2]), "expected batch event, got Stacks");
        assert_eq!(err(&[0]), "expected batch event, got ");
        assert_eq!(err(&[200]), "expected batch event, got Invalid(200)");
        assert_eq!(
            err(&[1, 1, 0x80]),
            "error reading batch M ID: unexpected EOF"
        );
        assert_eq!(err(&[1, 1, 1]), "error reading batch timestamp: EOF");
        assert_eq!(
            err(&[1, 1, 1, 1, 0x80, 0x80, 0x08]),
            "invalid batch size 131072, maximum is 65536"
        );
        assert_eq!(
            err(&[1, 1, 1, 1, 3, 0]),
            "failed to read full batch: read 1 but wanted 3"
        );
        // EOF right after an experimental batch's type byte ends the input.
        assert!(SliceSource::new(&[0x31], 0, Format::Go123)
            .next_batch()
            .unwrap()
            .is_none());
    }

    #[test]
    fn varints_match_go() {
        for v in [0, 1, 127, 128, 300, 16383, 16384, 1 << 40, u64::MAX] {
            let mut enc = Vec::new();
            gort_tracer::wire::varint::write_uvarint(&mut enc, v);
            assert_eq!(read_uvarint(&enc), Ok((v, enc.len())), "{v}");
            enc.push(0x55);
            assert_eq!(read_uvarint(&enc), Ok((v, enc.len() - 1)), "{v}");
            assert!(read_uvarint(&enc[..enc.len() - 2]).is_err(), "{v}");
        }
        assert_eq!(read_uvarint(&[]), Err(VarintFail::Eof));
        assert_eq!(read_uvarint(&[0x80]), Err(VarintFail::Truncated));
        assert_eq!(read_uvarint(&[0xff; 10]), Err(VarintFail::Overflow));
        assert_eq!(read_uvarint(&[0x85, 0x80, 0x00]), Ok((5, 3)));
    }
}
