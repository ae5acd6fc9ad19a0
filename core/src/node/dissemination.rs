//! Relaying a checked gossip envelope: the reference's random fan-out for reference peers,
//! and the eager/lazy tree (extension `tree1`) for the peers that announced it.

use alloc::vec::Vec;

use micelio_proto::{Envelope, TreeControl};

use super::seen_cache::SeenId;
use super::tree;
use super::{ConnId, Node, shuffle_prefix};
use crate::connection::PeerIdentity;
use crate::envelope::msg_type;
use crate::identity::NodeId;
use crate::time::Instant;

/// Envelope bytes a node sent, by kind, and extension envelopes it received.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrafficStats {
    /// Gossip envelopes (originated, relayed, pushed along the tree or served to a graft).
    pub gossip_bytes: u64,
    /// Extension control envelopes (announcements, grafts, prunes).
    pub control_bytes: u64,
    /// PeerExchange envelopes.
    pub exchange_bytes: u64,
    /// Envelopes of an extension type received from any peer, handled or not (a node with
    /// the extension off must never see one).
    pub extension_received: u64,
}

impl Node {
    /// Counters of bytes sent by kind.
    pub fn traffic_stats(&self) -> TrafficStats {
        self.traffic
    }

    /// Counters of the dissemination extension.
    pub fn tree_stats(&self) -> tree::TreeStats {
        self.tree.stats
    }

    /// Envelopes kept to serve grafts (bounded by [`tree::TreeConfig::max_stored_messages`]).
    pub fn stored_messages(&self) -> usize {
        self.tree.stored_count()
    }

    /// Number of extension peers, and how many of them take eager pushes.
    pub fn tree_links(&self) -> (usize, usize) {
        (self.tree.link_count(), self.tree.eager_count())
    }

    /// An admitted peer that announced the extension becomes a tree link (when ours is on).
    /// Its hello decides even when its connection replaces another one (cross-dial
    /// tie-break): a replacement that does not announce the extension ends the old link.
    pub(super) fn tree_peer_up(&mut self, now: Instant, peer: &PeerIdentity) {
        if self.tree.enabled() && tree::announces_tree(&peer.version) {
            self.tree.add_link(peer.node_id);
            self.send_tree_controls(now);
        } else {
            self.tree.remove_link(&peer.node_id);
        }
    }

    /// An admitted peer left.
    pub(super) fn tree_peer_down(&mut self, id: &NodeId) {
        self.tree.remove_link(id);
    }

    /// True when an envelope from `from` is a control message of the extension.
    pub(super) fn is_tree_control(&self, from: &NodeId, envelope: &Envelope) -> bool {
        envelope.msg_type == msg_type::TREE_CONTROL && self.tree.is_link(from)
    }

    /// A control message from extension peer `from`.
    pub(super) fn on_tree_control(&mut self, now: Instant, from: NodeId, envelope: &Envelope) {
        let Ok(control) = micelio_proto::decode::<TreeControl>(&envelope.payload) else {
            self.tree.stats.bad_controls += 1;
            tracing::debug!(peer = %from, "unmarshal tree control");
            return;
        };
        let seen = &self.gossip.seen;
        match self
            .tree
            .on_control(now, &from, &control, |id| seen.contains_id(id))
        {
            Ok(served) => {
                if let Some(&conn) = self.admitted.get(&from) {
                    for envelope in served {
                        self.send_gossip(now, conn, &envelope);
                    }
                }
            }
            Err(error) => tracing::debug!(peer = %from, %error, "tree control refused"),
        }
        self.send_tree_controls(now);
    }

    /// A copy of a seen message came from `from` (`detour`: its tree mark).
    pub(super) fn tree_duplicate(
        &mut self,
        now: Instant,
        from: &NodeId,
        envelope: &Envelope,
        detour: bool,
    ) {
        if self.tree.is_link(from) {
            let id = SeenId::of(&envelope.message_id);
            self.tree.on_duplicate(from, &id, detour);
            self.send_tree_controls(now);
        }
    }

    /// Takes the tree mark off the hop count of an envelope from an extension peer (whose
    /// pushes carry it, [`tree::DETOUR_FLAG`]); returns whether the copy took a detour.
    pub(super) fn take_tree_mark(&self, from: &NodeId, envelope: &mut Envelope) -> bool {
        if !self.tree.is_link(from) {
            return false;
        }
        let (hop_count, detour) = tree::split_tree_hop_count(envelope.hop_count);
        envelope.hop_count = hop_count;
        detour
    }

