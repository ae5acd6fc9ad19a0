//! Arbitrary bytes decoded as an `Envelope`, then verified against its own sender key.
//!
//! Invariants: no panic; decoding is a fixed point of encoding (`decode(encode(e)) == e`, for
//! the envelope and for the payload type its `msg_type` names); the signed bytes follow spec
//! §8.1 field by field; verification fails with the error of the first bad input (key length,
//! signature length); a successful verification survives changes of the unsigned fields and,
//! unless the key is a weak (small-order) key, fails after any change of a signed field and
//! means the sender's own deterministic signature is exactly the one carried (re-signing the
//! signed bytes with that identity reproduces it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use micelio_core::envelope::{self, SignatureError, msg_type};
use micelio_core::proto::{self, ChatMessage, Envelope, PeerExchange, PeerHello};
use micelio_fuzz::identities;
use quick_protobuf::MessageWrite;

/// `decode(encode(m)) == m` and encoding is stable, for any message type.
fn round_trips<M>(message: &M) -> Vec<u8>
where
    M: MessageWrite + proto::Decode + PartialEq,
{
    let bytes = proto::encode(message);
    let again: M = proto::decode(&bytes).expect("an encoded message decodes");
    assert!(again == *message, "decode(encode(m)) != m");
    assert_eq!(proto::encode(&again), bytes, "encoding is not stable");
    bytes
}

fn spec_signed_bytes(e: &Envelope) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(e.message_id.as_bytes());
    out.extend_from_slice(e.sender_id.as_bytes());
    out.extend_from_slice(&e.lamport_ts.to_be_bytes());
    out.extend_from_slice(&e.msg_type.to_be_bytes());
    out.extend_from_slice(&e.payload);
    out
}

/// Every change of a signed field, one at a time.
fn tampered(e: &Envelope) -> Vec<Envelope> {
    let mut all = vec![e.clone(); 5];
    all[0].message_id.push('x');
    all[1].sender_id.push('0');
    all[2].lamport_ts ^= 1;
    all[3].msg_type ^= 1;
    all[4].payload.push(0);
    all
}

fn check_payload(e: &Envelope) {
    match e.msg_type {
        msg_type::CHAT => {
            if let Ok(chat) = proto::decode::<ChatMessage>(&e.payload) {
                round_trips(&chat);
            }
        }
        msg_type::PEER_HELLO | msg_type::PEER_HELLO_ACK => {
            if let Ok(hello) = proto::decode::<PeerHello>(&e.payload) {
                round_trips(&hello);
            }
        }
        msg_type::PEER_EXCHANGE => {
            // proto::decode reads each entry from its own bytes (tafia/quick-protobuf#211,
            // found here: a nested message could read past its end).
            if let Ok(exchange) = proto::decode::<PeerExchange>(&e.payload) {
                round_trips(&exchange);
            }
        }
        _ => {}
    }
}

fn check_verified(e: &Envelope, key: &[u8]) {
    let mut unsigned = e.clone();
    unsigned.hop_count = unsigned.hop_count.wrapping_add(1);
    unsigned.sender_pubkey = vec![7; 3];
    assert_eq!(
        envelope::verify(&unsigned, key),
        Ok(()),
        "unsigned field broke it"
    );
    if identities::is_weak_key(key) {
        // A weak key verifies signatures over many messages; the spec accepts them as Go does.
        return;
    }
    for changed in tampered(e) {
        assert_eq!(
            envelope::verify(&changed, key),
            Err(SignatureError::Mismatch),
            "a change of a signed field still verifies"
        );
    }
    // Nobody can sign without the private key: a valid signature under a strong key comes
    // from one of the identities the seeds were made with, and is its own signature.
    let owner = identities::by_public_key(key).expect("a strong key verified a forgery");
    assert_eq!(
        owner.sign(&envelope::signed_bytes(e)).as_slice(),
        e.signature.as_slice(),
        "verified, but not the key owner's own signature"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(e) = proto::decode::<Envelope>(data) else {
        return;
    };
    round_trips(&e);
    check_payload(&e);
    assert_eq!(envelope::signed_bytes(&e), spec_signed_bytes(&e));

    let key = e.sender_pubkey.as_slice();
    match envelope::verify(&e, key) {
        Ok(()) => check_verified(&e, key),
        Err(SignatureError::PublicKeyLength(n)) => assert!(n == key.len() && n != 32),
        Err(SignatureError::SignatureLength(n)) => {
            assert!(key.len() == 32 && n == e.signature.len() && n != 64)
        }
        Err(SignatureError::InvalidPublicKey | SignatureError::Mismatch) => {
            assert!(key.len() == 32 && e.signature.len() == 64)
        }
    }
    // The key ring's path: the sender's key looked up by its id.
    if let Some(owner) = identities::by_node_id(&e.sender_id) {
        let verified = envelope::verify(&e, owner.public_key()).is_ok();
        assert_eq!(
            verified,
            identities::signed_by_sender(&e),
            "verify disagrees with re-signing"
        );
        if verified {
            check_verified(&e, owner.public_key());
        }
    }
});
