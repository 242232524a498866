//! The ordering engine: replays the scheduler's state to decide whether a
//! thread's next event can happen now, and turns accepted events into the
//! output queue.
//!
//! [`Ordering::advance`] looks up the thread's context (the P and goroutine it
//! holds before the event), dispatches on the event type to one family
//! handler, and on success stores the handler's new context for the thread.
//! Each handler returns [`Step::Advanced`], [`Step::NotYet`] (a precondition
//! that another thread's event will satisfy, typically a sequence number), or
//! an error (the trace is broken).
//!
//! State survives generation boundaries. The first generation seen is the
//! *initial* one: there, resources may appear without prior history
//! (`Undetermined` old states, active ranges declared rather than checked).

mod annotation;
mod goroutine;
mod proc;
mod range;
pub(crate) mod state;
mod syscall;

use std::fmt::Write as _;
use std::sync::Arc;

use gort_tracer::wire::EventType;

use crate::cursor::BaseEvent;
use crate::resources::ThreadId;
use crate::tables::{IdMap, Tables};
use state::OResult as Result;

use state::{go_status_name, proc_status_name, DenseMap, GState, MStates, PState, SchedCtx};

/// What a handler decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// The event happened; the thread's context is now this.
    Advanced(SchedCtx),
    /// The event cannot happen yet; try other threads first.
    NotYet,
}

/// An accepted event waiting to be returned.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Queued {
    pub(crate) ctx: SchedCtx,
    pub(crate) base: BaseEvent,
}

/// State of the GC mark phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GcState {
    Undetermined,
    NotRunning,
    Running,
}

/// An active user task.
#[derive(Clone, Debug)]
pub(crate) struct TaskState {
    pub(crate) name: Arc<[u8]>,
    pub(crate) parent: u64,
}

/// The scheduler state replayed from the trace.
#[derive(Debug)]
pub(crate) struct Ordering {
    pub(crate) gs: DenseMap<GState>,
    pub(crate) ps: DenseMap<PState>,
    pub(crate) ms: MStates,
    pub(crate) tasks: IdMap<u64, TaskState>,
    pub(crate) gc_seq: u64,
    pub(crate) gc: GcState,
    pub(crate) initial_gen: u64,
    /// Accepted events not yet returned; `queue[head..]` are pending. The
    /// reader drains it before advancing again, so it stays tiny.
    pub(crate) queue: Vec<Queued>,
    head: usize,
    /// The type of the task whose end is queued (carried over from its
    /// begin, possibly in an earlier generation).
    pub(crate) task_type: Option<Arc<[u8]>>,
}

/// What a handler gets to look at.
pub(crate) struct Input<'e, 't> {
    pub(crate) ev: &'e mut BaseEvent,
    pub(crate) tables: &'e Tables<'t>,
    pub(crate) gen: u64,
    pub(crate) ctx: SchedCtx,
}

impl Ordering {
    pub(crate) fn new() -> Ordering {
        Ordering {
            gs: DenseMap::default(),
            ps: DenseMap::default(),
            ms: MStates::default(),
            tasks: IdMap::default(),
            gc_seq: 0,
            gc: GcState::Undetermined,
            initial_gen: 0,
            queue: Vec::with_capacity(8),
            head: 0,
            task_type: None,
        }
    }

