//! Reader, validator and printer for Go execution traces.
//!
//! Reads the `go 1.22 trace` and `go 1.23 trace` formats (one format: Go
//! 1.23 added events, and its reader accepts both headers), as written by
//! Go 1.22/1.23's `runtime/trace` and by gort's tracer, and the formats of
//! current Go: `go 1.25 trace` (Go 1.25) and `go 1.26 trace` (Go 1.26 and
//! 1.27), which add a sync batch with a clock snapshot to every generation
//! and, from 1.26, an end-of-generation mark. Each trace prints as the Go
//! that reads its format prints it (Go 1.23 for 1.22/1.23, Go 1.25 for 1.25,
//! Go 1.27 for 1.26), and is validated with that Go's rules. Older formats
//! are rejected with [`ErrorKind::UnsupportedVersion`].
//!
//! - [`Reader`] yields ordered [`Event`]s, as Go's `internal/trace` reader
//!   does: one generation in memory at a time, per-thread streams merged by
//!   time and by the scheduler's sequence numbers, a `Sync` after each
//!   generation. An event's `Display` is Go's `Event.String()`, the line
//!   `go tool trace -d=1` prints.
//! - [`Validator`] applies the stricter checks of Go's test validator.
//! - [`Stats`] summarises a trace (event counts, goroutine state times).
//! - [`summary`] is Go's goroutine analysis (`go tool trace`'s goroutine
//!   pages); [`pprof`] builds Go's trace profiles (`-pprof=TYPE`);
//!   [`perfetto`] converts a trace to Perfetto's protobuf format;
//!   [`jsontrace`] writes the Chrome JSON `go tool trace` serves at
//!   `/jsontrace`.
//! - [`raw`] reads and writes wire-level events and the text form of Go's
//!   test traces; [`testfile`] reads Go's parser test files.
//!
//! # Example
//!
//! ```
//! use gort_parser::{raw::text_to_binary, Reader};
//!
//! // A thread (M 7) holding P 0 runs goroutine 1 until it exits.
//! let trace = text_to_binary(
//!     b"Trace Go1.23
//! EventBatch gen=1 m=18446744073709551615 time=0 size=5
//! Frequency freq=15625000
//! EventBatch gen=1 m=7 time=10 size=13
//! ProcStatus dt=1 p=0 pstatus=1
//! GoStatus dt=1 g=1 m=7 gstatus=2
//! GoDestroy dt=1
//! ProcStop dt=1
//! ",
//! )?;
//! let lines: Vec<String> = Reader::from_slice(&trace)?
//!     .map(|ev| ev.map(|ev| ev.to_string()))
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(
//!     lines,
//!     [
//!         r#"M=7 P=-1 G=-1 StateTransition Time=704 Resource=Proc(0) Reason="" ProcID=0 Undetermined->Running"#,
//!         r#"M=7 P=0 G=-1 StateTransition Time=768 Resource=Goroutine(1) Reason="" GoID=1 Undetermined->Running"#,
//!         r#"M=7 P=0 G=1 StateTransition Time=832 Resource=Goroutine(1) Reason="" GoID=1 Running->NotExist"#,
//!         r#"M=7 P=0 G=-1 StateTransition Time=896 Resource=Proc(0) Reason="" ProcID=0 Running->Idle"#,
//!         "M=-1 P=-1 G=-1 Sync Time=897",
//!     ]
//! );
//! # Ok::<(), gort_parser::Error>(())
//! ```
//!
//! # Cargo features
//!
//! None. The crate depends on the wire-format table of `gort-tracer` (with
//! that crate's writer turned off) and on `flate2` (pure Rust), which
//! gzips [`pprof`] profiles. The `gort-trace` command line is a package of
//! its own, so library users do not build its argument parser.
#![forbid(unsafe_code)]

mod batch;
mod cursor;
pub mod error;
mod event;
mod generation;
pub mod jsontrace;
mod order;
pub mod perfetto;
pub mod pprof;
pub mod raw;
mod reader;
mod resources;
mod slots;
mod stats;
pub mod summary;
mod tables;
pub mod testfile;
mod validate;

pub use error::{Error, ErrorKind, Result};
pub use event::{
    ClockSnapshot, Event, EventKind, Experimental, Label, Log, Metric, Range, RangeAttribute,
    Region, Stack, StateTransition, Sync, Task,
};
pub use reader::Reader;
pub use resources::{GoId, GoState, ProcId, ProcState, ResourceId, TaskId, ThreadId, Transition};
pub use stats::{GoTimes, Stats};
pub use tables::Frame;
pub use validate::Validator;
