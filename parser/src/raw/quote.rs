//! Go string quoting: `strconv.Quote` (`%q`) and `strconv.Unquote`, byte-exact.
//!
//! Go dumps print trace strings with `strconv.Quote`; the text form reads them
//! back with `strconv.Unquote`. Both work on bytes, not on Rust strings, since
//! a trace string may hold any bytes. Quoting rules, in order, per rune:
//!
//! 1. a byte that does not start a valid UTF-8 sequence becomes `\xNN`
//!    (lower-case hex), and decoding resumes at the next byte;
//! 2. `"` and `\` get a backslash;
//! 3. a rune that Go's `IsPrint` accepts (letters, marks, numbers,
//!    punctuation, symbols, ASCII space) is written as itself;
//! 4. `\a \b \f \n \r \t \v` use their short escapes;
//! 5. other runes below U+0020, and U+007F, become `\xNN`; the rest become
//!    `\uNNNN`, or `\UNNNNNNNN` above U+FFFF.

use super::isprint;
use super::sink::TextSink;
use crate::error::{Error, ErrorKind, Result};

const LOWER_HEX: &[u8; 16] = b"0123456789abcdef";

/// Go's `strconv.Quote(string(bytes))`, the `%q` verb for a Go string.
///
/// # Examples
///
/// ```
/// use gort_parser::raw::quote;
///
/// assert_eq!(quote(b"main.main"), r#""main.main""#);
/// assert_eq!(quote(b"tab\there \"\xff\" \xc2\xa0 \xe2\x82\xac"), r#""tab\there \"\xff\" \u00a0 €""#);
/// ```
pub fn quote(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 2);
    write_quoted(&mut s, bytes);
    s
}

/// Appends Go's `strconv.Quote(string(bytes))` to `out`.
pub fn write_quoted(out: &mut String, bytes: &[u8]) {
    quote_into(out, bytes);
}

/// Appends Go's `strconv.Quote(string(bytes))` to a byte buffer (always
/// valid UTF-8).
pub fn write_quoted_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    quote_into(out, bytes);
}

/// Whether Go's `strconv.IsPrint` (and so `strconv.Quote`) treats `c` as
/// printable, per Go 1.23's Unicode 15.0.0 tables.
pub fn is_go_printable(c: char) -> bool {
    isprint::is_print(c)
}

pub(crate) fn quote_into<O: TextSink>(out: &mut O, bytes: &[u8]) {
    out.put_ascii(b'"');
    for chunk in bytes.utf8_chunks() {
        // Fast path: a run of printable ASCII needing no escape is copied whole.
        let mut rest = chunk.valid();
        while !rest.is_empty() {
            let plain = rest
                .bytes()
                .position(|b| !(0x20..0x7f).contains(&b) || b == b'"' || b == b'\\')
                .unwrap_or(rest.len());
            let (head, tail) = rest.split_at(plain);
            out.put(head);
            let mut chars = tail.chars();
            if let Some(c) = chars.next() {
                push_rune(out, c);
            }
            rest = chars.as_str();
        }
        // Every byte of an invalid sequence is invalid on its own for Go: the
        // bytes after its first are continuation bytes, which start no rune.
        for &b in chunk.invalid() {
            push_hex_byte(out, b);
        }
    }
    out.put_ascii(b'"');
}

fn push_hex_byte<O: TextSink>(out: &mut O, b: u8) {
    out.put("\\x");
    out.put_ascii(LOWER_HEX[usize::from(b >> 4)]);
    out.put_ascii(LOWER_HEX[usize::from(b & 0xf)]);
}

fn push_rune<O: TextSink>(out: &mut O, c: char) {
    match c {
        '"' | '\\' => {
            out.put_ascii(b'\\');
            out.put_char(c);
        }
        c if isprint::is_print(c) => out.put_char(c),
        '\x07' => out.put("\\a"),
        '\x08' => out.put("\\b"),
        '\x0c' => out.put("\\f"),
        '\n' => out.put("\\n"),
        '\r' => out.put("\\r"),
        '\t' => out.put("\\t"),
        '\x0b' => out.put("\\v"),
        c if c < ' ' || c == '\x7f' => push_hex_byte(out, c as u8),
        c => {
            let v = u32::from(c);
            let digits = if v < 0x10000 {
                out.put("\\u");
                4
            } else {
                out.put("\\U");
                8
            };
            for i in (0..digits).rev() {
                let nibble = (v >> (4 * i)) & 0xf;
                out.put_ascii(LOWER_HEX[nibble as usize]);
            }
        }
    }
}

