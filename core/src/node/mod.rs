//! The node state machine: many connections, admission, gossip, discovery and the peer table,
//! driven in the str0m style.
//!
//! # Driving a node
//!
//! Feed network events with [`Node::handle_input`], application commands with
//! [`Node::broadcast_chat`], [`Node::broadcast`], [`Node::dial`] and [`Node::shutdown`]; after
//! each, call [`Node::poll_output`] until it returns [`Output::Timeout`], and call
//! `handle_input(now, Input::Timeout)` when that instant is reached. Persistence is an output
//! ([`Output::PersistPeer`]); stored records come back through [`Node::load_peers`].
//! Randomness (ephemeral keys, message ids, fan-out, jitter) comes from the seed given to
//! [`Node::new`]: the same inputs always produce the same outputs.

pub mod address;
mod bootstrap;
mod config;
mod gossip;
mod io;
pub mod keyring;
pub mod peers;
pub mod rate_limiter;
pub mod seen_cache;

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use micelio_proto::{ChatMessage, Envelope, PeerExchange, PeerInfo};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

pub use config::NodeConfig;
pub use gossip::{GossipDrop, GossipStats};
pub use io::{ConnId, DialId, Direction, Input, NodeEvent, Output};
pub use peers::PeerRecord;

use bootstrap::{BootstrapDialer, BootstrapState};
use gossip::Gossip;
use keyring::Trust;
use peers::{Merge, PeerTable};
use seen_cache::SeenCache;

use crate::connection::{CloseReason, Connection, Event, LocalHello, PeerIdentity, Role};
use crate::envelope::{self, msg_type};
use crate::identity::{Identity, NodeId};
use crate::time::Instant;

/// Why an application command was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// The payload is over the gossip limit (64 KiB); peers would drop it.
    PayloadTooLarge(usize),
    /// The type is not a gossip type (1, 2, 4 and 5 are point to point).
    NotGossipType(u32),
    /// The address is this node's own.
    OwnAddress,
    /// The node has shut down.
    ShutDown,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PayloadTooLarge(n) => write!(f, "payload of {n} bytes exceeds the gossip limit"),
            Self::NotGossipType(t) => write!(f, "msg_type {t} is not a gossip type"),
            Self::OwnAddress => f.write_str("refusing to dial this node's own address"),
            Self::ShutDown => f.write_str("node is shut down"),
        }
    }
}

/// What started a connection, so its end can be accounted for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Origin {
    Inbound,
    Bootstrap(usize),
    Discovery(NodeId),
    Manual,
}

/// A connection the node owns.
struct Slot {
    connection: Connection,
    origin: Origin,
    remote_addr: String,
    /// Set once admitted.
    peer: Option<NodeId>,
    admitted_at: Instant,
    exchange_seen: SeenCache,
}

impl Slot {
    fn direction(&self) -> Direction {
        match self.origin {
            Origin::Inbound => Direction::Inbound,
            _ => Direction::Outbound,
        }
    }
}

/// A discovery dial waiting for its jitter.
struct ScheduledDial {
    at: Instant,
    node_id: NodeId,
    addr: String,
}

/// Summary of one connected peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSummary {
    /// Its node id.
    pub node_id: NodeId,
    /// Its advertised address (may be empty).
    pub addr: String,
    /// Who dialed.
    pub direction: Direction,
    /// The runtime's connection.
    pub conn: ConnId,
}

/// A Micelio node without I/O. See the module documentation.
pub struct Node {
    config: NodeConfig,
    identity: Identity,
    rng: ChaCha20Rng,
    clock_origin: Instant,
    unix_origin: i64,
    slots: BTreeMap<ConnId, Slot>,
    admitted: BTreeMap<NodeId, ConnId>,
    peers: PeerTable,
    gossip: Gossip,
    bootstrap: Vec<BootstrapDialer>,
    dials: BTreeMap<DialId, (Origin, String)>,
    scheduled: Vec<ScheduledDial>,
    discovery_dialing: BTreeSet<NodeId>,
    self_addrs: BTreeSet<String>,
    next_dial_id: u64,
    next_exchange: Instant,
    next_discovery: Instant,
    next_sweep: Instant,
    outputs: VecDeque<Output>,
    shut_down: bool,
}

