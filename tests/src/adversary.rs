//! A scripted hostile peer: it completes honest handshakes with its own identity, then sends
//! whatever envelopes the test hands it, and records what it receives (for replays).

use std::collections::BTreeMap;

use micelio_core::connection::{Connection, ConnectionConfig, Event, LocalHello, Role};
use micelio_core::identity::{Identity, NodeId};
use micelio_core::node::{ConnId, DialId, Input, Output};
use micelio_core::proto::Envelope;
use micelio_core::time::Instant;
use rand_chacha::ChaCha20Rng;

/// A hostile actor speaking the wire protocol through raw [`Connection`]s.
pub struct Adversary {
    identity: Identity,
    rng: ChaCha20Rng,
    targets: Vec<String>,
    dials: BTreeMap<DialId, String>,
    connections: BTreeMap<ConnId, Connection>,
    outputs: Vec<Output>,
    /// Envelopes received from honest peers, in order.
    pub received: Vec<Envelope>,
    /// Address it announces in its hello (may be anything, including someone else's).
    pub announced_addr: String,
    next_dial: u64,
}

impl Adversary {
    /// An adversary that will dial every address in `targets` at start.
    pub fn new(identity: Identity, rng: ChaCha20Rng, targets: Vec<String>) -> Self {
        Adversary {
            identity,
            rng,
            targets,
            dials: BTreeMap::new(),
            connections: BTreeMap::new(),
            outputs: Vec::new(),
            received: Vec::new(),
            announced_addr: String::new(),
            next_dial: 0,
        }
    }

    /// Its identity (to sign forged or honest envelopes).
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Starts the dials.
    pub fn start(&mut self) {
        for addr in std::mem::take(&mut self.targets) {
            let dial = DialId(self.next_dial);
            self.next_dial += 1;
            self.dials.insert(dial, addr.clone());
            self.outputs.push(Output::Dial { dial, addr });
        }
    }

    /// Sends serialized envelope bytes on every established connection.
    pub fn send_all(&mut self, now: Instant, envelope: &[u8]) -> usize {
        let mut sent = 0;
        for (conn, connection) in self.connections.iter_mut() {
            if connection.send(now, envelope).is_ok() {
                sent += 1;
            }
            while let Some(data) = connection.poll_transmit() {
                self.outputs.push(Output::Transmit { conn: *conn, data });
            }
        }
        sent
    }

    /// Sends serialized envelope bytes on the established connection to `peer` only; false
    /// when there is no such connection or it refused the bytes.
    pub fn send_to(&mut self, now: Instant, peer: &NodeId, envelope: &[u8]) -> bool {
        let mut sent = false;
        for (conn, connection) in self.connections.iter_mut() {
            if connection.peer().is_some_and(|p| p.node_id == *peer) {
                sent |= connection.send(now, envelope).is_ok();
                while let Some(data) = connection.poll_transmit() {
                    self.outputs.push(Output::Transmit { conn: *conn, data });
                }
            }
        }
        sent
    }

    /// Node ids of the peers whose hello it received, in connection order.
    pub fn peers(&self) -> Vec<NodeId> {
        self.connections
            .values()
            .filter(|c| c.is_established())
            .filter_map(|c| c.peer().map(|p| p.node_id))
            .collect()
    }

    /// Number of connections whose hello exchange succeeded.
    pub fn established(&self) -> usize {
        self.connections
            .values()
            .filter(|c| c.is_established())
            .count()
    }

    /// Processes one network input.
    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) {
        match input {
            Input::Connected { dial, conn } => {
                if self.dials.remove(&dial).is_some() {
                    let hello = LocalHello {
                        tags: Vec::new(),
                        listen_addr: self.announced_addr.clone(),
                        ..LocalHello::default()
                    };
                    let c = Connection::new(
                        Role::Initiator,
                        ConnectionConfig::default(),
                        &self.identity,
                        hello,
                        now,
                        &mut self.rng,
                    );
                    self.connections.insert(conn, c);
                }
            }
            Input::Accepted { conn, .. } => self.outputs.push(Output::Close { conn }),
            Input::Received { conn, data } => {
                if let Some(c) = self.connections.get_mut(&conn) {
                    c.handle_input(now, data);
                }
            }
            Input::Closed { conn } => {
                if let Some(c) = self.connections.get_mut(&conn) {
                    c.handle_transport_closed();
                }
            }
            Input::DialFailed { dial } => {
                self.dials.remove(&dial);
            }
            Input::Timeout | Input::WriteBlocked { .. } => {}
        }
        for connection in self.connections.values_mut() {
            if connection.poll_timeout().is_some_and(|at| at <= now) {
                connection.handle_timeout(now);
            }
        }
        self.drain();
    }

    fn drain(&mut self) {
        let mut closed = Vec::new();
        for (conn, connection) in self.connections.iter_mut() {
            while let Some(event) = connection.poll_event() {
                match event {
                    Event::Envelope(envelope) => self.received.push(envelope),
                    Event::Closed(_) => closed.push(*conn),
                    _ => {}
                }
            }
            while let Some(data) = connection.poll_transmit() {
                self.outputs.push(Output::Transmit { conn: *conn, data });
            }
        }
        for conn in closed {
            self.connections.remove(&conn);
            self.outputs.push(Output::Close { conn });
        }
    }

    /// The next output, ending with [`Output::Timeout`].
    pub fn poll_output(&mut self) -> Output {
        if !self.outputs.is_empty() {
            return self.outputs.remove(0);
        }
        let next = self
            .connections
            .values()
            .filter_map(|c| c.poll_timeout())
            .min();
        Output::Timeout(next)
    }
}
