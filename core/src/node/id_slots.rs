//! A map keyed by node id whose entries sit in numbered slots of one vector, found through a
//! table of 4-byte slot numbers: a full table's empty buckets cost 5 bytes each instead of a
//! whole (64-byte id, value) pair, and other indexes can name an entry by its 4-byte slot.

use alloc::vec::Vec;
use core::hash::BuildHasher;

use foldhash::quality::FixedState;
use hashbrown::HashTable;

use crate::identity::NodeId;

/// The number of an entry's slot: stable while the entry stays (a removal frees the slot for
/// a later insert).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot(u32);

/// One slot: an entry, or a free slot naming the next free one.
#[derive(Clone, Debug)]
enum Cell<V> {
    Used(NodeId, V),
    Free(Option<Slot>),
}

/// A map from node id to `V` with stable [`Slot`] numbers.
#[derive(Clone, Debug)]
pub struct IdSlots<V> {
    /// The slot of every entry, hashed by its id.
    index: HashTable<Slot>,
    cells: Vec<Cell<V>>,
    /// The most recently freed slot, heading the chain of free ones.
    free: Option<Slot>,
    len: usize,
    hasher: FixedState,
}

impl<V> IdSlots<V> {
    /// An empty map hashing ids with `seed` (per node, so peers cannot grind collisions).
    pub fn with_seed(seed: u64) -> Self {
        IdSlots {
            index: HashTable::new(),
            cells: Vec::new(),
            free: None,
            len: 0,
            hasher: FixedState::with_seed(seed),
        }
    }

    fn id_at(cells: &[Cell<V>], slot: Slot) -> Option<&NodeId> {
        match cells.get(slot.0 as usize) {
            Some(Cell::Used(id, _)) => Some(id),
            _ => None,
        }
    }

    /// The slot of `id`.
    pub fn slot(&self, id: &NodeId) -> Option<Slot> {
        let cells = &self.cells;
        self.index
            .find(self.hasher.hash_one(id), |&slot| {
                Self::id_at(cells, slot) == Some(id)
            })
            .copied()
    }

    /// The value of `id`.
    pub fn get(&self, id: &NodeId) -> Option<&V> {
        self.slot(id).and_then(|slot| self.at(slot)).map(|(_, v)| v)
    }

    /// The value of `id`, mutable.
    #[cfg(test)]
    pub fn get_mut(&mut self, id: &NodeId) -> Option<&mut V> {
        let slot = self.slot(id)?;
        self.at_mut(slot).map(|(_, v)| v)
    }

    /// The entry in `slot`.
    pub fn at(&self, slot: Slot) -> Option<(&NodeId, &V)> {
        match self.cells.get(slot.0 as usize)? {
            Cell::Used(id, value) => Some((id, value)),
            Cell::Free(_) => None,
        }
    }

    /// The entry in `slot`, its value mutable.
    pub fn at_mut(&mut self, slot: Slot) -> Option<(&NodeId, &mut V)> {
        match self.cells.get_mut(slot.0 as usize)? {
            Cell::Used(id, value) => Some((&*id, value)),
            Cell::Free(_) => None,
        }
    }

    /// Stores `value` for `id` and returns its slot (the same slot when `id` was present).
    /// `None` only for a map already holding 2^32 entries, far beyond any configured bound.
    pub fn insert(&mut self, id: NodeId, value: V) -> Option<Slot> {
        if let Some(slot) = self.slot(&id) {
            if let Some((_, stored)) = self.at_mut(slot) {
                *stored = value;
            }
            return Some(slot);
        }
        let slot = match self.free {
            Some(slot) => {
                self.free = match self.cells[slot.0 as usize] {
                    Cell::Free(next) => next,
                    Cell::Used(..) => None,
                };
                self.cells[slot.0 as usize] = Cell::Used(id, value);
                slot
            }
            None => {
                let slot = Slot(u32::try_from(self.cells.len()).ok()?);
                self.cells.push(Cell::Used(id, value));
                slot
            }
        };
        let (cells, hasher) = (&self.cells, &self.hasher);
        self.index.insert_unique(hasher.hash_one(id), slot, |&s| {
            Self::id_at(cells, s).map_or(0, |id| hasher.hash_one(id))
        });
        self.len += 1;
        Some(slot)
    }

    /// Removes the entry of `id`; returns its value.
    pub fn remove(&mut self, id: &NodeId) -> Option<V> {
        let slot = self.slot(id)?;
        self.remove_at(slot).map(|(_, value)| value)
    }

