//! The raw layer: wire events with no validation, in binary and text form.
//!
//! [`Reader`] (zero-copy, over a byte slice) and [`StreamReader`] (over any
//! [`std::io::Read`]) decode a binary trace into [`RawEvent`]s exactly as Go
//! 1.23's `internal/trace/raw` reader does: linearly, batch headers included,
//! with argument counts from the wire event table. [`Writer`] encodes events
//! back; [`TextReader`] and [`TextWriter`] handle the text form below. The
//! text of one event, [`RawEvent`]'s `Display`, is byte for byte a line (or
//! lines) of `go tool trace -d=2`.
//!
//! # Text form
//!
//! Line-oriented; lines end with `\n` (a `\r` before it is dropped).
//!
//! ```text
//! text    = header event*
//! header  = "Trace" SP "Go1." N                  N = 22 or 23
//! event   = NAME (SP ARG "=" DECIMAL)*           ARG names from the event table, in order
//!           frame*                               Stack only: one line per frame
//!           data?                                String, ExperimentalBatch only
//! frame   = TAB "pc=" D " func=" D " file=" D " line=" D
//! data    = TAB "data=" QUOTED                   a Go string literal (strconv.Quote form)
//! ```
//!
//! - Tokens are separated by any Unicode white space, in any amount.
//! - Blank lines are skipped; `#` starts a comment that runs to the end of the
//!   line, but only a whole-line comment is accepted (after an event's last
//!   argument, a comment is an error, as in Go).
//! - `nframes` frames follow a `Stack` line; the data length is implied by
//!   the quoted string.
//! - Batch sizes are written as plain numbers: the text form does not keep
//!   the padded encoding, so text → binary gives minimal uvarints.
//!
//! An example (frame and data lines start with a tab, shown here as spaces):
//!
//! ```text
//! Trace Go1.23
//! EventBatch gen=1 m=18446744073709551615 time=1000 size=5
//! Frequency freq=15625000
//! EventBatch gen=1 m=7 time=1010 size=25
//! Stack id=1 nframes=1
//!     pc=4198400 func=1 file=2 line=10
//! String id=1
//!     data="main.main"
//! ```

mod event;
mod isprint;
mod pieces;
mod quote;
mod reader;
mod sink;
mod stream;
mod text;
mod writer;

pub use event::{Frames, RawEvent, FRAME_FIELDS};

/// Most arguments (before stack frames) any event type has: the wire table's
/// [`EventType::MAX_ARGS`](gort_tracer::wire::EventType::MAX_ARGS).
pub const MAX_ARGS: usize = gort_tracer::wire::EventType::MAX_ARGS;
pub use quote::{is_go_printable, quote, unquote, write_quoted, write_quoted_bytes};
pub use reader::{read_header, read_header_len, Reader};
pub use stream::StreamReader;
pub use text::{binary_to_text, text_to_binary, TextReader, TextWriter};
pub use writer::{encode_event, Writer};