impl Node {
    /// A node started at `now`, when the wall clock read `unix_now` seconds; every random
    /// choice derives from `seed`.
    pub fn new(
        config: NodeConfig,
        identity: Identity,
        seed: [u8; 32],
        now: Instant,
        unix_now: i64,
    ) -> Self {
        let gossip = Gossip::new(&config, identity.node_id(), *identity.public_key());
        let bootstrap = config
            .bootstrap
            .iter()
            .map(|addr| {
                let mut dialer =
                    BootstrapDialer::new(addr.clone(), now, config.bootstrap_max_backoff);
                if !config.advertised_addr.is_empty() && *addr == config.advertised_addr {
                    tracing::warn!(%addr, "bootstrap address is this node's own: not dialed");
                    dialer.state = BootstrapState::Disabled;
                }
                dialer
            })
            .collect();
        Node {
            peers: PeerTable::new(config.max_known_peers),
            next_exchange: now + config.exchange_interval,
            next_discovery: now + config.discovery_interval,
            next_sweep: now + config.sweep_interval,
            config,
            identity,
            rng: ChaCha20Rng::from_seed(seed),
            clock_origin: now,
            unix_origin: unix_now,
            slots: BTreeMap::new(),
            admitted: BTreeMap::new(),
            gossip,
            bootstrap,
            dials: BTreeMap::new(),
            scheduled: Vec::new(),
            discovery_dialing: BTreeSet::new(),
            self_addrs: BTreeSet::new(),
            next_dial_id: 0,
            outputs: VecDeque::new(),
            shut_down: false,
        }
    }

