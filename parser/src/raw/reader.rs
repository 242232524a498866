//! Binary trace to [`RawEvent`]s, linearly, with no validation.
//!
//! Decoding follows Go 1.23's `internal/trace/raw` reader, the one behind
//! `go tool trace -d=2`:
//!
//! 1. The 16-byte header must read `go 1.22 trace` or `go 1.23 trace` (plus
//!    three NULs). Like Go, the readers also accept the older versions Go
//!    knows by number (1.11, 1.19, 1.21) but have no event table for them, so
//!    the first event of such a trace is an invalid event type.
//! 2. Each event starts with a type byte. The end of input here is the normal
//!    end of the trace. A byte of 0 or above the last defined event (136) is an
//!    error; bytes 50 to 127 are accepted as argument-less, nameless events.
//! 3. The arguments follow as uvarints, as many as the event table gives for
//!    the type; batch headers are ordinary events here.
//! 4. A `Stack` event then has `nframes` frames of four uvarints (none when
//!    `nframes` does not fit a signed 64-bit integer, as Go converts it to
//!    `int`).
//! 5. `String` and `ExperimentalBatch` then have a uvarint length and that
//!    many bytes (none when the length does not fit a signed 64-bit integer).
//!
//! End of input just before any uvarint of steps 3 to 5, or inside the data of
//! step 5, ends the trace normally and drops the incomplete event: Go's reader
//! sees a plain `io.EOF` there. End of input inside a uvarint is an
//! `unexpected EOF` error. A uvarint longer than ten bytes, or above
//! `u64::MAX`, is an error too.
//!
//! The decoder never allocates from a length field: frames and data are
//! slices of input that is already there. [`StreamReader`](super::StreamReader)
//! (in `stream.rs`) runs the same decoder over a growing buffer.

use gort_tracer::wire::header::{scan_header, Scan, Version};
use gort_tracer::wire::{EventType, Format};

use super::event::{RawEvent, MAX_ARGS};
use crate::error::{Error, ErrorKind, Result};

/// Go's message for a uvarint that does not fit 64 bits.
const OVERFLOW: &str = "binary: varint overflows a 64-bit integer";

/// How to decode one type byte: argument count and trailers.
#[derive(Clone, Copy, Debug)]
pub(super) struct Shape {
    /// Accepted by Go's raw reader (1 to the last defined type).
    known: bool,
    /// The version of the event table this shape comes from.
    table: u8,
    nargs: u8,
    stack: bool,
    data: bool,
}

/// [`Shape`] of every type byte in the event table of version `table`.
const fn shapes(table: u8) -> [Shape; 256] {
    let all = EventType::ALL;
    let last = all[all.len() - 1] as usize;
    let mut t = [Shape {
        known: false,
        table,
        nargs: 0,
        stack: false,
        data: false,
    }; 256];
    let mut b = 1;
    while b <= last {
        t[b].known = true;
        if let Some(ty) = EventType::from_u8(b as u8) {
            let spec = ty.spec();
            if spec.since > table {
                b += 1;
                continue;
            }
            t[b].nargs = spec.args.len() as u8;
            t[b].stack = spec.is_stack;
            t[b].data = spec.has_data;
        }
        b += 1;
    }
    t
}

/// Shapes of the go 1.22/1.23 table (Go 1.23.9's raw reader).
static SHAPES_GO123: [Shape; 256] = shapes(Format::Go123.table_version());
/// Shapes of the go 1.25/1.26 table (Go 1.25's and Go 1.27's raw readers:
/// both know every type up to 136).
static SHAPES_NEWEST: [Shape; 256] = shapes(Format::Go126.table_version());

/// Reads the trace header at the start of `input`; returns the Go minor
/// version (22, 23, 25 or 26).
///
/// # Errors
///
/// [`ErrorKind::BadHeader`] if `input` is not a Go trace,
/// [`ErrorKind::UnsupportedVersion`] for another format version.
pub fn read_header(input: &[u8]) -> Result<u32> {
    read_header_len(input).map(|(v, _)| v)
}

