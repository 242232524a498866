//! White-box tests that need crate-private access.
//!
//! The tracer's state is process-global; tests that touch it (sessions, the
//! shared string and stack tables) hold [`serial`] so they run one at a time.
// Test harness state, not modelled: std locks are fine here.
#![allow(clippy::disallowed_types)]

#[cfg(loom)]
mod loom_seqlock;
#[cfg(not(loom))]
mod seqlock;

#[cfg(loom)]
mod models;

/// Serialises tests that use the tracer's global state.
#[cfg(not(loom))]
pub(crate) fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}
