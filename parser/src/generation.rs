//! Loading one generation: read its batches, build its tables, group its event
//! batches by thread.
//!
//! Steps of [`read_generation`]:
//! 1. Start with the batch spilled by the previous call, if any: it fixed the
//!    generation number.
//! 2. Read batches until the input ends or a batch of generation N+1 appears;
//!    that one is spilled (kept for the next call). Generation 0 or any other
//!    number is an error.
//! 3. Route each batch: tables (strings, stacks), CPU samples, the frequency,
//!    experimental data, or the per-thread list of event batches (in file
//!    order, which is each thread's chronological order).
//! 4. Check the tables and convert CPU sample times ([`TablesBuilder::finish`]).
//!
//! A read error after at least one batch of the generation has been read is
//! held back ([`Loaded::deferred`]): the caller emits the complete generation
//! first and reports the error afterwards, as Go does for truncated traces.
//!
//! From the go 1.26 format on, a generation ends with an `EndOfGeneration`
//! byte instead, and [`read_generation_marked`] reads up to it: nothing is
//! spilled, and a generation cut short by the end of input is an error
//! (unless it has no event batch yet: then the trace just ends).

use std::sync::Arc;

use gort_tracer::wire::Format;

use crate::batch::{Batch, BatchKind, BatchSource, Item};
use crate::error::{Error, ErrorKind, Result};
use crate::resources::ThreadId;
use crate::tables::{CpuSample, Tables, TablesBuilder};

/// One loaded generation.
#[derive(Debug)]
pub(crate) struct Generation<'a> {
    /// The generation number.
    pub(crate) gen: u64,
    /// Event batches per thread, threads in the order their cursors join
    /// the frontier.
    pub(crate) threads: Vec<(ThreadId, Vec<Batch>)>,
    /// CPU samples, sorted by time (nanoseconds).
    pub(crate) samples: Vec<CpuSample>,
    /// Strings, stacks, frequency and side data.
    pub(crate) tables: Arc<Tables<'a>>,
}

/// The result of [`read_generation`].
#[derive(Debug)]
pub(crate) struct Loaded<'a> {
    /// The generation read.
    pub(crate) generation: Generation<'a>,
    /// The first batch of the next generation, if one was seen.
    pub(crate) spill: Option<(u64, Batch)>,
    /// A read error to report after this generation's events.
    pub(crate) deferred: Option<Error>,
}

/// Reads the next generation from `src`, starting with `spill`.
///
/// Returns `Ok(None)` only if `spill` is `None` and the input has no more
/// batches; callers that saw no spill after a generation stop before that.
pub(crate) fn read_generation<'a, S: BatchSource<'a> + ?Sized>(
    src: &mut S,
    spill: Option<(u64, Batch)>,
    format: Format,
) -> Result<Loaded<'a>> {
    let mut b = TablesBuilder::new();
    let mut threads: Vec<(ThreadId, Vec<Batch>)> = Vec::new();
    let mut gen = 0u64;
    if let Some((g, batch)) = spill {
        gen = g;
        route(src.bytes(), &mut b, &mut threads, batch, format)
            .map_err(|e| e.in_generation(gen))?;
    }
    let mut deferred = None;
    let mut next = None;
    loop {
        let (g, batch) = match src.next_batch() {
            Ok(Some(x)) => x,
            Ok(None) => break,
            Err(e) if gen != 0 => {
                deferred = Some(e);
                break;
            }
            Err(e) => return Err(e),
        };
        if g == 0 {
            return Err(Error::new(
                ErrorKind::GenerationsOutOfOrder,
                "invalid generation number 0",
            )
            .at_offset(batch.offset));
        }
        if gen == 0 {
            gen = g;
        }
        if g == gen.wrapping_add(1) {
            next = Some((g, batch));
            break;
        }
        if g != gen {
            return Err(
                Error::new(ErrorKind::GenerationsOutOfOrder, "generations out of order")
                    .at_offset(batch.offset),
            );
        }
        route(src.bytes(), &mut b, &mut threads, batch, format)
            .map_err(|e| e.in_generation(gen).at_offset(batch.offset))?;
    }
    let storage = src.finish_generation(next.as_mut().map(|(_, b)| b));
    let (tables, samples) = b.finish(storage, format).map_err(|e| match gen {
        0 => e,
        _ => e.in_generation(gen),
    })?;
    order_threads(&mut threads, format);
    Ok(Loaded {
        generation: Generation {
            gen,
            threads,
            samples,
            tables: Arc::new(tables),
        },
        spill: next,
        deferred,
    })
}

