//! Admission after a successful hello (spec §9.4-9.5): self-connections, duplicates with a
//! deterministic cross-dial tie-break, `max_peers`, and what admission records.

use alloc::string::String;

use super::bootstrap::BootstrapState;
use super::keyring::Trust;
use super::{ConnId, Direction, Node, NodeEvent, Origin, Output, PeerRecord, Slot, address};
use crate::connection::PeerIdentity;
use crate::identity::NodeId;
use crate::time::Instant;

impl Node {
    // ----- admission (spec §9.4) -----

    pub(super) fn initiator_of(&self, slot: &Slot, peer: &NodeId) -> NodeId {
        match slot.direction() {
            Direction::Outbound => self.node_id(),
            Direction::Inbound => *peer,
        }
    }

    pub(super) fn on_established(&mut self, now: Instant, conn: ConnId, peer: PeerIdentity) {
        let id = peer.node_id;
        if id == self.node_id() {
            self.reject_self_connection(conn);
            return;
        }
        let mut replaces = None;
        if let Some(&existing) = self.admitted.get(&id) {
            // Deterministic tie-break for cross-dials: keep the connection initiated by the
            // smaller node id; both sides choose the same one.
            let keep_new = match (self.slots.get(&existing), self.slots.get(&conn)) {
                (Some(old), Some(new)) => {
                    let old_init = self.initiator_of(old, &id);
                    let new_init = self.initiator_of(new, &id);
                    old_init != new_init && new_init < old_init
                }
                _ => false,
            };
            if !keep_new {
                tracing::info!(peer = %id, "rejecting peer: duplicate");
                self.park_bootstrap(conn, id);
                self.close_conn(now, conn);
                return;
            }
            replaces = Some(existing);
        } else if self.config.max_peers > 0 && self.admitted.len() >= self.config.max_peers {
            // The hello is done: tell the refused node where else to go (a referral), then
            // close. Its next dials pick other addresses than this full node's.
            tracing::info!(peer = %id, "rejecting peer: max peers reached");
            if !self.config.referral_interval.is_zero() {
                let entries = self.config.referral_entries;
                self.send_exchange_of(now, conn, id, entries);
            }
            self.close_conn(now, conn);
            return;
        }
        // A peer whose previous connection ended while this one was in its hello never
        // stopped being up for the application.
        let handed_over = self.handovers.remove(&id).is_some();
        // (A different node id behind the same static key was waiting on it: that one is gone.)
        self.end_handovers_to(now, conn);
        self.admit(now, conn, peer, replaces.is_none() && !handed_over);
        if let Some(old) = replaces {
            self.close_conn(now, old);
        }
    }

    /// A bootstrap connection to an already connected node: stop dialing that address until
    /// the node disconnects.
    pub(super) fn park_bootstrap(&mut self, conn: ConnId, id: NodeId) {
        let Some(slot) = self.slots.get_mut(&conn) else {
            return;
        };
        if let Origin::Bootstrap(index) = slot.origin {
            slot.origin = Origin::Manual;
            if let Some(dialer) = self.bootstrap.get_mut(index) {
                dialer.park(id);
            }
        }
    }

    pub(super) fn reject_self_connection(&mut self, conn: ConnId) {
        if let Some(slot) = self.slots.get_mut(&conn) {
            tracing::warn!(addr = %slot.remote_addr, "connected to itself: closing");
            if let Origin::Bootstrap(index) = slot.origin {
                if let Some(dialer) = self.bootstrap.get_mut(index) {
                    dialer.state = BootstrapState::Disabled;
                }
            }
            if slot.direction() == Direction::Outbound {
                self.self_addrs.insert(slot.remote_addr.clone());
            }
            slot.origin = Origin::Manual;
            slot.connection.close();
        }
    }

    pub(super) fn close_conn(&mut self, now: Instant, conn: ConnId) {
        if let Some(slot) = self.slots.get_mut(&conn) {
            slot.connection.close();
        }
        // The caller is inside or before this connection's pump: drain it now.
        self.pump(now, conn);
    }

    pub(super) fn admit(&mut self, now: Instant, conn: ConnId, peer: PeerIdentity, announce: bool) {
        let id = peer.node_id;
        let Some(slot) = self.slots.get_mut(&conn) else {
            return;
        };
        slot.peer = Some(id);
        slot.admitted_at = now;
        let direction = slot.direction();
        if let Origin::Bootstrap(index) = slot.origin {
            if let Some(dialer) = self.bootstrap.get_mut(index) {
                dialer.node = Some(id);
            }
        }
        self.admitted.insert(id, conn);
        self.network_size.observe(&id);
        self.state.observe(peer.lamport);
        self.gossip
            .keys
            .insert(id, peer.public_key, Trust::DirectlyVerified, now);
        // The hello's address is validated before it is stored (the reference does not).
        let addr_valid = !address::is_invalid_peer_addr(&peer.listen_addr);
        let record = PeerRecord {
            node_id: id,
            addr: if addr_valid {
                peer.listen_addr.clone()
            } else {
                String::new()
            },
            reachable: peer.reachable && addr_valid,
            public_key: Some(peer.public_key),
            last_seen: self.unix_now(now),
            fail_count: 0,
            last_fail: 0,
        };
        self.store_record(record);
        tracing::info!(peer = %id, %direction, "peer connected");
        if announce {
            self.outputs.push_back(Output::Event(NodeEvent::PeerUp {
                node_id: id,
                addr: peer.listen_addr.clone(),
                direction,
            }));
        }
        self.send_exchange(now, conn, id);
        self.tree_peer_up(now, &peer);
        self.state_peer_up(now, &peer);
    }

    /// Stores a record in the table and emits its persistence outputs.
    pub(super) fn store_record(&mut self, record: PeerRecord) {
        let admitted = &self.admitted;
        let evicted = self
            .peers
            .put(record.clone(), |id| admitted.contains_key(id));
        if let Some(evicted) = evicted {
            self.outputs.push_back(Output::ForgetPeer(evicted));
        }
        if self.peers.get(&record.node_id).is_some() {
            self.outputs.push_back(Output::PersistPeer(record));
        }
    }
}
