//! The node's side of each connection: accepting, dialing, pumping events and transmits,
//! and accounting for connections that end.

use alloc::string::String;
use alloc::vec::Vec;

use micelio_proto::Envelope;

use super::bootstrap::BootstrapState;
use super::seen_cache::SeenCache;
use super::{ConnId, DialId, Direction, Node, NodeEvent, Origin, Output, Slot, tree};
use crate::connection::{CloseReason, Connection, Event, LocalHello, Role};
use crate::envelope::msg_type;
use crate::identity::NodeId;
use crate::time::Instant;

impl Node {
    // ----- connections -----

    pub(super) fn local_hello(&mut self) -> LocalHello {
        LocalHello {
            lamport: self.state.tick(),
            tags: self.config.tags.clone(),
            listen_addr: self.config.advertised_addr.clone(),
            capabilities: self.capabilities(),
        }
    }

    /// The extensions this node announces, dot-separated (`tree1.state1`).
    fn capabilities(&self) -> String {
        let mut tokens: Vec<&str> = Vec::new();
        if self.tree.enabled() {
            tokens.push(tree::TREE_CAPABILITY);
        }
        if self.state.config().enabled {
            tokens.push(crate::state::STATE_CAPABILITY);
        }
        tokens.join(".")
    }

    pub(super) fn new_slot(
        &mut self,
        now: Instant,
        role: Role,
        origin: Origin,
        remote_addr: String,
    ) -> Slot {
        let hello = self.local_hello();
        let connection = Connection::new(
            role,
            self.config.connection.clone(),
            &self.identity,
            hello,
            now,
            &mut self.rng,
        );
        Slot {
            connection,
            origin,
            remote_addr,
            peer: None,
            remote_static: None,
            admitted_at: now,
            exchange_seen: SeenCache::new(self.config.seen_ttl, self.config.max_exchange_seen),
            write_blocked: false,
        }
    }

    pub(super) fn on_accepted(&mut self, now: Instant, conn: ConnId, remote_addr: &str) {
        let at_capacity = self.config.max_peers > 0 && self.admitted.len() >= self.config.max_peers;
        let referral = at_capacity && self.referral_due(now);
        if self.shut_down || (at_capacity && !referral) || self.slots.contains_key(&conn) {
            tracing::info!(remote = remote_addr, "rejecting inbound: at capacity");
            self.outputs.push_back(Output::Close { conn });
            return;
        }
        if self.pending_count() >= self.config.max_pending_connections {
            tracing::warn!(
                remote = remote_addr,
                "rejecting inbound: too many pending handshakes"
            );
            self.outputs.push_back(Output::Close { conn });
            return;
        }
        if referral {
            self.next_referral = now + self.config.referral_interval;
            tracing::info!(
                remote = remote_addr,
                "inbound at capacity: taken for a referral"
            );
        }
        let slot = self.new_slot(
            now,
            Role::Responder,
            Origin::Inbound,
            String::from(remote_addr),
        );
        self.slots.insert(conn, slot);
        self.lower_deadline_floor(conn);
    }

    /// True when an at-capacity inbound connection may be taken for a referral now.
    fn referral_due(&self, now: Instant) -> bool {
        !self.config.referral_interval.is_zero() && now >= self.next_referral
    }

    pub(super) fn on_connected(&mut self, now: Instant, dial: DialId, conn: ConnId) {
        let Some((origin, addr)) = self.dials.remove(&dial) else {
            self.outputs.push_back(Output::Close { conn });
            return;
        };
        if self.shut_down || self.slots.contains_key(&conn) {
            self.outputs.push_back(Output::Close { conn });
            return;
        }
        if let Origin::Bootstrap(index) = origin {
            if let Some(dialer) = self.bootstrap.get_mut(index) {
                dialer.state = BootstrapState::Connected(conn);
            }
        }
        let slot = self.new_slot(now, Role::Initiator, origin, addr);
        self.slots.insert(conn, slot);
        self.pump(now, conn);
    }

