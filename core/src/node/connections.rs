//! The node's side of each connection: accepting, dialing, pumping events and transmits,
//! and accounting for connections that end.

use alloc::string::String;

use super::bootstrap::BootstrapState;
use super::seen_cache::SeenCache;
use super::{ConnId, DialId, Node, NodeEvent, Origin, Output, Slot};
use crate::connection::{CloseReason, Connection, Event, LocalHello, Role};
use crate::time::Instant;

impl Node {
    // ----- connections -----

    pub(super) fn local_hello(&self) -> LocalHello {
        LocalHello {
            tags: self.config.tags.clone(),
            listen_addr: self.config.advertised_addr.clone(),
        }
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
            admitted_at: now,
            exchange_seen: SeenCache::new(self.config.seen_ttl, self.config.max_exchange_seen),
        }
    }

    pub(super) fn on_accepted(&mut self, now: Instant, conn: ConnId, remote_addr: &str) {
        let at_capacity = self.config.max_peers > 0 && self.admitted.len() >= self.config.max_peers;
        if self.shut_down || at_capacity || self.slots.contains_key(&conn) {
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
        let slot = self.new_slot(
            now,
            Role::Responder,
            Origin::Inbound,
            String::from(remote_addr),
        );
        self.slots.insert(conn, slot);
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
    pub(super) fn pump(&mut self, now: Instant, conn: ConnId) {
        loop {
            let Some(slot) = self.slots.get_mut(&conn) else {
                return;
            };
            let Some(event) = slot.connection.poll_event() else {
                break;
            };
            match event {
                Event::HandshakeComplete { .. } => {}
                Event::Established(peer) => self.on_established(now, conn, peer),
                Event::Envelope(envelope) => self.on_envelope(now, conn, envelope),
                Event::Closed(reason) => {
                    self.drain_transmits(conn);
                    self.on_closed(now, conn, reason);
                    return;
                }
            }
        }
        self.drain_transmits(conn);
    }

    pub(super) fn drain_transmits(&mut self, conn: ConnId) {
        let Some(slot) = self.slots.get_mut(&conn) else {
            return;
        };
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
        if let Some(id) = slot.peer {
            if self.admitted.get(&id) == Some(&conn) {
                self.admitted.remove(&id);
                tracing::info!(peer = %id, %reason, "peer disconnected");
                self.outputs.push_back(Output::Event(NodeEvent::PeerDown {
                    node_id: id,
                    reason,
                }));
                for dialer in self.bootstrap.iter_mut().filter(|d| d.node == Some(id)) {
                    dialer.unpark(now);
                }
            }
        }
        if let Some(id) = slot.peer {
            match slot.origin {
                Origin::Bootstrap(index) => {
                    let still_connected = self.admitted.contains_key(&id);
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
        } else {
            self.on_attempt_failed(now, &slot.origin);
        }
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
