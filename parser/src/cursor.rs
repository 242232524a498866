//! Per-thread batch cursors and the frontier: a min-heap of cursors keyed by
//! the time of each cursor's next event.
//!
//! A cursor walks one thread's event batches of a generation in file order,
//! decoding timed events generically from [`EventType::spec`], several at a
//! time within a batch (an error waits until the cursor reaches it). Times are converted as Go converts them: the batch's
//! base time and every delta are scaled separately by the frequency and
//! summed, and the base is re-read at every batch start (and whenever the
//! running time is exactly 0).
//!
//! Tie-breaking: the heap compares times only and moves entries exactly as
//! Go's reader does (strict comparisons; a cursor whose next event ties with
//! another's stays where it is, so the thread that just advanced keeps going;
//! removal sifts the entry to the root first). Go builds its heap in map
//! iteration order, which varies between runs; here cursors are inserted in
//! ascending thread-ID order, so the result is the same on every run and
//! equals Go's whenever Go's own result does not depend on that order.
//! Sorting for the slow path is stable, as Go's sort is for small frontiers.

use gort_tracer::wire::{EventType, Format, Spec};

use crate::batch::{read_uvarint, Batch};
use crate::error::{Error, ErrorKind, Result};
use crate::resources::ThreadId;
use crate::tables::Frequency;

/// Every event type's spec, indexed by type number, built at compile time
/// (a table load is cheaper on the hot path than `EventType::spec`'s match).
static SPECS: [Option<&'static Spec>; 256] = {
    let mut t: [Option<&'static Spec>; 256] = [None; 256];
    let mut i = 0;
    while i < EventType::ALL.len() {
        let e = EventType::ALL[i];
        t[e as usize] = Some(e.spec());
        i += 1;
    }
    t
};

/// Event types by number (a table load instead of `EventType::from_u8`).
static TYPES: [Option<EventType>; 256] = {
    let mut t = [None; 256];
    let mut i = 0;
    while i < EventType::ALL.len() {
        t[EventType::ALL[i] as usize] = Some(EventType::ALL[i]);
        i += 1;
    }
    t
};

/// Per event type, the argument positions (after `dt`) holding stack IDs and
/// string IDs; [`NO_ARG`] marks an unused entry.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IdArgs {
    pub(crate) stacks: [u8; 2],
    pub(crate) strings: [u8; 2],
}

/// An unused [`IdArgs`] entry.
pub(crate) const NO_ARG: u8 = u8::MAX;

/// [`IdArgs`] of every event type, indexed by type number.
pub(crate) static ID_ARGS: [IdArgs; 256] = {
    let none = IdArgs {
        stacks: [NO_ARG; 2],
        strings: [NO_ARG; 2],
    };
    let mut t = [none; 256];
    let mut i = 0;
    while i < EventType::ALL.len() {
        let e = EventType::ALL[i];
        let s = e.spec();
        let mut k = 0;
        while k < s.stack_ids.len() && k < 2 {
            t[e as usize].stacks[k] = (s.stack_ids[k] - 1) as u8;
            k += 1;
        }
        k = 0;
        while k < s.string_ids.len() && k < 2 {
            t[e as usize].strings[k] = (s.string_ids[k] - 1) as u8;
            k += 1;
        }
        i += 1;
    }
    t
};

/// For one event table version: per type byte, 1 + the number of
/// arguments a timed event of that type has after `dt` (at most
/// [`MAX_ARGS`]), or 0 if the byte is no timed event type of that table.
const fn timed_arg_counts(table: u8) -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < EventType::ALL.len() {
        let e = EventType::ALL[i];
        let s = e.spec();
        if s.timed && s.since <= table {
            let n = s.args.len() - 1;
            t[e as usize] = 1 + if n < MAX_ARGS { n } else { MAX_ARGS } as u8;
        }
        i += 1;
    }
    t
}

/// [`timed_arg_counts`] of the go 1.22/1.23, go 1.25 and go 1.26 tables.
static TIMED_ARGS: [[u8; 256]; 3] = [
    timed_arg_counts(Format::Go123.table_version()),
    timed_arg_counts(Format::Go125.table_version()),
    timed_arg_counts(Format::Go126.table_version()),
];