/// [`read_header`], plus the header's length: usually 16 bytes, but Go's
/// header scan also takes extra spaces and leading zeros.
pub fn read_header_len(input: &[u8]) -> Result<(u32, usize)> {
    match scan_header(input, true) {
        Scan::Header(Version::Go1(v), n) => Ok((v, n)),
        Scan::Header(Version::Unsupported(v), _) => {
            Err(Error::from_kind(ErrorKind::UnsupportedVersion(v)))
        }
        _ => Err(Error::from_kind(ErrorKind::BadHeader)),
    }
}

/// Versions that Go's raw reader accepts in a header although it has no
/// event table for them (pre-1.22 formats): every event byte is then invalid.
const TABLELESS: [u32; 3] = [11, 19, 21];

/// The shape table for a trace with no event table.
pub(super) static NO_SHAPES: [Shape; 256] = [Shape {
    known: false,
    table: 0,
    nargs: 0,
    stack: false,
    data: false,
}; 256];

/// Reads the header as Go's raw reader does: [`read_header_len`], except
/// that the pre-1.22 versions Go knows by number are accepted with no event
/// table. Returns the version, its shapes and the header's length.
pub(super) fn raw_header(input: &[u8]) -> Result<(u32, &'static [Shape; 256], usize)> {
    match scan_header(input, true) {
        Scan::Header(Version::Go1(v), n) => {
            let newest = Format::from_minor(v).is_some_and(Format::has_sync_batches);
            Ok((
                v,
                if newest {
                    &SHAPES_NEWEST
                } else {
                    &SHAPES_GO123
                },
                n,
            ))
        }
        Scan::Header(Version::Unsupported(v), n) if TABLELESS.contains(&v) => {
            Ok((v, &NO_SHAPES, n))
        }
        _ => read_header_len(input).map(|(v, n)| (v, &NO_SHAPES, n)),
    }
}

/// What [`decode`] found at the start of its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// A complete event of this many bytes, now in the caller's event.
    Event(usize),
    /// The normal end of the trace (only when the input is final).
    End,
    /// More input is needed to decide (only when the input is not final).
    NeedMore,
}

/// Why a uvarint could not be read.
enum Stop {
    /// No byte at all: a clean end.
    Empty,
    /// The input ended inside the uvarint.
    Partial,
    /// Too long or too large.
    Overflow,
}

/// A position in the input plus whether everything so far was minimal.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    minimal: bool,
}

impl Cursor<'_> {
    #[inline(always)]
    fn uvarint(&mut self) -> std::result::Result<u64, Stop> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        match rest.first() {
            None => Err(Stop::Empty),
            Some(&b) if b < 0x80 => {
                self.pos += 1;
                Ok(u64::from(b))
            }
            Some(_) => self.uvarint_long(rest),
        }
    }

    #[inline(never)]
    fn uvarint_long(&mut self, rest: &[u8]) -> std::result::Result<u64, Stop> {
        let mut v = 0u64;
        for (i, &b) in rest.iter().enumerate().take(10) {
            if i == 9 && b > 1 {
                return Err(Stop::Overflow);
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                // Non-minimal: a zero final group after the first byte.
                if b == 0 {
                    self.minimal = false;
                }
                self.pos += i + 1;
                return Ok(v);
            }
        }
        if rest.len() >= 10 {
            Err(Stop::Overflow)
        } else {
            Err(Stop::Partial)
        }
    }
}