    /// Relays an envelope that passed the checks (spec §10.3), or that this node originated
    /// (`from` = `None`, every peer is a target). Reference peers get the reference's
    /// treatment: the originator sends to all, a relay to `fanout` random peers while the hop
    /// count allows. Extension peers get the tree's: a full push to the eager ones (to all of
    /// them from the originator), an announcement to the lazy ones, hop count kept at least 1
    /// and marked with `detour` ([`tree::DETOUR_FLAG`]).
    pub(super) fn relay(
        &mut self,
        now: Instant,
        from: Option<NodeId>,
        detour: bool,
        mut envelope: Envelope,
    ) {
        // Without extension links the tree has nothing to do: no digest, no second encoding.
        let tree_on = self.tree.link_count() > 0 && !msg_type::is_extension(envelope.msg_type);
        let hop_count = envelope.hop_count;
        let mut reference_bytes = None;
        let chosen: Vec<(NodeId, ConnId)> = match from {
            None => self
                .admitted
                .iter()
                .map(|(id, conn)| (*id, *conn))
                .collect(),
            Some(_) if hop_count <= 1 => Vec::new(),
            Some(from) => {
                envelope.hop_count = hop_count - 1;
                let mut candidates: Vec<(NodeId, ConnId)> = self
                    .admitted
                    .iter()
                    .filter(|(id, _)| **id != from)
                    .map(|(id, conn)| (*id, *conn))
                    .collect();
                shuffle_prefix(&mut self.rng, &mut candidates, self.config.fanout).to_vec()
            }
        };
        for (peer, conn) in chosen {
            if tree_on && self.tree.is_link(&peer) {
                continue;
            }
            let bytes = reference_bytes.get_or_insert_with(|| micelio_proto::encode(&envelope));
            match (from, self.send_gossip(now, conn, bytes)) {
                (Some(_), true) => self.gossip.stats.forwarded += 1,
                (None, true) => self.gossip.stats.broadcast += 1,
                (_, false) => self.gossip.stats.dropped += 1,
            }
        }
        if !tree_on {
            return;
        }
        let hop = if from.is_some() {
            hop_count.saturating_sub(1).max(1)
        } else {
            hop_count.max(1)
        };
        let id = SeenId::of(&envelope.message_id);
        let from_burst = detour && from.is_some_and(|f| f.as_str() == envelope.sender_id);
        let mut encoded = |detour: bool| {
            envelope.hop_count = tree::tree_hop_count(hop, detour);
            micelio_proto::encode(&envelope)
        };
        let bytes = encoded(detour);
        let arrival = tree::Arrival {
            from: from.as_ref(),
            detour,
            from_burst,
            network_size: self.network_size_estimate(),
        };
        let pushes = self.tree.on_message(now, arrival, id, &bytes);
        let mut other = None;
        for (peer, marked) in pushes {
            let Some(&conn) = self.admitted.get(&peer) else {
                continue;
            };
            let copy = if marked == detour {
                &bytes
            } else {
                other.get_or_insert_with(|| encoded(marked))
            };
            match (from, self.send_gossip(now, conn, copy)) {
                (Some(_), true) => self.gossip.stats.forwarded += 1,
                (None, true) => self.gossip.stats.broadcast += 1,
                (_, false) => self.gossip.stats.dropped += 1,
            }
        }
        self.send_tree_controls(now);
    }

    /// Runs the extension's due announcement batches and grafts.
    pub(super) fn tree_timers(&mut self, now: Instant) {
        if self.tree.poll_timeout().is_some_and(|at| at <= now) {
            let seen = &self.gossip.seen;
            self.tree.on_timeout(now, |id| seen.contains_id(id));
            self.send_tree_controls(now);
        }
    }

    /// When the extension next has timer work.
    pub(super) fn tree_timeout(&self) -> Option<Instant> {
        self.tree.poll_timeout()
    }

    /// Sends the control messages the engine decided.
    fn send_tree_controls(&mut self, now: Instant) {
        while let Some((to, control)) = self.tree.poll_control() {
            let Some(&conn) = self.admitted.get(&to) else {
                continue;
            };
            let envelope = Envelope {
                msg_type: msg_type::TREE_CONTROL,
                payload: micelio_proto::encode(&control),
                ..Envelope::default()
            };
            let bytes = micelio_proto::encode(&envelope);
            if self.send_to(now, conn, &bytes) {
                self.traffic.control_bytes += bytes.len() as u64;
            }
        }
    }

    /// Sends a gossip envelope's bytes to one connection, counting them.
    pub(super) fn send_gossip(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) -> bool {
        let sent = self.send_to(now, conn, bytes);
        if sent {
            self.traffic.gossip_bytes += bytes.len() as u64;
        }
        sent
    }
}
