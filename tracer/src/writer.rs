//! Batch writing: timed events into an M's buffer, and the advancer's batches.
//!
//! Every event goes through [`write_event`], which checks the argument count
//! against the event table, makes room (flushing a full batch to the sink and
//! opening a new one), stamps the time and appends `type dt args...`. No other
//! code writes an event byte.
//!
//! The clock is read once per locker hold (one scheduling step, tens of
//! nanoseconds: about one unit of the trace clock), right after the
//! generation is loaded, so that the read overlaps the rest of the step;
//! every event of the hold is stamped from that reading.
//!
//! Timestamps on one M are strictly increasing across all its batches: a
//! reading that is not above the M's previous one is bumped to previous + 1,
//! so every `dt` is at least 1. The batch header's time counts as a reading.

use std::sync::atomic::Ordering::Relaxed;

use crate::buf::TraceBuf;
use crate::registry::ThreadTrace;
use crate::wire::limits::MAX_BATCH_BYTES;
use crate::wire::EventType;

/// Most numbers in one timed event, `dt` included.
const MAX_EVENT_NUMS: usize = 8;

// A fresh buffer (at least MIN_BUF_BYTES) always has room for a batch
// header (head byte, three numbers, the padded size) and the largest event.
const _: () = assert!(
    crate::buf::MIN_BUF_BYTES
        >= TraceBuf::record_bound(3)
            + crate::wire::limits::PADDED_SIZE_BYTES
            + TraceBuf::record_bound(MAX_EVENT_NUMS)
);

/// Capacity of the advancer's batch buffers (payload stays under the limit).
pub(crate) const TABLE_BUF_BYTES: usize = MAX_BATCH_BYTES;

/// Next timestamp of `t`: `now` (the clock reading of the current hold),
/// bumped above its last one.
#[inline(always)]
fn tick(t: &ThreadTrace, now: u64) -> (u64, u64) {
    let last = t.last_time.load(Relaxed);
    let now = if now <= last { last + 1 } else { now };
    t.last_time.store(now, Relaxed);
    (last, now)
}

/// Appends the timed event `ty` with `args` (without `dt`) to the batch in
/// `slot`, the buffer of `t` for generation `gen`, at time `now` (bumped
/// above the M's previous timestamp).
///
/// The common case (the batch has room) is straight-line code: one clock
/// read, one bounds check, `N + 2` stores of single bytes for small numbers.
#[inline(always)]
pub(crate) fn write_event<const N: usize>(
    t: &ThreadTrace,
    slot: &mut Option<TraceBuf>,
    gen: u64,
    now: u64,
    ty: EventType,
    args: [u64; N],
) {
    const { assert!(N < MAX_EVENT_NUMS, "too many event arguments") };
    debug_assert!(ty.spec().timed, "{} is not a timed event", ty.name());
    debug_assert_eq!(
        N + 1,
        ty.arg_count(),
        "wrong argument count for {}",
        ty.name()
    );
    let buf = match slot {
        Some(b) if b.remaining() >= TraceBuf::event_bound(N) => b,
        _ => refill(t, slot, gen, now),
    };
    let (last, now) = tick(t, now);
    // SAFETY: `event_bound(N)` bytes are free: the match above checked it,
    // or `refill` opened a fresh buffer, which holds a header and any event
    // (the assertion under MAX_EVENT_NUMS).
    unsafe { buf.put_event(ty as u8, now - last, args) };
}

/// Queues the full batch in `slot` (if any) and opens a fresh one.
#[cold]
#[inline(never)]
fn refill<'a>(
    t: &ThreadTrace,
    slot: &'a mut Option<TraceBuf>,
    gen: u64,
    now: u64,
) -> &'a mut TraceBuf {
    if let Some(full) = slot.take() {
        crate::sink::submit(full);
    }
    let mut b = crate::sink::fresh_buf(crate::locker::setting(|f| f.buf_bytes));
    let (_, now) = tick(t, now);
    b.begin(gen, t.m_id(), now);
    crate::generation::note_events(gen);
    slot.insert(b)
}

/// A run of batches written by the advancer for one generation and one M (or
/// no M): the frequency, end-of-generation statuses, stack and string tables.
///
/// Table batches repeat their kind byte (`Stacks`, `Strings`) at the start of
/// each batch; a record that does not fit closes the batch and opens another.
#[derive(Debug)]
pub(crate) struct BatchSeq {
    gen: u64,
    m: u64,
    head: Option<EventType>,
    last: u64,
    cur: Option<TraceBuf>,
    done: Vec<TraceBuf>,
}

impl BatchSeq {
    /// Batches of generation `gen` for thread `m` (`NO_THREAD` for none),
    /// each starting with `head` if given, with times from `time` on.
    pub(crate) fn new(gen: u64, m: u64, head: Option<EventType>, time: u64) -> BatchSeq {
        BatchSeq {
            gen,
            m,
            head,
            last: time,
            cur: None,
            done: Vec::new(),
        }
    }

