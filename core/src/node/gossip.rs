//! The gossip engine's receive checks (spec §10.1 steps 0-5): sizes, duplicates, key lookup
//! with auto-learn, signature, per-sender rate limit, and marking seen last.

use core::fmt;

use micelio_proto::Envelope;

use super::NodeConfig;
use super::keyring::{KeyRing, Trust};
use super::rate_limiter::RateLimiter;
use super::seen_cache::{SeenCache, SeenId, SeenInsert};
use crate::envelope;
use crate::identity::NodeId;
use crate::time::Instant;

/// Why a gossip envelope was dropped. Dropped envelopes are never marked seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GossipDrop {
    /// `message_id` or `sender_id` is empty.
    EmptyId,
    /// `message_id` or `sender_id` is longer than 128 bytes.
    OversizedField,
    /// `payload` is longer than 64 KiB.
    OversizedPayload,
    /// The message id is in the seen cache.
    Duplicate,
    /// No key for the sender, and no usable `sender_pubkey`.
    UnknownSender,
    /// The signature does not verify with the sender's key.
    InvalidSignature,
    /// The sender's token bucket is empty.
    RateLimited,
    /// The seen cache is full of recent ids: the message is refused rather than risking a
    /// storm of re-accepted copies.
    Overloaded,
}

impl fmt::Display for GossipDrop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::EmptyId => "envelope rejected: empty id",
            Self::OversizedField => "envelope rejected: oversized field",
            Self::OversizedPayload => "envelope rejected: oversized payload",
            Self::Duplicate => "duplicate",
            Self::UnknownSender => "dropping message from unknown sender",
            Self::InvalidSignature => "invalid signature",
            Self::RateLimited => "rate limit exceeded",
            Self::Overloaded => "seen cache full, message refused",
        })
    }
}

impl core::error::Error for GossipDrop {}

/// Counters of the gossip engine (spec §10.9).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GossipStats {
    /// Envelopes that passed every check.
    pub received: u64,
    /// Envelopes delivered to the application.
    pub delivered: u64,
    /// Successful originator enqueues.
    pub broadcast: u64,
    /// Successful relay enqueues.
    pub forwarded: u64,
    /// Failed enqueues (full queues).
    pub dropped: u64,
    /// Envelopes refused by the checks, all reasons together (duplicates included).
    pub rejected: u64,
    /// Copies of already-seen messages received (a subset of `rejected`).
    pub duplicates: u64,
    /// Refused for a bad signature (a subset of `rejected`).
    pub invalid_signatures: u64,
    /// Refused because no key was known or carried for the sender (a subset of `rejected`).
    pub unknown_senders: u64,
    /// Refused by the sender's rate limit (a subset of `rejected`).
    pub rate_limited: u64,
    /// Refused because the seen cache was full of recent ids (a subset of `rejected`).
    pub overloaded: u64,
}

/// The state the checks need: seen cache, key ring and rate limiter.
pub struct Gossip {
    /// Message ids already processed.
    pub seen: SeenCache,
    /// Known sender keys.
    pub keys: KeyRing,
    /// Per-sender token buckets.
    pub limiter: RateLimiter,
    /// Counters.
    pub stats: GossipStats,
    max_payload: usize,
    max_id_len: usize,
    seen_min_age: core::time::Duration,
    /// Gossip-learned keys unused this long are dropped at the sweep.
    key_idle_ttl: core::time::Duration,
    /// This node's own id and key, kept outside the bounded ring so they are never evicted.
    own: (NodeId, [u8; 32]),
}

impl Gossip {
    /// An engine with the bounds of `config`.
    pub fn new(config: &NodeConfig, own: NodeId, own_key: [u8; 32]) -> Self {
        Gossip {
            seen: SeenCache::new(config.seen_ttl, config.max_seen),
            keys: KeyRing::new(config.max_keys),
            limiter: RateLimiter::new(
                config.rate_per_sec,
                config.rate_burst,
                config.rate_idle_ttl,
                config.max_rate_buckets,
            ),
            stats: GossipStats::default(),
            max_payload: config.max_gossip_payload,
            max_id_len: config.max_gossip_id_len,
            seen_min_age: config.seen_min_age,
            key_idle_ttl: config.key_idle_ttl,
            own: (own, own_key),
        }
    }

