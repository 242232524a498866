//! Summary statistics of an event stream: counts per event type, and per
//! goroutine the time spent in each state (waiting split by reason) and the
//! coroutine switches it took part in.
//!
//! Feed every event to [`Stats::event`] in order, then call [`Stats::finish`]:
//! intervals still open at the end are closed at the last event's time.

use std::collections::BTreeMap;

use gort_tracer::wire::EventType;

use crate::event::{Event, EventKind};
use crate::resources::{GoId, GoState, Transition};

/// Time a goroutine spent in each state, in nanoseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GoTimes {
    /// Running on a thread.
    pub running: i64,
    /// Ready to run.
    pub runnable: i64,
    /// Blocked, by the reason given when it blocked (`""` for switches and
    /// creations in the waiting state).
    pub waiting: BTreeMap<String, i64>,
    /// In a system call.
    pub syscall: i64,
    /// State unknown (before its first status in the trace).
    pub undetermined: i64,
    /// Switches away from this goroutine (`GoSwitch`, `GoSwitchDestroy`).
    pub switches_out: u64,
    /// Switches into this goroutine.
    pub switches_in: u64,
}

impl GoTimes {
    /// Total waiting time.
    pub fn waiting_total(&self) -> i64 {
        self.waiting.values().fold(0, |a, b| a.saturating_add(*b))
    }
}

#[derive(Clone, Debug)]
struct Open {
    state: GoState,
    reason: String,
    since: i64,
}

/// Statistics accumulated over a trace.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Events per name: the wire event type for events read from the trace
    /// (switch-expanded and synthetic events counted under the type they
    /// imitate), `Sync` for the reader's generation ends, `CPUSample` for
    /// stack samples.
    pub by_type: BTreeMap<&'static str, u64>,
    /// Events per kind.
    pub by_kind: BTreeMap<EventKind, u64>,
    /// Per goroutine.
    pub goroutines: BTreeMap<GoId, GoTimes>,
    /// Number of events.
    pub events: u64,
    /// Number of generations (Sync events).
    pub generations: u64,
    /// Time of the first event, ns.
    pub first: Option<i64>,
    /// Time of the last event, ns.
    pub last: i64,
    /// Coroutine switches (`GoSwitch` + `GoSwitchDestroy` on the wire).
    pub switches: u64,
    open: BTreeMap<GoId, Open>,
}

impl Stats {
    /// Empty statistics.
    pub fn new() -> Stats {
        Stats::default()
    }

    /// Accounts for the next event.
    pub fn event(&mut self, ev: &Event<'_>) {
        self.events += 1;
        let t = ev.time();
        self.first.get_or_insert(t);
        self.last = t;
        let kind = ev.kind();
        *self.by_kind.entry(kind).or_default() += 1;
        let name = match ev.wire_type() {
            Some(w) => w.name(),
            None => "Sync",
        };
        *self.by_type.entry(name).or_default() += 1;
        if kind == EventKind::Sync {
            self.generations += 1;
        }
        if matches!(
            ev.wire_type(),
            Some(EventType::GoSwitch | EventType::GoSwitchDestroy)
        ) {
            self.switches += 1;
            self.goroutines
                .entry(ev.goroutine())
                .or_default()
                .switches_out += 1;
            if let Some(st) = ev.state_transition() {
                if let Transition::Goroutine { id, .. } = st.transition {
                    self.goroutines.entry(id).or_default().switches_in += 1;
                }
            }
        }
        let Some(st) = ev.state_transition() else {
            return;
        };
        let Transition::Goroutine { id, to, .. } = st.transition else {
            return;
        };
        let g = self.goroutines.entry(id).or_default();
        if let Some(o) = self.open.remove(&id) {
            add(g, &o, t);
        }
        if to != GoState::NotExist {
            self.open.insert(
                id,
                Open {
                    state: to,
                    reason: String::from_utf8_lossy(st.reason).into_owned(),
                    since: t,
                },
            );
        }
    }

    /// Closes the intervals still open at the last event.
    pub fn finish(&mut self) {
        let end = self.last;
        for (id, o) in std::mem::take(&mut self.open) {
            add(self.goroutines.entry(id).or_default(), &o, end);
        }
    }
}

fn add(g: &mut GoTimes, o: &Open, now: i64) {
    let d = now.saturating_sub(o.since).max(0);
    let slot = match o.state {
        GoState::Running => &mut g.running,
        GoState::Runnable => &mut g.runnable,
        GoState::Syscall => &mut g.syscall,
        GoState::Waiting => g.waiting.entry(o.reason.clone()).or_default(),
        GoState::Undetermined | GoState::NotExist => &mut g.undetermined,
    };
    *slot = slot.saturating_add(d);
}
