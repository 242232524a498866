//! Shared test support: a decoder for written traces, the Go oracle, and a
//! simulated runtime that drives the tracer from several OS threads.

#![allow(dead_code, unreachable_pub)]

pub mod decode;
pub mod oracle;
pub mod sim;