/// Decodes the event at the start of `buf` into `ev`. `at_end` says whether
/// `buf` holds everything that is left of the input. `ev` is changed only
/// when the result is [`Step::Event`].
pub(super) fn decode<'a>(
    buf: &'a [u8],
    at_end: bool,
    shapes: &[Shape; 256],
    ev: &mut RawEvent<'a>,
) -> Result<Step> {
    let Some(&ty) = buf.first() else {
        return Ok(if at_end { Step::End } else { Step::NeedMore });
    };
    let shape = shapes[usize::from(ty)];
    if !shape.known {
        return Err(Error::from_kind(ErrorKind::UnknownEvent(ty)));
    }
    let name = || match EventType::from_u8(ty) {
        Some(t) if t.spec().since <= shape.table => t.name(),
        _ => "",
    };
    let mut cur = Cursor {
        buf,
        pos: 1,
        minimal: true,
    };
    // Turns a short read into the step Go's reader takes.
    let stop = |s: Stop| -> Result<Step> {
        match s {
            _ if !at_end && !matches!(s, Stop::Overflow) => Ok(Step::NeedMore),
            Stop::Empty => Ok(Step::End),
            Stop::Partial => {
                Err(Error::new(ErrorKind::UnexpectedEof, "unexpected EOF").event(name()))
            }
            Stop::Overflow => Err(Error::new(ErrorKind::BadVarint, OVERFLOW).event(name())),
        }
    };

    let nargs = usize::from(shape.nargs).min(MAX_ARGS);
    let mut args = [0u64; MAX_ARGS];
    for a in &mut args[..nargs] {
        match cur.uvarint() {
            Ok(v) => *a = v,
            Err(s) => return stop(s),
        }
    }

    let mut frames: &[u8] = &[];
    let mut frame_values = 0usize;
    if shape.stack {
        // Go converts the count to `int`: a count above i64::MAX reads no frame.
        let n = i64::try_from(args[1]).unwrap_or(0);
        let start = cur.pos;
        let mut read = 0i64;
        // Each frame takes at least four bytes, so input runs out first if `n` lies.
        while read < n {
            for _ in 0..4 {
                if let Err(s) = cur.uvarint() {
                    return stop(s);
                }
            }
            read += 1;
        }
        frames = &buf[start..cur.pos];
        frame_values = (read as usize).saturating_mul(4);
    }

    let mut data: Option<&[u8]> = None;
    if shape.data {
        let len = match cur.uvarint() {
            Ok(v) => v,
            Err(s) => return stop(s),
        };
        match usize::try_from(len)
            .ok()
            .filter(|&l| i64::try_from(l).is_ok())
        {
            Some(len) => {
                let left = buf.len() - cur.pos;
                if len > left {
                    return Ok(if at_end { Step::End } else { Step::NeedMore });
                }
                if len > 0 {
                    data = Some(&buf[cur.pos..cur.pos + len]);
                }
                cur.pos += len;
            }
            // Go reads no bytes for a length that is negative as `int`; writing
            // the event back as zero-length data would change it.
            None => cur.minimal = false,
        }
    }

    let wire = (!cur.minimal).then(|| &buf[..cur.pos]);
    ev.fill(
        ty,
        shape.table,
        &args,
        nargs,
        frames,
        frame_values,
        data,
        wire,
    );
    Ok(Step::Event(cur.pos))
}

/// Zero-copy raw reader over a trace held in memory.
///
/// Yields every event in file order and stops after the first error.
///
/// # Examples
///
/// ```
/// use gort_parser::raw::Reader;
///
/// // Header, then a batch header and a frequency event.
/// let mut trace = b"go 1.23 trace\0\0\0".to_vec();
/// trace.extend_from_slice(&[1, 1, 0, 0, 2, 8, 100]);
/// let mut r = Reader::new(&trace).unwrap();
/// assert_eq!(r.next().unwrap().unwrap().to_string(), "EventBatch gen=1 m=0 time=0 size=2");
/// assert_eq!(r.next().unwrap().unwrap().to_string(), "Frequency freq=100");
/// assert!(r.next().is_none());
/// ```
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    /// Length of the header.
    start: usize,
    version: u32,
    shapes: &'static [Shape; 256],
    done: bool,
}

