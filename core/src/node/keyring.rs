//! The key ring (spec §10.4): the ED25519 public key of each known node id with how it was
//! learned, bounded in size with eviction that favours directly verified keys.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use core::time::Duration;

use super::id_slots::{IdSlots, Slot};
use crate::identity::NodeId;
use crate::suite::{PreparedKey, Suite};
use crate::time::Instant;

/// How a key in the [`KeyRing`] was learned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Trust {
    /// Checked by ourselves: our own key, or a peer's key after its hello (level 0, stronger).
    DirectlyVerified,
    /// Learned from a PeerExchange entry or auto-learned from an envelope (level 1, weaker).
    GossipLearned,
}

impl Trust {
    /// True when `self` is strictly stronger than `other`: only
    /// [`Trust::DirectlyVerified`] over [`Trust::GossipLearned`].
    pub const fn is_stronger_than(self, other: Trust) -> bool {
        matches!(
            (self, other),
            (Trust::DirectlyVerified, Trust::GossipLearned)
        )
    }
}

/// One stored key.
#[derive(Clone, Debug)]
struct Entry {
    key: [u8; 32],
    /// The key prepared for verification ([`PreparedKey::Invalid`] when the bytes are not a
    /// curve point: every signature then fails to verify).
    prepared: PreparedKey,
    trust: Trust,
    /// Position in the order index of `trust` (insertion order for directly verified keys,
    /// last use for gossip-learned ones).
    seq: u64,
    /// When the key was stored or last verified a message.
    last_used: Instant,
}

/// Map node id → (ED25519 public key, [`Trust`]) with the insertion rule of spec §10.4: an entry
/// is stored only if the id is absent or its entry is strictly weaker. So a directly verified
/// key is never replaced, a gossip-learned key is replaced only by a directly verified one, and
/// at equal trust the first key wins. Callers check that the id is the key's hash first.
///
/// Our bound: at most [`KeyRing::capacity`] entries. When a new id arrives at a full ring, the
/// least recently used gossip-learned entry is evicted; if there is none, a gossip-learned
/// insert is refused, while a directly verified insert evicts the oldest directly verified
/// entry. Gossip-learned keys unused for an idle period are dropped by [`KeyRing::sweep`]: every
/// gossip envelope carries its originator's key, so a later message teaches it again.
/// Every operation is O(log n): each trust level keeps an order index.
#[derive(Clone, Debug)]
pub struct KeyRing {
    capacity: usize,
    /// How keys are prepared for verification.
    suite: Suite,
    entries: IdSlots<Entry>,
    /// seq → slot of the directly verified entries, oldest first.
    direct: BTreeMap<u64, Slot>,
    /// seq → slot of the gossip-learned entries, least recently used first.
    gossip: BTreeMap<u64, Slot>,
    /// Next insertion sequence number.
    next_seq: u64,
}

impl KeyRing {
    /// An empty ring holding at most `capacity` keys. A `capacity` of 0 is taken as 1.
    pub fn new(capacity: usize) -> Self {
        Self::with_suite(capacity, Suite::Standard, 0)
    }

