//! The text form of a trace (Go's raw test-data format): reading and writing.
//!
//! A text trace is the `Trace Go1.N` header line followed by each event's
//! [`Display`](std::fmt::Display) text on its own line(s); see the
//! [module documentation](super) for the grammar. The reader follows Go 1.23's
//! `raw.TextReader`, with messages worded as Go's, and two liberties:
//!
//! - lines may be of any length (Go's line scanner stops at 64 KiB);
//! - the `data=` line of a `String` or `ExperimentalBatch` event may be
//!   missing, meaning no data. Go's raw reader reports empty data as none, and
//!   its text writer then writes no `data=` line, so this keeps
//!   binary → text → binary lossless.

use std::borrow::Cow;
use std::io::Write;

use gort_tracer::wire::varint::write_uvarint;
use gort_tracer::wire::{EventType, Format};

use super::event::{RawEvent, FRAME_FIELDS, MAX_ARGS};
use super::quote::{decode_rune, quote, unquote};
use super::reader::Reader;
use crate::error::{Error, ErrorKind, Result};

/// Reads a text trace, one [`RawEvent`] at a time.
///
/// # Examples
///
/// ```
/// use gort_parser::raw::TextReader;
///
/// let text = b"Trace Go1.23\nEventBatch gen=1 m=0 time=0 size=2\nFrequency freq=100\n";
/// let r = TextReader::new(text).unwrap();
/// assert_eq!(r.version(), 23);
/// let names: Vec<&str> = r.map(|e| e.unwrap().name()).collect();
/// assert_eq!(names, ["EventBatch", "Frequency"]);
/// ```
#[derive(Debug, Clone)]
pub struct TextReader<'a> {
    rest: &'a [u8],
    line_no: usize,
    /// A line read ahead while looking for a `data=` line.
    pending: Option<(usize, &'a [u8])>,
    version: u32,
    done: bool,
}

impl<'a> TextReader<'a> {
    /// Reads the header line of `text`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Text`] for a malformed header,
    /// [`ErrorKind::UnsupportedVersion`] for a version other than 1.22, 1.23,
    /// 1.25 and 1.26.
    pub fn new(text: &'a [u8]) -> Result<TextReader<'a>> {
        let mut r = TextReader {
            rest: text,
            line_no: 0,
            pending: None,
            version: 0,
            done: false,
        };
        let Some((n, line)) = r.next_line() else {
            return Err(text_err(0, "failed to parse header".into()));
        };
        let (trace, line) = read_token(line);
        if trace != b"Trace" {
            return Err(text_err(n, "failed to parse header".into()));
        }
        let (gover, line) = read_token(line);
        let Some(minor) = gover.strip_prefix(b"Go1.") else {
            return Err(text_err(n, "failed to parse header Go version".into()));
        };
        let v = parse_u64(minor).ok_or_else(|| {
            text_err(
                n,
                format!(
                    "failed to parse header Go version: strconv.ParseUint: parsing {}: invalid syntax",
                    quote(minor)
                ),
            )
        })?;
        match v {
            22 | 23 | 25 | 26 => r.version = v as u32,
            _ => {
                return Err(Error::new(
                    ErrorKind::UnsupportedVersion(u32::try_from(v).unwrap_or(u32::MAX)),
                    format!("line {n}: unknown or unsupported Go version 1.{v}"),
                ))
            }
        }
        if !all_space(line) {
            return Err(text_err(
                n,
                format!(
                    "encountered unexpected non-space at the end of the header: {}",
                    quote(line)
                ),
            ));
        }
        Ok(r)
    }

    /// The Go minor version in the header (22, 23, 25 or 26).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The next line holding a token (blank and `#` comment lines skipped),
    /// with its 1-based number.
    fn next_line(&mut self) -> Option<(usize, &'a [u8])> {
        if let Some(p) = self.pending.take() {
            return Some(p);
        }
        while !self.rest.is_empty() {
            let (line, rest) = match self.rest.iter().position(|&b| b == b'\n') {
                Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
                None => (self.rest, &b""[..]),
            };
            self.rest = rest;
            self.line_no += 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if !read_token(line).0.is_empty() {
                return Some((self.line_no, line));
            }
        }
        None
    }

    /// Reads the next event; `Ok(None)` at the end of the text.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Text`] with Go's wording and the line number. After an
    /// error the reader is finished.
    pub fn read_event(&mut self) -> Result<Option<RawEvent<'static>>> {
        if self.done {
            return Ok(None);
        }
        let r = self.read_event_inner();
        if !matches!(r, Ok(Some(_))) {
            self.done = true;
        }
        r
    }

