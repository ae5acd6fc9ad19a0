//! The sans-IO core driven by a hand-written loop over blocking `std::net` sockets and threads:
//! no mio, no smol. It shows everything an integrator feeds in and polls out.
//!
//! ```text
//! cargo run -p micelio-examples --bin threads-chat -- bob 127.0.0.1:7002 127.0.0.1:7000
//! ```
//! Arguments: a nick, the address to listen on (`-` for none), then bootstrap addresses. Lines
//! typed on stdin are broadcast; chat from the mesh is printed as `<nick> text`.
//!
//! The whole contract with the core, as this loop implements it:
//!
//! - **Time** is a value: `Instant` counts nanoseconds from a start the loop chooses.
//! - **Inputs**: `Input::Accepted` / `Connected` / `DialFailed` for sockets, `Received` for
//!   bytes, `Closed` at end of stream, `WriteBlocked` when a socket stops taking data,
//!   `Timeout` when the instant the node asked for is reached. Commands (`broadcast_chat`,
//!   `shutdown`) are method calls.
//! - **Outputs**: after every input or command, `poll_output` until `Output::Timeout`;
//!   `Transmit` bytes go to the socket in order, `Dial` opens one, `Close` ends one,
//!   `PersistPeer`/`ForgetPeer` would go to storage (this example keeps none), `Event` goes to
//!   the user.
//!
//! Threads: one accepts, one reads stdin, one reads and one writes per connection, one per dial.
//! They all report to the loop through one bounded channel; socket readers block when it is
//! full, which lets TCP slow the peer down.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use micelio_core::identity::Identity;
use micelio_core::node::{ConnId, DialId, Input, Node, NodeConfig, NodeEvent, Output};
use micelio_core::time::Instant;
use rand_core::{OsRng, RngCore};

/// What the threads report to the loop.
enum Report {
    Accepted(TcpStream, String),
    Connected(DialId, TcpStream),
    DialFailed(DialId),
    Received(ConnId, Vec<u8>),
    Closed(ConnId),
    Line(String),
    EndOfInput,
}

/// Frames one connection's writer thread may hold before the loop reports it write-blocked.
const WRITER_QUEUE: usize = 128;
/// How often the loop retries frames held for a write-blocked connection.
const RETRY: Duration = Duration::from_millis(50);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (nick, listen) = match args.as_slice() {
        [nick, listen, ..] => (nick.clone(), listen.clone()),
        _ => return Err("usage: threads-chat <nick> <listen-addr|-> [bootstrap-addr...]".into()),
    };
    let (reports_tx, reports) = sync_channel::<Report>(1024);

    let mut config = NodeConfig {
        bootstrap: args[2..].to_vec(),
        ..NodeConfig::default()
    };
    if listen != "-" {
        let listener = TcpListener::bind(&listen)?;
        config.advertised_addr = listener.local_addr()?.to_string();
        let tx = reports_tx.clone();
        std::thread::spawn(move || accept_loop(listener, tx));
    } else {
        config.listening = false;
    }

    // Identity and randomness come from the caller: here, fresh from the OS each run.
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    let identity = Identity::from_seed(&seed);
    OsRng.fill_bytes(&mut seed);
    let origin = std::time::Instant::now();
    let now =
        || Instant::from_nanos(u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX));
    let unix_now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let mut node = Node::new(config, identity, seed, now(), i64::try_from(unix_now)?);
    println!("node {} listening on {listen}", node.node_id());

    let stdin_tx = reports_tx.clone();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if stdin_tx.send(Report::Line(line)).is_err() {
                return;
            }
        }
        let _ = stdin_tx.send(Report::EndOfInput);
    });

    let mut event_loop = Loop {
        reports_tx,
        writers: HashMap::new(),
        held: HashMap::new(),
        writer_threads: Vec::new(),
        next_conn: 0,
    };
    // `None`: the node has shut down and said all it had to say.
    while let Some(at) = event_loop.drain(&mut node, now()) {
        let wait = Duration::from_nanos(at.as_nanos().saturating_sub(now().as_nanos()));
        let wait = if event_loop.held.is_empty() {
            wait
        } else {
            wait.min(RETRY)
        };
        match reports.recv_timeout(wait) {
            Ok(report) => event_loop.handle(&mut node, now(), report, &nick),
            Err(RecvTimeoutError::Timeout) => node.handle_input(now(), Input::Timeout),
            Err(RecvTimeoutError::Disconnected) => break,
        }
        event_loop.retry_held(&mut node, now());
    }
    // Dropping the writer queues lets each writer thread flush what it holds and close.
    event_loop.writers.clear();
    for writer in event_loop.writer_threads {
        let _ = writer.join();
    }
    Ok(())
}

/// The loop's bookkeeping: one bounded writer queue per connection.
struct Loop {
    reports_tx: SyncSender<Report>,
    writers: HashMap<ConnId, SyncSender<Vec<u8>>>,
    /// Frames for connections whose writer queue was full, oldest first.
    held: HashMap<ConnId, VecDeque<Vec<u8>>>,
    /// Writer threads still running (they outlive `Output::Close` until flushed).
    writer_threads: Vec<JoinHandle<()>>,
    next_conn: u64,
}

