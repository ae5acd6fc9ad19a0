//! The runtime around the node under test: harness peers on real connections, the network
//! between them (which can hold bytes back), dials, time, and the operations of the script.

use std::collections::{BTreeMap, VecDeque};

use micelio_core::connection::{
    CloseReason, Connection, ConnectionConfig, Event, LocalHello, Role,
};
use micelio_core::node::{ConnId, DialId, Input, Node, NodeConfig, Output};
use micelio_core::proto::{self, Envelope};
use micelio_core::suite::Suite;
use micelio_core::time::Instant;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::forge;
use super::ops::{Entry, Gossip, Op};
use super::oracle::Oracle;
use crate::identities;

/// Rounds of carrying bytes after one operation before giving up on quiet.
const MAX_ROUNDS: usize = 64;
/// Outputs in one drain before declaring the node stuck.
const MAX_OUTPUTS: usize = 100_000;

/// One connection as the runtime and the harness peer see it.
struct Link {
    peer: Connection,
    outbound: bool,
    /// The harness peer announced the `tree1` extension in its hello.
    tree: bool,
    /// The network holds this connection's bytes back.
    held: bool,
    /// The node's writes on it are reported blocked.
    blocked: bool,
    to_peer: Vec<u8>,
    to_node: Vec<u8>,
    /// The harness peer closed; the node was (or must be) told.
    peer_closed: bool,
    /// Raw bytes were injected towards the node: its replies may no longer make sense to
    /// the harness peer (say, a handshake answered to injected bytes).
    corrupted: bool,
}

/// The node under test and everything around it.
pub struct World {
    node: Node,
    oracle: Oracle,
    now: Instant,
    next_deadline: Option<Instant>,
    links: BTreeMap<ConnId, Link>,
    dials: VecDeque<DialId>,
    next_conn: u64,
    rng: ChaCha20Rng,
    captured: VecDeque<Envelope>,
    next_id: u32,
    shut_down: bool,
}

/// True when `MICELIO_FUZZ_TRACE` is set: every node output is printed (to replay a crash).
fn tracing_enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var_os("MICELIO_FUZZ_TRACE").is_some())
}

/// The node's configuration for `flags`: small bounds, so that every eviction rule runs.
pub fn config(flags: u8) -> NodeConfig {
    let listening = flags & 1 != 0;
    NodeConfig {
        max_peers: if flags & 4 != 0 { 0 } else { 3 },
        bootstrap: if flags & 2 != 0 {
            vec!["10.0.0.9:4000".into(), forge::OWN_ADDR.into()]
        } else {
            Vec::new()
        },
        advertised_addr: if listening {
            forge::OWN_ADDR.into()
        } else {
            String::new()
        },
        listening,
        tags: vec!["fuzz".into()],
        rate_per_sec: 1,
        rate_burst: 3,
        max_seen: 16,
        max_keys: 4,
        max_rate_buckets: 4,
        max_known_peers: 4,
        max_exchange_entries: 4,
        max_exchange_entries_read: 8,
        max_exchange_seen: 4,
        max_pending_connections: 4,
        ..NodeConfig::default()
    }
}

impl World {
    /// A node built from the script's `flags` byte: bits 0-2 its configuration ([`config`]),
    /// 3-4 its clock origin, 5 the modeled cryptography (every party), 6-7 its wall clock.
    pub fn new(flags: u8) -> Self {
        identities::use_suite(if flags & 0x20 != 0 {
            Suite::Modeled
        } else {
            Suite::Standard
        });
        let config = config(flags);
        let origins = [0, 1_000_000_000_000_000, 1 << 62, 7];
        let now = Instant::from_nanos(origins[usize::from(flags >> 3) % 4]);
        let unix = [1_700_000_000, 0, -1, i64::MAX][usize::from(flags >> 6)];
        let oracle = Oracle::new(identities::node().node_id(), &config.advertised_addr);
        let node = Node::new(config, identities::node().clone(), [7; 32], now, unix);
        let mut world = World {
            node,
            oracle,
            now,
            next_deadline: None,
            links: BTreeMap::new(),
            dials: VecDeque::new(),
            next_conn: 1,
            rng: ChaCha20Rng::seed_from_u64(3),
            captured: VecDeque::new(),
            next_id: 0,
            shut_down: false,
        };
        world.settle();
        world
    }

    fn select(&self, selector: u8) -> Option<ConnId> {
        if selector == 255 {
            return Some(ConnId(u64::MAX));
        }
        let len = self.links.len();
        (len > 0).then(|| *self.links.keys().nth(usize::from(selector) % len).unwrap())
    }

