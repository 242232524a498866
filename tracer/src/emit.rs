//! One method per event: the runtime's vocabulary for writing a trace.
//!
//! [`Locker::writer`] first writes the lazy statuses of the M's P and current
//! goroutine (each resource's status is written once per generation, before
//! its first event, with the status it had just before the event: §7.2 of the
//! format notes). The methods of [`EventWriter`] then write one event each,
//! named after the Go event in snake case (`GoSwitch` → [`go_switch`]); those
//! that name another resource write its lazy status too (an unblocked or
//! switched-to goroutine: `Waiting`; a started one: `Runnable`; a started P:
//! `Idle`; a stolen P: `SyscallAbandoned`).
//!
//! Sequence numbers: each goroutine and P has a counter per generation; a
//! status or creation resets it to 0, and each sequenced event increments it
//! and writes the new value (§7.3).
//!
//! [`go_switch`]: EventWriter::go_switch

#![deny(unsafe_code)]

use crate::locker::Locker;
use crate::stacks::Frame;
use crate::status::{GoTrace, ProcTrace};
use crate::wire::limits::NO_THREAD;
use crate::wire::{EventType as E, GoStatus, ProcStatus};

/// Writes events for one M in one generation: lazy statuses first, then one
/// method per event (see [`Locker::writer`]).
///
/// Borrowed from a [`Locker`]; every method appends one event (plus lazy
/// statuses) and returns the writer for chaining. Stack arguments are IDs from
/// [`Locker::stack`] or [`EventWriter::stack`] (0 for none).
#[derive(Debug)]
pub struct EventWriter<'l, 't> {
    l: &'l mut Locker<'t>,
    /// The M's current goroutine, as given to [`Locker::writer`].
    g: Option<u64>,
}

impl<'t> Locker<'t> {
    /// An event writer for this M, whose P and current goroutine (if any) are
    /// `p` and `g`, each with the status it had just before the events about
    /// to be written. Writes their statuses if this generation has not seen
    /// them yet.
    #[inline(always)]
    pub fn writer(
        &mut self,
        p: Option<(u64, &ProcTrace, ProcStatus)>,
        g: Option<(u64, &GoTrace, GoStatus)>,
    ) -> EventWriter<'_, 't> {
        let gen = self.gen;
        if let Some((id, pt, st)) = p {
            if pt.0.claim(gen) {
                self.status_event(E::ProcStatus, [id, st as u64]);
            }
        }
        if let Some((id, gt, st)) = g {
            if gt.0.claim(gen) {
                let m = self.m_id();
                self.status_event(E::GoStatus, [id, m, st as u64]);
            }
        }
        EventWriter {
            l: self,
            g: g.map(|(id, _, _)| id),
        }
    }

    /// A lazy status event: written once per resource and generation, so
    /// kept out of line, away from the event paths that inline everything.
    #[cold]
    #[inline(never)]
    fn status_event<const N: usize>(&mut self, ty: E, args: [u64; N]) {
        self.event(ty, args);
    }
}

impl EventWriter<'_, '_> {
    /// The ID of `s` in this generation's string table.
    #[inline]
    pub fn string(&mut self, s: &str) -> u64 {
        self.l.string(s)
    }

    /// The ID of the stack `frames` in this generation's stack table.
    #[inline]
    pub fn stack(&mut self, frames: &[Frame]) -> u64 {
        self.l.stack(frames)
    }

    #[inline(always)]
    fn ev<const N: usize>(&mut self, ty: E, args: [u64; N]) -> &mut Self {
        self.l.event(ty, args);
        self
    }

    /// The current goroutine exits in this generation: recorded so that the
    /// advancer, which can no longer see it, knows it needs no
    /// end-of-generation status.
    #[cold]
    fn exiting(&mut self) {
        if let Some(g) = self.g {
            self.l.note_exit(g);
        }
    }

    /// Lazy `GoStatus(g, NO_THREAD, st)` for a goroutine other than the M's own.
    #[inline(always)]
    fn target_status(&mut self, g: u64, gt: &GoTrace, st: GoStatus) {
        if gt.0.claim(self.l.gen) {
            self.l.status_event(E::GoStatus, [g, NO_THREAD, st as u64]);
        }
    }

    /// `ProcsChange`: GOMAXPROCS is now `procs`.
    #[inline]
    pub fn procs_change(&mut self, procs: u64, stack: u64) -> &mut Self {
        self.ev(E::ProcsChange, [procs, stack])
    }

