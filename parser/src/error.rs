//! The parser's one error type: a data-light kind plus optional context.
//!
//! [`Error`] carries an [`ErrorKind`] (match on it in code and tests), a
//! message (Go's wording where Go has one) and, when known, where the problem
//! was found: byte offset, generation, thread and event name. Context is added
//! with builder methods as the error travels outwards:
//!
//! ```
//! use gort_parser::{Error, ErrorKind};
//!
//! let e = Error::new(ErrorKind::BadVarint, "varint overflows a 64-bit integer")
//!     .at_offset(1234)
//!     .event("GoStart");
//! assert_eq!(e.kind(), ErrorKind::BadVarint);
//! assert_eq!(
//!     e.to_string(),
//!     "offset 1234, event GoStart: varint overflows a 64-bit integer"
//! );
//! ```
//!
//! `Display` prints the context first, then the message, so a Go error
//! pattern (an unanchored regular expression) still matches the text.

use std::fmt;

/// What went wrong, without the details (those are in [`Error`]'s message).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input does not start with a Go execution-trace header.
    BadHeader,
    /// The header names a format version this parser does not read.
    UnsupportedVersion(u32),
    /// The input ended in the middle of something.
    UnexpectedEof,
    /// A varint is longer than ten bytes or above `u64::MAX`.
    BadVarint,
    /// A batch claims more bytes than the format allows.
    BatchTooLarge,
    /// An event type byte that the format does not define.
    UnknownEvent(u8),
    /// A batch header or batch body is malformed.
    BadBatch,
    /// Generation numbers go backwards or skip.
    GenerationsOutOfOrder,
    /// A generation has no frequency event.
    MissingFrequency,
    /// A string, stack or other ID is defined twice.
    DuplicateId,
    /// An event asks for a state change its resource cannot make.
    InvalidTransition,
    /// Reading or writing failed at the operating-system level.
    Io,
    /// A trace in the text format is malformed.
    Text,
    /// A Go parser test file (txtar with `expect` and `trace`) is malformed.
    BadTestFile,
    /// Input that the format allows but this parser does not handle.
    Unsupported,
    /// An event names a string, stack or PC that its generation does not define.
    UnknownId,
    /// No thread's next event can be ordered (`broken trace: failed to advance`).
    Stalled,
    /// The stricter validator rejected an event sequence the reader accepted.
    Validation,
}

impl ErrorKind {
    /// A short description, used when an error has no message of its own.
    pub fn description(self) -> &'static str {
        match self {
            ErrorKind::BadHeader => "bad file format: not a Go execution trace?",
            ErrorKind::UnsupportedVersion(_) => "unknown or unsupported trace version",
            ErrorKind::UnexpectedEof => "unexpected EOF",
            ErrorKind::BadVarint => "varint overflows a 64-bit integer",
            ErrorKind::BatchTooLarge => "batch too large",
            ErrorKind::UnknownEvent(_) => "invalid event type",
            ErrorKind::BadBatch => "malformed batch",
            ErrorKind::GenerationsOutOfOrder => "generations out of order",
            ErrorKind::MissingFrequency => "no frequency event found",
            ErrorKind::DuplicateId => "duplicate ID",
            ErrorKind::InvalidTransition => "invalid state transition",
            ErrorKind::Io => "I/O error",
            ErrorKind::Text => "malformed text trace",
            ErrorKind::BadTestFile => "malformed test file",
            ErrorKind::Unsupported => "unsupported input",
            ErrorKind::UnknownId => "reference to an undefined ID",
            ErrorKind::Stalled => "broken trace: failed to advance",
            ErrorKind::Validation => "trace failed validation",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ErrorKind::UnsupportedVersion(v) => {
                write!(f, "unknown or unsupported trace version go 1.{v}")
            }
            ErrorKind::UnknownEvent(b) => write!(f, "invalid event type: {b}"),
            k => f.write_str(k.description()),
        }
    }
}

/// A parse error: a kind, a message and optional context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    offset: Option<u64>,
    generation: Option<u64>,
    thread: Option<i64>,
    event: Option<&'static str>,
    io: Option<std::io::ErrorKind>,
}