/// Decodes one rune Go's way: `(Some(c), width)` for a valid UTF-8 sequence,
/// `(None, 1)` for an invalid byte (Go's `RuneError` of width 1).
/// `bytes` must not be empty.
pub(crate) fn decode_rune(bytes: &[u8]) -> (Option<char>, usize) {
    let Some(&b0) = bytes.first() else {
        return (None, 0);
    };
    if b0 < 0x80 {
        return (Some(char::from(b0)), 1);
    }
    let width = match b0 {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return (None, 1),
    };
    match bytes.get(..width).map(std::str::from_utf8) {
        Some(Ok(s)) => (s.chars().next(), width),
        _ => (None, 1),
    }
}

/// Go's `strconv.Unquote`: the bytes that a Go string literal (`"..."`,
/// `` `...` `` or a one-rune `'...'`) stands for.
///
/// # Errors
///
/// [`ErrorKind::Text`] with Go's message `invalid syntax` when `s` is not
/// exactly one valid literal.
///
/// # Examples
///
/// ```
/// use gort_parser::raw::unquote;
///
/// assert_eq!(unquote(br#""a\x00\u00e9\101""#).unwrap(), b"a\x00\xc3\xa9A");
/// assert!(unquote(br#""unterminated"#).is_err());
/// ```
pub fn unquote(s: &[u8]) -> Result<Vec<u8>> {
    let syntax = || Error::new(ErrorKind::Text, "invalid syntax");
    let (&q, body) = s.split_first().ok_or_else(syntax)?;
    match q {
        b'`' => {
            let (&last, inner) = body.split_last().ok_or_else(syntax)?;
            if last != b'`' || inner.contains(&b'`') {
                return Err(syntax());
            }
            Ok(inner.iter().copied().filter(|&b| b != b'\r').collect())
        }
        b'"' | b'\'' => {
            let mut out = Vec::with_capacity(body.len());
            let mut rest = body;
            let mut runes = 0usize;
            loop {
                let Some(&c) = rest.first() else {
                    return Err(syntax()); // no closing quote
                };
                if c == q {
                    rest = &rest[1..];
                    break;
                }
                if c == b'\n' || (q == b'\'' && runes == 1) {
                    return Err(syntax());
                }
                rest = unquote_char(rest, q, &mut out).ok_or_else(syntax)?;
                runes += 1;
            }
            if !rest.is_empty() || (q == b'\'' && runes != 1) {
                return Err(syntax());
            }
            Ok(out)
        }
        _ => Err(syntax()),
    }
}

