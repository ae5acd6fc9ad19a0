//! The known-peer table (spec §12.1-12.3, §12.7, §12.10): records, merge rule, back-off and a
//! bound with eviction of the least recently seen record.

use alloc::collections::BinaryHeap;
use alloc::string::String;
use alloc::vec::Vec;
use core::cmp::Reverse;
use core::fmt;

use rand_core::RngCore;

use micelio_proto::PeerInfoRef;

use super::address::is_invalid_peer_addr;
use super::id_map::{IdMap, id_map, shrink_if_sparse};
use crate::identity::NodeId;

/// One known peer, with the fields the reference persists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerRecord {
    /// Its node id.
    pub node_id: NodeId,
    /// Dialable `host:port`, may be empty.
    pub addr: String,
    /// Whether it accepts inbound connections.
    pub reachable: bool,
    /// Its ED25519 key; `None` only in loaded records that had none.
    pub public_key: Option<[u8; 32]>,
    /// Unix seconds when it was last seen.
    pub last_seen: i64,
    /// Consecutive failed discovery dials.
    pub fail_count: u32,
    /// Unix seconds of the last failed discovery dial (0 = none).
    pub last_fail: i64,
}

impl PeerRecord {
    /// True when discovery may dial it: reachable with a valid address.
    pub fn is_dialable(&self) -> bool {
        self.reachable && !self.addr.is_empty() && !is_invalid_peer_addr(&self.addr)
    }

    /// True when it may be passed on in a PeerExchange.
    pub fn is_shareable(&self) -> bool {
        self.is_dialable() && self.public_key.is_some()
    }
}

/// Why a loaded or received record was not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectReason {
    /// It describes this node.
    IsSelf,
    /// Not reachable or no address.
    NotReachable,
    /// The address is not a valid peer address (Appendix B).
    InvalidAddr,
    /// The key is not 32 bytes.
    InvalidKeyLength,
    /// The node id is not the SHA-256 of the key.
    MismatchedNodeId,
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::IsSelf => "describes this node",
            Self::NotReachable => "not reachable",
            Self::InvalidAddr => "invalid addr",
            Self::InvalidKeyLength => "invalid pubkey length",
            Self::MismatchedNodeId => "mismatched node_id",
        })
    }
}

impl core::error::Error for RejectReason {}

/// Result of merging one PeerExchange entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Merge {
    /// A new record was created (persist it).
    Created,
    /// An existing record was overwritten with a newer one (persist it).
    Updated,
    /// The entry was valid but not newer than the stored record.
    Unchanged,
}

/// Back-off after `fail_count` consecutive failures: 0, then 1, 2, 4, 8, 16, 30, 30... seconds.
pub fn backoff_secs(fail_count: i64) -> i64 {
    if fail_count <= 0 {
        return 0;
    }
    if fail_count >= 6 {
        30
    } else {
        1i64 << (fail_count - 1)
    }
}

/// Converts a received `last_seen` to the signed form stored, clamping at `i64::MAX`.
pub fn clamp_last_seen(last_seen: u64) -> i64 {
    i64::try_from(last_seen).unwrap_or(i64::MAX)
}

/// Validates a PeerExchange entry (spec §12.3) and returns its node id and key.
///
/// `known_key` gives the key already stored for a node id: an entry carrying that same key
/// skips the SHA-256 check, which was done when the key was first stored.
pub fn validate_entry<'a>(
    info: impl Into<PeerInfoRef<'a>>,
    own: &NodeId,
    known_key: impl Fn(&NodeId) -> Option<[u8; 32]>,
) -> Result<(NodeId, [u8; 32]), RejectReason> {
    let info = info.into();
    if info.node_id == own.as_str() {
        return Err(RejectReason::IsSelf);
    }
    if !info.reachable || info.addr.is_empty() {
        return Err(RejectReason::NotReachable);
    }
    if is_invalid_peer_addr(info.addr) {
        return Err(RejectReason::InvalidAddr);
    }
    let key: [u8; 32] = info
        .ed25519_pubkey
        .try_into()
        .map_err(|_| RejectReason::InvalidKeyLength)?;
    let claimed = NodeId::parse(info.node_id).ok_or(RejectReason::MismatchedNodeId)?;
    if known_key(&claimed) == Some(key) || NodeId::from_public_key(&key) == claimed {
        Ok((claimed, key))
    } else {
        Err(RejectReason::MismatchedNodeId)
    }
}

