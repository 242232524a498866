//! The hooks with the tracer compiled in.
//!
//! Each hook is an inlined check of the enabled flag (one plain load) and,
//! only when tracing is on, a call to its out-of-line traced body (`*_on`):
//! take the M's locker, then one writer call that passes the M's P and
//! goroutine with the statuses they had just before the event.
//!
//! A hook that goes with a state change takes it as `step` (the status
//! `transition`s, a P's holder): the hook runs `step` after writing its
//! event and before releasing the locker, or on its own when tracing is
//! off. The tracer's end-of-generation pass reads those states while Ms run
//! (`gort_tracer::StatusSource`), and its rule is that a state it can see
//! has its event in the generation being ended or in an earlier one:
//!
//! 1. The pass reads states after every M has released its lockers of the
//!    previous generation, and before it publishes the next one; a locker
//!    held or taken meanwhile writes into the generation being ended.
//! 2. A state stored inside a locker is stored by an M that has already
//!    taken that locker: if the pass sees it, the event is in the generation
//!    being ended (its resource is then traced there, and the pass drops its
//!    reading), or in an earlier one whose locker the M released before the
//!    pass started (and then the state is the one that event led to).
//! 3. A state stored after the release could be seen at any later pass, with
//!    its event already in an earlier generation and the pass reading the
//!    state from before the event, whenever the OS preempts an M between
//!    the two for as long as one generation lasts (a few milliseconds under
//!    load, for the flight recorder). Hence `step`.
//!
//! Statuses changed with no event at all (a P in transit between Ms, which
//! has no holder) are left out of the pass by the runtime's status source.
//!
//! Trace IDs: a goroutine's wire ID is its runtime ID (main = 1) for the first
//! runtime of the process, and carries the runtime's serial number in bits
//! 40.. for later ones; P IDs are offset by `MAX_PROCS` per runtime; M IDs are
//! process-wide worker numbers. So traces of programs with several runtimes
//! stay valid.

use crate::sched::context::Running;
use crate::sched::worker::Worker;
use crate::task::{Task, WaitReason};
use gort_tracer::wire::{GoStatus, ProcStatus};
use gort_tracer::{Frame, GoTrace, Locker, ProcTrace};
use std::sync::atomic::Ordering::Relaxed;

pub(crate) use gort_tracer::ThreadTrace;

/// Whether tracing is on, read by an M at a scheduling step: one plain
/// load (`gort_tracer::enabled_on_m`).
///
/// Every hook but one reads it on its own M inside the M's trace gate
/// ([`gated`], `sched::stw`), which the flag's writers wait to be empty and
/// which every later entry passes only after synchronising with them. The
/// exception, a syscall that ends with no P, reads [`enabled_anywhere`].
#[inline(always)]
fn enabled() -> bool {
    // SAFETY: called from the hooks only, on their M inside its trace gate
    // (doc above): `enabled_on_m`'s contract.
    unsafe { gort_tracer::enabled_on_m() }
}

/// Whether tracing is on, from any thread: one atomic load.
#[inline(always)]
pub(crate) fn enabled_anywhere() -> bool {
    gort_tracer::enabled()
}

/// Runs `f`, a hook's body, inside `w`'s trace gate (`sched::stw`): a
/// start or stop of tracing waits for it to end, and one under way holds
/// it at the entry. Only `w`'s own thread calls this, never nested.
#[inline(always)]
fn gated<R>(w: &Worker, f: impl FnOnce() -> R) -> R {
    let g = &w.handle.gate;
    g.enter(crate::sched::stw::gate());
    let r = f();
    g.leave();
    r
}

