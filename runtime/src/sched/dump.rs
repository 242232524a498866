//! Goroutine dumps in the shape of Go's tracebacks (`runtime.Stack(buf,
//! true)`, the output of `SIGQUIT`, the goroutines after a deadlock):
//!
//! ```text
//! goroutine 7 [chan receive, 2 minutes]:
//! gort::Receiver::recv(...)
//!         src/main.rs:41
//! created by app::serve in goroutine 1
//!         src/main.rs:30
//! ```
//!
//! The header carries Go's dump word for the wait (`chan receive`,
//! `select`, `sync.Mutex.Lock`, `IO wait`, ...), the whole minutes waited
//! once there is at least one (from [`super::coarse`]), and `locked to
//! thread` for a wired goroutine. A parked goroutine's frame is the gort
//! call it waits in, at the user's call site (every blocking call records
//! it as it parks: two plain stores). A running goroutine's stack is not
//! available from another thread, as in Go. `created by` names the
//! function that started the goroutine, where, and the creating goroutine
//! when there was one. The function comes from the type name of the
//! goroutine's body: a closure's is its enclosing function's path plus
//! `::{{closure}}`, so the enclosing function is the one that wrote
//! `gort::go(...)`; a body that is a named function is named as it is.
//!
//! A dump is a snapshot: each goroutine's fields are read without stopping
//! it, so a goroutine that changes state meanwhile shows one of its states.
#![deny(unsafe_code)]

use super::Shared;
use crate::task::{Status, Task, TaskRef, WaitReason};
use std::fmt::Write as _;
use std::panic::Location;
use std::sync::atomic::Ordering::Relaxed;

/// The live goroutines of `shared`, by ID, with `first` (the caller's)
/// ahead of the rest, as Go lists the current goroutine first.
fn goroutines(shared: &Shared, first: Option<u64>) -> Vec<TaskRef> {
    let mut all = shared.live_tasks();
    all.sort_by_key(|t| (Some(t.id) != first, t.id));
    all
}

/// The goroutine asking for a dump, and where it asks.
pub(crate) type Caller = (u64, &'static Location<'static>);

/// Writes the dump of every live goroutine of `shared`; `caller` is the
/// goroutine asking, if it is one of them.
pub(crate) fn write_dump(out: &mut String, shared: &Shared, caller: Option<Caller>) {
    let now = super::coarse::advance();
    let first = caller.map(|c| c.0);
    for (i, t) in goroutines(shared, first).iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let here = caller.filter(|c| c.0 == t.id).map(|c| c.1);
        write_one(out, t, now, here);
    }
}

/// The dump of the goroutines of `shared`, the caller first when it is one.
pub(crate) fn dump(shared: &Shared, caller: Option<Caller>) -> String {
    let mut out = String::new();
    write_dump(&mut out, shared, caller);
    out
}

/// Writes the first line of a goroutine's paragraph, Go's
/// `goroutine 7 [chan receive, 2 minutes, locked to thread]:`.
fn header(
    out: &mut String,
    id: u64,
    status: Status,
    reason: WaitReason,
    minutes: usize,
    locked: bool,
) {
    let _ = write!(out, "goroutine {id} [");
    out.push_str(match status {
        Status::Runnable => "runnable",
        Status::Running => "running",
        Status::Syscall => "syscall",
        Status::Waiting => reason.dump_str(),
        Status::Dead => "dead",
    });
    if minutes >= 1 {
        let _ = write!(out, ", {minutes} minutes");
    }
    if locked {
        out.push_str(", locked to thread");
    }
    out.push_str("]:\n");
}

/// The function that wrote a goroutine's body `func` (a type name).
fn creator(func: &str) -> &str {
    func.strip_suffix("::{{closure}}").unwrap_or(func)
}