    fn room(&mut self, need: usize) -> &mut TraceBuf {
        if self.cur.as_ref().is_some_and(|b| b.remaining() < need) {
            if let Some(b) = self.cur.take() {
                self.done.push(b);
            }
        }
        let (gen, m, head) = (self.gen, self.m, self.head);
        let last = &mut self.last;
        self.cur.get_or_insert_with(|| {
            let mut b = TraceBuf::new(TABLE_BUF_BYTES);
            *last += 1;
            b.begin(gen, m, *last);
            if let Some(h) = head {
                b.put_record(h as u8, &[]);
            }
            b
        })
    }

    /// Appends an untimed record (a table entry or the frequency).
    pub(crate) fn record(&mut self, ty: EventType, nums: &[u64]) {
        debug_assert!(
            ty.spec().is_stack || nums.len() == ty.arg_count(),
            "{}",
            ty.name()
        );
        let b = self.room(TraceBuf::record_bound(nums.len()));
        b.put_record(ty as u8, nums);
    }

    /// Appends an untimed record followed by `len data` (a string entry).
    pub(crate) fn record_with_data(&mut self, ty: EventType, nums: &[u64], data: &[u8]) {
        debug_assert!(
            ty.spec().has_data && nums.len() == ty.arg_count(),
            "{}",
            ty.name()
        );
        let b = self.room(TraceBuf::record_bound(nums.len() + 1) + data.len());
        b.put_record(ty as u8, nums);
        b.put_varint(data.len() as u64);
        b.put_bytes(data);
    }

    /// Appends a timed event at time `now` (bumped above the previous one).
    pub(crate) fn timed(&mut self, ty: EventType, args: &[u64], now: u64) {
        let n = args.len() + 1;
        debug_assert_eq!(n, ty.arg_count(), "wrong argument count for {}", ty.name());
        if n > MAX_EVENT_NUMS {
            return;
        }
        self.room(TraceBuf::record_bound(n));
        let t = now.max(self.last + 1);
        let mut nums = [0u64; MAX_EVENT_NUMS];
        nums[0] = t - self.last;
        nums[1..n].copy_from_slice(args);
        self.last = t;
        if let Some(b) = self.cur.as_mut() {
            b.put_record(ty as u8, &nums[..n]);
            b.count_event();
        }
    }

    /// The finished batches, sizes patched, in order (empty ones dropped).
    pub(crate) fn finish(mut self) -> Vec<TraceBuf> {
        if let Some(b) = self.cur.take() {
            self.done.push(b);
        }
        let head_len = usize::from(self.head.is_some());
        self.done.retain(|b| b.payload_len() > head_len);
        for b in &mut self.done {
            b.finish();
        }
        self.done
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::wire::varint::read_uvarint;

    #[test]
    fn table_batches_split_and_repeat_their_kind_byte() {
        let mut s = BatchSeq::new(4, u64::MAX, Some(EventType::Strings), 10);
        let data = vec![b'z'; 1000];
        for id in 1..=200u64 {
            s.record_with_data(EventType::String, &[id], &data);
        }
        let batches = s.finish();
        assert!(batches.len() >= 3, "{}", batches.len());
        let mut ids = 0;
        let mut last_time = 0;
        for b in &batches {
            let bytes = b.bytes();
            assert!(bytes.len() <= TABLE_BUF_BYTES);
            let mut at = 1;
            let mut hdr = [0u64; 4];
            for h in &mut hdr {
                let (v, n) = read_uvarint(&bytes[at..]).unwrap();
                *h = v;
                at += n;
            }
            assert_eq!(hdr[0], 4);
            assert!(hdr[2] > last_time, "header times increase");
            last_time = hdr[2];
            assert_eq!(hdr[3] as usize, bytes.len() - at, "size patched");
            assert_eq!(bytes[at], EventType::Strings as u8);
            at += 1;
            while at < bytes.len() {
                assert_eq!(bytes[at], EventType::String as u8);
                let (_, n) = read_uvarint(&bytes[at + 1..]).unwrap();
                let (len, m) = read_uvarint(&bytes[at + 1 + n..]).unwrap();
                assert_eq!(len, 1000);
                at += 1 + n + m + len as usize;
                ids += 1;
            }
            assert_eq!(at, bytes.len());
        }
        assert_eq!(ids, 200);
        assert!(BatchSeq::new(1, 1, Some(EventType::Stacks), 0)
            .finish()
            .is_empty());
    }

    #[test]
    fn timed_events_get_strictly_positive_deltas() {
        let mut s = BatchSeq::new(1, 7, None, 100);
        s.timed(EventType::ProcStatus, &[0, 2], 50);
        s.timed(EventType::ProcStatus, &[1, 2], 500);
        let b = s.finish().remove(0);
        let bytes = b.bytes();
        let p = bytes.len() - 9;
        // ProcStatus dt=1 p=0 Idle; ProcStatus dt=398 p=1 Idle.
        assert_eq!(&bytes[p..], &[13, 1, 0, 2, 13, 0x8e, 0x03, 1, 2][..]);
    }
}
