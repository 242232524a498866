//! `gort-trace json` against `go tool trace`'s own `/jsontrace` (read from
//! its `-http` server on loopback) on every Go golden, every gort example
//! trace, a trace cut short, the go 1.25/1.26 goldens and the traces of Go's
//! test programs, each against the Go that reads its format (1.23.9, 1.25.5,
//! 1.27.3).
//!
//! Outputs are compared as parsed JSON: every event with its stack IDs
//! replaced by the frames they name (`func:line`, leaf first), as a
//! multiset, since Go emits the slices still open at the end, the ranges of
//! a stop and the thread metadata in map order and numbers frames in the
//! order it meets them; and the `stackFrames` entries, each as its frame
//! chain. Numbers are compared as the floats they parse to.
//!
//! Go orders events with equal timestamps on different threads by map
//! iteration (`large.trace` has such ties, and Go's output on it varies from
//! run to run), so there a few events may begin or end 1 ns apart from Go's,
//! and a counter sampled at such a tie may show the counts of the other
//! order; nothing else may differ.

#[path = "support/go_tools.rs"]
mod go_tools;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use go_tools::{root, run, trace_tool_for, traces, TraceServer};
use serde_json::Value;

fn gort_trace() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gort-trace"))
}

/// One output, canonical: events (without `sf`/`esf`) with their frame
/// chains, counted; the frame chains of `stackFrames`, counted.
struct Canon {
    events: HashMap<(String, Vec<String>, Vec<String>), i64>,
    frames: HashMap<Vec<String>, i64>,
}

/// The `{...}` objects of `traceEvents`, one per line as `json.Encoder`
/// writes them, and the `stackFrames` object; the document layout is
/// checked on the way.
fn split_document(doc: &[u8], who: &str) -> Result<(Vec<Value>, Value), String> {
    let text = std::str::from_utf8(doc).map_err(|e| format!("{who}: not UTF-8: {e}"))?;
    let body = text
        .strip_prefix("{\"displayTimeUnit\":\"ns\"\n,\"traceEvents\": [")
        .ok_or_else(|| format!("{who}: unexpected start {:?}", &text[..text.len().min(60)]))?;
    let (events, frames) = body
        .rsplit_once("], \"stackFrames\":")
        .ok_or_else(|| format!("{who}: no stackFrames"))?;
    let frames = frames
        .strip_suffix('}')
        .ok_or_else(|| format!("{who}: no closing brace"))?;
    let frames: Value =
        serde_json::from_str(frames).map_err(|e| format!("{who}: stackFrames: {e}"))?;
    let mut out = Vec::new();
    for (i, line) in events.lines().enumerate() {
        let line = if i == 0 {
            line
        } else {
            line.strip_prefix(',')
                .ok_or_else(|| format!("{who}: event line {i} lacks its comma"))?
        };
        out.push(serde_json::from_str(line).map_err(|e| format!("{who}: event {i}: {e}: {line}"))?);
    }
    Ok((out, frames))
}

fn canon(doc: &[u8], who: &str) -> Result<Canon, String> {
    let (events, frames) = split_document(doc, who)?;
    let table = frames
        .as_object()
        .ok_or_else(|| format!("{who}: stackFrames is not an object"))?;
    let chain = |id: u64| -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        let mut id = id;
        while id != 0 {
            let f = table
                .get(&id.to_string())
                .ok_or_else(|| format!("{who}: frame {id} missing from stackFrames"))?;
            out.push(f["name"].as_str().unwrap_or_default().to_owned());
            id = f.get("parent").and_then(Value::as_u64).unwrap_or(0);
            if out.len() > 10_000 {
                return Err(format!("{who}: frame cycle at {id}"));
            }
        }
        Ok(out)
    };
    let mut c = Canon {
        events: HashMap::new(),
        frames: HashMap::new(),
    };
    for mut e in events {
        let obj = e
            .as_object_mut()
            .ok_or_else(|| format!("{who}: event is not an object"))?;
        let sf = chain(obj.remove("sf").and_then(|v| v.as_u64()).unwrap_or(0))?;
        let esf = chain(obj.remove("esf").and_then(|v| v.as_u64()).unwrap_or(0))?;
        // serde_json's maps are sorted, so the text is canonical.
        *c.events.entry((e.to_string(), sf, esf)).or_default() += 1;
    }
    for k in table.keys() {
        let id = k
            .parse()
            .map_err(|_| format!("{who}: frame key {k:?} is not a number"))?;
        *c.frames.entry(chain(id)?).or_default() += 1;
    }
    Ok(c)
}

