//! Per-generation lookup tables: strings, stacks, frames, the clock frequency
//! and experimental side data ([`build`] decodes the batches that define them).
//!
//! Invariants once a generation is built ([`TablesBuilder::finish`]):
//! - ID 0 resolves in the string and stack tables (to `""` and the empty
//!   stack), and defining ID 0 or any ID twice is an error, as in Go;
//! - every frame is known by PC, and the first definition of a PC wins;
//! - every func/file string ID of a frame used by a stack resolves
//!   (checked in ascending stack-ID order).
//!
//! Strings are byte ranges into the generation's [`Storage`]; they are not
//! required to be UTF-8.

mod build;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

pub(crate) use build::TablesBuilder;

use gort_tracer::wire::Format;

use crate::batch::Storage;
use crate::resources::{GoId, ProcId, ThreadId};

/// A fast, non-cryptographic hasher for integer keys (trace IDs and PCs).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    #[inline]
    fn write_i64(&mut self, v: i64) {
        self.write_u64(v as u64);
    }
}

/// A `HashMap` keyed by trace IDs.
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// Converts like Go's `int64(f)` on amd64: NaN and out-of-range values give
/// `i64::MIN`, everything else truncates toward zero.
#[inline]
pub(crate) fn go_f64_to_i64(f: f64) -> i64 {
    // 2^63 as f64 is exact.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if (-LIMIT..LIMIT).contains(&f) {
        f as i64
    } else {
        i64::MIN
    }
}

/// Nanoseconds per trace clock unit, computed from a `Frequency` event exactly
/// as Go does (`1.0 / (freq / 1e9)` in float64).
///
/// N.B. When that factor is a small whole number (64 for Go's Unix clock),
/// values below 2^53 / factor are converted with an integer multiply: both
/// operands and the product are then exact in float64, so the result is
/// the same as the float path's, only cheaper.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Frequency(pub(crate) f64, u64, u64);

impl Frequency {
    /// From the wire value (clock units per second).
    pub(crate) fn from_units_per_second(f: u64) -> Frequency {
        let k = 1.0 / (f as f64 / 1e9);
        let whole = if (1.0..=1_048_576.0).contains(&k) && k.fract() == 0.0 {
            k as u64
        } else {
            0
        };
        // Values below this convert exactly with an integer multiply.
        let exact_below = (1u64 << 53).checked_div(whole).unwrap_or(0);
        Frequency(k, whole, exact_below)
    }

    /// A clock value or delta in nanoseconds (float64 multiply, truncated).
    #[inline]
    pub(crate) fn to_ns(self, t: u64) -> i64 {
        if t < self.2 {
            return (t * self.1) as i64;
        }
        go_f64_to_i64(t as f64 * self.0)
    }
}

/// An ID-indexed table with Go's `dataTable` semantics: ID 0 is always
/// present (as the default value), IDs are unique, and lookups are dense-array
/// fast when the IDs are compact.
#[derive(Debug)]
pub(crate) struct IdTable<T> {
    dense: Vec<Option<T>>,
    sparse: IdMap<u64, T>,
    /// Every ID below `dense.len()` resolves (so `contains` need not read
    /// the entry, which keeps the per-event ID checks out of the table).
    full: bool,
}

impl<T: Default + Clone> IdTable<T> {
    fn new() -> IdTable<T> {
        IdTable {
            dense: Vec::new(),
            sparse: IdMap::default(),
            full: false,
        }
    }

    /// Looks `id` up; ID 0 is the default value.
    #[inline]
    pub(crate) fn get(&self, id: u64) -> Option<T> {
        if id == 0 {
            return Some(T::default());
        }
        match self.dense.get(id as usize) {
            Some(v) => v.clone(),
            None => self.sparse.get(&id).cloned(),
        }
    }

    /// True if `id` resolves.
    #[inline]
    pub(crate) fn contains(&self, id: u64) -> bool {
        if id < self.dense.len() as u64 && self.full {
            return true;
        }
        id == 0
            || match self.dense.get(id as usize) {
                Some(v) => v.is_some(),
                None => !self.sparse.is_empty() && self.sparse.contains_key(&id),
            }
    }

