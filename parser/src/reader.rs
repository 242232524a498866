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
//! Equal times on different threads: Go picks between them in an order that
//! depends on map iteration, so two runs of Go's reader can swap such events.
//! This reader moves its frontier heap exactly as Go's does but builds it in
//! ascending thread order, so its output is the same on every run and matches
//! Go's whenever Go's does not depend on the iteration order (see the
//! `cursor` module).

use std::fmt::Write as _;
use std::io::{BufReader, Read};
use std::sync::Arc;

use gort_tracer::wire::header::{parse_header, Version, HEADER_LEN};
use gort_tracer::wire::EventType;

use crate::batch::{Batch, BatchSource, SliceSource, StreamSource};
use crate::cursor::{Cursor, Frontier, MAX_ARGS};
use crate::error::{Error, ErrorKind, Result};
use crate::event::Event;
use crate::generation::read_generation;
use crate::order::state::SchedCtx;
use crate::order::Ordering;
use crate::tables::{CpuSample, Tables};

/// Reads a Go 1.22/1.23 execution trace and yields its events in order.
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
    /// The event last returned by [`Reader::next_event`].
    slot: Option<Event<'a>>,
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

/// Checks the 16-byte header.
fn check_header(h: &[u8]) -> Result<()> {
    match parse_header(h) {
        Version::Go1(_) => Ok(()),
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

impl<'a> Reader<'a> {
    fn with_source(src: Box<dyn BatchSource<'a> + 'a>) -> Reader<'a> {
        Reader {
            src,
            spill: None,
            deferred: None,
            gen: 0,
            tables: None,
            frontier: Frontier::default(),
            samples: Vec::new().into_iter(),
            next_sample: None,
            order: Ordering::new(),
            slot: None,
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
    /// does not start with a Go 1.22/1.23 trace header.
    pub fn from_slice(data: &'a [u8]) -> Result<Reader<'a>> {
        check_header(data.get(..HEADER_LEN).unwrap_or(data))?;
        Ok(Reader::with_source(Box::new(SliceSource::new(
            data, HEADER_LEN,
        ))))
    }

    /// A reader over a stream; one generation at a time is held in memory.
    ///
    /// # Errors
    ///
    /// As [`Reader::from_slice`], plus I/O errors reading the header.
    pub fn new<R: Read + 'a>(r: R) -> Result<Reader<'a>> {
        let mut r = BufReader::with_capacity(1 << 16, r);
        let mut h = [0u8; HEADER_LEN];
        let mut n = 0;
        while n < HEADER_LEN {
            match r.read(&mut h[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        check_header(&h[..n])?;
        Ok(Reader::with_source(Box::new(StreamSource::new(
            r,
            HEADER_LEN as u64,
        ))))
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
        let out = match self.step() {
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
        let Some(ev) = self.slot.as_mut() else {
            return Ok(None);
        };
        if let Err(e) = ev.check_ids() {
            self.done = true;
            return Err(e.in_generation(self.gen));
        }
        if ev.time <= self.last_ts {
            ev.time = self.last_ts.wrapping_add(1);
        }
        self.last_ts = ev.time;
        Ok(self.slot.as_ref())
    }

    /// Writes what [`Self::step`] produced into the event slot, reusing the
    /// slot's handle on the generation's tables when it is the same one.
    #[inline]
    fn fill(&mut self, out: Out) -> bool {
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
            Out::Sync => (SchedCtx::NONE, None, self.last_ts, [0; MAX_ARGS], None),
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
        match &mut self.slot {
            Some(ev) if Arc::ptr_eq(&ev.tables, tables) => {
                ev.ctx = ctx;
                ev.typ = typ;
                ev.time = time;
                ev.args = args;
                ev.task_type = task_type;
            }
            slot => {
                *slot = Some(Event {
                    tables: Arc::clone(tables),
                    ctx,
                    typ,
                    time,
                    args,
                    task_type,
                })
            }
        }
        true
    }

    fn step(&mut self) -> Result<Option<Out>> {
        if self.order.has_next() {
            return Ok(Some(Out::Queued));
        }
        if self.frontier.is_empty() && self.next_sample.is_none() {
            if !self.emitted_sync {
                self.emitted_sync = true;
                return Ok(self.tables.is_some().then_some(Out::Sync));
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
            return Err(Error::new(
                ErrorKind::Stalled,
                format!(
                    "broken trace: frontier is empty:\n[gen={}]\n\n{}\n{}\n",
                    self.gen,
                    self.dump_frontier(),
                    self.order.dump()
                ),
            ));
        }
        if !self.try_advance(0)? {
            self.frontier.sort();
            let mut advanced = false;
            for i in 1..self.frontier.len() {
                if self.try_advance(i)? {
                    advanced = true;
                    break;
                }
            }
            if !advanced {
                return Err(Error::new(
                    ErrorKind::Stalled,
                    format!(
                        "broken trace: failed to advance: frontier:\n[gen={}]\n\n{}\n{}\n",
                        self.gen,
                        self.dump_frontier(),
                        self.order.dump()
                    ),
                )
                .in_generation(self.gen));
            }
        }
        match self.order.has_next() {
            true => Ok(Some(Out::Queued)),
            false => Err(Error::new(
                ErrorKind::Stalled,
                "an advanced event produced no output",
            )),
        }
    }

    /// Tries to advance the cursor at heap position `i`.
    fn try_advance(&mut self, i: usize) -> Result<bool> {
        let Some(tables) = self.tables.as_deref() else {
            return Ok(false);
        };
        let Some(c) = self.frontier.get_mut(i) else {
            return Ok(false);
        };
        let typ = c.ev.typ;
        let m = c.m;
        if !self
            .order
            .advance(&mut c.ev, tables, m, &mut c.slot, self.gen)
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

    fn load_generation(&mut self) -> Result<()> {
        let loaded = read_generation(&mut *self.src, self.spill.take())?;
        self.spill = loaded.spill;
        self.deferred = loaded.deferred;
        let g = loaded.generation;
        self.gen = g.gen;
        self.frontier = Frontier::default();
        for (m, batches) in g.threads {
            let mut c = Cursor::new(m, batches);
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
            let spec = c.ev.typ.spec();
            let _ = write!(s, "M {} [{} time={}", c.m, spec.name, c.ev.time);
            for (name, v) in spec.args.iter().skip(1).zip(c.ev.args.iter()) {
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
    /// The end of the generation.
    Sync,
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
