//! One entry of the shared map: a writer's signed `StateWrite` envelope, checked, with the
//! version that orders it against other writes of the same key.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use micelio_proto::{Envelope, StateWrite};
use sha2::{Digest, Sha256};

use crate::envelope::{self, SignatureError, msg_type};
use crate::identity::{Identity, KEY_LEN, NodeId};
use crate::suite::Suite;

/// Longest key, in bytes of UTF-8.
pub const MAX_KEY_LEN: usize = 256;
/// Largest value, in bytes.
pub const MAX_VALUE_LEN: usize = 16 * 1024;
/// Lamport times at or above this are refused by every node: a writer cannot push a key
/// (or anyone's clock) to `u64::MAX`, and the rule is the same everywhere, so it cannot make
/// two maps differ.
pub const LAMPORT_CEILING: u64 = 1 << 62;
/// Keys under this prefix belong to one node each: `node/<its node id>/...`.
pub const OWNED_PREFIX: &str = "node/";
/// How far ahead of the receiver's wall clock a tombstone's `written_at` may be (1 hour).
pub const MAX_FUTURE_SECS: u64 = 3_600;

/// Hash of a key: the first 8 bytes of its SHA-256, big-endian. Anti-entropy compares maps
/// by ranges of it.
pub type KeyHash = u64;
/// Hash of an entry's signed bytes (first 16 bytes of SHA-256): two entries with the same
/// leaf are the same write.
pub type Leaf = [u8; 16];

/// The order of writes to one key: Lamport time, then the writer's node id, then the leaf
/// hash (a writer that signs two writes of one key at the same time), so that the order is
/// total and the same on every node: two writes compare equal only if they are the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// The envelope's `lamport_ts`.
    pub lamport: u64,
    /// Who wrote it.
    pub writer: NodeId,
    /// The entry's leaf hash.
    pub leaf: Leaf,
}

/// The hash a key is placed by.
pub fn key_hash(key: &str) -> KeyHash {
    let digest = Sha256::digest(key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// Why an envelope is not a valid entry. Every variant drops that envelope only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryError {
    /// The envelope is not of type 11.
    WrongType(u32),
    /// `sender_id` is not a node id.
    BadWriter,
    /// `sender_pubkey` is missing or is not the key of `sender_id`.
    KeyMismatch,
    /// The signature does not verify.
    Signature(SignatureError),
    /// The payload is not a `StateWrite`.
    Malformed,
    /// The key is empty or longer than [`MAX_KEY_LEN`].
    KeyLength(usize),
    /// The value is longer than [`MAX_VALUE_LEN`].
    ValueLength(usize),
    /// A delete carries a value.
    ValueOnDelete,
    /// A key under [`OWNED_PREFIX`] that is not the writer's own.
    NotOwner,
    /// `lamport_ts` is 0 or at least [`LAMPORT_CEILING`].
    LamportOutOfRange(u64),
    /// A tombstone past its horizon, or dated more than [`MAX_FUTURE_SECS`] ahead.
    TombstoneOutOfWindow,
}

impl fmt::Display for EntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongType(t) => write!(f, "msg_type {t} is not a state write"),
            Self::BadWriter => f.write_str("sender_id is not a node id"),
            Self::KeyMismatch => f.write_str("sender_pubkey missing or not the writer's key"),
            Self::Signature(e) => write!(f, "signature: {e}"),
            Self::Malformed => f.write_str("payload is not a StateWrite"),
            Self::KeyLength(n) => write!(f, "key of {n} bytes (1 to {MAX_KEY_LEN})"),
            Self::ValueLength(n) => write!(f, "value of {n} bytes (at most {MAX_VALUE_LEN})"),
            Self::ValueOnDelete => f.write_str("a delete carries a value"),
            Self::NotOwner => write!(f, "key under {OWNED_PREFIX} of another node"),
            Self::LamportOutOfRange(t) => write!(f, "lamport_ts {t} out of range"),
            Self::TombstoneOutOfWindow => f.write_str("tombstone outside its time window"),
        }
    }
}

impl core::error::Error for EntryError {}

/// A checked write: what it says, who wrote it, its version, and the envelope that proves it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    key: String,
    key_hash: KeyHash,
    value: Vec<u8>,
    deleted: bool,
    written_at: u64,
    writer: NodeId,
    version: Version,
    envelope: Envelope,
}

/// When an entry is checked: the receiver's wall clock and tombstone horizon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckTime {
    /// The receiver's wall clock, Unix seconds.
    pub unix_now: u64,
    /// How long a tombstone lives after its `written_at`, seconds.
    pub tombstone_horizon: u64,
}

impl Entry {
    /// Signs a new write by `identity` at Lamport time `lamport` (envelope hop count 1:
    /// the caller sets the gossip hop count it sends with).
    pub fn sign(
        identity: &Identity,
        message_id: String,
        lamport: u64,
        write: &StateWrite,
    ) -> Result<Self, EntryError> {
        let mut envelope = Envelope {
            message_id,
            sender_id: String::from(identity.node_id().as_str()),
            lamport_ts: lamport,
            hop_count: 1,
            msg_type: msg_type::STATE_WRITE,
            payload: micelio_proto::encode(write),
            signature: Vec::new(),
            sender_pubkey: identity.public_key().to_vec(),
        };
        envelope::sign(&mut envelope, identity);
        Self::parse(envelope, None)
    }

