//! Runtime -> tracer hooks (the only module that imports the tracer's
//! writer). With the `trace` feature off, every hook is an empty inline
//! function (`noop.rs`); with it on, each hook begins with the tracer's plain
//! enabled check (`on.rs`).

#[cfg(feature = "trace")]
mod on;
#[cfg(feature = "trace")]
pub(crate) use on::*;

#[cfg(not(feature = "trace"))]
mod noop;
#[cfg(not(feature = "trace"))]
pub(crate) use noop::*;

/// Records the caller of a blocking call in the running goroutine, for the
/// trace event its block writes. Costs one atomic load (a plain `mov` on
/// x86-64) while tracing is off; callable from any thread.
#[inline(always)]
pub(crate) fn note_site(loc: &'static std::panic::Location<'static>) {
    // The atomic read: this may run on a plain thread or inside a syscall,
    // which a stop-the-world does not stop.
    if enabled_anywhere() {
        if let Some(r) = crate::sched::context::Running::get() {
            r.set_block_site(loc);
        }
    }
}
