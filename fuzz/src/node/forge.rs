//! The envelopes harness peers send the node: gossip (genuine, forged, tampered, malformed)
//! and PeerExchanges, built from the script's fields.

use micelio_core::envelope;
use micelio_core::proto::{self, ChatMessage, Envelope, PeerExchange, PeerInfo, StateWrite};

use super::ops::{Entry, Gossip};
use crate::identities;

/// The address the node advertises when listening.
pub const OWN_ADDR: &str = "10.0.0.1:4000";
/// Message types tried (indexed modulo the length).
pub const TYPES: [u32; 12] = [3, 3, 6, 1000, 0, u32::MAX, 1, 2, 4, 5, 10, 11];
/// Addresses tried in exchanges and dials.
pub const ADDRS: [&str; 8] = [
    "10.0.0.5:4000",
    "",
    "0.0.0.0:4000",
    "[::1]:4000",
    "localhost:4000",
    OWN_ADDR,
    "10.0.0.9:4000",
    "300.1.1.1:70000",
];

/// The message type at `index` of [`TYPES`] (modulo its length).
pub fn msg_type(index: u8) -> u32 {
    TYPES[usize::from(index) % TYPES.len()]
}

/// The gossip envelope a harness peer sends for `g`; `fresh_id` names it when `g.id` asks for
/// a new id.
pub fn gossip(g: &Gossip<'_>, fresh_id: impl FnOnce() -> String) -> Envelope {
    let signer = identities::any(usize::from(g.signer));
    let claimed = (g.claim < 200).then(|| identities::any(usize::from(g.claim)));
    let msg_type = msg_type(g.msg_type);
    let wrap = g.payload.first().is_some_and(|b| b % 2 == 1);
    let mut lamport = 0;
    let payload = if msg_type == envelope::msg_type::CHAT && wrap {
        let chat = ChatMessage {
            nick: "fz".into(),
            text: String::from_utf8_lossy(g.payload).into_owned(),
            timestamp: 1,
        };
        proto::encode(&chat)
    } else if msg_type == envelope::msg_type::STATE_WRITE && wrap {
        let (write, at) = state_write(signer, g.payload);
        lamport = at;
        proto::encode(&write)
    } else {
        g.payload.to_vec()
    };
    let id = match g.id % 16 {
        n @ 0..=7 => format!("m{n}"),
        8 => String::new(),
        9 => "x".repeat(129),
        _ => fresh_id(),
    };
    let mut e = envelope::originate(signer, id, msg_type, g.hop.into(), payload, false);
    if lamport != 0 {
        e.lamport_ts = lamport;
        envelope::sign(&mut e, signer);
    }
    e.sender_id = match claimed {
        Some(identity) => identity.node_id().as_str().into(),
        None => [
            "",
            "x",
            &"a".repeat(129),
            &signer.node_id().as_str().to_uppercase(),
        ][usize::from(g.claim) % 4]
            .into(),
    };
    // Even `tamper`: the signer signs the claimed sender's bytes (a forgery unless it is
    // that sender); odd: the signature stays the one over the signer's own id.
    if g.tamper.is_multiple_of(2) {
        envelope::sign(&mut e, signer);
    }
    e.sender_pubkey = match g.pubkey % 5 {
        0 => Vec::new(),
        1 => signer.public_key().to_vec(),
        2 => claimed.map(|c| c.public_key().to_vec()).unwrap_or_default(),
        3 => {
            let mut weak = vec![0; 32];
            weak[0] = 1;
            weak
        }
        _ => vec![9; 31],
    };
    match g.tamper % 6 {
        1 => e.payload.push(0),
        2 => e.lamport_ts ^= 1,
        3 => e.signature.truncate(63),
        4 => e.signature[5] ^= 0x10,
        _ => {}
    }
    e
}

/// A PeerExchange of `entries`, signed by known identity `signer`, with message id `id`.
pub fn exchange(signer: u8, entries: &[Entry], id: String) -> Envelope {
    let last_seen = [0, 1_700_000_000, u64::MAX, 1_699_999_000];
    let peers = entries
        .iter()
        .map(|e| {
            let node = identities::any(usize::from(e.node));
            let key = identities::any(usize::from(e.key));
            let addr = match ADDRS.get(usize::from(e.addr)) {
                Some(addr) => (*addr).to_owned(),
                None => format!("10.1.{}.{}:4000", e.addr, e.node),
            };
            PeerInfo {
                node_id: node.node_id().as_str().into(),
                addr,
                reachable: e.flags & 1 == 1,
                ed25519_pubkey: key.public_key().to_vec(),
                last_seen: last_seen[usize::from(e.flags >> 1) % 4],
            }
        })
        .collect();
    let signer = identities::any(usize::from(signer));
    envelope::peer_exchange(signer, id, &PeerExchange { peers })
}

/// A state write by `signer` from script bytes (the first is the wrapping flag): the second
/// picks the key (shared, the signer's own, another node's, empty), whether it deletes, and
/// its Lamport time (small, large, at and past the ceiling); the rest is the value.
fn state_write(signer: &micelio_core::identity::Identity, bytes: &[u8]) -> (StateWrite, u64) {
    let pick = bytes.get(1).copied().unwrap_or(0);
    let other = identities::any(usize::from(pick >> 5));
    let key = match pick % 4 {
        0 => "shared/k".to_owned(),
        1 => format!("node/{}/k", signer.node_id()),
        2 => format!("node/{}/k", other.node_id()),
        _ => String::new(),
    };
    let deleted = pick & 4 != 0;
    let value = if deleted {
        Vec::new()
    } else {
        bytes.get(2..).unwrap_or_default().to_vec()
    };
    let lamport = [1, 2, (1 << 62) - 1, 1 << 62][usize::from(pick >> 3) % 4];
    let write = StateWrite {
        key,
        value,
        deleted,
        written_at: 1_700_000_000,
    };
    (write, lamport)
}