/// Reads the next generation of a go 1.26 (or later) trace, up to its
/// `EndOfGeneration` mark; `Ok(None)` at the end of the trace.
pub(crate) fn read_generation_marked<'a, S: BatchSource<'a> + ?Sized>(
    src: &mut S,
    format: Format,
) -> Result<Option<Generation<'a>>> {
    let mut b = TablesBuilder::new();
    let mut threads: Vec<(ThreadId, Vec<Batch>)> = Vec::new();
    let mut gen = 0u64;
    loop {
        let (g, batch) = match src.next_item()? {
            None if threads.is_empty() => return Ok(None),
            None => {
                return Err(Error::new(
                    ErrorKind::UnexpectedEof,
                    "incomplete generation found; trace likely truncated",
                )
                .in_generation(gen))
            }
            Some(Item::EndOfGeneration(_)) => break,
            Some(Item::Batch(g, batch)) => (g, batch),
        };
        if gen == 0 {
            gen = g;
        }
        if g == 0 {
            return Err(Error::new(
                ErrorKind::GenerationsOutOfOrder,
                "invalid generation number 0",
            )
            .at_offset(batch.offset));
        }
        if g != gen {
            return Err(Error::new(
                ErrorKind::GenerationsOutOfOrder,
                "broken trace: missing end-of-generation event, or generations are interleaved",
            )
            .at_offset(batch.offset));
        }
        route(src.bytes(), &mut b, &mut threads, batch, format)
            .map_err(|e| e.in_generation(gen).at_offset(batch.offset))?;
    }
    let storage = src.finish_generation(None);
    let (tables, samples) = b.finish(storage, format).map_err(|e| match gen {
        0 => e,
        _ => e.in_generation(gen),
    })?;
    order_threads(&mut threads, format);
    Ok(Some(Generation {
        gen,
        threads,
        samples,
        tables: Arc::new(tables),
    }))
}

/// Puts the threads in the order their cursors join the frontier: Go 1.23
/// walks a map (random order; ascending thread IDs here), later Go the order
/// in which threads first appear in the generation.
fn order_threads(threads: &mut [(ThreadId, Vec<Batch>)], format: Format) {
    if !format.has_sync_batches() {
        threads.sort_by_key(|(m, _)| *m);
    }
}

/// Adds one batch to the generation being built.
fn route(
    storage: &[u8],
    b: &mut TablesBuilder,
    threads: &mut Vec<(ThreadId, Vec<Batch>)>,
    batch: Batch,
    format: Format,
) -> Result<()> {
    b.note_batch_time(batch.time);
    match batch.kind(storage, format) {
        BatchKind::Sync => b.add_sync(batch.data(storage), batch.time),
        BatchKind::Strings => b.add_strings(storage, batch.start, batch.end),
        BatchKind::Stacks => b.add_stacks(batch.data(storage)),
        BatchKind::CpuSamples => b.add_cpu_samples(batch.data(storage)),
        BatchKind::Frequency => b.add_frequency(batch.data(storage)),
        BatchKind::Experimental(exp) => {
            b.add_experimental(exp, batch.m, batch.start, batch.end - batch.start);
            Ok(())
        }
        BatchKind::Events => {
            match threads.iter_mut().rev().find(|(m, _)| *m == batch.m) {
                Some((_, list)) => list.push(batch),
                None => threads.push((batch.m, vec![batch])),
            }
            Ok(())
        }
    }
}
