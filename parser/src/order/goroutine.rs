//! Ordering of goroutine events: GoStatus(Stack), GoCreate(Blocked), GoStart,
//! GoStop/GoBlock/GoDestroy, GoUnblock, GoSwitch(Destroy).

use gort_tracer::wire::EventType;

use super::state::OResult as Result;
use crate::cursor::BaseEvent;
use crate::resources::{GoId, GoState, ThreadId};

use super::state::{
    check_ctx, go_status_name, gs, invalid, GState, MState, Name, Need, Reqs, Seq, USER_GO,
};
use super::{Input, Ordering, Step};

impl Ordering {
    /// GoStatus and GoStatusStack: a goroutine's status at its first mention
    /// in a generation.
    pub(super) fn advance_go_status(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        let gid = GoId::from_wire(i.ev.args[0]);
        let mid = ThreadId::from_wire(i.ev.args[1]);
        // One byte in Go's reader; larger values wrap.
        let status = i.ev.args[2] as u8;
        let Some(mut old) = GoState::from_wire_status(status) else {
            return Err(invalid(format!(
                "invalid status for goroutine {gid}: {status}"
            )));
        };
        let seq0 = Seq { gen: i.gen, n: 0 };
        match self.gs.get_mut(&gid.0) {
            Some(s) => {
                if s.status != status {
                    return Err(invalid(format!(
                        "inconsistent status for goroutine {gid}: old {} vs. new {}",
                        go_status_name(s.status),
                        go_status_name(status)
                    )));
                }
                s.seq = seq0;
            }
            None if i.gen == self.initial_gen => {
                self.gs.insert(gid.0, GState::new(status, seq0));
                old = GoState::Undetermined;
            }
            None => {
                return Err(invalid(format!(
                    "found goroutine status for new goroutine after the first generation: id={gid} status={}",
                    go_status_name(status)
                )));
            }
        }
        i.ev.set_extra(0, old as u64);
        let mut ctx = i.ctx;
        let mut new = i.ctx;
        match status {
            gs::RUNNING => new.g = gid,
            gs::SYSCALL => {
                if !mid.is_some() {
                    return Err(invalid(format!(
                        "found goroutine {gid} in syscall without a thread"
                    )));
                }
                if mid == i.ctx.m {
                    if i.gen != self.initial_gen && i.ctx.g != gid {
                        return Err(invalid(format!(
                            "inconsistent thread for syscalling goroutine {gid}: thread has goroutine {}",
                            i.ctx.g
                        )));
                    }
                    new.g = gid;
                } else {
                    // A goroutine sitting in a syscall on another thread.
                    match self.ms.get(&mid.0) {
                        Some(ms) => {
                            if ms.g != gid {
                                return Err(invalid(format!(
                                    "inconsistent thread for syscalling goroutine {gid}: thread has goroutine {}",
                                    ms.g
                                )));
                            }
                            ctx.g = ms.g;
                        }
                        None => {
                            self.ms.insert(
                                mid.0,
                                MState {
                                    g: gid,
                                    p: crate::resources::ProcId::NONE,
                                },
                            );
                        }
                    }
                    ctx.m = mid;
                }
            }
            _ => {}
        }
        self.push(ctx, *i.ev);
        Ok(Step::Advanced(new))
    }

    /// GoCreate and GoCreateBlocked.
    pub(super) fn advance_go_create(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        check_ctx(
            i.ctx,
            Reqs {
                m: Need::Must,
                p: Need::Must,
                g: Need::May,
            },
        )?;
        if let Some(s) = self.gs.get(&i.ctx.g.0) {
            if s.status != gs::RUNNING {
                return Err(invalid(format!(
                    "{} event for goroutine that's not Running",
                    i.ev.typ.name()
                )));
            }
        }
        let new_g = GoId::from_wire(i.ev.args[0]);
        if self.gs.contains_key(&new_g.0) {
            return Err(invalid(format!(
                "tried to create goroutine ({new_g}) that already exists"
            )));
        }
        let status = if i.ev.typ == EventType::GoCreateBlocked {
            gs::WAITING
        } else {
            gs::RUNNABLE
        };
        self.gs
            .insert(new_g.0, GState::new(status, Seq { gen: i.gen, n: 0 }));
        self.push(i.ctx, *i.ev);
        Ok(Step::Advanced(i.ctx))
    }

