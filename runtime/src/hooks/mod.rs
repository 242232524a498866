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
