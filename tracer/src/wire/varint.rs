//! Unsigned LEB128 varints: minimal and padded encoding, bounded decoding.

use super::limits::PADDED_SIZE_BYTES;

/// Most bytes a `u64` varint can take.
pub const MAX_VARINT_BYTES: usize = 10;

/// Appends the minimal encoding of `v` to `out`.
#[inline]
pub fn write_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Writes the minimal encoding of `v` at the start of `out` and returns its
/// length. `out` must have room for [`MAX_VARINT_BYTES`]; returns `None` if not.
#[inline]
pub fn put_uvarint(out: &mut [u8], mut v: u64) -> Option<usize> {
    let mut i = 0;
    while v >= 0x80 {
        *out.get_mut(i)? = (v as u8) | 0x80;
        v >>= 7;
        i += 1;
    }
    *out.get_mut(i)? = v as u8;
    Some(i + 1)
}

/// The 10-byte padded encoding of `v` that runtimes use for batch sizes:
/// nine bytes with the continuation bit set, then the last group.
#[inline]
pub fn padded_uvarint(mut v: u64) -> [u8; PADDED_SIZE_BYTES] {
    let mut out = [0u8; PADDED_SIZE_BYTES];
    for b in out.iter_mut().take(PADDED_SIZE_BYTES - 1) {
        *b = (v as u8 & 0x7f) | 0x80;
        v >>= 7;
    }
    out[PADDED_SIZE_BYTES - 1] = v as u8;
    out
}

/// Why a varint could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarintError {
    /// The input ended inside the varint.
    Truncated,
    /// More than ten bytes, or a value above `u64::MAX`.
    Overflow,
}

/// Decodes one varint from the start of `buf`; returns the value and its
/// length in bytes. Accepts padded (non-minimal) encodings.
#[inline]
pub fn read_uvarint(buf: &[u8]) -> Result<(u64, usize), VarintError> {
    let mut bytes = buf.iter();
    let r: Result<_, std::convert::Infallible> = decode_uvarint(|| Ok(bytes.next().copied()));
    match r {
        Ok(v) => v,
    }
}

/// The one varint decoder: reads bytes from `next` (`None`: the input
/// ended) until a varint is complete, and returns its value and length,
/// or why it is not one (Go's rules: the tenth byte may only be 0 or 1).
/// An error of `next` itself (I/O) is passed through as the outer error.
#[inline(always)]
pub fn decode_uvarint<E>(
    mut next: impl FnMut() -> Result<Option<u8>, E>,
) -> Result<Result<(u64, usize), VarintError>, E> {
    let mut v: u64 = 0;
    for i in 0..MAX_VARINT_BYTES {
        let Some(b) = next()? else {
            return Ok(Err(VarintError::Truncated));
        };
        if i == MAX_VARINT_BYTES - 1 && b > 1 {
            return Ok(Err(VarintError::Overflow));
        }
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Ok(Ok((v, i + 1)));
        }
    }
    Ok(Err(VarintError::Overflow))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(v: u64) {
        let mut out = Vec::new();
        write_uvarint(&mut out, v);
        assert_eq!(read_uvarint(&out), Ok((v, out.len())));
        let mut arr = [0u8; MAX_VARINT_BYTES];
        let n = put_uvarint(&mut arr, v).unwrap();
        assert_eq!(&arr[..n], &out[..]);
        let p = padded_uvarint(v);
        if v < (1 << 63) {
            assert_eq!(read_uvarint(&p), Ok((v, PADDED_SIZE_BYTES)));
        }
    }

    #[test]
    fn roundtrips_edges_and_a_sweep() {
        for v in [
            0,
            1,
            127,
            128,
            255,
            300,
            16383,
            16384,
            u32::MAX as u64,
            u64::MAX - 1,
            u64::MAX,
        ] {
            roundtrip(v);
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            roundtrip(x >> (x % 64));
        }
    }

    #[test]
    fn padded_matches_go_runtime_bytes() {
        assert_eq!(
            padded_uvarint(5),
            [0x85, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]
        );
        assert_eq!(padded_uvarint(43)[0], 0xab);
    }

    #[test]
    fn no_thread_is_ten_bytes() {
        let mut out = Vec::new();
        write_uvarint(&mut out, u64::MAX);
        assert_eq!(
            out,
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
    }

    #[test]
    fn rejects_truncated_and_overlong() {
        assert_eq!(read_uvarint(&[]), Err(VarintError::Truncated));
        assert_eq!(read_uvarint(&[0x80, 0x80]), Err(VarintError::Truncated));
        assert_eq!(read_uvarint(&[0xff; 11]), Err(VarintError::Overflow));
        assert_eq!(
            read_uvarint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]),
            Err(VarintError::Overflow)
        );
    }
}
