//! Gossip after the checks (spec §10.1 steps 6-7): delivery to the application, then
//! forwarding (`dissemination.rs`); a duplicate from a tree peer may prune it.

use alloc::vec::Vec;

use micelio_proto::{ChatMessage, Envelope};

use super::{GossipDrop, Node, NodeEvent, Output};
use crate::envelope::msg_type;
use crate::identity::NodeId;
use crate::time::Instant;

impl Node {
    // ----- gossip (spec §10) -----

    pub(super) fn on_gossip(&mut self, now: Instant, from: NodeId, envelope: Envelope) {
        let result = self.gossip.accept(now, &envelope);
        self.after_checks(now, from, envelope, result);
    }

    /// Gossip envelopes that arrived together from `from`: checked with one batch
    /// verification ([`super::gossip::Gossip::accept_batch`]), then delivered and relayed in
    /// order, exactly as one by one.
    pub(super) fn on_gossip_batch(&mut self, now: Instant, from: NodeId, mut batch: Vec<Envelope>) {
        if batch.len() == 1 {
            // Alone: no batch, no copy of the sender's key.
            if let Some(envelope) = batch.pop() {
                self.on_gossip(now, from, envelope);
            }
            return;
        }
        let results = self.gossip.accept_batch(now, &batch);
        for (envelope, result) in batch.into_iter().zip(results) {
            self.after_checks(now, from, envelope, result);
        }
    }

    /// Steps 6-7 of spec §10.1 for an envelope the checks accepted; drops are logged.
    fn after_checks(
        &mut self,
        now: Instant,
        from: NodeId,
        mut envelope: Envelope,
        result: Result<NodeId, GossipDrop>,
    ) {
        let detour = self.take_tree_mark(&from, &mut envelope);
        let sender = match result {
            Ok(sender) => sender,
            Err(GossipDrop::Duplicate) => {
                self.gossip.stats.duplicates += 1;
                self.tree_duplicate(now, &from, &envelope, detour);
                return;
            }
            Err(drop) => {
                tracing::debug!(peer = %from, reason = %drop, "gossip dropped");
                return;
            }
        };
        // Lamport's receive rule (a state write is observed once, when the map takes it).
        if envelope.msg_type != msg_type::STATE_WRITE {
            self.state.observe(envelope.lamport_ts);
        }
        self.network_size.observe(&sender);
        if sender != self.node_id() && !self.deliver(now, sender, &envelope) {
            return;
        }
        self.relay(now, Some(from), detour, envelope);
    }

    /// Hands a checked message to the application (a state write to the map); false when
    /// it must not be relayed (a state write that breaks the map's rules).
    pub(super) fn deliver(&mut self, now: Instant, sender: NodeId, envelope: &Envelope) -> bool {
        if envelope.msg_type == msg_type::STATE_WRITE && self.state.config().enabled {
            self.gossip.stats.delivered += 1;
            return self.on_state_write(now, sender, envelope);
        }
        let event = if envelope.msg_type == msg_type::CHAT {
            match micelio_proto::decode::<ChatMessage>(&envelope.payload) {
                Ok(chat) => NodeEvent::Chat {
                    sender,
                    nick: chat.nick,
                    text: chat.text,
                    hop_count: envelope.hop_count,
                },
                Err(_) => {
                    tracing::error!(sender = %sender, "unmarshal chat");
                    return true;
                }
            }
        } else {
            NodeEvent::Message {
                sender,
                msg_type: envelope.msg_type,
                payload: envelope.payload.clone(),
                hop_count: envelope.hop_count,
            }
        };
        self.gossip.stats.delivered += 1;
        self.outputs.push_back(Output::Event(event));
        true
    }
}
