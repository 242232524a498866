//! Resource identifiers and states: goroutines, procs (Ps), threads (Ms).
//!
//! IDs are plain `i64` newtypes because the trace uses `-1` for "none"
//! ([`GoId::NONE`], [`ProcId::NONE`], [`ThreadId::NONE`]); on the wire that is
//! 2^64-1, which reinterprets to `-1`. The state enums use the numbering of Go's
//! `internal/trace` API, which differs from the wire status values
//! ([`gort_tracer::wire::GoStatus`]).

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);

        impl $name {
            /// "None": no such resource in this context.
            pub const NONE: $name = $name(-1);

            /// The ID a wire argument names (2^64-1 becomes [`Self::NONE`]).
            #[inline]
            pub const fn from_wire(v: u64) -> $name {
                $name(v as i64)
            }

            /// True unless this is [`Self::NONE`].
            #[inline]
            pub const fn is_some(self) -> bool {
                self.0 != -1
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

id_type!(
    /// A goroutine ID (`-1`: no goroutine).
    GoId
);
id_type!(
    /// A P ID (`-1`: no P).
    ProcId
);
id_type!(
    /// An M (OS thread) ID (`-1`: no thread).
    ThreadId
);

/// A user task ID (`runtime/trace.NewTask`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub u64);

impl TaskId {
    /// No task (a task begin without a parent names this as its parent).
    pub const NONE: TaskId = TaskId(u64::MAX);
    /// The background task that regions and logs outside any task belong to.
    pub const BACKGROUND: TaskId = TaskId(0);
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The state of a goroutine, as the high-level API reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum GoState {
    /// Nothing is known yet (first mention in the first generation).
    Undetermined = 0,
    /// Does not exist (before creation, after exit).
    NotExist = 1,
    /// Ready to run.
    Runnable = 2,
    /// Running on a thread.
    Running = 3,
    /// Blocked.
    Waiting = 4,
    /// In a system call.
    Syscall = 5,
}

impl GoState {
    /// True for the states that occupy a thread (running, in a syscall).
    #[inline]
    pub const fn is_executing(self) -> bool {
        matches!(self, GoState::Running | GoState::Syscall)
    }

    /// Go's name for the state.
    pub const fn name(self) -> &'static str {
        match self {
            GoState::Undetermined => "Undetermined",
            GoState::NotExist => "NotExist",
            GoState::Runnable => "Runnable",
            GoState::Running => "Running",
            GoState::Waiting => "Waiting",
            GoState::Syscall => "Syscall",
        }
    }

    /// The API state for a wire goroutine status (`Bad` maps to
    /// `Undetermined`, as Go's table does; values above 4 have none).
    #[inline]
    pub(crate) const fn from_wire_status(status: u8) -> Option<GoState> {
        match status {
            0 => Some(GoState::Undetermined),
            1 => Some(GoState::Runnable),
            2 => Some(GoState::Running),
            3 => Some(GoState::Syscall),
            4 => Some(GoState::Waiting),
            _ => None,
        }
    }

    #[inline]
    pub(crate) const fn from_u8(v: u8) -> GoState {
        match v {
            1 => GoState::NotExist,
            2 => GoState::Runnable,
            3 => GoState::Running,
            4 => GoState::Waiting,
            5 => GoState::Syscall,
            _ => GoState::Undetermined,
        }
    }
}

impl fmt::Display for GoState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The state of a P, as the high-level API reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum ProcState {
    /// Nothing is known yet (first mention in the first generation).
    Undetermined = 0,
    /// Does not exist.
    NotExist = 1,
    /// Held by a thread (a wire `Syscall` P also shows as running).
    Running = 2,
    /// Not held by any thread (a wire `SyscallAbandoned` P shows as idle).
    Idle = 3,
}

impl ProcState {
    /// True for [`ProcState::Running`].
    #[inline]
    pub const fn is_executing(self) -> bool {
        matches!(self, ProcState::Running)
    }

    /// Go's name for the state.
    pub const fn name(self) -> &'static str {
        match self {
            ProcState::Undetermined => "Undetermined",
            ProcState::NotExist => "NotExist",
            ProcState::Running => "Running",
            ProcState::Idle => "Idle",
        }
    }

    /// The API state for a wire P status (`Bad` maps to `Undetermined`).
    #[inline]
    pub(crate) const fn from_wire_status(status: u8) -> Option<ProcState> {
        match status {
            0 => Some(ProcState::Undetermined),
            1 | 3 => Some(ProcState::Running),
            2 | 4 => Some(ProcState::Idle),
            _ => None,
        }
    }

    #[inline]
    pub(crate) const fn from_u8(v: u8) -> ProcState {
        match v {
            1 => ProcState::NotExist,
            2 => ProcState::Running,
            3 => ProcState::Idle,
            _ => ProcState::Undetermined,
        }
    }
}

impl fmt::Display for ProcState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A resource an event can be about or scoped to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceId {
    /// No resource (global scope).
    None,
    /// A goroutine.
    Goroutine(GoId),
    /// A P.
    Proc(ProcId),
    /// A thread.
    Thread(ThreadId),
}

impl fmt::Display for ResourceId {
    /// Go's form: `None`, `Goroutine(7)`, `Proc(0)`, `Thread(12)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResourceId::None => f.write_str("None"),
            ResourceId::Goroutine(g) => write!(f, "Goroutine({g})"),
            ResourceId::Proc(p) => write!(f, "Proc({p})"),
            ResourceId::Thread(m) => write!(f, "Thread({m})"),
        }
    }
}

/// The old and new state of a state transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transition {
    /// A goroutine changes state.
    Goroutine {
        /// The goroutine.
        id: GoId,
        /// State before.
        from: GoState,
        /// State after.
        to: GoState,
    },
    /// A P changes state.
    Proc {
        /// The P.
        id: ProcId,
        /// State before.
        from: ProcState,
        /// State after.
        to: ProcState,
    },
}

impl Transition {
    /// The resource that changes state.
    pub fn resource(&self) -> ResourceId {
        match *self {
            Transition::Goroutine { id, .. } => ResourceId::Goroutine(id),
            Transition::Proc { id, .. } => ResourceId::Proc(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_ids_come_from_all_ones() {
        assert_eq!(GoId::from_wire(u64::MAX), GoId::NONE);
        assert_eq!(ThreadId::from_wire(u64::MAX).to_string(), "-1");
        assert!(ProcId(0).is_some());
    }

    #[test]
    fn resource_ids_print_like_go() {
        assert_eq!(ResourceId::None.to_string(), "None");
        assert_eq!(ResourceId::Goroutine(GoId(9)).to_string(), "Goroutine(9)");
        assert_eq!(ResourceId::Proc(ProcId(1)).to_string(), "Proc(1)");
        assert_eq!(ResourceId::Thread(ThreadId(-1)).to_string(), "Thread(-1)");
    }

    #[test]
    fn wire_statuses_map_to_api_states() {
        assert_eq!(GoState::from_wire_status(4), Some(GoState::Waiting));
        assert_eq!(GoState::from_wire_status(3), Some(GoState::Syscall));
        assert_eq!(GoState::from_wire_status(5), None);
        assert_eq!(ProcState::from_wire_status(3), Some(ProcState::Running));
        assert_eq!(ProcState::from_wire_status(4), Some(ProcState::Idle));
        for s in 0..6u8 {
            assert_eq!(GoState::from_u8(s) as u8, s);
        }
        for s in 0..4u8 {
            assert_eq!(ProcState::from_u8(s) as u8, s);
        }
    }
}
