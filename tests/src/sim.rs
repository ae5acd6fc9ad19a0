//! The simulation engine: hosts, a virtual clock, an event queue and the network between them.

use std::collections::BTreeMap;
use std::time::Duration;

use micelio_core::identity::{Identity, NodeId};
use micelio_core::node::{
    CommandError, ConnId, DialId, Input, Node, NodeConfig, NodeEvent, Output,
};
use micelio_core::suite::Suite;
use micelio_core::time::Instant;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use crate::adversary::Adversary;
use crate::endpoints::{Endpoint, Endpoints};
use crate::metrics::{Metrics, Report};
use crate::network::{NetworkConfig, Partition};
use crate::queue::EventQueue;
use crate::store::{PeerStore, StateStore};
use crate::trace::TraceHash;
use micelio_core::state::{Entry, StateMap};

/// A host's index in the simulation.
pub type HostId = usize;

/// Unix time of virtual instant zero.
const UNIX_EPOCH_AT_START: i64 = 1_700_000_000;

/// How to create an honest host.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    /// Whether it listens (reachable) or is outbound-only.
    pub listening: bool,
    /// Hosts to bootstrap to (their listen addresses are used).
    pub bootstrap: Vec<HostId>,
    /// The node's configuration; `bootstrap`, `advertised_addr` and `listening` are filled in.
    pub config: NodeConfig,
}

impl NodeSpec {
    /// A listening node with the default configuration and the given bootstrap hosts.
    pub fn listening(bootstrap: Vec<HostId>) -> Self {
        NodeSpec {
            listening: true,
            bootstrap,
            config: NodeConfig::default(),
        }
    }

    /// An outbound-only node dialing the given hosts.
    pub fn outbound_only(bootstrap: Vec<HostId>) -> Self {
        NodeSpec {
            listening: false,
            bootstrap,
            config: NodeConfig::default(),
        }
    }

    /// Replaces the configuration (bootstrap, address and listening are still filled in).
    pub fn with_config(mut self, config: NodeConfig) -> Self {
        self.config = config;
        self
    }
}

/// What runs on a host.
pub enum Actor {
    /// An honest node.
    Node(Box<Node>),
    /// A scripted hostile peer.
    Adversary(Box<Adversary>),
}

/// One machine of the simulated network.
pub struct Host {
    /// What runs on it; `None` while crashed.
    pub actor: Option<Actor>,
    /// Its listen address (also used as the remote address of its dials).
    pub addr: String,
    /// Whether it accepts connections.
    pub listening: bool,
    /// The seed of its identity.
    pub identity_seed: [u8; 32],
    /// How it was created (for restarts).
    pub spec: Option<NodeSpec>,
    /// The persisted peer table, as the runtime's store would hold it.
    pub store: PeerStore,
    /// The persisted shared map and clock.
    pub state_store: StateStore,
    /// Everything its application was told, with the time.
    pub events: Vec<(Instant, NodeEvent)>,
    wake: Option<Instant>,
}

impl Host {
    /// The honest node on this host, if running.
    pub fn node(&self) -> Option<&Node> {
        match &self.actor {
            Some(Actor::Node(node)) => Some(node),
            _ => None,
        }
    }

