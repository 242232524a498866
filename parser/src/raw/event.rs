//! One wire-level event: type byte, arguments, stack frames, data.
//!
//! A [`RawEvent`] is what the raw reader decodes and the raw writer encodes.
//! It borrows what it can from the input: stack frames stay encoded (decoded
//! on demand by [`RawEvent::frames`]) and string data is a slice of the input.
//! When the input spelled the event in a non-minimal way (runtimes pad batch
//! sizes to ten bytes so they can patch them), the event keeps its exact
//! bytes so that writing it back reproduces the input.

use std::borrow::Cow;
use std::fmt;

use gort_tracer::wire::varint::{read_uvarint, write_uvarint};
use gort_tracer::wire::{EventType, Format};

use super::pieces::texts;
use super::quote::quote_into;
use super::sink::TextSink;
use crate::error::{Error, ErrorKind, Result};

pub(super) const MAX_ARGS: usize = EventType::MAX_ARGS;

/// The table version events get unless a reader says otherwise.
const NEWEST_TABLE: u8 = Format::Go126.table_version();

/// Field names of the four values of a stack frame, in wire order.
pub const FRAME_FIELDS: [&str; 4] = ["pc", "func", "file", "line"];

/// A wire event, decoded without any validation.
///
/// The type byte may be one that the trace's format leaves undefined but Go's
/// raw reader still accepts (50 to 127 in go 1.22/1.23 traces, 53 to 127
/// later): such an event has no arguments and an empty name, exactly as Go's
/// raw reader reports it. An event remembers which event table named it (see
/// [`Format::table_version`]).
#[derive(Clone, PartialEq, Eq)]
pub struct RawEvent<'a> {
    ty: u8,
    /// The version of the event table the type byte is read with.
    table: u8,
    nargs: u8,
    args: [u64; MAX_ARGS],
    /// Stack frames as consecutive uvarints (four per frame).
    frames: Cow<'a, [u8]>,
    /// Number of uvarints in `frames`.
    frame_values: usize,
    data: Option<Cow<'a, [u8]>>,
    /// The event's exact encoding, kept only when it is not the minimal one.
    wire: Option<Cow<'a, [u8]>>,
}

