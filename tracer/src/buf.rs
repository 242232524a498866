//! Trace buffers: one batch in the making, with append primitives.
//!
//! A [`TraceBuf`] is a fixed-size byte buffer (at most
//! [`MAX_BATCH_BYTES`](crate::wire::limits::MAX_BATCH_BYTES)) holding exactly
//! one batch. It knows the batch header layout and nothing about events: the
//! writer decides what to append. It takes no locks; whoever holds it owns it.
//!
//! ```text
//!  0        1      1+g     1+g+m   1+g+m+t        size_at+10               pos       cap
//!  +--------+------+-------+-------+--------------+------------------------+---------+
//!  | 0x01   | gen  |   m   | time  | size (10 B,  | payload: events or     |  free   |
//!  | Event- | uvar | uvar  | uvar  | padded       | table entries          |         |
//!  | Batch  |      |       |       | uvarint)     |                        |         |
//!  +--------+------+-------+-------+--------------+------------------------+---------+
//!                                  ^ size_at       \__ size = pos - (size_at + 10) _/
//! ```
//!
//! The size field is reserved when the batch opens and patched by
//! [`TraceBuf::finish`], so the payload never moves.

use crate::wire::limits::PADDED_SIZE_BYTES;
use crate::wire::varint::{padded_uvarint, put_uvarint, MAX_VARINT_BYTES};
use crate::wire::EventType;

/// Smallest buffer the writer accepts: room for a header and a few events.
pub(crate) const MIN_BUF_BYTES: usize = 256;
/// Most numbers in one timed event, `dt` included.
pub(crate) const MAX_EVENT_NUMS: usize = 8;

/// One batch under construction.
pub(crate) struct TraceBuf {
    data: Box<[u8]>,
    pos: usize,
    size_at: usize,
    gen: u64,
    events: u64,
}

impl std::fmt::Debug for TraceBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceBuf")
            .field("cap", &self.data.len())
            .field("pos", &self.pos)
            .field("gen", &self.gen)
            .finish()
    }
}

impl TraceBuf {
    /// An empty buffer of `cap` bytes (clamped to at least [`MIN_BUF_BYTES`]).
    pub(crate) fn new(cap: usize) -> TraceBuf {
        TraceBuf {
            data: vec![0u8; cap.max(MIN_BUF_BYTES)].into_boxed_slice(),
            pos: 0,
            size_at: 0,
            gen: 0,
            events: 0,
        }
    }

    /// Capacity in bytes.
    pub(crate) fn capacity(&self) -> usize {
        self.data.len()
    }

    /// Starts a new batch (discarding any content): header with `gen`, thread
    /// `m` and base time `time`, and the reserved size field.
    pub(crate) fn begin(&mut self, gen: u64, m: u64, time: u64) {
        self.pos = 0;
        self.gen = gen;
        self.events = 0;
        self.put_record(EventType::EventBatch as u8, &[gen, m, time]);
        self.size_at = self.pos;
        self.pos += PADDED_SIZE_BYTES;
    }

    /// The generation of the open batch.
    pub(crate) fn gen(&self) -> u64 {
        self.gen
    }

    /// Counts one more event in this batch (for statistics).
    #[inline]
    pub(crate) fn count_event(&mut self) {
        self.events += 1;
    }

    /// Events counted in this batch.
    pub(crate) fn events(&self) -> u64 {
        self.events
    }

    /// Payload bytes written since [`begin`](Self::begin).
    pub(crate) fn payload_len(&self) -> usize {
        self.pos - (self.size_at + PADDED_SIZE_BYTES)
    }

    /// Free bytes left.
    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// Bytes needed in the worst case for a record of one head byte and `n` numbers.
    #[inline]
    pub(crate) const fn record_bound(n: usize) -> usize {
        1 + n * MAX_VARINT_BYTES
    }

    /// Bytes needed in the worst case for a timed event with `n` arguments
    /// (head byte, `dt`, arguments).
    #[inline(always)]
    pub(crate) const fn event_bound(n: usize) -> usize {
        Self::record_bound(n + 1)
    }

