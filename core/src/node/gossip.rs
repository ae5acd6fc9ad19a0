//! The gossip engine's receive checks (spec §10.1 steps 0-5): sizes, duplicates, key lookup
//! with auto-learn, signature, per-sender rate limit, and marking seen last.

use core::fmt;

use alloc::vec::Vec;

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use micelio_proto::Envelope;

use super::NodeConfig;
use super::keyring::{KeyRing, Trust};
use super::rate_limiter::RateLimiter;
use super::seen_cache::{SeenCache, SeenId, SeenInsert};
use crate::envelope;
use crate::identity::NodeId;
use crate::suite::{PreparedKey, Suite};
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

/// Envelopes verified together at most (one `verify_batch` call).
pub const MAX_BATCH: usize = 64;
/// Fewest ED25519 signatures worth a batch verification.
pub const BATCH_MIN: usize = 4;

/// An envelope that passed the checks before its signature.
struct Pending {
    sender: NodeId,
    seen_id: SeenId,
    key: KeySource,
    /// The key came from the ring (a verified message refreshes its use).
    from_ring: bool,
}

/// Where the key to verify an envelope with is.
enum KeySource {
    /// This node's own key.
    Own,
    /// The key ring's entry for the sender (a verified message refreshes its use).
    Ring,
    /// A key carried by the envelope that the full ring did not take.
    Carried(PreparedKey),
}

/// The envelope's signature, when it has the right length.
fn signature_of(envelope: &Envelope) -> Option<Signature> {
    Signature::from_slice(&envelope.signature).ok()
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
    /// This node's own id and key (prepared once), kept outside the bounded ring so they are
    /// never evicted.
    own: (NodeId, PreparedKey),
    /// The suite signatures are verified under (the node's own).
    suite: Suite,
}

impl Gossip {
    /// An engine with the bounds of `config`, verifying under `suite`; `hash_seed` seeds the
    /// key ring's index.
    pub fn new(
        config: &NodeConfig,
        own: NodeId,
        own_key: [u8; 32],
        suite: Suite,
        hash_seed: u64,
    ) -> Self {
        Gossip {
            seen: SeenCache::new(config.seen_ttl, config.max_seen),
            keys: KeyRing::with_suite(config.max_keys, suite, hash_seed),
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
            own: (own, suite.prepare_key(&own_key)),
            suite,
        }
    }

    /// Runs steps 0-5 of spec §10.1 and returns the verified sender, the envelope now being
    /// marked seen.
    pub fn accept(&mut self, now: Instant, envelope: &Envelope) -> Result<NodeId, GossipDrop> {
        let result = self.precheck(now, envelope).and_then(|pending| {
            let valid = self
                .key_of(&pending)
                .is_some_and(|key| envelope::verify_prepared(self.suite, envelope, key).is_ok());
            self.finish(now, pending, valid)
        });
        self.count(result)
    }

    /// [`Gossip::accept`] for envelopes that arrived together, with the same results in the
    /// same order. The signatures of up to [`MAX_BATCH`] envelopes at a time are checked with
    /// one batch verification ([`BATCH_MIN`] or more ED25519 signatures); when a batch fails,
    /// each of its signatures is checked alone to find the bad ones.
    ///
    /// Batch verification uses the cofactored equation: it also accepts a signature whose R
    /// was built with a small-order component, which single (cofactorless) verification and
    /// the reference reject. Only the key's owner can produce one; it changes which of the
    /// owner's messages our node relays, never who can sign for a key.
    pub fn accept_batch(
        &mut self,
        now: Instant,
        envelopes: &[Envelope],
    ) -> Vec<Result<NodeId, GossipDrop>> {
        let mut results = Vec::with_capacity(envelopes.len());
        for chunk in envelopes.chunks(MAX_BATCH) {
            // Ring keys are copied at once: a key learned later in the chunk could evict one
            // before its envelope is verified, which one by one could not happen.
            let pending: Vec<Result<Pending, GossipDrop>> = chunk
                .iter()
                .map(|e| {
                    let mut pending = self.precheck(now, e)?;
                    if let (KeySource::Ring, Some(key)) =
                        (&pending.key, self.keys.prepared_key(&pending.sender))
                    {
                        pending.key = KeySource::Carried(key.clone());
                    }
                    Ok(pending)
                })
                .collect();
            let valid = self.verify_chunk(chunk, &pending);
            for (pending, valid) in pending.into_iter().zip(valid) {
                let result = pending.and_then(|p| self.finish(now, p, valid));
                results.push(self.count(result));
            }
        }
        results
    }