    /// Chat texts its application received, in order.
    pub fn chats(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                NodeEvent::Chat { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect()
    }
}

#[derive(Debug)]
enum SimEvent {
    Wake(HostId),
    Accept {
        host: HostId,
        conn: ConnId,
        remote: String,
    },
    Connected {
        host: HostId,
        dial: DialId,
        conn: ConnId,
    },
    DialFailed {
        host: HostId,
        dial: DialId,
    },
    Deliver {
        host: HostId,
        conn: ConnId,
        data: Vec<u8>,
    },
    Closed {
        host: HostId,
        conn: ConnId,
    },
}

/// A deterministic network simulation. See the crate documentation.
pub struct Sim {
    now: Instant,
    rng: ChaCha20Rng,
    queue: EventQueue<SimEvent>,
    /// Every host, by id.
    pub hosts: Vec<Host>,
    endpoints: Endpoints,
    addresses: BTreeMap<String, HostId>,
    partition: Option<(Partition, Instant)>,
    next_conn: u64,
    network: NetworkConfig,
    trace: TraceHash,
    /// Observations of the run.
    pub metrics: Metrics,
    chat_counter: u64,
    /// Processed events (a measure of simulation work).
    pub steps: u64,
    /// The cryptography every identity of the run uses.
    suite: Suite,
    /// Every write a node's application made to the shared map, as its writer signed it.
    pub state_writes: Vec<Entry>,
    /// Whether each host keeps its [`Host::events`] (large runs that read only the metrics
    /// turn it off: a hundred chat lines at 10,000 hosts are a million events).
    event_log: bool,
    /// Whether hosts persist their known-peer records ([`Host::store`]); runs that never
    /// restart a host may turn it off (256 records per host at 10,000 hosts are 1 GB).
    peer_store: bool,
}

impl Sim {
    /// An empty network whose every random choice derives from `seed`, with the protocol's
    /// real cryptography.
    pub fn new(seed: u64, network: NetworkConfig) -> Self {
        Self::with_suite(seed, network, Suite::Standard)
    }

    /// [`Sim::new`] with every identity (nodes and adversaries) under `suite`. With
    /// [`Suite::Modeled`] the run makes the same protocol decisions (every size is the same)
    /// at a fraction of the cost: large networks use it.
    pub fn with_suite(seed: u64, network: NetworkConfig, suite: Suite) -> Self {
        Sim {
            suite,
            now: Instant::ZERO,
            rng: ChaCha20Rng::seed_from_u64(seed),
            queue: EventQueue::default(),
            hosts: Vec::new(),
            endpoints: Endpoints::default(),
            addresses: BTreeMap::new(),
            partition: None,
            next_conn: 0,
            network,
            trace: TraceHash::default(),
            metrics: Metrics::default(),
            chat_counter: 0,
            steps: 0,
            state_writes: Vec::new(),
            event_log: true,
            peer_store: true,
        }
    }

    /// Stops keeping each host's [`Host::events`] from now on; the metrics (deliveries,
    /// latencies, duplicates) are kept as before.
    pub fn without_event_log(mut self) -> Self {
        self.event_log = false;
        self
    }

    /// Stops persisting known-peer records into each host's [`Host::store`] (the write count,
    /// [`Metrics::persist_writes`], goes on). Such a run cannot restart a host:
    /// [`Sim::restart`] panics.
    pub fn without_peer_store(mut self) -> Self {
        self.peer_store = false;
        self
    }

    /// The cryptography of the run.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// The identity derived from `seed` under the run's suite.
    pub fn identity_from_seed(&self, seed: &[u8; 32]) -> Identity {
        match self.suite {
            Suite::Standard => Identity::from_seed(seed),
            Suite::Modeled => Identity::modeled_from_seed(seed),
        }
    }

    /// The identity of `host`.
    pub fn identity(&self, host: HostId) -> Identity {
        self.identity_from_seed(&self.hosts[host].identity_seed)
    }

    /// Current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Fingerprint of everything that happened so far.
    pub fn trace_hash(&self) -> u64 {
        self.trace.value()
    }

    fn host_addr(id: HostId) -> String {
        format!(
            "10.{}.{}.{}:4000",
            (id >> 16) & 0xff,
            (id >> 8) & 0xff,
            id & 0xff
        )
    }

    fn random_seed(&mut self) -> [u8; 32] {
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        seed
    }

    /// Adds an honest node and starts it now.
    pub fn add_node(&mut self, spec: NodeSpec) -> HostId {
        let id = self.register_node(spec);
        self.start_node(id, None);
        id
    }

    /// Adds several honest nodes and starts them all at the current instant, once every one of
    /// them has an address: bootstrap dials between them connect (with [`Sim::add_node`] a
    /// node bootstrapping to a host added after it fails its first dial). Used to race
    /// simultaneous cross-dials.
    pub fn add_nodes(&mut self, specs: Vec<NodeSpec>) -> Vec<HostId> {
        let ids: Vec<HostId> = specs
            .into_iter()
            .map(|spec| self.register_node(spec))
            .collect();
        // Every node exists before any of them runs, so their first dials all connect.
        for &id in &ids {
            self.create_node(id, None);
        }
        for &id in &ids {
            self.input(id, Input::Timeout);
        }
        ids
    }

