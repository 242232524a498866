//! [`TracingLayer`]: a `tracing-subscriber` layer that puts a program's
//! `tracing` spans and events into the execution trace (cargo feature
//! `tracing`), so `go tool trace` and `gort-trace perfetto` show them
//! without new instrumentation:
//!
//! - a span entered on a goroutine is a user region of that goroutine
//!   (Go's `trace.WithRegion`), named after the span; nested spans nest;
//! - a root span carrying the field chosen with
//!   [`TracingLayer::task_field`] is a user task (Go's `trace.NewTask`),
//!   named after the span, that lasts until the span closes; the regions and
//!   logs of its descendants belong to it;
//! - an event is a user log (Go's `trace.Log`) with its level (`INFO`,
//!   `WARN`, ...) as the category and its fields as the message
//!   (`message k=v ...`).
//!
//! While no trace is being written, each callback costs one atomic load,
//! and entering or leaving a span on a goroutine a push or pop on a list of
//! the goroutine's own. Spans entered on a plain thread (not a goroutine)
//! write nothing, as the annotation functions of [`crate::trace`] do.
//!
//! The layer also makes span context follow goroutines: `tracing` tracks
//! the current span per thread, and a goroutine that blocks inside a span
//! may resume on another thread. With the layer installed, a goroutine that
//! suspends leaves its spans on the thread it leaves and enters them again
//! where it resumes (`task::spans`), so every layer of the subscriber sees
//! each goroutine's own spans as current, and spans close when their last
//! guard drops. A `pull` coroutine runs inside its caller's spans.
//!
//! ```no_run
//! use tracing_subscriber::prelude::*;
//! tracing_subscriber::registry()
//!     .with(gort_runtime::trace::TracingLayer::new().task_field("request_id"))
//!     .init();
//! ```
#![deny(unsafe_code)]

use crate::sched::context::Running;
use std::fmt::Write as _;
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id};
use tracing_core::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Puts `tracing` spans and events into the execution trace, and keeps
/// span context with goroutines as they move between threads. Spans become
/// user regions, root spans with [`task_field`](Self::task_field) user
/// tasks, events user logs with their level as category.
#[derive(Clone, Debug)]
pub struct TracingLayer {
    task_field: Option<&'static str>,
}

impl TracingLayer {
    /// A layer that writes regions and logs; no span becomes a task.
    pub fn new() -> TracingLayer {
        crate::task::spans::install(crate::task::spans::SwitchHooks {
            leave: leave_thread,
            resume: enter_thread,
        });
        TracingLayer { task_field: None }
    }

    /// Makes every root span that has a field named `name` a user task.
    pub fn task_field(mut self, name: &'static str) -> TracingLayer {
        self.task_field = Some(name);
        self
    }
}

thread_local! {
    /// Set while a goroutine's spans move between threads: the exits and
    /// entries that does are not the program's, and write nothing.
    static MOVING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn moving() -> bool {
    MOVING.with(|m| m.get())
}

/// A goroutine leaves this thread inside `spans` (outermost first).
fn leave_thread(spans: &[u64]) {
    MOVING.with(|m| m.set(true));
    tracing_core::dispatcher::get_default(|d| {
        for &id in spans.iter().rev() {
            d.exit(&Id::from_u64(id));
        }
    });
    MOVING.with(|m| m.set(false));
}

/// A goroutine resumes on this thread inside `spans`.
fn enter_thread(spans: &[u64]) {
    MOVING.with(|m| m.set(true));
    tracing_core::dispatcher::get_default(|d| {
        for &id in spans {
            d.enter(&Id::from_u64(id));
        }
    });
    MOVING.with(|m| m.set(false));
}

impl Default for TracingLayer {
    fn default() -> TracingLayer {
        TracingLayer::new()
    }
}

/// The task a span started, kept in the span's extensions; the task ends
/// when the span closes and this drops.
struct SpanTask(crate::trace_api::Task);

/// The user task that `id` and its ancestors belong to (0: background).
fn task_of<S>(ctx: &Context<'_, S>, id: &Id) -> u64
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(span) = ctx.span(id) else { return 0 };
    for s in span.scope() {
        if let Some(t) = s.extensions().get::<SpanTask>() {
            return t.0.id();
        }
    }
    0
}

impl<S> Layer<S> for TracingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !crate::hooks::enabled_anywhere() {
            return;
        }
        let Some(field) = self.task_field else { return };
        let root = attrs.is_root() || (attrs.is_contextual() && ctx.current_span().id().is_none());
        if !root || attrs.metadata().fields().field(field).is_none() {
            return;
        }
        if let Some(span) = ctx.span(id) {
            let task = crate::trace_api::new_task(attrs.metadata().name());
            span.extensions_mut().insert(SpanTask(task));
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if moving() {
            return;
        }
        if let Some(r) = Running::get() {
            r.with_spans(|v| v.push(id.into_u64()));
        }
        if !crate::hooks::enabled_anywhere() {
            return;
        }
        if let Some(span) = ctx.span(id) {
            crate::hooks::user_region_begin(task_of(&ctx, id), span.name());
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        if moving() {
            return;
        }
        if let Some(r) = Running::get() {
            let raw = id.into_u64();
            r.with_spans(|v| {
                if let Some(i) = v.iter().rposition(|&s| s == raw) {
                    v.remove(i);
                }
            });
        }
        if !crate::hooks::enabled_anywhere() {
            return;
        }
        if let Some(span) = ctx.span(id) {
            crate::hooks::user_region_end(task_of(&ctx, id), span.name());
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if !crate::hooks::enabled_anywhere() {
            return;
        }
        let mut msg = Message::default();
        event.record(&mut msg);
        let task = ctx.event_span(event).map_or(0, |s| task_of(&ctx, &s.id()));
        crate::hooks::user_log(task, event.metadata().level().as_str(), &msg.text);
    }
}

/// An event's fields as one line: the message first, then `name=value`.
#[derive(Default)]
struct Message {
    text: String,
}

impl Message {
    fn sep(&mut self) {
        if !self.text.is_empty() {
            self.text.push(' ');
        }
    }
}

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.text.insert_str(0, value);
            if self.text.len() > value.len() {
                self.text.insert(value.len(), ' ');
            }
        } else {
            self.sep();
            let _ = write!(self.text, "{}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let v = format!("{value:?}");
            self.record_str(field, &v);
        } else {
            self.sep();
            let _ = write!(self.text, "{}={value:?}", field.name());
        }
    }
}
