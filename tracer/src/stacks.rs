//! Stack interning: frames, per-generation stack tables and their batches.
//!
//! The runtime describes a stack as a slice of [`Frame`]s, leaf first, built
//! from `#[track_caller]` locations and type names, so every name is a
//! `&'static str`. Stacks are therefore keyed by *identity* (PC, line and the
//! names' pointers and lengths), never by hashing names' contents: interning
//! the same stack again costs a hash of a few words and a compare.
//!
//! As for strings, a per-M direct-mapped cache sits in front of two shared
//! tables (one per generation parity). At the end of a generation the
//! advancer writes the table as `Stacks` batches, interning each frame's
//! function and file names (last 1 KiB kept) into the same generation's string
//! table, then empties it. Stacks longer than [`MAX_FRAMES`] keep their first
//! (innermost) frames.

#![deny(unsafe_code)]

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use crate::batches::BatchSeq;
use crate::loom::sync::{Mutex, MutexGuard};
use crate::strings::{truncate_back, StringTable};
use crate::wire::limits::MAX_FRAMES;
use crate::wire::EventType;

/// Entries in the per-M stack cache (a power of two).
const CACHE_ENTRIES: usize = 32;

/// One stack frame: program counter, function, file and line.
///
/// Frames are compared by identity: two frames are the same if their PCs and
/// lines are equal and their names are the same `&'static str` (pointer and
/// length). Give the tracer the same statics for the same location.
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    /// Program counter (or any non-zero number unique to the location).
    pub pc: u64,
    /// Function name.
    pub func: &'static str,
    /// Source file.
    pub file: &'static str,
    /// Line number.
    pub line: u32,
}

impl Frame {
    #[inline]
    fn same(&self, o: &Frame) -> bool {
        self.pc == o.pc
            && self.line == o.line
            && std::ptr::eq(self.func, o.func)
            && std::ptr::eq(self.file, o.file)
    }

    #[inline]
    fn mix(&self, h: u64) -> u64 {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut h = h;
        for w in [
            self.pc,
            self.func.as_ptr() as u64 ^ ((self.func.len() as u64) << 48),
            self.file.as_ptr() as u64 ^ ((self.file.len() as u64) << 48),
            u64::from(self.line),
        ] {
            h = (h.rotate_left(5) ^ w).wrapping_mul(K);
        }
        h
    }
}

/// Identity hash of a stack.
#[inline]
fn hash_frames(frames: &[Frame]) -> u64 {
    let h = frames.iter().fold(frames.len() as u64, |h, f| f.mix(h));
    h ^ (h >> 29)
}

/// A stack as a hash-map key, compared by frame identity.
#[derive(Debug)]
struct StackKey(Box<[Frame]>);

impl PartialEq for StackKey {
    fn eq(&self, o: &StackKey) -> bool {
        self.0.len() == o.0.len() && self.0.iter().zip(o.0.iter()).all(|(a, b)| a.same(b))
    }
}

impl Eq for StackKey {}

impl Hash for StackKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(hash_frames(&self.0));
    }
}

/// One generation's stack table.
#[derive(Debug, Default)]
pub(crate) struct StackTable {
    map: Option<HashMap<StackKey, u64>>,
    next: u64,
}

impl StackTable {
    crate::loom::const_fn! {
        pub(crate) fn new() -> StackTable {
            StackTable { map: None, next: 0 }
        }
    }

    /// The ID of `frames` (already truncated), adding it if new. Never 0.
    pub(crate) fn intern(&mut self, frames: &[Frame]) -> u64 {
        let map = self.map.get_or_insert_with(HashMap::new);
        let key = StackKey(frames.into());
        if let Some(&id) = map.get(&key) {
            return id;
        }
        self.next += 1;
        map.insert(key, self.next);
        self.next
    }

    /// Number of entries.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn len(&self) -> usize {
        self.map.as_ref().map_or(0, HashMap::len)
    }

    /// Writes the table as stack batches (`Stacks`, then `Stack id nframes`
    /// and `pc func file line` per frame), interning names into `strings`,
    /// and empties it.
    pub(crate) fn write_and_clear(&mut self, strings: &mut StringTable, out: &mut BatchSeq) {
        let Some(map) = self.map.take() else {
            self.next = 0;
            return;
        };
        let mut entries: Vec<(u64, StackKey)> = map.into_iter().map(|(k, id)| (id, k)).collect();
        entries.sort_unstable_by_key(|e| e.0);
        let mut nums = Vec::with_capacity(2 + 4 * MAX_FRAMES);
        for (id, StackKey(frames)) in entries {
            nums.clear();
            nums.push(id);
            nums.push(frames.len() as u64);
            for f in frames.iter() {
                nums.push(f.pc);
                nums.push(strings.intern(truncate_back(f.func.as_bytes())));
                nums.push(strings.intern(truncate_back(f.file.as_bytes())));
                nums.push(u64::from(f.line));
            }
            out.record(EventType::Stack, &nums);
        }
        self.next = 0;
    }
}