    /// Drains a connection's events and transmits into the node's outputs.
    ///
    /// Consecutive gossip envelopes (everything but exchanges) from an admitted peer are
    /// gathered and checked together, so that one read carrying many messages costs one batch
    /// signature verification; any other event first finishes the gathered ones, so the order
    /// of effects is that of the events.
    pub(super) fn pump(&mut self, now: Instant, conn: ConnId) {
        let mut gossip: Vec<Envelope> = Vec::new();
        let mut gossip_from = None;
        loop {
            let Some(slot) = self.slots.get_mut(&conn) else {
                return;
            };
            let Some(event) = slot.connection.poll_event() else {
                break;
            };
            if let Event::Envelope(envelope) = &event {
                if msg_type::is_extension(envelope.msg_type) {
                    self.traffic.extension_received += 1;
                }
            }
            let event = match (event, slot.peer) {
                (Event::Envelope(envelope), Some(from))
                    if envelope.msg_type != msg_type::PEER_EXCHANGE
                        && !self.is_tree_control(&from, &envelope)
                        && !self.is_state_sync(&from, &envelope) =>
                {
                    gossip.push(envelope);
                    gossip_from = Some(from);
                    continue;
                }
                (event, _) => event,
            };
            if let Some(from) = gossip_from.take() {
                self.on_gossip_batch(now, from, core::mem::take(&mut gossip));
            }
            match event {
                Event::HandshakeComplete { remote_static, .. } => {
                    if let Some(slot) = self.slots.get_mut(&conn) {
                        slot.remote_static = Some(remote_static);
                    }
                }
                Event::Established(peer) => self.on_established(now, conn, peer),
                Event::Envelope(envelope) => self.on_envelope(now, conn, envelope),
                Event::Closed(reason) => {
                    self.drain_transmits(conn);
                    self.on_closed(now, conn, reason);
                    return;
                }
            }
        }
        if let Some(from) = gossip_from {
            self.on_gossip_batch(now, from, gossip);
        }
        self.drain_transmits(conn);
        self.lower_deadline_floor(conn);
    }

    pub(super) fn drain_transmits(&mut self, conn: ConnId) {
        let Some(slot) = self.slots.get_mut(&conn) else {
            return;
        };
        if slot.write_blocked {
            return;
        }
        while let Some(data) = slot.connection.poll_transmit() {
            self.outputs.push_back(Output::Transmit { conn, data });
        }
    }

    /// Sends a serialized envelope to one connection; false if it was dropped.
    pub(super) fn send_to(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) -> bool {
        let Some(slot) = self.slots.get_mut(&conn) else {
            return false;
        };
        match slot.connection.send(now, bytes) {
            Ok(()) => {
                self.drain_transmits(conn);
                true
            }
            Err(error) => {
                tracing::warn!(%error, "send buffer full");
                false
            }
        }
    }

    pub(super) fn on_closed(&mut self, now: Instant, conn: ConnId, reason: CloseReason) {
        self.outputs.push_back(Output::Close { conn });
        let Some(slot) = self.slots.remove(&conn) else {
            return;
        };
        // A connection that was to take over a lost peer ended without being admitted.
        self.end_handovers_to(now, conn);
        if slot.peer.is_none() {
            log_unadmitted_close(&slot.remote_addr, slot.direction(), reason);
        }
        if let Some(id) = slot.peer {
            if self.admitted.get(&id) == Some(&conn) {
                self.admitted.remove(&id);
                self.tree_peer_down(&id);
                self.state_peer_down(&id);
                tracing::info!(peer = %id, %reason, "peer disconnected");
                match self.successor_of(&slot) {
                    // The same node is finishing a hello on another connection (typically the
                    // winner of a cross-dial tie-break, closed here by the peer first): if it
                    // is admitted, the application never sees the peer go down and up.
                    Some(successor) => {
                        self.handovers.insert(id, (successor, reason));
                    }
                    None => self.peer_down(now, id, reason),
                }
            }
        }
        if let Some(id) = slot.peer {
            match slot.origin {
                Origin::Bootstrap(index) => {
                    let still_connected =
                        self.admitted.contains_key(&id) || self.handovers.contains_key(&id);
                    let short = now < slot.admitted_at + self.config.connection.hello_timeout;
                    if let Some(dialer) = self.bootstrap.get_mut(index) {
                        if dialer.state == BootstrapState::Connected(conn) {
                            if still_connected {
                                dialer.park(id);
                            } else if short {
                                dialer.failed(now);
                            } else {
                                dialer.ended(now);
                            }
                        }
                    }
                }
                Origin::Discovery(id) => {
                    self.discovery_dialing.remove(&id);
                }
                Origin::Inbound | Origin::Manual => {}
            }
        } else if let Some(id) = self.bootstrap_rejected_as_duplicate(&slot) {
            // The node behind this bootstrap address is already connected to us through
            // another connection and closed this one as a duplicate (e.g. it lost a cross-dial
            // tie-break): stop dialing it until it disconnects instead of re-dialing and being
            // rejected every 30 s forever.
            if let Origin::Bootstrap(index) = slot.origin {
                if let Some(dialer) = self.bootstrap.get_mut(index) {
                    if dialer.state == BootstrapState::Connected(conn) {
                        dialer.park(id);
                    }
                }
            }
        } else {
            self.on_attempt_failed(now, &slot.origin);
        }
    }

