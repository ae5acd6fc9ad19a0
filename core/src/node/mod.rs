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
//! [`Node::new`]: the same inputs always produce the same outputs. [`Node`] has a complete
//! example of two nodes connected in memory.
//!
//! The public submodules are the node's bounded building blocks, usable on their own:
//! [`address`] (Go `host:port` rules), [`keyring`] (known keys), [`peers`] (the known-peer
//! table), [`rate_limiter`] (per-sender token buckets) and [`seen_cache`] (message ids already
//! processed).

pub mod address;
mod admission;
mod bootstrap;
mod config;
mod connections;
mod discovery;
mod dissemination;
mod exchange;
mod gossip;
mod id_map;
mod id_slots;
mod io;
pub mod keyring;
pub mod peers;
pub mod rate_limiter;
mod relay;
pub mod seen_cache;
pub mod size_sketch;
mod state;
pub mod tree;

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use micelio_proto::ChatMessage;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

pub use config::NodeConfig;
pub use dissemination::TrafficStats;
pub use gossip::{GossipDrop, GossipStats};
pub use io::{ConnId, DialId, Direction, Input, NodeEvent, Output};
pub use peers::PeerRecord;
pub use tree::{TreeConfig, TreeStats};

use bootstrap::{BootstrapDialer, BootstrapState};
use gossip::Gossip;
use keyring::Trust;
use peers::PeerTable;
use seen_cache::SeenCache;
use size_sketch::SizeSketch;
use tree::Tree;

use crate::state::{Replica, StateError};

use crate::connection::{CloseReason, Connection};
use crate::envelope::{self, msg_type};
use crate::identity::{Identity, NodeId};
use crate::time::Instant;

/// Outputs of room the drained output queue keeps.
const SPARE_OUTPUTS: usize = 64;

