//! Steady-state dispatch and the PeerExchange protocol (spec §9.6, §12.2-12.3).

use alloc::vec::Vec;

use micelio_proto::{Envelope, PeerExchangeRef, PeerInfoRef};

use super::keyring::Trust;
use super::peers::{self, Merge};
use super::{ConnId, Node, Output};
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
        } else if self.is_tree_control(&from, &envelope) {
            self.on_tree_control(now, from, &envelope);
        } else if self.is_state_sync(&from, &envelope) {
            self.on_state_sync(now, from, &envelope);
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
        if envelope::verify_in(self.identity.suite(), envelope, &key).is_err() {
            tracing::warn!(peer = %from, "invalid signature on peer_exchange");
            return;
        }
        if envelope.sender_id != from.as_str() {
            tracing::warn!(peer = %from, "sender_id mismatch on peer_exchange");
            return;
        }
        self.state.observe(envelope.lamport_ts);
        let read = self.config.max_exchange_entries_read;
        let Ok(exchange) = PeerExchangeRef::decode(&envelope.payload, read) else {
            tracing::error!(peer = %from, "unmarshal peer exchange");
            return;
        };
        if !exchange.peers.is_empty() {
            tracing::debug!(peer = %from, count = exchange.peers.len(), "received peer exchange");
        }
        let own = self.node_id();
        let unix = self.unix_now(now);
        for info in exchange.peers {
            let (id, key) = match self.matches_known_record(&info, &own) {
                // Valid: its address and key are those of a stored, shareable record.
                Some(valid) => valid,
                None => {
                    let table = &self.peers;
                    let known = |id: &NodeId| table.get(id).and_then(|r| r.public_key);
                    match peers::validate_entry(info, &own, known) {
                        Ok(valid) => valid,
                        Err(reason) => {
                            if reason == peers::RejectReason::MismatchedNodeId {
                                tracing::warn!(peer = %from, "ignoring peer: mismatched node_id");
                            }
                            continue;
                        }
                    }
                }
            };
            self.gossip.keys.insert(id, key, Trust::GossipLearned, now);
            self.network_size.observe(&id);
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

    /// The id and key of an exchange entry that names a shareable record of the table with
    /// the same address and key: such an entry is valid (the record's address and key were
    /// validated when it was stored), so the address parsing and the key hash are skipped;
    /// the merge then only compares `last_seen`.
    fn matches_known_record(
        &self,
        info: &PeerInfoRef<'_>,
        own: &NodeId,
    ) -> Option<(NodeId, [u8; 32])> {
        let id = NodeId::parse(info.node_id)?;
        let record = self.peers.get_shareable(&id)?;
        let key = record.public_key?;
        let same =
            id != *own && info.reachable && record.addr == info.addr && info.ed25519_pubkey == key;
        same.then_some((id, key))
    }

    /// Builds the PeerExchange for `recipient` (spec §12.2) from borrowed entries and sends
    /// it; nothing is sent when it would be empty.
    pub(super) fn send_exchange(&mut self, now: Instant, conn: ConnId, recipient: NodeId) {
        self.send_exchange_of(now, conn, recipient, self.config.max_exchange_entries);
    }

    /// [`Node::send_exchange`] with at most `max_entries` entries.
    pub(super) fn send_exchange_of(
        &mut self,
        now: Instant,
        conn: ConnId,
        recipient: NodeId,
        max_entries: usize,
    ) {
        let own = self.node_id();
        let own_last_seen = u64::try_from(self.unix_now(now)).unwrap_or(0);
        let mut peers = Vec::with_capacity(max_entries);
        if !self.config.advertised_addr.is_empty() {
            peers.push(PeerInfoRef {
                node_id: own.as_str(),
                addr: &self.config.advertised_addr,
                reachable: true,
                ed25519_pubkey: self.identity.public_key(),
                last_seen: own_last_seen,
            });
        }
        // A random sample when the table is larger than one exchange, so that successive
        // exchanges spread knowledge of the whole table. One extra draw covers the recipient
        // (the only excluded id the table can hold).
        let room = max_entries.saturating_sub(peers.len());
        let sample = self
            .peers
            .sample_shareable(&mut self.rng, room.saturating_add(1))
            .filter(|r| r.node_id != recipient && r.node_id != own)
            .take(room);
        for record in sample {
            let Some(key) = record.public_key.as_ref() else {
                continue;
            };
            peers.push(PeerInfoRef {
                node_id: record.node_id.as_str(),
                addr: &record.addr,
                reachable: true,
                ed25519_pubkey: key,
                last_seen: u64::try_from(record.last_seen).unwrap_or(0),
            });
        }
        if peers.is_empty() {
            return;
        }
        let id = envelope::new_message_id(&mut self.rng);
        let lamport = self.state.tick();
        let exchange = PeerExchangeRef { peers };
        let envelope = envelope::peer_exchange_at(&self.identity, id, &exchange, lamport);
        let bytes = micelio_proto::encode(&envelope);
        if self.send_to(now, conn, &bytes) {
            self.traffic.exchange_bytes += bytes.len() as u64;
        } else {
            tracing::warn!(peer = %recipient, "send buffer full, dropping exchange");
        }
    }
}
