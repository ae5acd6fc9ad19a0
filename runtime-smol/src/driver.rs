//! The driver task: owns the core [`Node`], the connections and the store, and turns commands,
//! socket events and timers into inputs and the node's outputs into actions.

use std::collections::BTreeMap;
use std::time::Duration;

use async_channel::{Receiver, Sender};
use futures_lite::future;
use micelio_core::node::{CommandError, ConnId, DialId, Input, Node, Output};
use micelio_core::time::Instant;
use micelio_platform::clock::Clock;
use micelio_platform::memory::MemoryReleaser;
use micelio_platform::persist::{PERSIST_PERIOD, PersistBatch};
use micelio_platform::store::Store;
use smol::net::TcpListener;
use smol::{Task, Timer};

use crate::conn::{Conn, WriteState};
use crate::events::EventSender;
use crate::handle::Command;
use crate::net::{self, NetEvent};
use crate::watch::Watchers;

/// Time the driver gives its connections to write out their queues at shutdown (leaving room
/// within the handle's 5 s limit for the store).
const CLOSE_LIMIT: Duration = Duration::from_secs(3);
/// Time a connection closed by the node (not at shutdown) gets to write out its queue.
const LINGER_LIMIT: Duration = Duration::from_secs(5);

/// What woke the driver.
enum Wake {
    Command(Option<Command>),
    Net(NetEvent),
    Stop,
    Timer,
}

/// What the driver waits on (borrowed apart from the driver, whose store is not `Sync`).
struct Sources<'a> {
    /// `None` while commands are held back.
    commands: Option<&'a Receiver<Command>>,
    stop: &'a Receiver<()>,
    net: &'a Receiver<NetEvent>,
}

impl Sources<'_> {
    /// Waits for the next command, socket event, stop request or `wake_at`.
    async fn wait(self, wake_at: std::time::Instant) -> Wake {
        let commands = async {
            match self.commands {
                Some(commands) => Wake::Command(commands.recv().await.ok()),
                None => future::pending().await,
            }
        };
        let net = async {
            match self.net.recv().await {
                Ok(event) => Wake::Net(event),
                // The driver holds a sender: never closed.
                Err(_) => future::pending().await,
            }
        };
        let stop = async {
            let _ = self.stop.recv().await;
            Wake::Stop
        };
        let timer = async {
            Timer::at(wake_at).await;
            Wake::Timer
        };
        future::or(stop, future::race(future::race(commands, net), timer)).await
    }
}

/// The channels the driver listens on and answers through.
pub(crate) struct Channels {
    pub(crate) commands: Receiver<Command>,
    pub(crate) stop: Receiver<()>,
    pub(crate) events: EventSender,
    /// Dropped when the driver has finished (the handles wait for that).
    pub(crate) done: Sender<()>,
}

/// The state the driver task owns.
pub(crate) struct Driver {
    node: Node,
    clock: Clock,
    store: Option<Store>,
    batch: PersistBatch,
    next_persist: Instant,
    conns: BTreeMap<ConnId, Conn>,
    /// Returns free memory to the OS once the tables shrink (checked with each store flush).
    memory: MemoryReleaser,
    dials: BTreeMap<DialId, Task<()>>,
    next_conn: u64,
    net_tx: Sender<NetEvent>,
    net_rx: Receiver<NetEvent>,
    listener: Option<Task<()>>,
    channels: Channels,
    /// Streams of the shared map's changes.
    watchers: Watchers,
    /// Connection closes to wait for at shutdown.
    closing: Option<Vec<Task<()>>>,
}

impl Driver {
    /// A driver for `node`, accepting on `listener` if there is one.
    pub(crate) fn new(
        node: Node,
        clock: Clock,
        store: Store,
        listener: Option<TcpListener>,
        channels: Channels,
    ) -> Driver {
        let (net_tx, net_rx) = async_channel::bounded(net::NET_CAPACITY);
        let listener = listener.map(|l| smol::spawn(net::accept_loop(l, net_tx.clone())));
        Driver {
            next_persist: clock.now() + PERSIST_PERIOD,
            node,
            clock,
            store: Some(store),
            batch: PersistBatch::default(),
            conns: BTreeMap::new(),
            memory: MemoryReleaser::default(),
            dials: BTreeMap::new(),
            next_conn: 1,
            net_tx,
            net_rx,
            listener,
            channels,
            watchers: Watchers::default(),
            closing: None,
        }
    }

