//! The SSH partyline server (NODE.md §5): its own thread with a tokio current-thread runtime,
//! talking to the mio loop only through channels and the loop's waker.
//!
//! ```text
//!  SSH client ──► accept ─► connection task (russh session + ConnectionHandler)
//!                               │ shell
//!                               ▼
//!                          session task (LineEditor) ──SshEvent──► loop (Hub) ─┐
//!                               ▲                                              │
//!                               └────────────── SessionOutput ◄────────────────┘
//! ```
//!
//! * [`SshServer::start`] takes an already bound listener (so a bind failure is a start-up
//!   error, `fatal: ssh`), the node's Ed25519 seed (the host key) and the authorized keys.
//! * The loop drains [`SshServer::poll_event`] when woken, and calls [`SshServer::shutdown`] on
//!   SIGINT/SIGTERM: the server stops accepting, waits for the session tasks to finish (the loop
//!   ends every session, so the remaining users see the leave notices), disconnects every client
//!   and waits for the connections to close, all within [`DRAIN_TIMEOUT`] (WARN `timeout waiting
//!   for SSH connections to drain` otherwise), then reports [`SshEvent::Stopped`].

pub mod authorized_keys;
pub mod handler;
pub mod link;
pub mod session;
pub mod tracker;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use russh::keys::PrivateKey;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::server::Config;
use russh::{Disconnect, MethodKind, MethodSet};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

pub use authorized_keys::AuthorizedKeys;
pub use link::{Phase, ResumeFlag, SessionKey, SessionOutput, SshEvent};

use handler::{ConnectionHandler, Shared};
use link::{EVENT_SLOTS, LoopLink};
use tracker::{TaskToken, Tracker};

/// How long the shutdown waits for sessions and connections to finish (NODE.md §7).
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Pause after a failed `accept` (such as too many open files) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How long a client has from connecting to being authenticated (OpenSSH's `LoginGraceTime`).
const LOGIN_GRACE: Duration = Duration::from_secs(120);

/// How often an idle client is asked whether it is still there.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);

/// The running SSH server, as the loop sees it.
#[derive(Debug)]
pub struct SshServer {
    events: mpsc::Receiver<SshEvent>,
    phase: watch::Sender<Phase>,
    thread: Option<JoinHandle<()>>,
    stopped: bool,
}

impl SshServer {
    /// Starts serving `listener` on a new thread. `host_seed` is the node's Ed25519 seed (the
    /// host key); `waker` wakes the loop whenever an event is queued.
    pub fn start(
        listener: std::net::TcpListener,
        host_seed: &[u8; 32],
        authorized: AuthorizedKeys,
        waker: mio::Waker,
    ) -> io::Result<Self> {
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let config = Arc::new(server_config(host_seed));
        let (events_tx, events) = mpsc::channel(EVENT_SLOTS);
        let (phase, phase_rx) = watch::channel(Phase::Running);
        let shared = Arc::new(Shared {
            authorized,
            link: LoopLink::new(events_tx, Arc::new(waker)),
            sessions: Tracker::default(),
            next_key: AtomicU64::new(1),
        });
        let thread = std::thread::Builder::new()
            .name("ssh".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match TcpListener::from_std(listener) {
                        Ok(listener) => serve(listener, config, shared, phase_rx).await,
                        Err(error) => {
                            tracing::error!(%error, component = "ssh", "accept error");
                            shared.link.send(SshEvent::Stopped).await;
                        }
                    }
                });
            })?;
        Ok(SshServer {
            events,
            phase,
            thread: Some(thread),
            stopped: false,
        })
    }

    /// The next event from the SSH thread, without waiting. Reports [`SshEvent::Stopped`] once
    /// if the thread went away without saying so.
    pub fn poll_event(&mut self) -> Option<SshEvent> {
        if self.stopped {
            return None;
        }
        match self.events.try_recv() {
            Ok(SshEvent::Stopped) | Err(mpsc::error::TryRecvError::Disconnected) => {
                self.stopped = true;
                Some(SshEvent::Stopped)
            }
            Ok(event) => Some(event),
            Err(mpsc::error::TryRecvError::Empty) => None,
        }
    }

    /// Starts the shutdown (idempotent): stop accepting, drain, disconnect, report `Stopped`.
    pub fn shutdown(&self) {
        self.phase.send_replace(Phase::Draining);
    }

    /// Whether [`SshEvent::Stopped`] was reported.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// A server without a thread, for tests of the loop side: events are injected with the
    /// returned sender, and the phase set by the loop can be read from the receiver.
    #[cfg(test)]
    pub(crate) fn detached() -> (Self, mpsc::Sender<SshEvent>, watch::Receiver<Phase>) {
        let (events_tx, events) = mpsc::channel(EVENT_SLOTS);
        let (phase, phase_rx) = watch::channel(Phase::Running);
        let server = SshServer {
            events,
            phase,
            thread: None,
            stopped: false,
        };
        (server, events_tx, phase_rx)
    }

    /// Waits for the thread to end if it reported `Stopped` (otherwise it is left behind).
    pub fn join(mut self) {
        if let Some(thread) = self.thread.take() {
            if self.stopped && thread.join().is_err() {
                tracing::error!(component = "ssh", "SSH thread panicked");
            }
        }
    }
}

