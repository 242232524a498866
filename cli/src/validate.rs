//! `gort-trace validate FILE`: parse the whole trace and run the stricter
//! [`Validator`] over every event.
//!
//! Prints `ok: N events, G generations` and exits 0 for a valid trace; an
//! invalid one makes the command fail (exit 1) with the first error. A trace
//! whose first generation is not generation 1 (a flight-recorder snapshot,
//! a trace cut from a longer one) gets a warning on standard error: Go's
//! parser takes any first generation, but nothing in the format shows
//! whether that generation is complete.

use std::io::Write;
use std::path::Path;

use gort_parser::{Reader, Validator};

/// Runs `gort-trace validate FILE`.
pub(crate) fn run(path: &Path, out: &mut dyn Write) -> crate::CmdResult {
    let data = std::fs::read(path)
        .map_err(|e| format!("failed to read trace file: open {}: {e}", path.display()))?;
    let mut v = Validator::new();
    let (mut events, mut gens) = (0u64, 0u64);
    let mut r = Reader::from_slice(&data)?;
    while let Some(ev) = r.next_event()? {
        v.event(ev)
            .map_err(|e| format!("{e}\n(event {}: {ev})", events + 1))?;
        events += 1;
        if ev.is_generation_sync() {
            gens += 1;
        }
    }
    writeln!(out, "ok: {events} events, {gens} generations")?;
    if let Some(first) = first_generation(&data).filter(|&g| g > 1) {
        eprintln!(
            "gort-trace: warning: the trace begins at generation {first}, not 1 (a flight-recorder \
             snapshot or a cut trace): nothing in the format shows whether that generation is complete"
        );
    }
    Ok(())
}

/// The generation of the trace's first batch.
fn first_generation(data: &[u8]) -> Option<u64> {
    let mut r = gort_parser::raw::Reader::new(data).ok()?;
    while let Ok(Some(ev)) = r.read_event() {
        if ev.name() == "EventBatch" {
            return ev.arg("gen");
        }
    }
    None
}
