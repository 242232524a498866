//! Span context that follows its goroutine (cargo feature `tracing`).
//!
//! `tracing` keeps "the spans this code is inside" per thread, and a
//! goroutine changes threads at every blocking call: a span entered before a
//! park would otherwise stay current on the old thread (the next goroutine
//! there would look like its child) and be exited on a thread that never
//! entered it (so never closed). While a layer that cares is installed
//! (`trace::TracingLayer`), each goroutine keeps the IDs of the spans it is
//! inside; as it suspends, the layer exits them on the thread it leaves,
//! and as it resumes, enters them again on the thread it now runs on.
//!
//! Without such a layer the cost is one load of the hook per suspension.
#![deny(unsafe_code)]

use std::sync::OnceLock;

/// The layer's two halves of a switch: called with the goroutine's spans
/// (outermost first), on the thread it leaves and on the one it resumes on.
#[derive(Debug)]
pub(crate) struct SwitchHooks {
    pub(crate) leave: fn(&[u64]),
    pub(crate) resume: fn(&[u64]),
}

static HOOKS: OnceLock<SwitchHooks> = OnceLock::new();

/// Installs the hooks (the first call wins; later ones are the same layer
/// code, so nothing differs).
pub(crate) fn install(h: SwitchHooks) {
    let _ = HOOKS.set(h);
}

/// The hooks, if a layer installed them.
#[inline(always)]
pub(crate) fn hooks() -> Option<&'static SwitchHooks> {
    HOOKS.get()
}
