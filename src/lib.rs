//! gort: Go's runtime model for Rust programs.
pub use gort_parser as parser;
pub use gort_runtime as runtime;
pub use gort_tracer as tracer;