/// Validates a record loaded from storage (spec §12.10).
pub fn validate_loaded(record: &PeerRecord) -> Result<(), RejectReason> {
    if !record.addr.is_empty() && is_invalid_peer_addr(&record.addr) {
        return Err(RejectReason::InvalidAddr);
    }
    match record.public_key {
        Some(key) if NodeId::from_public_key(&key) != record.node_id => {
            Err(RejectReason::MismatchedNodeId)
        }
        _ => Ok(()),
    }
}

/// A record, whether discovery may dial it, and its place in the list of shareable records.
#[derive(Debug)]
struct Stored {
    record: PeerRecord,
    /// [`PeerRecord::is_dialable`], computed when the record was stored.
    dialable: bool,
    /// Index in [`PeerTable::shareable`] when [`PeerRecord::is_shareable`].
    shareable_slot: Option<usize>,
}

/// The bounded table of known peers, keyed by node id.
#[derive(Debug)]
pub struct PeerTable {
    records: IdMap<Stored>,
    /// (last_seen, id) of every record, oldest first, plus stale pairs left by updates: an
    /// update pushes the new pair instead of searching for the old one, an eviction skips
    /// pairs that no longer match their record, and the heap is rebuilt when stale pairs
    /// outnumber the records. Empty and not kept up to date until the first eviction is
    /// needed ([`PeerTable::recency_tracked`]): a table that never fills never pays for it.
    by_last_seen: BinaryHeap<Reverse<(i64, NodeId)>>,
    /// True once [`PeerTable::by_last_seen`] was built (the table was full once).
    recency_tracked: bool,
    /// Ids of the shareable records, in no particular order: an exchange samples it without
    /// scanning (and re-validating the address of) every record.
    shareable: Vec<NodeId>,
    capacity: usize,
}

impl PeerTable {
    /// An empty table holding at most `capacity` records.
    pub fn new(capacity: usize) -> Self {
        Self::with_seed(capacity, 0)
    }

    /// [`PeerTable::new`] with its index hashed with `hash_seed`.
    pub fn with_seed(capacity: usize, hash_seed: u64) -> Self {
        PeerTable {
            records: id_map(hash_seed),
            by_last_seen: BinaryHeap::new(),
            recency_tracked: false,
            shareable: Vec::new(),
            capacity,
        }
    }

    /// The record of `node_id`.
    pub fn get(&self, node_id: &NodeId) -> Option<&PeerRecord> {
        self.records.get(node_id).map(|stored| &stored.record)
    }

    /// The record of `node_id` if it may be passed on in a PeerExchange.
    pub fn get_shareable(&self, node_id: &NodeId) -> Option<&PeerRecord> {
        self.records
            .get(node_id)
            .filter(|stored| stored.shareable_slot.is_some())
            .map(|stored| &stored.record)
    }

    /// Every record, in no particular (but reproducible) order.
    pub fn iter(&self) -> impl Iterator<Item = &PeerRecord> {
        self.records.values().map(|stored| &stored.record)
    }