impl Error {
    /// An error of `kind` with `message` (Go's wording where Go has one).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            offset: None,
            generation: None,
            thread: None,
            event: None,
            io: None,
        }
    }

    /// An error of `kind` whose message is the kind's own description.
    pub fn from_kind(kind: ErrorKind) -> Error {
        Error::new(kind, String::new())
    }

    /// What went wrong.
    #[inline]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message without context (the kind's description if none was given).
    pub fn message(&self) -> String {
        if self.message.is_empty() {
            self.kind.to_string()
        } else {
            self.message.clone()
        }
    }

    /// Byte offset in the input where the problem was found.
    pub fn offset(&self) -> Option<u64> {
        self.offset
    }

    /// Generation in which the problem was found.
    pub fn generation(&self) -> Option<u64> {
        self.generation
    }

    /// Thread (M) whose events showed the problem.
    pub fn thread(&self) -> Option<i64> {
        self.thread
    }

    /// Name of the event that showed the problem.
    pub fn event_name(&self) -> Option<&'static str> {
        self.event
    }

    /// For [`ErrorKind::Io`], the operating system's error kind.
    pub fn io_kind(&self) -> Option<std::io::ErrorKind> {
        self.io
    }

    /// Records the byte offset (keeps an offset already recorded).
    #[must_use]
    pub fn at_offset(mut self, offset: u64) -> Error {
        self.offset.get_or_insert(offset);
        self
    }

    /// Records the generation (keeps one already recorded).
    #[must_use]
    pub fn in_generation(mut self, generation: u64) -> Error {
        self.generation.get_or_insert(generation);
        self
    }

    /// Records the thread (keeps one already recorded).
    #[must_use]
    pub fn on_thread(mut self, thread: i64) -> Error {
        self.thread.get_or_insert(thread);
        self
    }

    /// Records the event name (keeps one already recorded).
    #[must_use]
    pub fn event(mut self, name: &'static str) -> Error {
        self.event.get_or_insert(name);
        self
    }

    /// Writes the context prefix (`offset N, gen N, M N, event X: `), if any.
    fn write_context(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if let Some(o) = self.offset {
            write!(f, "{sep}offset {o}")?;
            sep = ", ";
        }
        if let Some(g) = self.generation {
            write!(f, "{sep}gen {g}")?;
            sep = ", ";
        }
        if let Some(m) = self.thread {
            write!(f, "{sep}M {m}")?;
            sep = ", ";
        }
        if let Some(e) = self.event {
            write!(f, "{sep}event {e}")?;
            sep = ", ";
        }
        if !sep.is_empty() {
            f.write_str(": ")?;
        }
        Ok(())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_context(f)?;
        if self.message.is_empty() {
            fmt::Display::fmt(&self.kind, f)
        } else {
            f.write_str(&self.message)
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        let kind = if e.kind() == std::io::ErrorKind::UnexpectedEof {
            ErrorKind::UnexpectedEof
        } else {
            ErrorKind::Io
        };
        let mut err = Error::new(kind, e.to_string());
        err.io = Some(e.kind());
        err
    }
}

/// The parser's result type.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_prepends_context_in_a_fixed_order() {
        let e = Error::new(ErrorKind::InvalidTransition, "bad")
            .event("GoStart")
            .on_thread(-1)
            .in_generation(3)
            .at_offset(7);
        assert_eq!(e.to_string(), "offset 7, gen 3, M -1, event GoStart: bad");
        assert_eq!(Error::new(ErrorKind::Text, "x").to_string(), "x");
    }

    #[test]
    fn first_context_wins() {
        let e = Error::from_kind(ErrorKind::BadBatch)
            .at_offset(1)
            .at_offset(2);
        assert_eq!(e.offset(), Some(1));
        assert_eq!(e.to_string(), "offset 1: malformed batch");
    }

    #[test]
    fn kind_messages_read_like_go() {
        assert_eq!(
            Error::from_kind(ErrorKind::UnsupportedVersion(21)).to_string(),
            "unknown or unsupported trace version go 1.21"
        );
        assert_eq!(
            Error::from_kind(ErrorKind::UnknownEvent(200)).to_string(),
            "invalid event type: 200"
        );
        let io = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "unexpected EOF");
        let e = Error::from(io);
        assert_eq!(e.kind(), ErrorKind::UnexpectedEof);
        assert_eq!(e.io_kind(), Some(std::io::ErrorKind::UnexpectedEof));
    }
}