    /// Runs until a stop request or until every handle is gone, then shuts down cleanly.
    pub(crate) async fn run(mut self) {
        self.node.handle_input(self.clock.now(), Input::Timeout);
        loop {
            let next = self.process_outputs();
            let wake_at = next.map_or(self.next_persist, |n| n.min(self.next_persist));
            // Commands are held back while any connection is write-blocked, so an acknowledged
            // broadcast is never dropped by the core's bounded per-connection queue.
            let hold_commands = self.conns.values().any(|c| c.blocked_since.is_some());
            let sources = Sources {
                commands: (!hold_commands).then_some(&self.channels.commands),
                stop: &self.channels.stop,
                net: &self.net_rx,
            };
            match sources.wait(self.clock.to_std(wake_at)).await {
                Wake::Command(Some(command)) => self.command(command),
                Wake::Command(None) | Wake::Stop => break,
                Wake::Net(event) => self.net_event(event),
                Wake::Timer => {}
            }
            let now = self.clock.now();
            self.node.handle_input(now, Input::Timeout);
            if now >= self.next_persist {
                self.process_outputs();
                self.flush_store().await;
            }
        }
        self.shutdown().await;
    }

    fn command(&mut self, command: Command) {
        let now = self.clock.now();
        match command {
            Command::Chat { nick, text, reply } => {
                let result = self.node.broadcast_chat(now, &nick, &text);
                // The frames reach the writers before the caller hears of it.
                self.process_outputs();
                let _ = reply.try_send(result);
            }
            Command::Broadcast {
                msg_type,
                payload,
                reply,
            } => {
                let result = self.node.broadcast(now, msg_type, payload);
                self.process_outputs();
                let _ = reply.try_send(result);
            }
            Command::Peers { reply } => {
                let _ = reply.try_send(self.node.peers());
            }
            Command::StateWrite { key, value, reply } => {
                let result = match value {
                    Some(value) => self.node.state_set(now, &key, value),
                    None => self.node.state_delete(now, &key),
                };
                self.process_outputs();
                let _ = reply.try_send(result);
            }
            Command::StateGet { key, reply } => {
                let _ = reply.try_send(self.node.state_get(&key).map(<[u8]>::to_vec));
            }
            Command::StateKeys { prefix, reply } => {
                let keys = self.node.state().keys(&prefix);
                let _ = reply.try_send(keys.into_iter().map(str::to_owned).collect());
            }
            Command::Watch { prefix, reply } => {
                let _ = reply.try_send(self.watchers.add(prefix));
            }
        }
    }

    fn net_event(&mut self, event: NetEvent) {
        let now = self.clock.now();
        match event {
            NetEvent::Accepted { stream, remote } => {
                let conn = self.new_conn(stream);
                let remote = remote.to_string();
                self.node.handle_input(
                    now,
                    Input::Accepted {
                        conn,
                        remote_addr: &remote,
                    },
                );
            }
            NetEvent::Dialed { dial, stream } => {
                self.dials.remove(&dial);
                match stream {
                    Some(stream) => {
                        let conn = self.new_conn(stream);
                        self.node.handle_input(now, Input::Connected { dial, conn });
                    }
                    None => self.node.handle_input(now, Input::DialFailed { dial }),
                }
            }
            NetEvent::Data { conn, data } => {
                if self.conns.contains_key(&conn) {
                    self.node
                        .handle_input(now, Input::Received { conn, data: &data });
                }
            }
            NetEvent::Closed { conn } => {
                // Dropping the record cancels its reader and writer.
                if self.conns.remove(&conn).is_some() {
                    self.node.handle_input(now, Input::Closed { conn });
                }
            }
            NetEvent::Drained { conn } => self.refill(conn),
        }
    }

    fn new_conn(&mut self, stream: smol::net::TcpStream) -> ConnId {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        self.conns
            .insert(conn, Conn::spawn(conn, stream, &self.net_tx));
        conn
    }

