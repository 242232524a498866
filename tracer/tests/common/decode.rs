//! Decodes a trace written by the tracer with `gort_tracer::wire` and checks
//! its framing: header, padded batch sizes, generation order, strictly
//! increasing times per (generation, M), and string/stack references.

use std::collections::{BTreeMap, HashSet};

use gort_tracer::wire::header::{parse_header, Version, HEADER_LEN};
use gort_tracer::wire::limits::{MAX_BATCH_BYTES, NO_THREAD, PADDED_SIZE_BYTES};
use gort_tracer::wire::varint::read_uvarint;
use gort_tracer::wire::{ArgKind, EventType};

/// What a trace contains.
#[derive(Debug, Default)]
pub struct Summary {
    /// Timed events by type.
    pub counts: BTreeMap<EventType, u64>,
    /// Generations, in file order (deduplicated).
    pub gens: Vec<u64>,
    /// Batches in the file.
    pub batches: u64,
    /// Threads with event batches.
    pub threads: HashSet<u64>,
    /// Total string-table entries.
    pub strings: u64,
    /// Total stack-table entries.
    pub stacks: u64,
}

impl Summary {
    pub fn count(&self, t: EventType) -> u64 {
        self.counts.get(&t).copied().unwrap_or(0)
    }
    pub fn total_events(&self) -> u64 {
        self.counts.values().sum()
    }
}

struct Cur<'a> {
    b: &'a [u8],
    at: usize,
}

impl Cur<'_> {
    fn uv(&mut self) -> Result<u64, String> {
        let (v, n) = read_uvarint(&self.b[self.at..])
            .map_err(|e| format!("varint at {}: {e:?}", self.at))?;
        self.at += n;
        Ok(v)
    }
    fn byte(&mut self) -> Result<u8, String> {
        let v = *self.b.get(self.at).ok_or("eof")?;
        self.at += 1;
        Ok(v)
    }
}

/// Decodes `data`, or says what is wrong with it.
pub fn decode(data: &[u8]) -> Result<Summary, String> {
    if data.len() < HEADER_LEN || parse_header(&data[..HEADER_LEN]) != Version::Go1(23) {
        return Err("bad header".into());
    }
    let mut s = Summary::default();
    let mut c = Cur {
        b: data,
        at: HEADER_LEN,
    };
    let mut last_gen = 0;
    let mut last_time: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    // Per generation: defined string and stack IDs, and referenced ones.
    let mut defined: BTreeMap<u64, (HashSet<u64>, HashSet<u64>)> = BTreeMap::new();
    let mut used: BTreeMap<u64, (HashSet<u64>, HashSet<u64>)> = BTreeMap::new();
    let mut freqs: BTreeMap<u64, u64> = BTreeMap::new();
    while c.at < data.len() {
        let start = c.at;
        let ty = c.byte()?;
        if ty != EventType::EventBatch as u8 {
            return Err(format!("at {start}: batch type {ty}"));
        }
        let gen = c.uv()?;
        let m = c.uv()?;
        let mut time = c.uv()?;
        let size_at = c.at;
        let size = c.uv()? as usize;
        if c.at - size_at != PADDED_SIZE_BYTES {
            return Err(format!("at {start}: size not padded"));
        }
        if size > MAX_BATCH_BYTES || c.at + size > data.len() {
            return Err(format!("at {start}: bad size {size}"));
        }
        if gen < last_gen || (last_gen != 0 && gen > last_gen + 1) || gen == 0 {
            return Err(format!("at {start}: generation {gen} after {last_gen}"));
        }
        if gen != last_gen {
            s.gens.push(gen);
            last_gen = gen;
        }
        s.batches += 1;
        let end = c.at + size;
        let mut b = Cur {
            b: &data[..end],
            at: c.at,
        };
        let first = *data.get(b.at).ok_or("empty batch")?;
        let (defs, uses) = (
            defined.entry(gen).or_default(),
            used.entry(gen).or_default(),
        );
        match EventType::from_u8(first) {
            Some(EventType::Frequency) => {
                b.byte()?;
                let f = b.uv()?;
                if freqs.insert(gen, f).is_some() {
                    return Err(format!("gen {gen}: two frequencies"));
                }
                b.at = end;
            }
            Some(EventType::Strings) => {
                b.byte()?;
                while b.at < end {
                    if b.byte()? != EventType::String as u8 {
                        return Err(format!("at {}: not a String", b.at));
                    }
                    let id = b.uv()?;
                    let len = b.uv()? as usize;
                    if len > 1024 {
                        return Err("string too long".into());
                    }
                    b.at += len;
                    if !defs.0.insert(id) {
                        return Err(format!("gen {gen}: string {id} twice"));
                    }
                    s.strings += 1;
                }
            }
            Some(EventType::Stacks) => {
                b.byte()?;
                while b.at < end {
                    if b.byte()? != EventType::Stack as u8 {
                        return Err(format!("at {}: not a Stack", b.at));
                    }
                    let id = b.uv()?;
                    let n = b.uv()?;
                    if n > 128 {
                        return Err("too many frames".into());
                    }
                    for _ in 0..n {
                        let pc = b.uv()?;
                        let func = b.uv()?;
                        let file = b.uv()?;
                        let line = b.uv()?;
                        if pc == 0 || line == 0 {
                            return Err("empty frame".into());
                        }
                        uses.0.insert(func);
                        uses.0.insert(file);
                    }
                    if !defs.1.insert(id) {
                        return Err(format!("gen {gen}: stack {id} twice"));
                    }
                    s.stacks += 1;
                }
            }
            _ => {
                if m != NO_THREAD {
                    s.threads.insert(m);
                }
                let key = (gen, m);
                if let Some(&lt) = last_time.get(&key) {
                    if time <= lt {
                        return Err(format!("gen {gen} m {m}: batch time {time} <= {lt}"));
                    }
                }
                while b.at < end {
                    let t = b.byte()?;
                    let et =
                        EventType::from_u8(t).ok_or(format!("at {}: event type {t}", b.at - 1))?;
                    let spec = et.spec();
                    if !spec.timed {
                        return Err(format!("untimed {} in event batch", spec.name));
                    }
                    for i in 0..spec.args.len() {
                        let v = b.uv()?;
                        match spec.arg_kind(i) {
                            Some(ArgKind::Dt) => {
                                if v == 0 {
                                    return Err(format!("gen {gen} m {m}: dt 0 for {}", spec.name));
                                }
                                time += v;
                            }
                            Some(ArgKind::StringId) if v != 0 => {
                                uses.0.insert(v);
                            }
                            Some(ArgKind::StackId) if v != 0 => {
                                uses.1.insert(v);
                            }
                            _ => {}
                        }
                    }
                    *s.counts.entry(et).or_default() += 1;
                }
                last_time.insert(key, time);
            }
        }
        if b.at != end {
            return Err(format!("batch at {start} overruns"));
        }
        c.at = end;
    }
    for (gen, (su, ku)) in &used {
        let (sd, kd) = &defined[gen];
        if let Some(x) = su.iter().find(|x| !sd.contains(x)) {
            return Err(format!("gen {gen}: undefined string {x}"));
        }
        if let Some(x) = ku.iter().find(|x| !kd.contains(x)) {
            return Err(format!("gen {gen}: undefined stack {x}"));
        }
    }
    for g in &s.gens {
        if !freqs.contains_key(g) {
            return Err(format!("gen {g}: no frequency"));
        }
    }
    Ok(s)
}
