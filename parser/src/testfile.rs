//! Go's parser test files: a txtar archive of an expectation and a text trace.
//!
//! Go 1.23 keeps its parser's edge cases in
//! `src/internal/trace/testdata/tests/*.test`. Each is a txtar archive with
//! exactly two files:
//!
//! ```text
//! -- expect --
//! FAILURE "expected a proc but didn't have one"
//! -- trace --
//! Trace Go1.22
//! EventBatch gen=1 m=0 time=0 size=5
//! Frequency freq=15625000
//! ```
//!
//! The expectation's first line is `SUCCESS`, or `FAILURE` and a Go-quoted
//! regular expression that the parser's error message must match (anywhere:
//! Go uses `MatchString`). The trace is in the [text form](crate::raw); it is
//! converted to binary as Go does it (minimal uvarints).

use crate::error::{Error, ErrorKind, Result};
use crate::raw::{text_to_binary, unquote, TextReader};

/// What the parser must make of a test trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expectation {
    /// The whole trace parses without error.
    Success,
    /// Parsing fails with an error whose text matches this regular
    /// expression (Go `regexp` syntax, unanchored).
    Failure(String),
}

/// A parsed test file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestFile {
    /// The expected outcome.
    pub expect: Expectation,
    /// The header's Go minor version (22 or 23).
    pub version: u32,
    /// The trace in binary form, header included.
    pub trace: Vec<u8>,
}

/// Parses a test file's bytes.
///
/// # Errors
///
/// [`ErrorKind::BadTestFile`] when the archive is not exactly `expect` then
/// `trace`, or the expectation line is malformed; the text reader's errors
/// (kind [`ErrorKind::Text`]) for a malformed trace.
///
/// # Examples
///
/// ```
/// use gort_parser::testfile::{parse, Expectation};
///
/// let t = parse("-- expect --\nFAILURE \"no.*proc\"\n-- trace --\nTrace Go1.22\nFrequency freq=1\n").unwrap();
/// assert_eq!(t.expect, Expectation::Failure("no.*proc".into()));
/// assert_eq!(t.trace, b"go 1.22 trace\0\0\0\x08\x01");
/// ```
pub fn parse(input: impl AsRef<[u8]>) -> Result<TestFile> {
    let files = txtar_files(input.as_ref());
    let bad = |m: String| Error::new(ErrorKind::BadTestFile, m);
    let [(n0, expect), (n1, trace)] = files.as_slice() else {
        return Err(bad(format!(
            "malformed test: wrong number of files ({})",
            files.len()
        )));
    };
    if n0 != "expect" {
        return Err(bad(format!("malformed test: bad filename {n0}")));
    }
    if n1 != "trace" {
        return Err(bad(format!("malformed test: bad filename {n1}")));
    }
    let version = TextReader::new(trace)?.version();
    let trace = text_to_binary(trace)?;
    let expect = parse_expectation(expect)?;
    Ok(TestFile {
        expect,
        version,
        trace,
    })
}

/// Parses the `expect` section: `SUCCESS`, or `FAILURE "regexp"`. An empty
/// section means success.
///
/// # Errors
///
/// [`ErrorKind::BadTestFile`] for any other first line.
pub fn parse_expectation(data: &[u8]) -> Result<Expectation> {
    let line = data.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if data.is_empty() {
        return Ok(Expectation::Success);
    }
    let (word, rest) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (&line[..i], Some(&line[i + 1..])),
        None => (line, None),
    };
    let shown = String::from_utf8_lossy(line);
    match (word, rest) {
        (b"SUCCESS", _) => Ok(Expectation::Success),
        (b"FAILURE", Some(q)) => {
            let pat = unquote(q).map_err(|e| {
                Error::new(
                    ErrorKind::BadTestFile,
                    format!(
                        "malformed pattern: not correctly quoted: {}: {}",
                        String::from_utf8_lossy(q),
                        e.message()
                    ),
                )
            })?;
            String::from_utf8(pat)
                .map(Expectation::Failure)
                .map_err(|_| Error::new(ErrorKind::BadTestFile, "malformed pattern: not UTF-8"))
        }
        (b"FAILURE", None) => Err(Error::new(
            ErrorKind::BadTestFile,
            format!("bad header line for FAILURE: {shown:?}"),
        )),
        _ => Err(Error::new(
            ErrorKind::BadTestFile,
            format!("bad header line: {shown:?}"),
        )),
    }
}