    /// `ProcStatus(p, status)`, if `p`'s status is not yet written in this
    /// generation (for trace start and the runtime's own status passes).
    #[inline]
    pub fn proc_status(&mut self, p: u64, pt: &ProcTrace, status: ProcStatus) -> &mut Self {
        if pt.0.claim(self.l.gen) {
            self.l.event(E::ProcStatus, [p, status as u64]);
        }
        self
    }

    /// `GoStatus(g, m, status)`, if `g`'s status is not yet written in this
    /// generation; `m` is the thread of a running or syscall goroutine.
    #[inline]
    pub fn go_status(
        &mut self,
        g: u64,
        gt: &GoTrace,
        m: Option<u64>,
        status: GoStatus,
    ) -> &mut Self {
        if gt.0.claim(self.l.gen) {
            self.l
                .event(E::GoStatus, [g, m.unwrap_or(NO_THREAD), status as u64]);
        }
        self
    }

    /// `ProcStart`: this M (with no P) starts running the idle P `p`.
    #[inline]
    pub fn proc_start(&mut self, p: u64, pt: &ProcTrace) -> &mut Self {
        let gen = self.l.gen;
        if pt.0.claim(gen) {
            self.l.event(E::ProcStatus, [p, ProcStatus::Idle as u64]);
        }
        let seq = pt.0.next_seq(gen);
        self.ev(E::ProcStart, [p, seq])
    }

    /// `ProcStop`: this M's P becomes idle.
    #[inline]
    pub fn proc_stop(&mut self) -> &mut Self {
        self.ev(E::ProcStop, [])
    }

    /// `ProcSteal`: this M takes `p` from the thread `victim_m`, which is in a
    /// syscall.
    #[inline]
    pub fn proc_steal(&mut self, p: u64, pt: &ProcTrace, victim_m: u64) -> &mut Self {
        let gen = self.l.gen;
        if pt.0.claim(gen) {
            self.l
                .event(E::ProcStatus, [p, ProcStatus::SyscallAbandoned as u64]);
        }
        let seq = pt.0.next_seq(gen);
        self.ev(E::ProcSteal, [p, seq, victim_m])
    }

    /// `GoCreate`: the current goroutine creates the runnable goroutine
    /// `new_g`, whose start function's stack is `new_stack`.
    #[inline]
    pub fn go_create(&mut self, new_g: u64, gt: &GoTrace, new_stack: u64, stack: u64) -> &mut Self {
        gt.0.created(self.l.gen);
        self.ev(E::GoCreate, [new_g, new_stack, stack])
    }

    /// `GoCreateBlocked`: like [`go_create`](Self::go_create), but the new
    /// goroutine starts waiting (a coroutine).
    #[inline]
    pub fn go_create_blocked(
        &mut self,
        new_g: u64,
        gt: &GoTrace,
        new_stack: u64,
        stack: u64,
    ) -> &mut Self {
        gt.0.created(self.l.gen);
        self.ev(E::GoCreateBlocked, [new_g, new_stack, stack])
    }

    /// `GoCreateSyscall`: the goroutine `new_g` appears on this M (which has
    /// no goroutine) already in a syscall.
    #[inline]
    pub fn go_create_syscall(&mut self, new_g: u64, gt: &GoTrace) -> &mut Self {
        gt.0.created(self.l.gen);
        self.ev(E::GoCreateSyscall, [new_g])
    }

    /// `GoStart`: this M (with a P, no goroutine) starts running `g`.
    #[inline]
    pub fn go_start(&mut self, g: u64, gt: &GoTrace) -> &mut Self {
        self.target_status(g, gt, GoStatus::Runnable);
        let seq = gt.0.next_seq(self.l.gen);
        self.ev(E::GoStart, [g, seq])
    }

    /// `GoDestroy`: the current goroutine exits.
    #[inline]
    pub fn go_destroy(&mut self) -> &mut Self {
        self.exiting();
        self.ev(E::GoDestroy, [])
    }

    /// `GoDestroySyscall`: the current goroutine, in a syscall, exits.
    #[inline]
    pub fn go_destroy_syscall(&mut self) -> &mut Self {
        self.exiting();
        self.ev(E::GoDestroySyscall, [])
    }

    /// `GoStop`: the current goroutine yields and stays runnable.
    #[inline]
    pub fn go_stop(&mut self, reason: &str, stack: u64) -> &mut Self {
        let r = self.l.string(reason);
        self.ev(E::GoStop, [r, stack])
    }

