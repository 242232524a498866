//! String interning: per-generation string tables and their batches.
//!
//! Events name strings by ID. IDs are per generation: each generation's table
//! starts at 1 (0 is the empty string) and is written out, then emptied, when
//! the generation ends. Two tables exist, one per generation parity; the
//! advancer empties table `g % 2` before generation `g + 2` can begin.
//!
//! Lookups go first through a small per-M cache (direct-mapped, keyed by a
//! hash of the bytes and the generation), so the common case of interning the
//! same reason or region name again takes no lock. Misses take the shared
//! table's mutex.
//!
//! Strings longer than [`MAX_STRING_BYTES`] keep their first 1 KiB; function
//! and file names (see [`crate::stacks`]) keep their last 1 KiB, as in Go.

#![deny(unsafe_code)]

use std::collections::HashMap;

use crate::batches::BatchSeq;
use crate::loom::sync::{Mutex, MutexGuard};
use crate::wire::limits::MAX_STRING_BYTES;
use crate::wire::EventType;

/// Entries in the per-M string cache (a power of two).
const CACHE_ENTRIES: usize = 64;

/// `s` cut to its first [`MAX_STRING_BYTES`] bytes.
pub(crate) fn truncate_front(s: &[u8]) -> &[u8] {
    &s[..s.len().min(MAX_STRING_BYTES)]
}

/// `s` cut to its last [`MAX_STRING_BYTES`] bytes.
pub(crate) fn truncate_back(s: &[u8]) -> &[u8] {
    &s[s.len().saturating_sub(MAX_STRING_BYTES)..]
}

/// A fast, non-cryptographic hash of a short byte string (FxHash-style).
#[inline]
pub(crate) fn hash_bytes(b: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = b.len() as u64;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let mut w = [0u8; 8];
    let rest = chunks.remainder();
    w[..rest.len()].copy_from_slice(rest);
    h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    h ^ (h >> 29)
}

/// One generation's string table.
#[derive(Debug, Default)]
pub(crate) struct StringTable {
    map: Option<HashMap<Box<[u8]>, u64>>,
    next: u64,
}

impl StringTable {
    crate::loom::const_fn! {
        pub(crate) fn new() -> StringTable {
            StringTable { map: None, next: 0 }
        }
    }

    /// The ID of `s` (already truncated), adding it if new. The empty string is 0.
    pub(crate) fn intern(&mut self, s: &[u8]) -> u64 {
        if s.is_empty() {
            return 0;
        }
        let map = self.map.get_or_insert_with(HashMap::new);
        if let Some(&id) = map.get(s) {
            return id;
        }
        self.next += 1;
        map.insert(s.into(), self.next);
        self.next
    }

    /// Number of entries.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn len(&self) -> usize {
        self.map.as_ref().map_or(0, HashMap::len)
    }

    /// Writes the table as string batches (`Strings`, then `String id len
    /// bytes` per entry, in ID order) and empties it.
    pub(crate) fn write_and_clear(&mut self, out: &mut BatchSeq) {
        let Some(map) = self.map.take() else {
            self.next = 0;
            return;
        };
        let mut entries: Vec<(u64, Box<[u8]>)> = map.into_iter().map(|(s, id)| (id, s)).collect();
        entries.sort_unstable_by_key(|e| e.0);
        for (id, s) in entries {
            out.record_with_data(EventType::String, &[id], &s);
        }
        self.next = 0;
    }
}

crate::loom::global! {
    /// The shared tables, indexed by generation parity.
    static TABLES: [Mutex<StringTable>; 2] = [Mutex::new(StringTable::new()), Mutex::new(StringTable::new())];
}

/// Locks the shared table of generation `gen`.
pub(crate) fn table(gen: u64) -> MutexGuard<'static, StringTable> {
    TABLES[(gen & 1) as usize].lock()
}

#[derive(Debug)]
struct CacheEntry {
    gen: u64,
    hash: u64,
    id: u64,
    key: Box<[u8]>,
}