impl<'a> RawEvent<'a> {
    /// An event of type `ty` with arguments `args` (for timed events the
    /// first one is the timestamp delta), no frames and no data.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BadBatch`] if `args` does not have the length the event
    /// table gives for `ty`.
    pub fn new(ty: EventType, args: &[u64]) -> Result<RawEvent<'static>> {
        if args.len() != ty.arg_count() {
            return Err(Error::new(
                ErrorKind::BadBatch,
                format!(
                    "{} takes {} arguments, got {}",
                    ty.name(),
                    ty.arg_count(),
                    args.len()
                ),
            ));
        }
        let mut a = [0u64; MAX_ARGS];
        a[..args.len()].copy_from_slice(args);
        Ok(RawEvent::from_parts(ty as u8, a, args.len()))
    }

    /// Assembles an event from decoded pieces (`nargs <= MAX_ARGS`).
    pub(crate) fn from_parts(ty: u8, args: [u64; MAX_ARGS], nargs: usize) -> RawEvent<'a> {
        RawEvent {
            ty,
            table: NEWEST_TABLE,
            nargs: nargs.min(MAX_ARGS) as u8,
            args,
            frames: Cow::Borrowed(&[]),
            frame_values: 0,
            data: None,
            wire: None,
        }
    }

    /// Overwrites every field with what the reader decoded.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub(crate) fn fill(
        &mut self,
        ty: u8,
        table: u8,
        args: &[u64; MAX_ARGS],
        nargs: usize,
        frames: &'a [u8],
        frame_values: usize,
        data: Option<&'a [u8]>,
        wire: Option<&'a [u8]>,
    ) {
        self.ty = ty;
        self.table = table;
        self.nargs = nargs.min(MAX_ARGS) as u8;
        self.args = *args;
        self.frames = Cow::Borrowed(frames);
        self.frame_values = frame_values;
        self.data = data.map(Cow::Borrowed);
        self.wire = wire.map(Cow::Borrowed);
    }

    /// Sets the frames from their encoded uvarints (`count` values).
    pub(crate) fn set_encoded_frames(&mut self, frames: Cow<'a, [u8]>, count: usize) {
        self.frames = frames;
        self.frame_values = count;
    }

    /// Replaces the stack frames (for `Stack` events; `[pc, func, file, line]`
    /// each). The `nframes` argument is not changed.
    #[must_use]
    pub fn with_frames(mut self, frames: &[[u64; 4]]) -> RawEvent<'a> {
        let mut enc = Vec::with_capacity(frames.len() * 8);
        for v in frames.iter().flatten() {
            write_uvarint(&mut enc, *v);
        }
        self.frames = Cow::Owned(enc);
        self.frame_values = frames.len() * 4;
        self.wire = None;
        self
    }

    /// Replaces the trailing data (for `String` and `ExperimentalBatch`).
    #[must_use]
    pub fn with_data(mut self, data: impl Into<Cow<'a, [u8]>>) -> RawEvent<'a> {
        self.data = Some(data.into());
        self.wire = None;
        self
    }

    /// The type byte as read.
    #[inline]
    pub fn type_byte(&self) -> u8 {
        self.ty
    }

    /// Reads the type byte with the event table of format `f` (the
    /// readers do this for every event they make).
    #[must_use]
    pub fn in_format(mut self, f: Format) -> RawEvent<'a> {
        self.table = f.table_version();
        self
    }

    /// The event type, or `None` for a byte the event's table leaves
    /// undefined.
    #[inline]
    pub fn event_type(&self) -> Option<EventType> {
        match EventType::from_u8(self.ty) {
            Some(t) if t.spec().since <= self.table => Some(t),
            _ => None,
        }
    }

    /// The event's Go name (empty for undefined type bytes, as in Go).
    #[inline]
    pub fn name(&self) -> &'static str {
        self.event_type().map_or("", EventType::name)
    }

    /// The arguments in wire order, without stack frames.
    #[inline]
    pub fn args(&self) -> &[u64] {
        &self.args[..usize::from(self.nargs)]
    }

    /// The argument called `name` in the event table (`"g"`, `"size"`, ...).
    pub fn arg(&self, name: &str) -> Option<u64> {
        let spec = self.event_type()?.spec();
        let i = spec.args.iter().position(|&n| n == name)?;
        self.args().get(i).copied()
    }

    /// Number of stack-frame values (four per frame).
    #[inline]
    pub fn frame_value_count(&self) -> usize {
        self.frame_values
    }

    /// The stack frames, `[pc, func, file, line]` each.
    pub fn frames(&self) -> Frames<'_> {
        Frames {
            bytes: &self.frames,
            left: self.frame_values / 4,
        }
    }

    /// The trailing data, if the event has any (Go's raw reader reports an
    /// empty string as no data).
    #[inline]
    pub fn data(&self) -> Option<&[u8]> {
        self.data.as_deref()
    }

    /// The exact input bytes of this event, when they differ from the minimal
    /// encoding of its values.
    #[inline]
    pub fn wire_bytes(&self) -> Option<&[u8]> {
        self.wire.as_deref()
    }

    /// The stack frames' encoded uvarints.
    pub(crate) fn encoded_frames(&self) -> &[u8] {
        &self.frames
    }

    /// Copies whatever is borrowed, so the event outlives its input.
    pub fn into_owned(self) -> RawEvent<'static> {
        RawEvent {
            ty: self.ty,
            table: self.table,
            nargs: self.nargs,
            args: self.args,
            frames: Cow::Owned(self.frames.into_owned()),
            frame_values: self.frame_values,
            data: self.data.map(|d| Cow::Owned(d.into_owned())),
            wire: self.wire.map(|w| Cow::Owned(w.into_owned())),
        }
    }

    /// Appends the event's text form (Go's `raw.Event.String()`, the
    /// `go tool trace -d=2` line, without the final newline) to `out`.
    pub fn write_text(&self, out: &mut String) {
        self.text_into(out);
    }

    /// Like [`write_text`](Self::write_text), into a byte buffer (the text is
    /// always valid UTF-8).
    pub fn write_text_bytes(&self, out: &mut Vec<u8>) {
        self.text_into(out);
    }

    fn text_into<O: TextSink>(&self, out: &mut O) {
        let text = &texts(self.table)[usize::from(self.ty)];
        out.put_head(text, self.args());
        if self.frame_values > 0 {
            for (i, v) in self.frame_values().enumerate() {
                out.put(if i % 4 == 0 { "\n\t" } else { " " });
                out.put(FRAME_FIELDS[i % 4]);
                out.put_ascii(b'=');
                out.put_u64(v);
            }
        }
        if let Some(d) = self.data() {
            out.put("\n\tdata=");
            quote_into(out, d);
        }
    }

    fn frame_values(&self) -> impl Iterator<Item = u64> + '_ {
        self.frames().flatten()
    }
}

