//! `gort-trace stats FILE`: event counts per type, and per goroutine the time
//! spent running, runnable, waiting (by reason) and in syscalls, plus
//! coroutine switches.
//!
//! Goroutines are listed by total traced time, longest first; the first
//! [`TOP_GOROUTINES`] are shown, the rest are summed in one line.

use std::io::Write;
use std::path::Path;

use gort_parser::{GoTimes, Reader, Stats};

/// Goroutines listed one per line.
const TOP_GOROUTINES: usize = 25;

/// Runs `gort-trace stats FILE`. The trace is read as a stream, one
/// generation in memory at a time.
pub(crate) fn run(path: &Path, out: &mut dyn Write) -> crate::CmdResult {
    let mut st = Stats::new();
    let mut r = Reader::new(crate::open_trace(path)?)?;
    while let Some(ev) = r.next_event()? {
        st.event(ev);
    }
    st.finish();
    print(&st, path, out)?;
    Ok(())
}

fn ms(ns: i64) -> String {
    format!("{:.3}", ns as f64 / 1e6)
}

fn sat_sum(it: impl Iterator<Item = i64>) -> i64 {
    it.fold(0, i64::saturating_add)
}

fn total(g: &GoTimes) -> i64 {
    sat_sum([g.running, g.runnable, g.syscall, g.waiting_total()].into_iter())
}

fn print(st: &Stats, path: &Path, out: &mut dyn Write) -> std::io::Result<()> {
    let span = st.last.saturating_sub(st.first.unwrap_or(st.last));
    writeln!(out, "trace:       {}", path.display())?;
    writeln!(
        out,
        "events:      {} in {} generation(s), spanning {} ms",
        st.events,
        st.generations,
        ms(span)
    )?;
    writeln!(out, "goroutines:  {}", st.goroutines.len())?;
    writeln!(out, "switches:    {} coroutine switches", st.switches)?;

    writeln!(out, "\nevents by kind:")?;
    for (k, n) in &st.by_kind {
        writeln!(out, "  {:<22} {n:>12}", k.name())?;
    }
    writeln!(out, "\nevents by type:")?;
    let mut types: Vec<_> = st.by_type.iter().collect();
    types.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (t, n) in types {
        writeln!(out, "  {t:<22} {n:>12}")?;
    }

    let mut reasons: std::collections::BTreeMap<&str, i64> = Default::default();
    let mut sum = GoTimes::default();
    for g in st.goroutines.values() {
        sum.running = sum.running.saturating_add(g.running);
        sum.runnable = sum.runnable.saturating_add(g.runnable);
        sum.syscall = sum.syscall.saturating_add(g.syscall);
        for (r, d) in &g.waiting {
            let e = reasons.entry(r.as_str()).or_default();
            *e = e.saturating_add(*d);
        }
    }
    writeln!(out, "\ngoroutine time, all goroutines (ms):")?;
    writeln!(out, "  running   {:>14}", ms(sum.running))?;
    writeln!(out, "  runnable  {:>14}", ms(sum.runnable))?;
    writeln!(out, "  syscall   {:>14}", ms(sum.syscall))?;
    writeln!(
        out,
        "  waiting   {:>14}",
        ms(sat_sum(reasons.values().copied()))
    )?;
    let mut rs: Vec<_> = reasons.into_iter().collect();
    rs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    for (r, d) in rs {
        let r = if r.is_empty() { "(no reason)" } else { r };
        writeln!(out, "    {r:<34} {:>14}", ms(d))?;
    }

    writeln!(out, "\nper goroutine (ms), longest traced first:")?;
    writeln!(
        out,
        "  {:>8} {:>12} {:>12} {:>12} {:>12} {:>8} {:>8}  main wait reason",
        "G", "running", "runnable", "waiting", "syscall", "sw-out", "sw-in"
    )?;
    let mut gs: Vec<_> = st.goroutines.iter().collect();
    gs.sort_by(|a, b| total(b.1).cmp(&total(a.1)).then(a.0.cmp(b.0)));
    for (id, g) in gs.iter().take(TOP_GOROUTINES) {
        let main = g
            .waiting
            .iter()
            .max_by_key(|(_, d)| **d)
            .map(|(r, _)| {
                if r.is_empty() {
                    "(no reason)"
                } else {
                    r.as_str()
                }
            })
            .unwrap_or("-");
        writeln!(
            out,
            "  {:>8} {:>12} {:>12} {:>12} {:>12} {:>8} {:>8}  {main}",
            id.0,
            ms(g.running),
            ms(g.runnable),
            ms(g.waiting_total()),
            ms(g.syscall),
            g.switches_out,
            g.switches_in
        )?;
    }
    if gs.len() > TOP_GOROUTINES {
        let rest = &gs[TOP_GOROUTINES..];
        let f = |get: fn(&GoTimes) -> i64| ms(sat_sum(rest.iter().map(|(_, g)| get(g))));
        writeln!(
            out,
            "  {:>8} {:>12} {:>12} {:>12} {:>12}  ({} more goroutines)",
            "rest",
            f(|g| g.running),
            f(|g| g.runnable),
            f(GoTimes::waiting_total),
            f(|g| g.syscall),
            rest.len()
        )?;
    }
    Ok(())
}