    fn read_event_inner(&mut self) -> Result<Option<RawEvent<'static>>> {
        let Some((n, line)) = self.next_line() else {
            return Ok(None);
        };
        let (name, line) = read_token(line);
        let format = Format::from_minor(self.version).unwrap_or(Format::Go123);
        let Some(ty) = std::str::from_utf8(name)
            .ok()
            .and_then(|n| EventType::from_name_in(n, format))
        else {
            return Err(text_err(
                n,
                format!("unidentified event: {}", String::from_utf8_lossy(name)),
            ));
        };
        let spec = ty.spec();
        let mut args = [0u64; MAX_ARGS];
        let nargs = spec.args.len().min(MAX_ARGS);
        read_args(line, &spec.args[..nargs], &mut args[..nargs])
            .map_err(|m| text_err(n, format!("reading args for {}: {m}", ty.name())))?;
        let mut ev = RawEvent::from_parts(ty as u8, args, nargs).in_format(format);
        if spec.is_stack {
            // As in Go, a count that is negative as a signed integer means no frames.
            let want = i64::try_from(args[1]).unwrap_or(0);
            let mut enc = Vec::new();
            let mut got = 0i64;
            while got < want {
                let Some((fl, fline)) = self.next_line() else {
                    return Err(text_err(
                        n,
                        format!(
                            "unexpected EOF while reading stack: args={}",
                            go_slice(&args[..nargs])
                        ),
                    ));
                };
                let mut frame = [0u64; 4];
                read_args(fline, &FRAME_FIELDS, &mut frame).map_err(|m| text_err(fl, m))?;
                for v in frame {
                    write_uvarint(&mut enc, v);
                }
                got += 1;
            }
            ev.set_encoded_frames(Cow::Owned(enc), (got as usize).saturating_mul(4));
        }
        if spec.has_data {
            if let Some((dl, dline)) = self.next_line() {
                match split_data_line(dline) {
                    Some(quoted) => {
                        let data = unquote(trim_space(quoted)).map_err(|e| {
                            text_err(
                                dl,
                                format!("failed to parse data: {}: {}", quote(dline), e.message()),
                            )
                        })?;
                        ev = ev.with_data(data);
                    }
                    None => self.pending = Some((dl, dline)),
                }
            }
        }
        Ok(Some(ev))
    }
}

impl Iterator for TextReader<'_> {
    type Item = Result<RawEvent<'static>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.read_event().transpose()
    }
}

impl std::iter::FusedIterator for TextReader<'_> {}

fn text_err(line: usize, msg: String) -> Error {
    Error::new(ErrorKind::Text, format!("line {line}: {msg}"))
}

/// `[1 2 3]`, Go's `%v` of a `[]uint64`.
fn go_slice(v: &[u64]) -> String {
    let parts: Vec<String> = v.iter().map(u64::to_string).collect();
    format!("[{}]", parts.join(" "))
}

/// Go's `unicode.IsSpace` on the rune at the start of `s`, and its width.
fn space_at(s: &[u8]) -> (bool, usize) {
    let (c, w) = decode_rune(s);
    (c.is_some_and(char::is_whitespace), w.max(1))
}

fn all_space(mut s: &[u8]) -> bool {
    while !s.is_empty() {
        let (sp, w) = space_at(s);
        if !sp {
            return false;
        }
        s = &s[w..];
    }
    true
}

fn trim_space(mut s: &[u8]) -> &[u8] {
    while !s.is_empty() {
        let (sp, w) = space_at(s);
        if !sp {
            break;
        }
        s = &s[w..];
    }
    // Trailing: find the last non-space rune boundary by scanning forward.
    let mut end = 0;
    let mut i = 0;
    while i < s.len() {
        let (sp, w) = space_at(&s[i..]);
        i += w;
        if !sp {
            end = i;
        }
    }
    &s[..end]
}

