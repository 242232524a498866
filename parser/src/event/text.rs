//! The text of an event (`go tool trace -d=1`, `-d=parsed` from Go 1.25
//! on), written straight into a byte buffer, as the Go that reads the
//! trace's format prints it: Go 1.23 for go 1.22/1.23 traces, Go 1.25 for
//! go 1.25 traces, Go 1.27 for go 1.26 traces.
//!
//! Layout (Go's `Event.String()`):
//!
//! ```text
//! M=<m> P=<p> G=<g> <Kind> Time=<ns><kind-specific suffix>
//! [\nTransitionStack=\n(\t<func> @ 0x<pc>\n\t\t<file>:<line>\n)*]
//! [\nStack=\n(\t<func> @ 0x<pc>\n\t\t<file>:<line>\n)*]
//! ```
//!
//! Strings in the suffix are quoted as Go's `%q` does; frame names are
//! written raw. What changed after Go 1.23:
//!
//! - Go 1.25: values print as `Value{Uint64(N)}`; Sync events carry
//!   ` N=<count>` and the clock snapshot of the generation they open
//!   (` Trace=<ns> Mono=<ns> Wall=<RFC 3339>`); experimental events list
//!   `name=value` pairs.
//! - Go 1.27 (go 1.26 format): a state transition prints
//!   ` GoID=<id> <from>-><to> Reason=<q>` (no `Resource=`), and the wall
//!   time has nanoseconds.

use gort_tracer::wire::Format;

use crate::raw::write_quoted;
use crate::resources::{ResourceId, Transition};

use super::wall::push_wall;
use super::{Event, EventKind, Stack};

/// The two-digit decimal strings `00` to `99`, back to back.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends `v` in decimal (two digits per division). The digits are
/// written in place over a fixed-size extension, which compiles to plain
/// stores rather than a variable-length copy.
#[inline]
pub(crate) fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let n = v.checked_ilog10().map_or(1, |d| d as usize + 1);
    let at = out.len();
    out.extend_from_slice(&[0u8; 20]);
    if let Some(dst) = out.get_mut(at..at + n) {
        let mut i = n;
        while v >= 100 {
            let d = (v % 100) as usize * 2;
            v /= 100;
            i -= 2;
            dst[i..i + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
        }
        if v >= 10 {
            let d = v as usize * 2;
            dst[..2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
        } else {
            dst[0] = b'0' + v as u8;
        }
    }
    out.truncate(at + n);
}

/// Appends `v` in decimal.
#[inline]
pub(crate) fn push_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    push_u64(out, v.unsigned_abs());
}

/// Appends `v` in lower-case hex, without prefix.
#[inline]
fn push_hex(out: &mut Vec<u8>, mut v: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 16];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = HEX[(v & 15) as usize];
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends Go's `%q` of `s`.
#[inline]
fn push_quoted(out: &mut Vec<u8>, s: &[u8]) {
    if s.iter()
        .all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        out.push(b'"');
        out.extend_from_slice(s);
        out.push(b'"');
    } else {
        let mut q = String::with_capacity(s.len() + 8);
        write_quoted(&mut q, s);
        out.extend_from_slice(q.as_bytes());
    }
}

fn push_resource(out: &mut Vec<u8>, r: ResourceId) {
    let (name, id): (&[u8], i64) = match r {
        ResourceId::None => {
            out.extend_from_slice(b"None");
            return;
        }
        ResourceId::Goroutine(g) => (b"Goroutine(", g.0),
        ResourceId::Proc(p) => (b"Proc(", p.0),
        ResourceId::Thread(m) => (b"Thread(", m.0),
    };
    out.extend_from_slice(name);
    push_i64(out, id);
    out.push(b')');
}

/// Appends the stack's frames, from the generation's cache of stack texts.
fn push_stack(out: &mut Vec<u8>, stack: &Stack<'_>) {
    match stack
        .tables
        .stack_text(stack.id, |buf| push_frames(buf, stack))
    {
        Some(text) => out.extend_from_slice(text),
        None => push_frames(out, stack),
    }
}

