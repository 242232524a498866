//! The 16-byte file header (`go 1.23 trace` and three NULs).

/// The header every trace written by gort starts with.
pub const HEADER: &[u8; HEADER_LEN] = b"go 1.23 trace\0\0\0";
/// Length of the header in bytes.
pub const HEADER_LEN: usize = 16;

/// What a 16-byte header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// `go 1.N trace` with N one of this format's versions (22 or 23).
    Go1(u32),
    /// `go 1.N trace` with another N (an older or newer format).
    Unsupported(u32),
    /// Not a Go execution trace.
    NotATrace,
}

/// Reads the version from the first [`HEADER_LEN`] bytes of a file.
pub fn parse_header(h: &[u8]) -> Version {
    let Some(rest) = h.strip_prefix(b"go 1.") else {
        return Version::NotATrace;
    };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 4 {
        return Version::NotATrace;
    }
    let (num, tail) = rest.split_at(digits);
    let mut n = 0u32;
    for d in num {
        n = n * 10 + u32::from(d - b'0');
    }
    let pad = HEADER_LEN.saturating_sub(5 + digits + 6);
    let Some(zeros) = tail.strip_prefix(b" trace") else {
        return Version::NotATrace;
    };
    if zeros.len() < pad || zeros[..pad].iter().any(|&b| b != 0) {
        return Version::NotATrace;
    }
    match n {
        22 | 23 => Version::Go1(n),
        _ => Version::Unsupported(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_versions() {
        assert_eq!(parse_header(HEADER), Version::Go1(23));
        assert_eq!(parse_header(b"go 1.22 trace\0\0\0"), Version::Go1(22));
        assert_eq!(
            parse_header(b"go 1.21 trace\0\0\0"),
            Version::Unsupported(21)
        );
        assert_eq!(
            parse_header(b"go 1.5 trace\0\0\0\0"),
            Version::Unsupported(5)
        );
        assert_eq!(parse_header(b"not a trace at a"), Version::NotATrace);
        assert_eq!(parse_header(b"go 1.23 trace\0\0x"), Version::NotATrace);
        assert_eq!(parse_header(b"go 1."), Version::NotATrace);
    }
}
