//! gort's execution tracer: Go 1.23's trace wire format and its writer.
//!
//! Traces written here are Go 1.23 execution traces (`go 1.23 trace` header):
//! `go tool trace` from Go 1.23 or later opens them, Go's `gotracevalidate`
//! accepts them, and `gort-parser` reads them back.
//!
//! - [`wire`]: the format itself (event table, varints, header, statuses). It
//!   depends on nothing else in this crate; the parser uses it alone.
//! - the writer (feature `writer`, on by default): everything below.
//!
//! # API (what the runtime calls)
//!
//! The tracer never sees runtime types: only plain IDs and three small state
//! structs the runtime embeds in its own M, G and P structures.
//!
//! | item | role |
//! |---|---|
//! | `unsafe` [`enabled_on_m()`] / [`enabled()`] | tracing is on: a plain load for the Ms (`#[inline(always)]`), an atomic one for any other thread |
//! | [`ThreadTrace::register`]`(m) -> Arc<ThreadTrace>` / [`ThreadTrace::retire`] | per M: seqlock, two buffers, caches; listed for the advancer |
//! | [`GoTrace`], [`ProcTrace`] (`Default`) | per G / per P: status-written stamps and sequence counters |
//! | [`acquire`]`(&ThreadTrace) -> Option<Locker>` | `None` when off; else holds the M's seqlock (`!Send`, drop releases) |
//! | `unsafe` [`acquire_local`] | the same for a `ThreadTrace` used by its own thread only: no locked instruction |
//! | [`Locker::string`], [`Locker::stack`]`(&[Frame])` | per-generation string and stack IDs |
//! | [`Locker::writer`]`(p, g) -> EventWriter` | the M's P and G with their status just before the event; lazy statuses |
//! | [`EventWriter`] methods | one per event: `go_create`, `go_start`, `go_block`, `go_switch`, `proc_steal`, ... |
//! | [`Config`], [`start`], [`begin_stop`], [`finish_stop`] | session control (`start`/`begin_stop` while no M reads the flag) |
//! | [`StatusSource`] (`for_each_goroutine`, `for_each_proc`) | optional: lets the advancer write end-of-generation statuses |
//! | [`has_failed`], [`advance_now`] | the writer failed (events are being discarded); end a generation now |
//! | [`Ring`], [`start_ring`], [`Snapshot`], [`snapshot`] | a flight recorder: a session that keeps its recent generations in memory, and writing them out |
//! | [`Stats`], [`StartError`], [`TraceError`] | results |
//!
//! A scheduling step looks like this:
//!
//! ```
//! # #[cfg(feature = "writer")] {
//! use gort_tracer::{acquire, GoTrace, ProcTrace, ThreadTrace};
//! use gort_tracer::wire::{GoStatus, ProcStatus};
//!
//! let m = ThreadTrace::register(7);
//! let (p, g, next) = (ProcTrace::default(), GoTrace::default(), GoTrace::default());
//! // ... the runtime changes states under the locker, then:
//! if let Some(mut l) = acquire(&m) {
//!     l.writer(Some((0, &p, ProcStatus::Running)), Some((1, &g, GoStatus::Running)))
//!         .go_unblock(2, &next, 0);
//! } // tracing is off here: nothing was written
//! m.retire();
//! # }
//! ```
//!
//! Rules for the runtime: change a traced resource's status only while
//! holding its M's locker, and write the event under the same locker; never
//! park or switch stacks while holding a locker; keep one `ThreadTrace` per
//! thread. Ps and goroutines are identified by plain numbers (never reuse a
//! goroutine ID; avoid 0). A `StatusSource` should report running and
//! syscall resources with their thread: the advancer then writes their
//! end-of-generation status in that thread's stream, which is what keeps a
//! goroutine that runs a whole generation without events describable.
//!
//! # Clock and cost
//!
//! Timestamps come from `rdtsc >> 6` on x86-64 with an invariant TSC (the
//! frequency is measured against the monotonic clock over the first
//! generation), else from the monotonic clock in units of 64 ns, Go's choice.
//! Writing one event costs about one clock read plus ten nanoseconds, and
//! about 7 bytes of output (see `benches/emit.rs`).
//!
//! # Cargo features
//!
//! - `writer` (default): the writer. Without it only [`wire`] is built.
//!
//! # Design
//!
//! `state` (flag, settings, generation), `locker` (seqlock), `fence` (the seqlock's asymmetric fence), `emit` (events and lazy statuses), `writer`
//! (batch encoding), `buf` (byte buffers), `batches` (the advancer's table batches), `strings`/`stacks` (interning),
//! `status` (per-resource state), `registry` (per-M state), `generation`
//! (advance protocol), `sink` (ordered output thread), `ring` (generations
//! kept in memory for a flight recorder), `clock`, `session`.
//! Shared state comes from the `loom` shim so the protocols can be model
//! checked with `--cfg loom`.
//!
//! `unsafe` appears only where the protocols need it, each block with its
//! argument: `state` (the unsynchronised enabled flag and settings),
//! `locker` (the seqlock taken with plain stores), `fence` (the `membarrier` system call), `registry`
//! (per-M buffers reached by the advancer), `buf` and `writer` (the event
//! encoder's writes into room checked once per event), `session` (the `unsafe fn` entry
//! points that write the flag while no M reads it), `clock` (`rdtsc`,
//! `cpuid`) and the `loom` shim. Every other module denies it.

pub mod wire;

#[cfg(feature = "writer")]
mod batches;
#[cfg(feature = "writer")]
mod buf;
#[cfg(feature = "writer")]
mod clock;
#[cfg(feature = "writer")]
mod emit;
#[cfg(feature = "writer")]
pub mod fence;
#[cfg(feature = "writer")]
mod generation;
#[cfg(feature = "writer")]
mod locker;
#[cfg(feature = "writer")]
mod loom;
#[cfg(feature = "writer")]
mod registry;
#[cfg(feature = "writer")]
mod ring;
#[cfg(feature = "writer")]
mod session;
#[cfg(feature = "writer")]
mod sink;
#[cfg(feature = "writer")]
mod stacks;
#[cfg(feature = "writer")]
mod state;
#[cfg(feature = "writer")]
mod status;
#[cfg(feature = "writer")]
mod strings;
#[cfg(feature = "writer")]
mod writer;

#[cfg(all(test, feature = "writer"))]
mod tests;

#[cfg(feature = "writer")]
pub use crate::{
    emit::EventWriter,
    locker::{acquire, acquire_local, Locker},
    registry::ThreadTrace,
    ring::Ring,
    session::{
        advance_now, begin_stop, finish_stop, has_failed, snapshot, start, start_ring, Config,
        Snapshot, SnapshotError, StartError, Stats, StatusSource, TraceError,
    },
    stacks::Frame,
    state::{enabled, enabled_on_m},
    status::{GoTrace, ProcTrace},
};
