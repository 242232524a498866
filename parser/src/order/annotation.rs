//! Ordering of annotation and metric events: user tasks, regions, logs,
//! labels, GOMAXPROCS and heap metrics, and experimental events.

use std::sync::Arc;

use super::state::OResult as Result;
use crate::resources::TaskId;

use super::state::{check_ctx, invalid, Need, Region, Reqs, USER_GO};
use super::{Input, Ordering, Step, TaskState};

impl Ordering {
    /// ProcsChange, GoLabel and UserLog: instants on a running goroutine.
    pub(super) fn advance_annotation(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        check_ctx(i.ctx, USER_GO)?;
        self.push(i.ctx, *i.ev);
        Ok(Step::Advanced(i.ctx))
    }

    /// HeapAlloc and HeapGoal: metrics that need a P but no goroutine.
    pub(super) fn advance_heap_metric(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        check_ctx(
            i.ctx,
            Reqs {
                m: Need::Must,
                p: Need::Must,
                g: Need::May,
            },
        )?;
        self.push(i.ctx, *i.ev);
        Ok(Step::Advanced(i.ctx))
    }

    /// Experimental events: unchecked beyond having a thread.
    pub(super) fn advance_experimental(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        check_ctx(
            i.ctx,
            Reqs {
                m: Need::Must,
                p: Need::May,
                g: Need::May,
            },
        )?;
        self.push(i.ctx, *i.ev);
        Ok(Step::Advanced(i.ctx))
    }

    /// UserTaskBegin: a task starts; its ID must not be active. A parent of 0
    /// means "no parent".
    pub(super) fn advance_user_task_begin(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        let id = i.ev.args[0];
        if self.tasks.contains_key(&id) {
            return Err(invalid(format!("task ID conflict: {id}")));
        }
        if i.ev.args[1] == TaskId::BACKGROUND.0 {
            i.ev.args[1] = TaskId::NONE.0;
        }
        let name_id = i.ev.args[2];
        let Some(name) = i.tables.string(name_id) else {
            return Err(invalid(format!(
                "invalid string ID {name_id} for {} event",
                i.ev.typ as u8
            )));
        };
        self.tasks.insert(
            id,
            TaskState {
                name: Arc::from(name),
                parent: i.ev.args[1],
            },
        );
        check_ctx(i.ctx, USER_GO)?;
        self.push(i.ctx, *i.ev);
        Ok(Step::Advanced(i.ctx))
    }

    /// UserTaskEnd: a task ends; its parent and type come from its begin, if
    /// that was seen (possibly in an earlier generation).
    pub(super) fn advance_user_task_end(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        let id = i.ev.args[0];
        let task_type = match self.tasks.remove(&id) {
            Some(t) => {
                i.ev.set_extra(0, t.parent);
                Some(t.name)
            }
            None => {
                i.ev.set_extra(0, TaskId::NONE.0);
                None
            }
        };
        check_ctx(i.ctx, USER_GO)?;
        self.task_type = task_type;
        self.push(i.ctx, *i.ev);
        Ok(Step::Advanced(i.ctx))
    }

    fn region(&self, i: &Input<'_, '_>) -> Result<Region> {
        let name_id = i.ev.args[1];
        let Some(name) = i.tables.string(name_id) else {
            return Err(invalid(format!(
                "invalid string ID {name_id} for {} event",
                i.ev.typ as u8
            )));
        };
        Ok(Region {
            task: i.ev.args[0],
            name: Arc::from(name),
        })
    }

    /// UserRegionBegin: a region opens on the current goroutine.
    pub(super) fn advance_user_region_begin(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        check_ctx(i.ctx, USER_GO)?;
        let r = self.region(i)?;
        let Some(s) = self.gs.get_mut(&i.ctx.g.0) else {
            return Err(invalid(format!(
                "encountered EvUserRegionBegin without known state for current goroutine {}",
                i.ctx.g
            )));
        };
        s.begin_region(r);
        self.push(i.ctx, *i.ev);
        Ok(Step::Advanced(i.ctx))
    }

    /// UserRegionEnd: the innermost region of the current goroutine closes.
    pub(super) fn advance_user_region_end(&mut self, i: &mut Input<'_, '_>) -> Result<Step> {
        check_ctx(i.ctx, USER_GO)?;
        let r = self.region(i)?;
        let g = i.ctx.g;
        let Some(s) = self.gs.get_mut(&g.0) else {
            return Err(invalid(format!(
                "encountered EvUserRegionEnd without known state for current goroutine {g}"
            )));
        };
        s.end_region(g, &r)?;
        self.push(i.ctx, *i.ev);
        Ok(Step::Advanced(i.ctx))
    }
}