fn write_one(out: &mut String, t: &Task, now: usize, here: Option<&'static Location<'static>>) {
    let status = t.status();
    let reason = WaitReason::from_u8(t.reason.load(Relaxed));
    let (site, since) = t.last_wait();
    // Coroutine switches do not stamp a wait (they are hand-offs, not
    // parks): no duration for them.
    let minutes = match (status, reason) {
        (Status::Waiting, WaitReason::Coroutine) => 0,
        (Status::Waiting, _) => super::coarse::minutes_since(since, now),
        _ => 0,
    };
    header(
        out,
        t.id,
        status,
        reason,
        minutes,
        t.locked_worker().is_some(),
    );
    match (status, site) {
        (Status::Waiting, Some(site)) if reason != WaitReason::Coroutine => {
            let _ = writeln!(
                out,
                "{}(...)\n\t{}:{}",
                reason.operation(),
                site.file(),
                site.line()
            );
        }
        (Status::Running, _) if here.is_some() => {
            let at = here.unwrap_or(site.unwrap_or(t.site));
            let _ = writeln!(
                out,
                "gort::goroutine_dump(...)\n\t{}:{}",
                at.file(),
                at.line()
            );
        }
        (Status::Running | Status::Syscall, _) => {
            out.push_str("\tgoroutine running on other thread; stack unavailable\n");
        }
        _ => {
            let _ = writeln!(out, "{}(...)", t.func);
        }
    }
    let _ = write!(out, "created by {}", creator(t.func));
    if t.parent != 0 {
        let _ = write!(out, " in goroutine {}", t.parent);
    }
    let _ = writeln!(out, "\n\t{}:{}", t.site.file(), t.site.line());
}

/// The dump of every runtime in the process (one after another, separated
/// by a blank line; goroutine IDs are per runtime).
pub(crate) fn dump_all(caller: Option<Caller>) -> String {
    let rts: Vec<_> = {
        let mut r = super::RUNTIMES.lock();
        r.retain(|w| w.strong_count() > 0);
        r.iter().filter_map(|w| w.upgrade()).collect()
    };
    let mut out = String::new();
    for rt in rts {
        if !out.is_empty() {
            out.push('\n');
        }
        write_dump(&mut out, &rt, caller);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{header, Status, WaitReason};

    /// Go's header: the wait word, then the minutes (from one on, Go's
    /// "1 minutes" included), then the wiring.
    #[test]
    fn headers_read_as_go() {
        let h = |st, r, m, l| {
            let mut s = String::new();
            header(&mut s, 7, st, r, m, l);
            s
        };
        use Status::*;
        assert_eq!(
            h(Waiting, WaitReason::ChanReceive, 0, false),
            "goroutine 7 [chan receive]:\n"
        );
        assert_eq!(
            h(Waiting, WaitReason::ChanReceive, 1, false),
            "goroutine 7 [chan receive, 1 minutes]:\n"
        );
        assert_eq!(
            h(Waiting, WaitReason::Network, 12, true),
            "goroutine 7 [IO wait, 12 minutes, locked to thread]:\n"
        );
        assert_eq!(
            h(Running, WaitReason::Sleep, 0, true),
            "goroutine 7 [running, locked to thread]:\n"
        );
        assert_eq!(
            h(Syscall, WaitReason::Unspecified, 0, false),
            "goroutine 7 [syscall]:\n"
        );
        assert_eq!(
            h(Runnable, WaitReason::Unspecified, 0, false),
            "goroutine 7 [runnable]:\n"
        );
        assert_eq!(
            h(Waiting, WaitReason::Forever, 0, false),
            "goroutine 7 [select (no cases)]:\n"
        );
    }

    #[test]
    fn a_closure_names_its_enclosing_function() {
        assert_eq!(super::creator("app::serve::{{closure}}"), "app::serve");
        assert_eq!(
            super::creator("app::main::{{closure}}::{{closure}}"),
            "app::main::{{closure}}"
        );
        assert_eq!(super::creator("app::worker"), "app::worker");
    }
}