    /// Appends a timed event: `head`, `dt`, then `args`, each a uvarint, and
    /// counts it.
    ///
    /// # Safety
    ///
    /// At least [`event_bound(N)`](Self::event_bound) bytes are free
    /// ([`remaining`](Self::remaining)), as the writer checks before it
    /// stamps the time.
    #[inline(always)]
    pub(crate) unsafe fn put_event<const N: usize>(&mut self, head: u8, dt: u64, args: [u64; N]) {
        debug_assert!(
            self.remaining() >= Self::event_bound(N),
            "room was reserved"
        );
        // SAFETY: `pos <= data.len()` always holds, so the pointer is in
        // bounds (or one past the end).
        let p = unsafe { self.data.as_mut_ptr().add(self.pos) };
        // The caller guarantees 1 + (N + 1) * MAX_VARINT_BYTES free bytes at
        // `p`: the head byte, then N + 1 numbers of at most that many bytes.
        // SAFETY: so every write below stays inside the caller's room.
        let len = unsafe {
            *p = head;
            let mut at = 1 + write_uvarint(p.add(1), dt);
            for v in args {
                at += write_uvarint(p.add(at), v);
            }
            at
        };
        self.pos += len;
        self.events += 1;
    }

    /// Appends `head` followed by each of `nums` as a uvarint. Returns false,
    /// writing nothing, if the worst case does not fit.
    #[inline]
    pub(crate) fn put_record(&mut self, head: u8, nums: &[u64]) -> bool {
        let Some(dst) = self
            .data
            .get_mut(self.pos..self.pos + Self::record_bound(nums.len()))
        else {
            return false;
        };
        dst[0] = head;
        let mut at = 1;
        for &v in nums {
            // Most numbers (deltas, IDs, sequence numbers) take one byte.
            if v < 0x80 {
                dst[at] = v as u8;
                at += 1;
            } else {
                // The slice holds MAX_VARINT_BYTES per number, so this never fails.
                at += put_uvarint(&mut dst[at..], v).unwrap_or(0);
            }
        }
        self.pos += at;
        true
    }

    /// Appends one uvarint. Returns false, writing nothing, if it may not fit.
    #[inline]
    pub(crate) fn put_varint(&mut self, v: u64) -> bool {
        let Some(dst) = self.data.get_mut(self.pos..self.pos + MAX_VARINT_BYTES) else {
            return false;
        };
        self.pos += put_uvarint(dst, v).unwrap_or(0);
        true
    }

    /// Appends raw bytes. Returns false, writing nothing, if they do not fit.
    pub(crate) fn put_bytes(&mut self, b: &[u8]) -> bool {
        let Some(dst) = self.data.get_mut(self.pos..self.pos + b.len()) else {
            return false;
        };
        dst.copy_from_slice(b);
        self.pos += b.len();
        true
    }

    /// Patches the size field and returns the whole batch (header included).
    pub(crate) fn finish(&mut self) -> &[u8] {
        let size = padded_uvarint(self.payload_len() as u64);
        self.data[self.size_at..self.size_at + PADDED_SIZE_BYTES].copy_from_slice(&size);
        &self.data[..self.pos]
    }

    /// The bytes written so far (the size field is patched only by `finish`).
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.data[..self.pos]
    }
}