    /// Carries out the node's outputs; returns when it must be woken next.
    fn process_outputs(&mut self) -> Option<Instant> {
        loop {
            match self.node.poll_output() {
                Output::Transmit { conn, data } => {
                    let Some(c) = self.conns.get_mut(&conn) else {
                        continue;
                    };
                    if c.transmit(data) == WriteState::Blocked && c.blocked_since.is_none() {
                        let now = self.clock.now();
                        c.blocked_since = Some(now);
                        let since = Some(now);
                        self.node
                            .handle_input(now, Input::WriteBlocked { conn, since });
                    }
                }
                Output::Dial { dial, addr } => {
                    let task = smol::spawn(net::dial(dial, addr, self.net_tx.clone()));
                    self.dials.insert(dial, task);
                }
                Output::Close { conn } => {
                    if let Some(c) = self.conns.remove(&conn) {
                        match self.closing.as_mut() {
                            Some(closing) => closing.push(c.close(CLOSE_LIMIT)),
                            None => c.close(LINGER_LIMIT).detach(),
                        }
                    }
                }
                Output::PersistPeer(record) => self.batch.save(record),
                Output::ForgetPeer(id) => self.batch.forget(id),
                Output::PersistState { key, envelope } => self.batch.save_state(key, envelope),
                Output::ForgetState(key) => self.batch.forget_state(key),
                Output::PersistClock(time) => self.batch.save_clock(time),
                Output::Event(event) => {
                    self.watchers.notify(&event);
                    self.channels.events.push(event);
                }
                Output::Timeout(at) => return at,
            }
        }
    }

    /// A writer has room again: hand it the held-back frames, and tell the core once none are
    /// left.
    fn refill(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.refill() == WriteState::Flowing && c.blocked_since.take().is_some() {
            self.node
                .handle_input(self.clock.now(), Input::WriteBlocked { conn, since: None });
        }
    }

    /// Writes the batched peer records on a blocking thread.
    async fn flush_store(&mut self) {
        self.next_persist = self.clock.now() + PERSIST_PERIOD;
        if self.memory.check(&self.node, self.conns.len()) {
            tracing::debug!("tables shrank: free memory returned to the OS");
        }
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        if let Some(mut store) = self.store.take() {
            let store = smol::unblock(move || {
                batch.write_to(&mut store);
                store
            })
            .await;
            self.store = Some(store);
        }
    }

    /// Closes every connection (writing out what was queued), writes the peer table, closes
    /// the store and returns.
    async fn shutdown(mut self) {
        tracing::info!("shutting down");
        self.listener = None;
        self.dials.clear();
        self.closing = Some(Vec::new());
        self.node.shutdown(self.clock.now());
        self.process_outputs();
        // Connections the node did not close (none expected) close too.
        let rest: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in rest {
            if let Some(c) = self.conns.remove(&conn) {
                if let Some(closing) = self.closing.as_mut() {
                    closing.push(c.close(CLOSE_LIMIT));
                }
            }
        }
        // The socket tasks must not wait on a driver that no longer reads.
        self.net_rx.close();
        for task in self.closing.take().unwrap_or_default() {
            task.await;
        }
        self.flush_store().await;
        if let Some(store) = self.store.take() {
            let closed = smol::unblock(move || store.close()).await;
            if let Err(error) = closed {
                tracing::error!(%error, "closing store");
            }
        }
        tracing::info!("stopped");
        let Channels {
            commands,
            events,
            done,
            ..
        } = self.channels;
        // Commands still queued are refused; closing first makes later sends fail at once
        // (a queued command would otherwise keep its caller waiting for as long as any handle
        // lives).
        commands.close();
        while let Ok(command) = commands.try_recv() {
            refuse(command);
        }
        // The event stream ends, then the waiting handles learn of the end.
        drop(events);
        drop(done);
    }
}

/// Answers a command the stopped node will not carry out.
fn refuse(command: Command) {
    match command {
        Command::Chat { reply, .. } | Command::Broadcast { reply, .. } => {
            let _ = reply.try_send(Err(CommandError::ShutDown));
        }
        Command::Peers { reply } => {
            let _ = reply.try_send(Vec::new());
        }
        Command::StateWrite { reply, .. } => {
            let _ = reply.try_send(Err(CommandError::ShutDown));
        }
        // Dropping the reply senders answers `None` / empty.
        Command::StateGet { .. } | Command::StateKeys { .. } | Command::Watch { .. } => {}
    }
}
