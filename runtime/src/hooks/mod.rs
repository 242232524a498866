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

/// Whether `GORT_TRACE` asks for tracing every `block_on`.
pub(crate) fn env_wanted() -> bool {
    cfg!(feature = "trace") && std::env::var_os("GORT_TRACE").is_some_and(|s| !s.is_empty())
}

/// Starts tracing into `GORT_TRACE`; stops when the guard drops.
#[cfg(feature = "trace")]
pub(crate) fn env_guard() -> Option<crate::trace_api::EnvTrace> {
    crate::trace_api::env_trace_path().map(crate::trace_api::EnvTrace::start)
}

/// Tracing is compiled out: nothing to start.
#[cfg(not(feature = "trace"))]
pub(crate) fn env_guard() -> Option<()> {
    None
}