/// The [`TIMED_ARGS`] table of format `f`.
fn timed_args_of(f: Format) -> &'static [u8; 256] {
    match f {
        Format::Go122 | Format::Go123 => &TIMED_ARGS[0],
        Format::Go125 => &TIMED_ARGS[1],
        Format::Go126 => &TIMED_ARGS[2],
    }
}

/// The spec of `t` (table lookup).
#[inline]
pub(crate) fn spec_of(t: EventType) -> &'static Spec {
    match SPECS[t as usize] {
        Some(s) => s,
        None => t.spec(),
    }
}

/// Room for the arguments of any timed event (without `dt`), plus the extra
/// slots the ordering fills in (old states, task parents).
pub(crate) const MAX_ARGS: usize = 5;

/// A decoded timed event: its type, time in ns and arguments without `dt`.
///
/// N.B. Aligned to 16 bytes (as is [`SchedCtx`](crate::order::state::SchedCtx))
/// so that copies of queued events move whole 16-byte chunks that line up
/// with the stores that wrote them; the arguments come first so that their
/// 16-byte loads line up too (a load that straddles two recent stores
/// cannot be forwarded from them and waits for both to retire).
#[derive(Clone, Copy, Debug)]
#[repr(C, align(16))]
pub(crate) struct BaseEvent {
    /// Time in nanoseconds.
    pub(crate) time: i64,
    /// Arguments after `dt`, then extra slots.
    pub(crate) args: [u64; MAX_ARGS],
    /// The wire type.
    pub(crate) typ: EventType,
}

impl BaseEvent {
    /// An event built by the reader itself.
    pub(crate) fn synthetic(typ: EventType, time: i64, args: &[u64]) -> BaseEvent {
        let mut a = [0u64; MAX_ARGS];
        for (d, s) in a.iter_mut().zip(args) {
            *d = *s;
        }
        BaseEvent { typ, time, args: a }
    }

    /// Index of the first extra slot (after the event's own arguments).
    #[inline]
    pub(crate) fn extra_index(&self) -> usize {
        spec_of(self.typ).args.len().saturating_sub(1)
    }

    /// Sets extra slot `i`.
    #[inline]
    pub(crate) fn set_extra(&mut self, i: usize, v: u64) {
        let at = self.extra_index() + i;
        if let Some(a) = self.args.get_mut(at) {
            *a = v;
        }
    }
}

/// Events a cursor decodes ahead in one go (a power of two).
const AHEAD: usize = 32;

/// One thread's position in its event batches.
///
/// Events are decoded [`AHEAD`] at a time from the current batch, in one
/// tight loop, and handed out one by one; a decoding error met while
/// reading ahead waits until the cursor reaches the event that caused it,
/// so errors surface exactly where decoding one event at a time would
/// raise them.
///
/// N.B. `repr(C)`, so that what every event touches (the event, the thread,
/// its slot and the read-ahead position) shares the first cache lines and
/// the read-ahead buffer comes last.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Cursor {
    /// The time of the next event (valid after `advance` returned true):
    /// the frontier's key, kept apart from the event so that ordering the
    /// cursors reads one word of each.
    pub(crate) time: i64,
    /// The thread.
    pub(crate) m: ThreadId,
    /// The thread's state slot in the ordering engine, once known.
    pub(crate) slot: Option<usize>,
    pos: usize,
    len: usize,
    /// Where in `ahead` the next event is (see [`Cursor::ev`]).
    cur: usize,
    idx: usize,
    off: usize,
    last_ts: i64,
    /// The timed argument counts of the format's event table ([`TIMED_ARGS`]).
    counts: &'static [u8; 256],
    /// The newest event table version the trace's format has.
    table: u8,
    /// The error that stopped the last read-ahead, due after `ahead`.
    failed: Option<Box<Error>>,
    batches: Vec<Batch>,
    /// Events decoded ahead: the next event at `cur`, the ones after it
    /// at `ahead[pos..len]`.
    ahead: [BaseEvent; AHEAD],
}