/// The byte-string values of a Go fuzzing corpus file: a
/// `go test fuzz v1` line, then one `[]byte("...")` or `string("...")`
/// literal per line (Go's own trace-reader corpus has one `[]byte` each).
///
/// # Errors
///
/// [`ErrorKind::BadTestFile`] for a missing version line or a value of
/// another type or form.
///
/// # Examples
///
/// ```
/// use gort_parser::testfile::go_fuzz_values;
///
/// let v = go_fuzz_values(b"go test fuzz v1\n[]byte(\"go\\x00\")\n").unwrap();
/// assert_eq!(v, [b"go\x00".to_vec()]);
/// ```
pub fn go_fuzz_values(data: &[u8]) -> Result<Vec<Vec<u8>>> {
    let bad = |m: String| Error::new(ErrorKind::BadTestFile, m);
    let mut lines = data.split(|&b| b == b'\n');
    if lines.next().map(trim_cr) != Some(b"go test fuzz v1") {
        return Err(bad(
            "not a Go fuzz corpus file (no \"go test fuzz v1\" line)".into(),
        ));
    }
    let mut values = Vec::new();
    for (i, line) in lines.enumerate() {
        let line = trim_cr(line);
        if line.is_empty() {
            continue;
        }
        let lit = line
            .strip_prefix(b"[]byte(")
            .or_else(|| line.strip_prefix(b"string("))
            .and_then(|l| l.strip_suffix(b")"))
            .ok_or_else(|| {
                bad(format!(
                    "line {}: expected []byte(...) or string(...), got {}",
                    i + 2,
                    String::from_utf8_lossy(line)
                ))
            })?;
        values.push(unquote(lit).map_err(|e| bad(format!("line {}: {}", i + 2, e.message())))?);
    }
    Ok(values)
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The files of a txtar archive, as `(name, data)` pairs; the leading comment
/// is dropped. A marker line is `-- NAME --`; the last file's data gets a
/// final newline if it lacks one.
pub fn txtar_files(data: &[u8]) -> Vec<(String, &[u8])> {
    let mut files = Vec::new();
    let (_, mut name, mut rest) = next_marker(data);
    while let Some(n) = name {
        let (body, next, after) = next_marker(rest);
        files.push((n, body));
        name = next;
        rest = after;
    }
    files
}

/// Splits `data` at its next marker line: the bytes before it, the marker's
/// name and the bytes after the marker line.
fn next_marker(data: &[u8]) -> (&[u8], Option<String>, &[u8]) {
    let mut i = 0;
    loop {
        if let Some((name, after)) = marker_at(&data[i..]) {
            return (&data[..i], Some(name), after);
        }
        match find(&data[i..], b"\n-- ") {
            Some(j) => i += j + 1,
            None => return (data, None, &[]),
        }
    }
}

fn marker_at(data: &[u8]) -> Option<(String, &[u8])> {
    if !data.starts_with(b"-- ") {
        return None;
    }
    let (line, after) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    if line.len() < 6 || !line.ends_with(b" --") {
        return None;
    }
    let name = String::from_utf8_lossy(&line[3..line.len() - 3])
        .trim()
        .to_string();
    (!name.is_empty()).then_some((name, after))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txtar_splits_like_go() {
        let files = txtar_files(b"comment\n-- a --\nx\n-- b --\ny\n--  --\nz");
        assert_eq!(files.len(), 2);
        assert_eq!(files[0], ("a".to_string(), &b"x\n"[..]));
        // "--  --" has an empty name, so it is data.
        assert_eq!(files[1], ("b".to_string(), &b"y\n--  --\nz"[..]));
    }

    #[test]
    fn expectations() {
        assert_eq!(
            parse_expectation(b"SUCCESS\n").unwrap(),
            Expectation::Success
        );
        assert_eq!(parse_expectation(b"").unwrap(), Expectation::Success);
        assert_eq!(
            parse_expectation(b"FAILURE \"a\\\\b\"\n").unwrap(),
            Expectation::Failure("a\\b".into())
        );
        for bad in [&b"FAILURE\n"[..], b"FAILURE x", b"MAYBE"] {
            assert_eq!(
                parse_expectation(bad).unwrap_err().kind(),
                ErrorKind::BadTestFile
            );
        }
    }

    #[test]
    fn go_fuzz_corpus_values() {
        let v = go_fuzz_values(b"go test fuzz v1\r\n[]byte(\"a\\x01\")\nstring(`b`)\n").unwrap();
        assert_eq!(v, [b"a\x01".to_vec(), b"b".to_vec()]);
        for bad in [
            &b"[]byte(\"a\")"[..],
            b"go test fuzz v1\nint(3)",
            b"go test fuzz v1\n[]byte(\"a)",
        ] {
            assert_eq!(
                go_fuzz_values(bad).unwrap_err().kind(),
                ErrorKind::BadTestFile
            );
        }
    }

    #[test]
    fn wrong_files_are_rejected() {
        for bad in [
            "-- expect --\nSUCCESS\n",
            "-- trace --\nTrace Go1.23\n-- expect --\nSUCCESS\n",
        ] {
            assert_eq!(parse(bad).unwrap_err().kind(), ErrorKind::BadTestFile);
        }
    }
}