fn push_frames(out: &mut Vec<u8>, stack: &Stack<'_>) {
    for f in stack.frames() {
        out.push(b'\t');
        out.extend_from_slice(f.func);
        out.extend_from_slice(b" @ 0x");
        push_hex(out, f.pc);
        out.extend_from_slice(b"\n\t\t");
        out.extend_from_slice(f.file);
        out.push(b':');
        push_u64(out, f.line);
        out.push(b'\n');
    }
}

/// Appends a metric or attribute value: `Uint64(N)` as Go 1.23 prints it,
/// `Value{Uint64(N)}` from Go 1.25 on.
fn push_value(out: &mut Vec<u8>, v: u64, format: Format) {
    let boxed = format.has_sync_batches();
    if boxed {
        out.extend_from_slice(b"Value{");
    }
    out.extend_from_slice(b"Uint64(");
    push_u64(out, v);
    out.push(b')');
    if boxed {
        out.push(b'}');
    }
}

/// Appends the ` <ID>=<id> <from>-><to>` part of a state transition.
fn push_transition(out: &mut Vec<u8>, t: Transition) {
    let (label, id, from, to): (&[u8], i64, &str, &str) = match t {
        Transition::Goroutine { id, from, to } => (b" GoID=", id.0, from.name(), to.name()),
        Transition::Proc { id, from, to } => (b" ProcID=", id.0, from.name(), to.name()),
    };
    out.extend_from_slice(label);
    push_i64(out, id);
    out.push(b' ');
    out.extend_from_slice(from.as_bytes());
    out.extend_from_slice(b"->");
    out.extend_from_slice(to.as_bytes());
}

/// Appends the suffix of a Sync event from the go 1.25 format on.
fn push_sync(out: &mut Vec<u8>, e: &Event<'_>, format: Format) {
    out.extend_from_slice(b" N=");
    push_u64(out, e.args[0]);
    let snap = match e.tables.snapshot {
        Some(s) if e.args[1] != 0 => s,
        _ => return,
    };
    out.extend_from_slice(b" Trace=");
    push_i64(out, e.tables.freq.to_ns(snap.time));
    out.extend_from_slice(b" Mono=");
    push_u64(out, snap.mono);
    out.extend_from_slice(b" Wall=");
    push_wall(out, snap.sec, snap.nsec, format.has_end_of_generation());
}