impl Cursor {
    /// A cursor over `batches` of a trace in format `format`, positioned
    /// before the first event.
    pub(crate) fn new(m: ThreadId, batches: Vec<Batch>, format: Format) -> Cursor {
        let none = BaseEvent::synthetic(EventType::ProcStop, 0, &[]);
        Cursor {
            m,
            slot: None,
            batches,
            idx: 0,
            off: 0,
            last_ts: 0,
            table: format.table_version(),
            counts: timed_args_of(format),
            time: 0,
            cur: 0,
            ahead: [none; AHEAD],
            pos: 0,
            len: 0,
            failed: None,
        }
    }

    /// Moves to the next event ([`Cursor::ev`], at [`Cursor::time`]); false
    /// when none is left.
    #[inline(always)]
    pub(crate) fn advance(
        &mut self,
        storage: &[u8],
        freq: Frequency,
    ) -> std::result::Result<bool, Box<Error>> {
        if self.pos < self.len {
            self.cur = self.pos & (AHEAD - 1);
            self.time = self.ahead[self.cur].time;
            self.pos += 1;
            return Ok(true);
        }
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        if !self.read_ahead(storage, freq)? {
            return Ok(false);
        }
        self.cur = 0;
        self.time = self.ahead[0].time;
        self.pos = 1;
        Ok(true)
    }

    /// The next event (valid after `advance` returned true), decoded in
    /// place: it is not copied out of the read-ahead buffer.
    #[inline]
    pub(crate) fn ev(&self) -> &BaseEvent {
        &self.ahead[self.cur & (AHEAD - 1)]
    }

    /// The next event, to be completed by the ordering engine, and the
    /// thread's slot there.
    #[inline]
    pub(crate) fn ev_and_slot(&mut self) -> (&mut BaseEvent, &mut Option<usize>) {
        (&mut self.ahead[self.cur & (AHEAD - 1)], &mut self.slot)
    }

    /// Decodes up to [`AHEAD`] events of the current batch (moving to the
    /// next batch with data first) into `ahead`; false when none is left.
    /// An error on the first event is returned; one after it is kept for
    /// when the cursor gets there.
    #[inline(never)]
    fn read_ahead(
        &mut self,
        storage: &[u8],
        freq: Frequency,
    ) -> std::result::Result<bool, Box<Error>> {
        loop {
            let Some(b) = self.batches.get(self.idx) else {
                return Ok(false);
            };
            if self.off < b.end - b.start {
                break;
            }
            self.idx += 1;
            self.off = 0;
            self.last_ts = 0;
        }
        let b = self.batches[self.idx];
        let data = b.data(storage);
        let size = b.end - b.start;
        let mut off = self.off;
        let mut last_ts = self.last_ts;
        let mut n = 0;
        while n < AHEAD && off < size {
            if last_ts == 0 {
                last_ts = freq.to_ns(b.time);
            }
            let ev = &mut self.ahead[n];
            // Most events are decoded from a window of the batch that holds
            // the longest event; the rest (and anything unusual) take the
            // general path, which also words the errors.
            if let Some(w) = data.get(off..off + WINDOW) {
                if let Ok(w) = <&[u8; WINDOW]>::try_from(w) {
                    if let Some((len, dt)) = decode_window(w, self.counts, ev) {
                        ev.time = freq.to_ns(dt).wrapping_add(last_ts);
                        last_ts = ev.time;
                        off += len;
                        n += 1;
                        continue;
                    }
                }
            }
            match decode_timed(data.get(off..).unwrap_or(&[]), self.table, ev) {
                Ok((len, dt)) => {
                    ev.time = freq.to_ns(dt).wrapping_add(last_ts);
                    last_ts = ev.time;
                    off += len;
                    n += 1;
                }
                Err(e) => {
                    let e = Box::new(e.on_thread(self.m.0).at_offset(b.offset + (off as u64)));
                    if n == 0 {
                        return Err(e);
                    }
                    self.failed = Some(e);
                    break;
                }
            }
        }
        self.off = off;
        self.last_ts = last_ts;
        self.pos = 0;
        self.len = n;
        Ok(true)
    }
}

/// Bytes of the window [`decode_window`] reads: a type byte and six
/// varints of up to [`WINDOW_VARINT`] bytes fit.
const WINDOW: usize = 64;

/// The longest varint [`decode_window`] decodes (longer ones, which may
/// overflow, take the general path).
const WINDOW_VARINT: usize = 9;

