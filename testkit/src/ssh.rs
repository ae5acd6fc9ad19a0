//! An SSH partyline client for the integration tests, on russh's client API: keys, the
//! `authorized_keys` file, and [`SshSession`], a shell session driven from synchronous test code.

use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rand_core::{OsRng, RngCore};
use russh::client::{self, Handle};
pub use russh::keys::PrivateKey;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{ChannelMsg, Disconnect};
use tokio::sync::mpsc;

/// How long connecting, authenticating and starting the shell may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A fresh Ed25519 client key.
pub fn new_key() -> PrivateKey {
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    PrivateKey::from(Ed25519Keypair::from_seed(&seed))
}

/// The OpenSSH public-key line of `key`.
pub fn public_line(key: &PrivateKey) -> String {
    key.public_key().to_openssh().expect("encode public key")
}

/// Writes `<data_dir>/authorized_keys` with `text`.
pub fn write_authorized_keys(data_dir: &Path, text: &str) {
    std::fs::write(data_dir.join("authorized_keys"), text).expect("write authorized_keys");
}

/// The node's host key as published in `<data_dir>/identity/node.pub`.
pub fn node_host_key(data_dir: &Path) -> PublicKey {
    let line = std::fs::read_to_string(data_dir.join("identity/node.pub")).expect("node.pub");
    PublicKey::from_openssh(line.trim()).expect("node.pub parses")
}

/// Runs `future` to completion on a new current-thread runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

/// Accepts the server key if it is the expected one (or any key when none is expected).
pub struct ClientHandler {
    /// The host key the server must present.
    pub expected: Option<PublicKey>,
}

impl client::Handler for ClientHandler {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(match (&self.expected, server_public_key) {
            (None, _) => true,
            (Some(expected), PublicKeyOrCertificate::PublicKey { key, .. }) => key == expected,
            (Some(_), PublicKeyOrCertificate::Certificate(_)) => false,
        })
    }
}

/// Connects to `addr` and authenticates `user` with `key`; `Err` with a description if the
/// connection or the authentication fails.
pub async fn connect(
    addr: &str,
    user: &str,
    key: &PrivateKey,
    expected_host: Option<PublicKey>,
) -> Result<Handle<ClientHandler>, String> {
    let config = client::Config {
        nodelay: true,
        ..client::Config::default()
    };
    connect_with(config, addr, user, key, expected_host).await
}

/// [`connect`] with a client configuration of the caller's.
pub async fn connect_with(
    config: client::Config,
    addr: &str,
    user: &str,
    key: &PrivateKey,
    expected_host: Option<PublicKey>,
) -> Result<Handle<ClientHandler>, String> {
    let config = Arc::new(config);
    let handler = ClientHandler {
        expected: expected_host,
    };
    let mut handle = client::connect(config, addr, handler)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let key = PrivateKeyWithHashAlg::new(Arc::new(key.clone()), None);
    let auth = handle
        .authenticate_publickey(user, key)
        .await
        .map_err(|e| format!("authenticate: {e}"))?;
    if !auth.success() {
        return Err("authentication refused".into());
    }
    Ok(handle)
}

enum Command {
    Send(Vec<u8>),
    Disconnect,
}

/// One interactive session (pty + shell) on its own connection and thread. Everything the
/// server sends is collected; [`SshSession::screen_lines`] turns it into what a terminal shows.
pub struct SshSession {
    received: Arc<Mutex<Vec<u8>>>,
    closed: Arc<AtomicBool>,
    commands: mpsc::UnboundedSender<Command>,
    thread: Option<JoinHandle<()>>,
}

