//! Where text goes: one trait over `String` and `Vec<u8>`.
//!
//! Event texts and quoted strings are built from `&str` pieces only, so the
//! same code can append to a `String` (no re-validation) or to a byte buffer
//! (no UTF-8 bookkeeping at all, the fast path of `dump --raw`).

/// An append-only text buffer.
pub(crate) trait TextSink {
    /// Appends `s`.
    fn put(&mut self, s: &str);
    /// Appends `c`, UTF-8 encoded.
    fn put_char(&mut self, c: char);
    /// Appends one ASCII byte (`b < 0x80`).
    fn put_ascii(&mut self, b: u8);
    /// Appends `v` in decimal.
    fn put_u64(&mut self, v: u64);
    /// Appends a precomputed piece of text.
    fn put_piece(&mut self, p: &Piece);
}

use super::pieces::{Piece, PIECE};

/// `"00" "01" ... "99"`: two decimal digits per entry.
const PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Writes the decimal digits of `v` so that they end at `buf[20]`; returns
/// where they start (at least 0, since a `u64` has at most 20 digits).
#[inline]
fn digits(mut v: u64, buf: &mut [u8; 40]) -> usize {
    let mut i = 20;
    while v >= 100 {
        let p = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i] = PAIRS[p];
        buf[i + 1] = PAIRS[p + 1];
    }
    let p = v as usize * 2;
    if v >= 10 {
        i -= 2;
        buf[i] = PAIRS[p];
        buf[i + 1] = PAIRS[p + 1];
    } else {
        i -= 1;
        buf[i] = PAIRS[p + 1];
    }
    i
}

impl TextSink for Vec<u8> {
    #[inline]
    fn put(&mut self, s: &str) {
        self.extend_from_slice(s.as_bytes());
    }

    #[inline]
    fn put_char(&mut self, c: char) {
        let mut b = [0u8; 4];
        self.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
    }

    #[inline]
    fn put_ascii(&mut self, b: u8) {
        self.push(b);
    }

    #[inline]
    fn put_u64(&mut self, v: u64) {
        // Copy a fixed 20-byte window starting at the first digit (a
        // constant-size copy, no `memcpy` call), then cut what follows them.
        let mut buf = [0u8; 40];
        let i = digits(v, &mut buf);
        let len = self.len();
        self.extend_from_slice(&buf[i..i + 20]);
        self.truncate(len + (20 - i));
    }

    #[inline]
    fn put_piece(&mut self, p: &Piece) {
        let len = self.len();
        self.extend_from_slice(&p.bytes);
        self.truncate(len + usize::from(p.len).min(PIECE));
    }
}

impl TextSink for String {
    #[inline]
    fn put(&mut self, s: &str) {
        self.push_str(s);
    }

    #[inline]
    fn put_char(&mut self, c: char) {
        self.push(c);
    }

    #[inline]
    fn put_ascii(&mut self, b: u8) {
        self.push(char::from(b));
    }

    #[inline]
    fn put_u64(&mut self, v: u64) {
        let mut buf = [0u8; 40];
        let i = digits(v, &mut buf);
        // ASCII digits only: the conversion cannot fail.
        self.push_str(std::str::from_utf8(&buf[i..20]).unwrap_or_default());
    }

    #[inline]
    fn put_piece(&mut self, p: &Piece) {
        self.push_str(p.as_str());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_matches_std() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut vals = vec![0, 1, 9, 10, 99, 100, 101, 999, 1000, u64::MAX];
        for _ in 0..1000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            vals.push(x >> (x % 64));
        }
        for v in vals {
            let mut s = String::new();
            s.put_u64(v);
            let mut b = Vec::new();
            b.put_u64(v);
            assert_eq!(s, v.to_string());
            assert_eq!(b, v.to_string().into_bytes());
        }
    }
}