impl<'a> Reader<'a> {
    /// Checks the header of `input` and positions the reader after it.
    ///
    /// # Errors
    ///
    /// As [`read_header`].
    pub fn new(input: &'a [u8]) -> Result<Reader<'a>> {
        let (version, shapes, start) = raw_header(input)?;
        Ok(Reader {
            input,
            pos: start,
            start,
            version,
            shapes,
            done: false,
        })
    }

    /// Checks the header of `input` and positions the reader at byte
    /// `offset`, which should be where an earlier pass over the same input
    /// found an event to start (for example [`Reader::offset`] between two
    /// events). Lets several readers work on parts of one trace.
    ///
    /// # Errors
    ///
    /// As [`read_header`]; [`ErrorKind::BadBatch`] if `offset` lies inside
    /// the header or past the end of `input`.
    pub fn new_at(input: &'a [u8], offset: usize) -> Result<Reader<'a>> {
        let mut r = Reader::new(input)?;
        if offset < r.start || offset > input.len() {
            return Err(Error::new(
                ErrorKind::BadBatch,
                format!("cannot start reading at offset {offset}"),
            ));
        }
        r.pos = offset;
        Ok(r)
    }

    /// The Go minor version in the header (22, 23, 25 or 26; see the module
    /// documentation for older ones).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Length of the header in bytes (where the first event starts).
    pub fn header_len(&self) -> usize {
        self.start
    }

    /// Byte offset of the next event.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// Decodes the next event; `Ok(None)` at the end of the trace.
    ///
    /// # Errors
    ///
    /// See the module documentation. After an error the reader is finished.
    pub fn read_event(&mut self) -> Result<Option<RawEvent<'a>>> {
        let mut ev = RawEvent::default();
        Ok(self.read_into(&mut ev)?.then_some(ev))
    }

    /// Decodes the next event into `ev`, reusing it; `Ok(false)` at the end
    /// of the trace (then `ev` is unchanged). The fastest way to walk a trace.
    ///
    /// # Errors
    ///
    /// As [`Reader::read_event`].
    ///
    /// # Examples
    ///
    /// ```
    /// use gort_parser::raw::{RawEvent, Reader};
    ///
    /// let trace = b"go 1.23 trace\0\0\0\x08\x05\x08\x06";
    /// let mut r = Reader::new(trace).unwrap();
    /// let mut ev = RawEvent::default();
    /// let mut freqs = Vec::new();
    /// while r.read_into(&mut ev).unwrap() {
    ///     freqs.push(ev.args()[0]);
    /// }
    /// assert_eq!(freqs, [5, 6]);
    /// ```
    #[inline]
    pub fn read_into(&mut self, ev: &mut RawEvent<'a>) -> Result<bool> {
        if self.done {
            return Ok(false);
        }
        let rest = self.input.get(self.pos..).unwrap_or_default();
        match decode(rest, true, self.shapes, ev) {
            Ok(Step::Event(n)) => {
                self.pos += n;
                Ok(true)
            }
            Ok(Step::End | Step::NeedMore) => {
                self.done = true;
                Ok(false)
            }
            Err(e) => {
                self.done = true;
                Err(e.at_offset(self.pos as u64))
            }
        }
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<RawEvent<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.read_event().transpose()
    }
}

impl std::iter::FusedIterator for Reader<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(body: &[u8]) -> Vec<u8> {
        let mut t = b"go 1.23 trace\0\0\0".to_vec();
        t.extend_from_slice(body);
        t
    }

    fn texts(input: &[u8]) -> (Vec<String>, Option<Error>) {
        let mut out = Vec::new();
        for ev in Reader::new(input).unwrap() {
            match ev {
                Ok(ev) => out.push(ev.to_string()),
                Err(e) => return (out, Some(e)),
            }
        }
        (out, None)
    }

    #[test]
    fn header_errors() {
        assert_eq!(Reader::new(b"").unwrap_err().kind(), ErrorKind::BadHeader);
        assert_eq!(
            Reader::new(b"go 1.23 trace\0\0").unwrap_err().kind(),
            ErrorKind::BadHeader
        );
        assert_eq!(
            Reader::new(b"go 1.20 trace\0\0\0").unwrap_err().kind(),
            ErrorKind::UnsupportedVersion(20)
        );
        // Go accepts a 1.21 header in the raw reader but decodes no event.
        let old = b"go 1.21 trace\0\0\0\x01\x01";
        let mut r = Reader::new(old).unwrap();
        assert_eq!(r.version(), 21);
        assert_eq!(
            r.next().unwrap().unwrap_err().kind(),
            ErrorKind::UnknownEvent(1)
        );
        assert_eq!(Reader::new(&old[..16]).unwrap().count(), 0);
        assert_eq!(Reader::new(b"go 1.22 trace\0\0\0").unwrap().version(), 22);
    }