impl SshSession {
    /// Logs in as `user` with `key` and starts a shell; `Err` if that fails.
    pub fn connect(addr: &str, user: &str, key: &PrivateKey) -> Result<SshSession, String> {
        let received = Arc::new(Mutex::new(Vec::new()));
        let closed = Arc::new(AtomicBool::new(false));
        let (commands, mut command_rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (addr, user, key) = (addr.to_string(), user.to_string(), key.clone());
        let sink = Arc::clone(&received);
        let closed_flag = Arc::clone(&closed);
        let thread = std::thread::spawn(move || {
            block_on(async move {
                let started = async {
                    let handle = connect(&addr, &user, &key, None).await?;
                    let channel = handle
                        .channel_open_session()
                        .await
                        .map_err(|e| format!("open session: {e}"))?;
                    channel
                        .request_pty(true, "xterm", 80, 24, 0, 0, &[])
                        .await
                        .map_err(|e| format!("pty-req: {e}"))?;
                    channel
                        .request_shell(true)
                        .await
                        .map_err(|e| format!("shell: {e}"))?;
                    Ok::<_, String>((handle, channel))
                };
                let (handle, mut channel) = match started.await {
                    Ok(started) => {
                        let _ = ready_tx.send(Ok(()));
                        started
                    }
                    Err(error) => {
                        let _ = ready_tx.send(Err(error));
                        return;
                    }
                };
                loop {
                    tokio::select! {
                        msg = channel.wait() => match msg {
                            Some(ChannelMsg::Data { data }) => {
                                sink.lock().unwrap().extend_from_slice(&data);
                            }
                            Some(ChannelMsg::Close) | None => break,
                            Some(_) => {}
                        },
                        command = command_rx.recv() => match command {
                            Some(Command::Send(bytes)) => {
                                let _ = channel.data(&bytes[..]).await;
                            }
                            Some(Command::Disconnect) | None => {
                                let _ = handle
                                    .disconnect(Disconnect::ByApplication, "", "")
                                    .await;
                                break;
                            }
                        },
                    }
                }
                closed_flag.store(true, Ordering::SeqCst);
            });
        });
        match ready_rx.recv_timeout(CONNECT_TIMEOUT) {
            Ok(Ok(())) => Ok(SshSession {
                received,
                closed,
                commands,
                thread: Some(thread),
            }),
            Ok(Err(error)) => Err(error),
            Err(_) => Err("timed out starting the session".into()),
        }
    }

    /// Sends raw bytes (key presses).
    pub fn send(&self, bytes: &[u8]) {
        let _ = self.commands.send(Command::Send(bytes.to_vec()));
    }

    /// Types `text` and Enter.
    pub fn type_line(&self, text: &str) {
        self.send(format!("{text}\r").as_bytes());
    }

    /// Everything received so far.
    pub fn raw(&self) -> Vec<u8> {
        self.received.lock().unwrap().clone()
    }

    /// The received output as a terminal shows it, one entry per line: lines end with CR LF;
    /// within a line, CSI sequences are removed and only what follows the last CR remains (the
    /// editor clears its prompt line with CR + erase before printing a message over it). The
    /// last entry is the line being typed (the prompt).
    pub fn screen_lines(&self) -> Vec<String> {
        screen_lines(&self.raw())
    }

    /// Waits until a screen line equals `line` exactly.
    pub fn wait_line(&self, line: &str, timeout: Duration) -> bool {
        self.wait(timeout, |s| s.screen_lines().iter().any(|l| l == line))
    }

    /// Waits until the screen lines contain `lines` consecutively.
    pub fn wait_block(&self, lines: &[&str], timeout: Duration) -> bool {
        self.wait(timeout, |s| {
            s.screen_lines()
                .windows(lines.len())
                .any(|w| w.iter().zip(lines).all(|(a, b)| a == b))
        })
    }

    /// Waits until the server closed the session channel (or the connection).
    pub fn wait_closed(&self, timeout: Duration) -> bool {
        self.wait(timeout, |s| s.closed.load(Ordering::SeqCst))
    }

    /// Whether the session channel is closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    fn wait(&self, timeout: Duration, mut check: impl FnMut(&Self) -> bool) -> bool {
        super::eventually(timeout, || check(self))
    }
}

impl Drop for SshSession {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Disconnect);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// See [`SshSession::screen_lines`].
pub fn screen_lines(raw: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(raw)
        .split("\r\n")
        .map(|segment| {
            let visible = strip_csi(segment);
            visible.rsplit('\r').next().unwrap_or_default().to_string()
        })
        .collect()
}

/// `text` without `ESC [ params final` sequences.
fn strip_csi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if ('\x40'..='\x7e').contains(&c) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