    /// Removes the entry in `slot`; returns it.
    pub fn remove_at(&mut self, slot: Slot) -> Option<(NodeId, V)> {
        let id = *Self::id_at(&self.cells, slot)?;
        if let Ok(bucket) = self
            .index
            .find_entry(self.hasher.hash_one(id), |&s| s == slot)
        {
            bucket.remove();
        }
        let cell = core::mem::replace(&mut self.cells[slot.0 as usize], Cell::Free(self.free));
        self.free = Some(slot);
        self.len -= 1;
        match cell {
            Cell::Used(id, value) => Some((id, value)),
            Cell::Free(_) => None,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the map is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Entries the map can hold without reallocating.
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.cells.capacity().min(self.index.capacity())
    }

    /// Every value, in slot order.
    #[cfg(test)]
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.cells.iter().filter_map(|cell| match cell {
            Cell::Used(_, value) => Some(value),
            Cell::Free(_) => None,
        })
    }

    /// True when at most a quarter of the slots hold entries (past 64 slots): worth a
    /// [`IdSlots::compact`].
    pub fn is_sparse(&self) -> bool {
        self.cells.len() > 4 * self.len + 64
    }

    /// Moves every entry, in slot order, into a vector just large enough (twice the entries)
    /// and rebuilds the index; `moved` learns each entry's new slot. Slots taken before are
    /// meaningless afterwards.
    pub fn compact(&mut self, mut moved: impl FnMut(Slot, &V)) {
        let old = core::mem::take(&mut self.cells);
        self.cells = Vec::with_capacity(2 * self.len);
        self.index = HashTable::with_capacity(2 * self.len);
        self.free = None;
        for cell in old {
            if let Cell::Used(id, value) = cell {
                let slot = Slot(self.cells.len() as u32);
                moved(slot, &value);
                self.cells.push(Cell::Used(id, value));
                let (cells, hasher) = (&self.cells, &self.hasher);
                self.index.insert_unique(hasher.hash_one(id), slot, |&s| {
                    Self::id_at(cells, s).map_or(0, |id| hasher.hash_one(id))
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;

    fn id(n: u32) -> NodeId {
        NodeId::parse(&alloc::format!("{n:064x}")).expect("64 hex digits")
    }

    #[test]
    fn agrees_with_an_ordered_map_under_churn_and_slots_stay_put() {
        let mut map = IdSlots::with_seed(7);
        let mut model: BTreeMap<NodeId, (u32, Slot)> = BTreeMap::new();
        let mut x = 1u64;
        for step in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = id((x % 300) as u32);
            if x % 3 == 0 {
                assert_eq!(map.remove(&key), model.remove(&key).map(|(v, _)| v));
            } else {
                let slot = map.insert(key, step).expect("room");
                if let Some((_, kept)) = model.get(&key) {
                    assert_eq!(slot, *kept, "an update keeps the slot");
                }
                model.insert(key, (step, slot));
            }
            assert_eq!(map.len(), model.len());
            if step % 1_000 == 0 {
                for (k, (v, slot)) in &model {
                    assert_eq!(map.get(k), Some(v));
                    assert_eq!(map.at(*slot), Some((k, v)));
                }
                assert_eq!(map.values().count(), model.len());
                // Freed slots are reused: the vector never outgrows the most entries held.
                assert!(map.cells.len() <= 300);
            }
        }
    }

    #[test]
    fn get_mut_changes_the_value_and_absent_ids_or_free_slots_are_none() {
        let mut map = IdSlots::with_seed(1);
        let slot = map.insert(id(1), 10).unwrap();
        *map.get_mut(&id(1)).unwrap() += 5;
        assert_eq!(map.get(&id(1)), Some(&15));
        assert_eq!(map.get(&id(2)), None);
        assert_eq!(map.remove(&id(2)), None);
        assert_eq!(map.remove_at(slot), Some((id(1), 15)));
        assert_eq!(map.at(slot), None);
        assert_eq!(map.remove_at(slot), None);
    }

    #[test]
    fn compaction_gives_the_room_back_and_names_the_new_slots() {
        let mut map = IdSlots::with_seed(3);
        for n in 0..2_000 {
            map.insert(id(n), n);
        }
        for n in 0..1_990 {
            map.remove(&id(n));
        }
        assert!(map.is_sparse());
        let mut slots = BTreeMap::new();
        map.compact(|slot, value| {
            slots.insert(*value, slot);
        });
        assert!(!map.is_sparse());
        assert!(map.capacity() < 128, "capacity {}", map.capacity());
        assert_eq!(slots.len(), 10);
        for (value, slot) in slots {
            assert_eq!(map.at(slot), Some((&id(value), &value)));
            assert_eq!(map.get(&id(value)), Some(&value));
        }
        let slot = map.insert(id(5), 5).unwrap();
        assert_eq!(map.at(slot), Some((&id(5), &5)));
    }
}