    /// Creates a host with an address and identity for `spec`, not yet running.
    fn register_node(&mut self, spec: NodeSpec) -> HostId {
        let id = self.hosts.len();
        let addr = Self::host_addr(id);
        let identity_seed = self.random_seed();
        self.hosts.push(Host {
            actor: None,
            addr: addr.clone(),
            listening: spec.listening,
            identity_seed,
            spec: Some(spec),
            store: PeerStore::new(),
            state_store: StateStore::default(),
            events: Vec::new(),
            wake: None,
        });
        self.addresses.insert(addr, id);
        id
    }

    /// Adds a hostile actor that dials `targets` now.
    pub fn add_adversary(&mut self, targets: &[HostId], announced_addr: &str) -> HostId {
        let id = self.hosts.len();
        let identity_seed = self.random_seed();
        let rng = ChaCha20Rng::from_seed(self.random_seed());
        let addrs = targets
            .iter()
            .map(|t| self.hosts[*t].addr.clone())
            .collect();
        let identity = self.identity_from_seed(&identity_seed);
        let mut adversary = Adversary::new(identity, rng, addrs);
        adversary.announced_addr = announced_addr.to_owned();
        adversary.start();
        self.hosts.push(Host {
            actor: Some(Actor::Adversary(Box::new(adversary))),
            addr: Self::host_addr(id),
            listening: false,
            identity_seed,
            spec: None,
            store: PeerStore::new(),
            state_store: StateStore::default(),
            events: Vec::new(),
            wake: None,
        });
        self.drain(id);
        id
    }

    /// (Re)starts the node of `host` with its identity and stored peer table; `bootstrap`
    /// overrides the spec's bootstrap hosts.
    fn start_node(&mut self, host: HostId, bootstrap: Option<Vec<HostId>>) {
        self.create_node(host, bootstrap);
        self.input(host, Input::Timeout);
    }

    /// Puts a fresh node on `host` (see [`Sim::start_node`]) without running it yet.
    fn create_node(&mut self, host: HostId, bootstrap: Option<Vec<HostId>>) {
        let Some(spec) = self.hosts[host].spec.clone() else {
            return;
        };
        let mut config = spec.config.clone();
        let targets = bootstrap.unwrap_or(spec.bootstrap.clone());
        config.bootstrap = targets.iter().map(|t| Self::host_addr(*t)).collect();
        config.listening = spec.listening;
        config.advertised_addr = if spec.listening {
            self.hosts[host].addr.clone()
        } else {
            String::new()
        };
        let seed = self.random_seed();
        let identity = self.identity(host);
        let unix = UNIX_EPOCH_AT_START + self.now.as_nanos() as i64 / 1_000_000_000;
        let mut node = Node::new(config, identity, seed, self.now, unix);
        node.load_peers(self.hosts[host].store.records().into_values());
        let state = &self.hosts[host].state_store;
        node.load_state(state.clock, state.entries.values().cloned());
        self.hosts[host].actor = Some(Actor::Node(Box::new(node)));
    }

    /// The node id of `host`.
    pub fn node_id(&self, host: HostId) -> NodeId {
        self.identity(host).node_id()
    }

    /// The adversary on `host`.
    pub fn adversary(&mut self, host: HostId) -> &mut Adversary {
        match &mut self.hosts[host].actor {
            Some(Actor::Adversary(a)) => a,
            _ => panic!("host {host} is not an adversary"),
        }
    }

    /// Makes the adversary on `host` send `envelope` to every peer it is connected to.
    pub fn adversary_send(&mut self, host: HostId, envelope: &[u8]) -> usize {
        let now = self.now;
        let sent = self.adversary(host).send_all(now, envelope);
        self.drain(host);
        sent
    }

    // ----- scheduling -----

    fn schedule(&mut self, at: Instant, event: SimEvent) {
        self.queue.push(at, event);
    }

