//! Building one generation's tables: decoding string, stack, CPU-sample,
//! frequency and sync batches, with Go's checks and messages, then checking
//! that every frame used by a stack names defined strings.

use std::fmt::Write as _;
use std::sync::OnceLock;

use gort_tracer::wire::limits::{MAX_FRAMES, MAX_STRING_BYTES};
use gort_tracer::wire::{EventType, Format};

use super::{
    ClockSnapshot, CpuSample, ExpBatch, FrameDef, Frequency, IdMap, IdTable, Span, StackRef, Tables,
};
use crate::batch::{read_uvarint, Storage, VarintFail};
use crate::error::{Error, ErrorKind, Result};
use crate::resources::{GoId, ProcId, ThreadId};

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
    snapshot: Option<ClockSnapshot>,
    pub(crate) samples: Vec<(u64, CpuSample)>,
    exp: Vec<ExpBatch>,
    /// The earliest batch time of the generation (0: none yet).
    min_ts: u64,
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
            snapshot: None,
            samples: Vec::new(),
            exp: Vec::new(),
            min_ts: 0,
        }
    }

    /// Notes a batch's base time; the earliest one times the Sync event
    /// that opens a generation (go 1.25 format on).
    pub(crate) fn note_batch_time(&mut self, t: u64) {
        if self.min_ts == 0 || t < self.min_ts {
            self.min_ts = t;
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

    /// Adds a sync batch (go 1.25 format on): `Sync`, then any order of one
    /// `Frequency` and one `ClockSnapshot`, whose time delta counts from the
    /// batch's base time `base`.
    pub(crate) fn add_sync(&mut self, data: &[u8], base: u64) -> Result<()> {
        let mut c = Cursor { data, pos: 1 };
        while !c.done() {
            let typ = c.byte()?;
            match EventType::from_u8_in(typ, Format::Go125) {
                Some(EventType::Frequency) => {
                    if self.freq.is_some() {
                        return Err(bad("found multiple frequency events".into()));
                    }
                    let f = c.uvarint(&no_context)?;
                    self.freq = Some(Frequency::from_units_per_second(f));
                }
                Some(EventType::ClockSnapshot) => {
                    if self.snapshot.is_some() {
                        return Err(bad("found multiple clock snapshot events".into()));
                    }
                    let dt = c.uvarint(&no_context)?;
                    let mono = c.uvarint(&no_context)?;
                    let sec = c.uvarint(&no_context)?;
                    let nsec = c.uvarint(&no_context)?;
                    self.snapshot = Some(ClockSnapshot {
                        time: base.wrapping_add(dt),
                        mono,
                        sec,
                        nsec,
                    });
                }
                _ => {
                    return Err(bad(format!(
                        "expected frequency or clock snapshot event, got {typ}"
                    )))
                }
            }
        }
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
    pub(crate) fn finish(
        mut self,
        storage: Storage<'_>,
        format: Format,
    ) -> Result<(Tables<'_>, Vec<CpuSample>)> {
        let Some(freq) = self.freq else {
            return Err(Error::new(
                ErrorKind::MissingFrequency,
                "no frequency event found",
            ));
        };
        if format.has_sync_batches() && self.snapshot.is_none() {
            return Err(bad("no clock snapshot event found".into()));
        }
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
        let stack_ids = self.stacks.dense.len();
        Ok((
            Tables {
                storage,
                strings: self.strings,
                stacks: self.stacks,
                stack_frames,
                frames: self.frames,
                freq,
                exp: self.exp,
                format,
                snapshot: self.snapshot,
                min_ts: self.min_ts,
                stack_texts: std::iter::repeat_with(OnceLock::new)
                    .take(stack_ids)
                    .collect(),
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
        let (tables, _) = t.finish(Storage::Owned(storage), Format::Go123).unwrap();
        let f: Vec<_> = tables.frames(2).collect();
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].func, f[0].line), (&b"f"[..], 3));
        assert_eq!(tables.frames(0).len(), 0);

        let mut t = TablesBuilder::new();
        t.add_stacks(&[2, 3, 1, 1, 16, 7, 0, 3]).unwrap();
        t.add_frequency(&[8, 1]).unwrap();
        let err = t
            .finish(Storage::Owned(Vec::new()), Format::Go123)
            .unwrap_err();
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
            .finish(Storage::Owned(Vec::new()), Format::Go123)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingFrequency);
    }
}
