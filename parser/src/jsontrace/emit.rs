//! The JSON side of the trace viewer format: events encoded as Go's
//! `encoding/json` encodes `traceviewer/format.Event` (field order, omitted
//! zero fields, HTML-safe string escapes, shortest float forms), and the
//! prefix tree of stack frames behind `sf`/`esf` and `stackFrames`.

use std::collections::HashMap;

use crate::event::Stack;
use crate::tables::IdMap;

/// A viewer-side name; the composite ones are written without building a
/// string first. Parts marked escaped are JSON string contents already
/// (see [`put_str_body`]).
#[derive(Clone, Copy, Debug)]
pub(super) enum Name<'a> {
    /// Plain bytes.
    Bytes(&'a [u8]),
    /// Escaped bytes.
    Escaped(&'a [u8]),
    /// A goroutine: `G<id>[ <func>][ (<label>)]`, `func` and `label` escaped.
    Goroutine {
        id: i64,
        func: Option<&'a [u8]>,
        label: &'a [u8],
    },
    /// A user log: `[<category>] <message>`, or the message alone.
    Log {
        category: &'a [u8],
        message: &'a [u8],
    },
    /// `unblock`, or `unblock (<reason>)` for a non-empty reason (escaped).
    Unblock(&'a [u8]),
}

/// The `args` of an event.
#[derive(Clone, Copy, Debug)]
pub(super) enum Args<'a> {
    /// No `args`.
    None,
    /// `{"ThreadID":M}` (Go 1.23 and 1.25 proc starts).
    ThreadId(u64),
    /// `{"thread":M,"proc":P}`, zeros omitted (Go 1.27 proc starts and stops).
    SchedCtx { thread: u64, proc: u64 },
    /// `{"blocked":"yes"|"no"}` (syscalls).
    Blocked(bool),
    /// The goroutine counters.
    Goroutines {
        running: u64,
        runnable: u64,
        gc_waiting: u64,
    },
    /// The thread counters.
    Threads { running: i64, in_syscall: i64 },
    /// The heap counters.
    Heap { allocated: u64, next_gc: u64 },
    /// `{"name":...}` (metadata).
    MetaName(&'a [u8]),
    /// `{"sort_index":N}` (metadata).
    SortIndex(i64),
}

/// One viewer event (`format.Event`); zero fields are omitted as Go omits
/// them (`ts`, `pid` and `tid` are always written).
#[derive(Clone, Copy, Debug)]
pub(super) struct ViewerEvent<'a> {
    pub(super) name: Name<'a>,
    pub(super) ph: &'static str,
    pub(super) scope: &'static str,
    /// Nanoseconds since the trace's first event (written as microseconds).
    pub(super) ts: i64,
    pub(super) dur: i64,
    pub(super) pid: u64,
    pub(super) tid: u64,
    pub(super) id: u64,
    pub(super) sf: u32,
    pub(super) esf: u32,
    pub(super) args: Args<'a>,
    pub(super) cat: &'static str,
}

impl Default for ViewerEvent<'_> {
    fn default() -> Self {
        ViewerEvent {
            name: Name::Bytes(b""),
            ph: "",
            scope: "",
            ts: 0,
            dur: 0,
            pid: 0,
            tid: 0,
            id: 0,
            sf: 0,
            esf: 0,
            args: Args::None,
            cat: "",
        }
    }
}

/// Appends `v` in decimal.
#[inline]
pub(super) fn put_u64(out: &mut Vec<u8>, v: u64) {
    // Most numbers (pids, small counters) are one digit: inline; the rest
    // out of line.
    if v < 10 {
        out.push(b'0' + v as u8);
    } else {
        put_u64_long(out, v);
    }
}

/// [`put_u64`] of a number of two digits or more (the event text's decimal
/// writer).
#[inline(never)]
fn put_u64_long(out: &mut Vec<u8>, v: u64) {
    crate::event::text::push_u64(out, v);
}

/// Appends `v` in decimal.
pub(super) fn put_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    put_u64(out, v.unsigned_abs());
}

/// Appends `ns / 1000` as Go's `encoding/json` writes the float64
/// `float64(ns) / 1000`: the shortest decimal that reads back as that float.
///
/// Below 10^15 ns the float is the one nearest to the exact decimal
/// `ns / 1000`, which has at most 15 significant digits and so is the
/// shortest form itself; it is written from the integer directly.
pub(super) fn put_micros(out: &mut Vec<u8>, ns: i64) {
    const EXACT: u64 = 1_000_000_000_000_000;
    let a = ns.unsigned_abs();
    if a >= EXACT {
        let f = ns as f64 / 1000.0;
        if f.abs() >= 1e21 {
            put_go_exponent(out, f);
        } else {
            out.extend_from_slice(format!("{f}").as_bytes());
        }
        return;
    }
    if ns < 0 {
        out.push(b'-');
    }
    put_u64(out, a / 1000);
    let mut frac = a % 1000;
    if frac != 0 {
        out.push(b'.');
        let mut digits = 3;
        while frac % 10 == 0 {
            frac /= 10;
            digits -= 1;
        }
        let s = [
            b'0' + (frac / 100 % 10) as u8,
            b'0' + (frac / 10 % 10) as u8,
            b'0' + (frac % 10) as u8,
        ];
        out.extend_from_slice(&s[3 - digits..]);
    }
}

