//! Ordering of syscall events: GoSyscallBegin/End/EndBlocked and the
//! goroutines of foreign-thread callbacks (GoCreateSyscall, GoDestroySyscall).

use gort_tracer::wire::EventType;

use super::state::OResult as Result;
use crate::cursor::BaseEvent;
use crate::resources::{GoId, ProcId};

use super::state::{
    check_ctx, gs, invalid, proc_status_name, ps, GState, Name, Need, Reqs, Seq, USER_GO,
};
use super::{Input, Ordering, Step};

impl Ordering {
    /// The current goroutine's state for a syscall event; it must be `want`.
    /// (The message names `Running` for every `want`, as Go's does.)
    fn syscall_g(&mut self, i: &Input<'_, '_>, want: u8, want_name: &str) -> Result<()> {
        let name = Name(i.ev.typ);
        let Some(s) = self.gs.get_mut(&i.ctx.g.0) else {
            return Err(invalid(format!(
                "event {name} for goroutine ({}) that doesn't exist",
                i.ctx.g
            )));
        };
        if s.status != want {
            return Err(invalid(format!(
                "{name} event for goroutine that's not {want_name}"
            )));
        }
        Ok(())
    }

    fn set_g_status(&mut self, g: GoId, status: u8) {
        if let Some(s) = self.gs.get_mut(&g.0) {
            s.status = status;
        }
    }

    /// GoSyscallBegin: the running goroutine enters a syscall with its P.
    pub(super) fn advance_go_syscall_begin(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        check_ctx(i.ctx, USER_GO)?;
        self.syscall_g(i, gs::RUNNING, "Running")?;
        self.set_g_status(i.ctx.g, gs::SYSCALL);
        let name = Name(i.ev.typ);
        let Some(p) = self.ps.get_mut(&i.ctx.p.0) else {
            return Err(invalid(format!(
                "uninitialized proc {} found during {name}",
                i.ctx.p
            )));
        };
        p.status = ps::SYSCALL;
        // The P's sequence disambiguates later steals; it must line up here.
        let seq = Seq {
            gen: i.gen,
            n: i.ev.args[0],
        };
        if !seq.succeeds(p.seq) {
            return Err(invalid(format!(
                "failed to advance {name}: can't make sequence: {} -> {seq}",
                p.seq
            )));
        }
        p.seq = seq;
        self.push(i.ctx, *i.ev);
        Ok(Step::Advanced(i.ctx))
    }

    /// GoSyscallEnd: the syscall returns and the P is still there.
    pub(super) fn advance_go_syscall_end(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        check_ctx(i.ctx, USER_GO)?;
        self.syscall_g(i, gs::SYSCALL, "Running")?;
        self.set_g_status(i.ctx.g, gs::RUNNING);
        let name = Name(i.ev.typ);
        let Some(p) = self.ps.get_mut(&i.ctx.p.0) else {
            return Err(invalid(format!(
                "uninitialized proc {} found during {name}",
                i.ctx.p
            )));
        };
        if p.status != ps::SYSCALL {
            return Err(invalid(format!(
                "expected proc {} in state Syscall, but got {} instead",
                i.ctx.p,
                proc_status_name(p.status)
            )));
        }
        p.status = ps::RUNNING;
        self.push(i.ctx, *i.ev);
        Ok(Step::Advanced(i.ctx))
    }

    /// GoSyscallEndBlocked: the syscall returns after the P was lost; waits
    /// until that loss (a ProcSteal or ProcStop) has been ordered.
    pub(super) fn advance_go_syscall_end_blocked(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        if i.ctx.p.is_some() {
            let Some(p) = self.ps.get(&i.ctx.p.0) else {
                return Err(invalid(format!(
                    "uninitialized proc {} found during {}",
                    i.ctx.p,
                    i.ev.typ.name()
                )));
            };
            if p.status == ps::SYSCALL {
                return Ok(Step::NotYet);
            }
        }
        check_ctx(
            i.ctx,
            Reqs {
                m: Need::Must,
                p: Need::May,
                g: Need::Must,
            },
        )?;
        self.syscall_g(i, gs::SYSCALL, "Running")?;
        self.set_g_status(i.ctx.g, gs::RUNNABLE);
        let mut new = i.ctx;
        new.g = GoId::NONE;
        self.push(i.ctx, *i.ev);
        Ok(Step::Advanced(new))
    }

    /// GoCreateSyscall: a goroutine appears already in a syscall on this thread.
    pub(super) fn advance_go_create_syscall(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        check_ctx(
            i.ctx,
            Reqs {
                m: Need::Must,
                p: Need::May,
                g: Need::Not,
            },
        )?;
        let new_g = GoId::from_wire(i.ev.args[0]);
        if self.gs.contains_key(&new_g.0) {
            return Err(invalid(format!(
                "tried to create goroutine ({new_g}) in syscall that already exists"
            )));
        }
        self.gs
            .insert(new_g.0, GState::new(gs::SYSCALL, Seq { gen: i.gen, n: 0 }));
        let mut new = i.ctx;
        new.g = new_g;
        self.push(i.ctx, *i.ev);
        Ok(Step::Advanced(new))
    }

    /// GoDestroySyscall: the syscall goroutine vanishes; a P still held is
    /// abandoned, shown as a ProcSteal from this thread first.
    pub(super) fn advance_go_destroy_syscall(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        check_ctx(
            i.ctx,
            Reqs {
                m: Need::Must,
                p: Need::May,
                g: Need::Must,
            },
        )?;
        self.syscall_g(i, gs::SYSCALL, "Syscall")?;
        self.gs.remove(&i.ctx.g.0);
        let mut new = i.ctx;
        new.g = GoId::NONE;
        if i.ctx.p.is_some() {
            let name = Name(i.ev.typ);
            let Some(p) = self.ps.get_mut(&i.ctx.p.0) else {
                return Err(invalid(format!(
                    "found invalid proc {} during {name}",
                    i.ctx.p
                )));
            };
            if p.status != ps::SYSCALL {
                return Err(invalid(format!(
                    "proc {} in unexpected state {} during {name}",
                    i.ctx.p,
                    proc_status_name(p.status)
                )));
            }
            p.status = ps::SYSCALL_ABANDONED;
            new.p = ProcId::NONE;
            let mut steal =
                BaseEvent::synthetic(EventType::ProcSteal, i.ev.time, &[i.ctx.p.0 as u64]);
            steal.set_extra(0, u64::from(ps::SYSCALL));
            self.push(i.ctx, steal);
        }
        self.push(i.ctx, *i.ev);
        Ok(Step::Advanced(new))
    }
}
