//! The simulated store of one host: the peer table as a write log compacted on demand, so
//! the millions of `PersistPeer` writes of a large run cost an append each instead of a tree
//! insert; and the shared map's entries and clock.

use std::collections::BTreeMap;

use micelio_core::identity::NodeId;
use micelio_core::node::PeerRecord;

/// Below this many log entries the log is never compacted.
const MIN_COMPACTION: usize = 1_024;

/// What a host's runtime would hold in its store: the last write of every node id.
#[derive(Debug, Default)]
pub struct PeerStore {
    /// Writes oldest first; `None` forgets the id. After a compaction the log holds one
    /// live record per id, sorted by id.
    log: Vec<(NodeId, Option<PeerRecord>)>,
    /// Log length right after the last compaction (the number of live records then).
    compacted_len: usize,
}

impl PeerStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Persists `record`, replacing any record of the same node.
    pub fn put(&mut self, record: PeerRecord) {
        self.log.push((record.node_id, Some(record)));
        self.compact_if_long();
    }

    /// Forgets the record of `id`.
    pub fn remove(&mut self, id: NodeId) {
        self.log.push((id, None));
        self.compact_if_long();
    }

    /// The stored records, keyed by node id.
    pub fn records(&self) -> BTreeMap<NodeId, PeerRecord> {
        let mut records = BTreeMap::new();
        for (id, write) in &self.log {
            match write {
                Some(record) => records.insert(*id, record.clone()),
                None => records.remove(id),
            };
        }
        records
    }

    /// Number of log entries (writes since the last compaction plus the live records then).
    pub fn log_len(&self) -> usize {
        self.log.len()
    }

    /// Keeps the log within four times its live size (and at least [`MIN_COMPACTION`]): the
    /// last write of each id survives, forgotten ids disappear. Only positions are sorted,
    /// so no record moves more than once.
    fn compact_if_long(&mut self) {
        if self.log.len() < MIN_COMPACTION.max(4 * self.compacted_len) {
            return;
        }
        let mut order: Vec<u32> = (0..self.log.len() as u32).collect();
        // Ties by position: the last write of an id ends its run.
        order.sort_unstable_by_key(|&i| (self.log[i as usize].0, i));
        let mut kept: Vec<(NodeId, Option<PeerRecord>)> = Vec::with_capacity(self.log.len() / 2);
        for (k, &i) in order.iter().enumerate() {
            let last_of_id = order
                .get(k + 1)
                .is_none_or(|&next| self.log[next as usize].0 != self.log[i as usize].0);
            if last_of_id {
                let write = &mut self.log[i as usize];
                if let Some(record) = write.1.take() {
                    kept.push((write.0, Some(record)));
                }
            }
        }
        self.log = kept;
        self.compacted_len = self.log.len();
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
    fn compaction_bounds_the_log_and_keeps_the_same_records() {
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
            assert!(store.log_len() <= MIN_COMPACTION.max(4 * 50) + 1);
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