    /// The signature verdict of every envelope of `chunk` whose precheck passed (false for
    /// the others, which are not looked at again).
    fn verify_chunk(
        &self,
        chunk: &[Envelope],
        pending: &[Result<Pending, GossipDrop>],
    ) -> Vec<bool> {
        let mut valid = alloc::vec![false; chunk.len()];
        let mut batch: Vec<(usize, Vec<u8>, Signature, VerifyingKey)> = Vec::new();
        for (index, (envelope, pending)) in chunk.iter().zip(pending).enumerate() {
            let Ok(pending) = pending else { continue };
            let Some(key) = self.key_of(pending) else {
                continue;
            };
            match (key, signature_of(envelope)) {
                (PreparedKey::Ed25519(key), Some(signature)) => {
                    batch.push((index, envelope::signed_bytes(envelope), signature, **key));
                }
                _ => valid[index] = envelope::verify_prepared(self.suite, envelope, key).is_ok(),
            }
        }
        let batch_ok = batch.len() >= BATCH_MIN && {
            let messages: Vec<&[u8]> = batch.iter().map(|b| b.1.as_slice()).collect();
            let signatures: Vec<Signature> = batch.iter().map(|b| b.2).collect();
            let keys: Vec<VerifyingKey> = batch.iter().map(|b| b.3).collect();
            ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
        };
        for (index, signed, signature, key) in &batch {
            valid[*index] = batch_ok || key.verify(signed, signature).is_ok();
        }
        valid
    }