/// Go's `encoding/json` form of a float at or above 1e21: `1e+21`,
/// `1.5e+22` (the shortest digits, a signed exponent of at least two
/// digits written without padding beyond Go's).
fn put_go_exponent(out: &mut Vec<u8>, f: f64) {
    // Rust's `{:e}` gives `1.5e22`; Go writes `1.5e+22`.
    let s = format!("{f:e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    out.extend_from_slice(mant.as_bytes());
    out.push(b'e');
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => (b'-', d),
        None => (b'+', exp),
    };
    out.push(sign);
    if digits.len() < 2 {
        out.push(b'0');
    }
    out.extend_from_slice(digits.as_bytes());
}

/// Whether Go's HTML-safe JSON string encoder writes ASCII byte `b` as is.
const fn html_safe(b: u8) -> bool {
    b >= 0x20 && b != b'"' && b != b'\\' && b != b'<' && b != b'>' && b != b'&' && b < 0x80
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends the contents of a JSON string (no quotes) as Go's
/// `encoding/json` escapes it with HTML escaping on: `<>&`, control bytes,
/// U+2028/U+2029 as `\u` escapes, each byte of invalid UTF-8 as `\ufffd`.
pub(super) fn put_str_body(out: &mut Vec<u8>, s: &[u8]) {
    if s.iter().all(|&b| html_safe(b)) {
        out.extend_from_slice(s);
        return;
    }
    let mut start = 0;
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b < 0x80 {
            if html_safe(b) {
                i += 1;
                continue;
            }
            out.extend_from_slice(&s[start..i]);
            match b {
                b'\\' | b'"' => out.extend_from_slice(&[b'\\', b]),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                _ => out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0xf)],
                ]),
            }
            i += 1;
            start = i;
            continue;
        }
        let end = (i + 4).min(s.len());
        let valid = match std::str::from_utf8(&s[i..end]) {
            Ok(_) => true,
            Err(e) => e.valid_up_to() > 0,
        };
        // A valid sequence's length follows from its lead byte.
        let size = match (valid, b) {
            (false, _) => 0,
            (true, 0xc0..=0xdf) => 2,
            (true, 0xe0..=0xef) => 3,
            (true, _) => 4,
        };
        if size == 0 {
            out.extend_from_slice(&s[start..i]);
            out.extend_from_slice(b"\\ufffd");
            i += 1;
            start = i;
            continue;
        }
        // U+2028 and U+2029 are E2 80 A8 / E2 80 A9.
        if size == 3 && s[i] == 0xe2 && s[i + 1] == 0x80 && (s[i + 2] == 0xa8 || s[i + 2] == 0xa9) {
            out.extend_from_slice(&s[start..i]);
            out.extend_from_slice(if s[i + 2] == 0xa8 {
                b"\\u2028"
            } else {
                b"\\u2029"
            });
            i += 3;
            start = i;
            continue;
        }
        i += size;
    }
    out.extend_from_slice(&s[start..]);
}

/// Appends a quoted JSON string.
pub(super) fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    put_str_body(out, s);
    out.push(b'"');
}

fn put_name(out: &mut Vec<u8>, name: Name<'_>) {
    out.push(b'"');
    match name {
        Name::Bytes(b) => put_str_body(out, b),
        Name::Escaped(b) => out.extend_from_slice(b),
        Name::Goroutine { id, func, label } => {
            out.push(b'G');
            put_i64(out, id);
            if let Some(f) = func {
                out.push(b' ');
                out.extend_from_slice(f);
            }
            if !label.is_empty() {
                out.extend_from_slice(b" (");
                out.extend_from_slice(label);
                out.push(b')');
            }
        }
        Name::Log { category, message } => {
            if !category.is_empty() {
                out.push(b'[');
                put_str_body(out, category);
                out.extend_from_slice(b"] ");
            }
            put_str_body(out, message);
        }
        Name::Unblock(reason) => {
            out.extend_from_slice(b"unblock");
            if !reason.is_empty() {
                out.extend_from_slice(b" (");
                out.extend_from_slice(reason);
                out.push(b')');
            }
        }
    }
    out.push(b'"');
}

