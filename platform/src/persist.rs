//! Batched persistence of the known-peer table and the shared map: a runtime collects the
//! core's `PersistPeer`, `ForgetPeer`, `PersistState`, `ForgetState` and `PersistClock`
//! outputs and writes them together, about once a second and at shutdown.

use std::collections::{BTreeMap, BTreeSet};

use micelio_core::identity::NodeId;
use micelio_core::node::PeerRecord;

use crate::store::Store;

/// How often a runtime should write its batch.
pub const PERSIST_PERIOD: std::time::Duration = std::time::Duration::from_secs(1);

/// Peer records and map entries waiting to be written; the last word on a node id (or a
/// key) wins.
#[derive(Clone, Debug, Default)]
pub struct PersistBatch {
    save: BTreeMap<NodeId, PeerRecord>,
    forget: BTreeSet<NodeId>,
    save_state: BTreeMap<String, Vec<u8>>,
    forget_state: BTreeSet<String>,
    clock: Option<u64>,
}

impl PersistBatch {
    /// Records `record` to be stored (replacing an earlier save or forget of the same node).
    pub fn save(&mut self, record: PeerRecord) {
        self.forget.remove(&record.node_id);
        self.save.insert(record.node_id, record);
    }

    /// Records that `id` must be deleted (replacing an earlier save of the same node).
    pub fn forget(&mut self, id: NodeId) {
        self.save.remove(&id);
        self.forget.insert(id);
    }

    /// Records a key's entry (its encoded envelope) to be stored.
    pub fn save_state(&mut self, key: String, envelope: Vec<u8>) {
        self.forget_state.remove(&key);
        self.save_state.insert(key, envelope);
    }

    /// Records that a key's entry must be deleted.
    pub fn forget_state(&mut self, key: String) {
        self.save_state.remove(&key);
        self.forget_state.insert(key);
    }

    /// Records the Lamport clock to be stored.
    pub fn save_clock(&mut self, time: u64) {
        self.clock = Some(self.clock.map_or(time, |t| t.max(time)));
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.save.is_empty()
            && self.forget.is_empty()
            && self.save_state.is_empty()
            && self.forget_state.is_empty()
            && self.clock.is_none()
    }

    /// Writes the batch: saves in one transaction, deletions in another. Failures are logged
    /// (the table is rebuilt from the network if the disk fails).
    pub fn write_to(self, store: &mut Store) {
        if !self.save.is_empty() {
            let records: Vec<PeerRecord> = self.save.into_values().collect();
            if let Err(error) = store.save_peers(&records) {
                tracing::error!(%error, "save peer");
            }
        }
        if !self.forget.is_empty() {
            let ids: Vec<NodeId> = self.forget.into_iter().collect();
            if let Err(error) = store.forget_peers(&ids) {
                tracing::error!(%error, "forget peer");
            }
        }
        let entries: Vec<(String, Vec<u8>)> = self.save_state.into_iter().collect();
        let forget: Vec<String> = self.forget_state.into_iter().collect();
        if let Err(error) = store.save_state(&entries, &forget, self.clock) {
            tracing::error!(%error, "save state");
        }
    }
}