    #[test]
    fn tableless_header_survives_the_writer() {
        // A pre-1.22 header Go's raw reader knows by number, with no event:
        // the writer writes it back and the raw reader reads it again, while
        // the strict header check refuses the version.
        for v in TABLELESS {
            let input = format!("go 1.{v} trace\0\0\0");
            let r = Reader::new(input.as_bytes()).unwrap();
            assert_eq!(r.version(), v);
            let out = crate::raw::Writer::new(Vec::new(), v)
                .unwrap()
                .finish()
                .unwrap();
            assert_eq!(out, input.as_bytes());
            assert_eq!(Reader::new(&out).unwrap().version(), v);
            assert_eq!(
                read_header(&out).unwrap_err().kind(),
                ErrorKind::UnsupportedVersion(v)
            );
        }
    }

    #[test]
    fn eof_before_an_argument_ends_quietly() {
        // GoStart dt=1 g=2, then EOF before g_seq.
        let t = trace(&[8, 5, 16, 1, 2]);
        let (evs, err) = texts(&t);
        assert_eq!(evs, ["Frequency freq=5"]);
        assert!(err.is_none());
    }

    #[test]
    fn eof_inside_a_varint_is_an_error() {
        let t = trace(&[8, 0x80]);
        let (evs, err) = texts(&t);
        assert!(evs.is_empty());
        let e = err.unwrap();
        assert_eq!(e.kind(), ErrorKind::UnexpectedEof);
        assert_eq!(e.offset(), Some(16));
    }

    #[test]
    fn eof_inside_data_ends_quietly() {
        let t = trace(&[5, 1, 4, b'a', b'b']);
        assert_eq!(texts(&t), (vec![], None));
    }

    #[test]
    fn type_bytes_like_go() {
        let (evs, err) = texts(&trace(&[60, 0]));
        assert_eq!(evs, [""]);
        assert_eq!(err.unwrap().kind(), ErrorKind::UnknownEvent(0));
        let (_, err) = texts(&trace(&[137]));
        assert_eq!(
            err.unwrap().to_string(),
            "offset 16: invalid event type: 137"
        );
    }

    #[test]
    fn new_at_resumes_between_events() {
        let t = trace(&[8, 5, 8, 6, 8, 7]);
        let mut r = Reader::new(&t).unwrap();
        r.next().unwrap().unwrap();
        let at = r.offset();
        let rest: Vec<String> = Reader::new_at(&t, at)
            .unwrap()
            .map(|e| e.unwrap().to_string())
            .collect();
        assert_eq!(rest, ["Frequency freq=6", "Frequency freq=7"]);
        assert_eq!(Reader::new_at(&t, t.len()).unwrap().count(), 0);
        assert_eq!(
            Reader::new_at(&t, 3).unwrap_err().kind(),
            ErrorKind::BadBatch
        );
        assert_eq!(
            Reader::new_at(&t, t.len() + 1).unwrap_err().kind(),
            ErrorKind::BadBatch
        );
    }

    #[test]
    fn overflow_is_an_error() {
        let mut body = vec![8];
        body.extend_from_slice(&[0xff; 9]);
        body.push(2);
        let (_, err) = texts(&trace(&body));
        assert_eq!(err.unwrap().kind(), ErrorKind::BadVarint);
        let mut body = vec![8];
        body.extend_from_slice(&[0xff; 11]);
        let (_, err) = texts(&trace(&body));
        assert_eq!(err.unwrap().kind(), ErrorKind::BadVarint);
    }

    #[test]
    fn huge_counts_read_nothing_like_go() {
        // Stack id=1 nframes=2^63 -> no frames; String with length 2^63 -> no data.
        let mut body = vec![3, 1];
        body.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
        body.extend_from_slice(&[5, 2]);
        body.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
        body.extend_from_slice(&[4]);
        let t = trace(&body);
        let (evs, err) = texts(&t);
        assert!(err.is_none());
        assert_eq!(
            evs,
            [
                "Stack id=1 nframes=9223372036854775808",
                "String id=2",
                "Strings"
            ]
        );
    }

    #[test]
    fn padded_sizes_keep_their_bytes() {
        let mut body = vec![1, 1, 0, 0];
        body.extend_from_slice(&gort_tracer::wire::varint::padded_uvarint(2));
        body.extend_from_slice(&[8, 100]);
        let t = trace(&body);
        let ev = Reader::new(&t).unwrap().next().unwrap().unwrap();
        assert_eq!(ev.args(), [1, 0, 0, 2]);
        assert_eq!(ev.wire_bytes(), Some(&body[..14]));
    }
}