/// Reads a varint of at most [`WINDOW_VARINT`] bytes at `at` in `w`:
/// its value and the position after it.
#[inline(always)]
fn window_varint(w: &[u8; WINDOW], at: usize) -> Option<(u64, usize)> {
    let b = w[at & (WINDOW - 1)];
    if b < 0x80 {
        return Some((u64::from(b), at + 1));
    }
    let mut v = u64::from(b & 0x7f);
    let mut i = 1;
    while i < WINDOW_VARINT {
        let b = w[(at + i) & (WINDOW - 1)];
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Some((v, at + i + 1));
        }
        i += 1;
    }
    None
}

/// [`decode_timed`] for an event that starts a window of [`WINDOW`] bytes
/// of its batch, with `counts` the table's [`TIMED_ARGS`]; `None` if the
/// type byte is no timed event or a varint is longer than
/// [`WINDOW_VARINT`] bytes (the general path then decides).
#[inline(always)]
fn decode_window(w: &[u8; WINDOW], counts: &[u8; 256], ev: &mut BaseEvent) -> Option<(usize, u64)> {
    let t = w[0];
    let c = counts[usize::from(t)];
    let typ = TYPES[usize::from(t)]?;
    if c == 0 {
        return None;
    }
    let (dt, mut at) = window_varint(w, 1)?;
    let n = usize::from(c - 1);
    let mut args = [0u64; MAX_ARGS];
    // A fixed-length loop that stops early unrolls completely.
    for (k, a) in args.iter_mut().enumerate() {
        if k == n {
            break;
        }
        let (v, next) = window_varint(w, at)?;
        *a = v;
        at = next;
    }
    ev.typ = typ;
    ev.args = args;
    Some((at, dt))
}

/// Decodes one timed event from the front of `data`, with the event table of
/// version `table` (see [`Format::table_version`]); returns its length and
/// its raw time delta.
#[inline]
fn decode_timed(data: &[u8], table: u8, ev: &mut BaseEvent) -> Result<(usize, u64)> {
    let Some(&t) = data.first() else {
        return Err(Error::new(
            ErrorKind::UnexpectedEof,
            "unexpected end of batch",
        ));
    };
    let spec = SPECS[t as usize];
    let (typ, spec) = match (TYPES[t as usize], spec) {
        (Some(typ), Some(spec)) if spec.timed && spec.since <= table => (typ, spec),
        _ if t > 136 => {
            return Err(Error::new(
                ErrorKind::UnknownEvent(t),
                format!("found invalid event type: {t}"),
            ))
        }
        _ => {
            return Err(Error::new(
                ErrorKind::UnknownEvent(t),
                format!("found event without a timestamp: type={t}"),
            ))
        }
    };
    let count = (spec.args.len() - 1).min(MAX_ARGS);
    ev.typ = typ;
    let mut n = 1;
    let (dt, k) = read_uvarint(&data[n..])
        .map_err(|_| Error::new(ErrorKind::BadVarint, "found invalid uvarint for timestamp"))?;
    n += k;
    ev.args = [0; MAX_ARGS];
    for k in 0..count {
        let (v, len) = read_uvarint(data.get(n..).unwrap_or(&[]))
            .map_err(|_| Error::new(ErrorKind::BadVarint, "found invalid uvarint"))?;
        ev.args[k] = v;
        n += len;
    }
    Ok((n, dt))
}

/// Cursors with a pending event, as a binary min-heap on time.
#[derive(Debug, Default)]
pub(crate) struct Frontier {
    /// Boxed, so that sifting moves pointers rather than whole cursors.
    #[allow(clippy::vec_box)]
    heap: Vec<Box<Cursor>>,
}

impl Frontier {
    /// Number of cursors.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// True if no cursor is left.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The cursor at heap position `i`.
    #[inline]
    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut Cursor> {
        self.heap.get_mut(i).map(|c| &mut **c)
    }