    /// Checks an envelope from anywhere (a peer's anti-entropy, the store): the signature is
    /// verified with `sender_pubkey` under `suite`, which must be the key of `sender_id`.
    pub fn verify(suite: Suite, envelope: Envelope, time: CheckTime) -> Result<Self, EntryError> {
        let entry = Self::parse(envelope, Some(time))?;
        envelope::verify_in(suite, &entry.envelope, &entry.envelope.sender_pubkey)
            .map_err(EntryError::Signature)?;
        Ok(entry)
    }

    /// Checks an envelope whose signature the gossip engine already verified with the key of
    /// `sender_id`, `public_key`; the key is attached (`sender_pubkey` is not signed) so that
    /// the entry can be handed on.
    pub fn verified(
        mut envelope: Envelope,
        public_key: &[u8; KEY_LEN],
        time: CheckTime,
    ) -> Result<Self, EntryError> {
        envelope.sender_pubkey = public_key.to_vec();
        Self::parse(envelope, Some(time))
    }

    /// Every check but the signature's (`time`: `None` skips the tombstone window).
    fn parse(mut envelope: Envelope, time: Option<CheckTime>) -> Result<Self, EntryError> {
        if envelope.msg_type != msg_type::STATE_WRITE {
            return Err(EntryError::WrongType(envelope.msg_type));
        }
        let writer = NodeId::parse(&envelope.sender_id).ok_or(EntryError::BadWriter)?;
        if !writer.matches_public_key(&envelope.sender_pubkey) {
            return Err(EntryError::KeyMismatch);
        }
        if envelope.lamport_ts == 0 || envelope.lamport_ts >= LAMPORT_CEILING {
            return Err(EntryError::LamportOutOfRange(envelope.lamport_ts));
        }
        let write: StateWrite =
            micelio_proto::decode(&envelope.payload).map_err(|_| EntryError::Malformed)?;
        if write.key.is_empty() || write.key.len() > MAX_KEY_LEN {
            return Err(EntryError::KeyLength(write.key.len()));
        }
        if write.value.len() > MAX_VALUE_LEN {
            return Err(EntryError::ValueLength(write.value.len()));
        }
        if write.deleted && !write.value.is_empty() {
            return Err(EntryError::ValueOnDelete);
        }
        if !may_write(&writer, &write.key) {
            return Err(EntryError::NotOwner);
        }
        if let (true, Some(time)) = (write.deleted, time) {
            let expired = write.written_at.saturating_add(time.tombstone_horizon) < time.unix_now;
            let ahead = write.written_at > time.unix_now.saturating_add(MAX_FUTURE_SECS);
            if expired || ahead {
                return Err(EntryError::TombstoneOutOfWindow);
            }
        }
        let digest = Sha256::digest(envelope::signed_bytes(&envelope));
        let mut leaf = [0u8; 16];
        leaf.copy_from_slice(&digest[..16]);
        // Stored and handed on as one hop: anti-entropy never relays it further.
        envelope.hop_count = 1;
        Ok(Self {
            key_hash: key_hash(&write.key),
            key: write.key,
            value: write.value,
            deleted: write.deleted,
            written_at: write.written_at,
            writer,
            version: Version {
                lamport: envelope.lamport_ts,
                writer,
                leaf,
            },
            envelope,
        })
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The key's hash.
    pub fn key_hash(&self) -> KeyHash {
        self.key_hash
    }

    /// The value (`None` for a delete).
    pub fn value(&self) -> Option<&[u8]> {
        (!self.deleted).then_some(self.value.as_slice())
    }

    /// True for a delete (a tombstone).
    pub fn is_deleted(&self) -> bool {
        self.deleted
    }

    /// The writer's wall clock when it wrote, Unix seconds.
    pub fn written_at(&self) -> u64 {
        self.written_at
    }

    /// Who wrote it.
    pub fn writer(&self) -> NodeId {
        self.writer
    }

    /// Its place in the order of writes to the key.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The signed envelope (hop count 1), as stored and handed to other nodes.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// True for a tombstone whose horizon has passed at `unix_now`.
    pub fn expired(&self, unix_now: u64, tombstone_horizon: u64) -> bool {
        self.deleted && self.written_at.saturating_add(tombstone_horizon) < unix_now
    }
}

/// The ownership rule: a key under [`OWNED_PREFIX`] must continue with the writer's own node
/// id and a `/`; every other key may be written by anyone.
pub fn may_write(writer: &NodeId, key: &str) -> bool {
    match key.strip_prefix(OWNED_PREFIX) {
        None => true,
        Some(rest) => rest
            .strip_prefix(writer.as_str())
            .is_some_and(|tail| tail.starts_with('/')),
    }
}