/// The russh configuration: the Ed25519 host key, public-key authentication only, no idle
/// timeout (partyline users may stay silent for hours) but keepalives to notice dead clients.
fn server_config(host_seed: &[u8; 32]) -> Config {
    let host_key = PrivateKey::from(Ed25519Keypair::from_seed(host_seed));
    Config {
        methods: MethodSet::from(&[MethodKind::PublicKey][..]),
        keys: vec![host_key],
        auth_rejection_time: Duration::from_millis(200),
        auth_rejection_time_initial: Some(Duration::ZERO),
        inactivity_timeout: None,
        keepalive_interval: Some(KEEPALIVE_INTERVAL),
        keepalive_max: 3,
        nodelay: true,
        ..Config::default()
    }
}

/// The SSH thread's main task: accept until the shutdown, then drain.
async fn serve(
    listener: TcpListener,
    config: Arc<Config>,
    shared: Arc<Shared>,
    mut phase: watch::Receiver<Phase>,
) {
    let connections = Tracker::default();
    let (disconnect, disconnect_rx) = watch::channel(false);
    loop {
        tokio::select! {
            _ = draining(&mut phase) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve_connection(
                        stream,
                        remote,
                        Arc::clone(&config),
                        Arc::clone(&shared),
                        disconnect_rx.clone(),
                        connections.token(),
                    ));
                }
                Err(error) => {
                    tracing::warn!(%error, component = "ssh", "accept error");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
    drop(listener);
    let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
    let sessions_done = tokio::time::timeout_at(deadline, shared.sessions.wait_idle())
        .await
        .is_ok();
    disconnect.send_replace(true);
    let connections_done = tokio::time::timeout_at(deadline, connections.wait_idle())
        .await
        .is_ok();
    if !(sessions_done && connections_done) {
        tracing::warn!(
            component = "ssh",
            "timeout waiting for SSH connections to drain"
        );
    }
    shared.link.send(SshEvent::Stopped).await;
}

/// One client connection: SSH handshake, then the russh session until it ends, the shutdown
/// disconnects it, or the client has not authenticated within [`LOGIN_GRACE`]. Logs `handshake
/// failed` when the client never authenticated.
async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    config: Arc<Config>,
    shared: Arc<Shared>,
    mut disconnect: watch::Receiver<bool>,
    _token: TaskToken,
) {
    let authenticated = Arc::new(AtomicBool::new(false));
    let handler = ConnectionHandler::new(shared, remote, Arc::clone(&authenticated));
    let login_deadline = tokio::time::Instant::now() + LOGIN_GRACE;
    let started = tokio::select! {
        started = russh::server::run_stream(config, stream, handler) => started,
        _ = tokio::time::sleep_until(login_deadline) => {
            tracing::warn!(%remote, err = "no SSH identification", component = "ssh", "handshake failed");
            return;
        }
        _ = raised(&mut disconnect) => return,
    };
    let mut running = match started {
        Ok(running) => running,
        Err(error) => {
            tracing::warn!(%remote, err = %error, component = "ssh", "handshake failed");
            return;
        }
    };
    let handle = running.handle();
    let mut grace_over = false;
    let result = loop {
        let reason = tokio::select! {
            result = &mut running => break result,
            _ = raised(&mut disconnect) => "server shutting down",
            _ = tokio::time::sleep_until(login_deadline), if !grace_over => {
                grace_over = true;
                if authenticated.load(Ordering::SeqCst) {
                    continue;
                }
                "authentication timeout"
            }
        };
        let _ = handle
            .disconnect(Disconnect::ByApplication, reason.into(), String::new())
            .await;
        break (&mut running).await;
    };
    if !authenticated.load(Ordering::SeqCst) {
        let err = match result {
            Err(error) => error.to_string(),
            Ok(()) if grace_over => "authentication timeout".to_string(),
            Ok(()) => "connection closed before authentication".to_string(),
        };
        tracing::warn!(%remote, %err, component = "ssh", "handshake failed");
    } else if let Err(error) = result {
        tracing::debug!(%remote, %error, component = "ssh", "connection ended");
    }
}

/// Returns once the phase is [`Phase::Draining`] or the loop has gone away.
async fn draining(phase: &mut watch::Receiver<Phase>) {
    let _ = phase.wait_for(|p| *p == Phase::Draining).await;
}

/// Returns once `flag` is raised or its sender has gone away.
async fn raised(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|raised| *raised).await;
}
