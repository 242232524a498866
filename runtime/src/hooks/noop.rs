//! The hooks with the tracer compiled out: each runs only its state change
//! (`step`), if it has one.
#![allow(dead_code, unused_variables)]

use crate::sched::worker::Worker;
use crate::task::{Task, WaitReason};

#[inline(always)]
pub(crate) fn proc_start(w: &Worker, p: usize, step: impl FnOnce()) {
    step()
}
#[inline(always)]
pub(crate) fn proc_stop(w: &Worker, step: impl FnOnce()) {
    step()
}
#[inline(always)]
pub(crate) fn go_create(w: &Worker, t: &Task, blocked: bool) {}
#[inline(always)]
pub(crate) fn go_start(w: &Worker, t: &Task, step: impl FnOnce()) {
    step()
}
#[inline(always)]
pub(crate) fn go_stop(w: &Worker, t: &Task, step: impl FnOnce()) {
    step()
}
#[inline(always)]
pub(crate) fn go_block(w: &Worker, t: &Task, reason: WaitReason, step: impl FnOnce()) {
    step()
}
#[inline(always)]
pub(crate) fn go_unblock(w: &Worker, t: &Task, step: impl FnOnce()) {
    step()
}
#[inline(always)]
pub(crate) fn go_switch(w: &Worker, cur: &Task, target: &Task, destroy: bool, step: impl FnOnce()) {
    step()
}
#[inline(always)]
pub(crate) fn go_destroy(w: &Worker, t: &Task, step: impl FnOnce()) {
    step()
}
#[inline(always)]
pub(crate) fn go_syscall_begin(w: &Worker, t: &Task, p: usize, step: impl FnOnce()) {
    step()
}
#[inline(always)]
pub(crate) fn go_syscall_end(w: &Worker, t: &Task, step: impl FnOnce()) {
    step()
}
#[inline(always)]
pub(crate) fn go_syscall_end_blocked(w: &Worker, t: &Task, step: impl FnOnce()) {
    step()
}
#[inline(always)]
pub(crate) fn go_syscall_end_blocked_no_p(w: &Worker, t: &Task, step: impl FnOnce()) {
    step()
}
#[inline(always)]
pub(crate) fn enabled_anywhere() -> bool {
    false
}