    fn open_link(&mut self, role: Role, peer: u8, outbound: bool) -> ConnId {
        let identity = identities::any(usize::from(peer) % (identities::PEERS + 1));
        // Every other harness peer speaks the dissemination extension.
        let tree = peer.is_multiple_of(2);
        let local = LocalHello {
            tags: Vec::new(),
            listen_addr: format!("10.0.{peer}.2:4000"),
            capabilities: if tree {
                String::from("tree1")
            } else {
                String::new()
            },
            lamport: u64::from(peer),
        };
        let config = ConnectionConfig::default();
        let peer = Connection::new(role, config, identity, local, self.now, &mut self.rng);
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        let link = Link {
            peer,
            tree,
            outbound,
            held: false,
            blocked: false,
            to_peer: Vec::new(),
            to_node: Vec::new(),
            peer_closed: false,
            corrupted: false,
        };
        self.links.insert(conn, link);
        conn
    }

    /// Drains the node's outputs until `Timeout`, checking each.
    fn drain(&mut self) {
        let mut woke = false;
        for _ in 0..MAX_OUTPUTS {
            let output = self.node.poll_output();
            if tracing_enabled() {
                eprintln!("{:?} {output:?}", self.now);
            }
            match output {
                Output::Transmit { conn, data } => {
                    let link = self
                        .links
                        .get_mut(&conn)
                        .expect("transmit on a closed connection");
                    link.to_peer.extend_from_slice(&data);
                }
                Output::Dial { dial, addr } => {
                    self.oracle.dial(&addr);
                    self.dials.push_back(dial);
                }
                Output::Close { conn } => {
                    self.links.remove(&conn);
                }
                Output::PersistPeer(record) => self.oracle.persisted(&record),
                Output::ForgetPeer(_) | Output::ForgetState(_) | Output::PersistClock(_) => {}
                Output::PersistState { key, envelope } => {
                    self.oracle.persisted_state(&key, &envelope);
                }
                Output::Event(event) => self.oracle.event(&event),
                Output::Timeout(at) => {
                    // A deadline already reached is the runtime's next wake-up (a new node's
                    // bootstrap dials, for one); still reached after it, the runtime spins.
                    if !woke && !self.shut_down && at.is_some_and(|at| at <= self.now) {
                        woke = true;
                        self.node.handle_input(self.now, Input::Timeout);
                        continue;
                    }
                    self.oracle.timeout(at, self.now, self.shut_down);
                    self.next_deadline = at;
                    return;
                }
            }
        }
        panic!("the node never reached Output::Timeout");
    }

    /// Carries bytes between the node and the harness peers until everything is quiet, then
    /// checks the node's tables.
    fn settle(&mut self) {
        for _ in 0..MAX_ROUNDS {
            self.drain();
            let mut moved = false;
            let conns: Vec<ConnId> = self.links.keys().copied().collect();
            for conn in conns {
                moved |= self.carry(conn);
            }
            if !moved {
                break;
            }
        }
        self.drain();
        let outbound = self.links.values().filter(|l| l.outbound).count();
        self.oracle.quiet(&self.node, self.links.len(), outbound);
    }

    /// Moves one connection's bytes both ways; true if anything moved.
    fn carry(&mut self, conn: ConnId) -> bool {
        let now = self.now;
        let Some(link) = self.links.get_mut(&conn) else {
            return false;
        };
        if link.held {
            return false;
        }
        let mut moved = false;
        let to_peer = core::mem::take(&mut link.to_peer);
        if !to_peer.is_empty() && !link.peer_closed {
            link.peer.handle_input(now, &to_peer);
            moved = true;
        }
        while let Some(event) = link.peer.poll_event() {
            match event {
                Event::Envelope(envelope) => {
                    self.oracle.from_node(&envelope, link.tree);
                    if self.captured.len() == 32 {
                        self.captured.pop_front();
                    }
                    self.captured.push_back(envelope);
                }
                Event::Closed(reason) => {
                    let refused = matches!(
                        reason,
                        CloseReason::Noise(_) | CloseReason::Frame(_) | CloseReason::Hello(_)
                    );
                    assert!(
                        link.corrupted || !refused,
                        "an honest peer refused what the node sent: {reason}"
                    );
                }
                Event::HandshakeComplete { .. } | Event::Established(_) => {}
            }
        }
        while let Some(data) = link.peer.poll_transmit() {
            link.to_node.extend_from_slice(&data);
        }
        let report_close = link.peer.is_closed() && !link.peer_closed;
        link.peer_closed |= report_close;
        let to_node = core::mem::take(&mut link.to_node);
        if !to_node.is_empty() {
            self.node.handle_input(
                now,
                Input::Received {
                    conn,
                    data: &to_node,
                },
            );
            moved = true;
        }
        if report_close {
            self.node.handle_input(now, Input::Closed { conn });
            moved = true;
        }
        moved
    }

