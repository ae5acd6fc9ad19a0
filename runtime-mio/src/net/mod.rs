//! The mio event loop that drives the sans-IO node: sockets, dials, timers, persistence batching
//! and the hand-off of events to the application (the partyline).

pub mod socket;

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use micelio_core::node::{ConnId, DialId, Input, Node, NodeEvent, Output};
use micelio_core::time::Instant;
use micelio_platform::persist::{PERSIST_PERIOD, PersistBatch};
use micelio_platform::store::Store;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use micelio_platform::clock::Clock;
use socket::{PeerSocket, READ_CHUNK, ReadOutcome};

use micelio_platform::memory::MemoryReleaser;

/// Token of the peer listener.
const LISTENER: Token = Token(0);
/// Token of the waker the application uses to hand over commands.
pub const WAKER: Token = Token(1);
/// Token of the signal source.
pub const SIGNALS: Token = Token(2);
/// First token used for connections.
const FIRST_CONN: usize = 16;
/// TCP connect timeout (spec §9.1).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long accepting pauses after the process ran out of file descriptors (or memory for a
/// socket): connections meanwhile wait in the kernel's listen backlog.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);
/// Bound on one read pass per connection before other sockets get their turn.
const READ_BUDGET: usize = 4 * READ_CHUNK;

/// The application side of the loop (the partyline, an embedding program...).
pub trait Application {
    /// An event of the node.
    fn on_event(&mut self, event: NodeEvent);
    /// Chat lines (nick, text) to originate, taken when the waker fired or after each turn.
    fn take_outgoing(&mut self) -> Vec<(String, String)>;
    /// Signals or the application asked to stop.
    fn should_stop(&mut self) -> bool;
    /// True once after the application asked for a `node stats` log line (SIGUSR1).
    fn take_stats_request(&mut self) -> bool {
        false
    }
    /// Runs the application's commands against the node (each turn, before chat is
    /// originated): reads and writes of the shared map.
    fn serve(&mut self, _node: &mut Node, _now: micelio_core::time::Instant) {}
}

/// A dial in progress: the socket waits to become writable.
struct PendingDial {
    stream: TcpStream,
    dial: DialId,
    deadline: Instant,
}

/// An established socket and whether its writes are blocked.
struct Peer {
    socket: PeerSocket,
    blocked_since: Option<Instant>,
}

/// The event loop. Owns the node, every socket and the store.
pub struct EventLoop {
    poll: Poll,
    clock: Clock,
    node: Node,
    listener: Option<TcpListener>,
    peers: BTreeMap<ConnId, Peer>,
    dials: BTreeMap<ConnId, PendingDial>,
    next_conn: usize,
    store: Store,
    batch: PersistBatch,
    next_persist: Instant,
    read_buf: Vec<u8>,
    /// Connections whose last read stopped at [`READ_BUDGET`] with data possibly left in the
    /// socket: readiness is edge-triggered, so they are read again on the next turn without
    /// waiting for an event that may never come.
    unread: BTreeSet<ConnId>,
    /// Returns free memory to the OS once the tables shrink (checked with each store flush).
    memory: MemoryReleaser,
    /// Set when `accept` failed for lack of resources: the listener is edge-triggered, so the
    /// connections left in its backlog raise no new event; they are accepted at this instant.
    accept_retry_at: Option<Instant>,
}

impl EventLoop {
    /// A loop around `node`, with an already bound listener (if the node listens).
    pub fn new(
        poll: Poll,
        clock: Clock,
        node: Node,
        listener: Option<std::net::TcpListener>,
        store: Store,
    ) -> io::Result<Self> {
        let listener = match listener {
            Some(listener) => {
                listener.set_nonblocking(true)?;
                let mut listener = TcpListener::from_std(listener);
                poll.registry()
                    .register(&mut listener, LISTENER, Interest::READABLE)?;
                Some(listener)
            }
            None => None,
        };
        let now = clock.now();
        Ok(EventLoop {
            poll,
            clock,
            node,
            listener,
            peers: BTreeMap::new(),
            dials: BTreeMap::new(),
            next_conn: FIRST_CONN,
            store,
            batch: PersistBatch::default(),
            next_persist: now + PERSIST_PERIOD,
            read_buf: vec![0; READ_CHUNK],
            unread: BTreeSet::new(),
            accept_retry_at: None,
            memory: MemoryReleaser::default(),
        })
    }

