//! The shape of one wire event: its name, arguments and flags. Defined
//! with the event table it describes ([`super::events`]).

pub use super::events::{ArgKind, Spec};
