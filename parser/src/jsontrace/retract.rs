//! Outputs that can take back their tail, so that a generation's JSON goes
//! straight out instead of being held back until the generation ends.
//!
//! Go renders a trace whose reading fails up to its last complete
//! generation. A [`JsonTraceWriter`](super::JsonTraceWriter) over any writer
//! gets that by holding each generation's output back (in memory, then in a
//! temporary file) until the generation is known to be complete, which costs
//! a second copy of everything it writes. A [`Retract`] output instead takes
//! the output as it is made and, if a generation turns out damaged, is cut
//! back to where that generation began: a regular file by truncation.

use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};

/// An output that can drop what was written after a mark.
///
/// Implemented for [`File`] (a regular file: truncated back to the mark) and
/// for a [`BufWriter`] over a `Retract` output; a program can implement it
/// for an output whose bytes it can take back some other way, or that keeps
/// nothing (a null device: both methods do nothing).
pub trait Retract: Write {
    /// The position a later [`retract_to`](Retract::retract_to) returns the
    /// output to: everything written so far stays.
    ///
    /// # Errors
    ///
    /// The output's error (flushing a buffer, reading a file position).
    fn mark(&mut self) -> io::Result<u64>;

    /// Drops everything written after `mark` (a value of
    /// [`mark`](Retract::mark)); later writes continue from there.
    ///
    /// # Errors
    ///
    /// The output's error (a file that cannot be truncated).
    fn retract_to(&mut self, mark: u64) -> io::Result<()>;
}

impl Retract for File {
    fn mark(&mut self) -> io::Result<u64> {
        self.stream_position()
    }

    fn retract_to(&mut self, mark: u64) -> io::Result<()> {
        self.set_len(mark)?;
        self.seek(SeekFrom::Start(mark))?;
        Ok(())
    }
}

impl<W: Retract> Retract for BufWriter<W> {
    fn mark(&mut self) -> io::Result<u64> {
        self.flush()?;
        self.get_mut().mark()
    }

    fn retract_to(&mut self, mark: u64) -> io::Result<()> {
        // What the buffer holds is at or after the mark: out first, then cut.
        self.flush()?;
        self.get_mut().retract_to(mark)
    }
}

impl<W: Retract + ?Sized> Retract for &mut W {
    fn mark(&mut self) -> io::Result<u64> {
        (**self).mark()
    }

    fn retract_to(&mut self, mark: u64) -> io::Result<()> {
        (**self).retract_to(mark)
    }
}

/// How a writer takes its output back, captured from `W: Retract` when the
/// writer is made (so that the writer itself needs no such bound).
pub(super) struct Direct<W> {
    pub(super) mark: fn(&mut W) -> io::Result<u64>,
    pub(super) retract_to: fn(&mut W, u64) -> io::Result<()>,
    /// The output's position where the current generation began (the
    /// output's start before the first generation ended).
    pub(super) committed: u64,
}

impl<W> Clone for Direct<W> {
    fn clone(&self) -> Self {
        *self
    }
}

// Function pointers and a number, whatever `W` is.
impl<W> Copy for Direct<W> {}

impl<W> std::fmt::Debug for Direct<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direct")
            .field("committed", &self.committed)
            .finish()
    }
}

impl<W: Retract> Direct<W> {
    /// The direct mode over `out`, marking its position now.
    pub(super) fn new(out: &mut W) -> io::Result<Direct<W>> {
        Ok(Direct {
            mark: <W as Retract>::mark,
            retract_to: <W as Retract>::retract_to,
            committed: out.mark()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_buffered_file_is_cut_back_to_its_mark() {
        let f = tempfile::tempfile().expect("temporary file");
        let mut w = BufWriter::new(f);
        w.write_all(b"kept,").expect("write");
        let m = w.mark().expect("mark");
        assert_eq!(m, 5);
        w.write_all(b"dropped").expect("write");
        w.retract_to(m).expect("retract");
        w.write_all(b"after").expect("write");
        let mut f = w.into_inner().expect("flush");
        f.rewind().expect("rewind");
        let mut s = String::new();
        f.read_to_string(&mut s).expect("read back");
        assert_eq!(s, "kept,after");
    }
}
