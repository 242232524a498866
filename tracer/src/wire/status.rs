//! Goroutine and P status values as they appear on the wire.

/// A goroutine status in `GoStatus`/`GoStatusStack` (wire numbering).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum GoStatus {
    /// Never written; rejected by readers.
    Bad = 0,
    /// Ready to run.
    Runnable = 1,
    /// Running on an M.
    Running = 2,
    /// In a system call, on an M.
    Syscall = 3,
    /// Blocked.
    Waiting = 4,
}

impl GoStatus {
    /// The status with wire value `v`, if it is one.
    pub const fn from_u64(v: u64) -> Option<GoStatus> {
        match v {
            0 => Some(GoStatus::Bad),
            1 => Some(GoStatus::Runnable),
            2 => Some(GoStatus::Running),
            3 => Some(GoStatus::Syscall),
            4 => Some(GoStatus::Waiting),
            _ => None,
        }
    }
}

/// A P status in `ProcStatus` (wire numbering).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ProcStatus {
    /// Never written; rejected by readers.
    Bad = 0,
    /// Held by an M that is running code.
    Running = 1,
    /// Not held by any M.
    Idle = 2,
    /// Held by an M whose goroutine is in a syscall.
    Syscall = 3,
    /// First mentioned by a steal from a syscall.
    SyscallAbandoned = 4,
}

impl ProcStatus {
    /// The status with wire value `v`, if it is one.
    pub const fn from_u64(v: u64) -> Option<ProcStatus> {
        match v {
            0 => Some(ProcStatus::Bad),
            1 => Some(ProcStatus::Running),
            2 => Some(ProcStatus::Idle),
            3 => Some(ProcStatus::Syscall),
            4 => Some(ProcStatus::SyscallAbandoned),
            _ => None,
        }
    }
}