    /// Every record discovery may dial ([`PeerRecord::is_dialable`]), in the order of
    /// [`PeerTable::iter`], without parsing any address.
    pub fn iter_dialable(&self) -> impl Iterator<Item = &PeerRecord> {
        self.records
            .values()
            .filter(|stored| stored.dialable)
            .map(|stored| &stored.record)
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when there are no records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Number of shareable records.
    pub fn shareable_len(&self) -> usize {
        self.shareable.len()
    }

    /// Up to `count` distinct shareable records drawn uniformly at random (Floyd's sampling:
    /// `count` draws from `rng`, no scan of the table).
    pub fn sample_shareable<'a>(
        &'a self,
        rng: &mut impl RngCore,
        count: usize,
    ) -> impl Iterator<Item = &'a PeerRecord> + 'a {
        let n = self.shareable.len();
        let count = count.min(n);
        let mut chosen: Vec<usize> = Vec::with_capacity(count);
        for j in n - count..n {
            let t = (rng.next_u64() % (j as u64 + 1)) as usize;
            chosen.push(if chosen.contains(&t) { j } else { t });
        }
        chosen
            .into_iter()
            .filter_map(move |index| self.get(&self.shareable[index]))
    }

    /// Stores `record` as is, replacing any record of the same node. If the table is full, the
    /// least recently seen record for which `protected` is false is evicted and returned.
    pub fn put(
        &mut self,
        record: PeerRecord,
        protected: impl Fn(&NodeId) -> bool,
    ) -> Option<NodeId> {
        let mut evicted = None;
        let mut slot = None;
        if let Some(old) = self.records.get(&record.node_id) {
            slot = old.shareable_slot;
        } else if self.capacity > 0 && self.records.len() >= self.capacity {
            match self.oldest(|id| !protected(id) && *id != record.node_id) {
                Some((_, victim)) => {
                    self.remove(&victim);
                    evicted = Some(victim);
                }
                // Every record is protected: keep the table as it is.
                None => return None,
            }
        }
        let id = record.node_id;
        match (slot, record.is_shareable()) {
            (Some(old), false) => {
                self.unshare(old);
                slot = None;
            }
            (None, true) => {
                slot = Some(self.shareable.len());
                self.shareable.push(id);
            }
            _ => {}
        }
        self.note_last_seen(record.last_seen, id);
        self.records.insert(
            id,
            Stored {
                dialable: record.is_dialable(),
                record,
                shareable_slot: slot,
            },
        );
        evicted
    }

    /// Removes the record of `node_id`.
    pub fn remove(&mut self, node_id: &NodeId) -> Option<PeerRecord> {
        let stored = self.records.remove(node_id)?;
        shrink_if_sparse(&mut self.records);
        if let Some(slot) = stored.shareable_slot {
            self.unshare(slot);
        }
        Some(stored.record)
    }

    /// Records that `id` was last seen at `last_seen` (see [`PeerTable::by_last_seen`]).
    fn note_last_seen(&mut self, last_seen: i64, id: NodeId) {
        if !self.recency_tracked {
            return;
        }
        self.by_last_seen.push(Reverse((last_seen, id)));
        if self.by_last_seen.len() > 2 * self.records.len() + 64 {
            self.rebuild_recency();
            // The caller's record may not be stored yet.
            self.by_last_seen.push(Reverse((last_seen, id)));
        }
    }

    /// Rebuilds [`PeerTable::by_last_seen`] from the records, without stale pairs.
    fn rebuild_recency(&mut self) {
        self.by_last_seen = self
            .records
            .values()
            .map(|s| Reverse((s.record.last_seen, s.record.node_id)))
            .collect();
    }

    /// The `(last_seen, id)` of the least recently seen record for which `eligible` holds
    /// (ties: smallest id). Stale pairs met on the way are dropped; the rest stay.
    fn oldest(&mut self, eligible: impl Fn(&NodeId) -> bool) -> Option<(i64, NodeId)> {
        if !self.recency_tracked {
            self.rebuild_recency();
            self.recency_tracked = true;
        }
        let mut kept = Vec::new();
        let mut found = None;
        while let Some(Reverse((last_seen, id))) = self.by_last_seen.pop() {
            let current = self
                .records
                .get(&id)
                .is_some_and(|s| s.record.last_seen == last_seen);
            if !current {
                continue;
            }
            kept.push(Reverse((last_seen, id)));
            if eligible(&id) {
                found = Some((last_seen, id));
                break;
            }
        }
        self.by_last_seen.extend(kept);
        found
    }

