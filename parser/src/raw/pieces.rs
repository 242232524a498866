//! Compile-time text pieces of every event type: its name and ` arg=` labels.
//!
//! The `-d=2` text of an event is its name, then ` arg=value` per argument.
//! Building the name and labels once, at compile time, into fixed 24-byte
//! arrays lets the byte-buffer sink append each with one fixed-size copy
//! (see [`TextSink::put_piece`](super::sink::TextSink::put_piece)) instead of
//! a call to `memcpy` per string.

use gort_tracer::wire::{EventType, Format};

/// Capacity of a [`Piece`] in bytes.
pub(crate) const PIECE: usize = 24;

/// Up to [`PIECE`] bytes of ASCII text, zero-padded.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Piece {
    pub(crate) bytes: [u8; PIECE],
    pub(crate) len: u8,
}

impl Piece {
    const EMPTY: Piece = Piece {
        bytes: [0; PIECE],
        len: 0,
    };

    /// `before` (if not 0), `s`, `after` (if not 0); fails the build if too long.
    const fn new(before: u8, s: &str, after: u8) -> Piece {
        let s = s.as_bytes();
        let mut p = Piece::EMPTY;
        let mut n = 0;
        if before != 0 {
            p.bytes[n] = before;
            n += 1;
        }
        let mut i = 0;
        while i < s.len() {
            assert!(
                n < PIECE,
                "event or argument name too long for a text piece"
            );
            p.bytes[n] = s[i];
            n += 1;
            i += 1;
        }
        if after != 0 {
            assert!(
                n < PIECE,
                "event or argument name too long for a text piece"
            );
            p.bytes[n] = after;
            n += 1;
        }
        p.len = n as u8;
        p
    }

    /// The piece as text.
    pub(crate) fn as_str(&self) -> &str {
        // Built from ASCII event-table names only.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

/// The name and argument labels of one type byte.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TypeText {
    pub(crate) name: Piece,
    /// ` arg=` for each argument, in wire order.
    pub(crate) args: [Piece; EventType::MAX_ARGS],
}

/// [`TypeText`] of every type byte in the table of version `table` (empty
/// for undefined ones, as in Go).
const fn build(table: u8) -> [TypeText; 256] {
    let mut t = [TypeText {
        name: Piece::EMPTY,
        args: [Piece::EMPTY; EventType::MAX_ARGS],
    }; 256];
    let all = EventType::ALL;
    let mut i = 0;
    while i < all.len() {
        let spec = all[i].spec();
        let b = all[i] as usize;
        if spec.since > table {
            i += 1;
            continue;
        }
        t[b].name = Piece::new(0, spec.name, 0);
        let mut a = 0;
        while a < spec.args.len() {
            t[b].args[a] = Piece::new(b' ', spec.args[a], b'=');
            a += 1;
        }
        i += 1;
    }
    t
}

/// The texts of the go 1.22/1.23 table.
static TEXTS_GO123: [TypeText; 256] = build(Format::Go123.table_version());
/// The texts of the newest table (go 1.25 and 1.26 formats).
static TEXTS_NEWEST: [TypeText; 256] = build(Format::Go126.table_version());

/// The texts of every type byte in the table of version `table`.
#[inline]
pub(crate) fn texts(table: u8) -> &'static [TypeText; 256] {
    if table <= Format::Go123.table_version() {
        &TEXTS_GO123
    } else {
        &TEXTS_NEWEST
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_spell_the_table() {
        for &t in EventType::ALL {
            let text = &texts(26)[t as usize];
            assert_eq!(text.name.as_str(), t.name());
            for (i, a) in t.spec().args.iter().enumerate() {
                assert_eq!(text.args[i].as_str(), format!(" {a}="));
            }
        }
        assert_eq!(texts(26)[60].name.as_str(), "");
        assert_eq!(texts(23)[51].name.as_str(), "");
        assert_eq!(texts(26)[51].name.as_str(), "ClockSnapshot");
    }
}