    /// Announces that `id` is gone and lets parked bootstrap addresses of it dial again.
    fn peer_down(&mut self, now: Instant, id: NodeId, reason: CloseReason) {
        self.outputs.push_back(Output::Event(NodeEvent::PeerDown {
            node_id: id,
            reason,
        }));
        for dialer in self.bootstrap.iter_mut().filter(|d| d.node == Some(id)) {
            dialer.unpark(now);
        }
    }

    /// The peers waiting for `conn` to take over (see `handovers`) are gone after all.
    pub(super) fn end_handovers_to(&mut self, now: Instant, conn: ConnId) {
        let waiting: alloc::vec::Vec<NodeId> = self
            .handovers
            .iter()
            .filter(|(_, (successor, _))| *successor == conn)
            .map(|(id, _)| *id)
            .collect();
        for id in waiting {
            if let Some((_, reason)) = self.handovers.remove(&id) {
                self.peer_down(now, id, reason);
            }
        }
    }

    /// A connection still in its hello whose Noise handshake authenticated the same static key
    /// as `slot` (the same node), and that is not already taking over another peer.
    fn successor_of(&self, slot: &Slot) -> Option<ConnId> {
        let key = slot.remote_static?;
        self.slots
            .iter()
            .find(|(conn, s)| {
                s.peer.is_none()
                    && s.remote_static == Some(key)
                    && !s.connection.is_closed()
                    && !self.handovers.values().any(|(c, _)| c == *conn)
            })
            .map(|(conn, _)| *conn)
    }

    /// For a bootstrap connection that ended before admission: the admitted peer it reached,
    /// if its Noise handshake authenticated the same static key as an admitted connection.
    fn bootstrap_rejected_as_duplicate(&self, slot: &Slot) -> Option<NodeId> {
        if !matches!(slot.origin, Origin::Bootstrap(_)) {
            return None;
        }
        let key = slot.remote_static?;
        self.admitted
            .iter()
            .find(|(_, conn)| {
                self.slots
                    .get(conn)
                    .is_some_and(|s| s.remote_static == Some(key))
            })
            .map(|(id, _)| *id)
    }

    /// A dial that never reached admission: back off.
    pub(super) fn on_attempt_failed(&mut self, now: Instant, origin: &Origin) {
        match origin {
            Origin::Bootstrap(index) => {
                if let Some(dialer) = self.bootstrap.get_mut(*index) {
                    if dialer.state != BootstrapState::Disabled {
                        dialer.failed(now);
                    }
                }
            }
            Origin::Discovery(id) => {
                self.discovery_dialing.remove(id);
                let unix = self.unix_now(now);
                if let Some(record) = self.peers.get(id) {
                    let mut record = record.clone();
                    record.fail_count = record.fail_count.saturating_add(1);
                    record.last_fail = unix;
                    tracing::debug!(peer = %id, fails = record.fail_count, "dial discovered peer failed");
                    self.store_record(record);
                }
            }
            Origin::Inbound | Origin::Manual => {}
        }
    }
}

/// Logs the end of a connection that never got past the handshake and hello: a protocol
/// violation at WARN (it names the rule broken), anything else at DEBUG.
fn log_unadmitted_close(remote_addr: &str, direction: Direction, reason: CloseReason) {
    match reason {
        CloseReason::Noise(_) | CloseReason::Frame(_) | CloseReason::Hello(_) => {
            tracing::warn!(remote = remote_addr, %direction, %reason, "closing connection: protocol violation");
        }
        CloseReason::HandshakeTimeout | CloseReason::HelloTimeout => {
            tracing::info!(remote = remote_addr, %direction, %reason, "closing connection: handshake too slow");
        }
        _ => {
            tracing::debug!(remote = remote_addr, %direction, %reason, "connection closed before admission")
        }
    }
}