/// Appends the event's text (without a final newline).
pub(crate) fn write(e: &Event<'_>, out: &mut Vec<u8>) {
    let format = e.tables.format;
    out.extend_from_slice(b"M=");
    push_i64(out, e.ctx.m.0);
    out.extend_from_slice(b" P=");
    push_i64(out, e.ctx.p.0);
    out.extend_from_slice(b" G=");
    push_i64(out, e.ctx.g.0);
    out.push(b' ');
    let kind = e.kind();
    out.extend_from_slice(kind.name().as_bytes());
    out.extend_from_slice(b" Time=");
    push_i64(out, e.time);
    match kind {
        EventKind::Sync if format.has_sync_batches() => push_sync(out, e, format),
        EventKind::Sync | EventKind::StackSample => {}
        EventKind::Metric => {
            if let Some(m) = e.metric() {
                out.extend_from_slice(b" Name=");
                push_quoted(out, m.name.as_bytes());
                out.extend_from_slice(b" Value=");
                push_value(out, m.value, format);
            }
        }
        EventKind::Label => {
            if let Some(l) = e.label() {
                out.extend_from_slice(b" Label=");
                push_quoted(out, l.label);
                out.extend_from_slice(b" Resource=");
                push_resource(out, l.resource);
            }
        }
        EventKind::RangeBegin | EventKind::RangeActive | EventKind::RangeEnd => {
            if let Some(r) = e.range() {
                out.extend_from_slice(b" Name=");
                push_quoted(out, &r.name);
                out.extend_from_slice(b" Scope=");
                push_resource(out, r.scope);
            }
            if kind == EventKind::RangeEnd {
                out.extend_from_slice(b" Attributes=[");
                for (i, a) in e.range_attributes().iter().enumerate() {
                    if i != 0 {
                        out.push(b' ');
                    }
                    push_quoted(out, a.name.as_bytes());
                    out.push(b'=');
                    push_value(out, a.value, format);
                }
                out.push(b']');
            }
        }
        EventKind::TaskBegin | EventKind::TaskEnd => {
            if let Some(t) = e.task() {
                out.extend_from_slice(b" ID=");
                push_u64(out, t.id.0);
                out.extend_from_slice(b" Parent=");
                push_u64(out, t.parent.0);
                out.extend_from_slice(b" Type=");
                push_quoted(out, t.kind);
            }
        }
        EventKind::RegionBegin | EventKind::RegionEnd => {
            if let Some(r) = e.region() {
                out.extend_from_slice(b" Task=");
                push_u64(out, r.task.0);
                out.extend_from_slice(b" Type=");
                push_quoted(out, r.kind);
            }
        }
        EventKind::Log => {
            if let Some(l) = e.log() {
                out.extend_from_slice(b" Task=");
                push_u64(out, l.task.0);
                out.extend_from_slice(b" Category=");
                push_quoted(out, l.category);
                out.extend_from_slice(b" Message=");
                push_quoted(out, l.message);
            }
        }
        EventKind::StateTransition => {
            if let Some(s) = e.state_transition() {
                if format.has_end_of_generation() {
                    push_transition(out, s.transition);
                    out.extend_from_slice(b" Reason=");
                    push_quoted(out, s.reason);
                } else {
                    out.extend_from_slice(b" Resource=");
                    push_resource(out, s.transition.resource());
                    out.extend_from_slice(b" Reason=");
                    push_quoted(out, s.reason);
                    push_transition(out, s.transition);
                }
                if let Some(stack) = &s.stack {
                    out.extend_from_slice(b"\nTransitionStack=\n");
                    push_stack(out, stack);
                }
            }
        }
        EventKind::Experimental => {
            if let Some(x) = e.experimental() {
                out.extend_from_slice(b" Name=");
                out.extend_from_slice(x.name.as_bytes());
                if format.has_sync_batches() {
                    out.extend_from_slice(b" Args=[");
                    for (i, (name, v)) in x.arg_names.iter().zip(x.args).enumerate() {
                        if i != 0 {
                            out.extend_from_slice(b", ");
                        }
                        out.extend_from_slice(name.as_bytes());
                        out.push(b'=');
                        push_value(out, *v, format);
                    }
                    out.push(b']');
                } else {
                    out.extend_from_slice(b" ArgNames=[");
                    out.extend_from_slice(x.arg_names.join(" ").as_bytes());
                    out.extend_from_slice(b"] Args=[");
                    for (i, a) in x.args.iter().enumerate() {
                        if i != 0 {
                            out.push(b' ');
                        }
                        push_u64(out, *a);
                    }
                    out.push(b']');
                }
            }
        }
    }
    if let Some(stack) = e.stack() {
        out.extend_from_slice(b"\nStack=\n");
        push_stack(out, &stack);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_like_go() {
        let mut out = Vec::new();
        push_i64(&mut out, -1);
        out.push(b' ');
        push_u64(&mut out, u64::MAX);
        out.push(b' ');
        push_hex(&mut out, 0x49c928);
        out.push(b' ');
        push_i64(&mut out, i64::MIN);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "-1 18446744073709551615 49c928 -9223372036854775808"
        );
    }

    #[test]
    fn decimals_match_std_at_every_length() {
        let mut vals = vec![0, 9, 10, 99, 100, u64::MAX];
        let mut p = 1u64;
        while let Some(q) = p.checked_mul(10) {
            vals.extend([p - 1, p, p + 1, q - 1]);
            p = q;
        }
        for v in vals {
            let mut out = b"x".to_vec();
            push_u64(&mut out, v);
            assert_eq!(out, format!("x{v}").into_bytes(), "{v}");
        }
    }

    #[test]
    fn quoting_escapes_like_go() {
        let mut out = Vec::new();
        push_quoted(&mut out, b"a\"b\\c\n\xff");
        assert_eq!(String::from_utf8(out).unwrap(), r#""a\"b\\c\n\xff""#);
    }
}