fn name_is_empty(name: Name<'_>) -> bool {
    match name {
        Name::Bytes(b) | Name::Escaped(b) => b.is_empty(),
        Name::Log { category, message } => category.is_empty() && message.is_empty(),
        Name::Goroutine { .. } | Name::Unblock(_) => false,
    }
}

fn put_args(out: &mut Vec<u8>, args: Args<'_>) {
    match args {
        Args::None => {}
        Args::ThreadId(m) => {
            out.extend_from_slice(b"{\"ThreadID\":");
            put_u64(out, m);
            out.push(b'}');
        }
        Args::SchedCtx { thread, proc } => {
            out.push(b'{');
            if thread != 0 {
                out.extend_from_slice(b"\"thread\":");
                put_u64(out, thread);
            }
            if proc != 0 {
                if thread != 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"\"proc\":");
                put_u64(out, proc);
            }
            out.push(b'}');
        }
        Args::Blocked(b) => out.extend_from_slice(if b {
            b"{\"blocked\":\"yes\"}"
        } else {
            b"{\"blocked\":\"no\"}"
        }),
        Args::Goroutines {
            running,
            runnable,
            gc_waiting,
        } => {
            out.extend_from_slice(b"{\"Running\":");
            put_u64(out, running);
            out.extend_from_slice(b",\"Runnable\":");
            put_u64(out, runnable);
            out.extend_from_slice(b",\"GCWaiting\":");
            put_u64(out, gc_waiting);
            out.push(b'}');
        }
        Args::Threads {
            running,
            in_syscall,
        } => {
            out.extend_from_slice(b"{\"Running\":");
            put_i64(out, running);
            out.extend_from_slice(b",\"InSyscall\":");
            put_i64(out, in_syscall);
            out.push(b'}');
        }
        Args::Heap { allocated, next_gc } => {
            out.extend_from_slice(b"{\"Allocated\":");
            put_u64(out, allocated);
            out.extend_from_slice(b",\"NextGC\":");
            put_u64(out, next_gc);
            out.push(b'}');
        }
        Args::MetaName(n) => {
            out.extend_from_slice(b"{\"name\":");
            put_str(out, n);
            out.push(b'}');
        }
        Args::SortIndex(i) => {
            out.extend_from_slice(b"{\"sort_index\":");
            put_i64(out, i);
            out.push(b'}');
        }
    }
}

/// Appends `ev` as `json.Encoder.Encode` writes a `format.Event`, with the
/// encoder's newline.
pub(super) fn put_event(out: &mut Vec<u8>, ev: &ViewerEvent<'_>) {
    out.push(b'{');
    if !name_is_empty(ev.name) {
        out.extend_from_slice(b"\"name\":");
        put_name(out, ev.name);
        out.push(b',');
    }
    out.extend_from_slice(b"\"ph\":\"");
    out.extend_from_slice(ev.ph.as_bytes());
    out.push(b'"');
    if !ev.scope.is_empty() {
        out.extend_from_slice(b",\"s\":");
        put_str(out, ev.scope.as_bytes());
    }
    out.extend_from_slice(b",\"ts\":");
    put_micros(out, ev.ts);
    if ev.dur != 0 {
        out.extend_from_slice(b",\"dur\":");
        put_micros(out, ev.dur);
    }
    out.extend_from_slice(b",\"pid\":");
    put_u64(out, ev.pid);
    out.extend_from_slice(b",\"tid\":");
    put_u64(out, ev.tid);
    if ev.id != 0 {
        out.extend_from_slice(b",\"id\":");
        put_u64(out, ev.id);
    }
    if ev.sf != 0 {
        out.extend_from_slice(b",\"sf\":");
        put_u64(out, u64::from(ev.sf));
    }
    if ev.esf != 0 {
        out.extend_from_slice(b",\"esf\":");
        put_u64(out, u64::from(ev.esf));
    }
    if !matches!(ev.args, Args::None) {
        out.extend_from_slice(b",\"args\":");
        put_args(out, ev.args);
    }
    if !ev.cat.is_empty() {
        out.extend_from_slice(b",\"cat\":");
        put_str(out, ev.cat.as_bytes());
    }
    out.extend_from_slice(b"}\n");
}

/// One node of the frame tree: a frame under its caller's node.
#[derive(Clone, Debug)]
struct FrameNode {
    /// `func:line`, unescaped.
    name: Box<[u8]>,
    /// The caller's node (0: the root).
    parent: u32,
    /// Referenced by an event that was written.
    required: bool,
}

