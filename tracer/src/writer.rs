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

use crate::buf::{TraceBuf, MAX_EVENT_NUMS};
use crate::registry::ThreadTrace;
use crate::wire::EventType;

// A fresh buffer (at least MIN_BUF_BYTES) always has room for a batch
// header (head byte, three numbers, the padded size) and the largest event.
const _: () = assert!(
    crate::buf::MIN_BUF_BYTES
        >= TraceBuf::record_bound(3)
            + crate::wire::limits::PADDED_SIZE_BYTES
            + TraceBuf::record_bound(MAX_EVENT_NUMS)
);

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
    let mut b = crate::sink::fresh_buf(crate::state::setting(|f| f.buf_bytes));
    let (_, now) = tick(t, now);
    b.begin(gen, t.m_id(), now);
    crate::state::note_events(gen);
    slot.insert(b)
}