crate::loom::global! {
    /// The shared tables, indexed by generation parity.
    static TABLES: [Mutex<StackTable>; 2] = [Mutex::new(StackTable::new()), Mutex::new(StackTable::new())];
}

/// Locks the shared table of generation `gen`.
pub(crate) fn table(gen: u64) -> MutexGuard<'static, StackTable> {
    TABLES[(gen & 1) as usize].lock()
}

#[derive(Debug)]
struct CacheEntry {
    gen: u64,
    hash: u64,
    id: u64,
    frames: Box<[Frame]>,
}

/// A per-M cache in front of the shared tables.
#[derive(Debug)]
pub(crate) struct StackCache {
    entries: Vec<Option<CacheEntry>>,
}

impl Default for StackCache {
    fn default() -> Self {
        StackCache {
            entries: (0..CACHE_ENTRIES).map(|_| None).collect(),
        }
    }
}

impl StackCache {
    /// The ID of `frames` (first [`MAX_FRAMES`] kept) in generation `gen`.
    /// An empty stack is 0.
    #[inline]
    pub(crate) fn intern(&mut self, gen: u64, frames: &[Frame]) -> u64 {
        let frames = &frames[..frames.len().min(MAX_FRAMES)];
        if frames.is_empty() {
            return 0;
        }
        let h = hash_frames(frames);
        let i = (h as usize) & (CACHE_ENTRIES - 1);
        if let Some(e) = &self.entries[i] {
            if e.gen == gen
                && e.hash == h
                && e.frames.len() == frames.len()
                && e.frames.iter().zip(frames).all(|(a, b)| a.same(b))
            {
                return e.id;
            }
        }
        self.miss(gen, h, i, frames)
    }

    #[cold]
    fn miss(&mut self, gen: u64, hash: u64, i: usize, frames: &[Frame]) -> u64 {
        let id = table(gen).intern(frames);
        self.entries[i] = Some(CacheEntry {
            gen,
            hash,
            id,
            frames: frames.into(),
        });
        id
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::wire::varint::read_uvarint;

    static MAIN: &str = "main.main";
    static FILE: &str = "/src/main.rs";

    fn frame(pc: u64, line: u32) -> Frame {
        Frame {
            pc,
            func: MAIN,
            file: FILE,
            line,
        }
    }

    #[test]
    fn identity_keys_and_per_generation_ids() {
        let mut t = StackTable::new();
        let a = [frame(0x1000, 10), frame(0x2000, 20)];
        let b = [frame(0x1000, 10)];
        assert_eq!(t.intern(&a), 1);
        assert_eq!(t.intern(&b), 2);
        assert_eq!(t.intern(&a), 1);
        // Same text behind a different pointer is a different key.
        let other: &'static str = Box::leak(String::from("main.main").into_boxed_str());
        let c = [Frame {
            func: other,
            ..frame(0x1000, 10)
        }];
        assert_eq!(t.intern(&c), 3);
        let mut strings = StringTable::new();
        let mut out = BatchSeq::new(1, u64::MAX, Some(EventType::Stacks), 0);
        t.write_and_clear(&mut strings, &mut out);
        assert_eq!(t.len(), 0);
        // "main.main" appears once in the string table however many pointers name it.
        assert_eq!(strings.len(), 2);
        let bytes = out.finish()[0].bytes().to_vec();
        let at = bytes
            .iter()
            .position(|&x| x == EventType::Stacks as u8)
            .unwrap();
        // Stacks, then Stack 1 with two frames.
        assert_eq!(bytes[at + 1], EventType::Stack as u8);
        let (id, n1) = read_uvarint(&bytes[at + 2..]).unwrap();
        let (nf, _) = read_uvarint(&bytes[at + 2 + n1..]).unwrap();
        assert_eq!((id, nf), (1, 2));
    }

    #[test]
    fn cache_truncates_and_expires() {
        let _s = crate::tests::serial();
        let g = 2_000_001;
        let mut c = StackCache::default();
        table(g).write_and_clear(&mut StringTable::new(), &mut BatchSeq::new(g, 0, None, 0));
        assert_eq!(c.intern(g, &[]), 0);
        let long: Vec<Frame> = (0..300).map(|i| frame(0x1000 + i, 1 + i as u32)).collect();
        let id = c.intern(g, &long);
        assert_eq!(
            c.intern(g, &long[..MAX_FRAMES]),
            id,
            "truncated to MAX_FRAMES"
        );
        assert_eq!(c.intern(g, &long), id);
        let short = c.intern(g, &long[..3]);
        assert_ne!(short, id);
        table(g).write_and_clear(&mut StringTable::new(), &mut BatchSeq::new(g, 0, None, 0));
        assert_eq!(c.intern(g + 2, &long[..3]), 1);
        table(g).write_and_clear(&mut StringTable::new(), &mut BatchSeq::new(g, 0, None, 0));
    }
}
