//! The fixed identities every harness uses, and the signature oracle built on them.
//!
//! ED25519 signatures are deterministic, so an envelope is "signed by its sender" exactly when
//! the sender's own key, signing the envelope's signed bytes again, yields the same signature.
//! That oracle does not use the verification code under test.

use std::sync::OnceLock;

use ed25519_dalek::VerifyingKey;
use micelio_core::envelope;
use micelio_core::identity::{Identity, NodeId};
use micelio_core::proto::Envelope;

/// Number of identities harness peers may play ([`peer`]).
pub const PEERS: usize = 4;
/// Number of third-party identities that only appear inside PeerExchange entries.
pub const EXTRAS: usize = 8;

/// The seed of the node under test in `node_inputs`.
pub const NODE_SEED: [u8; 32] = [0xA0; 32];

/// Seeds of the identities of the golden vectors: reference node A (01..20) and node B
/// (21..40), then Appendix A's identities A (00..1F) and B (20..3F).
pub fn vector_seeds() -> [[u8; 32]; PEERS] {
    let run = |first: u8| core::array::from_fn(|i| first + i as u8);
    [run(0x01), run(0x21), run(0x00), run(0x20)]
}

struct Known {
    /// Peers (vector identities), then the node, then the extras.
    all: Vec<Identity>,
}

fn known() -> &'static Known {
    static KNOWN: OnceLock<Known> = OnceLock::new();
    KNOWN.get_or_init(|| {
        let mut all: Vec<Identity> = vector_seeds().iter().map(Identity::from_seed).collect();
        all.push(Identity::from_seed(&NODE_SEED));
        all.extend((0..EXTRAS).map(|i| Identity::from_seed(&[0xE0 + i as u8; 32])));
        Known { all }
    })
}

/// Harness peer `index` (taken modulo [`PEERS`]): the vector identities.
pub fn peer(index: usize) -> &'static Identity {
    &known().all[index % PEERS]
}

/// The identity of the node under test.
pub fn node() -> &'static Identity {
    &known().all[PEERS]
}

/// Third-party identity `index` (taken modulo [`EXTRAS`]).
pub fn extra(index: usize) -> &'static Identity {
    &known().all[PEERS + 1 + index % EXTRAS]
}

/// Any known identity: peers, then the node, then the extras (index taken modulo their count).
pub fn any(index: usize) -> &'static Identity {
    let all = &known().all;
    &all[index % all.len()]
}

/// The known identity whose node id is `node_id`.
pub fn by_node_id(node_id: &str) -> Option<&'static Identity> {
    let id = NodeId::parse(node_id)?;
    known().all.iter().find(|i| i.node_id() == id)
}

/// The known identity whose raw ED25519 public key is `key`.
pub fn by_public_key(key: &[u8]) -> Option<&'static Identity> {
    known()
        .all
        .iter()
        .find(|i| i.public_key().as_slice() == key)
}

/// True when `key` is a valid point of small order (an ED25519 "weak" key, which verifies
/// forged signatures; the spec accepts them as Go does).
pub fn is_weak_key(key: &[u8]) -> bool {
    <[u8; 32]>::try_from(key)
        .ok()
        .and_then(|key| VerifyingKey::from_bytes(&key).ok())
        .is_some_and(|key| key.is_weak())
}

/// True when the envelope carries a signature its sender made: the sender is a known
/// identity whose deterministic signature of the signed bytes is exactly the one carried, or
/// the sender is a self-certifying weak key (`sender_pubkey` hashes to `sender_id`) under
/// which the signature verifies, which the spec accepts.
pub fn signed_by_sender(envelope: &Envelope) -> bool {
    if let Some(owner) = by_node_id(&envelope.sender_id) {
        return owner.sign(&envelope::signed_bytes(envelope)).as_slice()
            == envelope.signature.as_slice();
    }
    let Some(sender) = NodeId::parse(&envelope.sender_id) else {
        return false;
    };
    is_weak_key(&envelope.sender_pubkey)
        && sender.matches_public_key(&envelope.sender_pubkey)
        && envelope::verify(envelope, &envelope.sender_pubkey).is_ok()
}
