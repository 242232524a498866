//! Reader, validator and printer for Go 1.22/1.23 execution traces.
#![forbid(unsafe_code)]

pub mod error;
pub mod raw;
pub mod testfile;

pub use error::{Error, ErrorKind, Result};
