//! The file header: `go 1.N trace` and three NULs (16 bytes as written).
//!
//! Go reads the header with `fmt.Fscanf(r, "go 1.%d trace\x00\x00\x00", &v)`
//! into a `uint32`, and [`scan_header`] accepts exactly what that call does:
//!
//! - each literal byte must match (`g`, `o`, `1`, `.`, `t`, ..., the NULs);
//! - each space of the pattern matches one or more white-space characters
//!   (Go's list: `\t`..`\r`, space, U+0085, U+00A0 and the other Unicode
//!   spaces, read as UTF-8) but not a newline;
//! - the number may be preceded by white space (no newline), is decimal
//!   digits only (leading zeros allowed, no sign) and must fit 32 bits.
//!
//! So the header need not be 16 bytes long (`go 1.0023 trace` plus three
//! NULs reads as 1.23 in 19 bytes), and `go 1.022 trace` plus two NULs is not
//! a header at all: the third NUL is missing.

/// The header every trace written by gort starts with.
pub const HEADER: &[u8; HEADER_LEN] = b"go 1.23 trace\0\0\0";
/// Length of the header as runtimes write it.
pub const HEADER_LEN: usize = 16;

/// What a header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// `go 1.N trace` with N one of the versions of [`Format`](super::Format)
    /// (22, 23, 25 or 26).
    Go1(u32),
    /// `go 1.N trace` with another N (an older or newer format).
    Unsupported(u32),
    /// Not a Go execution trace.
    NotATrace,
}

/// The result of [`scan_header`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scan {
    /// A header: what it says, and its length in bytes.
    Header(Version, usize),
    /// The input ended before the header was decided (only when the caller
    /// said more input may follow).
    NeedMore,
}

/// Reads the header at the start of `input`. `at_end` says whether `input`
/// holds everything there is; if not, [`Scan::NeedMore`] asks for more.
pub fn scan_header(input: &[u8], at_end: bool) -> Scan {
    let mut s = Scanner { input, pos: 0 };
    match s.header() {
        Ok(minor) => {
            let v = match minor {
                22 | 23 | 25 | 26 => Version::Go1(minor),
                _ => Version::Unsupported(minor),
            };
            Scan::Header(v, s.pos)
        }
        Err(Stop::End) if !at_end => Scan::NeedMore,
        Err(_) => Scan::Header(Version::NotATrace, s.pos),
    }
}

/// Reads the version from a complete header, as [`scan_header`] over input
/// that ends where `h` ends; [`Version::NotATrace`] if the header does not
/// take all of `h`.
pub fn parse_header(h: &[u8]) -> Version {
    match scan_header(h, true) {
        Scan::Header(v, n) if n == h.len() || v == Version::NotATrace => v,
        _ => Version::NotATrace,
    }
}

/// Why the scan stopped.
enum Stop {
    /// The input ran out.
    End,
    /// The input does not match.
    Mismatch,
}

struct Scanner<'a> {
    input: &'a [u8],
    pos: usize,
}

/// Go's `fmt` white space (`isSpace` in `fmt/scan.go`).
fn is_space(c: char) -> bool {
    matches!(c as u32,
        0x09..=0x0d | 0x20 | 0x85 | 0xa0 | 0x1680 | 0x2000..=0x200a
        | 0x2028 | 0x2029 | 0x202f | 0x205f | 0x3000)
}