    fn latency(&mut self) -> Duration {
        let min = self.network.min_latency.as_nanos() as u64;
        let max = self.network.max_latency.as_nanos() as u64;
        let span = max.saturating_sub(min);
        let jitter = if span == 0 {
            0
        } else {
            self.rng.next_u64() % (span + 1)
        };
        Duration::from_nanos(min + jitter)
    }

    fn partitioned(&self, a: HostId, b: HostId) -> Option<Instant> {
        match &self.partition {
            // A healed partition no longer separates anything (dials across it connect).
            Some((p, heal)) if self.now < *heal && p.separates(a, b) => Some(*heal),
            _ => None,
        }
    }

    /// Splits the hosts into groups until `heal_after` from now. Traffic across the cut is
    /// held (as TCP would retransmit it) and delivered after the heal; dials across it time out.
    pub fn partition(&mut self, group: Vec<u8>, heal_after: Duration) {
        self.partition = Some((Partition { group }, self.now + heal_after));
    }

    /// Crashes `host`: its sockets vanish without a FIN, its store survives.
    pub fn crash(&mut self, host: HostId) {
        self.hosts[host].actor = None;
        self.hosts[host].wake = None;
        self.endpoints.retain(|e| e.host != host);
    }

    /// Restarts a crashed host from its store, optionally with another bootstrap list.
    pub fn restart(&mut self, host: HostId, bootstrap: Option<Vec<HostId>>) {
        assert!(
            self.peer_store,
            "a run without a peer store cannot restart hosts"
        );
        self.start_node(host, bootstrap);
    }

    /// The other end of the open connection `conn`: its host and its connection id there.
    /// `None` once either end has closed or vanished. Lets a test check that two nodes'
    /// [`micelio_core::node::Node::peers`] entries are the same TCP connection.
    pub fn connection_peer(&self, conn: ConnId) -> Option<(HostId, ConnId)> {
        let endpoint = self.endpoints.get(&conn)?;
        self.endpoints
            .contains_key(&endpoint.peer_conn)
            .then_some((endpoint.peer_host, endpoint.peer_conn))
    }

    /// TCP connections established so far in the whole network (accepted dials).
    pub fn connections_opened(&self) -> u64 {
        self.next_conn / 2
    }

    /// Open connections between `a` and `b` (in either direction), as seen from `a`'s side.
    pub fn connections_between(&self, a: HostId, b: HostId) -> usize {
        self.endpoints
            .iter()
            .filter(|(_, e)| e.host == a && e.peer_host == b)
            .count()
    }

    /// Resets one connection between `a` and `b`, if any: both sides see it close.
    pub fn reset_connection(&mut self, a: HostId, b: HostId) -> bool {
        let found = self
            .endpoints
            .iter()
            .find(|(_, e)| e.host == a && e.peer_host == b)
            .map(|(c, e)| (c, e.peer_conn));
        let Some((conn_a, conn_b)) = found else {
            return false;
        };
        self.endpoints.remove(&conn_a);
        self.endpoints.remove(&conn_b);
        let now = self.now;
        self.schedule(
            now,
            SimEvent::Closed {
                host: a,
                conn: conn_a,
            },
        );
        self.schedule(
            now,
            SimEvent::Closed {
                host: b,
                conn: conn_b,
            },
        );
        true
    }

    // ----- application commands -----

    /// Originates a chat line on `host`; returns its unique text.
    pub fn chat(&mut self, host: HostId) -> String {
        self.chat_sized(host, 0)
    }

    /// Originates a chat line of at least `len` bytes of text on `host`; returns the text.
    pub fn chat_sized(&mut self, host: HostId, len: usize) -> String {
        self.chat_counter += 1;
        let mut text = format!("m{}", self.chat_counter);
        if text.len() < len {
            text.push(' ');
            text.extend(std::iter::repeat_n('.', len - text.len()));
        }
        let now = self.now;
        if let Some(Actor::Node(node)) = &mut self.hosts[host].actor {
            if node.broadcast_chat(now, "sim", &text).is_ok() {
                self.metrics.originated.insert(text.clone(), (host, now));
            }
        }
        self.drain(host);
        text
    }

