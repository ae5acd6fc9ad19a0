//! Steady-state dispatch and the PeerExchange protocol (spec §9.6, §12.2-12.3).

use alloc::string::String;
use alloc::vec::Vec;

use micelio_proto::{Envelope, PeerExchange, PeerInfo};

use super::keyring::Trust;
use super::peers::{self, Merge, PeerRecord};
use super::{ConnId, Node, Output, shuffle_prefix};
use crate::envelope::{self, msg_type};
use crate::identity::NodeId;
use crate::time::Instant;

impl Node {
    // ----- steady state (spec §9.6) -----

    pub(super) fn on_envelope(&mut self, now: Instant, conn: ConnId, envelope: Envelope) {
        let Some(slot) = self.slots.get(&conn) else {
            return;
        };
        let Some(from) = slot.peer else { return };
        if envelope.msg_type == msg_type::PEER_EXCHANGE {
            self.on_exchange(now, conn, from, &envelope);
        } else {
            self.on_gossip(now, from, envelope);
        }
    }

    pub(super) fn on_exchange(
        &mut self,
        now: Instant,
        conn: ConnId,
        from: NodeId,
        envelope: &Envelope,
    ) {
        let Some(slot) = self.slots.get_mut(&conn) else {
            return;
        };
        let Some(key) = slot.connection.peer().map(|p| p.public_key) else {
            return;
        };
        if !slot.exchange_seen.insert(&envelope.message_id, now) {
            return;
        }
        if envelope::verify(envelope, &key).is_err() {
            tracing::warn!(peer = %from, "invalid signature on peer_exchange");
            return;
        }
        if envelope.sender_id != from.as_str() {
            tracing::warn!(peer = %from, "sender_id mismatch on peer_exchange");
            return;
        }
        let Ok(exchange) = micelio_proto::decode::<PeerExchange>(&envelope.payload) else {
            tracing::error!(peer = %from, "unmarshal peer exchange");
            return;
        };
        if !exchange.peers.is_empty() {
            tracing::debug!(peer = %from, count = exchange.peers.len(), "received peer exchange");
        }
        let own = self.node_id();
        let unix = self.unix_now(now);
        for info in exchange
            .peers
            .iter()
            .take(self.config.max_exchange_entries_read)
        {
            let table = &self.peers;
            let known = |id: &NodeId| table.get(id).and_then(|r| r.public_key);
            let (id, key) = match peers::validate_entry(info, &own, known) {
                Ok(valid) => valid,
                Err(reason) => {
                    if reason == peers::RejectReason::MismatchedNodeId {
                        tracing::warn!(peer = %from, "ignoring peer: mismatched node_id");
                    }
                    continue;
                }
            };
            self.gossip.keys.insert(id, key, Trust::GossipLearned, now);
            if self.admitted.contains_key(&id) {
                // A connected peer's own hello is authoritative for its address.
                continue;
            }
            let admitted = &self.admitted;
            let (merge, evicted) = self
                .peers
                .merge(id, key, info, unix, |n| admitted.contains_key(n));
            if let Some(evicted) = evicted {
                self.outputs.push_back(Output::ForgetPeer(evicted));
            }
            if matches!(merge, Merge::Created | Merge::Updated) {
                if let Some(record) = self.peers.get(&id) {
                    self.outputs.push_back(Output::PersistPeer(record.clone()));
                }
            }
        }
    }

    /// Builds the PeerExchange for `recipient` (spec §12.2), or `None` when it would be empty.
    pub(super) fn build_exchange(
        &mut self,
        now: Instant,
        recipient: NodeId,
    ) -> Option<PeerExchange> {
        let own = self.node_id();
        let mut peers = Vec::new();
        if !self.config.advertised_addr.is_empty() {
            peers.push(PeerInfo {
                node_id: String::from(own.as_str()),
                addr: self.config.advertised_addr.clone(),
                reachable: true,
                ed25519_pubkey: self.identity.public_key().to_vec(),
                last_seen: u64::try_from(self.unix_now(now)).unwrap_or(0),
            });
        }
        let mut shareable: Vec<&PeerRecord> = self
            .peers
            .iter()
            .filter(|r| r.node_id != recipient && r.node_id != own && r.is_shareable())
            .collect();
        // A random sample when the table is larger than one exchange, so that successive
        // exchanges spread knowledge of the whole table.
        let room = self.config.max_exchange_entries.saturating_sub(peers.len());
        let sample = shuffle_prefix(&mut self.rng, &mut shareable, room);
        for record in sample {
            let Some(key) = record.public_key else {
                continue;
            };
            peers.push(PeerInfo {
                node_id: String::from(record.node_id.as_str()),
                addr: record.addr.clone(),
                reachable: true,
                ed25519_pubkey: key.to_vec(),
                last_seen: u64::try_from(record.last_seen).unwrap_or(0),
            });
        }
        (!peers.is_empty()).then_some(PeerExchange { peers })
    }

    pub(super) fn send_exchange(&mut self, now: Instant, conn: ConnId, recipient: NodeId) {
        let Some(exchange) = self.build_exchange(now, recipient) else {
            return;
        };
        let id = envelope::new_message_id(&mut self.rng);
        let envelope = envelope::peer_exchange(&self.identity, id, &exchange);
        if !self.send_to(now, conn, &micelio_proto::encode(&envelope)) {
            tracing::warn!(peer = %recipient, "send buffer full, dropping exchange");
        }
    }
}