    /// Runs steps 0-5 of spec §10.1 and returns the verified sender, the envelope now being
    /// marked seen.
    pub fn accept(&mut self, now: Instant, envelope: &Envelope) -> Result<NodeId, GossipDrop> {
        let result = self.check(now, envelope);
        let stats = &mut self.stats;
        match result {
            Ok(_) => stats.received += 1,
            Err(drop) => {
                stats.rejected += 1;
                match drop {
                    GossipDrop::InvalidSignature => stats.invalid_signatures += 1,
                    GossipDrop::UnknownSender => stats.unknown_senders += 1,
                    GossipDrop::RateLimited => stats.rate_limited += 1,
                    GossipDrop::Overloaded => stats.overloaded += 1,
                    GossipDrop::EmptyId
                    | GossipDrop::OversizedField
                    | GossipDrop::OversizedPayload
                    | GossipDrop::Duplicate => {}
                }
            }
        }
        result
    }

    fn check(&mut self, now: Instant, envelope: &Envelope) -> Result<NodeId, GossipDrop> {
        if envelope.message_id.is_empty() || envelope.sender_id.is_empty() {
            return Err(GossipDrop::EmptyId);
        }
        if envelope.message_id.len() > self.max_id_len || envelope.sender_id.len() > self.max_id_len
        {
            return Err(GossipDrop::OversizedField);
        }
        if envelope.payload.len() > self.max_payload {
            return Err(GossipDrop::OversizedPayload);
        }
        let seen_id = SeenId::of(&envelope.message_id);
        if self.seen.contains_id(&seen_id) {
            return Err(GossipDrop::Duplicate);
        }
        let sender = NodeId::parse(&envelope.sender_id).ok_or(GossipDrop::UnknownSender)?;
        if sender == self.own.0 {
            envelope::verify(envelope, &self.own.1).map_err(|_| GossipDrop::InvalidSignature)?;
        } else if let Some(key) = self.keys.verifying_key(&sender) {
            envelope::verify_with(envelope, key).map_err(|_| GossipDrop::InvalidSignature)?;
            self.keys.touch(&sender, now);
        } else if self.keys.get(&sender).is_some() {
            // A stored key that is not a curve point verifies nothing.
            return Err(GossipDrop::InvalidSignature);
        } else {
            // Learned from this envelope (stored unless the ring is full of verified keys).
            let key = self.auto_learn(&sender, &envelope.sender_pubkey, now)?;
            envelope::verify(envelope, &key).map_err(|_| GossipDrop::InvalidSignature)?;
        }
        if !self.limiter.allow(&sender, now) {
            return Err(GossipDrop::RateLimited);
        }
        match self.seen.try_insert_id(seen_id, now, self.seen_min_age) {
            SeenInsert::New => {}
            SeenInsert::Seen => return Err(GossipDrop::Duplicate),
            SeenInsert::Full => return Err(GossipDrop::Overloaded),
        }
        Ok(sender)
    }

    /// Learns `sender_pubkey` when it is 32 bytes and hashes to the sender's id.
    fn auto_learn(
        &mut self,
        sender: &NodeId,
        sender_pubkey: &[u8],
        now: Instant,
    ) -> Result<[u8; 32], GossipDrop> {
        let key: [u8; 32] = sender_pubkey
            .try_into()
            .map_err(|_| GossipDrop::UnknownSender)?;
        if NodeId::from_public_key(&key) != *sender {
            return Err(GossipDrop::UnknownSender);
        }
        tracing::debug!(sender = %sender, "auto-learned key");
        self.keys.insert(*sender, key, Trust::GossipLearned, now);
        Ok(key)
    }

    /// Drops expired seen ids, idle rate buckets and idle gossip-learned keys.
    pub fn sweep(&mut self, now: Instant) {
        self.seen.sweep(now);
        self.limiter.sweep(now);
        self.keys.sweep(now, self.key_idle_ttl);
    }
}