    /// Writes `value` under `key` of the shared map on `host` (`None` deletes), recording
    /// the write for [`Sim::state_oracle`]. A crashed host refuses as a shut-down node.
    pub fn state_write(
        &mut self,
        host: HostId,
        key: &str,
        value: Option<&[u8]>,
    ) -> Result<(), CommandError> {
        let now = self.now;
        let Some(Actor::Node(node)) = &mut self.hosts[host].actor else {
            return Err(CommandError::ShutDown);
        };
        let written = match value {
            Some(value) => node.state_set(now, key, value.to_vec()),
            None => node.state_delete(now, key),
        };
        let entry = node.state().entry(key).cloned();
        self.drain(host);
        written?;
        if let Some(entry) = entry {
            self.state_writes.push(entry);
        }
        Ok(())
    }

    /// The map the last-writer rule gives over every write of [`Sim::state_writes`].
    pub fn state_oracle(&self) -> StateMap {
        let mut map = StateMap::new(usize::MAX);
        for entry in &self.state_writes {
            map.apply(entry.clone());
        }
        map
    }

    // ----- running -----

    /// Runs every event up to `until` (inclusive), then sets the clock to it.
    pub fn run_until(&mut self, until: Instant) {
        while let Some(at) = self.queue.next_at() {
            if at > until {
                break;
            }
            let Some((at, event)) = self.queue.pop() else {
                break;
            };
            self.now = at;
            self.step(event);
        }
        self.now = until;
    }

    /// Runs for `duration` of virtual time.
    pub fn run_for(&mut self, duration: Duration) {
        let until = self.now + duration;
        self.run_until(until);
    }

    fn step(&mut self, event: SimEvent) {
        self.steps += 1;
        self.trace.feed_u64(self.now.as_nanos());
        match event {
            SimEvent::Wake(host) => {
                if self.hosts[host].wake == Some(self.now) {
                    self.hosts[host].wake = None;
                    self.trace.feed_u64(host as u64);
                    self.input(host, Input::Timeout);
                }
            }
            SimEvent::Accept { host, conn, remote } => {
                self.trace.feed(b"accept");
                if self.endpoints.contains_key(&conn) {
                    self.input(
                        host,
                        Input::Accepted {
                            conn,
                            remote_addr: &remote,
                        },
                    );
                }
            }
            SimEvent::Connected { host, dial, conn } => {
                self.trace.feed(b"connected");
                if self.endpoints.contains_key(&conn) {
                    self.input(host, Input::Connected { dial, conn });
                } else {
                    self.input(host, Input::DialFailed { dial });
                }
            }
            SimEvent::DialFailed { host, dial } => {
                self.trace.feed(b"dial-failed");
                self.input(host, Input::DialFailed { dial });
            }
            SimEvent::Deliver { host, conn, data } => {
                self.trace.feed(&data);
                if self.endpoints.contains_key(&conn) {
                    self.input(host, Input::Received { conn, data: &data });
                }
            }
            SimEvent::Closed { host, conn } => {
                self.trace.feed(b"closed");
                self.endpoints.remove(&conn);
                self.input(host, Input::Closed { conn });
            }
        }
    }

    fn input(&mut self, host: HostId, input: Input<'_>) {
        let now = self.now;
        match &mut self.hosts[host].actor {
            Some(Actor::Node(node)) => node.handle_input(now, input),
            Some(Actor::Adversary(adversary)) => adversary.handle_input(now, input),
            None => return,
        }
        self.drain(host);
    }

    fn poll(&mut self, host: HostId) -> Option<Output> {
        match &mut self.hosts[host].actor {
            Some(Actor::Node(node)) => Some(node.poll_output()),
            Some(Actor::Adversary(adversary)) => Some(adversary.poll_output()),
            None => None,
        }
    }

