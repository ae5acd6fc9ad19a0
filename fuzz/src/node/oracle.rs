//! What must hold of a node whatever its peers send: the invariant checks of `node_inputs`.

use std::collections::BTreeSet;

use micelio_core::envelope::msg_type;
use micelio_core::identity::NodeId;
use micelio_core::node::peers::validate_loaded;
use micelio_core::node::{Node, NodeConfig, NodeEvent, PeerRecord};
use micelio_core::proto::{self, ChatMessage, Envelope, PeerExchange, StateWrite, TreeControl};
use micelio_core::state::{CheckTime, Entry};
use micelio_core::time::Instant;

use crate::identities;

/// The oracle's memory: what was genuinely signed, and which peers the application saw up.
#[derive(Debug)]
pub struct Oracle {
    node_id: NodeId,
    own_addr: String,
    /// `(sender_id, msg_type, payload)` of every envelope handed to the node that its sender
    /// really signed.
    genuine: BTreeSet<(String, u32, Vec<u8>)>,
    /// Peers the application was told are up.
    up: BTreeSet<NodeId>,
}

impl Oracle {
    /// An oracle for the node `node_id` advertising `own_addr` (maybe empty).
    pub fn new(node_id: NodeId, own_addr: &str) -> Self {
        Oracle {
            node_id,
            own_addr: own_addr.into(),
            genuine: BTreeSet::new(),
            up: BTreeSet::new(),
        }
    }

    /// The harness hands the node bytes that may be an envelope.
    pub fn sent_bytes(&mut self, bytes: &[u8]) {
        if let Ok(envelope) = proto::decode::<Envelope>(bytes) {
            self.sent(&envelope);
        }
    }

    /// The harness hands the node an envelope: remember it if its sender really signed it.
    pub fn sent(&mut self, envelope: &Envelope) {
        if identities::signed_by_sender(envelope) {
            let key = (
                envelope.sender_id.clone(),
                envelope.msg_type,
                envelope.payload.clone(),
            );
            self.genuine.insert(key);
        }
    }

    /// An application event: never a forgery, never our own message, peers up and down in
    /// order.
    pub fn event(&mut self, event: &NodeEvent) {
        match event {
            NodeEvent::Chat {
                sender, nick, text, ..
            } => {
                assert_ne!(*sender, self.node_id, "own chat delivered");
                let genuine = self.genuine.iter().any(|(s, t, payload)| {
                    s == sender.as_str()
                        && *t == msg_type::CHAT
                        && proto::decode::<ChatMessage>(payload)
                            .is_ok_and(|c| c.nick == *nick && c.text == *text)
                });
                assert!(genuine, "chat delivered that {sender:?} never signed");
            }
            NodeEvent::Message {
                sender,
                msg_type: t,
                payload,
                ..
            } => {
                assert_ne!(*sender, self.node_id, "own message delivered");
                assert!(
                    msg_type::is_gossip(*t) && *t != msg_type::CHAT,
                    "type {t} delivered"
                );
                let key = (sender.as_str().to_owned(), *t, payload.clone());
                assert!(
                    self.genuine.contains(&key),
                    "message delivered that {sender:?} never signed"
                );
            }
            NodeEvent::PeerUp { node_id, .. } => {
                assert_ne!(*node_id, self.node_id, "itself announced as a peer");
                assert!(
                    identities::by_node_id(node_id.as_str()).is_some(),
                    "unknown peer up"
                );
                assert!(self.up.insert(*node_id), "PeerUp twice for {node_id:?}");
            }
            NodeEvent::PeerDown { node_id, .. } => {
                assert!(
                    self.up.remove(node_id),
                    "PeerDown for a peer not up: {node_id:?}"
                );
            }
            NodeEvent::StateChanged {
                key, value, writer, ..
            } => {
                assert_ne!(*writer, self.node_id, "a write of its own from the network");
                let genuine = self.genuine.iter().any(|(s, t, payload)| {
                    s == writer.as_str()
                        && *t == msg_type::STATE_WRITE
                        && proto::decode::<StateWrite>(payload).is_ok_and(|w| {
                            w.key == *key && (w.deleted || Some(&w.value) == value.as_ref())
                        })
                });
                assert!(genuine, "state change {key:?} that {writer:?} never signed");
            }
        }
    }

    /// A map entry the node persists: the writer's genuine entry, under its own key.
    pub fn persisted_state(&self, key: &str, envelope: &[u8]) {
        let envelope: Envelope = proto::decode(envelope).expect("a persisted entry decodes");
        let time = CheckTime {
            unix_now: 1_700_000_000,
            tombstone_horizon: u64::MAX / 2,
        };
        let entry = Entry::verify(identities::suite(), envelope, time).expect("a valid entry");
        assert_eq!(entry.key(), key, "persisted under another key");
    }