    /// Sends an envelope from a harness peer, telling the oracle what was handed over.
    fn peer_send(&mut self, selector: u8, bytes: &[u8]) {
        let Some(conn) = self.select(selector) else {
            return;
        };
        let now = self.now;
        if let Some(link) = self.links.get_mut(&conn)
            && link.peer.send(now, bytes).is_ok()
        {
            self.oracle.sent_bytes(bytes);
        }
    }

    fn fresh_id(&mut self) -> String {
        self.next_id += 1;
        format!("fz-{}", self.next_id)
    }

    fn gossip(&mut self, g: &Gossip<'_>) {
        let e = forge::gossip(g, || self.fresh_id());
        self.peer_send(g.conn, &proto::encode(&e));
    }

    fn exchange(&mut self, selector: u8, signer: u8, entries: &[Entry]) {
        let e = forge::exchange(signer, entries, self.fresh_id());
        self.peer_send(selector, &proto::encode(&e));
    }

    /// Applies one operation, carries every byte it caused, and checks the node.
    pub fn apply(&mut self, op: &Op<'_>) {
        let now = self.now;
        match *op {
            Op::Accept { peer } => {
                let conn = self.open_link(Role::Initiator, peer, false);
                let remote_addr = "192.0.2.1:50000";
                self.node
                    .handle_input(now, Input::Accepted { conn, remote_addr });
            }
            Op::Connect { peer } => {
                let dial = self.dials.pop_front().unwrap_or(DialId(u64::MAX));
                let conn = self.open_link(Role::Responder, peer, true);
                self.node.handle_input(now, Input::Connected { dial, conn });
            }
            Op::DialFailed => {
                let dial = self.dials.pop_front().unwrap_or(DialId(u64::MAX));
                self.node.handle_input(now, Input::DialFailed { dial });
            }
            Op::Gossip(ref g) => self.gossip(g),
            Op::Exchange {
                conn,
                signer,
                ref entries,
            } => self.exchange(conn, signer, entries),
            Op::SendBytes { conn, bytes } => self.peer_send(conn, bytes),
            Op::Raw { conn, bytes } => {
                if let Some(conn) = self.select(conn) {
                    if let Some(link) = self.links.get_mut(&conn) {
                        link.corrupted |= !bytes.is_empty();
                    }
                    self.node
                        .handle_input(now, Input::Received { conn, data: bytes });
                }
            }
            Op::Closed { conn } => {
                if let Some(conn) = self.select(conn) {
                    if let Some(link) = self.links.get_mut(&conn) {
                        link.peer_closed = true;
                    }
                    self.node.handle_input(now, Input::Closed { conn });
                }
            }
            Op::Block { conn } => {
                if let Some(conn) = self.select(conn) {
                    let blocked = self.links.get_mut(&conn).map(|l| {
                        l.blocked = !l.blocked;
                        l.blocked
                    });
                    let since = blocked.unwrap_or(false).then_some(now);
                    self.node
                        .handle_input(now, Input::WriteBlocked { conn, since });
                }
            }
            Op::Tick { unit, amount } => self.tick(unit, amount),
            Op::Broadcast { msg_type, payload } => {
                let t = forge::msg_type(msg_type);
                let _ = if msg_type == 0 {
                    self.node
                        .broadcast_chat(now, "fz", &String::from_utf8_lossy(payload))
                } else {
                    self.node.broadcast(now, t, payload.to_vec())
                };
            }
            Op::Dial { addr } => {
                let _ = self
                    .node
                    .dial(now, forge::ADDRS[usize::from(addr) % forge::ADDRS.len()]);
            }
            Op::Hold { conn } => {
                if let Some(link) = self.select(conn).and_then(|c| self.links.get_mut(&c)) {
                    link.held = !link.held;
                }
            }
            Op::Replay { conn, index, hop } => {
                if !self.captured.is_empty() {
                    let mut e = self.captured[usize::from(index) % self.captured.len()].clone();
                    e.hop_count = hop.into();
                    self.peer_send(conn, &proto::encode(&e));
                }
            }
            Op::Shutdown => {
                self.node.shutdown(now);
                self.shut_down = true;
            }
        }
        self.settle();
    }

    fn tick(&mut self, unit: u8, amount: u16) {
        let nanos = match unit % 3 {
            0 => u64::from(amount) * 1_000_000,
            1 => u64::from(amount) * 1_000_000_000,
            _ => self
                .next_deadline
                .map_or(0, |at| at.as_nanos().saturating_sub(self.now.as_nanos())),
        };
        self.now = Instant::from_nanos(self.now.as_nanos().saturating_add(nanos));
        let now = self.now;
        for link in self.links.values_mut() {
            if link.peer.poll_timeout().is_some_and(|at| at <= now) {
                link.peer.handle_timeout(now);
            }
        }
        self.node.handle_input(now, Input::Timeout);
    }
}
