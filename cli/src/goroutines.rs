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

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use gort_parser::summary::{format_duration, GoroutineSummary, Summarizer, Summary};
use gort_parser::Reader;

/// Runs `gort-trace goroutines FILE [--json] [--name NAME]`.
pub(crate) fn run(
    path: &Path,
    json: bool,
    name: Option<&str>,
    out: &mut dyn Write,
) -> crate::CmdResult {
    let data = crate::read_trace(path)?;
    let summary = summarize(&data)?;
    let selected: Vec<&GoroutineSummary> = summary
        .goroutines()
        .filter(|g| name.is_none_or(|n| g.name == n))
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
fn summarize(data: &[u8]) -> Result<Summary, Box<dyn std::error::Error>> {
    let mut r =
        Reader::from_slice(data).map_err(|e| format!("failed to create trace reader: {e}"))?;
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
    let range_names: BTreeSet<&String> = gs.iter().flat_map(|g| g.stats.ranges.keys()).collect();
    if !range_names.is_empty() {
        writeln!(out, "\nSpecial ranges")?;
        let mut rows = vec![{
            let mut h = vec!["Goroutine".to_owned(), "Total".to_owned()];
            h.extend(range_names.iter().map(|s| (*s).clone()));
            h
        }];
        for g in gs
            .iter()
            .filter(|g| g.stats.ranges.values().sum::<i64>() != 0)
        {
            let mut r = vec![g.id.to_string(), format_duration(g.stats.total)];
            r.extend(
                range_names
                    .iter()
                    .map(|n| format_duration(g.stats.ranges.get(*n).copied().unwrap_or(0))),
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

fn write_json(gs: &[&GoroutineSummary], out: &mut dyn Write) -> crate::CmdResult {
    use std::fmt::Write as _;
    // Each breakdown once: `Execution time`, then the rest by name.
    let rows: Vec<Vec<(String, i64)>> = gs.iter().map(|g| g.breakdown()).collect();
    let mut rest = BTreeSet::new();
    for r in &rows {
        for (k, _) in r.iter().skip(1) {
            if !rest.contains(k.as_str()) {
                rest.insert(k.as_str());
            }
        }
    }
    let keys: Vec<String> = rest
        .iter()
        .map(|c| {
            let mut k = String::new();
            json_string(&mut k, c);
            k
        })
        .collect();
    let mut s = String::with_capacity(gs.len() * 256 + 4);
    s.push('[');
    for (i, (g, row)) in gs.iter().zip(&rows).enumerate() {
        if i > 0 {
            s.push(',');
        }
        write!(s, "\n{{\"id\":{},\"name\":", g.id)?;
        json_string(&mut s, &g.name);
        write!(s, ",\"stats\":{{\"Total\":{}", g.stats.total)?;
        write!(s, ",\"Execution time\":{}", g.stats.exec)?;
        // Both `rest` and the row's tail are in name order: merge them.
        let mut own = row.iter().skip(1).peekable();
        for (col, key) in rest.iter().zip(&keys) {
            let v = match own.peek() {
                Some((k, v)) if k.as_str() == *col => {
                    own.next();
                    *v
                }
                _ => 0,
            };
            write!(s, ",{key}:{v}")?;
        }
        s.push_str("},\"ranges\":{");
        for (j, (k, v)) in g.stats.ranges.iter().enumerate() {
            if j > 0 {
                s.push(',');
            }
            json_string(&mut s, k);
            write!(s, ":{v}")?;
        }
        s.push_str("}}");
    }
    s.push_str("\n]\n");
    out.write_all(s.as_bytes())?;
    Ok(())
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
