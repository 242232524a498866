//! `gort-trace goroutines`: Go's goroutine analysis pages as text or JSON,
//! from the library's [`gort_parser::summary`] module.
//!
//! - no `--name`: Go's `/goroutines` table (start location, count, total
//!   execution time), by execution time, ties by name;
//! - `--name NAME`: Go's `/goroutine?name=NAME` page: the share of the
//!   execution time, then the breakdown (one row per goroutine, by total
//!   time, ties by ID) and the special ranges;
//! - `--json`: one object per goroutine (of the group with `--name`), by
//!   ID: `id`, `name`, `stats` (every column of Go's breakdown table for
//!   those goroutines, `Total` first, in nanoseconds) and `ranges`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::Path;

use gort_parser::summary::{block_column, format_duration, GoroutineSummary, Summarizer, Summary};
use gort_parser::Reader;

/// Runs `gort-trace goroutines FILE [--json] [--name NAME]`.
pub(crate) fn run(
    path: &Path,
    json: bool,
    name: Option<&str>,
    out: &mut dyn Write,
) -> crate::CmdResult {
    let summary = summarize(crate::open_trace(path)?)?;
    let selected: Vec<&GoroutineSummary> = summary
        .goroutines()
        .filter(|g| name.is_none_or(|n| *g.name == *n))
        .collect();
    if let Some(n) = name {
        if selected.is_empty() {
            return Err(format!("no goroutine has the start function {n:?}").into());
        }
    }
    if json {
        write_json(&selected, out)
    } else if let Some(n) = name {
        write_group(&summary, n, selected, out)
    } else {
        write_groups(&summary, out)
    }
}

/// The summary of every event, as `go tool trace` computes it: a trace cut
/// short still counts, as long as one generation is complete.
/// The trace is read as a stream, one generation at a time.
fn summarize(file: std::fs::File) -> Result<Summary, Box<dyn std::error::Error>> {
    let mut r = Reader::new(file).map_err(|e| format!("failed to create trace reader: {e}"))?;
    let mut s = Summarizer::new();
    let mut complete = false;
    loop {
        match r.next_event() {
            Ok(Some(ev)) => {
                s.event(ev);
                complete |= ev.kind() == gort_parser::EventKind::Sync;
            }
            Ok(None) => break,
            Err(e) if complete => {
                eprintln!("gort-trace: warning: {e} (analysing the complete generations)");
                break;
            }
            Err(e) => {
                return Err(format!("failed to parse any useful part of the trace: {e}").into())
            }
        }
    }
    Ok(s.finish())
}

fn display_name(name: &str) -> &str {
    if name.is_empty() {
        "(Inactive, no stack trace sampled)"
    } else {
        name
    }
}

fn write_groups(summary: &Summary, out: &mut dyn Write) -> crate::CmdResult {
    let groups = summary.groups();
    let width = groups
        .iter()
        .map(|g| display_name(&g.name).chars().count())
        .chain([14])
        .max()
        .unwrap_or(14);
    writeln!(
        out,
        "{:<width$}  {:>7}  Total execution time",
        "Start location", "Count"
    )?;
    for g in &groups {
        writeln!(
            out,
            "{:<width$}  {:>7}  {}",
            display_name(&g.name),
            g.count,
            format_duration(g.exec_time)
        )?;
    }
    Ok(())
}

/// Columns of the breakdown for `gs`: `Execution time`, then the union of
/// the other stats in byte order (Go's table).
fn columns(gs: &[&GoroutineSummary]) -> Vec<String> {
    let mut rest = BTreeSet::new();
    for g in gs {
        for (k, _) in g.breakdown().into_iter().skip(1) {
            rest.insert(k);
        }
    }
    let mut v = vec!["Execution time".to_owned()];
    v.extend(rest);
    v
}

/// A goroutine's breakdown by column (absent columns are 0).
fn by_column(g: &GoroutineSummary) -> BTreeMap<String, i64> {
    g.breakdown().into_iter().collect()
}

fn write_group(
    summary: &Summary,
    name: &str,
    mut gs: Vec<&GoroutineSummary>,
    out: &mut dyn Write,
) -> crate::CmdResult {
    let total = summary.total_exec_time();
    let exec = gs.iter().fold(0i64, |a, g| a.wrapping_add(g.stats.exec));
    writeln!(out, "Goroutine start location: {}", display_name(name))?;
    writeln!(out, "Count: {}", gs.len())?;
    if total > 0 {
        writeln!(
            out,
            "Execution time: {:.2}% of total program execution time",
            exec as f64 / total as f64 * 100.0
        )?;
    }
    gs.sort_by(|a, b| b.stats.total.cmp(&a.stats.total).then(a.id.cmp(&b.id)));
    let cols = columns(&gs);
    writeln!(out, "\nBreakdown")?;
    let mut rows = vec![{
        let mut h = vec!["Goroutine".to_owned(), "Total".to_owned()];
        h.extend(cols.iter().cloned());
        h
    }];
    for g in &gs {
        let b = by_column(g);
        let mut r = vec![g.id.to_string(), format_duration(g.stats.total)];
        r.extend(
            cols.iter()
                .map(|c| format_duration(b.get(c).copied().unwrap_or(0))),
        );
        rows.push(r);
    }
    write_table(&rows, out)?;
    let range_names: BTreeSet<&str> = gs
        .iter()
        .flat_map(|g| g.stats.ranges.iter().map(|(k, _)| &**k))
        .collect();
    if !range_names.is_empty() {
        writeln!(out, "\nSpecial ranges")?;
        let mut rows = vec![{
            let mut h = vec!["Goroutine".to_owned(), "Total".to_owned()];
            h.extend(range_names.iter().map(|s| (*s).to_owned()));
            h
        }];
        for g in gs.iter().filter(|g| {
            g.stats
                .ranges
                .iter()
                .fold(0i64, |a, (_, d)| a.wrapping_add(*d))
                != 0
        }) {
            let mut r = vec![g.id.to_string(), format_duration(g.stats.total)];
            r.extend(
                range_names
                    .iter()
                    .map(|n| format_duration(g.stats.range_time(n))),
            );
            rows.push(r);
        }
        write_table(&rows, out)?;
    }
    Ok(())
}

