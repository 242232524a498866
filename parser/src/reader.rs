//! The public [`Reader`]: header, then generations, frontier and ordering,
//! yielding ordered [`Event`]s.
//!
//! Each call of [`Reader::read_event`] does the first of these that applies:
//! 1. return the next event already accepted by the ordering engine;
//! 2. if the generation is used up: return its Sync event (once), then a
//!    read error held back while loading it, then end (no further
//!    generation) or load the next generation and build one cursor per
//!    thread;
//! 3. return the earliest CPU sample if it is strictly earlier than every
//!    thread's next event;
//! 4. try to advance the earliest thread; if it must wait, try the others
//!    in `(time, thread)` order; if none can go, the trace is broken.
//!
//! Every returned event has its string and stack IDs checked and its time
//! forced above the previous event's (`previous + 1` when not). After the
//! first error the reader is fused: it returns `None`.
//!
//! From the go 1.25 format on, Go's reader brackets generations differently
//! (see [`Reader::between_generations`]): a Sync event *opens* each
//! generation (timed at its earliest batch, carrying the clock snapshot and a
//! running count), one more ends the trace, and a read error is reported
//! after a Sync of its own.
//!
//! Equal times on different threads: Go picks between them in an order that
//! depends on map iteration, so two runs of Go's reader can swap such events.
//! This reader moves its frontier heap exactly as Go's does but builds it in
//! ascending thread order, so its output is the same on every run and matches
//! Go's whenever Go's does not depend on the iteration order (see the
//! `cursor` module).

use std::fmt::Write as _;
use std::io::{BufReader, Read};
use std::sync::Arc;

use std::io::BufRead;

use gort_tracer::wire::header::{scan_header, Scan, Version};
use gort_tracer::wire::{EventType, Format};

use crate::batch::{Batch, BatchSource, SliceSource, StreamSource};
use crate::cursor::{Cursor, Frontier, MAX_ARGS};
use crate::error::{Error, ErrorKind, Result};
use crate::event::Event;
use crate::generation::{read_generation, read_generation_marked, Generation};
use crate::order::state::SchedCtx;
use crate::order::Ordering;
use crate::tables::{CpuSample, Tables};

/// Reads a Go execution trace (go 1.22, 1.23, 1.25 or 1.26 format) and yields
/// its events in order.
///
/// # Examples
///
/// ```no_run
/// use gort_parser::Reader;
///
/// let bytes = std::fs::read("trace.out")?;
/// for ev in Reader::from_slice(&bytes)? {
///     println!("{}", ev?);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Reader<'a> {
    src: Box<dyn BatchSource<'a> + 'a>,
    format: Format,
    /// Sync events returned so far (go 1.25 format on).
    syncs: u64,
    /// The held-back read error has had its Sync (go 1.25 format).
    deferred_synced: bool,
    /// The Sync that ends the trace was returned (go 1.25 format on).
    finished: bool,
    /// First batch of the next generation, already read.
    spill: Option<(u64, Batch)>,
    /// A read error to report once the current generation is done.
    deferred: Option<Error>,
    gen: u64,
    tables: Option<Arc<Tables<'a>>>,
    frontier: Frontier,
    samples: std::vec::IntoIter<CpuSample>,
    next_sample: Option<CpuSample>,
    order: Ordering,
    /// The event last returned by [`Reader::next_event`] (before the first,
    /// a Sync of no generation).
    slot: Event<'a>,
    /// Tables with nothing in them, for events of no generation.
    no_tables: Arc<Tables<'a>>,
    last_ts: i64,
    emitted_sync: bool,
    done: bool,
}

impl std::fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("gen", &self.gen)
            .field("threads", &self.frontier.len())
            .field("last_ts", &self.last_ts)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// Checks the header at the start of `h` (all of the input, or as much as
