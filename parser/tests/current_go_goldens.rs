//! Conformance on traces written by current Go: every `tests/data/
//! go1.25-1.26/*.trace` (Go 1.25.5 writes the go 1.25 format, Go 1.27.3 the
//! go 1.26 one) and every `tests/data/testprog/*.trace` (Go's own trace test
//! programs, run with both Gos). For each trace, the goldens are that Go's
//! `go tool trace -d=parsed` and `-d=wire` output, and:
//! - our ordered dump equals `-d=parsed` byte for byte, from a slice and from
//!   a stream read in small pieces;
//! - our raw dump equals `-d=wire`, from a slice and from a stream;
//! - the validator accepts the trace (Go's own validator does);
//! - binary → text → binary keeps every event (same dumps) and text →
//!   binary → text is the identity.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use gort_parser::raw::{binary_to_text, text_to_binary, Reader as RawReader, StreamReader};
use gort_parser::{Reader, Validator};

fn data_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(sub)
}

/// The traces of `dir` (without `.trace`), sorted.
fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| {
            let p = e.ok()?.path();
            let name = p.to_str()?.strip_suffix(".trace")?.to_string();
            Some(PathBuf::from(name))
        })
        .collect();
    v.sort();
    v
}

fn all_cases() -> Vec<PathBuf> {
    let mut v = cases(&data_dir("go1.25-1.26"));
    assert_eq!(v.len(), 10, "the ten go1.25-1.26 goldens");
    let progs = cases(&data_dir("testprog"));
    assert!(progs.len() >= 10, "testprog traces: {progs:?}");
    v.extend(progs);
    v
}

fn with_ext(base: &Path, ext: &str) -> PathBuf {
    PathBuf::from(format!("{}{ext}", base.display()))
}

/// A reader that hands out at most 7 bytes per call.
struct Trickle<'a>(&'a [u8]);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(7).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

fn parsed_dump(r: Reader<'_>) -> String {
    let mut out = Vec::new();
    for ev in r {
        let ev = ev.unwrap_or_else(|e| panic!("unexpected error: {e}"));
        ev.write_go_text(&mut out);
        out.push(b'\n');
    }
    String::from_utf8(out).expect("UTF-8 dump")
}

fn wire_dump(data: &[u8]) -> String {
    let mut out = String::new();
    for ev in RawReader::new(data).expect("raw header") {
        out.push_str(&ev.expect("raw event").to_string());
        out.push('\n');
    }
    out
}

fn first_difference(case: &Path, what: &str, ours: &str, go: &str) {
    if ours == go {
        return;
    }
    let line = ours
        .lines()
        .zip(go.lines())
        .position(|(a, b)| a != b)
        .unwrap_or(ours.lines().count().min(go.lines().count()));
    panic!(
        "{}: {what} differs from Go's at line {}:\n ours: {:?}\n   go: {:?}",
        case.display(),
        line + 1,
        ours.lines().nth(line),
        go.lines().nth(line)
    );
}

#[test]
fn parsed_dumps_match_go() {
    for case in all_cases() {
        let data = fs::read(with_ext(&case, ".trace")).expect("trace");
        let want = fs::read_to_string(with_ext(&case, ".parsed.txt")).expect("parsed golden");
        let got = parsed_dump(Reader::from_slice(&data).expect("header"));
        first_difference(&case, "-d=parsed", &got, &want);
        let streamed = parsed_dump(Reader::new(Trickle(&data)).expect("header"));
        first_difference(&case, "streamed -d=parsed", &streamed, &want);
    }
}

#[test]
fn wire_dumps_match_go() {
    for case in all_cases() {
        let data = fs::read(with_ext(&case, ".trace")).expect("trace");
        let want = fs::read_to_string(with_ext(&case, ".wire.txt")).expect("wire golden");
        first_difference(&case, "-d=wire", &wire_dump(&data), &want);
        let mut s = StreamReader::new(Trickle(&data)).expect("header");
        let mut streamed = String::new();
        while let Some(ev) = s.read_event().expect("raw event") {
            streamed.push_str(&ev.to_string());
            streamed.push('\n');
        }
        first_difference(&case, "streamed -d=wire", &streamed, &want);
    }
}

#[test]
fn traces_pass_the_validator() {
    for case in all_cases() {
        let data = fs::read(with_ext(&case, ".trace")).expect("trace");
        let mut v = Validator::new();
        for ev in Reader::from_slice(&data).expect("header") {
            let ev = ev.expect("event");
            v.event(&ev)
                .unwrap_or_else(|e| panic!("{}: {e}", case.display()));
        }
    }
}

#[test]
fn text_form_round_trips() {
    for case in all_cases() {
        let data = fs::read(with_ext(&case, ".trace")).expect("trace");
        let text = binary_to_text(&data).expect("to text");
        let minor = if data.starts_with(b"go 1.25") {
            "25"
        } else {
            "26"
        };
        assert!(
            text.starts_with(&format!("Trace Go1.{minor}\n")),
            "{}",
            case.display()
        );
        let back = text_to_binary(text.as_bytes()).expect("to binary");
        assert_eq!(
            binary_to_text(&back).expect("to text again"),
            text,
            "{}",
            case.display()
        );
        let want = fs::read_to_string(with_ext(&case, ".parsed.txt")).expect("parsed golden");
        let got = parsed_dump(Reader::from_slice(&back).expect("header"));
        first_difference(&case, "re-encoded -d=parsed", &got, &want);
    }
}
