//! Signed envelopes (spec §8): signed bytes, signing, verification, and what each type sets.
//!
//! The signature covers `message_id`, `sender_id`, `lamport_ts`, `msg_type` and `payload`
//! ([`signed_bytes`]); relays change `hop_count` without breaking it.
//!
//! # Example
//!
//! ```
//! use micelio_core::envelope::{self, SignatureError};
//! use micelio_core::identity::Identity;
//! use micelio_core::proto::ChatMessage;
//! use rand_chacha::ChaCha20Rng;
//! use rand_core::SeedableRng;
//!
//! let alice = Identity::from_seed(&[1; 32]);
//! let mut rng = ChaCha20Rng::seed_from_u64(0);
//! let line = ChatMessage { nick: "alice".into(), text: "hello".into(), timestamp: 0 };
//! let mut signed = envelope::chat(&alice, envelope::new_message_id(&mut rng), &line);
//! assert_eq!(signed.msg_type, envelope::msg_type::CHAT);
//! assert_eq!(signed.sender_pubkey, alice.public_key().to_vec());
//! assert_eq!(envelope::verify(&signed, alice.public_key()), Ok(()));
//!
//! // A relay lowers the hop count: it is not signed.
//! signed.hop_count -= 1;
//! assert_eq!(envelope::verify(&signed, alice.public_key()), Ok(()));
//!
//! // Tampering with a signed field breaks the signature, until the key's owner signs again.
//! signed.payload.push(0);
//! assert_eq!(envelope::verify(&signed, alice.public_key()), Err(SignatureError::Mismatch));
//! envelope::sign(&mut signed, &alice);
//! assert_eq!(envelope::verify(&signed, alice.public_key()), Ok(()));
//!
//! // No other key verifies it.
//! let mallory = Identity::from_seed(&[2; 32]);
//! assert_eq!(envelope::verify(&signed, mallory.public_key()), Err(SignatureError::Mismatch));
//! ```

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use micelio_proto::{ChatMessage, Envelope, PeerHello};
use quick_protobuf::MessageWrite;
use rand_core::CryptoRngCore;

use crate::identity::{Identity, KEY_LEN, SIGNATURE_LEN};
use crate::suite::{PreparedKey, Suite};

/// Envelope `msg_type` values (spec §8.2).
pub mod msg_type {
    /// Hello sent by the initiator.
    pub const PEER_HELLO: u32 = 1;
    /// Hello acknowledgement sent by the responder (payload is a `PeerHello`).
    pub const PEER_HELLO_ACK: u32 = 2;
    /// Chat line, relayed by gossip.
    pub const CHAT: u32 = 3;
    /// Point-to-point list of known peers.
    pub const PEER_EXCHANGE: u32 = 4;
    /// Keepalive, consumed by the connection layer.
    pub const KEEPALIVE: u32 = 5;
    /// First type of the range the reference reserves for the core protocol (6–99).
    pub const CORE_RESERVED_FIRST: u32 = 6;
    /// Extension of this implementation: eager/lazy dissemination control, point to point
    /// between nodes that announced it (docs/extensions.md). Never sent to reference nodes.
    pub const TREE_CONTROL: u32 = 10;
    /// Extension of this implementation: one write to the shared state map, signed by its
    /// writer and relayed as gossip (reference nodes relay it as an unknown type).
    pub const STATE_WRITE: u32 = 11;
    /// Extension of this implementation: anti-entropy of the shared state map, point to
    /// point between nodes that announced it (docs/state.md). Never sent to reference nodes.
    pub const STATE_SYNC: u32 = 12;
    /// First type of the range the reference reserves for plugins.
    pub const PLUGIN_FIRST: u32 = 1000;

    /// True for the types of this implementation's extensions (point to point, never relayed
    /// to a node that did not announce them).
    pub const fn is_extension(msg_type: u32) -> bool {
        matches!(msg_type, TREE_CONTROL | STATE_SYNC)
    }

    /// True for every type the gossip engine handles: all except 1, 2, 4 and 5.
    pub const fn is_gossip(msg_type: u32) -> bool {
        !matches!(
            msg_type,
            PEER_HELLO | PEER_HELLO_ACK | PEER_EXCHANGE | KEEPALIVE
        )
    }
}