    /// A waker the application can use from another thread.
    pub fn waker(&self) -> io::Result<Waker> {
        Waker::new(self.poll.registry(), WAKER)
    }

    /// The registry, to register extra sources (signals).
    pub fn registry(&self) -> &mio::Registry {
        self.poll.registry()
    }

    /// The node (for status queries).
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Runs until the application asks to stop, then shuts the node down cleanly.
    pub fn run(&mut self, app: &mut impl Application) -> io::Result<()> {
        let mut events = Events::with_capacity(256);
        self.node.handle_input(self.clock.now(), Input::Timeout);
        let mut next = self.process_outputs(app);
        while !app.should_stop() {
            let wake_at = next.map_or(self.next_persist, |n| n.min(self.next_persist));
            let wait = self
                .next_dial_deadline()
                .into_iter()
                .chain(self.accept_retry_at)
                .fold(wake_at, Instant::min);
            let timeout = if self.unread.is_empty() {
                self.clock.until(wait)
            } else {
                Duration::ZERO
            };
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    WAKER | SIGNALS => {}
                    token => self.socket_ready(token, event.is_readable(), event.is_writable()),
                }
                self.process_outputs(app);
            }
            for conn in std::mem::take(&mut self.unread) {
                self.read_peer(conn);
                self.process_outputs(app);
            }
            if self
                .accept_retry_at
                .is_some_and(|at| self.clock.now() >= at)
            {
                // Clears the pause when the backlog is drained, or renews it.
                self.accept_all();
                self.process_outputs(app);
            }
            self.expire_dials();
            if app.take_stats_request() {
                self.log_stats();
            }
            app.serve(&mut self.node, self.clock.now());
            self.originate(app);
            let now = self.clock.now();
            self.node.handle_input(now, Input::Timeout);
            next = self.process_outputs(app);
            if now >= self.next_persist {
                self.flush_store();
            }
        }
        self.shutdown(app);
        Ok(())
    }

    /// Logs the size of every bounded table, the sockets and the process's resident memory.
    fn log_stats(&self) {
        let (seen, keys, rate_buckets, known_peers) = self.node.table_sizes();
        let gossip = self.node.gossip_stats();
        tracing::info!(
            peers = self.node.peer_count(),
            pending = self.node.pending_count(),
            sockets = self.peers.len(),
            dials = self.dials.len(),
            seen,
            keys,
            rate_buckets,
            known_peers,
            stored = self.node.stored_messages(),
            duplicates = gossip.duplicates,
            rejected = gossip.rejected,
            invalid_signatures = gossip.invalid_signatures,
            unknown_senders = gossip.unknown_senders,
            rate_limited = gossip.rate_limited,
            seen_cache_full = gossip.overloaded,
            rss_kib = crate::stats::resident_kib().unwrap_or(0),
            "node stats"
        );
    }

    fn originate(&mut self, app: &mut impl Application) {
        for (nick, text) in app.take_outgoing() {
            let now = self.clock.now();
            if let Err(error) = self.node.broadcast_chat(now, &nick, &text) {
                tracing::warn!(%error, "chat not sent");
            }
        }
    }

    /// Closes every connection, writes the peer table and returns.
    fn shutdown(&mut self, app: &mut impl Application) {
        let now = self.clock.now();
        self.node.shutdown(now);
        self.process_outputs(app);
        for (_, mut peer) in std::mem::take(&mut self.peers) {
            let _ = peer.socket.flush();
            let _ = self.poll.registry().deregister(&mut peer.socket.stream);
        }
        for (_, mut dial) in std::mem::take(&mut self.dials) {
            let _ = self.poll.registry().deregister(&mut dial.stream);
        }
        self.flush_store();
    }

    fn next_dial_deadline(&self) -> Option<Instant> {
        self.dials.values().map(|d| d.deadline).min()
    }

    fn new_conn(&mut self) -> ConnId {
        let conn = ConnId(self.next_conn as u64);
        self.next_conn += 1;
        conn
    }

    fn accept_all(&mut self) {
        loop {
            let Some(listener) = self.listener.as_mut() else {
                return;
            };
            match listener.accept() {
                Ok((mut stream, remote)) => {
                    let conn = self.new_conn();
                    let token = Token(conn.0 as usize);
                    if let Err(e) =
                        self.poll
                            .registry()
                            .register(&mut stream, token, Interest::READABLE)
                    {
                        tracing::warn!(error = %e, "accept error");
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    self.peers.insert(
                        conn,
                        Peer {
                            socket: PeerSocket::new(stream),
                            blocked_since: None,
                        },
                    );
                    let remote = remote.to_string();
                    self.node.handle_input(
                        self.clock.now(),
                        Input::Accepted {
                            conn,
                            remote_addr: &remote,
                        },
                    );
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.accept_retry_at.take().is_some() {
                        tracing::info!("accepting again");
                    }
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE, ENFILE, ENOBUFS, ENOMEM...: retry soon instead of waiting for
                    // a new connection's edge, which may never come.
                    if self.accept_retry_at.is_none() {
                        tracing::warn!(error = %e, "accept paused");
                    }
                    self.accept_retry_at = Some(self.clock.now() + ACCEPT_RETRY);
                    return;
                }
            }
        }
    }

    fn socket_ready(&mut self, token: Token, readable: bool, writable: bool) {
        let conn = ConnId(token.0 as u64);
        if self.dials.contains_key(&conn) {
            self.finish_dial(conn);
            return;
        }
        if writable {
            self.flush_peer(conn);
        }
        if readable {
            self.read_peer(conn);
        }
    }

    fn finish_dial(&mut self, conn: ConnId) {
        let Some(mut pending) = self.dials.remove(&conn) else {
            return;
        };
        let connected = match pending.stream.take_error() {
            Ok(None) => pending.stream.peer_addr().is_ok(),
            _ => false,
        };
        let now = self.clock.now();
        if !connected {
            let _ = self.poll.registry().deregister(&mut pending.stream);
            self.node
                .handle_input(now, Input::DialFailed { dial: pending.dial });
            return;
        }
        let token = Token(conn.0 as usize);
        if self
            .poll
            .registry()
            .reregister(&mut pending.stream, token, Interest::READABLE)
            .is_err()
        {
            self.node
                .handle_input(now, Input::DialFailed { dial: pending.dial });
            return;
        }
        let _ = pending.stream.set_nodelay(true);
        self.peers.insert(
            conn,
            Peer {
                socket: PeerSocket::new(pending.stream),
                blocked_since: None,
            },
        );
        self.node.handle_input(
            now,
            Input::Connected {
                dial: pending.dial,
                conn,
            },
        );
    }

    fn expire_dials(&mut self) {
        let now = self.clock.now();
        let expired: Vec<ConnId> = self
            .dials
            .iter()
            .filter(|(_, d)| d.deadline <= now)
            .map(|(c, _)| *c)
            .collect();
        for conn in expired {
            if let Some(mut pending) = self.dials.remove(&conn) {
                let _ = self.poll.registry().deregister(&mut pending.stream);
                self.node
                    .handle_input(now, Input::DialFailed { dial: pending.dial });
            }
        }
    }

    fn read_peer(&mut self, conn: ConnId) {
        let Some(peer) = self.peers.get_mut(&conn) else {
            return;
        };
        let outcome = peer.socket.read_some(&mut self.read_buf, READ_BUDGET);
        let now = self.clock.now();
        match outcome {
            ReadOutcome::Data(data) => {
                if data.len() >= READ_BUDGET {
                    self.unread.insert(conn);
                }
                self.node
                    .handle_input(now, Input::Received { conn, data: &data });
            }
            ReadOutcome::WouldBlock => {}
            ReadOutcome::Closed => {
                self.drop_peer(conn);
                self.node.handle_input(now, Input::Closed { conn });
            }
        }
    }

    fn flush_peer(&mut self, conn: ConnId) {
        let Some(peer) = self.peers.get_mut(&conn) else {
            return;
        };
        let now = self.clock.now();
        match peer.socket.flush() {
            Ok(true) => {
                if peer.blocked_since.take().is_some() {
                    let token = Token(conn.0 as usize);
                    let _ = self.poll.registry().reregister(
                        &mut peer.socket.stream,
                        token,
                        Interest::READABLE,
                    );
                    self.node
                        .handle_input(now, Input::WriteBlocked { conn, since: None });
                }
            }
            Ok(false) => {
                if peer.blocked_since.is_none() {
                    peer.blocked_since = Some(now);
                    let token = Token(conn.0 as usize);
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    let _ =
                        self.poll
                            .registry()
                            .reregister(&mut peer.socket.stream, token, interest);
                    self.node.handle_input(
                        now,
                        Input::WriteBlocked {
                            conn,
                            since: Some(now),
                        },
                    );
                }
            }
            Err(_) => {
                self.drop_peer(conn);
                self.node.handle_input(now, Input::Closed { conn });
            }
        }
    }

    fn drop_peer(&mut self, conn: ConnId) {
        self.unread.remove(&conn);
        if let Some(mut peer) = self.peers.remove(&conn) {
            let _ = self.poll.registry().deregister(&mut peer.socket.stream);
        }
    }

    fn dial(&mut self, dial: DialId, addr: &str) {
        let now = self.clock.now();
        let target: Option<SocketAddr> = addr.to_socket_addrs().ok().and_then(|mut a| a.next());
        let Some(target) = target else {
            tracing::debug!(%addr, "dial failed: cannot resolve");
            self.node.handle_input(now, Input::DialFailed { dial });
            return;
        };
        let mut stream = match TcpStream::connect(target) {
            Ok(stream) => stream,
            Err(error) => {
                tracing::debug!(%addr, %error, "dial failed");
                self.node.handle_input(now, Input::DialFailed { dial });
                return;
            }
        };
        let conn = self.new_conn();
        let token = Token(conn.0 as usize);
        if self
            .poll
            .registry()
            .register(&mut stream, token, Interest::WRITABLE)
            .is_err()
        {
            self.node.handle_input(now, Input::DialFailed { dial });
            return;
        }
        self.dials.insert(
            conn,
            PendingDial {
                stream,
                dial,
                deadline: now + CONNECT_TIMEOUT,
            },
        );
    }

    /// Carries out the node's outputs; returns when it must be woken next.
    fn process_outputs(&mut self, app: &mut impl Application) -> Option<Instant> {
        loop {
            match self.node.poll_output() {
                Output::Transmit { conn, data } => {
                    if let Some(peer) = self.peers.get_mut(&conn) {
                        peer.socket.push(data);
                        if peer.blocked_since.is_none() {
                            self.flush_peer(conn);
                        }
                    }
                }
                Output::Dial { dial, addr } => self.dial(dial, &addr),
                Output::Close { conn } => {
                    if let Some(peer) = self.peers.get_mut(&conn) {
                        let _ = peer.socket.flush();
                        let _ = peer.socket.stream.shutdown(std::net::Shutdown::Both);
                    }
                    self.drop_peer(conn);
                }
                Output::PersistPeer(record) => self.batch.save(record),
                Output::ForgetPeer(id) => self.batch.forget(id),
                Output::PersistState { key, envelope } => self.batch.save_state(key, envelope),
                Output::ForgetState(key) => self.batch.forget_state(key),
                Output::PersistClock(time) => self.batch.save_clock(time),
                Output::Event(event) => app.on_event(event),
                Output::Timeout(at) => return at,
            }
        }
    }

    /// Writes the batched peer records (one transaction for saves, one for deletions).
    fn flush_store(&mut self) {
        self.next_persist = self.clock.now() + PERSIST_PERIOD;
        std::mem::take(&mut self.batch).write_to(&mut self.store);
        if self.memory.check(&self.node, self.peers.len()) {
            tracing::debug!("tables shrank: free memory returned to the OS");
        }
    }
}
