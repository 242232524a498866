//! `gort-trace validate FILE`: parse the whole trace and run the stricter
//! [`Validator`] over every event.
//!
//! Prints `ok: N events, G generations` and exits 0 for a valid trace; an
//! invalid one makes the command fail (exit 1) with the first error.

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
    Ok(())
}
