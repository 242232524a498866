//! Per-goroutine state in a vector, found by goroutine ID without hashing
//! in the common case.

use crate::resources::GoId;
use crate::tables::IdMap;

/// No slot.
const NO_SLOT: u32 = u32::MAX;

/// Goroutine IDs to slots of a per-goroutine vector: a plain array for the IDs
/// up to a few times the number of goroutines (Go numbers goroutines
/// densely from 1), a hash map for the others.
#[derive(Debug, Default)]
pub(crate) struct GoSlots {
    dense: Vec<u32>,
    sparse: IdMap<GoId, u32>,
}

impl GoSlots {
    #[inline]
    pub(crate) fn get(&self, id: GoId) -> Option<u32> {
        match usize::try_from(id.0).ok().and_then(|i| self.dense.get(i)) {
            Some(&s) if s != NO_SLOT => Some(s),
            Some(_) => None,
            None if self.sparse.is_empty() => None,
            None => self.sparse.get(&id).copied(),
        }
    }

    /// Binds `id` (not bound yet) to `slot`; `count` goroutines are known.
    pub(crate) fn insert(&mut self, id: GoId, slot: u32, count: usize) {
        let limit = count.saturating_mul(4).saturating_add(4096);
        match usize::try_from(id.0) {
            Ok(i) if i < self.dense.len() => self.dense[i] = slot,
            Ok(i) if i < limit => {
                let len = (i + 1).next_power_of_two().clamp(64, limit);
                self.dense.resize(len, NO_SLOT);
                self.dense[i] = slot;
                // IDs the array now covers move into it.
                let moved: Vec<(GoId, u32)> = self
                    .sparse
                    .iter()
                    .filter(|(g, _)| usize::try_from(g.0).is_ok_and(|i| i < len))
                    .map(|(&g, &s)| (g, s))
                    .collect();
                for (g, s) in moved {
                    self.sparse.remove(&g);
                    self.dense[g.0 as usize] = s;
                }
            }
            _ => {
                self.sparse.insert(id, slot);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every bound ID finds its slot, whichever of the array and the map
    /// holds it, also after the array grows over IDs the map held.
    #[test]
    fn ids_find_their_slots_across_array_growth() {
        let ids: Vec<i64> = vec![5000, 1, -1, 9000, 2, i64::MAX, 3, 70_000, 4]
            .into_iter()
            .chain(10..3000)
            .collect();
        let mut s = GoSlots::default();
        for (n, &id) in ids.iter().enumerate() {
            assert_eq!(s.get(GoId(id)), None, "{id} before it is bound");
            s.insert(GoId(id), n as u32, n + 1);
            for (m, &seen) in ids[..=n].iter().enumerate() {
                assert_eq!(s.get(GoId(seen)), Some(m as u32), "{seen} after {id}");
            }
        }
        assert_eq!(s.get(GoId(6)), None);
        assert_eq!(s.get(GoId(-2)), None);
        assert!(s.dense.len() > 3000, "dense IDs in the array");
    }
}