impl Loop {
    /// Feeds one report to the node.
    fn handle(&mut self, node: &mut Node, now: Instant, report: Report, nick: &str) {
        match report {
            Report::Accepted(stream, remote) => {
                let conn = self.register(stream);
                node.handle_input(
                    now,
                    Input::Accepted {
                        conn,
                        remote_addr: &remote,
                    },
                );
            }
            Report::Connected(dial, stream) => {
                let conn = self.register(stream);
                node.handle_input(now, Input::Connected { dial, conn });
            }
            Report::DialFailed(dial) => node.handle_input(now, Input::DialFailed { dial }),
            // Bytes or an end for a connection the node already closed are not expected.
            Report::Received(conn, data) if self.writers.contains_key(&conn) => {
                node.handle_input(now, Input::Received { conn, data: &data });
            }
            Report::Closed(conn) if self.writers.remove(&conn).is_some() => {
                self.held.remove(&conn);
                node.handle_input(now, Input::Closed { conn });
            }
            Report::Received(..) | Report::Closed(_) => {}
            Report::Line(line) if !line.trim().is_empty() => {
                if let Err(error) = node.broadcast_chat(now, nick, &line) {
                    eprintln!("not sent: {error}");
                }
            }
            Report::Line(_) => {}
            Report::EndOfInput => node.shutdown(now),
        }
    }

    /// Polls the node until it names its next deadline, carrying out every output.
    fn drain(&mut self, node: &mut Node, now: Instant) -> Option<Instant> {
        loop {
            match node.poll_output() {
                Output::Transmit { conn, data } => self.transmit(node, now, conn, data),
                Output::Dial { dial, addr } => {
                    let tx = self.reports_tx.clone();
                    std::thread::spawn(move || dial_thread(dial, &addr, &tx));
                }
                Output::Close { conn } => {
                    self.writers.remove(&conn);
                    self.held.remove(&conn);
                }
                // This example keeps nothing on disk.
                Output::PersistPeer(_)
                | Output::ForgetPeer(_)
                | Output::PersistState { .. }
                | Output::ForgetState(_)
                | Output::PersistClock(_) => {}
                Output::Event(event) => show(&event),
                Output::Timeout(deadline) => return deadline,
            }
        }
    }

    /// Queues bytes for a connection's writer; a full queue makes the connection write-blocked.
    fn transmit(&mut self, node: &mut Node, now: Instant, conn: ConnId, data: Vec<u8>) {
        if let Some(held) = self.held.get_mut(&conn) {
            held.push_back(data); // keep the order behind what is already held
            return;
        }
        let Some(writer) = self.writers.get(&conn) else {
            return;
        };
        match writer.try_send(data) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(data)) => {
                self.held.insert(conn, VecDeque::from([data]));
                // The core keeps further frames in its own bounded queue and closes the
                // connection if it stays blocked for 10 s.
                node.handle_input(
                    now,
                    Input::WriteBlocked {
                        conn,
                        since: Some(now),
                    },
                );
            }
        }
    }

    /// Moves held frames into writer queues that have room again.
    fn retry_held(&mut self, node: &mut Node, now: Instant) {
        let conns: Vec<ConnId> = self.held.keys().copied().collect();
        for conn in conns {
            let (Some(writer), Some(held)) = (self.writers.get(&conn), self.held.get_mut(&conn))
            else {
                continue;
            };
            while let Some(data) = held.pop_front() {
                if let Err(TrySendError::Full(data)) = writer.try_send(data) {
                    held.push_front(data);
                    break;
                }
            }
            if held.is_empty() {
                self.held.remove(&conn);
                node.handle_input(now, Input::WriteBlocked { conn, since: None });
            }
        }
    }

    /// Names a new socket and starts its reader and writer threads.
    fn register(&mut self, stream: TcpStream) -> ConnId {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        let (writer_tx, writer_rx) = sync_channel(WRITER_QUEUE);
        if let Ok(read_half) = stream.try_clone() {
            let tx = self.reports_tx.clone();
            std::thread::spawn(move || read_loop(conn, read_half, &tx));
        }
        // A peer that stops reading cannot hold a writer thread forever.
        let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
        self.writer_threads.retain(|writer| !writer.is_finished());
        self.writer_threads
            .push(std::thread::spawn(move || write_loop(stream, &writer_rx)));
        self.writers.insert(conn, writer_tx);
        conn
    }
}

fn show(event: &NodeEvent) {
    // Nicks and lines are chosen by peers: drop control characters before printing.
    let clean = |s: &str| s.chars().filter(|c| !c.is_control()).collect::<String>();
    match event {
        NodeEvent::Chat { nick, text, .. } => println!("<{}> {}", clean(nick), clean(text)),
        NodeEvent::PeerUp { node_id, .. } => println!("* {node_id} joined"),
        NodeEvent::PeerDown { node_id, .. } => println!("* {node_id} left"),
        NodeEvent::Message { .. } | NodeEvent::StateChanged { .. } => {}
    }
}

fn accept_loop(listener: TcpListener, tx: SyncSender<Report>) {
    for stream in listener.incoming().map_while(Result::ok) {
        let remote = stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        if tx.send(Report::Accepted(stream, remote)).is_err() {
            return;
        }
    }
}

fn dial_thread(dial: DialId, addr: &str, tx: &SyncSender<Report>) {
    let connected = addr.to_socket_addrs().ok().and_then(|mut addrs| {
        addrs.find_map(|a| TcpStream::connect_timeout(&a, Duration::from_secs(10)).ok())
    });
    let _ = tx.send(match connected {
        Some(stream) => Report::Connected(dial, stream),
        None => Report::DialFailed(dial),
    });
}

fn read_loop(conn: ConnId, mut stream: TcpStream, tx: &SyncSender<Report>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if tx.send(Report::Received(conn, buf[..n].to_vec())).is_err() {
                    return;
                }
            }
        }
    }
    let _ = tx.send(Report::Closed(conn));
}

fn write_loop(mut stream: TcpStream, frames: &Receiver<Vec<u8>>) {
    // Ends when the loop drops the queue (Output::Close) after writing what it holds.
    for data in frames {
        if stream.write_all(&data).is_err() {
            break;
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}
