//! Shim that swaps std/parking_lot primitives for loom's under `cfg(loom)`.
//!
//! Shared state in this crate is built only from these types, so the loom
//! models in `src/tests/` see every synchronising operation.
#![allow(unused_imports, dead_code, clippy::disallowed_types)]

#[cfg(not(loom))]
mod std_impl;
#[cfg(not(loom))]
pub(crate) use std_impl::*;

#[cfg(loom)]
mod mocked;
#[cfg(loom)]
pub(crate) use mocked::*;