/// The first token of `s` and what follows it. Tokens are separated by
/// Unicode white space; `#` starts a comment (an empty token if it comes first).
fn read_token(s: &[u8]) -> (&[u8], &[u8]) {
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'#' {
            return (b"", b"");
        }
        let (sp, w) = space_at(&s[i..]);
        if !sp {
            break;
        }
        i += w;
    }
    if i >= s.len() {
        return (b"", b"");
    }
    let start = i;
    while i < s.len() {
        if s[i] == b'#' {
            break;
        }
        let (sp, w) = space_at(&s[i..]);
        if sp {
            break;
        }
        i += w;
    }
    (&s[start..i], &s[i..])
}

/// Go's `strconv.ParseUint(s, 10, 64)` success case.
fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// Reads `name=value` tokens for `names` into `out`; the rest must be blank.
fn read_args(mut s: &[u8], names: &[&str], out: &mut [u64]) -> std::result::Result<(), String> {
    for (name, slot) in names.iter().zip(out.iter_mut()) {
        let (tok, rest) = read_token(s);
        if tok.is_empty() {
            return Err("no argument".into());
        }
        let Some(eq) = tok.iter().position(|&b| b == b'=') else {
            return Err(format!("malformed argument: {}", quote(tok)));
        };
        let (arg, value) = (&tok[..eq], &tok[eq + 1..]);
        if arg != name.as_bytes() {
            return Err(format!(
                "expected argument {}, but got {}",
                quote(name.as_bytes()),
                quote(arg)
            ));
        }
        *slot = parse_u64(value).ok_or_else(|| {
            format!(
                "failed to parse argument value {} for arg {}",
                quote(value),
                quote(arg)
            )
        })?;
        s = rest;
    }
    if !all_space(s) {
        return Err(format!(
            "encountered unexpected non-space at the end of an event: {}",
            quote(s)
        ));
    }
    Ok(())
}

/// For a `data=...` line, the text after the first `=`.
fn split_data_line(line: &[u8]) -> Option<&[u8]> {
    let eq = line.iter().position(|&b| b == b'=')?;
    (trim_space(&line[..eq]) == b"data").then(|| &line[eq + 1..])
}

/// Writes the text form: the header line, then one event per line (a stack's
/// frames and an event's data on indented lines of their own).
#[derive(Debug)]
pub struct TextWriter<W: Write> {
    out: W,
    buf: String,
}

impl<W: Write> TextWriter<W> {
    /// Starts a text trace of version `Go1.<version>`.
    ///
    /// # Errors
    ///
    /// Never at present (output is buffered); kept for symmetry with [`Writer`](super::Writer).
    pub fn new(out: W, version: u32) -> Result<TextWriter<W>> {
        let mut buf = String::with_capacity(FLUSH_AT + 1024);
        buf.push_str("Trace Go1.");
        buf.push_str(&version.to_string());
        buf.push('\n');
        Ok(TextWriter { out, buf })
    }