/// The events only one side has, `(event, count)`.
type Extra = Vec<((String, Vec<String>, Vec<String>), i64)>;

fn difference(a: &Canon, b: &Canon) -> Extra {
    let mut out: Extra = a
        .events
        .iter()
        .filter_map(|(k, &n)| {
            let m = b.events.get(k).copied().unwrap_or(0);
            (n > m).then(|| (k.clone(), n - m))
        })
        .collect();
    out.sort();
    out
}

/// An event without its `ts` and `dur` (and, for a counter, its values),
/// and those two in nanoseconds.
fn untimed(e: &str) -> (String, i64, i64) {
    let mut v: Value = serde_json::from_str(e).expect("canonical event");
    let obj = v.as_object_mut().expect("object");
    if obj.get("ph").and_then(Value::as_str) == Some("C") {
        obj.remove("args");
    }
    let ns = |x: Option<Value>| {
        x.and_then(|v| v.as_f64())
            .map_or(0, |f| (f * 1000.0).round() as i64)
    };
    let ts = ns(obj.remove("ts"));
    let dur = ns(obj.remove("dur"));
    (v.to_string(), ts, dur)
}

/// An event without times, its frame chains, its start and end in ns.
type Timed = (String, Vec<String>, Vec<String>, i64, i64);

/// Whether the leftover events pair up, each with one of the other side's
/// that differs only by at most 1 ns in its start and its end (counters:
/// and in their values).
fn pair_within_1ns(ours: &Extra, go: &Extra) -> bool {
    let flat = |x: &Extra| {
        let mut v: Vec<Timed> = Vec::new();
        for ((e, sf, esf), n) in x {
            let (u, ts, dur) = untimed(e);
            for _ in 0..*n {
                v.push((u.clone(), sf.clone(), esf.clone(), ts, ts + dur));
            }
        }
        v.sort();
        v
    };
    let (a, b) = (flat(ours), flat(go));
    let mut used = vec![false; b.len()];
    a.iter().all(|x| {
        let found = b.iter().enumerate().position(|(i, y)| {
            !used[i]
                && x.0 == y.0
                && x.1 == y.1
                && x.2 == y.2
                && (x.3 - y.3).abs() <= 1
                && (x.4 - y.4).abs() <= 1
        });
        match found {
            Some(i) => {
                used[i] = true;
                true
            }
            None => false,
        }
    }) && used.iter().all(|&u| u)
}

