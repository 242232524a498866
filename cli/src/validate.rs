//! `gort-trace validate FILE`: parse the whole trace (as a stream, one
//! generation in memory at a time) and run the stricter
//! [`Validator`] over every event.
//!
//! Prints `ok: N events, G generations` and exits 0 for a valid trace; an
//! invalid one makes the command fail (exit 1) with the first error. A trace
//! whose first generation is not generation 1 (a flight-recorder snapshot,
//! a trace cut from a longer one) gets a warning on standard error: Go's
//! parser takes any first generation, but nothing in the format shows
//! whether that generation is complete.

use std::io::{Read, Write};
use std::path::Path;

use gort_parser::{Reader, Validator};

/// Runs `gort-trace validate FILE`.
pub(crate) fn run(path: &Path, out: &mut dyn Write) -> crate::CmdResult {
    let mut v = Validator::new();
    let (mut events, mut gens) = (0u64, 0u64);
    let mut r = Reader::new(crate::open_trace(path)?)?;
    while let Some(ev) = r.next_event()? {
        v.event(ev)
            .map_err(|e| format!("{e}\n(event {}: {ev})", events + 1))?;
        events += 1;
        if ev.is_generation_sync() {
            gens += 1;
        }
    }
    writeln!(out, "ok: {events} events, {gens} generations")?;
    if let Some(first) = first_generation(path).filter(|&g| g > 1) {
        eprintln!(
            "gort-trace: warning: the trace begins at generation {first}, not 1 (a flight-recorder \
             snapshot or a cut trace): nothing in the format shows whether that generation is complete"
        );
    }
    Ok(())
}

/// Bytes read from the start of the file to find the first event batch's
/// generation: the header and two batches of at most 64 KiB (an
/// experimental batch may come first), with room.
const FIRST_BATCH_BYTES: u64 = 160 << 10;

/// The generation of the trace's first event batch, read from the start of
/// the file alone.
fn first_generation(path: &Path) -> Option<u64> {
    let mut head = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(FIRST_BATCH_BYTES)
        .read_to_end(&mut head)
        .ok()?;
    let mut r = gort_parser::raw::Reader::new(&head).ok()?;
    while let Ok(Some(ev)) = r.read_event() {
        if ev.name() == "EventBatch" {
            return ev.arg("gen");
        }
    }
    None
}