/// Hop count of a locally originated chat line.
pub const CHAT_HOP_COUNT: u32 = 10;
/// Hop count of hello, hello-ack and peer-exchange envelopes.
pub const POINT_TO_POINT_HOP_COUNT: u32 = 1;
/// The `PeerHello.version` string the reference sends (never checked by receivers).
pub const PROTOCOL_VERSION: &str = "0.1.0";

/// Why a signature did not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureError {
    /// The public key is not exactly 32 bytes.
    PublicKeyLength(usize),
    /// The signature is not exactly 64 bytes.
    SignatureLength(usize),
    /// The public key bytes are not a curve point.
    InvalidPublicKey,
    /// ED25519 verification failed.
    Mismatch,
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PublicKeyLength(n) => write!(f, "public key has {n} bytes, expected 32"),
            Self::SignatureLength(n) => write!(f, "signature has {n} bytes, expected 64"),
            Self::InvalidPublicKey => f.write_str("public key is not a curve point"),
            Self::Mismatch => f.write_str("signature does not verify"),
        }
    }
}

impl core::error::Error for SignatureError {}

/// Appends the signed bytes of spec §8.1 to `out`:
/// `message_id || sender_id || lamport_ts (u64 BE) || msg_type (u32 BE) || payload`.
pub fn write_signed_bytes(
    out: &mut Vec<u8>,
    message_id: &str,
    sender_id: &str,
    lamport_ts: u64,
    msg_type: u32,
    payload: &[u8],
) {
    out.reserve(message_id.len() + sender_id.len() + 12 + payload.len());
    out.extend_from_slice(message_id.as_bytes());
    out.extend_from_slice(sender_id.as_bytes());
    out.extend_from_slice(&lamport_ts.to_be_bytes());
    out.extend_from_slice(&msg_type.to_be_bytes());
    out.extend_from_slice(payload);
}

/// The signed bytes of an envelope (spec §8.1). `hop_count`, `signature` and `sender_pubkey`
/// are not covered.
pub fn signed_bytes(envelope: &Envelope) -> Vec<u8> {
    let mut out = Vec::new();
    write_signed_bytes(
        &mut out,
        &envelope.message_id,
        &envelope.sender_id,
        envelope.lamport_ts,
        envelope.msg_type,
        &envelope.payload,
    );
    out
}

/// Signs `envelope` in place with `identity` (sets `signature`).
pub fn sign(envelope: &mut Envelope, identity: &Identity) {
    envelope.signature = identity.sign(&signed_bytes(envelope)).to_vec();
}

/// Verifies the envelope's signature with a raw ED25519 public key, with the acceptance rules
/// of Go's `crypto/ed25519.Verify` for honestly generated keys (cofactorless, canonical S).
pub fn verify(envelope: &Envelope, public_key: &[u8]) -> Result<(), SignatureError> {
    verify_in(Suite::Standard, envelope, public_key)
}

/// [`verify`] under `suite` (the verifying node's own).
pub fn verify_in(
    suite: Suite,
    envelope: &Envelope,
    public_key: &[u8],
) -> Result<(), SignatureError> {
    let key: &[u8; KEY_LEN] = public_key
        .try_into()
        .map_err(|_| SignatureError::PublicKeyLength(public_key.len()))?;
    let signature = signature_of(envelope)?;
    match suite.prepare_key(key) {
        PreparedKey::Invalid => Err(SignatureError::InvalidPublicKey),
        prepared => verify_signature(suite, envelope, &prepared, signature),
    }
}

/// [`verify`] with a key parsed once in advance: a node verifying many messages from the same
/// sender saves decompressing the key (about a tenth of a verification) each time.
pub fn verify_with(envelope: &Envelope, key: &VerifyingKey) -> Result<(), SignatureError> {
    let signature = signature_of(envelope)?;
    key.verify(&signed_bytes(envelope), &Signature::from_bytes(signature))
        .map_err(|_| SignatureError::Mismatch)
}

/// [`verify_in`] with a key prepared once by [`Suite::prepare_key`].
pub fn verify_prepared(
    suite: Suite,
    envelope: &Envelope,
    key: &PreparedKey,
) -> Result<(), SignatureError> {
    let signature = signature_of(envelope)?;
    verify_signature(suite, envelope, key, signature)
}

