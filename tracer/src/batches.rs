//! Runs of batches that the advancer writes for one generation and one M
//! (or none): the frequency, end-of-generation statuses, and the stack and
//! string tables. Below the event writer and the tables that use it.
#![deny(unsafe_code)]

use crate::buf::{TraceBuf, MAX_EVENT_NUMS};
use crate::wire::limits::MAX_BATCH_BYTES;
use crate::wire::EventType;

/// Capacity of the advancer's batch buffers (payload stays under the limit).
pub(crate) const TABLE_BUF_BYTES: usize = MAX_BATCH_BYTES;

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