/// Compares `gort-trace json` with Go's `/jsontrace` on `trace`.
fn compare(trace: &Path, ties: bool) -> Result<usize, String> {
    let name = trace.display().to_string();
    let ours = run(gort_trace().arg("json").arg(trace));
    same_output_to_files(trace, &ours)?;
    let server = TraceServer::start_tool(&trace_tool_for(trace), trace);
    let go = server.get_bytes("/jsontrace");
    drop(server);
    let (a, b) = (canon(&ours, "ours")?, canon(&go, "Go")?);
    let n = b.events.values().sum::<i64>() as usize;
    if a.frames != b.frames {
        return Err(format!("{name}: stackFrames differ as frame chains"));
    }
    let (only_ours, only_go) = (difference(&a, &b), difference(&b, &a));
    if only_ours.is_empty() && only_go.is_empty() {
        return Ok(n);
    }
    if ties && only_ours.len() <= 16 && pair_within_1ns(&only_ours, &only_go) {
        return Ok(n);
    }
    let show = |x: &Extra| {
        x.iter()
            .take(5)
            .map(|(k, n)| format!("    {n} x {k:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    Err(format!(
        "{name}: {} events only ours, {} only Go's:\n  ours:\n{}\n  Go:\n{}",
        only_ours.len(),
        only_go.len(),
        show(&only_ours),
        show(&only_go)
    ))
}

/// `gort-trace json` writes a regular file (`-o`, or standard output
/// redirected to one, appended to as well) as it goes and cuts a damaged
/// generation off again, where to a pipe it holds each generation back: the
/// bytes must be the same. The null device takes it too.
fn same_output_to_files(trace: &Path, piped: &[u8]) -> Result<(), String> {
    let name = trace.display().to_string();
    let fail = |what: &str, e: std::io::Error| format!("{name}: {what}: {e}");
    // `gort-trace json TRACE` with standard output on `stdout`; whether it succeeded.
    let json_to = |stdout: std::fs::File| -> Result<bool, String> {
        gort_trace()
            .arg("json")
            .arg(trace)
            .stdout(stdout)
            .status()
            .map(|st| st.success())
            .map_err(|e| fail("cannot run gort-trace", e))
    };
    let out = std::env::temp_dir().join(format!(
        "gort-json-out-{}-{}",
        std::process::id(),
        trace
            .file_name()
            .map_or("t".into(), |n| n.to_string_lossy().into_owned())
    ));
    let ok = gort_trace()
        .arg("json")
        .arg(trace)
        .arg("-o")
        .arg(&out)
        .status()
        .map_err(|e| fail("cannot run gort-trace", e))?
        .success();
    let by_o = std::fs::read(&out).map_err(|e| fail("-o output", e))?;
    if !ok || by_o != piped {
        return Err(format!(
            "{name}: `json -o FILE` wrote {} bytes, the pipe {}",
            by_o.len(),
            piped.len()
        ));
    }
    // `>> FILE` over a file that holds a line already: the line stays.
    std::fs::write(&out, b"kept\n").map_err(|e| fail("write", e))?;
    let f = std::fs::OpenOptions::new()
        .append(true)
        .open(&out)
        .map_err(|e| fail("open for appending", e))?;
    let ok = json_to(f)?;
    let appended = std::fs::read(&out).map_err(|e| fail("read back", e))?;
    std::fs::remove_file(&out).ok();
    if !ok || appended.strip_prefix(b"kept\n".as_slice()) != Some(piped) {
        return Err(format!(
            "{name}: `json >> FILE` differs from the pipe's output"
        ));
    }
    let null = std::fs::File::create("/dev/null").map_err(|e| fail("open /dev/null", e))?;
    if !json_to(null)? {
        return Err(format!("{name}: `json > /dev/null` failed"));
    }
    Ok(())
}

/// Runs `compare` on `paths` over two workers; the failures (a trace
/// rendered with fewer than 50 events counts as one unless it is in
/// `small`).
fn compare_all(paths: &[PathBuf], small: &[PathBuf]) -> Vec<String> {
    std::thread::scope(|s| {
        let jobs: Vec<_> = paths
            .chunks(paths.len().div_ceil(2).max(1))
            .map(|chunk| {
                s.spawn(move || {
                    let mut f = Vec::new();
                    for t in chunk {
                        let ties = t
                            .file_name()
                            .is_some_and(|n| n.to_string_lossy().contains("large"));
                        match compare(t, ties) {
                            Ok(n) if n < 50 && !small.contains(t) => {
                                f.push(format!("{}: only {n} events", t.display()));
                            }
                            Ok(_) => {}
                            Err(e) => f.push(e),
                        }
                    }
                    f
                })
            })
            .collect();
        jobs.into_iter()
            .flat_map(|j| j.join().expect("worker"))
            .collect()
    })
}

fn trace_files(dir: &str, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .expect("test data directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "trace")
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn json_equals_go_jsontrace_on_go_1_23_goldens_and_gort_traces() {
    let dir = std::env::temp_dir().join(format!("gort-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let mut paths = traces();
    // A trace cut in its 30th generation: Go renders the generations before.
    let src = root().join("tests/data/go1.23/genstress.trace");
    let data = std::fs::read(&src).expect("read genstress");
    let cut = dir.join("genstress-cut.trace");
    std::fs::write(&cut, &data[..data.len() * 2 / 3]).expect("write cut trace");
    paths.push(cut);
    let failures = compare_all(&paths, &[]);
    std::fs::remove_dir_all(&dir).ok();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn json_equals_go_1_25_and_1_27_jsontrace_on_newer_formats() {
    let dir = std::env::temp_dir().join(format!("gort-json-new-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let mut paths = trace_files("parser/tests/data/go1.25-1.26", "go12");
    paths.extend(trace_files("parser/tests/data/testprog", "go12"));
    assert!(
        paths.iter().any(|p| p.to_string_lossy().contains("go125_"))
            && paths.iter().any(|p| p.to_string_lossy().contains("go126_")),
        "traces of both newer formats: {paths:?}"
    );
    // Cut short: Go renders the complete generations (genstress has many;
    // the go 1.25 goldens have one, so a cut one renders as its leading
    // Sync). A bare go 1.25/1.26 header: Go 1.25 and 1.27 read one Sync and
    // render an empty view.
    let mut small = Vec::new();
    for (name, golden, header) in [
        ("go125", "go125_sched_mix_p4", &b"go 1.25 trace\0\0\0"[..]),
        ("go126", "go126_genstress", b"go 1.26 trace\0\0\0"),
    ] {
        let src = root().join(format!("parser/tests/data/go1.25-1.26/{golden}.trace"));
        let data = std::fs::read(&src).expect("read golden");
        let cut = dir.join(format!("{name}-cut.trace"));
        std::fs::write(&cut, &data[..data.len() * 2 / 3]).expect("write cut trace");
        paths.push(cut.clone());
        if name == "go125" {
            small.push(cut);
        }
        let bare = dir.join(format!("{name}-header-only.trace"));
        std::fs::write(&bare, header).expect("write header");
        paths.push(bare.clone());
        small.push(bare);
        // Garbage after the header: the reader fails after the leading Sync,
        // and Go renders that.
        let junk = dir.join(format!("{name}-junk.trace"));
        let mut bytes = header.to_vec();
        bytes.extend_from_slice(b"\xb2\x07not a batch at all\xff\xff");
        std::fs::write(&junk, bytes).expect("write junk");
        paths.push(junk.clone());
        small.push(junk);
    }
    let failures = compare_all(&paths, &small);
    std::fs::remove_dir_all(&dir).ok();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Writes `trace` with one event of its generation `gen` damaged to `out`:
/// in that generation's middle batch, the first `GoStart` of the batch's
/// second half gets a sequence number out of its goroutine's order. The
/// generation still loads; ordering stalls at that event, deep in the
/// generation, and reading fails there.
fn damage(trace: &Path, gen: u64, out: &Path) {
    let text = String::from_utf8(run(gort_trace().arg("bin2text").arg(trace)))
        .expect("the text form is UTF-8");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let header = format!("EventBatch gen={gen} ");
    let batches: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with(&header))
        .collect();
    assert!(batches.len() >= 4, "{}: generation {gen}", trace.display());
    let b = batches[batches.len() / 2];
    let end = (b + 1..lines.len())
        .find(|&i| lines[i].starts_with("EventBatch"))
        .unwrap_or(lines.len());
    let i = ((b + end) / 2..end)
        .find(|&i| lines[i].starts_with("GoStart ") && lines[i].contains(" g_seq="))
        .expect("a GoStart in the second half of the batch");
    let line = &lines[i];
    let at = line.find(" g_seq=").expect("g_seq") + " g_seq=".len();
    let digits = line[at..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(line.len(), |n| at + n);
    let seq: u64 = line[at..digits].parse().expect("a sequence number");
    // Another number of the same varint length, so that the batch keeps
    // its size.
    let bits = 7 * (64 - seq.leading_zeros()).div_ceil(7).max(1);
    let wrong = if seq == (1 << bits) - 1 {
        seq - 1
    } else {
        (1 << bits) - 1
    };
    lines[i] = format!("{}{}{}", &line[..at], wrong, &line[digits..]);
    let text_path = out.with_extension("txt");
    std::fs::write(&text_path, lines.join("\n") + "\n").expect("write text form");
    run(gort_trace().arg("text2bin").arg(&text_path).arg(out));
}

/// Counts bytes written.
struct Count(usize);

impl std::io::Write for Count {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0 += b.len();
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// How much output the events of the damaged generation that are read
/// before the error make, beyond the complete generations' rendering.
fn damaged_generation_output(trace: &Path) -> usize {
    use gort_parser::jsontrace::JsonTraceWriter;
    let data = std::fs::read(trace).expect("read damaged trace");
    let render = |to_the_error: bool| {
        let mut r = gort_parser::Reader::from_slice(&data).expect("reader");
        let mut w = JsonTraceWriter::new(Count(0));
        loop {
            match r.next_event() {
                Ok(Some(ev)) => w.event(ev).expect("render"),
                Ok(None) => panic!("{}: read to its end", trace.display()),
                Err(_) => break,
            }
        }
        let done = if to_the_error {
            w.finish()
        } else {
            w.finish_valid()
        };
        done.expect("render").0
    };
    render(true).saturating_sub(render(false))
}

#[test]
fn json_of_a_trace_damaged_deep_in_a_large_generation_equals_go_s() {
    let dir = std::env::temp_dir().join(format!("gort-json-damaged-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    // go 1.23: damage in the second of large.trace's two generations; Go
    // renders the first.
    let d23 = dir.join("large-damaged.trace");
    damage(&root().join("tests/data/go1.23/large.trace"), 2, &d23);
    // go 1.26: damage in the first generation of the large go 1.26 trace;
    // Go 1.27 keeps the events up to the Sync that opens it.
    let xz = root().join("parser/tests/data/go1.25-1.26/go126_large.trace.xz");
    let big = Command::new("xz")
        .arg("-dc")
        .arg(&xz)
        .output()
        .expect("xz runs");
    assert!(big.status.success(), "xz -dc {}", xz.display());
    let l126 = dir.join("go126_large.trace");
    std::fs::write(&l126, &big.stdout).expect("write go126_large.trace");
    let d26 = dir.join("go126_large-damaged.trace");
    damage(&l126, 1, &d26);
    // The damage comes after more than the hold-back buffer's worth of the
    // damaged generation's output: the case where it goes to the
    // temporary file.
    for d in [&d23, &d26] {
        let n = damaged_generation_output(d);
        assert!(
            n > gort_parser::jsontrace::HOLD_BACK,
            "{}: only {n} bytes of output before the damage",
            d.display()
        );
    }
    let failures = compare_all(&[d23, d26.clone()], &[d26]);
    std::fs::remove_dir_all(&dir).ok();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn json_of_unreadable_traces_fails_with_go_s_message() {
    let dir = std::env::temp_dir().join(format!("gort-json-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let header_only = dir.join("header-only.trace");
    std::fs::write(&header_only, b"go 1.23 trace\0\0\0").expect("write");
    let garbage = dir.join("garbage.trace");
    std::fs::write(&garbage, b"not a trace at all").expect("write");
    let missing = dir.join("missing.trace");
    for (file, says) in [
        (&header_only, "failed to parse any useful part of the trace"),
        (&garbage, "failed to create trace reader"),
        (&missing, "failed to read trace file"),
    ] {
        let out = gort_trace().arg("json").arg(file).output().expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {err}", file.display());
        assert!(err.contains(says), "{}: {err}", file.display());
        assert!(
            out.stdout.is_empty(),
            "{}: output before the error",
            file.display()
        );
    }
    // Go's viewer refuses the same two traces with the same words.
    for (file, says) in [
        (&header_only, "failed to parse any useful part of the trace"),
        (&garbage, "failed to create trace reader"),
    ] {
        let go = Command::new(go_tools::go_tool("trace"))
            .arg("-http=127.0.0.1:0")
            .arg(file)
            .env("BROWSER", "true")
            .output()
            .expect("go tool trace runs");
        assert_eq!(go.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&go.stderr).contains(says));
    }
    std::fs::remove_dir_all(&dir).ok();
}
