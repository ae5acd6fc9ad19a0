//! Batched persistence of the known-peer table: a runtime collects the core's
//! `Output::PersistPeer` and `Output::ForgetPeer` and writes them together, about once a second
//! and at shutdown.

use std::collections::{BTreeMap, BTreeSet};

use micelio_core::identity::NodeId;
use micelio_core::node::PeerRecord;

use crate::store::Store;

/// How often a runtime should write its batch.
pub const PERSIST_PERIOD: std::time::Duration = std::time::Duration::from_secs(1);

/// Peer records waiting to be written; the last word on a node id wins.
#[derive(Clone, Debug, Default)]
pub struct PersistBatch {
    save: BTreeMap<NodeId, PeerRecord>,
    forget: BTreeSet<NodeId>,
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

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.save.is_empty() && self.forget.is_empty()
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
    }
}