    /// An envelope the node sent to a harness peer (`tree`: one that announced the `tree1`
    /// extension): only genuine envelopes leave it, and extension control messages only
    /// to extension peers, well formed and within bounds.
    pub fn from_node(&self, envelope: &Envelope, tree: bool) {
        assert_ne!(
            envelope.msg_type,
            msg_type::STATE_SYNC,
            "state sync sent to a peer that did not announce state1"
        );
        if envelope.msg_type == msg_type::TREE_CONTROL && envelope.signature.is_empty() {
            assert!(
                tree,
                "extension control sent to a peer that did not announce it"
            );
            assert!(envelope.message_id.is_empty() && envelope.sender_id.is_empty());
            let control: TreeControl =
                proto::decode(&envelope.payload).expect("the node's control decodes");
            let limit = NodeConfig::default().tree.max_control_ids * 16;
            for list in [&control.ihave, &control.graft] {
                assert!(
                    list.len() % 16 == 0 && list.len() <= limit,
                    "digest list {}",
                    list.len()
                );
            }
            return;
        }
        assert!(
            identities::signed_by_sender(envelope),
            "the node sent a forged envelope (type {}, sender {})",
            envelope.msg_type,
            envelope.sender_id
        );
        if envelope.msg_type == msg_type::PEER_EXCHANGE {
            assert_eq!(
                envelope.sender_id,
                self.node_id.as_str(),
                "relayed a PeerExchange"
            );
            let exchange: PeerExchange =
                proto::decode(&envelope.payload).expect("its PeerExchange decodes");
            for info in &exchange.peers {
                let id = NodeId::parse(&info.node_id).expect("a well-formed node id");
                assert!(
                    id.matches_public_key(&info.ed25519_pubkey),
                    "shared a mismatched key"
                );
                assert!(info.reachable, "shared an unreachable peer");
                let record = record_of(id, &info.addr);
                assert!(
                    validate_loaded(&record).is_ok(),
                    "shared a bad address {:?}",
                    info.addr
                );
            }
        } else {
            assert!(
                envelope.hop_count >= 1,
                "sent a gossip envelope with no hops left"
            );
        }
    }

    /// A record the node asks to persist.
    pub fn persisted(&self, record: &PeerRecord) {
        assert_ne!(record.node_id, self.node_id, "persisted itself");
        assert!(
            validate_loaded(record).is_ok(),
            "persisted an invalid record: {record:?}"
        );
        if record.reachable {
            assert!(!record.addr.is_empty(), "reachable without an address");
        }
    }

    /// A dial the node asks for.
    pub fn dial(&self, addr: &str) {
        assert!(
            self.own_addr.is_empty() || addr != self.own_addr,
            "dialed itself"
        );
    }

    /// The deadline that ends a drain (after one wake-up at `now` if it was due): after `now`
    /// while running, none after shutdown.
    pub fn timeout(&self, at: Option<Instant>, now: Instant, shut_down: bool) {
        match at {
            None => assert!(shut_down, "no deadline while running"),
            Some(at) => {
                assert!(!shut_down, "a deadline after shutdown");
                assert!(
                    at > now,
                    "deadline {at:?} still not after now {now:?} after a wake-up: a runtime would spin"
                );
            }
        }
    }

    /// Bounds and consistency of the node's tables once it is quiet. `live` counts the
    /// connections the runtime has open and `outbound` those it dialed.
    pub fn quiet(&self, node: &Node, live: usize, outbound: usize) {
        let config = node.config();
        let (seen, keys, buckets, known) = node.table_sizes();
        assert!(
            seen <= config.max_seen,
            "seen cache {seen} > {}",
            config.max_seen
        );
        assert!(
            keys <= config.max_keys,
            "key ring {keys} > {}",
            config.max_keys
        );
        assert!(buckets <= config.max_rate_buckets, "rate buckets {buckets}");
        assert!(known <= config.max_known_peers, "known peers {known}");
        if config.max_peers > 0 {
            assert!(node.peer_count() <= config.max_peers, "too many peers");
        }
        assert_eq!(
            node.peer_count() + node.pending_count(),
            live,
            "connections leaked"
        );
        assert!(node.pending_count() <= config.max_pending_connections + outbound);
        for peer in node.peers() {
            assert!(
                self.up.contains(&peer.node_id),
                "admitted but never announced"
            );
        }
        for record in node.known_peers() {
            self.persisted(record);
        }
    }
}

/// A record with only an id and an address, to reuse the loader's address rules.
fn record_of(node_id: NodeId, addr: &str) -> PeerRecord {
    PeerRecord {
        node_id,
        addr: addr.into(),
        reachable: true,
        public_key: None,
        last_seen: 0,
        fail_count: 0,
        last_fail: 0,
    }
}