    fn set_slot(&mut self, id: &NodeId, slot: Option<usize>) {
        if let Some(stored) = self.records.get_mut(id) {
            stored.shareable_slot = slot;
        }
    }

    /// Takes the id at `slot` out of the shareable list (the last id moves into its place).
    fn unshare(&mut self, slot: usize) {
        self.shareable.swap_remove(slot);
        if self.shareable.capacity() > 4 * self.shareable.len() + 64 {
            self.shareable.shrink_to(2 * self.shareable.len());
        }
        if let Some(moved) = self.shareable.get(slot) {
            if let Some(stored) = self.records.get_mut(moved) {
                stored.shareable_slot = Some(slot);
            }
        }
    }

    /// Merges a validated PeerExchange entry (spec §12.3): create if unknown; otherwise
    /// overwrite address, reachability, key and `last_seen` only if `last_seen` is newer.
    ///
    /// A `last_seen` in the future is taken as `now_unix`: otherwise one forged entry with
    /// `last_seen = u64::MAX` would pin a false address for ever (no later entry is newer).
    pub fn merge<'a>(
        &mut self,
        node_id: NodeId,
        key: [u8; 32],
        info: impl Into<PeerInfoRef<'a>>,
        now_unix: i64,
        protected: impl Fn(&NodeId) -> bool,
    ) -> (Merge, Option<NodeId>) {
        let info = info.into();
        let last_seen = clamp_last_seen(info.last_seen).min(now_unix);
        let full = self.capacity > 0 && self.records.len() >= self.capacity;
        if full && !self.records.contains_key(&node_id) {
            // A full table takes a new record only in place of an older one: an entry last
            // seen no later than every evictable record would push out fresher knowledge
            // (and, passed on by the next exchange, come back to churn the table again).
            let oldest = self.oldest(|id| !protected(id) && *id != node_id);
            if oldest.is_none_or(|(oldest_seen, _)| oldest_seen >= last_seen) {
                return (Merge::Unchanged, None);
            }
        }
        let Some(stored) = self.records.get_mut(&node_id) else {
            let record = PeerRecord {
                node_id,
                addr: String::from(info.addr),
                reachable: info.reachable,
                public_key: Some(key),
                last_seen,
                fail_count: 0,
                last_fail: 0,
            };
            let evicted = self.put(record, protected);
            if !self.records.contains_key(&node_id) {
                // The table is full of protected records: nothing was stored.
                return (Merge::Unchanged, None);
            }
            return (Merge::Created, evicted);
        };
        let record = &mut stored.record;
        if last_seen <= record.last_seen {
            return (Merge::Unchanged, None);
        }
        // Updated in place: the address buffer is reused and the recency heap gets a new pair.
        if record.addr != info.addr {
            record.addr.clear();
            record.addr.push_str(info.addr);
        }
        record.reachable = info.reachable;
        record.public_key = Some(key);
        record.last_seen = last_seen;
        stored.dialable = record.is_dialable();
        let shareable = record.is_shareable();
        let slot = stored.shareable_slot;
        self.note_last_seen(last_seen, node_id);
        match (slot, shareable) {
            (Some(slot), false) => {
                self.set_slot(&node_id, None);
                self.unshare(slot);
            }
            (None, true) => {
                self.set_slot(&node_id, Some(self.shareable.len()));
                self.shareable.push(node_id);
            }
            _ => {}
        }
        (Merge::Updated, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use micelio_proto::PeerInfo;

    fn info(identity: &Identity, addr: &str, last_seen: u64) -> PeerInfo {
        PeerInfo {
            node_id: String::from(identity.node_id().as_str()),
            addr: String::from(addr),
            reachable: true,
            ed25519_pubkey: identity.public_key().to_vec(),
            last_seen,
        }
    }

    fn own() -> NodeId {
        Identity::from_seed(&[0; 32]).node_id()
    }

    #[test]
    fn backoff_sequence() {
        assert_eq!(backoff_secs(0), 0);
        assert_eq!(backoff_secs(-3), 0);
        let seq: Vec<i64> = [1, 2, 3, 4, 5, 6, 10]
            .iter()
            .map(|&n| backoff_secs(n))
            .collect();
        assert_eq!(seq, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(backoff_secs(i64::MAX), 30);
    }

    #[test]
    fn last_seen_clamps() {
        assert_eq!(clamp_last_seen(1000), 1000);
        assert_eq!(clamp_last_seen(i64::MAX as u64), i64::MAX);
        assert_eq!(clamp_last_seen(1 << 63), i64::MAX);
        assert_eq!(clamp_last_seen(u64::MAX), i64::MAX);
    }

    #[test]
    fn entry_validation_rejects_each_bad_field() {
        let peer = Identity::from_seed(&[1; 32]);
        let own = own();
        assert!(validate_entry(&info(&peer, "10.0.0.1:4000", 1), &own, |_| None).is_ok());
        for addr in ["0.0.0.0:4000", "[::]:4000", ":4000", "not-a-hostport"] {
            assert_eq!(
                validate_entry(&info(&peer, addr, 1), &own, |_| None),
                Err(RejectReason::InvalidAddr),
                "{addr}"
            );
        }
        assert_eq!(
            validate_entry(&info(&peer, "", 1), &own, |_| None),
            Err(RejectReason::NotReachable)
        );
        let mut unreachable = info(&peer, "10.0.0.1:4000", 1);
        unreachable.reachable = false;
        assert_eq!(
            validate_entry(&unreachable, &own, |_| None),
            Err(RejectReason::NotReachable)
        );
        let mut short_key = info(&peer, "10.0.0.1:4000", 1);
        short_key.ed25519_pubkey.pop();
        assert_eq!(
            validate_entry(&short_key, &own, |_| None),
            Err(RejectReason::InvalidKeyLength)
        );
        let mut mismatched = info(&peer, "10.0.0.1:4000", 1);
        mismatched.ed25519_pubkey = Identity::from_seed(&[2; 32]).public_key().to_vec();
        assert_eq!(
            validate_entry(&mismatched, &own, |_| None),
            Err(RejectReason::MismatchedNodeId)
        );
        let myself = info(&Identity::from_seed(&[0; 32]), "10.0.0.1:4000", 1);
        assert_eq!(
            validate_entry(&myself, &own, |_| None),
            Err(RejectReason::IsSelf)
        );
    }

    #[test]
    fn merge_updates_only_when_newer_and_keeps_failures() {
        let peer = Identity::from_seed(&[1; 32]);
        let mut table = PeerTable::new(10);
        let first = info(&peer, "10.0.0.1:4000", 100);
        let (id, key) = validate_entry(&first, &own(), |_| None).unwrap();
        assert_eq!(
            table.merge(id, key, &first, i64::MAX, |_| false).0,
            Merge::Created
        );
        let mut failed = table.get(&id).unwrap().clone();
        failed.fail_count = 2;
        failed.last_fail = 50;
        table.put(failed, |_| false);
        let older = info(&peer, "10.0.0.2:4000", 99);
        assert_eq!(
            table.merge(id, key, &older, i64::MAX, |_| false).0,
            Merge::Unchanged
        );
        assert_eq!(table.get(&id).unwrap().addr, "10.0.0.1:4000");
        let newer = info(&peer, "10.0.0.3:4000", 101);
        assert_eq!(
            table.merge(id, key, &newer, i64::MAX, |_| false).0,
            Merge::Updated
        );
        let record = table.get(&id).unwrap();
        assert_eq!(
            (record.addr.as_str(), record.fail_count, record.last_fail),
            ("10.0.0.3:4000", 2, 50)
        );
    }

    #[test]
    fn future_last_seen_is_capped_at_now_so_it_cannot_pin_an_address() {
        let peer = Identity::from_seed(&[1; 32]);
        let mut table = PeerTable::new(10);
        let forged = info(&peer, "10.6.6.6:4000", u64::MAX);
        let (id, key) = validate_entry(&forged, &own(), |_| None).unwrap();
        assert_eq!(
            table.merge(id, key, &forged, 1_000, |_| false).0,
            Merge::Created
        );
        assert_eq!(table.get(&id).unwrap().last_seen, 1_000);
        let honest = info(&peer, "10.0.0.1:4000", 1_001);
        assert_eq!(
            table.merge(id, key, &honest, 1_001, |_| false).0,
            Merge::Updated
        );
        assert_eq!(table.get(&id).unwrap().addr, "10.0.0.1:4000");
    }

    #[test]
    fn full_table_trades_its_least_recently_seen_unprotected_record_for_a_fresher_one() {
        let mut table = PeerTable::new(3);
        let ids: Vec<Identity> = (1..=4).map(|i| Identity::from_seed(&[i; 32])).collect();
        for (i, peer) in ids.iter().take(3).enumerate() {
            let entry = info(peer, "10.0.0.1:4000", 10 + i as u64);
            let (id, key) = validate_entry(&entry, &own(), |_| None).unwrap();
            table.merge(id, key, &entry, i64::MAX, |_| false);
        }
        let protected = ids[0].node_id();
        // Last seen before every evictable record (11 and 12): not worth a place.
        let stale = info(&ids[3], "10.0.0.1:4000", 11);
        let (id, key) = validate_entry(&stale, &own(), |_| None).unwrap();
        let (outcome, evicted) = table.merge(id, key, &stale, i64::MAX, |n| *n == protected);
        assert_eq!((outcome, evicted), (Merge::Unchanged, None));
        assert!(table.get(&id).is_none());
        // Fresher than the oldest evictable record (ids[1] at 11; ids[0] at 10 is protected).
        let fresh = info(&ids[3], "10.0.0.1:4000", 20);
        let (outcome, evicted) = table.merge(id, key, &fresh, i64::MAX, |n| *n == protected);
        assert_eq!(outcome, Merge::Created);
        assert_eq!(evicted, Some(ids[1].node_id()));
        assert_eq!(table.len(), 3);
        assert!(table.get(&protected).is_some());
    }

    #[test]
    fn loaded_records_are_validated() {
        let peer = Identity::from_seed(&[1; 32]);
        let mut record = PeerRecord {
            node_id: peer.node_id(),
            addr: String::from("10.0.0.1:4000"),
            reachable: true,
            public_key: Some(*peer.public_key()),
            last_seen: 1,
            fail_count: 0,
            last_fail: 0,
        };
        assert_eq!(validate_loaded(&record), Ok(()));
        record.public_key = None;
        assert_eq!(validate_loaded(&record), Ok(()));
        record.public_key = Some(*Identity::from_seed(&[2; 32]).public_key());
        assert_eq!(
            validate_loaded(&record),
            Err(RejectReason::MismatchedNodeId)
        );
        record.public_key = None;
        record.addr = String::from("0.0.0.0:1");
        assert_eq!(validate_loaded(&record), Err(RejectReason::InvalidAddr));
    }

    /// Operations on a small table, with the shareable list checked against the records
    /// after each one.
    #[derive(Clone, Debug)]
    enum Op {
        Put {
            who: u8,
            addr_ok: bool,
            with_key: bool,
            last_seen: i64,
        },
        Merge {
            who: u8,
            addr_ok: bool,
            last_seen: u64,
        },
        Remove {
            who: u8,
        },
    }

    fn op_strategy() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            (0u8..12, any::<bool>(), any::<bool>(), 0i64..50).prop_map(
                |(who, addr_ok, with_key, last_seen)| Op::Put {
                    who,
                    addr_ok,
                    with_key,
                    last_seen
                }
            ),
            (0u8..12, any::<bool>(), 0u64..50).prop_map(|(who, addr_ok, last_seen)| Op::Merge {
                who,
                addr_ok,
                last_seen
            }),
            (0u8..12).prop_map(|who| Op::Remove { who }),
        ]
    }

    proptest::proptest! {
        #[test]
        fn shareable_list_matches_the_records(
            ops in proptest::collection::vec(op_strategy(), 1..60),
            capacity in 0usize..8,
            draw in 0usize..14,
            seed in proptest::prelude::any::<u64>(),
        ) {
            use rand_core::SeedableRng;
            let people: Vec<Identity> = (0..12u8).map(|i| Identity::from_seed(&[i + 1; 32])).collect();
            let addr = |ok: bool| if ok { "10.0.0.1:4000" } else { "0.0.0.0:4000" };
            let mut table = PeerTable::new(capacity);
            for op in ops {
                match op {
                    Op::Put { who, addr_ok, with_key, last_seen } => {
                        let person = &people[who as usize];
                        // Eviction takes the least recently seen record (ties: smallest id).
                        let full = capacity > 0
                            && table.len() >= capacity
                            && table.get(&person.node_id()).is_none();
                        let expected_victim = table
                            .iter()
                            .map(|r| (r.last_seen, r.node_id))
                            .min()
                            .map(|(_, id)| id);
                        let evicted = table.put(
                            PeerRecord {
                                node_id: person.node_id(),
                                addr: String::from(addr(addr_ok)),
                                reachable: true,
                                public_key: with_key.then(|| *person.public_key()),
                                last_seen,
                                fail_count: 0,
                                last_fail: 0,
                            },
                            |_| false,
                        );
                        if full {
                            proptest::prop_assert_eq!(evicted, expected_victim);
                        } else {
                            proptest::prop_assert_eq!(evicted, None);
                        }
                    }
                    Op::Merge { who, addr_ok, last_seen } => {
                        let person = &people[who as usize];
                        let entry = info(person, addr(addr_ok), last_seen);
                        let new_into_full = capacity > 0
                            && table.len() >= capacity
                            && table.get(&person.node_id()).is_none();
                        let oldest = table.iter().map(|r| (r.last_seen, r.node_id)).min();
                        let (outcome, evicted) = table.merge(
                            person.node_id(), *person.public_key(), &entry, 40, |_| false,
                        );
                        if new_into_full {
                            // Stored only in place of an older record, which goes.
                            let fresher = oldest.filter(|(seen, _)| *seen < (last_seen as i64).min(40));
                            match fresher {
                                Some((_, victim)) => {
                                    proptest::prop_assert_eq!(outcome, Merge::Created);
                                    proptest::prop_assert_eq!(evicted, Some(victim));
                                }
                                None => {
                                    proptest::prop_assert_eq!((outcome, evicted), (Merge::Unchanged, None));
                                    proptest::prop_assert!(table.get(&person.node_id()).is_none());
                                }
                            }
                        }
                    }
                    Op::Remove { who } => {
                        table.remove(&people[who as usize].node_id());
                    }
                }
                let mut expected: Vec<NodeId> =
                    table.iter().filter(|r| r.is_shareable()).map(|r| r.node_id).collect();
                let mut listed: Vec<NodeId> = table.shareable.clone();
                expected.sort();
                listed.sort();
                proptest::prop_assert_eq!(&listed, &expected);
                for id in &expected {
                    proptest::prop_assert!(table.get_shareable(id).is_some());
                }
                proptest::prop_assert!(table.by_last_seen.len() <= 2 * table.len() + 65);
                let dialable: Vec<NodeId> = table.iter_dialable().map(|r| r.node_id).collect();
                let expected_dialable: Vec<NodeId> =
                    table.iter().filter(|r| r.is_dialable()).map(|r| r.node_id).collect();
                proptest::prop_assert_eq!(dialable, expected_dialable);
            }
            let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
            let mut sample: Vec<NodeId> =
                table.sample_shareable(&mut rng, draw).map(|r| r.node_id).collect();
            proptest::prop_assert_eq!(sample.len(), draw.min(table.shareable_len()));
            proptest::prop_assert!(sample.iter().all(|id| table.get_shareable(id).is_some()));
            sample.sort();
            sample.dedup();
            proptest::prop_assert_eq!(sample.len(), draw.min(table.shareable_len()));
        }
    }
}