    /// Inserts a new ID; `Err(existing)` if it already resolves.
    fn insert(&mut self, id: u64, v: T) -> std::result::Result<(), T> {
        if let Some(old) = self.get(id) {
            return Err(old);
        }
        self.sparse.insert(id, v);
        Ok(())
    }

    /// Moves the entries into the dense array when that wastes little space.
    fn compact(&mut self) {
        let n = self.sparse.len();
        let Some(&max) = self.sparse.keys().max() else {
            return;
        };
        if max as usize as u64 != max || max as usize > 2 * n + 16 {
            return;
        }
        let mut dense = vec![None; max as usize + 1];
        for (id, v) in self.sparse.drain() {
            dense[id as usize] = Some(v);
        }
        // ID 0 always resolves, whether or not it has an entry.
        self.full = dense.iter().skip(1).all(Option::is_some);
        self.dense = dense;
    }

    /// IDs in ascending order.
    fn ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = (0..self.dense.len() as u64)
            .filter(|&i| self.dense[i as usize].is_some())
            .chain(self.sparse.keys().copied())
            .collect();
        ids.sort_unstable();
        ids
    }
}

/// A byte range of the storage (a string's bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    start: u32,
    len: u32,
}

/// A stack: a range of the generation's frame-index list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct StackRef {
    start: u32,
    len: u32,
}

/// One frame as the stack table defines it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FrameDef {
    pc: u64,
    func: u64,
    file: u64,
    line: u64,
}

/// One stack frame, resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'t> {
    /// Program counter (for non-leaf frames, the return address).
    pub pc: u64,
    /// Function name.
    pub func: &'t [u8],
    /// Source file.
    pub file: &'t [u8],
    /// Line number.
    pub line: u64,
}

/// Raw side data of an experiment, as written by one thread.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ExpBatch {
    pub(crate) exp: u8,
    pub(crate) m: ThreadId,
    pub(crate) data: Span,
}

/// A CPU profile sample, with its time already in nanoseconds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CpuSample {
    pub(crate) time: i64,
    pub(crate) m: ThreadId,
    pub(crate) p: ProcId,
    pub(crate) g: GoId,
    pub(crate) stack: u64,
}

/// A reading of the trace, monotonic and wall clocks taken at about the
/// same time (a sync batch's `ClockSnapshot`, go 1.25 format on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ClockSnapshot {
    /// The trace clock, in its own units.
    pub(crate) time: u64,
    /// The monotonic clock, in nanoseconds.
    pub(crate) mono: u64,
    /// Wall clock seconds since the Unix epoch.
    pub(crate) sec: u64,
    /// Wall clock nanoseconds within the second.
    pub(crate) nsec: u64,
}

/// The lookup tables of one generation, shared by all of its events.
#[derive(Debug)]
pub(crate) struct Tables<'a> {
    storage: Storage<'a>,
    strings: IdTable<Span>,
    stacks: IdTable<StackRef>,
    /// Frame indices of all stacks, back to back.
    stack_frames: Vec<u32>,
    frames: Vec<FrameDef>,
    pub(crate) freq: Frequency,
    pub(crate) exp: Vec<ExpBatch>,
    /// The trace's format version (decides how events print).
    pub(crate) format: Format,
    /// The generation's clock snapshot (go 1.25 format on).
    pub(crate) snapshot: Option<ClockSnapshot>,
    /// The earliest batch time of the generation, in clock units.
    pub(crate) min_ts: u64,
    /// Each stack's frames as event texts print them, rendered on first
    /// use; indexed by stack ID when the IDs are dense (empty otherwise).
    stack_texts: Vec<OnceLock<Box<[u8]>>>,
}