    /// Counts a result in the statistics and passes it on.
    fn count(&mut self, result: Result<NodeId, GossipDrop>) -> Result<NodeId, GossipDrop> {
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

    /// Steps 0-3 of spec §10.1: sizes, duplicates and the sender's key (auto-learned from
    /// the envelope when unknown).
    fn precheck(&mut self, now: Instant, envelope: &Envelope) -> Result<Pending, GossipDrop> {
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
        let key = if sender == self.own.0 {
            KeySource::Own
        } else if self.keys.prepared_key(&sender).is_some() {
            // A stored key that is not a curve point verifies nothing.
            KeySource::Ring
        } else {
            // Learned from this envelope (stored unless the ring is full of verified keys).
            let key = self.auto_learn(&sender, &envelope.sender_pubkey, now)?;
            if self.keys.prepared_key(&sender).is_some() {
                KeySource::Ring
            } else {
                KeySource::Carried(self.suite.prepare_key(&key))
            }
        };
        Ok(Pending {
            sender,
            seen_id,
            from_ring: matches!(key, KeySource::Ring),
            key,
        })
    }

    /// The prepared key a pending envelope is verified with.
    fn key_of<'a>(&'a self, pending: &'a Pending) -> Option<&'a PreparedKey> {
        match &pending.key {
            KeySource::Own => Some(&self.own.1),
            KeySource::Ring => self.keys.prepared_key(&pending.sender),
            KeySource::Carried(key) => Some(key),
        }
    }

    /// Steps 4-5 of spec §10.1 once the signature was checked: the rate limit, then marking
    /// the id seen.
    fn finish(
        &mut self,
        now: Instant,
        pending: Pending,
        signature_valid: bool,
    ) -> Result<NodeId, GossipDrop> {
        if !signature_valid {
            return Err(GossipDrop::InvalidSignature);
        }
        // A copy accepted earlier in the same batch: a duplicate, before it costs a token.
        if self.seen.contains_id(&pending.seen_id) {
            return Err(GossipDrop::Duplicate);
        }
        let sender = pending.sender;
        if pending.from_ring {
            self.keys.touch(&sender, now);
        }
        if !self.limiter.allow(&sender, now) {
            return Err(GossipDrop::RateLimited);
        }
        match self
            .seen
            .try_insert_id(pending.seen_id, now, self.seen_min_age)
        {
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

#[cfg(test)]
mod tests {
    use alloc::format;
    use alloc::string::String;
    use alloc::vec::Vec;

    use micelio_proto::ChatMessage;
    use proptest::prelude::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;
    use crate::identity::Identity;

    /// What to do to an honest chat envelope before it arrives.
    #[derive(Clone, Copy, Debug)]
    enum Damage {
        None,
        Payload,
        Signature,
        NoKey,
        ShortSignature,
        RepeatPrevious,
    }

    fn damage_strategy() -> impl Strategy<Value = Damage> {
        prop_oneof![
            6 => Just(Damage::None),
            1 => Just(Damage::Payload),
            1 => Just(Damage::Signature),
            1 => Just(Damage::NoKey),
            1 => Just(Damage::ShortSignature),
            1 => Just(Damage::RepeatPrevious),
        ]
    }

    fn envelopes(plan: &[(u8, Damage)]) -> Vec<Envelope> {
        let senders: Vec<Identity> = (1..=4u8).map(|i| Identity::from_seed(&[i; 32])).collect();
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let mut out: Vec<Envelope> = Vec::new();
        for (i, (who, damage)) in plan.iter().enumerate() {
            let line = ChatMessage {
                nick: String::from("n"),
                text: format!("line {i}"),
                timestamp: 0,
            };
            let id = envelope::new_message_id(&mut rng);
            let mut e = envelope::chat(&senders[usize::from(*who) % 4], id, &line);
            match damage {
                Damage::None => {}
                Damage::Payload => e.payload.push(0),
                Damage::Signature => e.signature[10] ^= 1,
                Damage::NoKey => e.sender_pubkey.clear(),
                Damage::ShortSignature => e.signature.truncate(63),
                Damage::RepeatPrevious => {
                    if let Some(previous) = out.last() {
                        e = previous.clone();
                    }
                }
            }
            out.push(e);
        }
        out
    }

    fn engine() -> Gossip {
        let own = Identity::from_seed(&[99; 32]);
        let config = NodeConfig {
            rate_burst: 6,
            ..NodeConfig::default()
        };
        Gossip::new(&config, own.node_id(), *own.public_key(), own.suite(), 0)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Batch checking gives every envelope the result one-by-one checking gives, in
        /// order, with the same counters: valid, altered, badly signed, keyless, repeated and
        /// rate-limited envelopes mixed.
        #[test]
        fn batch_results_equal_one_by_one(
            plan in proptest::collection::vec((0u8..4, damage_strategy()), 1..90),
        ) {
            let envelopes = envelopes(&plan);
            let now = Instant::ZERO;
            let mut single = engine();
            let one_by_one: Vec<_> = envelopes.iter().map(|e| single.accept(now, e)).collect();
            let mut batched = engine();
            let together = batched.accept_batch(now, &envelopes);
            prop_assert_eq!(&together, &one_by_one);
            prop_assert_eq!(batched.stats, single.stats);
        }
    }

    #[test]
    fn one_bad_signature_in_a_full_batch_is_found() {
        let plan: Vec<(u8, Damage)> = (0..MAX_BATCH)
            .map(|i| {
                (
                    i as u8 % 4,
                    if i == 37 {
                        Damage::Signature
                    } else {
                        Damage::None
                    },
                )
            })
            .collect();
        let envelopes = envelopes(&plan);
        let mut gossip = engine();
        let burst = 6;
        let results = gossip.accept_batch(Instant::ZERO, &envelopes);
        assert_eq!(results[37], Err(GossipDrop::InvalidSignature));
        assert_eq!(gossip.stats.invalid_signatures, 1);
        // Everything else either passed or hit its sender's burst of 6.
        let accepted = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(accepted, 4 * burst);
    }
}