/// Columns separated by two spaces, each as wide as its widest cell.
fn write_table(rows: &[Vec<String>], out: &mut dyn Write) -> crate::CmdResult {
    let n = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let mut line = String::new();
        for (i, (c, w)) in r.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = w.saturating_sub(c.chars().count());
            if i == 0 {
                line.push_str(c);
                line.extend(std::iter::repeat_n(' ', pad));
            } else {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(c);
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// The JSON output is written in pieces of about this size (small enough
/// that the buffer comes from memory the process already has: a fresh
/// mapping costs a page fault per 4 KiB written).
const JSON_CHUNK: usize = 1 << 16;

fn write_json(gs: &[&GoroutineSummary], out: &mut dyn Write) -> crate::CmdResult {
    // The columns after `Execution time`, in name order: the four fixed ones
    // and one per block reason of any goroutine (`syscall` shares its column
    // with the syscall block time, as in Go's table).
    let mut names: BTreeSet<String> = [
        "Sched wait time",
        "Syscall execution time",
        "Block time (syscall)",
        "Unknown time",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    let mut reasons: HashMap<&str, usize> = HashMap::new();
    for g in gs {
        for (r, _) in &g.stats.block {
            if !reasons.contains_key(&**r) {
                reasons.insert(r, 0);
                names.insert(block_column(r));
            }
        }
    }
    let cols: Vec<&String> = names.iter().collect();
    let col = |n: &str| cols.iter().position(|c| c.as_str() == n).unwrap_or(0);
    let (sched, syscall, syscall_block, unknown) = (
        col("Sched wait time"),
        col("Syscall execution time"),
        col("Block time (syscall)"),
        col("Unknown time"),
    );
    for (r, i) in reasons.iter_mut() {
        *i = col(&block_column(r));
    }
    // Each column's key, quoted, with its leading comma.
    let keys: Vec<Vec<u8>> = cols
        .iter()
        .map(|c| {
            let mut k = String::from(",");
            json_string(&mut k, c);
            k.push(':');
            k.into_bytes()
        })
        .collect();
    let mut s: Vec<u8> = Vec::with_capacity(JSON_CHUNK + 4096);
    let mut vals = vec![0i64; cols.len()];
    let mut text = String::new();
    s.push(b'[');
    for (i, g) in gs.iter().enumerate() {
        if i > 0 {
            s.push(b',');
        }
        s.extend_from_slice(b"\n{\"id\":");
        put_i64(&mut s, g.id.0);
        s.extend_from_slice(b",\"name\":");
        text.clear();
        json_string(&mut text, &g.name);
        s.extend_from_slice(text.as_bytes());
        s.extend_from_slice(b",\"stats\":{\"Total\":");
        put_i64(&mut s, g.stats.total);
        s.extend_from_slice(b",\"Execution time\":");
        put_i64(&mut s, g.stats.exec);
        vals.fill(0);
        vals[sched] = g.stats.sched_wait;
        vals[syscall] = g.stats.syscall;
        vals[syscall_block] = g.stats.syscall_block;
        vals[unknown] = g.stats.unknown();
        for (r, d) in &g.stats.block {
            let c = reasons.get(&**r).copied().unwrap_or(unknown);
            vals[c] = vals[c].wrapping_add(*d);
        }
        for (k, v) in keys.iter().zip(&vals) {
            s.extend_from_slice(k);
            put_i64(&mut s, *v);
        }
        s.extend_from_slice(b"},\"ranges\":{");
        for (j, (k, v)) in g.stats.ranges.iter().enumerate() {
            if j > 0 {
                s.push(b',');
            }
            text.clear();
            json_string(&mut text, k);
            s.extend_from_slice(text.as_bytes());
            s.push(b':');
            put_i64(&mut s, *v);
        }
        s.extend_from_slice(b"}}");
        if s.len() >= JSON_CHUNK {
            out.write_all(&s)?;
            s.clear();
        }
    }
    s.extend_from_slice(b"\n]\n");
    out.write_all(&s)?;
    Ok(())
}

/// Two-digit decimal strings "00" to "99", back to back.
const DIGIT_PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends `v` in decimal.
#[inline]
fn put_i64(out: &mut Vec<u8>, v: i64) {
    // Most columns of most goroutines are 0.
    if v == 0 {
        out.push(b'0');
        return;
    }
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut u = v.unsigned_abs();
    while u >= 100 {
        let d = (u % 100) as usize * 2;
        u /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
    }
    if u >= 10 {
        let d = u as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + u as u8;
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends `v` as a JSON string.
fn json_string(out: &mut String, v: &str) {
    out.push('"');
    if !v
        .chars()
        .any(|c| c == '"' || c == '\\' || (c as u32) < 0x20)
    {
        out.push_str(v);
        out.push('"');
        return;
    }
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::put_i64;

    #[test]
    fn decimal_matches_the_formatter() {
        let mut vals = vec![0, 1, -1, 9, 10, 99, 100, 101, 999, 1000, i64::MAX, i64::MIN];
        let mut x: i64 = 1;
        for _ in 0..18 {
            x *= 10;
            vals.extend([x - 1, x, x + 1, -x, -(x - 1), x / 3 * 7]);
        }
        for v in vals {
            let mut out = Vec::new();
            put_i64(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
    }
}
