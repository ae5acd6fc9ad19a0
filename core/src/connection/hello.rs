//! Validation of a received hello, in the exact order of spec §9.3.

use micelio_proto::{Envelope, PeerHello};

use alloc::string::String;

use super::event::{HelloError, MAX_PEER_VERSION_LEN, PeerIdentity};
use crate::envelope::{self, HelloKind};
use crate::identity::NodeId;
use crate::suite::Suite;

/// Validates the frame payload received during the hello exchange against the remote static
/// key authenticated by Noise, under the local `suite`, and returns the peer's identity.
///
/// Order: envelope decode, `msg_type`, hello decode, signature with the hello's key,
/// `sender_id == node_id`, node id derivation, X25519 binding.
pub fn validate(
    suite: Suite,
    frame_payload: &[u8],
    expected: HelloKind,
    remote_static: &[u8; 32],
) -> Result<PeerIdentity, HelloError> {
    let envelope: Envelope =
        micelio_proto::decode(frame_payload).map_err(|_| HelloError::MalformedEnvelope)?;
    if envelope.msg_type != expected.msg_type() {
        return Err(HelloError::WrongMessageType {
            expected: expected.msg_type(),
            received: envelope.msg_type,
        });
    }
    let hello: PeerHello =
        micelio_proto::decode(&envelope.payload).map_err(|_| HelloError::MalformedHello)?;
    envelope::verify_in(suite, &envelope, &hello.ed25519_pubkey)
        .map_err(HelloError::BadSignature)?;
    if envelope.sender_id != hello.node_id {
        return Err(HelloError::SenderMismatch);
    }
    // The signature check guarantees a 32-byte key.
    let public_key: [u8; 32] = hello
        .ed25519_pubkey
        .as_slice()
        .try_into()
        .map_err(|_| HelloError::NodeIdMismatch)?;
    let node_id = NodeId::from_public_key(&public_key);
    if node_id.as_str() != hello.node_id {
        return Err(HelloError::NodeIdMismatch);
    }
    let x25519 = suite
        .x25519_binding(&public_key)
        .map_err(HelloError::BadPublicKey)?;
    if &x25519 != remote_static {
        return Err(HelloError::StaticKeyMismatch);
    }
    Ok(PeerIdentity {
        node_id,
        public_key,
        reachable: hello.reachable,
        listen_addr: hello.listen_addr,
        version: if hello.version.len() <= MAX_PEER_VERSION_LEN {
            hello.version
        } else {
            String::new()
        },
        lamport: envelope.lamport_ts,
    })
}
