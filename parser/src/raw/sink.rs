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
    /// Appends an event's first line: its name, then ` arg=value` for each
    /// argument (as many as `args` holds, at most [`EventType::MAX_ARGS`]).
    fn put_head(&mut self, text: &TypeText, args: &[u64]) {
        self.put_piece(&text.name);
        for (label, &v) in text.args.iter().zip(args) {
            self.put_piece(label);
            self.put_u64(v);
        }
    }
}

use gort_tracer::wire::EventType;

use super::pieces::{Piece, TypeText, PIECE};

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

    /// The whole line is assembled in a stack buffer with fixed-size copies
    /// and appended with one copy.
    #[inline]
    fn put_head(&mut self, text: &TypeText, args: &[u64]) {
        let mut line = [0u8; HEAD_MAX];
        let mut n = put_fixed(&mut line, 0, &text.name);
        for (label, &v) in text.args.iter().zip(args) {
            n = put_fixed(&mut line, n, label);
            let mut buf = [0u8; 40];
            let i = digits(v, &mut buf);
            if let (Some(dst), Some(src)) = (line.get_mut(n..n + 20), buf.get(i..i + 20)) {
                dst.copy_from_slice(src);
            }
            n += 20 - i;
        }
        self.extend_from_slice(&line[..n.min(HEAD_MAX)]);
    }
}

/// Longest possible first line: a name and [`EventType::MAX_ARGS`] labels and values.
const HEAD_MAX: usize = PIECE + EventType::MAX_ARGS * (PIECE + 20);

/// Copies all [`PIECE`] bytes of `p` to `line[n..]`; returns `n` plus the
/// piece's real length. `n` stays within the bound [`HEAD_MAX`] allows for.
#[inline]
fn put_fixed(line: &mut [u8; HEAD_MAX], n: usize, p: &Piece) -> usize {
    if let Some(dst) = line.get_mut(n..n + PIECE) {
        dst.copy_from_slice(&p.bytes);
    }
    n + usize::from(p.len).min(PIECE)
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
