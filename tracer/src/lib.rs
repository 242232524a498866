//! gort's execution tracer: Go 1.23's trace wire format and its writer.
//!
//! Traces written here are Go 1.23 execution traces (`go 1.23 trace` header):
//! `go tool trace` from Go 1.23 or later opens them, and `gort-parser` reads
//! them back.
//!
//! - [`wire`]: the format itself (event table, varints, header, statuses). It
//!   depends on nothing else in this crate; the parser uses it alone.

pub mod wire;
