//! Reader, validator and printer for Go 1.22/1.23 execution traces.
#![forbid(unsafe_code)]

mod batch;
mod cursor;
pub mod error;
mod event;
mod generation;
mod order;
pub mod raw;
mod reader;
mod resources;
mod stats;
mod tables;
pub mod testfile;
mod validate;

pub use error::{Error, ErrorKind, Result};
pub use event::{
    Event, EventKind, Experimental, Label, Log, Metric, Range, RangeAttribute, Region, Stack,
    StateTransition, Task,
};
pub use reader::Reader;
pub use resources::{GoId, GoState, ProcId, ProcState, ResourceId, TaskId, ThreadId, Transition};
pub use stats::{GoTimes, Stats};
pub use tables::Frame;
pub use validate::Validator;
