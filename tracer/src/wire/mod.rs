//! The Go 1.23 execution-trace wire format: the single source of truth.
//!
//! This module imports nothing from the rest of the tracer, so the parser can
//! depend on it alone (the tracer's `writer` feature off).
//!
//! ```text
//! file    = header batch*
//! header  = "go 1.23 trace" 00 00 00                      (16 bytes)
//! batch   = 01 gen m time size data[size]                 (EventBatch)
//!         | 31 exp gen m time size data[size]             (ExperimentalBatch)
//!
//!   gen, m, time: uvarint (m = 2^64-1 for batches of no thread)
//!   size:         uvarint, written by runtimes as a 10-byte padded varint
//!                 so it can be patched when the batch is flushed
//!
//! data    = 08 freq                                       (Frequency batch)
//!         | 04 (05 id len bytes[len])*                    (string table)
//!         | 02 (03 id nframes (pc func file line)*)*      (stack table)
//!         | 06 (07 time m p g stack)*                     (CPU samples)
//!         | (type dt arg*)*                               (event batch)
//!
//!   dt:   uvarint delta from the previous event of the batch
//!         (the first one from the batch header's time)
//!   arg:  uvarint; the count per type comes from [`SPECS`](events::spec)
//! ```
//!
//! [`events`] holds the event table; everything else about events (names,
//! argument counts, which arguments are strings or stacks) derives from it.

pub mod events;
pub mod header;
pub mod limits;
pub mod spec;
pub mod status;
pub mod varint;
pub mod version;

pub use events::EventType;
pub use spec::{ArgKind, Spec};
pub use status::{GoStatus, ProcStatus};
pub use version::Format;