/// Why an application command was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// The payload is over the gossip limit (64 KiB); peers would drop it.
    PayloadTooLarge(usize),
    /// The type is not a gossip type (1, 2, 4 and 5 are point to point; 10 is the
    /// dissemination extension's control message).
    NotGossipType(u32),
    /// The address is this node's own.
    OwnAddress,
    /// The node has shut down.
    ShutDown,
    /// A write to the shared map was refused.
    State(StateError),
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PayloadTooLarge(n) => write!(f, "payload of {n} bytes exceeds the gossip limit"),
            Self::NotGossipType(t) => write!(f, "msg_type {t} is not a gossip type"),
            Self::OwnAddress => f.write_str("refusing to dial this node's own address"),
            Self::ShutDown => f.write_str("node is shut down"),
            Self::State(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for CommandError {}

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
    /// The peer's X25519 static key, authenticated by the Noise handshake (set when it ends).
    remote_static: Option<[u8; 32]>,
    admitted_at: Instant,
    exchange_seen: SeenCache,
    /// The runtime reported its socket write blocked: transmits stay in the connection's
    /// bounded queue (64 frames) until it drains, so back-pressure reaches the senders.
    write_blocked: bool,
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
///
/// # Example
///
/// Two nodes connected in memory. The "runtime" is `drain` and `run`: they carry each
/// [`Output::Transmit`] of one node to the other as [`Input::Received`], and collect the
/// [`Output::Event`]s.
///
/// ```
/// use micelio_core::identity::Identity;
/// use micelio_core::node::{ConnId, Input, Node, NodeConfig, NodeEvent, Output};
/// use micelio_core::time::Instant;
///
/// /// Polls `node` until it has nothing else to do: returns its transmits, keeps its events.
/// fn drain(node: &mut Node, events: &mut Vec<NodeEvent>) -> Vec<Vec<u8>> {
///     let mut transmits = Vec::new();
///     loop {
///         match node.poll_output() {
///             Output::Transmit { data, .. } => transmits.push(data),
///             Output::Event(event) => events.push(event),
///             Output::Timeout(_) => return transmits,
///             _ => {} // Dial, Close, PersistPeer, ForgetPeer: not needed here.
///         }
///     }
/// }
///
/// /// Carries bytes both ways (one connection, `ConnId(1)` on each side) until both are quiet.
/// fn run(a: &mut Node, b: &mut Node, now: Instant) -> (Vec<NodeEvent>, Vec<NodeEvent>) {
///     let (mut a_events, mut b_events) = (Vec::new(), Vec::new());
///     loop {
///         let (to_b, to_a) = (drain(a, &mut a_events), drain(b, &mut b_events));
///         if to_a.is_empty() && to_b.is_empty() {
///             return (a_events, b_events);
///         }
///         for data in &to_b {
///             b.handle_input(now, Input::Received { conn: ConnId(1), data });
///         }
///         for data in &to_a {
///             a.handle_input(now, Input::Received { conn: ConnId(1), data });
///         }
///     }
/// }
///
/// let now = Instant::ZERO;
/// let addr = "10.0.0.1:4000";
/// let config = NodeConfig { listening: true, advertised_addr: addr.into(), ..Default::default() };
/// let mut a = Node::new(config, Identity::from_seed(&[1; 32]), [1; 32], now, 0);
/// let mut b = Node::new(NodeConfig::default(), Identity::from_seed(&[2; 32]), [2; 32], now, 0);
///
/// // B dials A: a real runtime would connect a socket, which A's listener accepts.
/// b.dial(now, addr).unwrap();
/// let Output::Dial { dial, .. } = b.poll_output() else { panic!("expected a dial") };
/// b.handle_input(now, Input::Connected { dial, conn: ConnId(1) });
/// a.handle_input(now, Input::Accepted { conn: ConnId(1), remote_addr: "10.0.0.2:50000" });
///
/// let (a_events, b_events) = run(&mut a, &mut b, now);
/// let b_id = b.node_id();
/// assert!(matches!(&a_events[..], [NodeEvent::PeerUp { node_id, .. }] if *node_id == b_id));
/// assert!(matches!(&b_events[..], [NodeEvent::PeerUp { addr, .. }] if addr == "10.0.0.1:4000"));
///
/// a.broadcast_chat(now, "alice", "hello, mesh").unwrap();
/// let (_, b_events) = run(&mut a, &mut b, now);
/// let [NodeEvent::Chat { sender, text, .. }] = &b_events[..] else { panic!("{b_events:?}") };
/// assert_eq!((*sender, text.as_str()), (a.node_id(), "hello, mesh"));
/// ```
pub struct Node {
    config: NodeConfig,
    identity: Identity,
    rng: ChaCha20Rng,
    clock_origin: Instant,
    unix_origin: i64,
    slots: BTreeMap<ConnId, Slot>,
    admitted: BTreeMap<NodeId, ConnId>,
    peers: PeerTable,
    /// Every node id heard of (exchanges, hellos, originators), for the size estimate that
    /// scales the entry points of our messages; the known-peer table is bounded.
    network_size: SizeSketch,
    gossip: Gossip,
    /// Eager/lazy dissemination with the peers that announced it.
    tree: Tree,
    /// The shared map, its clock and the `state1` peers.
    state: Replica,
    /// When the next anti-entropy round starts.
    next_state_sync: Instant,
    /// Whose turn the next round is (an index into the `state1` peers).
    state_turn: usize,
    /// Envelope bytes sent, by kind.
    traffic: TrafficStats,
    bootstrap: Vec<BootstrapDialer>,
    dials: BTreeMap<DialId, (Origin, String)>,
    scheduled: Vec<ScheduledDial>,
    discovery_dialing: BTreeSet<NodeId>,
    /// Peers whose admitted connection ended while another connection to the same node (same
    /// Noise static key) was finishing its hello: their `PeerDown` waits for that connection.
    handovers: BTreeMap<NodeId, (ConnId, CloseReason)>,
    self_addrs: BTreeSet<String>,
    next_dial_id: u64,
    next_exchange: Instant,
    next_discovery: Instant,
    next_sweep: Instant,
    /// No connection has a deadline earlier than this (`None`: none has one). Lowered when a
    /// connection may have gained an earlier deadline, made exact by each scan of the
    /// connections: a wake-up scans them only when one may be due.
    conn_deadline_floor: Option<Instant>,
    /// When the next at-capacity inbound connection may be taken for a referral.
    next_referral: Instant,
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
        // The tables keyed by node id hash with secrets of their own, drawn from a separate
        // stream of the seed (the node's random choices are unchanged).
        let mut hashing = ChaCha20Rng::from_seed(seed);
        hashing.set_stream(1);
        let gossip = Gossip::new(
            &config,
            identity.node_id(),
            *identity.public_key(),
            identity.suite(),
            hashing.next_u64(),
        );
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
        let config_tree = config.tree.clone();
        let state = Replica::new(config.state.clone());
        let next_state_sync = now + config.state.sync_interval;
        let store_ttl = config.seen_ttl + config.sweep_interval;
        Node {
            peers: PeerTable::with_seed(config.max_known_peers, hashing.next_u64()),
            network_size: SizeSketch::new(hashing.next_u64(), now),
            next_exchange: now + config.exchange_interval,
            next_discovery: now + config.discovery_interval,
            next_sweep: now + config.sweep_interval,
            conn_deadline_floor: None,
            next_referral: now,
            config,
            identity,
            rng: ChaCha20Rng::from_seed(seed),
            clock_origin: now,
            unix_origin: unix_now,
            slots: BTreeMap::new(),
            admitted: BTreeMap::new(),
            gossip,
            tree: Tree::new(config_tree, store_ttl),
            state,
            next_state_sync,
            state_turn: 0,
            traffic: TrafficStats::default(),
            bootstrap,
            dials: BTreeMap::new(),
            scheduled: Vec::new(),
            discovery_dialing: BTreeSet::new(),
            handovers: BTreeMap::new(),
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

    /// The known-peer table, in no particular order.
    pub fn known_peers(&self) -> impl Iterator<Item = &PeerRecord> {
        self.peers.iter()
    }

    /// How many nodes this node thinks the network has, itself included: a sketch of every
    /// node id it heard of (exchanges, hellos, originators), so it sees past its bounded
    /// known-peer table, and never fewer than that table's records + 1. It scales the entry
    /// points of the node's messages ([`tree::TreeConfig::nodes_per_entry_point`]).
    pub fn network_size_estimate(&self) -> usize {
        self.network_size.estimate().max(self.peers.len()) + 1
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
                        // Loaded at start: their idle time counts from the node's start.
                        self.gossip.keys.insert(
                            record.node_id,
                            key,
                            Trust::GossipLearned,
                            self.clock_origin,
                        );
                    }
                    self.network_size.observe(&record.node_id);
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
                    slot.write_blocked = since.is_some();
                    if since.is_none() {
                        self.drain_transmits(conn);
                    }
                    self.lower_deadline_floor(conn);
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
        if !msg_type::is_gossip(msg_type) || msg_type::is_extension(msg_type) {
            return Err(CommandError::NotGossipType(msg_type));
        }
        if payload.len() > self.config.max_gossip_payload {
            return Err(CommandError::PayloadTooLarge(payload.len()));
        }
        let id = envelope::new_message_id(&mut self.rng);
        let hops = self.config.origin_hop_count;
        let lamport = self.state.tick();
        let envelope = envelope::originate_at(
            &self.identity,
            id.clone(),
            msg_type,
            hops,
            lamport,
            payload,
            true,
        );
        self.gossip.seen.insert(&id, now);
        let dropped_before = self.gossip.stats.dropped;
        self.relay(now, None, false, envelope);
        let dropped = self.gossip.stats.dropped - dropped_before;
        if dropped > 0 {
            tracing::warn!(dropped, "partial broadcast delivery");
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
        // Drained: give back the room a burst of input made the queue grow to.
        if self.outputs.capacity() > SPARE_OUTPUTS {
            self.outputs.shrink_to(SPARE_OUTPUTS);
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
        debug_assert!(
            self.slots
                .values()
                .filter_map(|slot| slot.connection.poll_timeout())
                .all(|at| self.conn_deadline_floor.is_some_and(|floor| floor <= at)),
            "a connection deadline earlier than the floor"
        );
        if let Some(at) = self.conn_deadline_floor {
            next = next.min(at);
        }
        if let Some(at) = self.tree_timeout() {
            next = next.min(at);
        }
        if let Some(at) = self.state_timeout() {
            next = next.min(at);
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

    // ----- timers: dialing, discovery, exchange, sweeps -----

    /// Takes `conn`'s deadline into [`Node::conn_deadline_floor`]. Called after anything that
    /// can give a connection an earlier deadline: its creation, input, a timeout, a phase
    /// change or a write block (sending only moves deadlines later).
    pub(super) fn lower_deadline_floor(&mut self, conn: ConnId) {
        let Some(at) = self
            .slots
            .get(&conn)
            .and_then(|s| s.connection.poll_timeout())
        else {
            return;
        };
        self.conn_deadline_floor = Some(self.conn_deadline_floor.map_or(at, |f| f.min(at)));
    }

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
        if self.conn_deadline_floor.is_some_and(|floor| floor <= now) {
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
            self.conn_deadline_floor = self
                .slots
                .values()
                .filter_map(|slot| slot.connection.poll_timeout())
                .min();
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
        self.tree_timers(now);
        self.state_timers(now);
        if now >= self.next_sweep {
            self.next_sweep = now + self.config.sweep_interval;
            self.gossip.sweep(now);
            self.tree.sweep(now);
            self.network_size.age(now);
            for slot in self.slots.values_mut() {
                slot.exchange_seen.sweep(now);
            }
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