/// Defines a hook: inside the M's trace gate, the inlined check of the
/// enabled flag, and only when tracing is on a call to its out-of-line
/// traced body `$on`, which runs `step` inside its locker (module doc);
/// when tracing is off, `step` alone.
macro_rules! hook {
    ($(#[$m:meta])* $name:ident(w: &Worker $(, $arg:ident: $ty:ty)*) => $on:ident, no step) => {
        $(#[$m])*
        #[inline(always)]
        pub(crate) fn $name(w: &Worker $(, $arg: $ty)*) {
            gated(w, || {
                if enabled() {
                    $on(w $(, $arg)*);
                }
            })
        }
    };
    ($(#[$m:meta])* $name:ident(w: &Worker $(, $arg:ident: $ty:ty)*) => $on:ident) => {
        $(#[$m])*
        #[inline(always)]
        pub(crate) fn $name(w: &Worker $(, $arg: $ty)*, step: impl FnOnce()) {
            gated(w, || {
                if enabled() {
                    $on(w $(, $arg)*, step);
                } else {
                    step();
                }
            })
        }
    };
}

/// Writes with `w`'s locker, then runs `step` before the locker is released
/// (or alone, if no locker is to be had).
#[inline(always)]
fn locked(w: &Worker, step: impl FnOnce(), write: impl FnOnce(&mut Locker<'_>)) {
    match acquire(w) {
        Some(mut l) => {
            write(&mut l);
            step();
        }
        None => step(),
    }
}

/// `w`'s locker, if tracing is on, inlined into the out-of-line traced body
/// of a hook.
#[inline(always)]
fn acquire(w: &Worker) -> Option<Locker<'_>> {
    debug_assert!(
        std::ptr::eq(crate::sched::context::current_worker(), w),
        "a trace hook called for another thread's M"
    );
    // Every hook gets the calling thread's own worker (asserted above in
    // debug builds), and only an M's own thread uses its `ThreadTrace`.
    // SAFETY: so `w.handle.trace` is used by this thread only (`retire` too).
    unsafe { gort_tracer::acquire_local(&w.handle.trace) }
}

/// Registers a worker thread with the tracer.
pub(crate) fn register_thread(m: usize) -> std::sync::Arc<ThreadTrace> {
    ThreadTrace::register(m as u64)
}

#[inline(always)]
pub(crate) fn wire_g(t: &Task) -> u64 {
    let serial = t.serial;
    if serial == 0 {
        t.id
    } else {
        (serial << 40) | t.id
    }
}

#[inline(always)]
fn wire_p(w: &Worker, p: usize) -> u64 {
    w.shared.serial * crate::sched::MAX_PROCS as u64 + p as u64
}

#[inline(always)]
fn pctx(w: &Worker, st: ProcStatus) -> Option<(u64, &ProcTrace, ProcStatus)> {
    w.p.get()
        .map(|i| (wire_p(w, i), &w.shared.procs[i].trace, st))
}

#[inline(always)]
fn gctx(t: &Task, st: GoStatus) -> Option<(u64, &GoTrace, GoStatus)> {
    Some((wire_g(t), &t.trace, st))
}

/// The goroutine running on `w`, if any (null in the M's loop).
#[inline(always)]
fn cur(w: &Worker) -> Option<&Task> {
    // SAFETY: `cur` is null or the running task, kept alive by the loop.
    unsafe { w.cur.get().as_ref() }
}

/// One frame naming the goroutine's function at its creation site.
fn create_frames(t: &Task) -> [Frame; 1] {
    [Frame {
        pc: t.site as *const _ as u64,
        func: t.func,
        file: t.site.file(),
        line: t.site.line(),
    }]
}

pub(crate) fn proc_start(w: &Worker, p: usize, step: impl FnOnce()) {
    gated(w, || proc_start_gated(w, p, step));
}

fn proc_start_gated(w: &Worker, p: usize, step: impl FnOnce()) {
    let pr = &w.shared.procs[p];
    let stolen = pr.stolen_from.load(Relaxed);
    if stolen != 0 {
        pr.stolen_from.store(0, Relaxed);
    }
    locked(w, step, |l| {
        let wp = wire_p(w, p);
        if stolen != 0 {
            l.writer(None, None)
                .proc_steal(wp, &pr.trace, stolen - 1)
                .proc_start(wp, &pr.trace);
        } else {
            l.writer(Some((wp, &pr.trace, ProcStatus::Idle)), None)
                .proc_start(wp, &pr.trace);
        }
    });
}

hook! {
    proc_stop(w: &Worker) => proc_stop_on
}

#[cold]
#[inline(never)]
fn proc_stop_on(w: &Worker, step: impl FnOnce()) {
    locked(w, step, |l| {
        l.writer(pctx(w, ProcStatus::Running), None).proc_stop();
    });
}

hook! {
    go_create(w: &Worker, t: &Task, blocked: bool) => go_create_on, no step
}

#[cold]
#[inline(never)]
fn go_create_on(w: &Worker, t: &Task, blocked: bool) {
    if let Some(mut l) = acquire(w) {
        let c = cur(w);
        let new_stack = l.stack(&create_frames(t));
        let stack = match c {
            Some(c) => l.stack(&[Frame {
                pc: t.site as *const _ as u64 + 1,
                func: c.func,
                file: t.site.file(),
                line: t.site.line(),
            }]),
            None => 0,
        };
        let mut ew = l.writer(
            pctx(w, ProcStatus::Running),
            c.and_then(|c| gctx(c, GoStatus::Running)),
        );
        if blocked {
            ew.go_create_blocked(wire_g(t), &t.trace, new_stack, stack);
        } else {
            ew.go_create(wire_g(t), &t.trace, new_stack, stack);
        }
    }
}

#[inline(always)]
pub(crate) fn go_start(w: &Worker, t: &Task, step: impl FnOnce()) {
    // A wake-up noted for the trace (see `park::unpark`) must be cleared
    // even if tracing has just been switched off.
    gated(w, || {
        if enabled() || t.unblock_pending.load(Relaxed) {
            go_start_on(w, t, step);
        } else {
            step();
        }
    });
}

#[cold]
#[inline(never)]
fn go_start_on(w: &Worker, t: &Task, step: impl FnOnce()) {
    let pending = t.unblock_pending.load(Relaxed);
    if pending {
        t.unblock_pending.store(false, Relaxed);
    }
    locked(w, step, |l| {
        let mut ew = l.writer(pctx(w, ProcStatus::Running), None);
        if pending {
            ew.go_unblock(wire_g(t), &t.trace, 0);
        }
        ew.go_start(wire_g(t), &t.trace);
    });
}

/// The one-frame stack of `t`'s last blocking call site, if recorded.
fn block_stack(l: &mut gort_tracer::Locker<'_>, t: &Task) -> u64 {
    // SAFETY: called by the M running `t`, while `t` is suspended.
    match unsafe { t.take_block_site() } {
        Some(loc) => l.stack(&[Frame {
            pc: loc as *const _ as u64,
            func: t.func,
            file: loc.file(),
            line: loc.line(),
        }]),
        None => 0,
    }
}

hook! {
    go_stop(w: &Worker, t: &Task) => go_stop_on
}

#[cold]
#[inline(never)]
fn go_stop_on(w: &Worker, t: &Task, step: impl FnOnce()) {
    locked(w, step, |l| {
        let stack = block_stack(l, t);
        l.writer(pctx(w, ProcStatus::Running), gctx(t, GoStatus::Running))
            .go_stop("runtime.Gosched", stack);
    });
}

hook! {
    go_block(w: &Worker, t: &Task, reason: WaitReason) => go_block_on
}

#[cold]
#[inline(never)]
fn go_block_on(w: &Worker, t: &Task, reason: WaitReason, step: impl FnOnce()) {
    locked(w, step, |l| {
        let stack = block_stack(l, t);
        l.writer(pctx(w, ProcStatus::Running), gctx(t, GoStatus::Running))
            .go_block(reason.as_str(), stack);
    });
}

hook! {
    go_unblock(w: &Worker, t: &Task) => go_unblock_on
}

#[cold]
#[inline(never)]
fn go_unblock_on(w: &Worker, t: &Task, step: impl FnOnce()) {
    locked(w, step, |l| {
        let c = cur(w);
        // Go gives GoUnblock the waker's stack; ours names the waking
        // goroutine (as its GoCreate does). `go tool trace -pprof=sync`
        // ends a wait only at a transition that has a stack.
        let stack = c.map_or(0, |c| l.stack(&create_frames(c)));
        l.writer(
            pctx(w, ProcStatus::Running),
            c.and_then(|c| gctx(c, GoStatus::Running)),
        )
        .go_unblock(wire_g(t), &t.trace, stack);
    });
}

hook! {
    /// `GoSwitch` (or `GoSwitchDestroy`) from `from` to `target`: the hot hook
    /// of every coroutine switch, so its traced body is one out-of-line function
    /// with the locker, statuses and encoding all inlined.
    go_switch(w: &Worker, from: &Task, target: &Task, destroy: bool) => go_switch_on
}

#[cold]
#[inline(never)]
fn go_switch_on(w: &Worker, from: &Task, target: &Task, destroy: bool, step: impl FnOnce()) {
    locked(w, step, |l| {
        let mut ew = l.writer(pctx(w, ProcStatus::Running), gctx(from, GoStatus::Running));
        if destroy {
            ew.go_switch_destroy(wire_g(target), &target.trace);
        } else {
            ew.go_switch(wire_g(target), &target.trace);
        }
    });
}

hook! {
    go_destroy(w: &Worker, t: &Task) => go_destroy_on
}

#[cold]
#[inline(never)]
fn go_destroy_on(w: &Worker, t: &Task, step: impl FnOnce()) {
    locked(w, step, |l| {
        l.writer(pctx(w, ProcStatus::Running), gctx(t, GoStatus::Running))
            .go_destroy();
    });
}

hook! {
    go_syscall_begin(w: &Worker, t: &Task, p: usize) => go_syscall_begin_on
}

#[cold]
#[inline(never)]
fn go_syscall_begin_on(w: &Worker, t: &Task, p: usize, step: impl FnOnce()) {
    locked(w, step, |l| {
        let pr = &w.shared.procs[p];
        l.writer(pctx(w, ProcStatus::Running), gctx(t, GoStatus::Running))
            .go_syscall_begin(wire_p(w, p), &pr.trace, 0);
    });
}

hook! {
    /// Returned from a syscall on the P it entered with.
    go_syscall_end(w: &Worker, t: &Task) => go_syscall_end_on
}

#[cold]
#[inline(never)]
fn go_syscall_end_on(w: &Worker, t: &Task, step: impl FnOnce()) {
    locked(w, step, |l| {
        l.writer(pctx(w, ProcStatus::Syscall), gctx(t, GoStatus::Syscall))
            .go_syscall_end();
    });
}

hook! {
    /// Returned from a syscall whose P was taken, and got another P: the
    /// goroutine is runnable, then starts again on the new P.
    go_syscall_end_blocked(w: &Worker, t: &Task) => go_syscall_end_blocked_on
}

#[cold]
#[inline(never)]
fn go_syscall_end_blocked_on(w: &Worker, t: &Task, step: impl FnOnce()) {
    locked(w, step, |l| {
        l.writer(pctx(w, ProcStatus::Running), gctx(t, GoStatus::Syscall))
            .go_syscall_end_blocked()
            .go_start(wire_g(t), &t.trace);
    });
}

/// Returned from a syscall whose P was taken, with no P to be had: the
/// goroutine is runnable and goes to the global queue. Outside the trace
/// gate: the atomic flag, and the seqlock taken by compare-and-swap.
#[inline(always)]
pub(crate) fn go_syscall_end_blocked_no_p(w: &Worker, t: &Task, step: impl FnOnce()) {
    if enabled_anywhere() {
        go_syscall_end_blocked_no_p_on(w, t, step);
    } else {
        step();
    }
}

#[cold]
#[inline(never)]
fn go_syscall_end_blocked_no_p_on(w: &Worker, t: &Task, step: impl FnOnce()) {
    match gort_tracer::acquire(&w.handle.trace) {
        Some(mut l) => {
            l.writer(None, gctx(t, GoStatus::Syscall))
                .go_syscall_end_blocked();
            step();
        }
        None => step(),
    }
}

/// The events that open a trace, written by the goroutine `t` that started it
/// on `w`, with every runtime in `rts` stopped.
pub(crate) fn emit_start(
    w: &Worker,
    t: &Task,
    rts: &[crate::loom::sync::Arc<crate::sched::Shared>],
) {
    let Some(mut l) = acquire(w) else {
        return;
    };
    let mut ew = l.writer(pctx(w, ProcStatus::Running), gctx(t, GoStatus::Running));
    ew.stw_begin("start trace", 0)
        .procs_change(w.shared.procs.len() as u64, 0);
    for rt in rts {
        let idle: Vec<usize> = rt.sched.lock().idle.idle_procs().to_vec();
        for i in idle {
            let p = &rt.procs[i];
            // A P taken from a syscall gets its status from the steal.
            if Some(i) != w.p.get() && p.stolen_from.load(Relaxed) == 0 {
                ew.proc_status(
                    rt.serial * crate::sched::MAX_PROCS as u64 + i as u64,
                    &p.trace,
                    ProcStatus::Idle,
                );
            }
        }
    }
    ew.stw_end();
}

/// Runs `f` with a writer in the context of the running goroutine, if any.
fn with_goroutine(f: impl FnOnce(&mut gort_tracer::EventWriter<'_, '_>)) {
    // Any thread may get here (user annotations), so the atomic read first.
    if !enabled_anywhere() {
        return;
    }
    let Some(r) = Running::get() else {
        return;
    };
    if r.in_syscall() {
        // Inside `gort::syscall` the goroutine is not running on a P (Go
        // traces no user event there), and its M may have lost the P to
        // sysmon: nothing is written.
        return;
    }
    let (w, t) = (r.m(), r.g());
    gated(w, || {
        if let Some(mut l) = acquire(w) {
            let mut ew = l.writer(pctx(w, ProcStatus::Running), gctx(t, GoStatus::Running));
            f(&mut ew);
        }
    });
}

pub(crate) fn user_task_begin(id: u64, parent: u64, name: &str) {
    with_goroutine(|ew| {
        ew.user_task_begin(id, parent, name, 0);
    });
}

pub(crate) fn user_task_end(id: u64) {
    with_goroutine(|ew| {
        ew.user_task_end(id, 0);
    });
}

pub(crate) fn user_region_begin(task: u64, name: &str) {
    with_goroutine(|ew| {
        ew.user_region_begin(task, name, 0);
    });
}

pub(crate) fn user_region_end(task: u64, name: &str) {
    with_goroutine(|ew| {
        ew.user_region_end(task, name, 0);
    });
}

pub(crate) fn user_log(task: u64, key: &str, value: &str) {
    with_goroutine(|ew| {
        ew.user_log(task, key, value, 0);
    });
}
