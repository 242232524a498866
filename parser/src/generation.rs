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

use std::sync::Arc;

use crate::batch::{Batch, BatchKind, BatchSource};
use crate::error::{Error, ErrorKind, Result};
use crate::resources::ThreadId;
use crate::tables::{CpuSample, Tables, TablesBuilder};

/// One loaded generation.
#[derive(Debug)]
pub(crate) struct Generation<'a> {
    /// The generation number.
    pub(crate) gen: u64,
    /// Event batches per thread, threads in ascending ID order.
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
) -> Result<Loaded<'a>> {
    let mut b = TablesBuilder::new();
    let mut threads: Vec<(ThreadId, Vec<Batch>)> = Vec::new();
    let mut gen = 0u64;
    if let Some((g, batch)) = spill {
        gen = g;
        route(src.bytes(), &mut b, &mut threads, batch).map_err(|e| e.in_generation(gen))?;
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
        route(src.bytes(), &mut b, &mut threads, batch)
            .map_err(|e| e.in_generation(gen).at_offset(batch.offset))?;
    }
    let storage = src.finish_generation(next.as_mut().map(|(_, b)| b));
    let (tables, samples) = b.finish(storage).map_err(|e| match gen {
        0 => e,
        _ => e.in_generation(gen),
    })?;
    threads.sort_by_key(|(m, _)| *m);
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

/// Adds one batch to the generation being built.
fn route(
    storage: &[u8],
    b: &mut TablesBuilder,
    threads: &mut Vec<(ThreadId, Vec<Batch>)>,
    batch: Batch,
) -> Result<()> {
    match batch.kind(storage) {
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