/// Decodes one (possibly escaped) character at the start of `s` into `out`
/// and returns the rest, or `None` on a syntax error (Go's `UnquoteChar`).
fn unquote_char<'s>(s: &'s [u8], quote: u8, out: &mut Vec<u8>) -> Option<&'s [u8]> {
    let (&c, rest) = s.split_first()?;
    if c >= 0x80 {
        let (r, width) = decode_rune(s);
        push_char(out, r.unwrap_or(char::REPLACEMENT_CHARACTER));
        return s.get(width..);
    }
    if c != b'\\' {
        out.push(c);
        return Some(rest);
    }
    let (&e, mut rest) = rest.split_first()?;
    let simple = match e {
        b'a' => Some(0x07),
        b'b' => Some(0x08),
        b'f' => Some(0x0c),
        b'n' => Some(b'\n'),
        b'r' => Some(b'\r'),
        b't' => Some(b'\t'),
        b'v' => Some(0x0b),
        b'\\' => Some(b'\\'),
        b'\'' | b'"' if e == quote => Some(e),
        _ => None,
    };
    if let Some(b) = simple {
        out.push(b);
        return Some(rest);
    }
    match e {
        b'x' | b'u' | b'U' => {
            let n = match e {
                b'x' => 2,
                b'u' => 4,
                _ => 8,
            };
            let digits = rest.get(..n)?;
            let mut v: u32 = 0;
            for &d in digits {
                v = (v << 4) | char::from(d).to_digit(16)?;
            }
            rest = &rest[n..];
            if e == b'x' {
                out.push(v as u8); // two hex digits: at most 0xff
            } else {
                push_char(out, char::from_u32(v)?);
            }
            Some(rest)
        }
        b'0'..=b'7' => {
            let digits = rest.get(..2)?;
            let mut v = u32::from(e - b'0');
            for &d in digits {
                if !(b'0'..=b'7').contains(&d) {
                    return None;
                }
                v = (v << 3) | u32::from(d - b'0');
            }
            let b = u8::try_from(v).ok()?;
            out.push(b);
            Some(&rest[2..])
        }
        _ => None,
    }
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_go() {
        let cases: &[(&[u8], &str)] = &[
            (b"", r#""""#),
            (b"plain ascii", r#""plain ascii""#),
            (b"\x07\x08\x0c\n\r\t\x0b", r#""\a\b\f\n\r\t\v""#),
            (b"\x00\x1f\x7f", r#""\x00\x1f\x7f""#),
            (b"q\"b\\", r#""q\"b\\""#),
            (b"\xff\xfe", r#""\xff\xfe""#),
            // A truncated 3-byte sequence: each byte escaped on its own.
            (b"\xe2\x82A", r#""\xe2\x82A""#),
            // An encoded surrogate is invalid UTF-8.
            (b"\xed\xa0\x80", r#""\xed\xa0\x80""#),
            ("é€😀".as_bytes(), "\"é€😀\""),
            (
                "\u{a0}\u{ad}\u{2028}\u{feff}".as_bytes(),
                r#""\u00a0\u00ad\u2028\ufeff""#,
            ),
            (
                "\u{e0001}\u{10ffff}".as_bytes(),
                r#""\U000e0001\U0010ffff""#,
            ),
            ("\u{fffd}".as_bytes(), "\"\u{fffd}\""),
            ("\u{85}".as_bytes(), r#""\u0085""#),
        ];
        for (input, want) in cases {
            assert_eq!(quote(input), *want, "{input:?}");
            assert_eq!(unquote(want.as_bytes()).unwrap(), *input, "{want}");
        }
    }

    #[test]
    fn unquote_accepts_go_literal_forms() {
        assert_eq!(unquote(b"`raw\\n\r`").unwrap(), b"raw\\n");
        assert_eq!(unquote(b"'x'").unwrap(), b"x");
        assert_eq!(unquote("'é'".as_bytes()).unwrap(), "é".as_bytes());
        assert_eq!(unquote(br#"'\''"#).unwrap(), b"'");
        assert_eq!(unquote(br#""\377\000""#).unwrap(), b"\xff\x00");
        assert_eq!(unquote(br#""\U0001F600""#).unwrap(), "😀".as_bytes());
        // Invalid UTF-8 inside a literal reads as U+FFFD, as in Go.
        assert_eq!(unquote(b"\"\xff\"").unwrap(), "\u{fffd}".as_bytes());
    }

    #[test]
    fn unquote_rejects_what_go_rejects() {
        for bad in [
            &b""[..],
            b"\"",
            b"x",
            b"\"a\"b",
            b"\"a\nb\"",
            br#""\'""#,
            br#"'\"'"#,
            br#""\400""#,
            br#""\8""#,
            br#""\xg0""#,
            br#""\ud800""#,
            br#""\U00110000""#,
            br#""\q""#,
            b"''",
            b"'ab'",
            b"`a`b`",
            b"\"\\",
        ] {
            let e = unquote(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Text, "{bad:?}");
        }
    }

    #[test]
    fn decode_rune_matches_go_widths() {
        assert_eq!(decode_rune(b"a"), (Some('a'), 1));
        assert_eq!(decode_rune("é".as_bytes()), (Some('é'), 2));
        assert_eq!(decode_rune(b"\xc0\x80"), (None, 1));
        assert_eq!(decode_rune(b"\xe2\x82"), (None, 1));
        assert_eq!(decode_rune(b"\xf4\x90\x80\x80"), (None, 1));
    }
}