    /// Tries to advance `ev`, the next event of thread `m` in generation `gen`.
    /// `slot` caches the thread's state slot between calls (`None` at first).
    pub(crate) fn advance(
        &mut self,
        ev: &mut BaseEvent,
        tables: &Tables<'_>,
        m: ThreadId,
        slot: &mut Option<usize>,
        gen: u64,
    ) -> Result<bool> {
        if self.initial_gen == 0 {
            self.initial_gen = gen;
        }
        let ctx = if m.is_some() {
            let i = match *slot {
                Some(i) => i,
                None => *slot.insert(self.ms.slot(m)),
            };
            // Field by field: each load then matches the store that wrote
            // it for the thread's previous event (see the end of this
            // function), so the processor forwards it from that store.
            match self.ms.at(i) {
                Some(c) => SchedCtx { m, p: c.p, g: c.g },
                None => SchedCtx::NONE,
            }
        } else {
            SchedCtx::NONE
        };
        let mut i = Input {
            ev,
            tables,
            gen,
            ctx,
        };
        use EventType as E;
        let step = match i.ev.typ {
            E::ProcsChange | E::GoLabel | E::UserLog => self.advance_annotation(&mut i),
            E::ProcStart => self.advance_proc_start(&mut i),
            E::ProcStop => self.advance_proc_stop(&mut i),
            E::ProcSteal => self.advance_proc_steal(&mut i),
            E::ProcStatus => self.advance_proc_status(&mut i),
            E::GoCreate | E::GoCreateBlocked => self.advance_go_create(&mut i),
            E::GoCreateSyscall => self.advance_go_create_syscall(&mut i),
            E::GoStart => self.advance_go_start(&mut i),
            E::GoDestroy | E::GoStop | E::GoBlock => self.advance_go_stop_exec(&mut i),
            E::GoDestroySyscall => self.advance_go_destroy_syscall(&mut i),
            E::GoUnblock => self.advance_go_unblock(&mut i),
            E::GoSwitch | E::GoSwitchDestroy => self.advance_go_switch(&mut i),
            E::GoSyscallBegin => self.advance_go_syscall_begin(&mut i),
            E::GoSyscallEnd => self.advance_go_syscall_end(&mut i),
            E::GoSyscallEndBlocked => self.advance_go_syscall_end_blocked(&mut i),
            E::GoStatus | E::GoStatusStack => self.advance_go_status(&mut i),
            E::STWBegin | E::GCMarkAssistBegin => self.advance_go_range_begin(&mut i),
            E::STWEnd | E::GCMarkAssistEnd => self.advance_go_range_end(&mut i),
            E::GCMarkAssistActive => self.advance_go_range_active(&mut i),
            E::GCActive => self.advance_gc_active(&mut i),
            E::GCBegin => self.advance_gc_begin(&mut i),
            E::GCEnd => self.advance_gc_end(&mut i),
            E::GCSweepActive => self.advance_gc_sweep_active(&mut i),
            E::GCSweepBegin => self.advance_gc_sweep_begin(&mut i),
            E::GCSweepEnd => self.advance_gc_sweep_end(&mut i),
            E::HeapAlloc | E::HeapGoal => self.advance_heap_metric(&mut i),
            E::UserTaskBegin => self.advance_user_task_begin(&mut i),
            E::UserTaskEnd => self.advance_user_task_end(&mut i),
            E::UserRegionBegin => self.advance_user_region_begin(&mut i),
            E::UserRegionEnd => self.advance_user_region_end(&mut i),
            E::Span
            | E::SpanAlloc
            | E::SpanFree
            | E::HeapObject
            | E::HeapObjectAlloc
            | E::HeapObjectFree
            | E::GoroutineStack
            | E::GoroutineStackAlloc
            | E::GoroutineStackFree => self.advance_experimental(&mut i),
            E::EventBatch
            | E::Stacks
            | E::Stack
            | E::Strings
            | E::String
            | E::CPUSamples
            | E::CPUSample
            | E::Frequency
            | E::ExperimentalBatch
            | E::Sync
            | E::ClockSnapshot
            | E::EndOfGeneration => Err(state::invalid(format!(
                "bad event type found while ordering: {}",
                i.ev.typ as u8
            ))),
        }?;
        match step {
            Step::Advanced(new) => {
                if let Some(c) = slot.and_then(|i| self.ms.at(i)) {
                    // The thread stays the same (handlers derive the new
                    // context from the thread's own).
                    c.p = new.p;
                    c.g = new.g;
                }
                Ok(true)
            }
            Step::NotYet => Ok(false),
        }
    }

    /// Queues an accepted event.
    #[inline]
    pub(crate) fn push(&mut self, ctx: SchedCtx, base: BaseEvent) {
        self.queue.push(Queued { ctx, base });
    }

    /// True if an accepted event is waiting.
    #[inline]
    pub(crate) fn has_next(&self) -> bool {
        self.head < self.queue.len()
    }

    /// The next accepted event, if any, left in the queue.
    #[inline]
    pub(crate) fn front(&self) -> Option<&Queued> {
        self.queue.get(self.head)
    }

    /// Drops the event at the front of the queue.
    #[inline]
    pub(crate) fn pop_front(&mut self) {
        self.head += 1;
        if self.head >= self.queue.len() {
            self.queue.clear();
            self.head = 0;
        }
    }

    /// A listing of all goroutine, P, thread and GC state (for stall reports),
    /// in ascending ID order.
    pub(crate) fn dump(&self) -> String {
        let mut s = String::new();
        let mut gs: Vec<_> = self.gs.iter().collect();
        gs.sort_by_key(|(id, _)| *id);
        for (id, st) in gs {
            let _ = writeln!(
                s,
                "G {id} [status={} seq={}]",
                go_status_name(st.status),
                st.seq
            );
        }
        s.push('\n');
        let mut ps: Vec<_> = self.ps.iter().collect();
        ps.sort_by_key(|(id, _)| *id);
        for (id, st) in ps {
            let _ = writeln!(
                s,
                "P {id} [status={} seq={}]",
                proc_status_name(st.status),
                st.seq
            );
        }
        s.push('\n');
        let mut ms: Vec<_> = self.ms.iter().collect();
        ms.sort_by_key(|(id, _)| **id);
        for (id, st) in ms {
            let _ = writeln!(s, "M {id} [g={} p={}]", st.g, st.p);
        }
        s.push('\n');
        let gc = match self.gc {
            GcState::Undetermined => "Undetermined",
            GcState::NotRunning => "NotRunning",
            GcState::Running => "Running",
        };
        let _ = writeln!(s, "GC {} {gc}", self.gc_seq);
        s
    }
}