impl Default for RawEvent<'_> {
    /// A placeholder to decode into with
    /// [`Reader::read_into`](super::Reader::read_into): type byte 0 (no event
    /// has it), no arguments, no frames, no data.
    fn default() -> Self {
        RawEvent::from_parts(0, [0; MAX_ARGS], 0)
    }
}

impl fmt::Display for RawEvent<'_> {
    /// Go's `raw.Event.String()`: the `-d=2` line(s) for this event.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.write_text(&mut s);
        f.write_str(&s)
    }
}

impl fmt::Debug for RawEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RawEvent");
        d.field("ty", &self.ty)
            .field("name", &self.name())
            .field("args", &self.args());
        if self.frame_values > 0 {
            d.field("frames", &self.frames().collect::<Vec<_>>());
        }
        if let Some(data) = self.data() {
            d.field("data", &super::quote::quote(data));
        }
        if let Some(w) = self.wire_bytes() {
            d.field("wire_len", &w.len());
        }
        d.finish()
    }
}

/// Iterator over a [`RawEvent`]'s stack frames, `[pc, func, file, line]` each.
#[derive(Clone, Debug)]
pub struct Frames<'e> {
    bytes: &'e [u8],
    left: usize,
}

impl Iterator for Frames<'_> {
    type Item = [u64; 4];

    fn next(&mut self) -> Option<[u64; 4]> {
        if self.left == 0 {
            return None;
        }
        let mut frame = [0u64; 4];
        for v in &mut frame {
            // The bytes were checked when the event was built.
            let (x, n) = read_uvarint(self.bytes).ok()?;
            *v = x;
            self.bytes = self.bytes.get(n..)?;
        }
        self.left -= 1;
        Some(frame)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_args_covers_the_table() {
        assert_eq!(MAX_ARGS, 5);
    }

    #[test]
    fn text_form_matches_go() {
        let ev = RawEvent::new(EventType::GoStatus, &[1, 1, 7, 2]).unwrap();
        assert_eq!(ev.to_string(), "GoStatus dt=1 g=1 m=7 gstatus=2");
        let st = RawEvent::new(EventType::Stack, &[1, 2])
            .unwrap()
            .with_frames(&[[4198400, 1, 2, 10], [5, 6, 7, 8]]);
        assert_eq!(
            st.to_string(),
            "Stack id=1 nframes=2\n\tpc=4198400 func=1 file=2 line=10\n\tpc=5 func=6 file=7 line=8"
        );
        let s = RawEvent::new(EventType::String, &[3])
            .unwrap()
            .with_data(&b"a\"\x00"[..]);
        assert_eq!(s.to_string(), "String id=3\n\tdata=\"a\\\"\\x00\"");
        assert_eq!(
            RawEvent::new(EventType::Stacks, &[]).unwrap().to_string(),
            "Stacks"
        );
        assert_eq!(s.arg("id"), Some(3));
        assert_eq!(s.arg("nope"), None);
    }

    #[test]
    fn new_checks_the_argument_count() {
        let e = RawEvent::new(EventType::GoStart, &[1, 2]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadBatch);
    }
}
