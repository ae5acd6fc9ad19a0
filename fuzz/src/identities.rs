//! The fixed identities every harness uses, and the signature oracle built on them.
//!
//! ED25519 signatures are deterministic, so an envelope is "signed by its sender" exactly when
//! the sender's own key, signing the envelope's signed bytes again, yields the same signature.
//! That oracle does not use the verification code under test. (The modeled suite's signatures
//! are deterministic digests, so the same oracle holds for the identities of that suite.)

use std::cell::Cell;
use std::sync::OnceLock;

use ed25519_dalek::VerifyingKey;
use micelio_core::envelope;
use micelio_core::identity::{Identity, NodeId};
use micelio_core::proto::Envelope;
use micelio_core::suite::Suite;

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

impl Known {
    fn new(make: fn(&[u8; 32]) -> Identity) -> Self {
        let mut all: Vec<Identity> = vector_seeds().iter().map(make).collect();
        all.push(make(&NODE_SEED));
        all.extend((0..EXTRAS).map(|i| make(&[0xE0 + i as u8; 32])));
        Known { all }
    }
}

thread_local! {
    /// The suite of the identities handed out on this thread ([`use_suite`]).
    static SUITE: Cell<Suite> = const { Cell::new(Suite::Standard) };
}

/// Makes every function of this module hand out (and check against) the identities of
/// `suite` on this thread, from now on: the protocol's cryptography (the default), or the
/// simulator's modeled stand-ins, with which a `node_inputs` run spends its time on the node
/// instead of curve arithmetic. Node ids and public keys are the same in both.
pub fn use_suite(suite: Suite) {
    SUITE.with(|current| current.set(suite));
}

/// The suite chosen by [`use_suite`] on this thread.
pub fn suite() -> Suite {
    SUITE.with(Cell::get)
}

fn known() -> &'static Known {
    static STANDARD: OnceLock<Known> = OnceLock::new();
    static MODELED: OnceLock<Known> = OnceLock::new();
    match suite() {
        Suite::Standard => STANDARD.get_or_init(|| Known::new(Identity::from_seed)),
        Suite::Modeled => MODELED.get_or_init(|| Known::new(Identity::modeled_from_seed)),
    }
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
