//! Per-generation lookup tables: strings, stacks, frames, the clock frequency
//! and experimental side data, plus decoding of the batches that define them.
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

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};

use gort_tracer::wire::limits::{MAX_FRAMES, MAX_STRING_BYTES};
use gort_tracer::wire::EventType;

use crate::batch::{read_uvarint, Storage, VarintFail};
use crate::error::{Error, ErrorKind, Result};
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
}

impl<T: Default + Clone> IdTable<T> {
    fn new() -> IdTable<T> {
        IdTable {
            dense: Vec::new(),
            sparse: IdMap::default(),
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
        id == 0
            || match self.dense.get(id as usize) {
                Some(v) => v.is_some(),
                None => self.sparse.contains_key(&id),
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
}

impl<'a> Tables<'a> {
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
    pub(crate) fn frames(&self, id: u64) -> impl ExactSizeIterator<Item = Frame<'_>> + '_ {
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

/// Builds one generation's tables as its batches are read.
#[derive(Debug)]
pub(crate) struct TablesBuilder {
    strings: IdTable<Span>,
    stacks: IdTable<StackRef>,
    /// PCs of all stacks, back to back (resolved to frames at the end).
    stack_pcs: Vec<u64>,
    frame_index: IdMap<u64, u32>,
    frames: Vec<FrameDef>,
    freq: Option<Frequency>,
    pub(crate) samples: Vec<(u64, CpuSample)>,
    exp: Vec<ExpBatch>,
}

/// A reader over one table batch's bytes, with Go's `bytes.Reader` errors.
struct Cursor<'d> {
    data: &'d [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn byte(&mut self) -> Result<u8> {
        let b = self
            .data
            .get(self.pos)
            .copied()
            .ok_or_else(|| VarintFail::Eof.error(""))?;
        self.pos += 1;
        Ok(b)
    }

    fn uvarint(&mut self, context: &dyn Fn() -> String) -> Result<u64> {
        let rest = self.data.get(self.pos..).unwrap_or(&[]);
        match read_uvarint(rest) {
            Ok((v, n)) => {
                self.pos += n;
                Ok(v)
            }
            Err(f) => {
                if f == VarintFail::Overflow {
                    self.pos += rest.len().min(10);
                } else {
                    self.pos = self.data.len();
                }
                Err(f.error(&context()))
            }
        }
    }

    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
}

fn no_context() -> String {
    String::new()
}

fn span(start: usize, len: usize) -> Span {
    // Storage is at most a generation's bytes; offsets beyond u32 saturate
    // (and then resolve to nothing) rather than wrap.
    Span {
        start: u32::try_from(start).unwrap_or(u32::MAX),
        len: u32::try_from(len).unwrap_or(0),
    }
}

impl TablesBuilder {
    pub(crate) fn new() -> TablesBuilder {
        TablesBuilder {
            strings: IdTable::new(),
            stacks: IdTable::new(),
            stack_pcs: Vec::new(),
            frame_index: IdMap::default(),
            frames: Vec::new(),
            freq: None,
            samples: Vec::new(),
            exp: Vec::new(),
        }
    }

    /// Adds the string batch `storage[start..end]`.
    pub(crate) fn add_strings(&mut self, storage: &[u8], start: usize, end: usize) -> Result<()> {
        let data = storage.get(start..end).unwrap_or(&[]);
        let mut c = Cursor { data, pos: 1 };
        while !c.done() {
            let t = c.byte()?;
            if t != EventType::String as u8 {
                return Err(bad(format!("expected string event, got {t}")));
            }
            let id = c.uvarint(&no_context)?;
            let len = c.uvarint(&no_context)?;
            if len > MAX_STRING_BYTES as u64 {
                return Err(bad(format!(
                    "invalid string size {len}, maximum is {MAX_STRING_BYTES}"
                )));
            }
            let len = len as usize;
            let avail = data.len() - c.pos;
            if avail < len {
                return Err(Error::new(
                    ErrorKind::UnexpectedEof,
                    format!("failed to read full string: read {avail} but wanted {len}"),
                ));
            }
            let s = span(start + c.pos, len);
            let text = &data[c.pos..c.pos + len];
            c.pos += len;
            if let Err(old) = self.strings.insert(id, s) {
                let o = old.start as usize;
                let old_text = storage.get(o..o + old.len as usize).unwrap_or(&[]);
                return Err(Error::new(
                    ErrorKind::DuplicateId,
                    format!(
                        "multiple strings with the same ID: id={id}, new={}, existing={}",
                        String::from_utf8_lossy(text),
                        String::from_utf8_lossy(old_text)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Adds a stack batch.
    pub(crate) fn add_stacks(&mut self, data: &[u8]) -> Result<()> {
        let mut c = Cursor { data, pos: 1 };
        while !c.done() {
            let t = c.byte()?;
            if t != EventType::Stack as u8 {
                return Err(bad(format!("expected stack event, got {t}")));
            }
            let id = c.uvarint(&no_context)?;
            let n = c.uvarint(&no_context)?;
            if n > MAX_FRAMES as u64 {
                return Err(bad(format!(
                    "invalid stack size {n}, maximum is {MAX_FRAMES}"
                )));
            }
            let start = self.stack_pcs.len();
            for i in 1..=n {
                let pc = c.uvarint(&|| format!("reading frame {i}'s PC for stack {id}: "))?;
                let func = c.uvarint(&|| format!("reading frame {i}'s funcID for stack {id}: "))?;
                let file = c.uvarint(&|| format!("reading frame {i}'s fileID for stack {id}: "))?;
                let line = c.uvarint(&|| format!("reading frame {i}'s line for stack {id}: "))?;
                self.stack_pcs.push(pc);
                if !self.frame_index.contains_key(&pc) {
                    let idx = u32::try_from(self.frames.len()).unwrap_or(u32::MAX);
                    self.frame_index.insert(pc, idx);
                    self.frames.push(FrameDef {
                        pc,
                        func,
                        file,
                        line,
                    });
                }
            }
            let r = StackRef {
                start: u32::try_from(start).unwrap_or(u32::MAX),
                len: n as u32,
            };
            if let Err(old) = self.stacks.insert(id, r) {
                let fmt_pcs = |r: StackRef| {
                    let mut s = String::new();
                    let start = r.start as usize;
                    for pc in self
                        .stack_pcs
                        .get(start..start + r.len as usize)
                        .unwrap_or(&[])
                    {
                        let _ = writeln!(s, "\t{pc:#x}");
                    }
                    s
                };
                return Err(Error::new(
                    ErrorKind::DuplicateId,
                    format!(
                        "multiple trace.stacks with the same ID: id={id}, new={}, existing={}",
                        fmt_pcs(r),
                        fmt_pcs(old)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Adds a CPU sample batch; sample times stay raw until [`Self::finish`].
    pub(crate) fn add_cpu_samples(&mut self, data: &[u8]) -> Result<()> {
        let mut c = Cursor { data, pos: 1 };
        while !c.done() {
            let t = c.byte()?;
            if t != EventType::CPUSample as u8 {
                return Err(bad(format!("expected CPU sample event, got {t}")));
            }
            let time = c.uvarint(&no_context)?;
            let m = c.uvarint(&no_context)?;
            let p = c.uvarint(&no_context)?;
            let g = c.uvarint(&no_context)?;
            let stack = c.uvarint(&no_context)?;
            self.samples.push((
                time,
                CpuSample {
                    time: 0,
                    m: ThreadId::from_wire(m),
                    p: ProcId::from_wire(p),
                    g: if g == 0 {
                        GoId::NONE
                    } else {
                        GoId::from_wire(g)
                    },
                    stack,
                },
            ));
        }
        Ok(())
    }

    /// Adds the frequency batch.
    pub(crate) fn add_frequency(&mut self, data: &[u8]) -> Result<()> {
        let mut c = Cursor { data, pos: 1 };
        let f = c.uvarint(&no_context)?;
        if self.freq.is_some() {
            return Err(Error::new(
                ErrorKind::BadBatch,
                "found multiple frequency events",
            ));
        }
        self.freq = Some(Frequency::from_units_per_second(f));
        Ok(())
    }

    /// Records an experimental batch's data (`base`: its storage offset).
    pub(crate) fn add_experimental(&mut self, exp: u8, m: ThreadId, base: usize, len: usize) {
        self.exp.push(ExpBatch {
            exp,
            m,
            data: span(base, len),
        });
    }

    /// Checks the generation and builds its tables over `storage`; also
    /// returns the CPU samples, converted to nanoseconds and sorted by time.
    pub(crate) fn finish(mut self, storage: Storage<'_>) -> Result<(Tables<'_>, Vec<CpuSample>)> {
        let Some(freq) = self.freq else {
            return Err(Error::new(
                ErrorKind::MissingFrequency,
                "no frequency event found",
            ));
        };
        self.strings.compact();
        self.stacks.compact();
        // Every frame a stack uses must name defined strings.
        for id in self.stacks.ids() {
            let r = self.stacks.get(id).unwrap_or_default();
            let start = r.start as usize;
            for pc in self
                .stack_pcs
                .get(start..start + r.len as usize)
                .unwrap_or(&[])
            {
                let Some(&i) = self.frame_index.get(pc) else {
                    return Err(unknown(format!("found unknown pc {pc:x} for stack {id}")));
                };
                let f = self.frames[i as usize];
                if !self.strings.contains(f.func) {
                    return Err(unknown(format!(
                        "found invalid func string ID {} for stack {id}",
                        f.func
                    )));
                }
                if !self.strings.contains(f.file) {
                    return Err(unknown(format!(
                        "found invalid file string ID {} for stack {id}",
                        f.file
                    )));
                }
            }
        }
        let stack_frames = self
            .stack_pcs
            .iter()
            .map(|pc| self.frame_index.get(pc).copied().unwrap_or(u32::MAX))
            .collect();
        let mut samples: Vec<CpuSample> = self
            .samples
            .into_iter()
            .map(|(raw, mut s)| {
                s.time = freq.to_ns(raw);
                s
            })
            .collect();
        samples.sort_by_key(|s| s.time);
        Ok((
            Tables {
                storage,
                strings: self.strings,
                stacks: self.stacks,
                stack_frames,
                frames: self.frames,
                freq,
                exp: self.exp,
            },
            samples,
        ))
    }
}

fn bad(msg: String) -> Error {
    Error::new(ErrorKind::BadBatch, msg)
}

fn unknown(msg: String) -> Error {
    Error::new(ErrorKind::UnknownId, msg)
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

    #[test]
    fn id_zero_always_resolves_and_cannot_be_defined() {
        let mut t = TablesBuilder::new();
        // Strings batch: 04 | 05 id=0 len=1 "x"
        let err = t.add_strings(&[4, 5, 0, 1, b'x'], 0, 5).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DuplicateId);
        assert!(err
            .message()
            .starts_with("multiple strings with the same ID: id=0"));
    }

    #[test]
    fn first_frame_definition_wins_and_strings_are_checked() {
        let mut t = TablesBuilder::new();
        let mut storage = vec![0u8; 100];
        storage.extend_from_slice(&[4, 5, 1, 1, b'f', 5, 2, 1, b'g']);
        t.add_strings(&storage, 100, 109).unwrap();
        // Stack 1: pc 16 func 1 file 2 line 3; stack 2: pc 16 func 2 file 2 line 9.
        t.add_stacks(&[2, 3, 1, 1, 16, 1, 2, 3, 3, 2, 1, 16, 2, 2, 9])
            .unwrap();
        t.add_frequency(&[8, 1]).unwrap();
        let (tables, _) = t.finish(Storage::Owned(storage)).unwrap();
        let f: Vec<_> = tables.frames(2).collect();
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].func, f[0].line), (&b"f"[..], 3));
        assert_eq!(tables.frames(0).len(), 0);

        let mut t = TablesBuilder::new();
        t.add_stacks(&[2, 3, 1, 1, 16, 7, 0, 3]).unwrap();
        t.add_frequency(&[8, 1]).unwrap();
        let err = t.finish(Storage::Owned(Vec::new())).unwrap_err();
        assert_eq!(err.message(), "found invalid func string ID 7 for stack 1");
    }

    #[test]
    fn table_batch_errors_read_like_go() {
        let mut t = TablesBuilder::new();
        assert_eq!(
            t.add_strings(&[4, 6], 0, 2).unwrap_err().message(),
            "expected string event, got 6"
        );
        assert_eq!(
            t.add_stacks(&[2, 3, 1, 1, 16]).unwrap_err().message(),
            "reading frame 1's funcID for stack 1: EOF"
        );
        assert_eq!(t.add_frequency(&[8]).unwrap_err().message(), "EOF");
        t.add_frequency(&[8, 1]).unwrap();
        assert_eq!(
            t.add_frequency(&[8, 1]).unwrap_err().message(),
            "found multiple frequency events"
        );
        let err = TablesBuilder::new()
            .finish(Storage::Owned(Vec::new()))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingFrequency);
    }
}
