//! The simulated store of one host: the peer table keyed by node id (the millions of
//! `PersistPeer` writes of a large run cost a hash insert each, and a replaced record frees
//! its memory at once); and the shared map's entries and clock.

use std::collections::{BTreeMap, HashMap};

use foldhash::fast::FixedState;
use micelio_core::identity::NodeId;
use micelio_core::node::PeerRecord;

/// What a host's runtime would hold in its store: the last write of every node id.
#[derive(Debug, Default)]
pub struct PeerStore {
    /// The live record of every stored id (iteration order never leaves this type).
    records: HashMap<NodeId, PeerRecord, FixedState>,
}

impl PeerStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Persists `record`, replacing any record of the same node.
    pub fn put(&mut self, record: PeerRecord) {
        self.records.insert(record.node_id, record);
    }

    /// Forgets the record of `id`.
    pub fn remove(&mut self, id: NodeId) {
        self.records.remove(&id);
    }

    /// The stored records, keyed by node id.
    pub fn records(&self) -> BTreeMap<NodeId, PeerRecord> {
        self.records
            .iter()
            .map(|(id, record)| (*id, record.clone()))
            .collect()
    }

    /// Number of stored records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use micelio_core::identity::Identity;

    fn record(seed: u8, last_seen: i64) -> PeerRecord {
        PeerRecord {
            node_id: Identity::from_seed(&[seed; 32]).node_id(),
            addr: format!("10.0.0.{seed}:4000"),
            reachable: true,
            public_key: None,
            last_seen,
            fail_count: 0,
            last_fail: 0,
        }
    }

    #[test]
    fn last_write_wins_and_removals_forget() {
        let mut store = PeerStore::new();
        store.put(record(1, 10));
        store.put(record(2, 10));
        store.put(record(1, 20));
        store.remove(record(2, 0).node_id);
        let records = store.records();
        assert_eq!(records.len(), 1);
        assert_eq!(records[&record(1, 0).node_id].last_seen, 20);
    }

    #[test]
    fn many_writes_keep_one_record_per_id() {
        let mut store = PeerStore::new();
        let mut model = BTreeMap::new();
        for i in 0..20_000i64 {
            let seed = (i * 7919 % 50) as u8;
            let r = record(seed, i);
            if i % 13 == 0 {
                store.remove(r.node_id);
                model.remove(&r.node_id);
            } else {
                model.insert(r.node_id, r.clone());
                store.put(r);
            }
            assert_eq!(store.len(), model.len());
        }
        assert_eq!(store.records(), model);
    }
}

/// What a host's runtime would hold of the shared map: each key's encoded entry and the
/// Lamport clock.
#[derive(Debug, Default)]
pub struct StateStore {
    /// Encoded entry envelopes by key.
    pub entries: BTreeMap<String, Vec<u8>>,
    /// The clock as last persisted.
    pub clock: u64,
}