impl<'a> Tables<'a> {
    /// Tables with nothing in them, for events of no generation (the Sync
    /// events that end a trace or come before an error).
    pub(crate) fn empty(format: Format) -> Tables<'a> {
        Tables {
            storage: Storage::Borrowed(&[]),
            strings: IdTable::new(),
            stacks: IdTable::new(),
            stack_frames: Vec::new(),
            frames: Vec::new(),
            freq: Frequency::from_units_per_second(1_000_000_000),
            exp: Vec::new(),
            format,
            snapshot: None,
            min_ts: 0,
            stack_texts: Vec::new(),
        }
    }

    /// The text of stack `id` that `render` writes, rendered once per
    /// generation and then copied; `None` (nothing cached) for stacks whose
    /// IDs are not dense, which the caller renders itself.
    #[inline]
    pub(crate) fn stack_text(&self, id: u64, render: impl FnOnce(&mut Vec<u8>)) -> Option<&[u8]> {
        let cell = self.stack_texts.get(usize::try_from(id).ok()?)?;
        Some(cell.get_or_init(|| {
            let mut v = Vec::new();
            render(&mut v);
            v.into_boxed_slice()
        }))
    }

    /// Takes the buffer the generation's bytes were copied into (read from a
    /// stream), leaving the tables without bytes: for a reader done with
    /// the generation, to read the next one into the same memory. Strings,
    /// stacks and side data then resolve to nothing; the frequency, the
    /// clock snapshot and the format stay.
    pub(crate) fn take_storage(&mut self) -> Option<Vec<u8>> {
        match &mut self.storage {
            Storage::Owned(v) => Some(std::mem::take(v)),
            Storage::Borrowed(_) => None,
        }
    }

    /// The bytes that batch and string ranges point into.
    #[inline]
    pub(crate) fn storage(&self) -> &[u8] {
        self.storage.bytes()
    }

    /// The string with `id`, if defined (`""` for 0).
    #[inline]
    pub(crate) fn string(&self, id: u64) -> Option<&[u8]> {
        let s = self.strings.get(id)?;
        let start = s.start as usize;
        self.storage.bytes().get(start..start + s.len as usize)
    }

    /// The string with `id`, or `""` if undefined.
    #[inline]
    pub(crate) fn string_or_empty(&self, id: u64) -> &[u8] {
        self.string(id).unwrap_or(b"")
    }

    /// True if string `id` is defined.
    #[inline]
    pub(crate) fn has_string(&self, id: u64) -> bool {
        self.strings.contains(id)
    }

    /// True if stack `id` is defined.
    #[inline]
    pub(crate) fn has_stack(&self, id: u64) -> bool {
        self.stacks.contains(id)
    }

    /// The frames of stack `id`, leaf first (none for 0 or undefined).
    pub(crate) fn frames(
        &self,
        id: u64,
    ) -> impl DoubleEndedIterator<Item = Frame<'_>> + ExactSizeIterator + '_ {
        let r = self.stacks.get(id).unwrap_or_default();
        let start = r.start as usize;
        let idx = self
            .stack_frames
            .get(start..start + r.len as usize)
            .unwrap_or(&[]);
        idx.iter().map(move |&i| {
            let f = self.frames.get(i as usize).copied().unwrap_or(FrameDef {
                pc: 0,
                func: 0,
                file: 0,
                line: 0,
            });
            Frame {
                pc: f.pc,
                func: self.string_or_empty(f.func),
                file: self.string_or_empty(f.file),
                line: f.line,
            }
        })
    }

    /// Experimental side data bytes.
    pub(crate) fn span_bytes(&self, s: Span) -> &[u8] {
        let start = s.start as usize;
        self.storage
            .bytes()
            .get(start..start + s.len as usize)
            .unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_conversion_matches_go_amd64() {
        assert_eq!(go_f64_to_i64(1.9), 1);
        assert_eq!(go_f64_to_i64(-1.9), -1);
        assert_eq!(go_f64_to_i64(f64::NAN), i64::MIN);
        assert_eq!(go_f64_to_i64(1e19), i64::MIN);
        let f = Frequency::from_units_per_second(15_625_000);
        assert_eq!(f.0, 64.0);
        assert_eq!(f.to_ns(1012), 64768);
        // The integer fast path agrees with float64 arithmetic at its edge.
        for t in [0, 1, (1u64 << 53) / 64 - 1, (1u64 << 53) / 64, u64::MAX / 3] {
            assert_eq!(f.to_ns(t), go_f64_to_i64(t as f64 * 64.0), "{t}");
        }
        let odd = Frequency::from_units_per_second(1_000_000_007);
        assert_eq!(odd.1, 0);
        assert_eq!(odd.to_ns(12345), go_f64_to_i64(12345.0 * odd.0));
    }
}
