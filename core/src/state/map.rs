//! The last-writer-wins map: one entry per key (the highest [`Version`] seen), tombstones
//! for deletes, ordered by key hash so that anti-entropy can summarise ranges of it.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Bound;

use sha2::{Digest, Sha256};

use super::entry::{Entry, KeyHash, Leaf, Version, key_hash};

/// What [`StateMap::apply`] did with an entry.
#[derive(Clone, Debug, PartialEq)]
pub enum Applied {
    /// The entry is the key's new version (`previous`: the one it replaced).
    Changed {
        /// The replaced entry, if the key had one.
        previous: Option<Box<Entry>>,
    },
    /// The map holds this very write already.
    Duplicate,
    /// The map holds a newer write of the key.
    Stale,
    /// The key is new and the map is at its bound: refused.
    Full,
}

/// Summary of the entries of a key-hash range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RangeSummary {
    /// How many.
    pub count: u32,
    /// XOR of their leaves.
    pub fingerprint: Leaf,
}

/// The map itself, bounded by `max_entries` keys (tombstones included).
#[derive(Clone, Debug)]
pub struct StateMap {
    entries: BTreeMap<(KeyHash, String), Entry>,
    max_entries: usize,
}

impl StateMap {
    /// An empty map of at most `max_entries` keys.
    pub fn new(max_entries: usize) -> Self {
        Self {
            entries: BTreeMap::new(),
            max_entries,
        }
    }

    /// Number of keys, tombstones included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry of `key` (a tombstone too).
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.get(&(key_hash(key), String::from(key)))
    }

    /// The live value of `key`.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.entry(key).and_then(Entry::value)
    }

    /// Every entry, tombstones included, in key-hash order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// The live keys starting with `prefix`, sorted.
    pub fn keys(&self, prefix: &str) -> Vec<&str> {
        let mut keys: Vec<&str> = self
            .entries
            .values()
            .filter(|e| !e.is_deleted() && e.key().starts_with(prefix))
            .map(Entry::key)
            .collect();
        keys.sort_unstable();
        keys
    }

    /// Keeps `entry` if it is newer than what the map holds for its key (last writer wins).
    pub fn apply(&mut self, entry: Entry) -> Applied {
        let slot = (entry.key_hash(), String::from(entry.key()));
        let full = self.entries.len() >= self.max_entries;
        match self.entries.get_mut(&slot) {
            Some(current) if current.version() == entry.version() => Applied::Duplicate,
            Some(current) if current.version() > entry.version() => Applied::Stale,
            Some(current) => Applied::Changed {
                previous: Some(Box::new(core::mem::replace(current, entry))),
            },
            None if full => Applied::Full,
            None => {
                self.entries.insert(slot, entry);
                Applied::Changed { previous: None }
            }
        }
    }

    /// Removes the tombstones past their horizon; returns them.
    pub fn expire(&mut self, unix_now: u64, tombstone_horizon: u64) -> Vec<Entry> {
        let expired: Vec<(KeyHash, String)> = self
            .entries
            .iter()
            .filter(|(_, e)| e.expired(unix_now, tombstone_horizon))
            .map(|(slot, _)| slot.clone())
            .collect();
        expired
            .into_iter()
            .filter_map(|slot| self.entries.remove(&slot))
            .collect()
    }

    /// The entries whose key hash is in `first..=last`.
    pub fn range(&self, first: KeyHash, last: KeyHash) -> impl Iterator<Item = &Entry> {
        let start = Bound::Included((first, String::new()));
        self.entries
            .range((start, Bound::Unbounded))
            .map(|(_, e)| e)
            .take_while(move |e| e.key_hash() <= last)
    }

    /// The count and fingerprint of `first..=last`.
    pub fn summary(&self, first: KeyHash, last: KeyHash) -> RangeSummary {
        let mut summary = RangeSummary::default();
        for entry in self.range(first, last) {
            summary.count = summary.count.saturating_add(1);
            for (acc, byte) in summary.fingerprint.iter_mut().zip(entry.version().leaf) {
                *acc ^= byte;
            }
        }
        summary
    }

    /// The entries of one key hash (more than one only if two keys collide).
    pub fn with_hash(&self, hash: KeyHash) -> impl Iterator<Item = &Entry> {
        self.range(hash, hash)
    }

    /// SHA-256 over every entry's key hash and version, in order: two maps are equal exactly
    /// when their state hashes are.
    pub fn state_hash(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        for entry in self.entries.values() {
            let Version { lamport, leaf, .. } = entry.version();
            hasher.update(entry.key_hash().to_be_bytes());
            hasher.update(lamport.to_be_bytes());
            hasher.update(leaf);
        }
        hasher.finalize().into()
    }
}