    /// The current goroutine's state, which must be `want` for event `typ`.
    fn current_g(&mut self, i: &Input<'_, '_>, want: u8, want_name: &str) -> Result<&mut GState> {
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
        Ok(s)
    }

    /// GoStop, GoBlock and GoDestroy: the running goroutine stops.
    pub(super) fn advance_go_stop_exec(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        check_ctx(i.ctx, USER_GO)?;
        let typ = i.ev.typ;
        let s = self.current_g(i, gs::RUNNING, "Running")?;
        match typ {
            EventType::GoStop => s.status = gs::RUNNABLE,
            EventType::GoBlock => s.status = gs::WAITING,
            _ => {
                self.gs.remove(&i.ctx.g.0);
            }
        }
        let mut new = i.ctx;
        new.g = GoId::NONE;
        self.push(i.ctx, *i.ev);
        Ok(Step::Advanced(new))
    }

    /// GoStart: a runnable goroutine starts running on this thread.
    pub(super) fn advance_go_start(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        let gid = GoId::from_wire(i.ev.args[0]);
        let seq = Seq {
            gen: i.gen,
            n: i.ev.args[1],
        };
        let Some(s) = self.gs.get_mut(&gid.0) else {
            return Ok(Step::NotYet);
        };
        if s.status != gs::RUNNABLE || !seq.succeeds(s.seq) {
            return Ok(Step::NotYet);
        }
        check_ctx(
            i.ctx,
            Reqs {
                m: Need::Must,
                p: Need::Must,
                g: Need::Not,
            },
        )?;
        s.status = gs::RUNNING;
        s.seq = seq;
        let mut new = i.ctx;
        new.g = gid;
        self.push(i.ctx, *i.ev);
        Ok(Step::Advanced(new))
    }

    /// GoUnblock: a waiting goroutine becomes runnable (from any context).
    pub(super) fn advance_go_unblock(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        let gid = GoId::from_wire(i.ev.args[0]);
        let seq = Seq {
            gen: i.gen,
            n: i.ev.args[1],
        };
        let Some(s) = self.gs.get_mut(&gid.0) else {
            return Ok(Step::NotYet);
        };
        if s.status != gs::WAITING || !seq.succeeds(s.seq) {
            return Ok(Step::NotYet);
        }
        s.status = gs::RUNNABLE;
        s.seq = seq;
        self.push(i.ctx, *i.ev);
        Ok(Step::Advanced(i.ctx))
    }

    /// GoSwitch and GoSwitchDestroy: the running goroutine hands its thread
    /// to a waiting one. Queued as three events at the same time: the switch
    /// itself (an unblock of the target), a block or destroy of the current
    /// goroutine, and a start of the target.
    pub(super) fn advance_go_switch(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        check_ctx(i.ctx, USER_GO)?;
        self.current_g(i, gs::RUNNING, "Running")?;
        let next = GoId::from_wire(i.ev.args[0]);
        let seq = Seq {
            gen: i.gen,
            n: i.ev.args[1],
        };
        let Some(ns) = self.gs.get_mut(&next.0) else {
            return Ok(Step::NotYet);
        };
        if ns.status != gs::WAITING || !seq.succeeds(ns.seq) {
            return Ok(Step::NotYet);
        }
        ns.status = gs::RUNNING;
        ns.seq = seq;
        let time = i.ev.time;
        self.push(i.ctx, *i.ev);
        if i.ev.typ == EventType::GoSwitch {
            if let Some(cur) = self.gs.get_mut(&i.ctx.g.0) {
                cur.status = gs::WAITING;
            }
            self.push(
                i.ctx,
                BaseEvent::synthetic(EventType::GoBlock, time, &[0, 0]),
            );
        } else {
            self.gs.remove(&i.ctx.g.0);
            self.push(i.ctx, BaseEvent::synthetic(EventType::GoDestroy, time, &[]));
        }
        let mut start_ctx = i.ctx;
        start_ctx.g = GoId::NONE;
        self.push(
            start_ctx,
            BaseEvent::synthetic(EventType::GoStart, time, &[next.0 as u64, seq.n]),
        );
        let mut new = i.ctx;
        new.g = next;
        Ok(Step::Advanced(new))
    }
}