/// The frame prefix tree of Go's trace viewer emitter: a stack becomes the
/// node of its leaf frame, reached from the root through its frames
/// outermost first, each keyed by PC under its caller. Node IDs count from
/// 1 in creation order; 0 is the empty stack.
#[derive(Debug, Default)]
pub(super) struct FrameTree {
    /// Nodes by ID - 1.
    nodes: Vec<FrameNode>,
    /// Child node by (parent ID, PC).
    children: HashMap<(u32, u64), u32, std::hash::BuildHasherDefault<crate::tables::IdHasher>>,
    /// Node of each stack ID of the current generation.
    cache: IdMap<u64, u32>,
    /// Nodes marked required since the last commit.
    undo: Vec<u32>,
    scratch: Vec<u8>,
}

impl FrameTree {
    /// The node of `stack` (0 for none or an empty stack).
    pub(super) fn node(&mut self, stack: Option<Stack<'_>>) -> u32 {
        let Some(stack) = stack else {
            return 0;
        };
        if let Some(&n) = self.cache.get(&stack.id()) {
            return n;
        }
        let mut parent = 0u32;
        for f in stack.frames().rev() {
            parent = match self.children.get(&(parent, f.pc)) {
                Some(&n) => n,
                None => {
                    self.scratch.clear();
                    self.scratch.extend_from_slice(f.func);
                    self.scratch.push(b':');
                    put_u64(&mut self.scratch, f.line);
                    self.nodes.push(FrameNode {
                        name: self.scratch.as_slice().into(),
                        parent,
                        required: false,
                    });
                    let id = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX);
                    self.children.insert((parent, f.pc), id);
                    id
                }
            };
        }
        self.cache.insert(stack.id(), parent);
        parent
    }

    /// Forgets the stack IDs of the generation that ended.
    pub(super) fn new_generation(&mut self) {
        self.cache.clear();
    }

    /// Marks `node` and its callers as referenced by a written event.
    pub(super) fn require(&mut self, mut node: u32) {
        while node != 0 {
            let Some(n) = self.nodes.get_mut(node as usize - 1) else {
                return;
            };
            if n.required {
                return;
            }
            n.required = true;
            self.undo.push(node);
            node = n.parent;
        }
    }

    /// Keeps the marks made since the last commit.
    pub(super) fn commit(&mut self) {
        self.undo.clear();
    }

    /// Drops the marks made since the last commit.
    pub(super) fn rollback(&mut self) {
        for &n in &self.undo {
            if let Some(node) = self.nodes.get_mut(n as usize - 1) {
                node.required = false;
            }
        }
        self.undo.clear();
    }

    /// Appends the `stackFrames` object: the required nodes, keyed by ID in
    /// string order (as Go encodes a `map[string]Frame`), and the newline.
    pub(super) fn put_frames(&self, out: &mut Vec<u8>) {
        let mut keys: Vec<(Vec<u8>, usize)> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.required)
            .map(|(i, _)| {
                let mut k = Vec::new();
                put_u64(&mut k, i as u64 + 1);
                (k, i)
            })
            .collect();
        keys.sort_unstable();
        out.push(b'{');
        for (j, (k, i)) in keys.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(k);
            out.extend_from_slice(b"\":{\"name\":");
            let n = &self.nodes[*i];
            put_str(out, &n.name);
            if n.parent != 0 {
                out.extend_from_slice(b",\"parent\":");
                put_u64(out, u64::from(n.parent));
            }
            out.push(b'}');
        }
        out.extend_from_slice(b"}\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(ns: i64) -> String {
        let mut v = Vec::new();
        put_micros(&mut v, ns);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn micros_are_the_shortest_float_form() {
        for ns in [
            0i64,
            1,
            10,
            64,
            100,
            999,
            1000,
            1001,
            1_234_567,
            -1500,
            987_654_321_012,
            999_999_999_999_999,
        ] {
            let f = ns as f64 / 1000.0;
            assert_eq!(micros(ns), format!("{f}"), "{ns}");
        }
        assert_eq!(micros(1_000_000_000_000_000), "1000000000000");
    }

    fn esc(s: &[u8]) -> String {
        let mut v = Vec::new();
        put_str(&mut v, s);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn strings_escape_as_go_html_safe_json() {
        assert_eq!(esc(b"a<b>&c"), r#""a\u003cb\u003e\u0026c""#);
        assert_eq!(
            esc(b"q\"\\\n\t\r\x08\x0c\x01"),
            r#""q\"\\\n\t\r\b\f\u0001""#
        );
        assert_eq!(esc("é\u{2028}x\u{2029}".as_bytes()), "\"é\\u2028x\\u2029\"");
        assert_eq!(esc(b"a\xffb\xe2\x82"), r#""a\ufffdb\ufffd\ufffd""#);
        assert_eq!(esc(b"\xed\xa0\x80"), r#""\ufffd\ufffd\ufffd""#);
    }
}