    /// Writes one event and its newline.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] if the sink fails.
    pub fn write_event(&mut self, ev: &RawEvent<'_>) -> Result<()> {
        ev.write_text(&mut self.buf);
        self.buf.push('\n');
        if self.buf.len() >= FLUSH_AT {
            self.out.write_all(self.buf.as_bytes())?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Flushes everything and returns the sink.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] if the sink fails.
    pub fn finish(mut self) -> Result<W> {
        self.out.write_all(self.buf.as_bytes())?;
        self.buf.clear();
        self.out.flush()?;
        Ok(self.out)
    }
}

const FLUSH_AT: usize = 64 << 10;

/// Converts a text trace to a binary trace (minimal encoding, as Go's
/// `raw.Writer`).
///
/// # Errors
///
/// As [`TextReader`].
pub fn text_to_binary(text: &[u8]) -> Result<Vec<u8>> {
    let r = TextReader::new(text)?;
    let mut w = super::Writer::new(Vec::with_capacity(text.len() / 2), r.version())?;
    for ev in r {
        w.write_event(&ev?)?;
    }
    w.finish()
}

/// Converts a binary trace to the text form; stops at the end Go's raw reader
/// would stop at.
///
/// # Errors
///
/// As [`Reader`].
pub fn binary_to_text(bin: &[u8]) -> Result<String> {
    let r = Reader::new(bin)?;
    let mut w = TextWriter::new(Vec::with_capacity(bin.len() * 4), r.version())?;
    for ev in r {
        w.write_event(&ev?)?;
    }
    let bytes = w.finish()?;
    // Event texts are ASCII apart from quoted data, which is valid UTF-8.
    String::from_utf8(bytes).map_err(|_| Error::new(ErrorKind::Text, "text form is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_follow_go() {
        assert_eq!(read_token(b"  ab cd"), (&b"ab"[..], &b" cd"[..]));
        assert_eq!(read_token(b"ab#c"), (&b"ab"[..], &b"#c"[..]));
        assert_eq!(read_token(b"  # x"), (&b""[..], &b""[..]));
        assert_eq!(read_token("\u{a0}x\u{2003}y".as_bytes()).0, b"x");
        assert_eq!(read_token(b"\xffx y").0, b"\xffx");
    }

    #[test]
    fn parse_u64_is_strict() {
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        for bad in [
            &b""[..],
            b"+1",
            b"-1",
            b"1_0",
            b"18446744073709551616",
            b"0x1",
        ] {
            assert_eq!(parse_u64(bad), None);
        }
    }

    #[test]
    fn reads_stacks_data_comments_and_blank_lines() {
        let text = b"# c\nTrace Go1.22 \n\nStack id=1 nframes=1 # x\n".to_vec();
        // A comment after the arguments is an error in Go.
        let mut r = TextReader::new(&text).unwrap();
        let e = r.next().unwrap().unwrap_err();
        assert!(e.to_string().contains("reading args for Stack"), "{e}");
        assert!(r.next().is_none());

        let text = b"Trace Go1.23\r\nStack id=1 nframes=1\r\n\tpc=1 func=2 file=3 line=4\nString id=2\n\t data = \"a\\nb\"  \nStrings\n";
        let evs: Vec<RawEvent<'_>> = TextReader::new(text).unwrap().map(|e| e.unwrap()).collect();
        assert_eq!(evs.len(), 3);
        assert_eq!(evs[0].frames().collect::<Vec<_>>(), [[1, 2, 3, 4]]);
        assert_eq!(evs[1].data(), Some(&b"a\nb"[..]));
        assert_eq!(evs[2].name(), "Strings");
    }

    #[test]
    fn missing_data_line_means_no_data() {
        let text = b"Trace Go1.23\nString id=2\nStrings\nString id=3\n";
        let evs: Vec<String> = TextReader::new(text)
            .unwrap()
            .map(|e| e.unwrap().to_string())
            .collect();
        assert_eq!(evs, ["String id=2", "Strings", "String id=3"]);
    }

    #[test]
    fn errors_read_like_go() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "line 0: failed to parse header"),
            (b"Trace Go2.1\n", "line 1: failed to parse header Go version"),
            (b"Trace Go1.21\n", "line 1: unknown or unsupported Go version 1.21"),
            (b"Trace Go1.23 x\n", "line 1: encountered unexpected non-space at the end of the header: \" x\""),
            (b"Trace Go1.23\nNope a=1\n", "line 2: unidentified event: Nope"),
            (b"Trace Go1.23\nFrequency\n", "line 2: reading args for Frequency: no argument"),
            (b"Trace Go1.23\nFrequency f=1\n", "line 2: reading args for Frequency: expected argument \"freq\", but got \"f\""),
            (b"Trace Go1.23\nFrequency freq\n", "line 2: reading args for Frequency: malformed argument: \"freq\""),
            (b"Trace Go1.23\nFrequency freq=x\n", "line 2: reading args for Frequency: failed to parse argument value \"x\" for arg \"freq\""),
            (b"Trace Go1.23\nStack id=1 nframes=2\npc=1 func=2 file=3 line=4\n", "line 2: unexpected EOF while reading stack: args=[1 2]"),
            (b"Trace Go1.23\nString id=1\ndata=\"x\n", "line 3: failed to parse data: \"data=\\\"x\": invalid syntax"),
        ];
        for (text, want) in cases {
            let got = TextReader::new(text).and_then(|r| r.collect::<Result<Vec<_>>>());
            assert_eq!(got.unwrap_err().to_string(), *want);
        }
    }

    #[test]
    fn binary_text_binary_is_lossless_for_minimal_traces() {
        let text = "Trace Go1.23\nEventBatch gen=1 m=18446744073709551615 time=5 size=9\nStrings\nString id=1\n\tdata=\"\\xff\\u00a0é\"\nString id=2\nStack id=1 nframes=1\n\tpc=1 func=2 file=3 line=4\n";
        let bin = text_to_binary(text.as_bytes()).unwrap();
        assert_eq!(binary_to_text(&bin).unwrap(), text);
    }
}