    /// [`KeyRing::new`] preparing keys for `suite`, its index hashed with `hash_seed`.
    pub fn with_suite(capacity: usize, suite: Suite, hash_seed: u64) -> Self {
        KeyRing {
            capacity: capacity.max(1),
            suite,
            entries: IdSlots::with_seed(hash_seed),
            direct: BTreeMap::new(),
            gossip: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// The key stored for `id`, prepared for verification (`None` when unknown).
    pub fn prepared_key(&self, id: &NodeId) -> Option<&PreparedKey> {
        self.entries.get(id).map(|entry| &entry.prepared)
    }

    /// The key stored for `id` and its trust level.
    pub fn get(&self, id: &NodeId) -> Option<([u8; 32], Trust)> {
        self.entries.get(id).map(|entry| (entry.key, entry.trust))
    }

    /// Stores `key` for `id` with `trust` if `id` is absent or its entry is strictly weaker
    /// than `trust` (spec §10.4), evicting as described on [`KeyRing`] when a new id arrives at
    /// a full ring. Returns true when the key was stored.
    pub fn insert(&mut self, id: NodeId, key: [u8; 32], trust: Trust, now: Instant) -> bool {
        if let Some(existing) = self.entries.get(&id) {
            if !trust.is_stronger_than(existing.trust) {
                return false;
            }
            // An upgrade: same id, so no room is needed.
            let old_seq = existing.seq;
            let old_trust = existing.trust;
            self.order_mut(old_trust).remove(&old_seq);
        } else if self.entries.len() >= self.capacity && !self.make_room(trust) {
            return false;
        }
        let seq = self.take_seq();
        let entry = Entry {
            key,
            prepared: self.suite.prepare_key(&key),
            trust,
            seq,
            last_used: now,
        };
        let Some(slot) = self.entries.insert(id, entry) else {
            return false;
        };
        self.order_mut(trust).insert(seq, slot);
        true
    }

    /// Records that `id`'s key just verified a message: a gossip-learned key becomes the most
    /// recently used.
    pub fn touch(&mut self, id: &NodeId, now: Instant) {
        let Some(slot) = self.entries.slot(id) else {
            return;
        };
        let Some((_, entry)) = self.entries.at(slot) else {
            return;
        };
        if entry.trust != Trust::GossipLearned {
            return;
        }
        let old_seq = entry.seq;
        self.gossip.remove(&old_seq);
        let seq = self.take_seq();
        self.gossip.insert(seq, slot);
        if let Some((_, stored)) = self.entries.at_mut(slot) {
            stored.seq = seq;
            stored.last_used = now;
        }
    }

    /// Drops the gossip-learned keys unused for `idle` or longer; returns how many.
    pub fn sweep(&mut self, now: Instant, idle: Duration) -> usize {
        let mut dropped = 0;
        while let Some((&seq, &slot)) = self.gossip.first_key_value() {
            let expired = self
                .entries
                .at(slot)
                .is_none_or(|(_, entry)| entry.last_used + idle <= now);
            if !expired {
                break;
            }
            self.gossip.remove(&seq);
            self.entries.remove_at(slot);
            dropped += 1;
        }
        if self.entries.is_sparse() {
            self.compact();
        }
        dropped
    }

    /// Packs the entries into as little room as they need and re-indexes their new slots.
    fn compact(&mut self) {
        let (direct, gossip) = (&mut self.direct, &mut self.gossip);
        direct.clear();
        gossip.clear();
        self.entries.compact(|slot, entry| {
            match entry.trust {
                Trust::DirectlyVerified => direct.insert(entry.seq, slot),
                Trust::GossipLearned => gossip.insert(entry.seq, slot),
            };
        });
    }

    /// Removes the entry of `id`; returns true when there was one.
    pub fn remove(&mut self, id: &NodeId) -> bool {
        match self.entries.remove(id) {
            Some(entry) => {
                self.order_mut(entry.trust).remove(&entry.seq);
                true
            }
            None => false,
        }
    }

    /// Number of keys stored.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no key is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Most keys stored at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The insertion-order index of `trust`.
    fn order_mut(&mut self, trust: Trust) -> &mut BTreeMap<u64, Slot> {
        match trust {
            Trust::DirectlyVerified => &mut self.direct,
            Trust::GossipLearned => &mut self.gossip,
        }
    }

    /// Frees one slot for a new entry of trust `incoming`; false when the insert is refused.
    fn make_room(&mut self, incoming: Trust) -> bool {
        let victim = match self.gossip.pop_first() {
            Some((_, slot)) => slot,
            None => match incoming {
                Trust::GossipLearned => return false,
                Trust::DirectlyVerified => match self.direct.pop_first() {
                    Some((_, slot)) => slot,
                    // Unreachable: a full ring with both indexes empty.
                    None => return self.entries.len() < self.capacity,
                },
            },
        };
        self.entries.remove_at(victim);
        true
    }

    /// A fresh sequence number, renumbering every entry (keeping the order) in the
    /// practically unreachable case that the counter is exhausted.
    fn take_seq(&mut self) -> u64 {
        if self.next_seq == u64::MAX {
            self.renumber();
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        seq
    }

    /// Reassigns sequence numbers 0, 1, 2, … in the current insertion order.
    fn renumber(&mut self) {
        let mut all: Vec<(u64, Slot)> = self
            .direct
            .iter()
            .chain(self.gossip.iter())
            .map(|(&seq, &slot)| (seq, slot))
            .collect();
        all.sort_unstable_by_key(|&(seq, _)| seq);
        self.direct.clear();
        self.gossip.clear();
        let mut next = 0u64;
        for (_, slot) in all {
            if let Some((_, entry)) = self.entries.at_mut(slot) {
                entry.seq = next;
                match entry.trust {
                    Trust::DirectlyVerified => self.direct.insert(next, slot),
                    Trust::GossipLearned => self.gossip.insert(next, slot),
                };
                next = next.saturating_add(1);
            }
        }
        self.next_seq = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Instant = Instant::ZERO;

    fn id(n: u8) -> NodeId {
        NodeId::from_public_key(&key(n))
    }

    fn key(n: u8) -> [u8; 32] {
        [n; 32]
    }

    fn assert_consistent(ring: &KeyRing) {
        assert!(ring.entries.len() <= ring.capacity);
        assert_eq!(ring.entries.len(), ring.direct.len() + ring.gossip.len());
        for (seq, slot) in &ring.direct {
            let (_, entry) = ring.entries.at(*slot).expect("indexed slot is stored");
            assert_eq!((entry.seq, entry.trust), (*seq, Trust::DirectlyVerified));
        }
        for (seq, slot) in &ring.gossip {
            let (_, entry) = ring.entries.at(*slot).expect("indexed slot is stored");
            assert_eq!((entry.seq, entry.trust), (*seq, Trust::GossipLearned));
        }
        for entry in ring.entries.values() {
            assert!(entry.seq < ring.next_seq);
        }
    }

    #[test]
    fn trust_order() {
        use Trust::*;
        assert!(DirectlyVerified.is_stronger_than(GossipLearned));
        assert!(!GossipLearned.is_stronger_than(DirectlyVerified));
        assert!(!DirectlyVerified.is_stronger_than(DirectlyVerified));
        assert!(!GossipLearned.is_stronger_than(GossipLearned));
    }

    /// TESTS.md §15, TestKeyRingAddAndLookup.
    #[test]
    fn add_and_lookup() {
        let mut ring = KeyRing::new(16);
        assert!(ring.insert(id(1), key(1), Trust::DirectlyVerified, T0));
        assert_eq!(ring.get(&id(1)), Some((key(1), Trust::DirectlyVerified)));
        assert_consistent(&ring);
    }

    /// TESTS.md §15, TestKeyRingUnknownNode.
    #[test]
    fn unknown_node_is_not_found() {
        let mut ring = KeyRing::new(16);
        assert_eq!(ring.get(&id(1)), None);
        ring.insert(id(1), key(1), Trust::GossipLearned, T0);
        assert_eq!(ring.get(&id(2)), None);
    }

    /// TESTS.md §15, TestKeyRingNoDowngrade.
    #[test]
    fn gossip_does_not_replace_direct() {
        let mut ring = KeyRing::new(16);
        assert!(ring.insert(id(1), key(1), Trust::DirectlyVerified, T0));
        assert!(!ring.insert(id(1), key(9), Trust::GossipLearned, T0));
        assert_eq!(ring.get(&id(1)), Some((key(1), Trust::DirectlyVerified)));
        assert_consistent(&ring);
    }

    /// TESTS.md §15, TestKeyRingUpgrade.
    #[test]
    fn direct_replaces_gossip() {
        let mut ring = KeyRing::new(16);
        assert!(ring.insert(id(1), key(1), Trust::GossipLearned, T0));
        assert!(ring.insert(id(1), key(9), Trust::DirectlyVerified, T0));
        assert_eq!(ring.get(&id(1)), Some((key(9), Trust::DirectlyVerified)));
        assert_eq!(ring.len(), 1);
        assert_consistent(&ring);
    }

    /// TESTS.md §15, TestKeyRingSameLevel.
    #[test]
    fn equal_trust_keeps_first_key() {
        let mut ring = KeyRing::new(16);
        for trust in [Trust::DirectlyVerified, Trust::GossipLearned] {
            let mut ring2 = KeyRing::new(16);
            assert!(ring2.insert(id(1), key(1), trust, T0));
            assert!(!ring2.insert(id(1), key(2), trust, T0));
            assert_eq!(ring2.get(&id(1)), Some((key(1), trust)));
        }
        assert!(ring.insert(id(1), key(1), Trust::GossipLearned, T0));
        assert!(!ring.insert(id(1), key(1), Trust::GossipLearned, T0));
    }

    /// TESTS.md §15, TestKeyRingRemove and TestKeyRingLen.
    #[test]
    fn remove_and_len() {
        let mut ring = KeyRing::new(16);
        assert!(ring.is_empty());
        ring.insert(id(1), key(1), Trust::DirectlyVerified, T0);
        ring.insert(id(2), key(2), Trust::GossipLearned, T0);
        ring.insert(id(3), key(3), Trust::GossipLearned, T0);
        assert_eq!(ring.len(), 3);
        assert!(ring.remove(&id(2)));
        assert!(!ring.remove(&id(2)));
        assert_eq!(ring.get(&id(2)), None);
        assert_eq!(ring.len(), 2);
        assert!(ring.remove(&id(1)));
        assert_eq!(ring.len(), 1);
        assert!(!ring.is_empty());
        assert_consistent(&ring);
        // A removed id can be learned again, at any trust.
        assert!(ring.insert(id(2), key(2), Trust::GossipLearned, T0));
        assert_eq!(ring.len(), 2);
        assert_consistent(&ring);
    }

    #[test]
    fn full_ring_evicts_oldest_gossip_first() {
        let mut ring = KeyRing::new(4);
        ring.insert(id(1), key(1), Trust::GossipLearned, T0);
        ring.insert(id(2), key(2), Trust::DirectlyVerified, T0);
        ring.insert(id(3), key(3), Trust::GossipLearned, T0);
        ring.insert(id(4), key(4), Trust::GossipLearned, T0);
        // New gossip id: the oldest gossip entry (1) goes, the direct one stays.
        assert!(ring.insert(id(5), key(5), Trust::GossipLearned, T0));
        assert_eq!(ring.get(&id(1)), None);
        assert!(ring.get(&id(2)).is_some());
        // New direct id: the oldest gossip entry (3) goes.
        assert!(ring.insert(id(6), key(6), Trust::DirectlyVerified, T0));
        assert_eq!(ring.get(&id(3)), None);
        assert_eq!(ring.len(), 4);
        assert_consistent(&ring);
    }

    #[test]
    fn upgrade_moves_entry_out_of_the_gossip_order() {
        let mut ring = KeyRing::new(3);
        ring.insert(id(1), key(1), Trust::GossipLearned, T0);
        ring.insert(id(2), key(2), Trust::GossipLearned, T0);
        ring.insert(id(3), key(3), Trust::GossipLearned, T0);
        // Upgrading at a full ring evicts nothing.
        assert!(ring.insert(id(1), key(1), Trust::DirectlyVerified, T0));
        assert_eq!(ring.len(), 3);
        // 1 is no longer gossip-learned, so 2 is now the oldest gossip entry.
        assert!(ring.insert(id(4), key(4), Trust::GossipLearned, T0));
        assert_eq!(ring.get(&id(1)), Some((key(1), Trust::DirectlyVerified)));
        assert_eq!(ring.get(&id(2)), None);
        assert_consistent(&ring);
    }

    #[test]
    fn full_of_direct_refuses_gossip_and_rotates_direct() {
        let mut ring = KeyRing::new(3);
        for n in 1..=3 {
            assert!(ring.insert(id(n), key(n), Trust::DirectlyVerified, T0));
        }
        assert!(!ring.insert(id(4), key(4), Trust::GossipLearned, T0));
        assert_eq!(ring.get(&id(4)), None);
        assert_eq!(ring.len(), 3);
        // A direct insert evicts the oldest direct entry.
        assert!(ring.insert(id(5), key(5), Trust::DirectlyVerified, T0));
        assert_eq!(ring.get(&id(1)), None);
        assert!(ring.insert(id(6), key(6), Trust::DirectlyVerified, T0));
        assert_eq!(ring.get(&id(2)), None);
        for n in [3, 5, 6] {
            assert_eq!(ring.get(&id(n)), Some((key(n), Trust::DirectlyVerified)));
        }
        // Refusals and rejected downgrades at a full ring change nothing.
        assert!(!ring.insert(id(3), key(9), Trust::GossipLearned, T0));
        assert!(!ring.insert(id(3), key(9), Trust::DirectlyVerified, T0));
        assert_eq!(ring.get(&id(3)), Some((key(3), Trust::DirectlyVerified)));
        assert_consistent(&ring);
    }

    #[test]
    fn zero_capacity_is_one() {
        let mut ring = KeyRing::new(0);
        assert_eq!(ring.capacity(), 1);
        assert!(ring.insert(id(1), key(1), Trust::GossipLearned, T0));
        assert!(ring.insert(id(2), key(2), Trust::GossipLearned, T0));
        assert_eq!(ring.get(&id(1)), None);
        assert!(ring.insert(id(3), key(3), Trust::DirectlyVerified, T0));
        assert!(!ring.insert(id(4), key(4), Trust::GossipLearned, T0));
        assert_eq!(ring.get(&id(3)), Some((key(3), Trust::DirectlyVerified)));
        assert_eq!(ring.len(), 1);
        assert_consistent(&ring);
    }

    #[test]
    fn bound_holds_under_churn() {
        let mut ring = KeyRing::new(16);
        for i in 0..2_000u32 {
            let n = u8::try_from(i % 251).unwrap_or(0);
            let trust = if i % 7 == 0 {
                Trust::DirectlyVerified
            } else {
                Trust::GossipLearned
            };
            ring.insert(id(n), key(n), trust, T0);
            if i % 13 == 0 {
                ring.remove(&id(n.wrapping_add(1)));
            }
            assert!(ring.len() <= 16);
        }
        assert_consistent(&ring);
    }

    #[test]
    fn sequence_exhaustion_renumbers_and_keeps_order() {
        let mut ring = KeyRing::new(3);
        ring.insert(id(1), key(1), Trust::GossipLearned, T0);
        ring.insert(id(2), key(2), Trust::DirectlyVerified, T0);
        ring.insert(id(3), key(3), Trust::GossipLearned, T0);
        ring.next_seq = u64::MAX;
        // Upgrade 3: takes a sequence number, which renumbers 1, 2, 3 to 0, 1, 2 first.
        assert!(ring.insert(id(3), key(3), Trust::DirectlyVerified, T0));
        assert_consistent(&ring);
        assert_eq!(ring.next_seq, 3);
        // Direct order is now 2, 3; gossip order is 1.
        assert!(ring.remove(&id(1)));
        assert!(ring.insert(id(4), key(4), Trust::DirectlyVerified, T0));
        assert!(ring.insert(id(5), key(5), Trust::DirectlyVerified, T0));
        assert_eq!(ring.get(&id(2)), None);
        assert!(ring.get(&id(3)).is_some());
        assert_consistent(&ring);
    }

    #[test]
    fn sweep_drops_idle_gossip_keys_only() {
        let idle = Duration::from_secs(300);
        let mut ring = KeyRing::new(16);
        ring.insert(id(1), key(1), Trust::DirectlyVerified, T0);
        ring.insert(id(2), key(2), Trust::GossipLearned, T0);
        ring.insert(id(3), key(3), Trust::GossipLearned, T0);
        // id 3 verifies a message at 200 s: its idle time restarts.
        ring.touch(&id(3), Instant::from_secs(200));
        assert_eq!(ring.sweep(Instant::from_secs(299), idle), 0);
        assert_eq!(ring.sweep(Instant::from_secs(300), idle), 1);
        assert_eq!(ring.get(&id(2)), None);
        assert!(ring.get(&id(3)).is_some());
        assert!(ring.get(&id(1)).is_some());
        assert_consistent(&ring);
        assert_eq!(ring.sweep(Instant::from_secs(10_000), idle), 1);
        assert_eq!(ring.get(&id(3)), None);
        assert_eq!(
            ring.get(&id(1)),
            Some((key(1), Trust::DirectlyVerified)),
            "directly verified keys never expire"
        );
        assert_consistent(&ring);
    }

    #[test]
    fn a_sweep_that_empties_the_ring_gives_its_room_back() {
        let mut ring = KeyRing::new(8_192);
        for n in 0..5_000u32 {
            let mut bytes = [0u8; 32];
            bytes[..4].copy_from_slice(&n.to_le_bytes());
            ring.insert(
                NodeId::from_public_key(&bytes),
                bytes,
                Trust::GossipLearned,
                T0,
            );
        }
        let full = ring.entries.capacity();
        assert!(full >= 5_000);
        assert_eq!(
            ring.sweep(Instant::from_secs(1_000), Duration::from_secs(300)),
            5_000
        );
        assert!(
            ring.entries.capacity() < 128,
            "{} of {full}",
            ring.entries.capacity()
        );
        assert_consistent(&ring);
    }

    #[test]
    fn a_full_ring_evicts_the_least_recently_used_gossip_key() {
        let mut ring = KeyRing::new(3);
        ring.insert(id(1), key(1), Trust::GossipLearned, T0);
        ring.insert(id(2), key(2), Trust::GossipLearned, T0);
        ring.insert(id(3), key(3), Trust::GossipLearned, T0);
        ring.touch(&id(1), Instant::from_secs(1));
        assert!(ring.insert(id(4), key(4), Trust::GossipLearned, Instant::from_secs(2)));
        assert!(ring.get(&id(1)).is_some(), "recently used key kept");
        assert_eq!(ring.get(&id(2)), None, "least recently used key evicted");
        assert_consistent(&ring);
    }
}