/// [`read_stream_header`] has); returns the format and the header's length.
fn check_header(h: &[u8]) -> Result<(Format, usize)> {
    let (v, len) = match scan_header(h, true) {
        Scan::Header(v, len) => (v, len),
        Scan::NeedMore => (Version::NotATrace, 0),
    };
    match v {
        Version::Go1(minor) => match Format::from_minor(minor) {
            Some(f) => Ok((f, len)),
            None => Err(Error::new(
                ErrorKind::UnsupportedVersion(minor),
                format!("unknown or unsupported trace version go 1.{minor}"),
            )),
        },
        Version::Unsupported(v) => Err(Error::new(
            ErrorKind::UnsupportedVersion(v),
            format!("unknown or unsupported trace version go 1.{v}"),
        )),
        Version::NotATrace => Err(Error::new(
            ErrorKind::BadHeader,
            "bad file format: not a Go execution trace?",
        )),
    }
}

/// Reads just the header from a stream, as Go's `Fscanf` does: byte by byte
/// until it is decided (a header is usually 16 bytes, but spaces and leading
/// zeros can stretch it).
fn read_stream_header<R: BufRead>(r: &mut R) -> Result<(Format, usize)> {
    let mut h = Vec::with_capacity(16);
    loop {
        let at_end = loop {
            match r.fill_buf() {
                Ok([]) => break true,
                Ok(b) => {
                    h.push(b[0]);
                    r.consume(1);
                    break false;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        };
        if at_end || scan_header(&h, false) != Scan::NeedMore {
            break;
        }
    }
    // Bytes past the header were not consumed: the scan decides as soon as
    // a byte does not fit, and every accepted byte belongs to the header.
    check_header(&h)
}

impl<'a> Reader<'a> {
    fn with_source(src: Box<dyn BatchSource<'a> + 'a>, format: Format) -> Reader<'a> {
        let no_tables = Arc::new(Tables::empty(format));
        Reader {
            src,
            format,
            syncs: 0,
            deferred_synced: false,
            finished: false,
            spill: None,
            deferred: None,
            gen: 0,
            tables: None,
            frontier: Frontier::default(),
            samples: Vec::new().into_iter(),
            next_sample: None,
            order: Ordering::new(),
            slot: Event {
                tables: Arc::clone(&no_tables),
                ctx: SchedCtx::NONE,
                typ: None,
                time: 0,
                args: [0; MAX_ARGS],
                task_type: None,
            },
            no_tables,
            last_ts: 0,
            emitted_sync: true,
            done: false,
        }
    }

    /// A reader over a trace held in memory; strings and batch data are
    /// borrowed from `data`, not copied.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BadHeader`] or [`ErrorKind::UnsupportedVersion`] if `data`
    /// does not start with the header of a format this reader reads.
    pub fn from_slice(data: &'a [u8]) -> Result<Reader<'a>> {
        let (format, len) = check_header(data)?;
        Ok(Reader::with_source(
            Box::new(SliceSource::new(data, len, format)),
            format,
        ))
    }

    /// The trace's format version, from its header.
    pub fn format(&self) -> Format {
        self.format
    }

    /// A reader over a stream; one generation at a time is held in memory.
    ///
    /// # Errors
    ///
    /// As [`Reader::from_slice`], plus I/O errors reading the header.
    pub fn new<R: Read + 'a>(r: R) -> Result<Reader<'a>> {
        let mut r = BufReader::with_capacity(1 << 16, r);
        let (format, len) = read_stream_header(&mut r)?;
        Ok(Reader::with_source(
            Box::new(StreamSource::new(r, len as u64, format)),
            format,
        ))
    }

    /// The next event; `Ok(None)` at the end of the trace.
    ///
    /// # Errors
    ///
    /// Any error in the trace; the reader then returns `Ok(None)` forever.
    pub fn read_event(&mut self) -> Result<Option<Event<'a>>> {
        Ok(self.next_event()?.cloned())
    }

    /// The next event, lent from a slot inside the reader (the fastest way
    /// to visit every event: nothing is reference-counted or moved per
    /// event). Clone it to keep it past the next call.
    ///
    /// # Errors
    ///
    /// As [`Reader::read_event`].
    pub fn next_event(&mut self) -> Result<Option<&Event<'a>>> {
        if self.done {
            return Ok(None);
        }
        // Events queued by an earlier advance (a switch queues three)
        // need no step.
        let step = if self.order.has_next() {
            Ok(Some(Out::Queued))
        } else {
            self.step()
        };
        let out = match step {
            Ok(Some(out)) => out,
            Ok(None) => {
                self.done = true;
                return Ok(None);
            }
            Err(e) => {
                self.done = true;
                return Err(e);
            }
        };
        if !self.fill(out) {
            self.done = true;
            return Ok(None);
        }
        let ev = &mut self.slot;
        if let Err(e) = ev.check_ids() {
            self.done = true;
            return Err(e.in_generation(self.gen));
        }
        if ev.time <= self.last_ts {
            ev.time = self.last_ts.wrapping_add(1);
        }
        self.last_ts = ev.time;
        Ok(Some(&self.slot))
    }

    /// Writes what [`Self::step`] produced into the event slot, reusing the
    /// slot's handle on the generation's tables when it is the same one.
    #[inline]
    fn fill(&mut self, out: Out) -> bool {
        if let Out::Sync { time, n, snapshot } = out {
            return self.fill_sync(time, n, snapshot);
        }
        let Some(tables) = &self.tables else {
            return false;
        };
        let (ctx, typ, time, args, task_type) = match out {
            Out::Queued => {
                // Read the queued event in place (no intermediate copy).
                let Some(q) = self.order.front() else {
                    return false;
                };
                let (ctx, typ, time, args) = (q.ctx, q.base.typ, q.base.time, q.base.args);
                let task_type = if typ == EventType::UserTaskEnd {
                    self.order.task_type.take()
                } else {
                    None
                };
                let typ = Some(typ);
                self.order.pop_front();
                (ctx, typ, time, args, task_type)
            }
            Out::Sync { .. } => return false,
            Out::Sample(s) => {
                let mut args = [0; MAX_ARGS];
                args[0] = s.stack;
                let ctx = SchedCtx {
                    m: s.m,
                    p: s.p,
                    g: s.g,
                };
                (ctx, Some(EventType::CPUSample), s.time, args, None)
            }
        };
        let ev = &mut self.slot;
        if !Arc::ptr_eq(&ev.tables, tables) {
            ev.tables = Arc::clone(tables);
        }
        ev.ctx = ctx;
        ev.typ = typ;
        ev.time = time;
        ev.args = args;
        ev.task_type = task_type;
        true
    }

    /// Writes a Sync event into the slot: `n` is its count (go 1.25 format
    /// on), `snapshot` whether it carries the current generation's clock
    /// snapshot.
    #[cold]
    #[inline(never)]
    fn fill_sync(&mut self, time: i64, n: u64, snapshot: bool) -> bool {
        let tables = Arc::clone(self.tables.as_ref().unwrap_or(&self.no_tables));
        let mut args = [0; MAX_ARGS];
        args[0] = n;
        args[1] = u64::from(snapshot);
        self.slot = Event {
            tables,
            ctx: SchedCtx::NONE,
            typ: None,
            time,
            args,
            task_type: None,
        };
        true
    }

    /// The Sync that closes a go 1.22/1.23 generation.
    fn end_sync(&self) -> Out {
        Out::Sync {
            time: self.last_ts,
            n: 0,
            snapshot: false,
        }
    }

    /// A Sync of the go 1.25 format on (the count goes up by one); with
    /// `opens` it opens the generation just loaded.
    fn counted_sync(&mut self, opens: bool) -> Out {
        self.syncs += 1;
        let time = match (&self.tables, opens) {
            (Some(t), true) => t.freq.to_ns(t.min_ts),
            _ => self.last_ts,
        };
        Out::Sync {
            time,
            n: self.syncs,
            snapshot: opens,
        }
    }

    /// What comes when a generation is used up, from the go 1.25 format on
    /// (Go's reader of that format):
    /// - go 1.25: a held-back read error comes after a Sync of its own;
    ///   with no further generation the trace ends with a Sync; otherwise
    ///   the next generation is loaded (a load error also gets a Sync first);
    /// - go 1.26: the generation is read up to its end mark; the end of
    ///   input gives the final Sync, a load error a Sync and then the error.
    ///
    /// Loading a generation returns the Sync that opens it.
    #[cold]
    #[inline(never)]
    fn between_generations(&mut self) -> Result<Option<Out>> {
        if self.finished {
            return Ok(None);
        }
        if self.format.has_end_of_generation() {
            if let Some(e) = self.deferred.take() {
                return Err(e);
            }
            self.recycle_storage();
            return match read_generation_marked(&mut *self.src, self.format) {
                Err(e) => {
                    self.deferred = Some(e);
                    Ok(Some(self.counted_sync(false)))
                }
                Ok(None) => {
                    self.finished = true;
                    Ok(Some(self.counted_sync(false)))
                }
                Ok(Some(g)) => {
                    self.install(g)?;
                    Ok(Some(self.counted_sync(true)))
                }
            };
        }
        if self.deferred.is_some() {
            if self.deferred_synced {
                return Err(self
                    .deferred
                    .take()
                    .unwrap_or_else(|| Error::new(ErrorKind::Stalled, "no error held back")));
            }
            self.deferred_synced = true;
            return Ok(Some(self.counted_sync(false)));
        }
        if self.tables.is_some() && self.spill.is_none() {
            self.finished = true;
            return Ok(Some(self.counted_sync(false)));
        }
        self.recycle_storage();
        match read_generation(&mut *self.src, self.spill.take(), self.format) {
            Err(e) => {
                self.deferred = Some(e);
                self.deferred_synced = true;
                Ok(Some(self.counted_sync(false)))
            }
            Ok(loaded) => {
                self.spill = loaded.spill;
                self.deferred = loaded.deferred;
                self.install(loaded.generation)?;
                Ok(Some(self.counted_sync(true)))
            }
        }
    }

    fn step(&mut self) -> Result<Option<Out>> {
        if self.order.has_next() {
            return Ok(Some(Out::Queued));
        }
        if self.frontier.is_empty() && self.next_sample.is_none() {
            if self.format.has_sync_batches() {
                return self.between_generations();
            }
            if !self.emitted_sync {
                self.emitted_sync = true;
                return Ok(self.tables.is_some().then(|| self.end_sync()));
            }
            if let Some(e) = self.deferred.take() {
                return Err(e);
            }
            if self.tables.is_some() && self.spill.is_none() {
                return Ok(None);
            }
            self.load_generation()?;
        }
        if let Some(s) = self.next_sample {
            let earlier = match self.frontier.min_time() {
                Some(t) => s.time < t,
                None => true,
            };
            if earlier {
                self.next_sample = self.samples.next();
                return Ok(Some(Out::Sample(s)));
            }
        }
        if self.frontier.is_empty() {
            return Err(self.stalled("frontier is empty:"));
        }
        if !self.try_advance(0)? {
            self.advance_other()?;
        }
        match self.order.has_next() {
            true => Ok(Some(Out::Queued)),
            false => Err(Error::new(
                ErrorKind::Stalled,
                "an advanced event produced no output",
            )),
        }
    }

    /// The slow path of [`Self::step`]: the earliest thread must wait, so
    /// the others are tried in time order.
    #[inline(never)]
    fn advance_other(&mut self) -> Result<()> {
        self.frontier.sort();
        for i in 1..self.frontier.len() {
            if self.try_advance(i)? {
                return Ok(());
            }
        }
        Err(self
            .stalled("failed to advance: frontier:")
            .in_generation(self.gen))
    }

    /// The error of a trace on which no thread can advance.
    #[cold]
    #[inline(never)]
    fn stalled(&self, what: &str) -> Error {
        Error::new(
            ErrorKind::Stalled,
            format!(
                "broken trace: {what}\n[gen={}]\n\n{}\n{}\n",
                self.gen,
                self.dump_frontier(),
                self.order.dump()
            ),
        )
    }

    /// Tries to advance the cursor at heap position `i`.
    #[inline(always)]
    fn try_advance(&mut self, i: usize) -> Result<bool> {
        let Some(tables) = self.tables.as_deref() else {
            return Ok(false);
        };
        let Some(c) = self.frontier.get_mut(i) else {
            return Ok(false);
        };
        let typ = c.ev().typ;
        let m = c.m;
        let (ev, slot) = c.ev_and_slot();
        if !self
            .order
            .advance(ev, tables, m, slot, self.gen)
            .map_err(|e| e.in_generation(self.gen).on_thread(m.0).event(typ.name()))?
        {
            return Ok(false);
        }
        if c.advance(tables.storage(), tables.freq)
            .map_err(|e| e.in_generation(self.gen))?
        {
            self.frontier.update(i);
        } else {
            self.frontier.remove(i);
        }
        Ok(true)
    }

    #[cold]
    #[inline(never)]
    fn load_generation(&mut self) -> Result<()> {
        self.recycle_storage();
        let loaded = read_generation(&mut *self.src, self.spill.take(), self.format)?;
        self.spill = loaded.spill;
        self.deferred = loaded.deferred;
        self.install(loaded.generation)
    }

    /// Before the next generation is read: hands the current generation's
    /// storage buffer back to the source when no event outside the reader
    /// holds the generation's tables. The event slot lets go of them first (the
    /// caller's borrow of it has ended); the tables keep what the reader's
    /// own Sync events use (frequency, clock snapshot, format).
    fn recycle_storage(&mut self) {
        self.slot.tables = Arc::clone(&self.no_tables);
        self.slot.task_type = None;
        if let Some(buf) = self
            .tables
            .as_mut()
            .and_then(Arc::get_mut)
            .and_then(Tables::take_storage)
        {
            self.src.recycle(buf);
        }
    }

    /// Makes `g` the current generation: one cursor per thread, its samples.
    fn install(&mut self, g: Generation<'a>) -> Result<()> {
        self.gen = g.gen;
        self.frontier = Frontier::default();
        for (m, batches) in g.threads {
            let mut c = Cursor::new(m, batches, self.format);
            if c.advance(g.tables.storage(), g.tables.freq)
                .map_err(|e| e.in_generation(g.gen))?
            {
                self.frontier.push(c);
            }
        }
        self.samples = g.samples.into_iter();
        self.next_sample = self.samples.next();
        self.tables = Some(g.tables);
        self.emitted_sync = false;
        Ok(())
    }

    fn dump_frontier(&self) -> String {
        let mut s = String::new();
        for c in self.frontier.cursors() {
            let ev = c.ev();
            let spec = ev.typ.spec();
            let _ = write!(s, "M {} [{} time={}", c.m, spec.name, ev.time);
            for (name, v) in spec.args.iter().skip(1).zip(ev.args.iter()) {
                let _ = write!(s, " {name}={v}");
            }
            s.push_str("]\n");
        }
        s
    }
}

/// What one reader step produced.
#[derive(Clone, Copy, Debug)]
enum Out {
    /// An event accepted by the ordering engine, at the queue's front.
    Queued,
    /// A Sync event: at `time`, the `n`th of the trace (go 1.25 format on;
    /// 0 before), with the generation's clock snapshot or not.
    Sync { time: i64, n: u64, snapshot: bool },
    /// A CPU sample.
    Sample(CpuSample),
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<Event<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.read_event().transpose()
    }
}

impl std::iter::FusedIterator for Reader<'_> {}