/// The envelope's signature, if it has the right length.
fn signature_of(envelope: &Envelope) -> Result<&[u8; SIGNATURE_LEN], SignatureError> {
    envelope
        .signature
        .as_slice()
        .try_into()
        .map_err(|_| SignatureError::SignatureLength(envelope.signature.len()))
}

/// Verification of the signed bytes (cofactorless for ED25519, as Go's `crypto/ed25519.Verify`).
fn verify_signature(
    suite: Suite,
    envelope: &Envelope,
    key: &PreparedKey,
    signature: &[u8; SIGNATURE_LEN],
) -> Result<(), SignatureError> {
    if suite.verify_prepared(key, &signed_bytes(envelope), signature) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// A new random message id: a version-4 UUID in canonical lowercase hyphenated form.
pub fn new_message_id(rng: &mut impl CryptoRngCore) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    let uuid = uuid::Builder::from_random_bytes(bytes).into_uuid();
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    String::from(uuid.hyphenated().encode_lower(&mut text))
}

/// Builds and signs an envelope originated by `identity` (`lamport_ts` 0, as the reference).
pub fn originate(
    identity: &Identity,
    message_id: String,
    msg_type: u32,
    hop_count: u32,
    payload: Vec<u8>,
    include_sender_pubkey: bool,
) -> Envelope {
    originate_at(
        identity,
        message_id,
        msg_type,
        hop_count,
        0,
        payload,
        include_sender_pubkey,
    )
}

/// [`originate`] at Lamport time `lamport_ts` (signed, like every other field but the hop
/// count and the key).
pub fn originate_at(
    identity: &Identity,
    message_id: String,
    msg_type: u32,
    hop_count: u32,
    lamport_ts: u64,
    payload: Vec<u8>,
    include_sender_pubkey: bool,
) -> Envelope {
    let mut envelope = Envelope {
        message_id,
        sender_id: String::from(identity.node_id().as_str()),
        lamport_ts,
        hop_count,
        msg_type,
        payload,
        signature: Vec::new(),
        sender_pubkey: if include_sender_pubkey {
            identity.public_key().to_vec()
        } else {
            Vec::new()
        },
    };
    sign(&mut envelope, identity);
    envelope
}

/// A chat envelope: hop count 10 and the originator's public key attached (spec §8.3),
/// `lamport_ts` 0.
pub fn chat(identity: &Identity, message_id: String, chat: &ChatMessage) -> Envelope {
    let payload = micelio_proto::encode(chat);
    originate(
        identity,
        message_id,
        msg_type::CHAT,
        CHAT_HOP_COUNT,
        payload,
        true,
    )
}

/// Which side of the hello exchange an envelope belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelloKind {
    /// The initiator's `PeerHello` (type 1).
    Hello,
    /// The responder's acknowledgement (type 2, payload still a `PeerHello`).
    Ack,
}

impl HelloKind {
    /// The envelope `msg_type` of this kind.
    pub const fn msg_type(self) -> u32 {
        match self {
            HelloKind::Hello => msg_type::PEER_HELLO,
            HelloKind::Ack => msg_type::PEER_HELLO_ACK,
        }
    }
}

/// The `PeerHello` a node sends about itself (spec §9.3). `reachable` is true exactly when
/// `listen_addr` (the advertised address) is non-empty.
pub fn local_hello(identity: &Identity, tags: Vec<String>, listen_addr: String) -> PeerHello {
    PeerHello {
        node_id: String::from(identity.node_id().as_str()),
        version: String::from(PROTOCOL_VERSION),
        tags,
        reachable: !listen_addr.is_empty(),
        listen_addr,
        ed25519_pubkey: identity.public_key().to_vec(),
    }
}

/// A hello or hello-ack envelope: hop count 1, no sender public key, `lamport_ts` 0.
pub fn hello(
    identity: &Identity,
    message_id: String,
    kind: HelloKind,
    hello: &PeerHello,
) -> Envelope {
    hello_at(identity, message_id, kind, hello, 0)
}

/// [`hello`] at Lamport time `lamport_ts`.
pub fn hello_at(
    identity: &Identity,
    message_id: String,
    kind: HelloKind,
    hello: &PeerHello,
    lamport_ts: u64,
) -> Envelope {
    let payload = micelio_proto::encode(hello);
    originate_at(
        identity,
        message_id,
        kind.msg_type(),
        POINT_TO_POINT_HOP_COUNT,
        lamport_ts,
        payload,
        false,
    )
}