    /// Carries out every output of `host`.
    fn drain(&mut self, host: HostId) {
        while let Some(output) = self.poll(host) {
            match output {
                Output::Timeout(at) => {
                    if let Some(at) = at {
                        let at = at.max(self.now);
                        if self.hosts[host].wake != Some(at) {
                            self.hosts[host].wake = Some(at);
                            self.schedule(at, SimEvent::Wake(host));
                        }
                    }
                    return;
                }
                Output::Transmit { conn, data } => self.transmit(host, conn, data),
                Output::Dial { dial, addr } => self.dial(host, dial, &addr),
                Output::Close { conn } => self.close(conn),
                Output::PersistPeer(record) => {
                    self.metrics.persist_writes += 1;
                    if self.peer_store {
                        self.hosts[host].store.put(record);
                    }
                }
                Output::ForgetPeer(id) => {
                    if self.peer_store {
                        self.hosts[host].store.remove(id);
                    }
                }
                Output::PersistState { key, envelope } => {
                    self.hosts[host].state_store.entries.insert(key, envelope);
                }
                Output::ForgetState(key) => {
                    self.hosts[host].state_store.entries.remove(&key);
                }
                Output::PersistClock(time) => {
                    let store = &mut self.hosts[host].state_store;
                    store.clock = store.clock.max(time);
                }
                Output::Event(event) => self.record_event(host, event),
            }
        }
    }

    fn record_event(&mut self, host: HostId, event: NodeEvent) {
        if let NodeEvent::Chat {
            text, hop_count, ..
        } = &event
        {
            let hops = 11u32.saturating_sub(*hop_count);
            if *hop_count > micelio_core::node::tree::MAX_TREE_HOP {
                self.metrics.marked_hop_counts += 1;
            }
            if !self.metrics.originated.contains_key(text) {
                self.metrics.unexpected_deliveries += 1;
            }
            let per_host = self.metrics.deliveries.entry(text.clone()).or_default();
            if per_host.insert(host, (self.now, hops)).is_some() {
                self.metrics.duplicate_deliveries += 1;
            }
        }
        if self.event_log {
            self.hosts[host].events.push((self.now, event));
        }
    }

    fn transmit(&mut self, host: HostId, conn: ConnId, data: Vec<u8>) {
        self.metrics.count_sent(host, data.len());
        let latency = self.latency();
        let transfer = self.network.transmission_time(data.len());
        let now = self.now;
        let Some(endpoint) = self.endpoints.get(&conn) else {
            return;
        };
        let (peer_host, peer_conn) = (endpoint.peer_host, endpoint.peer_conn);
        let mut arrival = (now + latency).max(endpoint.last_arrival) + transfer;
        if let Some(heal) = self.partitioned(host, peer_host) {
            arrival = arrival.max(heal + latency);
        }
        if let Some(endpoint) = self.endpoints.get_mut(&conn) {
            endpoint.last_arrival = arrival;
        }
        self.schedule(
            arrival,
            SimEvent::Deliver {
                host: peer_host,
                conn: peer_conn,
                data,
            },
        );
    }

    fn dial(&mut self, host: HostId, dial: DialId, addr: &str) {
        let latency = self.latency();
        let now = self.now;
        let target = self.addresses.get(addr).copied();
        if target == Some(host) {
            // A host dialing its own address (hostile-peer tests check this never happens).
            *self.metrics.self_dials.entry(host).or_default() += 1;
        }
        let reachable =
            target.filter(|t| self.hosts[*t].listening && self.hosts[*t].actor.is_some());
        let Some(target) = reachable else {
            let at = if target.is_some() {
                now + self.network.connect_timeout
            } else {
                now + latency * 2
            };
            self.schedule(at, SimEvent::DialFailed { host, dial });
            return;
        };
        if self.partitioned(host, target).is_some() {
            self.schedule(
                now + self.network.connect_timeout,
                SimEvent::DialFailed { host, dial },
            );
            return;
        }
        let local = ConnId(self.next_conn);
        let remote = ConnId(self.next_conn + 1);
        self.next_conn += 2;
        let arrival = now + latency;
        self.endpoints.insert(
            local,
            Endpoint {
                host,
                peer_host: target,
                peer_conn: remote,
                last_arrival: arrival,
            },
        );
        self.endpoints.insert(
            remote,
            Endpoint {
                host: target,
                peer_host: host,
                peer_conn: local,
                last_arrival: arrival,
            },
        );
        let ip = self.hosts[host]
            .addr
            .split(':')
            .next()
            .unwrap_or_default()
            .to_owned();
        let remote_addr = format!("{ip}:{}", 50_000 + dial.0 % 10_000);
        self.schedule(
            arrival,
            SimEvent::Accept {
                host: target,
                conn: remote,
                remote: remote_addr,
            },
        );
        self.schedule(
            now + latency * 2,
            SimEvent::Connected {
                host,
                dial,
                conn: local,
            },
        );
    }

