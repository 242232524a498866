//! Public tracing API (`gort::trace`).
#![allow(dead_code)]

/// The `GORT_TRACE` path, if set.
pub(crate) fn env_trace_path() -> Option<std::path::PathBuf> {
    std::env::var_os("GORT_TRACE")
        .filter(|s| !s.is_empty())
        .map(Into::into)
}

/// Tracing for the length of a `block_on` (from `GORT_TRACE`).
pub(crate) struct EnvTrace;

impl EnvTrace {
    pub(crate) fn start(_path: std::path::PathBuf) -> EnvTrace {
        EnvTrace
    }
}