    /// `GoBlock`: the current goroutine blocks.
    #[inline]
    pub fn go_block(&mut self, reason: &str, stack: u64) -> &mut Self {
        let r = self.l.string(reason);
        self.ev(E::GoBlock, [r, stack])
    }

    /// `GoUnblock`: the waiting goroutine `g` becomes runnable.
    #[inline]
    pub fn go_unblock(&mut self, g: u64, gt: &GoTrace, stack: u64) -> &mut Self {
        self.target_status(g, gt, GoStatus::Waiting);
        let seq = gt.0.next_seq(self.l.gen);
        self.ev(E::GoUnblock, [g, seq, stack])
    }

    /// `GoSwitch`: the current goroutine hands this M to the waiting
    /// goroutine `g` and waits.
    #[inline]
    pub fn go_switch(&mut self, g: u64, gt: &GoTrace) -> &mut Self {
        self.target_status(g, gt, GoStatus::Waiting);
        let seq = gt.0.next_seq(self.l.gen);
        self.ev(E::GoSwitch, [g, seq])
    }

    /// `GoSwitchDestroy`: like [`go_switch`](Self::go_switch), and the
    /// current goroutine exits.
    #[inline]
    pub fn go_switch_destroy(&mut self, g: u64, gt: &GoTrace) -> &mut Self {
        self.exiting();
        self.target_status(g, gt, GoStatus::Waiting);
        let seq = gt.0.next_seq(self.l.gen);
        self.ev(E::GoSwitchDestroy, [g, seq])
    }

    /// `GoSyscallBegin`: the current goroutine enters a syscall on the M's P `p`.
    #[inline]
    pub fn go_syscall_begin(&mut self, p: u64, pt: &ProcTrace, stack: u64) -> &mut Self {
        let _ = p;
        let seq = pt.0.next_seq(self.l.gen);
        self.ev(E::GoSyscallBegin, [seq, stack])
    }

    /// `GoSyscallEnd`: the syscall returns and the M still has its P.
    #[inline]
    pub fn go_syscall_end(&mut self) -> &mut Self {
        self.ev(E::GoSyscallEnd, [])
    }

    /// `GoSyscallEndBlocked`: the syscall returns but the P was taken.
    #[inline]
    pub fn go_syscall_end_blocked(&mut self) -> &mut Self {
        self.ev(E::GoSyscallEndBlocked, [])
    }

    /// `STWBegin`: a stop-the-world of kind `kind` begins.
    #[inline]
    pub fn stw_begin(&mut self, kind: &str, stack: u64) -> &mut Self {
        let k = self.l.string(kind);
        self.ev(E::STWBegin, [k, stack])
    }

    /// `STWEnd`: the stop-the-world ends.
    #[inline]
    pub fn stw_end(&mut self) -> &mut Self {
        self.ev(E::STWEnd, [])
    }

    /// `UserTaskBegin`: task `task` (child of `parent`, 0 for none) named `name` begins.
    #[inline]
    pub fn user_task_begin(&mut self, task: u64, parent: u64, name: &str, stack: u64) -> &mut Self {
        let n = self.l.string(name);
        self.ev(E::UserTaskBegin, [task, parent, n, stack])
    }

    /// `UserTaskEnd`: task `task` ends.
    #[inline]
    pub fn user_task_end(&mut self, task: u64, stack: u64) -> &mut Self {
        self.ev(E::UserTaskEnd, [task, stack])
    }

    /// `UserRegionBegin`: region `name` of task `task` begins on the current goroutine.
    #[inline]
    pub fn user_region_begin(&mut self, task: u64, name: &str, stack: u64) -> &mut Self {
        let n = self.l.string(name);
        self.ev(E::UserRegionBegin, [task, n, stack])
    }

    /// `UserRegionEnd`: region `name` of task `task` ends on the current goroutine.
    #[inline]
    pub fn user_region_end(&mut self, task: u64, name: &str, stack: u64) -> &mut Self {
        let n = self.l.string(name);
        self.ev(E::UserRegionEnd, [task, n, stack])
    }

    /// `UserLog`: a message `value` under category `key` in task `task`.
    #[inline]
    pub fn user_log(&mut self, task: u64, key: &str, value: &str, stack: u64) -> &mut Self {
        let k = self.l.string(key);
        let v = self.l.string(value);
        self.ev(E::UserLog, [task, k, v, stack])
    }

    /// `GoLabel`: labels the current goroutine.
    #[inline]
    pub fn go_label(&mut self, label: &str) -> &mut Self {
        let l = self.l.string(label);
        self.ev(E::GoLabel, [l])
    }
}