/// A peer-exchange envelope (a `PeerExchange` or `PeerExchangeRef` payload): hop count 1, no
/// sender public key.
pub fn peer_exchange(
    identity: &Identity,
    message_id: String,
    exchange: &impl MessageWrite,
) -> Envelope {
    peer_exchange_at(identity, message_id, exchange, 0)
}

/// [`peer_exchange`] at Lamport time `lamport_ts`.
pub fn peer_exchange_at(
    identity: &Identity,
    message_id: String,
    exchange: &impl MessageWrite,
    lamport_ts: u64,
) -> Envelope {
    let payload = micelio_proto::encode(exchange);
    originate_at(
        identity,
        message_id,
        msg_type::PEER_EXCHANGE,
        POINT_TO_POINT_HOP_COUNT,
        lamport_ts,
        payload,
        false,
    )
}

/// The keepalive envelope: only `msg_type` 5, serialized as `28 05`.
pub fn keepalive() -> Envelope {
    Envelope {
        msg_type: msg_type::KEEPALIVE,
        ..Envelope::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(byte: u8) -> Identity {
        Identity::from_seed(&[byte; 32])
    }

    fn signed_chat() -> Envelope {
        let chat = ChatMessage {
            nick: "n".into(),
            text: "t".into(),
            timestamp: 1,
        };
        super::chat(&identity(1), String::from("id-1"), &chat)
    }

    #[test]
    fn sign_then_verify_with_matching_key() {
        let e = signed_chat();
        assert_eq!(e.signature.len(), SIGNATURE_LEN);
        assert_eq!(verify(&e, identity(1).public_key()), Ok(()));
    }

    #[test]
    fn verify_rejects_wrong_lengths_and_wrong_key() {
        let e = signed_chat();
        assert_eq!(
            verify(&e, &[0u8; 31]),
            Err(SignatureError::PublicKeyLength(31))
        );
        let mut short = e.clone();
        short.signature.truncate(63);
        assert_eq!(
            verify(&short, identity(1).public_key()),
            Err(SignatureError::SignatureLength(63))
        );
        assert_eq!(
            verify(&e, identity(2).public_key()),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn tampering_covered_fields_breaks_signature() {
        let key = *identity(1).public_key();
        let mut payload = signed_chat();
        payload.payload.push(0);
        assert_eq!(verify(&payload, &key), Err(SignatureError::Mismatch));
        let mut sender = signed_chat();
        sender.sender_id.push('x');
        assert_eq!(verify(&sender, &key), Err(SignatureError::Mismatch));
        let mut lamport = signed_chat();
        lamport.lamport_ts = 1;
        assert_eq!(verify(&lamport, &key), Err(SignatureError::Mismatch));
    }

    #[test]
    fn hop_count_and_sender_pubkey_are_not_signed() {
        let key = *identity(1).public_key();
        let mut e = signed_chat();
        e.hop_count = 3;
        e.sender_pubkey = identity(9).public_key().to_vec();
        assert_eq!(verify(&e, &key), Ok(()));
    }

    #[test]
    fn signed_bytes_are_deterministic_and_depend_on_type() {
        let e = signed_chat();
        assert_eq!(signed_bytes(&e), signed_bytes(&e.clone()));
        let mut other = e.clone();
        other.msg_type = msg_type::PEER_EXCHANGE;
        assert_ne!(signed_bytes(&e), signed_bytes(&other));
    }

    #[test]
    fn message_ids_are_canonical_uuid_v4() {
        use rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let id = new_message_id(&mut rng);
        assert_eq!(id.len(), 36);
        assert_eq!(id.as_bytes()[14], b'4');
        assert!(matches!(id.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
        assert!(
            id.bytes()
                .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_ne!(id, new_message_id(&mut rng));
    }

    #[test]
    fn gossip_types_are_all_but_point_to_point_ones() {
        for t in [0, 3, 6, 99, 1000, u32::MAX] {
            assert!(msg_type::is_gossip(t));
        }
        for t in [1, 2, 4, 5] {
            assert!(!msg_type::is_gossip(t));
        }
    }
}
