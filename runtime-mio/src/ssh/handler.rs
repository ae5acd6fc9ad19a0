//! One SSH connection's russh handler: authentication, channel opening and channel requests
//! (NODE.md §5.1).
//!
//! * Public-key authentication only, against the authorized keys; the user name becomes the
//!   initial nick.
//! * Only `session` channels; other types are refused as "unknown channel type" with the text
//!   `unsupported channel type`.
//! * On a session channel: `pty-req` is accepted (the size is ignored) and `shell` starts the
//!   partyline session ([`SessionTask`]); every other request, and every request after `shell`,
//!   is refused.
//! * Channel data goes to the channel's session; EOF, close or the end of the connection close
//!   the session's input, which ends it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use russh::keys::PublicKey;
use russh::server::{Auth, ChannelOpenHandle, Handler, Msg, Session};
use russh::{Channel, ChannelId, ChannelOpenFailure, ChannelWriteHalf, Pty, Sig};

use super::authorized_keys::AuthorizedKeys;
use super::link::{LoopLink, SessionKey};
use super::session::{InputSender, SessionTask, input_queue};
use super::tracker::Tracker;

/// What every connection of the server shares.
#[derive(Debug)]
pub struct Shared {
    /// Keys allowed to log in.
    pub authorized: AuthorizedKeys,
    /// Towards the loop.
    pub link: LoopLink,
    /// The running session tasks.
    pub sessions: Tracker,
    /// Source of [`SessionKey`]s.
    pub next_key: AtomicU64,
}

/// Where a session channel is.
enum ChannelState {
    /// Opened, no `shell` yet.
    Open(ChannelWriteHalf<Msg>),
    /// `shell` started its session; key bytes go here.
    Shell(InputSender),
}

/// The handler of one connection.
pub struct ConnectionHandler {
    shared: Arc<Shared>,
    remote: SocketAddr,
    /// The user of the accepted key.
    user: String,
    /// Set once authentication succeeded (the connection task reports failures otherwise).
    authenticated: Arc<AtomicBool>,
    channels: HashMap<ChannelId, ChannelState>,
}

impl ConnectionHandler {
    /// A handler for the client at `remote`; `authenticated` is raised on success.
    pub fn new(shared: Arc<Shared>, remote: SocketAddr, authenticated: Arc<AtomicBool>) -> Self {
        ConnectionHandler {
            shared,
            remote,
            user: String::new(),
            authenticated,
            channels: HashMap::new(),
        }
    }

    fn check_key(&self, key: &PublicKey) -> Auth {
        if self.shared.authorized.contains(key) {
            Auth::Accept
        } else {
            Auth::reject()
        }
    }

    /// Refuses a channel request (replies only if the client asked for a reply).
    fn refuse(channel: ChannelId, session: &mut Session) -> Result<(), russh::Error> {
        session.channel_failure(channel)
    }
}

/// The refusal of every channel type but `session`.
fn unsupported_channel_type() -> ChannelOpenFailure {
    ChannelOpenFailure::Other {
        code: 3,
        reason: "unsupported channel type".to_string(),
    }
}

impl Handler for ConnectionHandler {
    type Error = russh::Error;

    async fn auth_publickey_offered(
        &mut self,
        _user: &str,
        public_key: &PublicKey,
    ) -> Result<Auth, Self::Error> {
        Ok(self.check_key(public_key))
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        public_key: &PublicKey,
    ) -> Result<Auth, Self::Error> {
        let auth = self.check_key(public_key);
        if auth == Auth::Accept {
            self.user = user.to_string();
        }
        Ok(auth)
    }

    async fn auth_succeeded(&mut self, _session: &mut Session) -> Result<(), Self::Error> {
        self.authenticated.store(true, Ordering::SeqCst);
        tracing::info!(remote = %self.remote, user = %self.user, component = "ssh", "client connected");
        Ok(())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        // Input arrives through `data`; the reading half is not used.
        let (_, writer) = channel.split();
        self.channels
            .insert(writer.id(), ChannelState::Open(writer));
        Ok(())
    }

    async fn channel_open_x11(
        &mut self,
        _channel: Channel<Msg>,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.reject(unsupported_channel_type()).await;
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        _channel: Channel<Msg>,
        _host_to_connect: &str,
        _port_to_connect: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.reject(unsupported_channel_type()).await;
        Ok(())
    }

    async fn channel_open_forwarded_tcpip(
        &mut self,
        _channel: Channel<Msg>,
        _host_to_connect: &str,
        _port_to_connect: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.reject(unsupported_channel_type()).await;
        Ok(())
    }

    async fn channel_open_direct_streamlocal(
        &mut self,
        _channel: Channel<Msg>,
        _socket_path: &str,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.reject(unsupported_channel_type()).await;
        Ok(())
    }

    async fn channel_eof(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        // Dropping the input sender ends the session once queued input is handled.
        self.channels.remove(&channel);
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.remove(&channel);
        Ok(())
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(ChannelState::Shell(input)) = self.channels.get(&channel) {
            if !input.push(data) {
                tracing::debug!(remote = %self.remote, component = "ssh", "session input full, dropped");
            }
        }
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        match self.channels.get(&channel) {
            Some(ChannelState::Open(_)) => session.channel_success(channel),
            _ => Self::refuse(channel, session),
        }
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let writer = match self.channels.remove(&channel) {
            Some(ChannelState::Open(writer)) => writer,
            other => {
                // Unknown channel, or a shell already runs on it: put it back untouched.
                if let Some(state) = other {
                    self.channels.insert(channel, state);
                }
                return Self::refuse(channel, session);
            }
        };
        let (input, input_rx) = input_queue();
        self.channels.insert(channel, ChannelState::Shell(input));
        let key = SessionKey(self.shared.next_key.fetch_add(1, Ordering::Relaxed));
        let task = SessionTask {
            key,
            user: self.user.clone(),
            writer,
            input: input_rx,
            link: self.shared.link.clone(),
            token: self.shared.sessions.token(),
        };
        tokio::spawn(task.run());
        session.channel_success(channel)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        Self::refuse(channel, session)
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _variable_name: &str,
        _variable_value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        Self::refuse(channel, session)
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        Self::refuse(channel, session)
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single_connection: bool,
        _x11_auth_protocol: &str,
        _x11_auth_cookie: &str,
        _x11_screen_number: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        Self::refuse(channel, session)
    }

    async fn window_change_request(
        &mut self,
        channel: ChannelId,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        Self::refuse(channel, session)
    }

    async fn signal(
        &mut self,
        channel: ChannelId,
        _signal: Sig,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        Self::refuse(channel, session)
    }

    async fn agent_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<bool, Self::Error> {
        // russh answers `false` with a global-request failure; refuse on the channel instead and
        // report success so nothing else is sent (its success reply only answers global
        // requests that are waiting for one).
        Self::refuse(channel, session)?;
        Ok(true)
    }
}