    /// All cursors, in heap order.
    pub(crate) fn cursors(&self) -> impl Iterator<Item = &Cursor> + '_ {
        self.heap.iter().map(|c| &**c)
    }

    /// The earliest pending time.
    #[inline]
    pub(crate) fn min_time(&self) -> Option<i64> {
        self.heap.first().map(|c| c.time)
    }

    /// Adds a cursor whose event is loaded.
    pub(crate) fn push(&mut self, c: Cursor) {
        self.heap.push(Box::new(c));
        self.sift_up(self.heap.len() - 1);
    }

    /// Restores the heap after the cursor at `i` moved to a later event.
    #[inline(always)]
    pub(crate) fn update(&mut self, i: usize) {
        if self.sift_up(i) == i {
            self.sift_down(i);
        }
    }

    /// Removes the cursor at `i`: moves it to the root regardless of times,
    /// swaps it with the last entry, drops it and sifts the new root down.
    pub(crate) fn remove(&mut self, mut i: usize) {
        if i >= self.heap.len() {
            return;
        }
        while i > 0 {
            let parent = (i - 1) / 2;
            self.heap.swap(parent, i);
            i = parent;
        }
        let last = self.heap.len() - 1;
        self.heap.swap(0, last);
        self.heap.pop();
        self.sift_down(0);
    }

    /// Sorts the cursors by time (stably); a sorted array is still a valid
    /// heap, and positions then follow the order in which to try them.
    pub(crate) fn sort(&mut self) {
        self.heap.sort_by_key(|c| c.time);
    }

    #[inline(always)]
    fn sift_up(&mut self, mut i: usize) -> usize {
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.heap[parent].time <= self.heap[i].time {
                break;
            }
            self.heap.swap(parent, i);
            i = parent;
        }
        i
    }

    #[inline]
    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let mut m = i;
            let mut t = match self.heap.get(i) {
                Some(c) => c.time,
                None => return,
            };
            for c in [2 * i + 1, 2 * i + 2] {
                if c < n && self.heap[c].time < t {
                    t = self.heap[c].time;
                    m = c;
                }
            }
            if m == i {
                return;
            }
            self.heap.swap(i, m);
            i = m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(m: i64, time: i64) -> Cursor {
        let mut c = Cursor::new(ThreadId(m), Vec::new(), Format::Go123);
        c.time = time;
        c
    }

    #[test]
    fn heap_orders_by_time_and_keeps_ties_in_place() {
        let mut f = Frontier::default();
        for (m, t) in [(-1, 10), (1, 20), (2, 10), (5, 10), (9, 3)] {
            f.push(cursor(m, t));
        }
        let mut order = Vec::new();
        while !f.is_empty() {
            let c = f.cursors().next().expect("non-empty");
            order.push((c.time, c.m.0));
            f.remove(0);
        }
        // Go's removal moves the last entry to the root; equal times do not
        // sift past each other.
        assert_eq!(order, [(3, 9), (10, 5), (10, -1), (10, 2), (20, 1)]);

        // The root whose next event ties with a child's stays at the root.
        let mut f = Frontier::default();
        f.push(cursor(1, 5));
        f.push(cursor(2, 7));
        if let Some(c) = f.get_mut(0) {
            c.time = 7;
        }
        f.update(0);
        assert_eq!(f.cursors().next().map(|c| c.m), Some(ThreadId(1)));
    }

    #[test]
    fn id_argument_table_matches_the_specs() {
        for &t in EventType::ALL {
            let s = t.spec();
            let a = ID_ARGS[t as usize];
            let used = |v: &[u8; 2]| v.iter().filter(|&&i| i != NO_ARG).count();
            assert_eq!(used(&a.stacks), s.stack_ids.len(), "{}", s.name);
            assert_eq!(used(&a.strings), s.string_ids.len(), "{}", s.name);
            for (k, &i) in s.stack_ids.iter().enumerate() {
                assert_eq!(usize::from(a.stacks[k]) + 1, i);
            }
            for (k, &i) in s.string_ids.iter().enumerate() {
                assert_eq!(usize::from(a.strings[k]) + 1, i);
            }
        }
    }

    #[test]
    fn decodes_timed_events_from_the_spec() {
        let mut ev = BaseEvent::synthetic(EventType::ProcStop, 0, &[]);
        // GoStatus dt=1 g=1 m=7 gstatus=2
        let (n, dt) = decode_timed(&[0x19, 1, 1, 7, 2, 0xff], 23, &mut ev).unwrap();
        assert_eq!((n, dt, ev.typ), (5, 1, EventType::GoStatus));
        assert_eq!(&ev.args[..3], &[1, 7, 2]);
        let e = decode_timed(&[0x08, 1], 23, &mut ev).unwrap_err();
        assert_eq!(e.message(), "found event without a timestamp: type=8");
        let e = decode_timed(&[200], 23, &mut ev).unwrap_err();
        assert_eq!(e.message(), "found invalid event type: 200");
        let e = decode_timed(&[0x19, 1, 1], 23, &mut ev).unwrap_err();
        assert_eq!(e.message(), "found invalid uvarint");
        // ClockSnapshot is timed from the go 1.25 table on, unknown before.
        let e = decode_timed(&[51, 1, 1, 1, 1], 23, &mut ev).unwrap_err();
        assert_eq!(e.message(), "found event without a timestamp: type=51");
        let (n, _) = decode_timed(&[51, 1, 2, 3, 4], 25, &mut ev).unwrap();
        assert_eq!((n, ev.typ), (5, EventType::ClockSnapshot));
    }

    #[test]
    fn window_decoding_agrees_with_the_general_path() {
        // Pseudo-random bytes, biased towards short varints and real types.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for f in [Format::Go123, Format::Go125, Format::Go126] {
            let mut decoded = 0;
            for _ in 0..20_000 {
                let mut w = [0u8; WINDOW];
                for b in w.iter_mut() {
                    let r = next();
                    *b = match r % 4 {
                        0 => (r >> 8) as u8,
                        _ => (r >> 8) as u8 & 0x7f,
                    };
                }
                w[0] = (next() % 60) as u8;
                let mut a = BaseEvent::synthetic(EventType::ProcStop, 0, &[]);
                let mut b = a;
                if let Some(got) = decode_window(&w, timed_args_of(f), &mut a) {
                    let want = decode_timed(&w, f.table_version(), &mut b).unwrap();
                    assert_eq!(got, want);
                    assert_eq!((a.typ, a.args), (b.typ, b.args));
                    decoded += 1;
                } else if let Ok((_, _)) = decode_timed(&w, f.table_version(), &mut b) {
                    // Only long varints may leave the window path.
                    assert!(w.iter().any(|&b| b >= 0x80));
                }
            }
            assert!(decoded > 1000, "{decoded}");
        }
    }

    #[test]
    fn errors_read_ahead_surface_at_their_event() {
        // 40 ProcStop events (more than one read-ahead), then a byte that is
        // no event type.
        let mut storage = Vec::new();
        for _ in 0..40 {
            storage.extend([0x0b, 1]);
        }
        storage.push(200);
        let b = Batch {
            m: ThreadId(3),
            time: 10,
            exp: 0,
            start: 0,
            end: storage.len(),
            offset: 100,
        };
        let mut c = Cursor::new(ThreadId(3), vec![b], Format::Go123);
        let f = Frequency::from_units_per_second(1_000_000_000);
        for i in 0..40 {
            assert!(c.advance(&storage, f).unwrap(), "event {i}");
            assert_eq!((c.ev().typ, c.time), (EventType::ProcStop, 11 + i));
        }
        let e = c.advance(&storage, f).unwrap_err();
        assert_eq!(e.message(), "found invalid event type: 200");
        assert_eq!(e.offset(), Some(180));
    }

    #[test]
    fn times_rebase_at_each_batch() {
        // Two batches of ProcStop events: base 10 then base 100, 64 ns units.
        let storage = [0x0b, 1, 0x0b, 2, 0x0b, 0];
        let b = |start, end, time| Batch {
            m: ThreadId(1),
            time,
            exp: 0,
            start,
            end,
            offset: 0,
        };
        let mut c = Cursor::new(ThreadId(1), vec![b(0, 4, 10), b(4, 6, 100)], Format::Go123);
        let f = Frequency::from_units_per_second(15_625_000);
        let mut times = Vec::new();
        while c.advance(&storage, f).unwrap() {
            times.push(c.time);
        }
        assert_eq!(times, [11 * 64, 13 * 64, 100 * 64]);
    }
}
