//! Helpers shared by the trace tests: an in-memory trace sink, event counts,
//! and validation by gort's parser and by Go's own tools.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// A `Write` that appends to a shared buffer.
#[derive(Clone, Default)]
pub(crate) struct SharedBuf(pub Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuf {
    pub(crate) fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Wire event counts by name.
pub(crate) fn raw_counts(trace: &[u8]) -> BTreeMap<&'static str, usize> {
    let mut r = gort::parser::raw::Reader::new(trace).expect("header");
    let mut m = BTreeMap::new();
    while let Some(ev) = r.read_event().expect("raw event") {
        *m.entry(ev.name()).or_default() += 1;
    }
    m
}

/// Orders the whole trace with gort's parser and runs the validator (Go's
/// testtrace checks); returns the number of events.
pub(crate) fn validate_with_gort(trace: &[u8]) -> usize {
    let mut v = gort::parser::Validator::new();
    let mut n = 0;
    for ev in gort::parser::Reader::from_slice(trace).expect("reader") {
        let ev =
            ev.unwrap_or_else(|e| panic!("gort parser rejected the trace after {n} events: {e}"));
        v.event(&ev)
            .unwrap_or_else(|e| panic!("validator rejected event {n} ({ev}): {e}"));
        n += 1;
    }
    n
}

/// Go 1.23.9's parser and gotracevalidate on the files (the workspace's
/// test-support crate); panics with Go's verdicts if any is rejected.
pub(crate) fn validate_with_go(files: &[PathBuf]) {
    gort_gotools::validate(files);
}

/// A fresh scratch directory for this test.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gort-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Tracing is process-wide: tests of one binary that trace take this lock.
pub(crate) fn trace_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// `go tool trace -pprof=KIND` on the trace file, printed by `go tool pprof
/// -traces -lines`: one stack per blocking site, `file:line` per frame.
pub(crate) fn go_pprof_traces(trace: &std::path::Path, kind: &str) -> String {
    use std::ffi::OsStr;
    let go =
        |args: &[&OsStr]| gort_gotools::run(gort_gotools::oracle_command().arg("go").args(args));
    let pprof = trace.with_extension(format!("{kind}.pprof"));
    let flag = format!("-pprof={kind}");
    let arg = OsStr::new;
    let profile = go(&[arg("tool"), arg("trace"), arg(&flag), trace.as_os_str()]);
    std::fs::write(&pprof, profile).expect("write the profile");
    let text = go(&[
        arg("tool"),
        arg("pprof"),
        arg("-traces"),
        arg("-lines"),
        pprof.as_os_str(),
    ]);
    String::from_utf8_lossy(&text).into_owned()
}

/// Runs `scenario` as the main goroutine of `rt`, traced from its first line
/// to its last, and returns the trace.
pub(crate) fn traced_run<F>(rt: gort::Runtime, scenario: F) -> Vec<u8>
where
    F: FnOnce() + Send + 'static,
{
    let buf = SharedBuf::default();
    let b2 = buf.clone();
    rt.block_on(move || {
        gort::trace::start(b2).expect("start tracing");
        scenario();
        gort::trace::stop().expect("stop tracing");
    });
    buf.take()
}

/// Checks `trace` with gort's validator, then writes it to the scratch
/// directory `dir` (as `file`) and checks it with Go's parser and
/// validator; returns the file's path.
pub(crate) fn validate_everywhere(trace: &[u8], dir: &str, file: &str) -> PathBuf {
    validate_with_gort(trace);
    let f = scratch(dir).join(file);
    std::fs::write(&f, trace).expect("write the trace");
    validate_with_go(std::slice::from_ref(&f));
    f
}

/// Yields until the goroutine dump shows goroutine `id` parked in a wait
/// whose dump word starts with `word` (`"sync."`, `"chan receive"`, ...):
/// the way to know another goroutine has blocked, rather than hoping a few
/// yields were enough.
pub(crate) fn wait_parked(id: u64, word: &str) {
    let want = format!("goroutine {id} [{word}");
    while !gort::goroutine_dump().contains(&want) {
        gort::yield_now();
    }
}
