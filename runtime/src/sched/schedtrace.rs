//! `GORT_DEBUG=schedtrace=MS` (and `scheddetail=1`): every `MS`
//! milliseconds sysmon prints Go's scheduler summary line to standard error,
//!
//! ```text
//! SCHED 1004ms: gomaxprocs=2 idleprocs=0 threads=5 spinningthreads=0 needspinning=0 idlethreads=2 runqueue=0 [0 0]
//! ```
//!
//! (milliseconds since the runtime started; Ps, idle Ps, threads (the Ms
//! and sysmon), spinning Ms, `needspinning` (always 0: gort's Ms never
//! defer a wake-up that way), Ms parked without a P, the global run queue,
//! and each P's local queue). With `scheddetail=1` the summary is followed
//! by one line per P (`status` in Go's numbering: 0 idle, 1 running, 2 in
//! a syscall; `syscalltick`, `runqsize`, `timerslen`), one per M (`p`,
//! `curg`, `blocked` (parked without work), `lockedg`: Go's fields that
//! gort has; the allocator and signal fields Go adds do not exist here) and
//! one per goroutine (`status` in Go's numbering with the wait reason, the
//! M it runs on, the M it is locked to).
//!
//! The variable is read once, when a runtime starts. Unset, nothing of this
//! runs: sysmon keeps its own schedule.
#![deny(unsafe_code)]

use super::Shared;
use crate::task::{Status, WaitReason};
use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// What `GORT_DEBUG` asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Config {
    pub(crate) every: Duration,
    pub(crate) detail: bool,
}

/// Reads `GORT_DEBUG` (comma-separated `key=value`, as Go's `GODEBUG`).
pub(crate) fn from_env() -> Option<Config> {
    parse(&std::env::var("GORT_DEBUG").ok()?)
}

/// Parses a `GORT_DEBUG` value; `None` unless `schedtrace` is a positive
/// number of milliseconds. Unknown keys are ignored, as Go ignores unknown
/// `GODEBUG` settings.
pub(crate) fn parse(v: &str) -> Option<Config> {
    let mut every = None;
    let mut detail = false;
    for kv in v.split(',') {
        match kv.trim().split_once('=') {
            Some(("schedtrace", ms)) => {
                every = ms.trim().parse::<u64>().ok().filter(|&n| n > 0);
            }
            Some(("scheddetail", d)) => detail = d.trim() == "1",
            _ => {}
        }
    }
    Some(Config {
        every: Duration::from_millis(every?),
        detail,
    })
}

/// Go's number for a goroutine status (`_Grunnable` 1, `_Grunning` 2,
/// `_Gsyscall` 3, `_Gwaiting` 4, `_Gdead` 6).
fn go_status(s: Status) -> u8 {
    match s {
        Status::Runnable => 1,
        Status::Running => 2,
        Status::Syscall => 3,
        Status::Waiting => 4,
        Status::Dead => 6,
    }
}

/// The report at `now` for a runtime started at `start`.
pub(crate) fn report(shared: &Shared, start: Instant, now: Instant, detail: bool) -> String {
    let mut out = String::new();
    let (threads, idle, global, mut ms, parked) = {
        let s = shared.sched.lock();
        let ms: Vec<usize> = s.handles.keys().copied().collect();
        let parked: Vec<usize> = s.idle.sleeping().iter().map(|h| h.id).collect();
        (s.nworkers + 1, s.idle.nidle(), s.global.len(), ms, parked)
    };
    ms.sort_unstable();
    let _ = write!(
        out,
        "SCHED {}ms: gomaxprocs={} idleprocs={} threads={threads} spinningthreads={} needspinning=0 idlethreads={idle} runqueue={global}",
        now.saturating_duration_since(start).as_millis(),
        shared.procs.len(),
        shared.idle.idle_ps(),
        shared.idle.spinning(),
    );
    if detail {
        out.push('\n');
        for p in shared.procs.iter() {
            let st = p.status.load(Relaxed);
            let go_st = if super::proc::is_syscall(st) {
                2
            } else if st == super::proc::RUNNING {
                1
            } else {
                0
            };
            let _ = writeln!(
                out,
                "  P{}: status={go_st} syscalltick={} runqsize={} timerslen={}",
                p.id,
                p.syscall_tick.load(Relaxed),
                p.steal.len() + usize::from(p.runnext.is_some()),
                shared.timers.len_hint(p.id),
            );
        }
        let tasks = shared.live_tasks();
        let nil_or = |v: Option<String>| v.unwrap_or_else(|| "nil".to_string());
        for &m in &ms {
            let p = shared
                .procs
                .iter()
                .find(|p| p.holder() == Some(m))
                .map(|p| p.id.to_string());
            let curg = tasks
                .iter()
                .find(|t| {
                    matches!(t.status(), Status::Running | Status::Syscall)
                        && t.last_m.load(Relaxed) == m
                })
                .map(|t| t.id.to_string());
            let lockedg = tasks
                .iter()
                .find(|t| t.locked_worker() == Some(m))
                .map(|t| t.id.to_string());
            let _ = writeln!(
                out,
                "  M{m}: p={} curg={} blocked={} lockedg={}",
                nil_or(p),
                nil_or(curg),
                parked.contains(&m),
                nil_or(lockedg),
            );
        }
        for t in tasks {
            let st = t.status();
            if st == Status::Dead {
                continue;
            }
            let reason = if st == Status::Waiting {
                WaitReason::from_u8(t.reason.load(Relaxed)).dump_str()
            } else {
                ""
            };
            let m = match st {
                Status::Running | Status::Syscall => t.last_m.load(Relaxed).to_string(),
                _ => "nil".to_string(),
            };
            let locked = t
                .locked_worker()
                .map_or("nil".to_string(), |w| w.to_string());
            let _ = writeln!(
                out,
                "  G{}: status={}({reason}) m={m} lockedm={locked}",
                t.id,
                go_status(st)
            );
        }
    } else {
        let n = shared.procs.len();
        for (i, p) in shared.procs.iter().enumerate() {
            out.push(' ');
            if i == 0 {
                out.push('[');
            }
            let _ = write!(out, "{}", p.steal.len() + usize::from(p.runnext.is_some()));
            if i + 1 == n {
                out.push(']');
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_style_settings() {
        let c = parse("schedtrace=1000").unwrap();
        assert_eq!(c.every, Duration::from_millis(1000));
        assert!(!c.detail);
        let c = parse("foo=1, scheddetail=1,schedtrace=50").unwrap();
        assert_eq!((c.every, c.detail), (Duration::from_millis(50), true));
        assert_eq!(parse("scheddetail=1"), None);
        assert_eq!(parse("schedtrace=0"), None);
        assert_eq!(parse("schedtrace=abc"), None);
        assert_eq!(parse(""), None);
    }
}
