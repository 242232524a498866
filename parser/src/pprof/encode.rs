//! The pprof encoding of a [`Profile`]: `profile.proto` written the way Go's
//! `internal/profile` writes it, then gzipped.
//!
//! What Go's `traceviewer.BuildProfile` puts in it: two sample types
//! (`contentions/count`, `delay/nanoseconds`), period type `trace/count`
//! with period 1, one sample per record (values `[count, delay]`, locations
//! leaf first), one location per PC (the first frame seen for a PC wins) and
//! one function per file-and-name. No mappings, no time, no labels.
//!
//! Field order and packing follow `internal/profile`: zero scalars are
//! omitted, a sample's location IDs are packed when there are more than
//! two, its values never are, and the string table is `""`, the sample
//! types, each function's name and file, then `trace`.

use std::collections::HashMap;
use std::io::Write;

use super::Profile;

/// A growing protobuf message.
#[derive(Default)]
struct Buf(Vec<u8>);

impl Buf {
    fn varint(&mut self, v: u64) {
        gort_tracer::wire::varint::write_uvarint(&mut self.0, v);
    }

    fn tag(&mut self, field: u32, wire: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire));
    }

    fn uint(&mut self, field: u32, v: u64) {
        self.tag(field, 0);
        self.varint(v);
    }

    fn uint_opt(&mut self, field: u32, v: u64) {
        if v != 0 {
            self.uint(field, v);
        }
    }

    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.tag(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }
}

/// An interning string table, in first-use order.
#[derive(Default)]
struct Strings<'a> {
    index: HashMap<&'a [u8], u64>,
    table: Vec<&'a [u8]>,
}

impl<'a> Strings<'a> {
    fn add(&mut self, s: &'a [u8]) -> u64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.table.len() as u64;
        self.index.insert(s, i);
        self.table.push(s);
        i
    }
}

/// `profile.proto` bytes of `p` (not compressed).
pub fn encode(p: &Profile) -> Vec<u8> {
    let mut strings = Strings::default();
    for s in ["", "contentions", "count", "delay", "nanoseconds"] {
        strings.add(s.as_bytes());
    }
    // Locations by PC and functions by file + name, in first-use order.
    let mut loc_of_pc: HashMap<u64, u64> = HashMap::new();
    let mut locations: Vec<(u64, u64, u64)> = Vec::new(); // (pc, function, line)
    let mut fn_of_key: HashMap<Vec<u8>, u64> = HashMap::new();
    let mut functions: Vec<(&[u8], &[u8])> = Vec::new(); // (name, file)
    let mut samples = Buf::default();
    for r in &p.records {
        let mut ids = Vec::with_capacity(r.frames.len());
        for f in &r.frames {
            let id = match loc_of_pc.get(&f.pc) {
                Some(&id) => id,
                None => {
                    let mut key = f.file.clone();
                    key.extend_from_slice(&f.func);
                    let next = functions.len() as u64 + 1;
                    let func = *fn_of_key.entry(key).or_insert(next);
                    if func == next {
                        functions.push((&f.func, &f.file));
                    }
                    locations.push((f.pc, func, f.line));
                    let id = locations.len() as u64;
                    loc_of_pc.insert(f.pc, id);
                    id
                }
            };
            ids.push(id);
        }
        let mut s = Buf::default();
        if ids.len() > 2 {
            let mut packed = Buf::default();
            for &id in &ids {
                packed.varint(id);
            }
            s.bytes(1, &packed.0);
        } else {
            for &id in &ids {
                s.uint(1, id);
            }
        }
        s.uint(2, r.count);
        s.uint(2, r.delay as u64);
        samples.bytes(2, &s.0);
    }
    let fn_strings: Vec<(u64, u64)> = functions
        .iter()
        .map(|&(name, file)| (strings.add(name), strings.add(file)))
        .collect();
    let trace = strings.add(b"trace");

    let mut out = Buf::default();
    for (t, u) in [(1, 2), (3, 4)] {
        let mut vt = Buf::default();
        vt.uint_opt(1, t);
        vt.uint_opt(2, u);
        out.bytes(1, &vt.0);
    }
    out.0.extend_from_slice(&samples.0);
    for (i, &(pc, func, line)) in locations.iter().enumerate() {
        let mut ln = Buf::default();
        ln.uint_opt(1, func);
        ln.uint_opt(2, line);
        let mut l = Buf::default();
        l.uint_opt(1, i as u64 + 1);
        l.uint_opt(3, pc);
        l.bytes(4, &ln.0);
        out.bytes(4, &l.0);
    }
    for (i, &(name, file)) in fn_strings.iter().enumerate() {
        let mut f = Buf::default();
        f.uint_opt(1, i as u64 + 1);
        f.uint_opt(2, name);
        f.uint_opt(3, name);
        f.uint_opt(4, file);
        out.bytes(5, &f.0);
    }
    for s in &strings.table {
        out.bytes(6, s);
    }
    let mut pt = Buf::default();
    pt.uint_opt(1, trace);
    pt.uint_opt(2, 2); // "count"
    out.bytes(11, &pt.0);
    out.uint(12, 1);
    out.0
}

impl Profile {
    /// Writes the profile as `go tool trace -pprof` does: `profile.proto`,
    /// gzipped.
    ///
    /// # Errors
    ///
    /// Any error writing to `w`.
    pub fn write_gzip<W: Write>(&self, w: W) -> std::io::Result<()> {
        let mut gz = flate2::write::GzEncoder::new(w, flate2::Compression::default());
        gz.write_all(&encode(self))?;
        gz.finish()?;
        Ok(())
    }
}
