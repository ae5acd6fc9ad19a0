//! A map keyed by node id whose entries sit side by side in one vector, found through a
//! table of 4-byte positions: a full table's empty buckets cost 5 bytes each instead of a
//! whole (64-byte id, value) pair.

use alloc::vec::Vec;
use core::hash::BuildHasher;

use foldhash::quality::FixedState;
use hashbrown::HashTable;

use crate::identity::NodeId;

/// A map from node id to `V` for tables that are looked up, never iterated in an order that
/// matters: [`DenseIdMap::values`] follows insertion order, disturbed by removals.
#[derive(Clone, Debug)]
pub struct DenseIdMap<V> {
    /// Position in `items` of every entry, hashed by its id.
    index: HashTable<u32>,
    /// The entries, without holes (a removal moves the last entry into the gap).
    items: Vec<(NodeId, V)>,
    hasher: FixedState,
}

impl<V> DenseIdMap<V> {
    /// An empty map hashing ids with `seed` (per node, so peers cannot grind collisions).
    pub fn with_seed(seed: u64) -> Self {
        DenseIdMap {
            index: HashTable::new(),
            items: Vec::new(),
            hasher: FixedState::with_seed(seed),
        }
    }

    fn position(&self, id: &NodeId) -> Option<usize> {
        let items = &self.items;
        self.index
            .find(self.hasher.hash_one(id), |&i| items[i as usize].0 == *id)
            .map(|&i| i as usize)
    }

    /// The value of `id`.
    pub fn get(&self, id: &NodeId) -> Option<&V> {
        self.position(id).map(|i| &self.items[i].1)
    }

    /// The value of `id`, mutable.
    pub fn get_mut(&mut self, id: &NodeId) -> Option<&mut V> {
        self.position(id).map(|i| &mut self.items[i].1)
    }

    /// Stores `value` for `id`; returns the value it replaced. (A map already holding 2^32
    /// entries, far beyond any configured bound, stores nothing more.)
    pub fn insert(&mut self, id: NodeId, value: V) -> Option<V> {
        if let Some(i) = self.position(&id) {
            return Some(core::mem::replace(&mut self.items[i].1, value));
        }
        // Positions are u32: a table of 2^32 entries is far beyond any configured bound.
        let position = u32::try_from(self.items.len()).ok()?;
        let (items, hasher) = (&self.items, &self.hasher);
        self.index
            .insert_unique(hasher.hash_one(id), position, |&i| {
                hasher.hash_one(items[i as usize].0)
            });
        self.items.push((id, value));
        None
    }

    /// Removes the entry of `id`; returns its value.
    pub fn remove(&mut self, id: &NodeId) -> Option<V> {
        let items = &self.items;
        let found = self
            .index
            .find_entry(self.hasher.hash_one(id), |&i| items[i as usize].0 == *id)
            .ok()?;
        let (position, _) = found.remove();
        let position = position as usize;
        let last = self.items.len() - 1;
        let (_, value) = self.items.swap_remove(position);
        if position != last {
            // The last entry moved into the gap: point its bucket at the new position.
            let moved = self.items[position].0;
            if let Some(slot) = self
                .index
                .find_mut(self.hasher.hash_one(moved), |&i| i as usize == last)
            {
                *slot = position as u32;
            }
        }
        Some(value)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when the map is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Entries the map can hold without reallocating.
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.items.capacity().min(self.index.capacity())
    }

    /// Every value, in storage order.
    #[cfg(test)]
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.items.iter().map(|(_, value)| value)
    }

    /// Gives back the room of a map that emptied out: past four times the room its entries
    /// need, it keeps twice that.
    pub fn shrink_if_sparse(&mut self) {
        let len = self.items.len();
        if self.items.capacity() > 4 * len + 64 || self.index.capacity() > 4 * len + 64 {
            self.items.shrink_to(2 * len);
            let (items, hasher) = (&self.items, &self.hasher);
            self.index
                .shrink_to(2 * len, |&i| hasher.hash_one(items[i as usize].0));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;

    fn id(n: u32) -> NodeId {
        let mut hex = [b'0'; 64];
        for (k, digit) in alloc::format!("{n:08x}").bytes().enumerate() {
            hex[k] = digit;
        }
        NodeId::parse(core::str::from_utf8(&hex).unwrap()).unwrap()
    }

    #[test]
    fn agrees_with_an_ordered_map_under_churn() {
        let mut map = DenseIdMap::with_seed(7);
        let mut model = BTreeMap::new();
        let mut x = 1u64;
        for step in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = id((x % 300) as u32);
            match x % 3 {
                0 => assert_eq!(map.remove(&key), model.remove(&key)),
                _ => assert_eq!(map.insert(key, step), model.insert(key, step)),
            }
            assert_eq!(map.len(), model.len());
            if step % 1_000 == 0 {
                for (k, v) in &model {
                    assert_eq!(map.get(k), Some(v));
                }
                let mut values: Vec<u32> = map.values().copied().collect();
                values.sort_unstable();
                let mut expected: Vec<u32> = model.values().copied().collect();
                expected.sort_unstable();
                assert_eq!(values, expected);
            }
        }
    }

    #[test]
    fn get_mut_changes_the_stored_value_and_absent_ids_are_none() {
        let mut map = DenseIdMap::with_seed(1);
        map.insert(id(1), 10);
        *map.get_mut(&id(1)).unwrap() += 5;
        assert_eq!(map.get(&id(1)), Some(&15));
        assert_eq!(map.get(&id(2)), None);
        assert_eq!(map.remove(&id(2)), None);
    }

    #[test]
    fn an_emptied_map_gives_its_room_back() {
        let mut map = DenseIdMap::with_seed(3);
        for n in 0..2_000 {
            map.insert(id(n), n);
        }
        for n in 0..2_000 {
            map.remove(&id(n));
        }
        map.shrink_if_sparse();
        assert!(map.is_empty());
        assert!(map.capacity() < 128, "capacity {}", map.capacity());
    }
}
