//! Helpers shared by the conformance tests: our `-d=1` dump, Go's oracle, and
//! comparison modulo Go's run-to-run reordering of tied events.
#![allow(dead_code, unused_imports)]

use std::path::PathBuf;

use gort_parser::{Reader, Validator};

pub(crate) use gort_gotools::{goroot, oracle, root};

/// `tests/data/go1.23` of the workspace.
pub(crate) fn goldens() -> PathBuf {
    root().join("tests/data/go1.23")
}

/// Our `-d=1` text of `data` (one line per event plus stack blocks), and the
/// error text that ended it, if any.
pub(crate) fn dump(data: &[u8]) -> (String, Option<String>) {
    let mut out = Vec::new();
    let err = match Reader::from_slice(data) {
        Err(e) => Some(e.to_string()),
        Ok(r) => {
            let mut err = None;
            for ev in r {
                match ev {
                    Ok(ev) => {
                        ev.write_go_text(&mut out);
                        out.push(b'\n');
                    }
                    Err(e) => {
                        err = Some(e.to_string());
                        break;
                    }
                }
            }
            err
        }
    };
    (String::from_utf8(out).expect("dump is UTF-8"), err)
}

/// Parses `data` and runs the validator; the first problem, if any.
pub(crate) fn parse_and_validate(data: &[u8]) -> Result<u64, String> {
    let r = Reader::from_slice(data).map_err(|e| e.to_string())?;
    let mut v = Validator::new();
    let mut n = 0;
    for ev in r {
        let ev = ev.map_err(|e| e.to_string())?;
        v.event(&ev).map_err(|e| format!("validator: {e}"))?;
        n += 1;
    }
    Ok(n)
}

/// Splits a `-d=1` dump into events (an event starts at a line `M=...`).
fn events(text: &str) -> Vec<&str> {
    let mut evs = Vec::new();
    let mut start = None;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with("M=") {
            if let Some(s) = start {
                evs.push(&text[s..pos]);
            }
            start = Some(pos);
        }
        pos += line.len();
    }
    if let Some(s) = start {
        evs.push(&text[s..]);
    }
    evs
}

/// The `Time=` value of an event's first line.
fn time_of(ev: &str) -> i64 {
    let i = ev.find(" Time=").expect("event has Time=") + 6;
    let rest = &ev[i..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '-'))
        .unwrap_or(rest.len());
    rest[..end].parse().expect("Time= is an integer")
}

/// The event without its `Time=` field.
fn without_time(ev: &str) -> String {
    let i = ev.find(" Time=").expect("event has Time=");
    let rest = &ev[i + 6..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '-'))
        .unwrap_or(rest.len());
    format!("{}{}", &ev[..i], &rest[end..])
}

/// Runs of consecutive events whose time is at most 1 above the previous
/// event's; each run as a sorted list of events without their times.
fn runs(text: &str) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut last = None;
    for ev in events(text) {
        let t = time_of(ev);
        match last {
            Some(l) if t - l <= 1 => {}
            _ => out.push(Vec::new()),
        }
        last = Some(t);
        out.last_mut().expect("a run").push(without_time(ev));
    }
    for r in &mut out {
        r.sort();
    }
    out
}

/// Compares two dumps, accepting exactly Go's run-to-run variation: events
/// of tied (or 1 ns apart, after Go's monotonic fix) times trading places.
/// Returns a description of the first difference.
pub(crate) fn same_modulo_ties(ours: &str, go: &str) -> Result<(), String> {
    if ours == go {
        return Ok(());
    }
    let (a, b) = (runs(ours), runs(go));
    for (i, (ra, rb)) in a.iter().zip(b.iter()).enumerate() {
        if ra != rb {
            return Err(format!(
                "run {i} differs:\n--- ours:\n{}\n--- go:\n{}",
                ra.join(""),
                rb.join("")
            ));
        }
    }
    if a.len() != b.len() {
        return Err(format!("{} runs in ours, {} in Go's", a.len(), b.len()));
    }
    // Same runs as multisets; times may then differ only within a run.
    Ok(())
}