    // ----- getters -----

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.identity.node_id()
    }

    /// This node's identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The admitted peers, in node-id order.
    pub fn peers(&self) -> Vec<PeerSummary> {
        self.admitted
            .iter()
            .filter_map(|(id, conn)| {
                let slot = self.slots.get(conn)?;
                Some(PeerSummary {
                    node_id: *id,
                    addr: slot
                        .connection
                        .peer()
                        .map(|p| p.listen_addr.clone())
                        .unwrap_or_default(),
                    direction: slot.direction(),
                    conn: *conn,
                })
            })
            .collect()
    }

    /// Number of admitted peers.
    pub fn peer_count(&self) -> usize {
        self.admitted.len()
    }

    /// Connections not yet admitted (handshake or hello in progress).
    pub fn pending_count(&self) -> usize {
        self.slots.len() - self.admitted.len()
    }

    /// The known-peer table.
    pub fn known_peers(&self) -> impl Iterator<Item = &PeerRecord> {
        self.peers.iter()
    }

    /// Gossip counters.
    pub fn gossip_stats(&self) -> GossipStats {
        self.gossip.stats
    }

    /// Sizes of every bounded table: (seen ids, keys, rate buckets, known peers).
    pub fn table_sizes(&self) -> (usize, usize, usize, usize) {
        (
            self.gossip.seen.len(),
            self.gossip.keys.len(),
            self.gossip.limiter.len(),
            self.peers.len(),
        )
    }

    /// The settings the node runs with.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    // ----- inputs -----

    /// Loads stored known-peer records at start; invalid ones are skipped (and returned count).
    pub fn load_peers(&mut self, records: impl IntoIterator<Item = PeerRecord>) -> usize {
        let mut loaded = 0;
        for record in records {
            if record.node_id == self.node_id() {
                continue;
            }
            match peers::validate_loaded(&record) {
                Ok(()) => {
                    if let Some(key) = record.public_key {
                        self.gossip
                            .keys
                            .insert(record.node_id, key, Trust::GossipLearned);
                    }
                    if let Some(evicted) = self.peers.put(record, |_| false) {
                        self.outputs.push_back(Output::ForgetPeer(evicted));
                    }
                    loaded += 1;
                }
                Err(reason) => {
                    tracing::warn!(node = %record.node_id, %reason, "skipping stored peer")
                }
            }
        }
        if loaded > 0 {
            tracing::info!(count = loaded, "loaded known peers");
        }
        loaded
    }

    /// Processes one network event at `now`, then every timer due.
    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) {
        match input {
            Input::Timeout => {}
            Input::Accepted { conn, remote_addr } => self.on_accepted(now, conn, remote_addr),
            Input::Connected { dial, conn } => self.on_connected(now, dial, conn),
            Input::DialFailed { dial } => {
                if let Some((origin, addr)) = self.dials.remove(&dial) {
                    tracing::debug!(%addr, "dial failed");
                    self.on_attempt_failed(now, &origin);
                }
            }
            Input::Received { conn, data } => {
                if let Some(slot) = self.slots.get_mut(&conn) {
                    slot.connection.handle_input(now, data);
                    self.pump(now, conn);
                }
            }
            Input::Closed { conn } => {
                if let Some(slot) = self.slots.get_mut(&conn) {
                    slot.connection.handle_transport_closed();
                    self.pump(now, conn);
                }
            }
            Input::WriteBlocked { conn, since } => {
                if let Some(slot) = self.slots.get_mut(&conn) {
                    slot.connection.set_write_blocked(since);
                }
            }
        }
        self.run_timers(now);
    }

    // ----- commands -----

    /// Originates a chat line (hop count 10, sent to every peer); returns its message id.
    pub fn broadcast_chat(
        &mut self,
        now: Instant,
        nick: &str,
        text: &str,
    ) -> Result<String, CommandError> {
        let chat = ChatMessage {
            nick: String::from(nick),
            text: String::from(text),
            timestamp: u64::try_from(self.unix_now(now)).unwrap_or(0),
        };
        self.broadcast(now, msg_type::CHAT, micelio_proto::encode(&chat))
    }

    /// Originates a gossip message of any gossip type (plugins use 1000 and up); returns its
    /// message id. The payload is refused locally when peers would drop it.
    pub fn broadcast(
        &mut self,
        now: Instant,
        msg_type: u32,
        payload: Vec<u8>,
    ) -> Result<String, CommandError> {
        if self.shut_down {
            return Err(CommandError::ShutDown);
        }
        if !msg_type::is_gossip(msg_type) {
            return Err(CommandError::NotGossipType(msg_type));
        }
        if payload.len() > self.config.max_gossip_payload {
            return Err(CommandError::PayloadTooLarge(payload.len()));
        }
        let id = envelope::new_message_id(&mut self.rng);
        let hops = self.config.origin_hop_count;
        let envelope =
            envelope::originate(&self.identity, id.clone(), msg_type, hops, payload, true);
        self.gossip.seen.insert(&id, now);
        let bytes = micelio_proto::encode(&envelope);
        let targets: Vec<ConnId> = self.admitted.values().copied().collect();
        let mut sent = 0;
        for conn in &targets {
            if self.send_to(now, *conn, &bytes) {
                sent += 1;
            }
        }
        self.gossip.stats.broadcast += sent;
        self.gossip.stats.dropped += targets.len() as u64 - sent;
        if sent < targets.len() as u64 {
            tracing::warn!(sent, total = targets.len(), "partial broadcast delivery");
        }
        self.run_timers(now);
        Ok(id)
    }

    /// Dials `addr` once (no retry).
    pub fn dial(&mut self, now: Instant, addr: &str) -> Result<(), CommandError> {
        if self.shut_down {
            return Err(CommandError::ShutDown);
        }
        if addr == self.config.advertised_addr || self.self_addrs.contains(addr) {
            return Err(CommandError::OwnAddress);
        }
        self.start_dial(Origin::Manual, String::from(addr));
        self.run_timers(now);
        Ok(())
    }

    /// Closes every connection and stops dialing. Outputs still drain afterwards.
    pub fn shutdown(&mut self, now: Instant) {
        if self.shut_down {
            return;
        }
        self.shut_down = true;
        let conns: Vec<ConnId> = self.slots.keys().copied().collect();
        for conn in conns {
            if let Some(slot) = self.slots.get_mut(&conn) {
                slot.connection.close();
            }
            self.pump(now, conn);
        }
        self.scheduled.clear();
        self.dials.clear();
    }

    // ----- outputs -----

    /// The next thing the runtime must do; [`Output::Timeout`] when there is nothing else.
    pub fn poll_output(&mut self) -> Output {
        if let Some(output) = self.outputs.pop_front() {
            return output;
        }
        Output::Timeout(self.next_timeout())
    }

    fn next_timeout(&self) -> Option<Instant> {
        if self.shut_down {
            return None;
        }
        let mut next = self
            .next_exchange
            .min(self.next_discovery)
            .min(self.next_sweep);
        for slot in self.slots.values() {
            if let Some(at) = slot.connection.poll_timeout() {
                next = next.min(at);
            }
        }
        for dialer in &self.bootstrap {
            if let Some(at) = dialer.due() {
                next = next.min(at);
            }
        }
        for dial in &self.scheduled {
            next = next.min(dial.at);
        }
        Some(next)
    }

    // ----- connections -----

    fn local_hello(&self) -> LocalHello {
        LocalHello {
            tags: self.config.tags.clone(),
            listen_addr: self.config.advertised_addr.clone(),
        }
    }

    fn new_slot(&mut self, now: Instant, role: Role, origin: Origin, remote_addr: String) -> Slot {
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

    fn on_accepted(&mut self, now: Instant, conn: ConnId, remote_addr: &str) {
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

    fn on_connected(&mut self, now: Instant, dial: DialId, conn: ConnId) {
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
    fn pump(&mut self, now: Instant, conn: ConnId) {
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

    fn drain_transmits(&mut self, conn: ConnId) {
        let Some(slot) = self.slots.get_mut(&conn) else {
            return;
        };
        while let Some(data) = slot.connection.poll_transmit() {
            self.outputs.push_back(Output::Transmit { conn, data });
        }
    }

    /// Sends a serialized envelope to one connection; false if it was dropped.
    fn send_to(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) -> bool {
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

    fn on_closed(&mut self, now: Instant, conn: ConnId, reason: CloseReason) {
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
    fn on_attempt_failed(&mut self, now: Instant, origin: &Origin) {
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

    // ----- admission (spec §9.4) -----

    fn initiator_of(&self, slot: &Slot, peer: &NodeId) -> NodeId {
        match slot.direction() {
            Direction::Outbound => self.node_id(),
            Direction::Inbound => *peer,
        }
    }

    fn on_established(&mut self, now: Instant, conn: ConnId, peer: PeerIdentity) {
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
            tracing::info!(peer = %id, "rejecting peer: max peers reached");
            self.close_conn(now, conn);
            return;
        }
        self.admit(now, conn, peer, replaces.is_none());
        if let Some(old) = replaces {
            self.close_conn(now, old);
        }
    }

    /// A bootstrap connection to an already connected node: stop dialing that address until
    /// the node disconnects.
    fn park_bootstrap(&mut self, conn: ConnId, id: NodeId) {
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

    fn reject_self_connection(&mut self, conn: ConnId) {
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

    fn close_conn(&mut self, now: Instant, conn: ConnId) {
        if let Some(slot) = self.slots.get_mut(&conn) {
            slot.connection.close();
        }
        // The caller is inside or before this connection's pump: drain it now.
        self.pump(now, conn);
    }

    fn admit(&mut self, now: Instant, conn: ConnId, peer: PeerIdentity, announce: bool) {
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
        self.gossip
            .keys
            .insert(id, peer.public_key, Trust::DirectlyVerified);
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
        tracing::info!(peer = %id, ?direction, "peer connected");
        if announce {
            self.outputs.push_back(Output::Event(NodeEvent::PeerUp {
                node_id: id,
                addr: peer.listen_addr,
                direction,
            }));
        }
        self.send_exchange(now, conn, id);
    }

    /// Stores a record in the table and emits its persistence outputs.
    fn store_record(&mut self, record: PeerRecord) {
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

    // ----- steady state (spec §9.6) -----

    fn on_envelope(&mut self, now: Instant, conn: ConnId, envelope: Envelope) {
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

    fn on_exchange(&mut self, now: Instant, conn: ConnId, from: NodeId, envelope: &Envelope) {
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
            self.gossip.keys.insert(id, key, Trust::GossipLearned);
            let admitted = &self.admitted;
            let (merge, evicted) = self
                .peers
                .merge(id, key, info, |n| admitted.contains_key(n));
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
    fn build_exchange(&mut self, now: Instant, recipient: NodeId) -> Option<PeerExchange> {
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

    fn send_exchange(&mut self, now: Instant, conn: ConnId, recipient: NodeId) {
        let Some(exchange) = self.build_exchange(now, recipient) else {
            return;
        };
        let id = envelope::new_message_id(&mut self.rng);
        let envelope = envelope::peer_exchange(&self.identity, id, &exchange);
        if !self.send_to(now, conn, &micelio_proto::encode(&envelope)) {
            tracing::warn!(peer = %recipient, "send buffer full, dropping exchange");
        }
    }

    // ----- gossip (spec §10) -----

    fn on_gossip(&mut self, now: Instant, from: NodeId, mut envelope: Envelope) {
        let sender = match self.gossip.accept(now, &envelope) {
            Ok(sender) => sender,
            Err(GossipDrop::Duplicate) => {
                self.gossip.stats.duplicates += 1;
                return;
            }
            Err(drop) => {
                tracing::debug!(peer = %from, reason = %drop, "gossip dropped");
                return;
            }
        };
        if sender != self.node_id() {
            self.deliver(sender, &envelope);
        }
        if envelope.hop_count <= 1 {
            return;
        }
        envelope.hop_count -= 1;
        let bytes = micelio_proto::encode(&envelope);
        let mut candidates: Vec<ConnId> = self
            .admitted
            .iter()
            .filter(|(id, _)| **id != from)
            .map(|(_, conn)| *conn)
            .collect();
        let chosen = shuffle_prefix(&mut self.rng, &mut candidates, self.config.fanout);
        for &conn in chosen {
            if self.send_to(now, conn, &bytes) {
                self.gossip.stats.forwarded += 1;
            } else {
                self.gossip.stats.dropped += 1;
            }
        }
    }

    fn deliver(&mut self, sender: NodeId, envelope: &Envelope) {
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
                    return;
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
    }

    // ----- timers: dialing, discovery, exchange, sweeps -----

    fn unix_now(&self, now: Instant) -> i64 {
        let elapsed = now.saturating_duration_since(self.clock_origin).as_secs();
        self.unix_origin
            .saturating_add(i64::try_from(elapsed).unwrap_or(i64::MAX))
    }

    fn start_dial(&mut self, origin: Origin, addr: String) -> DialId {
        let dial = DialId(self.next_dial_id);
        self.next_dial_id += 1;
        self.dials.insert(dial, (origin, addr.clone()));
        self.outputs.push_back(Output::Dial { dial, addr });
        dial
    }

    fn run_timers(&mut self, now: Instant) {
        if self.shut_down {
            return;
        }
        let due: Vec<ConnId> = self
            .slots
            .iter()
            .filter(|(_, s)| s.connection.poll_timeout().is_some_and(|at| at <= now))
            .map(|(conn, _)| *conn)
            .collect();
        for conn in due {
            if let Some(slot) = self.slots.get_mut(&conn) {
                slot.connection.handle_timeout(now);
            }
            self.pump(now, conn);
        }
        for index in 0..self.bootstrap.len() {
            if self.bootstrap[index].due().is_some_and(|at| at <= now) {
                let addr = self.bootstrap[index].addr.clone();
                let dial = self.start_dial(Origin::Bootstrap(index), addr);
                self.bootstrap[index].state = BootstrapState::Dialing(dial);
            }
        }
        let mut i = 0;
        while i < self.scheduled.len() {
            if self.scheduled[i].at <= now {
                let dial = self.scheduled.swap_remove(i);
                self.start_dial(Origin::Discovery(dial.node_id), dial.addr);
            } else {
                i += 1;
            }
        }
        if now >= self.next_exchange {
            self.next_exchange = now + self.config.exchange_interval;
            let targets: Vec<(NodeId, ConnId)> = self
                .admitted
                .iter()
                .map(|(id, conn)| (*id, *conn))
                .collect();
            for (id, conn) in targets {
                self.send_exchange(now, conn, id);
            }
        }
        if now >= self.next_discovery {
            self.next_discovery = now + self.config.discovery_interval;
            self.discover(now);
        }
        if now >= self.next_sweep {
            self.next_sweep = now + self.config.sweep_interval;
            self.gossip.sweep(now);
            for slot in self.slots.values_mut() {
                slot.exchange_seen.sweep(now);
            }
        }
    }

    /// One discovery tick (spec §12.5), dialing no more peers than there are free slots.
    fn discover(&mut self, now: Instant) {
        let in_flight = self.discovery_dialing.len();
        let budget = if self.config.max_peers == 0 {
            self.config.discovery_dials_per_tick
        } else {
            self.config
                .max_peers
                .saturating_sub(self.admitted.len() + in_flight)
                .min(self.config.discovery_dials_per_tick)
        };
        if budget == 0 {
            return;
        }
        let unix = self.unix_now(now);
        let own = self.node_id();
        let mut candidates: Vec<(NodeId, String)> = self
            .peers
            .iter()
            .filter(|r| {
                r.node_id != own
                    && r.is_dialable()
                    && !self.admitted.contains_key(&r.node_id)
                    && !self.discovery_dialing.contains(&r.node_id)
                    && !self.config.bootstrap.contains(&r.addr)
                    && r.addr != self.config.advertised_addr
                    && !self.self_addrs.contains(&r.addr)
                    && (r.fail_count == 0
                        || unix
                            >= r.last_fail
                                .saturating_add(peers::backoff_secs(r.fail_count.into())))
            })
            .map(|r| (r.node_id, r.addr.clone()))
            .collect();
        let chosen = shuffle_prefix(&mut self.rng, &mut candidates, budget).to_vec();
        for (node_id, addr) in chosen {
            self.discovery_dialing.insert(node_id);
            let jitter_nanos = u64::try_from(self.config.discovery_jitter.as_nanos()).unwrap_or(0);
            let jitter = if jitter_nanos == 0 {
                0
            } else {
                self.rng.next_u64() % jitter_nanos
            };
            self.scheduled.push(ScheduledDial {
                at: now + Duration::from_nanos(jitter),
                node_id,
                addr,
            });
        }
    }
}

/// Moves `k` uniformly chosen items to the front (partial Fisher-Yates) and returns them.
fn shuffle_prefix<'a, T>(rng: &mut ChaCha20Rng, items: &'a mut [T], k: usize) -> &'a [T] {
    let k = k.min(items.len());
    for i in 0..k {
        let remaining = (items.len() - i) as u64;
        let j = i + (rng.next_u64() % remaining) as usize;
        items.swap(i, j);
    }
    &items[..k]
}