    fn close(&mut self, conn: ConnId) {
        let Some(endpoint) = self.endpoints.remove(&conn) else {
            return;
        };
        if !self.endpoints.contains_key(&endpoint.peer_conn) {
            return;
        }
        let latency = self.latency();
        let mut at = (self.now + latency).max(endpoint.last_arrival);
        if let Some(heal) = self.partitioned(endpoint.host, endpoint.peer_host) {
            at = at.max(heal + latency);
        }
        self.schedule(
            at,
            SimEvent::Closed {
                host: endpoint.peer_host,
                conn: endpoint.peer_conn,
            },
        );
    }

    // ----- reports -----

    /// Delivery, hops, latency, copies, bytes and connection figures over `receivers`.
    pub fn report(&self, receivers: &[HostId]) -> Report {
        let mut report = self.metrics.delivery(receivers);
        let mut copies = 0u64;
        let mut received = 0u64;
        let mut conns = Vec::new();
        let mut bytes = 0u64;
        let (mut gossip_bytes, mut control_bytes, mut grafts) = (0u64, 0u64, 0u64);
        for &h in receivers {
            if let Some(node) = self.hosts[h].node() {
                let stats = node.gossip_stats();
                copies += stats.received + stats.duplicates;
                received += stats.received;
                conns.push(node.peer_count());
                let traffic = node.traffic_stats();
                gossip_bytes += traffic.gossip_bytes;
                control_bytes += traffic.control_bytes;
                grafts += node.tree_stats().grafts_sent;
            }
            bytes += self.metrics.bytes_sent.get(h).copied().unwrap_or(0);
        }
        report.copies_per_node = copies as f64 / received.max(1) as f64;
        let per_node = |total: u64| total as f64 / receivers.len().max(1) as f64;
        report.bytes_per_node = per_node(bytes);
        report.gossip_bytes_per_node = per_node(gossip_bytes);
        report.control_bytes_per_node = per_node(control_bytes);
        report.grafts_per_node = per_node(grafts);
        let avg = conns.iter().sum::<usize>() as f64 / conns.len().max(1) as f64;
        report.connections = (
            avg,
            conns.iter().copied().min().unwrap_or(0),
            conns.iter().copied().max().unwrap_or(0),
        );
        report
    }

    /// Admitted peers of every running honest node, by host.
    pub fn peer_counts(&self) -> Vec<usize> {
        self.hosts
            .iter()
            .map(|h| h.node().map_or(0, Node::peer_count))
            .collect()
    }

    // ----- hostile-peer helpers (tests/tests/hostile.rs) -----

    /// Makes the adversary on `host` send `envelope` on its connection to `target` only;
    /// false when it has no established connection to that host.
    pub fn adversary_send_to(&mut self, host: HostId, target: HostId, envelope: &[u8]) -> bool {
        let now = self.now;
        let peer = self.node_id(target);
        let sent = self.adversary(host).send_to(now, &peer, envelope);
        self.drain(host);
        sent
    }

    /// Records `text` as a chat line originated by `host` (an adversary sending a *valid*,
    /// correctly signed line), so that its deliveries count as expected in
    /// [`Metrics::unexpected_deliveries`] and are tracked in [`Metrics::deliveries`]. It then
    /// also counts in [`Sim::report`]'s delivery figures.
    pub fn note_adversary_chat(&mut self, host: HostId, text: &str) {
        let now = self.now;
        self.metrics.originated.insert(text.to_owned(), (host, now));
    }
}