impl Scanner<'_> {
    /// The next character and its length, as `bufio.Reader.ReadRune` decodes
    /// it (an invalid or cut sequence is one byte of U+FFFD).
    fn peek(&self) -> Option<(char, usize)> {
        let rest = self.input.get(self.pos..)?;
        let first = *rest.first()?;
        if first < 0x80 {
            return Some((char::from(first), 1));
        }
        let width = match first {
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => return Some((char::REPLACEMENT_CHARACTER, 1)),
        };
        match rest.get(..width).map(std::str::from_utf8) {
            Some(Ok(s)) => s.chars().next().map(|c| (c, width)),
            _ => Some((char::REPLACEMENT_CHARACTER, 1)),
        }
    }

    fn next(&mut self) -> Result<char, Stop> {
        let (c, w) = self.peek().ok_or(Stop::End)?;
        self.pos += w;
        Ok(c)
    }

    fn literal(&mut self, want: &[u8]) -> Result<(), Stop> {
        for &b in want {
            if self.next()? != char::from(b) {
                return Err(Stop::Mismatch);
            }
        }
        Ok(())
    }

    /// A space of the pattern: one or more spaces, no newline.
    fn spaces(&mut self) -> Result<(), Stop> {
        match self.peek() {
            None => return Err(Stop::End),
            Some((c, _)) if !is_space(c) || c == '\n' => return Err(Stop::Mismatch),
            Some(_) => {}
        }
        self.skip_spaces()
    }

    /// Optional white space before a number; a newline is an error.
    fn skip_spaces(&mut self) -> Result<(), Stop> {
        while let Some((c, w)) = self.peek() {
            if c == '\n' {
                return Err(Stop::Mismatch);
            }
            if !is_space(c) {
                break;
            }
            self.pos += w;
        }
        Ok(())
    }

    fn number(&mut self) -> Result<u32, Stop> {
        self.skip_spaces()?;
        let mut v: u64 = 0;
        let mut digits = 0;
        while let Some(&b) = self.input.get(self.pos) {
            if !b.is_ascii_digit() {
                break;
            }
            v = v.saturating_mul(10).saturating_add(u64::from(b - b'0'));
            digits += 1;
            self.pos += 1;
        }
        if digits == 0 {
            return Err(if self.pos >= self.input.len() {
                Stop::End
            } else {
                Stop::Mismatch
            });
        }
        if self.pos >= self.input.len() {
            // More digits could follow.
            return Err(Stop::End);
        }
        u32::try_from(v).map_err(|_| Stop::Mismatch)
    }

    fn header(&mut self) -> Result<u32, Stop> {
        self.literal(b"go")?;
        self.spaces()?;
        self.literal(b"1.")?;
        let v = self.number()?;
        self.spaces()?;
        self.literal(b"trace\0\0\0")?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_versions() {
        assert_eq!(parse_header(HEADER), Version::Go1(23));
        assert_eq!(parse_header(b"go 1.22 trace\0\0\0"), Version::Go1(22));
        assert_eq!(parse_header(b"go 1.25 trace\0\0\0"), Version::Go1(25));
        assert_eq!(parse_header(b"go 1.26 trace\0\0\0"), Version::Go1(26));
        assert_eq!(
            parse_header(b"go 1.21 trace\0\0\0"),
            Version::Unsupported(21)
        );
        assert_eq!(parse_header(b"go 1.5 trace\0\0\0"), Version::Unsupported(5));
        assert_eq!(parse_header(b"not a trace at a"), Version::NotATrace);
        assert_eq!(parse_header(b"go 1.23 trace\0\0x"), Version::NotATrace);
        assert_eq!(parse_header(b"go 1."), Version::NotATrace);
    }

    #[test]
    fn scans_like_go_fscanf() {
        // Verdicts and lengths as Go 1.27's `fmt.Fscanf` over a
        // `bufio.Reader` gives them.
        // The third NUL is missing: the next byte is the first batch's.
        assert!(matches!(
            scan_header(b"go 1.022 trace\0\0\x01\x01", true),
            Scan::Header(Version::NotATrace, _)
        ));
        assert_eq!(
            scan_header(b"go 1.022 trace\0\0\0\x01", true),
            Scan::Header(Version::Go1(22), 17)
        );
        assert_eq!(
            scan_header(b"go\t\xc2\xa01.  23  trace\0\0\0", true),
            Scan::Header(Version::Go1(23), 21)
        );
        assert_eq!(
            scan_header(b"go 1. \r23 trace\0\0\0", true),
            Scan::Header(Version::Go1(23), 18)
        );
        assert_eq!(
            scan_header(b"go 1.23\xe2\x80\x80trace\0\0\0", true),
            Scan::Header(Version::Go1(23), 18)
        );
        for bad in [
            &b"go1.23 trace\0\0\0"[..],
            b"go 1.23trace\0\0\0",
            b"go 1.+23 trace\0\0\0",
            b"go 1.\n23 trace\0\0\0",
            b"go 1.4294967296 trace\0\0\0",
            b"go 1.23\x85trace\0\0\0",
            b" go 1.23 trace\0\0\0",
        ] {
            assert!(
                matches!(scan_header(bad, true), Scan::Header(Version::NotATrace, _)),
                "{bad:?}"
            );
        }
        assert_eq!(
            scan_header(b"go 1.4294967295 trace\0\0\0", true),
            Scan::Header(Version::Unsupported(u32::MAX), 24)
        );
    }

    #[test]
    fn asks_for_more_only_when_undecided() {
        assert_eq!(scan_header(b"go 1.2", false), Scan::NeedMore);
        assert_eq!(scan_header(b"go 1.23 trace\0\0", false), Scan::NeedMore);
        assert_eq!(
            scan_header(b"go 1.23 trace\0\0", true),
            Scan::Header(Version::NotATrace, 15)
        );
        assert_eq!(
            scan_header(b"gx", false),
            Scan::Header(Version::NotATrace, 2)
        );
    }
}
