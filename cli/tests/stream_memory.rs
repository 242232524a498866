//! Every command that reads a trace holds one generation in memory at a
//! time: on a trace several times larger than a memory bound, each one's
//! peak resident set stays below the bound.
//!
//! The trace is made here: 32 generations of about 1.5 MiB each, mostly
//! string tables (64 KiB batches of 1,000-byte strings), plus one thread's
//! events per generation (a running P and goroutine, heap-size samples), so
//! that the commands' output stays small while their input is large.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use gort_tracer::wire::varint::write_uvarint;
use gort_tracer::wire::EventType;

/// Generations in the trace.
const GENERATIONS: u64 = 32;
/// String-table batches per generation.
const STRING_BATCHES: u64 = 24;
/// Bytes of each string.
const STRING_BYTES: usize = 1000;
/// Heap-size samples per generation.
const SAMPLES: u64 = 200;
/// What no command may exceed: half the trace's size (checked below).
const BOUND_KIB: u64 = 20 << 10;

/// Writes one batch of thread `m` (`u64::MAX`: no thread).
fn batch(out: &mut impl Write, gen: u64, m: u64, time: u64, data: &[u8]) -> io::Result<()> {
    let mut head = vec![EventType::EventBatch as u8];
    for v in [gen, m, time, data.len() as u64] {
        write_uvarint(&mut head, v);
    }
    out.write_all(&head)?;
    out.write_all(data)
}

/// Appends a timed event: type, time delta 1, arguments.
fn event(out: &mut Vec<u8>, t: EventType, args: &[u64]) {
    out.push(t as u8);
    write_uvarint(out, 1);
    for &a in args {
        write_uvarint(out, a);
    }
}

/// Writes a valid go 1.23 trace of [`GENERATIONS`] generations, batch by
/// batch (the test process itself stays small: a child's peak RSS counts
/// its parent's at the time it was started).
fn big_trace(out: &mut impl Write) -> io::Result<()> {
    out.write_all(b"go 1.23 trace\0\0\0")?;
    let mut id = 0u64;
    for gen in 1..=GENERATIONS {
        let time = gen * 1_000_000;
        let mut freq = vec![EventType::Frequency as u8];
        write_uvarint(&mut freq, 15_625_000);
        batch(out, gen, u64::MAX, time, &freq)?;
        for _ in 0..STRING_BATCHES {
            let mut data = vec![EventType::Strings as u8];
            while data.len() + STRING_BYTES + 16 <= 64 << 10 {
                id += 1;
                data.push(EventType::String as u8);
                write_uvarint(&mut data, id);
                write_uvarint(&mut data, STRING_BYTES as u64);
                let text = format!("string {id} ");
                data.extend_from_slice(text.as_bytes());
                data.resize(data.len() + STRING_BYTES - text.len(), b'.');
            }
            batch(out, gen, u64::MAX, time, &data)?;
        }
        let mut evs = Vec::new();
        event(&mut evs, EventType::ProcStatus, &[0, 1]);
        event(&mut evs, EventType::GoStatus, &[1, 1, 2]);
        for i in 0..SAMPLES {
            event(&mut evs, EventType::HeapAlloc, &[(gen << 20) + i]);
        }
        batch(out, gen, 1, time, &evs)?;
    }
    Ok(())
}

/// Runs `gort-trace ARGS`, discarding standard output; returns whether it
/// succeeded, its standard error and its peak resident set in KiB.
fn run_measured(args: &[&str]) -> (bool, String, u64) {
    // Reaped by the wait4 below, which also gives its resource usage.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_gort-trace"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start gort-trace");
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
    let mut stderr = child.stderr.expect("piped stderr");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut err).expect("read stderr");
    let mut status = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `pid` is our own child, not yet waited for (the `Child` was
    // consumed above without a wait, so std will not reap it too); `status`
    // and `usage` are valid for writes of their types for the whole call.
    let got = unsafe { libc::wait4(pid, &mut status, 0, usage.as_mut_ptr()) };
    assert_eq!(got, pid, "wait4: {}", std::io::Error::last_os_error());
    // SAFETY: wait4 returned the child's pid, so it filled in `usage`.
    let usage = unsafe { usage.assume_init() };
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    // ru_maxrss is in KiB on Linux.
    (ok, err, u64::try_from(usage.ru_maxrss).unwrap_or(0))
}

fn write_trace(dir: &Path) -> PathBuf {
    let path = dir.join("big.trace");
    let mut w = io::BufWriter::new(std::fs::File::create(&path).expect("create trace"));
    big_trace(&mut w)
        .and_then(|()| w.flush())
        .expect("write trace");
    let len = std::fs::metadata(&path).expect("trace written").len();
    assert!(
        len > 2 * (BOUND_KIB << 10),
        "the trace ({len} bytes) must be at least twice the bound"
    );
    path
}

#[test]
fn every_reading_command_stays_under_the_bound_on_a_larger_trace() {
    let dir = std::env::temp_dir().join(format!("gort-stream-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = write_trace(&dir);
    let p = path.to_str().expect("utf-8 temp path");

    // The trace is valid and whole: every event of every generation is read.
    let out = Command::new(env!("CARGO_BIN_EXE_gort-trace"))
        .args(["validate", p])
        .output()
        .expect("run validate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = 2 + SAMPLES + 1; // two statuses, the samples, the Sync
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "ok: {} events, {GENERATIONS} generations\n",
            events * GENERATIONS
        )
    );

    let commands: [&[&str]; 10] = [
        &["stats", p],
        &["validate", p],
        &["dump", p],
        &["dump", "--raw", p],
        &["pprof", "sched", p],
        &["pprof", "net", p],
        &["goroutines", "--json", p],
        &["goroutines", p],
        &["json", p],
        &["perfetto", p],
    ];
    for args in commands {
        let (ok, err, kib) = run_measured(args);
        assert!(ok, "gort-trace {args:?} failed: {err}");
        // Under AddressSanitizer (`scripts/asan`) a process's resident set
        // holds ASan's shadow memory and its quarantine of freed blocks (256
        // MiB by default), which no streaming reader can stay under: there
        // every command must still read the whole trace, but the bound is
        // not checked.
        if cfg!(gort_asan) {
            continue;
        }
        assert!(
            kib < BOUND_KIB,
            "gort-trace {args:?}: peak RSS {kib} KiB, bound {BOUND_KIB} KiB (trace {} KiB)",
            std::fs::metadata(&path).map(|m| m.len() >> 10).unwrap_or(0)
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