/// A per-M cache in front of the shared tables.
#[derive(Debug)]
pub(crate) struct StringCache {
    entries: Vec<Option<CacheEntry>>,
}

impl Default for StringCache {
    fn default() -> Self {
        StringCache {
            entries: (0..CACHE_ENTRIES).map(|_| None).collect(),
        }
    }
}

impl StringCache {
    /// The ID of `s` (truncated to its first 1 KiB) in generation `gen`.
    #[inline]
    pub(crate) fn intern(&mut self, gen: u64, s: &[u8]) -> u64 {
        let s = truncate_front(s);
        if s.is_empty() {
            return 0;
        }
        let h = hash_bytes(s);
        let i = (h as usize) & (CACHE_ENTRIES - 1);
        if let Some(e) = &self.entries[i] {
            if e.gen == gen && e.hash == h && *e.key == *s {
                return e.id;
            }
        }
        self.miss(gen, h, i, s)
    }

    #[cold]
    fn miss(&mut self, gen: u64, hash: u64, i: usize, s: &[u8]) -> u64 {
        let id = table(gen).intern(s);
        self.entries[i] = Some(CacheEntry {
            gen,
            hash,
            id,
            key: s.into(),
        });
        id
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn ids_start_at_one_and_repeat() {
        let mut t = StringTable::new();
        assert_eq!(t.intern(b""), 0);
        assert_eq!(t.intern(b"a"), 1);
        assert_eq!(t.intern(b"b"), 2);
        assert_eq!(t.intern(b"a"), 1);
        assert_eq!(t.len(), 2);
        let mut out = BatchSeq::new(7, u64::MAX, Some(EventType::Strings), 100);
        t.write_and_clear(&mut out);
        assert_eq!(t.len(), 0);
        assert_eq!(t.intern(b"b"), 1, "a cleared table restarts at 1");
        let batches = out.finish();
        assert_eq!(batches.len(), 1);
        let b = batches[0].bytes();
        // ... Strings, String 1 "a", String 2 "b"
        assert!(b.ends_with(&[4, 5, 1, 1, b'a', 5, 2, 1, b'b']), "{b:?}");
    }

    #[test]
    fn truncation_keeps_front_or_back() {
        let long: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(truncate_front(&long), &long[..1024]);
        assert_eq!(truncate_back(&long), &long[3000 - 1024..]);
        assert_eq!(truncate_front(b"abc"), b"abc");
        assert_eq!(truncate_back(b"abc"), b"abc");
    }

    #[test]
    fn cache_hits_agree_with_the_table_and_expire_by_generation() {
        let _s = crate::tests::serial();
        // Generation numbers far from the other tests' so the shared tables
        // (global) do not interfere.
        let mut c = StringCache::default();
        let g = 1_000_001;
        table(g).write_and_clear(&mut BatchSeq::new(g, 0, None, 0));
        let a = c.intern(g, b"alpha");
        let b = c.intern(g, b"beta");
        assert_ne!(a, b);
        assert_eq!(c.intern(g, b"alpha"), a);
        assert_eq!(table(g).intern(b"alpha"), a);
        let long = vec![b'x'; 5000];
        let l = c.intern(g, &long);
        assert_eq!(table(g).intern(&long[..1024]), l);
        // Next generation with the same parity: fresh table, the cache must miss.
        table(g).write_and_clear(&mut BatchSeq::new(g, 0, None, 0));
        assert_eq!(c.intern(g + 2, b"beta"), 1);
        assert_eq!(c.intern(g + 2, b""), 0);
        table(g).write_and_clear(&mut BatchSeq::new(g, 0, None, 0));
    }

    #[test]
    fn hash_spreads_short_strings() {
        let hs: std::collections::HashSet<u64> = (0..10_000u32)
            .map(|i| hash_bytes(format!("s{i}").as_bytes()))
            .collect();
        assert_eq!(hs.len(), 10_000);
        assert_ne!(hash_bytes(b""), hash_bytes(b"\0"));
    }
}