/// Writes `v` as a minimal uvarint at `p` and returns its length.
///
/// # Safety
///
/// `p` is valid for writes of [`MAX_VARINT_BYTES`] bytes.
#[inline(always)]
unsafe fn write_uvarint(p: *mut u8, mut v: u64) -> usize {
    // SAFETY: a u64 takes at most MAX_VARINT_BYTES (10) groups of 7 bits, so
    // `i` stays below MAX_VARINT_BYTES; the caller vouches for that many.
    unsafe {
        if v < 0x80 {
            // Most deltas and IDs.
            *p = v as u8;
            return 1;
        }
        if v < 1 << 21 {
            // Sequence numbers of busy goroutines: two or three bytes.
            *p = v as u8 | 0x80;
            if v < 1 << 14 {
                *p.add(1) = (v >> 7) as u8;
                return 2;
            }
            *p.add(1) = (v >> 7) as u8 | 0x80;
            *p.add(2) = (v >> 14) as u8;
            return 3;
        }
        let mut i = 0;
        while v >= 0x80 {
            *p.add(i) = (v as u8) | 0x80;
            v >>= 7;
            i += 1;
        }
        *p.add(i) = v as u8;
        i + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::varint::read_uvarint;

    #[test]
    fn header_then_padded_size_then_payload() {
        let mut b = TraceBuf::new(1024);
        b.begin(3, u64::MAX, 1000);
        assert_eq!(b.payload_len(), 0);
        assert!(b.put_record(EventType::GoStart as u8, &[5, 7, 1]));
        let out = b.finish().to_vec();
        assert_eq!(out[0], EventType::EventBatch as u8);
        let (gen, n1) = read_uvarint(&out[1..]).unwrap();
        let (m, n2) = read_uvarint(&out[1 + n1..]).unwrap();
        let (t, n3) = read_uvarint(&out[1 + n1 + n2..]).unwrap();
        let at = 1 + n1 + n2 + n3;
        let (size, ns) = read_uvarint(&out[at..]).unwrap();
        assert_eq!((gen, m, t), (3, u64::MAX, 1000));
        assert_eq!(ns, PADDED_SIZE_BYTES);
        assert_eq!(size as usize, out.len() - at - ns);
        assert_eq!(&out[at + ns..], &[EventType::GoStart as u8, 5, 7, 1]);
    }

    #[test]
    fn refuses_records_that_may_not_fit_and_writes_nothing() {
        let mut b = TraceBuf::new(MIN_BUF_BYTES);
        b.begin(1, 1, 1);
        let mut n = 0;
        while b.put_record(9, &[u64::MAX, u64::MAX]) {
            n += 1;
        }
        let before = b.bytes().len();
        assert!(!b.put_record(9, &[1, 2]) || b.remaining() >= TraceBuf::record_bound(2));
        assert!(n > 5);
        assert!(b.remaining() < TraceBuf::record_bound(2));
        assert_eq!(b.bytes().len(), before);
        assert!(b.put_bytes(&vec![0; b.remaining()]));
        assert!(!b.put_varint(0));
        assert!(!b.put_bytes(&[1]));
    }

    #[test]
    fn events_encode_like_records() {
        let mut a = TraceBuf::new(1024);
        let mut b = TraceBuf::new(1024);
        a.begin(1, 2, 3);
        b.begin(1, 2, 3);
        let cases: [[u64; 3]; 6] = [
            [0, 1, 2],
            [0x7f, 0x80, 0x3fff],
            [0x4000, (1 << 21) - 1, 1 << 21],
            [0x4000, 1 << 21, u32::MAX as u64],
            [u64::MAX, 1 << 63, (1 << 56) - 1],
            [5, u64::MAX - 1, 0],
        ];
        for (i, c) in cases.iter().enumerate() {
            assert!(a.remaining() >= TraceBuf::event_bound(3));
            // SAFETY: room checked just above.
            unsafe { a.put_event(22, i as u64 * 1000, *c) };
            b.put_record(22, &[i as u64 * 1000, c[0], c[1], c[2]]);
        }
        // SAFETY: as above (checked below for three arguments, so zero fit).
        unsafe { a.put_event(7, 1, []) };
        b.put_record(7, &[1]);
        assert_eq!(a.bytes(), b.bytes());
        assert_eq!(a.events(), 7);
        assert!(a.remaining() >= TraceBuf::event_bound(3));
    }

    #[test]
    fn event_numbers_of_every_length_encode_like_the_wire_codec() {
        // Both sides of every length boundary, and a spread of values in
        // between (a fixed xorshift sequence), through the event encoder
        // and through `put_record`, which uses `wire::varint`.
        let mut vals = Vec::new();
        for k in 1..=9u32 {
            let edge = 1u64 << (7 * k);
            vals.extend([edge - 1, edge, edge + 1, edge | (edge >> 1)]);
        }
        vals.extend([u64::MAX, 1 << 63, (1 << 63) - 1]);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            vals.push(x >> (x % 64));
        }
        for chunk in vals.chunks(2) {
            let [a0, a1] = [chunk[0], *chunk.get(1).unwrap_or(&0)];
            let mut a = TraceBuf::new(256);
            let mut b = TraceBuf::new(256);
            a.begin(1, 2, 3);
            b.begin(1, 2, 3);
            // SAFETY: a fresh buffer of MIN_BUF_BYTES holds a header and
            // any event.
            unsafe { a.put_event(22, a1, [a0, a1]) };
            b.put_record(22, &[a1, a0, a1]);
            assert_eq!(a.bytes(), b.bytes(), "{a0:#x} {a1:#x}");
        }
    }

    #[test]
    fn minimal_varints_in_payload() {
        let mut b = TraceBuf::new(512);
        b.begin(1, 2, 3);
        let start = b.bytes().len();
        assert!(b.put_varint(300));
        assert!(b.put_bytes(b"ab"));
        assert_eq!(&b.bytes()[start..], &[0xac, 0x02, b'a', b'b']);
        assert_eq!(b.payload_len(), 4);
        b.begin(2, 2, 3);
        assert_eq!(b.payload_len(), 0);
        assert_eq!(b.gen(), 2);
    }
}
