//! Ordering of range events: stop-the-world, the GC mark phase, sweeping and
//! mark assists.

use gort_tracer::wire::EventType;

use super::state::OResult as Result;
use crate::resources::{GoId, ProcId};

use super::state::{check_ctx, invalid, Need, RangeType, Reqs, USER_GO};
use super::{GcState, Input, Ordering, Step};

/// Thread and P required, goroutine optional.
const ON_PROC: Reqs = Reqs {
    m: Need::Must,
    p: Need::Must,
    g: Need::May,
};

impl Ordering {
    /// STWBegin and GCMarkAssistBegin: a range starts on the current goroutine.
    pub(super) fn advance_go_range_begin(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        check_ctx(i.ctx, USER_GO)?;
        let desc = if i.ev.typ == EventType::STWBegin {
            i.ev.args[0]
        } else {
            0
        };
        let Some(s) = self.gs.get_mut(&i.ctx.g.0) else {
            return Err(invalid(format!(
                "encountered event of type {} without known state for current goroutine {}",
                i.ev.typ as u8, i.ctx.g
            )));
        };
        s.ranges().begin(RangeType::of(i.ev.typ, desc))?;
        self.push(i.ctx, *i.ev);
        Ok(Step::Advanced(i.ctx))
    }

    /// STWEnd and GCMarkAssistEnd: the range ends on the current goroutine.
    /// A stop-the-world end takes over its begin's kind string.
    pub(super) fn advance_go_range_end(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        check_ctx(i.ctx, USER_GO)?;
        let Some(s) = self.gs.get_mut(&i.ctx.g.0) else {
            return Err(invalid(format!(
                "encountered event of type {} without known state for current goroutine {}",
                i.ev.typ as u8, i.ctx.g
            )));
        };
        let desc = s.ranges().end(i.ev.typ)?;
        if i.ev.typ == EventType::STWEnd {
            i.ev.args[0] = desc;
        }
        self.push(i.ctx, *i.ev);
        Ok(Step::Advanced(i.ctx))
    }

    /// GCMarkAssistActive: a goroutine (any, not only the current one) was in
    /// a mark assist when the generation began.
    pub(super) fn advance_go_range_active(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        let gid = GoId::from_wire(i.ev.args[0]);
        let initial = i.gen == self.initial_gen;
        let Some(s) = self.gs.get_mut(&gid.0) else {
            return Err(invalid(format!(
                "uninitialized goroutine {gid} found during {}",
                i.ev.typ.name()
            )));
        };
        s.ranges().active(RangeType::of(i.ev.typ, 0), initial)?;
        self.push(i.ctx, *i.ev);
        Ok(Step::Advanced(i.ctx))
    }

    /// GCActive: the mark phase was running when the generation began.
    pub(super) fn advance_gc_active(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        let seq = i.ev.args[0];
        if i.gen == self.initial_gen {
            if self.gc != GcState::Undetermined {
                return Err(invalid(
                    "GCActive in the first generation isn't first GC event".into(),
                ));
            }
            self.gc_seq = seq;
            self.gc = GcState::Running;
            self.push(i.ctx, *i.ev);
            return Ok(Step::Advanced(i.ctx));
        }
        if seq != self.gc_seq.wrapping_add(1) {
            return Ok(Step::NotYet);
        }
        if self.gc != GcState::Running {
            return Err(invalid(
                "encountered GCActive while GC was not in progress".into(),
            ));
        }
        self.gc_seq = seq;
        check_ctx(i.ctx, USER_GO)?;
        self.push(i.ctx, *i.ev);
        Ok(Step::Advanced(i.ctx))
    }

    /// GCBegin: the mark phase starts.
    pub(super) fn advance_gc_begin(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        let seq = i.ev.args[0];
        if self.gc == GcState::Undetermined {
            self.gc_seq = seq;
            self.gc = GcState::Running;
            self.push(i.ctx, *i.ev);
            return Ok(Step::Advanced(i.ctx));
        }
        if seq != self.gc_seq.wrapping_add(1) {
            return Ok(Step::NotYet);
        }
        if self.gc == GcState::Running {
            return Err(invalid(
                "encountered GCBegin while GC was already in progress".into(),
            ));
        }
        self.gc_seq = seq;
        self.gc = GcState::Running;
        check_ctx(i.ctx, USER_GO)?;
        self.push(i.ctx, *i.ev);
        Ok(Step::Advanced(i.ctx))
    }

    /// GCEnd: the mark phase ends.
    pub(super) fn advance_gc_end(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        let seq = i.ev.args[0];
        if seq != self.gc_seq.wrapping_add(1) {
            return Ok(Step::NotYet);
        }
        match self.gc {
            GcState::NotRunning => {
                return Err(invalid(
                    "encountered GCEnd when GC was not in progress".into(),
                ))
            }
            GcState::Undetermined => {
                return Err(invalid(
                    "encountered GCEnd when GC was in an undetermined state".into(),
                ))
            }
            GcState::Running => {}
        }
        self.gc_seq = seq;
        self.gc = GcState::NotRunning;
        check_ctx(i.ctx, USER_GO)?;
        self.push(i.ctx, *i.ev);
        Ok(Step::Advanced(i.ctx))
    }

    fn proc_ranges_missing(p: ProcId) -> Box<crate::error::Error> {
        invalid(format!("uninitialized proc {p} found during sweep"))
    }

    /// GCSweepBegin: sweeping starts on the current P.
    pub(super) fn advance_gc_sweep_begin(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        check_ctx(i.ctx, ON_PROC)?;
        let Some(p) = self.ps.get_mut(&i.ctx.p.0) else {
            return Err(Self::proc_ranges_missing(i.ctx.p));
        };
        p.ranges.begin(RangeType::of(i.ev.typ, 0))?;
        self.push(i.ctx, *i.ev);
        Ok(Step::Advanced(i.ctx))
    }

    /// GCSweepActive: a P (named by the event) was sweeping when the
    /// generation began.
    pub(super) fn advance_gc_sweep_active(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        let pid = ProcId::from_wire(i.ev.args[0]);
        let initial = i.gen == self.initial_gen;
        let Some(p) = self.ps.get_mut(&pid.0) else {
            return Err(invalid(format!(
                "encountered GCSweepActive for unknown proc {pid}"
            )));
        };
        p.ranges.active(RangeType::of(i.ev.typ, 0), initial)?;
        self.push(i.ctx, *i.ev);
        Ok(Step::Advanced(i.ctx))
    }

    /// GCSweepEnd: sweeping ends on the current P.
    pub(super) fn advance_gc_sweep_end(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        check_ctx(i.ctx, ON_PROC)?;
        let Some(p) = self.ps.get_mut(&i.ctx.p.0) else {
            return Err(Self::proc_ranges_missing(i.ctx.p));
        };
        p.ranges.end(i.ev.typ)?;
        self.push(i.ctx, *i.ev);
        Ok(Step::Advanced(i.ctx))
    }
}
