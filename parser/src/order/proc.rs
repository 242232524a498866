//! Ordering of P events: ProcStatus, ProcStart, ProcStop, ProcSteal.

use super::state::OResult as Result;
use crate::resources::{ProcId, ProcState, ThreadId};

use super::state::{
    check_ctx, invalid, proc_status_name, ps, Name, Need, PState, Ranges, Reqs, Seq,
};
use super::{Input, Ordering, Step};

impl Ordering {
    /// ProcStatus: a P's status at its first mention in a generation.
    pub(super) fn advance_proc_status(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        let pid = ProcId::from_wire(i.ev.args[0]);
        // The wire status is one byte in Go's reader; larger values wrap.
        let status = i.ev.args[1] as u8;
        let Some(mut old) = ProcState::from_wire_status(status) else {
            return Err(invalid(format!("invalid status for proc {pid}: {status}")));
        };
        let mut ctx = i.ctx;
        match self.ps.get_mut(&pid.0) {
            Some(s) => {
                if status == ps::SYSCALL_ABANDONED && s.status == ps::SYSCALL {
                    // Nothing was lost: the P is still in its syscall. Show it
                    // as running, on the thread that holds it.
                    old = ProcState::Running;
                    i.ev.args[1] = u64::from(ps::SYSCALL);
                } else if status == ps::SYSCALL_ABANDONED && s.status == ps::SYSCALL_ABANDONED {
                    old = ProcState::Idle;
                    i.ev.args[1] = u64::from(ps::SYSCALL_ABANDONED);
                } else if s.status != status {
                    return Err(invalid(format!(
                        "inconsistent status for proc {pid}: old {} vs. new {}",
                        proc_status_name(s.status),
                        proc_status_name(status)
                    )));
                }
                s.seq = Seq { gen: i.gen, n: 0 };
            }
            None => {
                self.ps.insert(
                    pid.0,
                    PState {
                        status,
                        seq: Seq { gen: i.gen, n: 0 },
                        ranges: Ranges::default(),
                    },
                );
                old = if i.gen == self.initial_gen {
                    ProcState::Undetermined
                } else {
                    ProcState::NotExist
                };
            }
        }
        i.ev.set_extra(0, old as u64);
        let mut new = i.ctx;
        if status == ps::RUNNING || status == ps::SYSCALL {
            new.p = pid;
        }
        if status == ps::SYSCALL_ABANDONED && old == ProcState::Running {
            // Report the event on the thread the P is bound to.
            let mut holders: Vec<(i64, crate::resources::GoId)> = self
                .ms
                .iter()
                .filter(|(_, ms)| ms.p == pid)
                .map(|(m, ms)| (*m, ms.g))
                .collect();
            holders.sort_by_key(|(m, _)| *m);
            let Some(&(m, g)) = holders.last() else {
                return Err(invalid(format!(
                    "failed to find sched context for proc {pid} that's about to be stolen"
                )));
            };
            ctx.m = ThreadId(m);
            ctx.p = pid;
            ctx.g = g;
        }
        self.push(ctx, *i.ev);
        Ok(Step::Advanced(new))
    }

    /// ProcStart: the thread takes an idle P.
    pub(super) fn advance_proc_start(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        let pid = ProcId::from_wire(i.ev.args[0]);
        let seq = Seq {
            gen: i.gen,
            n: i.ev.args[1],
        };
        let Some(s) = self.ps.get_mut(&pid.0) else {
            return Ok(Step::NotYet);
        };
        if s.status != ps::IDLE || !seq.succeeds(s.seq) || i.ctx.p.is_some() {
            return Ok(Step::NotYet);
        }
        check_ctx(
            i.ctx,
            Reqs {
                m: Need::Must,
                p: Need::Not,
                g: Need::May,
            },
        )?;
        s.status = ps::RUNNING;
        s.seq = seq;
        let mut new = i.ctx;
        new.p = pid;
        self.push(i.ctx, *i.ev);
        Ok(Step::Advanced(new))
    }

    /// ProcStop: the thread gives up its P.
    pub(super) fn advance_proc_stop(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        let name = Name(i.ev.typ);
        let Some(s) = self.ps.get_mut(&i.ctx.p.0) else {
            return Err(invalid(format!(
                "event {name} for proc ({}) that doesn't exist",
                i.ctx.p
            )));
        };
        if s.status != ps::RUNNING && s.status != ps::SYSCALL {
            return Err(invalid(format!(
                "{name} event for proc that's not Running or Syscall"
            )));
        }
        check_ctx(
            i.ctx,
            Reqs {
                m: Need::Must,
                p: Need::Must,
                g: Need::May,
            },
        )?;
        s.status = ps::IDLE;
        let mut new = i.ctx;
        new.p = ProcId::NONE;
        self.push(i.ctx, *i.ev);
        Ok(Step::Advanced(new))
    }

    /// ProcSteal: a P in a syscall is taken from its thread.
    pub(super) fn advance_proc_steal(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        let pid = ProcId::from_wire(i.ev.args[0]);
        let seq = Seq {
            gen: i.gen,
            n: i.ev.args[1],
        };
        let Some(s) = self.ps.get_mut(&pid.0) else {
            return Ok(Step::NotYet);
        };
        if (s.status != ps::SYSCALL && s.status != ps::SYSCALL_ABANDONED) || !seq.succeeds(s.seq) {
            return Ok(Step::NotYet);
        }
        check_ctx(
            i.ctx,
            Reqs {
                m: Need::Must,
                p: Need::May,
                g: Need::May,
            },
        )?;
        let old = s.status;
        i.ev.set_extra(0, u64::from(old));
        s.status = ps::IDLE;
        s.seq = seq;
        if old == ps::SYSCALL_ABANDONED {
            // The thread that held it is unknown: leave threads alone.
            self.push(i.ctx, *i.ev);
            return Ok(Step::Advanced(i.ctx));
        }
        let victim = ThreadId::from_wire(i.ev.args[2]);
        let mut new = i.ctx;
        if victim == i.ctx.m {
            if i.ctx.p != pid {
                return Err(invalid(format!(
                    "tried to self-steal proc {pid} (thread {victim}), but got proc {} instead",
                    i.ctx.p
                )));
            }
            new.p = ProcId::NONE;
            self.push(i.ctx, *i.ev);
            return Ok(Step::Advanced(new));
        }
        let Some(vs) = self.ms.get_mut(&victim.0) else {
            return Err(invalid(format!(
                "stole proc from non-existent thread {victim}"
            )));
        };
        if vs.p != pid {
            return Err(invalid(format!(
                "tried to steal proc {pid} from thread {victim}, but got proc {} instead",
                vs.p
            )));
        }
        // The victim is on its way out of the syscall; it may now proceed.
        vs.p = ProcId::NONE;
        self.push(i.ctx, *i.ev);
        Ok(Step::Advanced(new))
    }
}
