//! Goroutine status and wait reasons, and the one function that changes them.
//!
//! ```text
//!   Runnable --start--> Running --park--> Waiting(reason) --ready--> Runnable
//!      ^                  |  |  \--syscall--> Syscall --exit--> Running | Runnable
//!      +------yield-------+  +--exit--> Dead
//!   coroutines: Waiting(coroutine) <--switch--> Running
//! ```
//!
//! Every status change goes through [`transition`], so the tracer hooks one
//! place (`crate::hooks`).
#![deny(unsafe_code)]

use super::Task;
use crate::loom::sync::atomic::Ordering::*;

/// A goroutine's scheduling status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Status {
    /// In a run queue, or about to be.
    Runnable = 0,
    /// Running on an M.
    Running = 1,
    /// Blocked; see [`WaitReason`].
    Waiting = 2,
    /// In a blocking system call (`gort::syscall`).
    Syscall = 3,
    /// Finished.
    Dead = 4,
}

impl Status {
    pub(crate) fn from_u8(v: u8) -> Status {
        match v {
            0 => Status::Runnable,
            1 => Status::Running,
            2 => Status::Waiting,
            3 => Status::Syscall,
            _ => Status::Dead,
        }
    }
}

/// Why a goroutine waits. The strings are Go's, so traces read like Go's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum WaitReason {
    /// No reason recorded.
    Unspecified = 0,
    /// `chan` receive.
    ChanReceive,
    /// `chan` send.
    ChanSend,
    /// `JoinHandle::join` (traced as Go's `sync`).
    Sync,
    /// `gort::sleep`.
    Sleep,
    /// A coroutine waiting to be switched to, or its caller.
    Coroutine,
    /// A runtime-internal wait.
    SystemGoroutine,
    /// Waiting on a `select!`.
    Select,
    /// `sync::Cond::wait`.
    CondWait,
    /// `future::block_on` waiting for its future's waker. A reason of gort's
    /// own: Go's parser carries any string, and `go tool trace -pprof=net`
    /// / `-pprof=sync` match on `network` and `chan`/`sync`/`select`, so
    /// this wait is in neither profile (see `crate::future`).
    Future,
    /// `select! {}` (Go's `select {}` with no cases): never woken.
    Forever,
    /// A socket or other polled descriptor not ready (`gort::net`): Go's
    /// `waitReasonIOWait`, traced as `network`.
    Network,
    /// `sync::Mutex::lock` (and `Once`, whose waiters wait on its lock as
    /// in Go): traced as `sync`.
    MutexLock,
    /// `sync::RwMutex::read`: traced as `sync`.
    RwMutexRLock,
    /// `sync::RwMutex::write`: traced as `sync`.
    RwMutexLock,
    /// `sync::WaitGroup::wait`: traced as `sync`.
    WaitGroupWait,
}

impl WaitReason {
    pub(crate) fn from_u8(v: u8) -> WaitReason {
        match v {
            1 => WaitReason::ChanReceive,
            2 => WaitReason::ChanSend,
            3 => WaitReason::Sync,
            4 => WaitReason::Sleep,
            5 => WaitReason::Coroutine,
            6 => WaitReason::SystemGoroutine,
            7 => WaitReason::Select,
            8 => WaitReason::CondWait,
            9 => WaitReason::Future,
            10 => WaitReason::Forever,
            11 => WaitReason::Network,
            12 => WaitReason::MutexLock,
            13 => WaitReason::RwMutexRLock,
            14 => WaitReason::RwMutexLock,
            15 => WaitReason::WaitGroupWait,
            _ => WaitReason::Unspecified,
        }
    }

    /// Go's trace string for this reason.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            WaitReason::Unspecified => "unspecified",
            WaitReason::ChanReceive => "chan receive",
            WaitReason::ChanSend => "chan send",
            WaitReason::Sync
            | WaitReason::MutexLock
            | WaitReason::RwMutexRLock
            | WaitReason::RwMutexLock
            | WaitReason::WaitGroupWait => "sync",
            WaitReason::Sleep => "sleep",
            WaitReason::Coroutine => "coroutine",
            WaitReason::SystemGoroutine => "system goroutine wait",
            WaitReason::Select => "select",
            WaitReason::CondWait => "sync.(*Cond).Wait",
            WaitReason::Future => "future",
            WaitReason::Forever => "forever",
            WaitReason::Network => "network",
        }
    }

    /// Go's word for this wait in a goroutine dump (`runtime.Stack`,
    /// `SIGQUIT`), where it differs from the trace string: a network wait
    /// is `IO wait` there, and each `sync` wait names its operation.
    /// `join` and `future` are gort's own (Go has neither).
    pub(crate) fn dump_str(self) -> &'static str {
        match self {
            WaitReason::Network => "IO wait",
            WaitReason::Forever => "select (no cases)",
            WaitReason::Sync => "join",
            WaitReason::MutexLock => "sync.Mutex.Lock",
            WaitReason::RwMutexRLock => "sync.RWMutex.RLock",
            WaitReason::RwMutexLock => "sync.RWMutex.Lock",
            WaitReason::WaitGroupWait => "sync.WaitGroup.Wait",
            WaitReason::CondWait => "sync.Cond.Wait",
            other => other.as_str(),
        }
    }

    /// The gort call a goroutine waiting for this reason is parked in, for
    /// the first frame of its dump.
    pub(crate) fn operation(self) -> &'static str {
        match self {
            WaitReason::Unspecified | WaitReason::SystemGoroutine => "gort runtime",
            WaitReason::ChanReceive => "gort::Receiver::recv",
            WaitReason::ChanSend => "gort::Sender::send",
            WaitReason::Sync => "gort::JoinHandle::join",
            WaitReason::Sleep => "gort::sleep",
            WaitReason::Coroutine => "gort::iter::Pull::next",
            WaitReason::Select | WaitReason::Forever => "gort::select!",
            WaitReason::CondWait => "gort::sync::Cond::wait",
            WaitReason::Future => "gort::future::block_on",
            WaitReason::Network => "gort::net (socket wait)",
            WaitReason::MutexLock => "gort::sync::Mutex::lock",
            WaitReason::RwMutexRLock => "gort::sync::RwMutex::read",
            WaitReason::RwMutexLock => "gort::sync::RwMutex::write",
            WaitReason::WaitGroupWait => "gort::sync::WaitGroup::wait",
        }
    }
}

/// Sets `t`'s status (and wait reason). The single place statuses change;
/// called as the `step` of the hook in `crate::hooks` that writes the
/// change's trace event, inside that event's tracer critical section (the
/// hooks' module doc says why it must be inside).
#[inline(always)]
pub(crate) fn transition(t: &Task, to: Status, reason: WaitReason) {
    if to == Status::Waiting {
        t.reason.store(reason as u8, Relaxed);
    }
    t.status.store(to as u8, Relaxed);
}

#[cfg(test)]
mod tests {
    use super::WaitReason;

    /// Go 1.23: `traceBlockNet` is "network", `waitReasonIOWait` "IO wait".
    #[test]
    fn network_wait_reads_as_go() {
        let r = WaitReason::from_u8(WaitReason::Network as u8);
        assert_eq!(r, WaitReason::Network);
        assert_eq!(r.as_str(), "network");
        assert_eq!(r.dump_str(), "IO wait");
        assert_eq!(WaitReason::Sleep.dump_str(), "sleep");
    }
}
