//! One peer connection as a sans-IO state machine: Noise handshake, hello exchange, framing,
//! keepalive and timers.
//!
//! # Driving a connection
//!
//! - Feed it: [`Connection::handle_input`] with bytes read from the socket,
//!   [`Connection::handle_timeout`] when the instant from [`Connection::poll_timeout`] is
//!   reached, [`Connection::set_write_blocked`] while a socket write cannot make progress, and
//!   [`Connection::handle_transport_closed`] on EOF or a socket error.
//! - Command it: [`Connection::send`] (a serialized envelope) and [`Connection::close`].
//! - After any of these, drain it: [`Connection::poll_transmit`] until `None` (bytes to write,
//!   in order), [`Connection::poll_event`] until `None`, then [`Connection::poll_timeout`].
//!
//! A misbehaving peer never produces an `Err` for the caller: it ends in
//! [`Event::Closed`] with a typed [`CloseReason`].
//!
//! [`Connection`] has an example of two connections wired together in memory.

mod config;
mod event;
mod hello;

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

use micelio_proto::Envelope;
use quick_protobuf::MessageWrite;
use rand_core::CryptoRngCore;

pub use config::ConnectionConfig;
pub use event::{
    CloseReason, Event, HelloError, MAX_PEER_VERSION_LEN, PeerIdentity, SendError, announces,
};

use crate::envelope::{self, HelloKind, msg_type};
use crate::frame::{self, FrameDecoder};
use crate::identity::Identity;
use crate::noise::{Handshake, RecordDecoder, TAG_LEN, TRANSPORT_PREFIX_LEN, Transport};
use crate::suite::Suite;
use crate::time::Instant;

/// Which side of the TCP connection this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The dialer: Noise initiator, sends its hello first.
    Initiator,
    /// The acceptor: Noise responder, answers with a hello-ack.
    Responder,
}

/// What a node says about itself in its hello.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalHello {
    /// The configured node tags (may be empty).
    pub tags: Vec<String>,
    /// The advertised address, or empty for an unreachable (outbound-only) node.
    pub listen_addr: String,
    /// Extensions announced as build metadata of the hello `version` (`0.1.0+tree1`); empty
    /// sends the reference's plain `0.1.0`. Reference nodes ignore the version.
    pub capabilities: String,
    /// Lamport time of the hello envelope (0, the reference's, unless the node keeps a clock).
    pub lamport: u64,
}

enum Phase {
    Handshake(Handshake),
    Hello {
        remote_static: [u8; 32],
        deadline: Instant,
    },
    Established(PeerIdentity),
    Closed(CloseReason),
}

/// A single peer connection. See the module documentation for how to drive it.
///
/// # Example
///
/// Two connections wired together in memory: every record one side queues is fed to the other
/// until both are established, then an envelope crosses over.
///
/// ```
/// use micelio_core::connection::{Connection, ConnectionConfig, Event, LocalHello, Role};
/// use micelio_core::identity::Identity;
/// use micelio_core::{envelope, proto::ChatMessage, time::Instant};
/// use rand_chacha::ChaCha20Rng;
/// use rand_core::SeedableRng;
///
/// let (alice, bob) = (Identity::from_seed(&[1; 32]), Identity::from_seed(&[2; 32]));
/// let mut rng = ChaCha20Rng::seed_from_u64(42); // any `CryptoRngCore`; seeded = reproducible
/// let now = Instant::ZERO;
/// let config = ConnectionConfig::default();
/// let (hello, initiator, responder) = (LocalHello::default(), Role::Initiator, Role::Responder);
/// let mut a = Connection::new(initiator, config.clone(), &alice, hello.clone(), now, &mut rng);
/// let mut b = Connection::new(responder, config, &bob, hello, now, &mut rng);
///
/// // Noise XX (three messages), then hello and hello-ack.
/// while a.queued_transmits() + b.queued_transmits() > 0 {
///     while let Some(record) = a.poll_transmit() { b.handle_input(now, &record); }
///     while let Some(record) = b.poll_transmit() { a.handle_input(now, &record); }
/// }
/// assert!(a.is_established() && b.is_established());
/// assert_eq!(a.peer().unwrap().node_id, bob.node_id());
///
/// let line = ChatMessage { nick: "alice".into(), text: "hi".into(), timestamp: 0 };
/// let chat = envelope::chat(&alice, envelope::new_message_id(&mut rng), &line);
/// a.send_envelope(now, &chat).unwrap();
/// while let Some(record) = a.poll_transmit() { b.handle_input(now, &record); }
/// let events: Vec<Event> = std::iter::from_fn(|| b.poll_event()).collect();
/// assert!(matches!(&events[..], [
///     Event::HandshakeComplete { .. },
///     Event::Established(peer),
///     Event::Envelope(received),
/// ] if peer.node_id == alice.node_id() && *received == chat));
/// ```
pub struct Connection {
    config: ConnectionConfig,
    role: Role,
    /// The local identity's suite: the peer's hello is verified under it.
    suite: Suite,
    phase: Phase,
    /// Our hello (or hello-ack) envelope, serialized, sent once the handshake completes.
    own_hello: Vec<u8>,
    transport: Option<Transport>,
    records: RecordDecoder,
    frames: FrameDecoder,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    handshake_deadline: Instant,
    last_receive: Instant,
    last_send: Instant,
    write_blocked_since: Option<Instant>,
}

impl Connection {
    /// A new connection in `role`, started at `now`.
    ///
    /// Draws the Noise ephemeral key and the hello's message id from `rng`, so a connection is
    /// reproducible from a seeded RNG. The initiator's first handshake message is queued at once.
    pub fn new(
        role: Role,
        config: ConnectionConfig,
        identity: &Identity,
        local: LocalHello,
        now: Instant,
        rng: &mut impl CryptoRngCore,
    ) -> Self {
        let mut ephemeral = [0u8; 32];
        rng.fill_bytes(&mut ephemeral);
        let kind = match role {
            Role::Initiator => HelloKind::Hello,
            Role::Responder => HelloKind::Ack,
        };
        let mut hello = envelope::local_hello(identity, local.tags, local.listen_addr);
        if !local.capabilities.is_empty() {
            hello.version = alloc::format!("{}+{}", envelope::PROTOCOL_VERSION, local.capabilities);
        }
        let id = envelope::new_message_id(rng);
        let hello_envelope = envelope::hello_at(identity, id, kind, &hello, local.lamport);
        let handshake_deadline = now + config.handshake_timeout;
        let phase = match Handshake::with_suite(
            role == Role::Initiator,
            identity.x25519_private(),
            ephemeral,
            identity.suite(),
        ) {
            Ok(handshake) => Phase::Handshake(handshake),
            Err(error) => Phase::Closed(CloseReason::Noise(error)),
        };
        let mut connection = Connection {
            config,
            role,
            suite: identity.suite(),
            phase,
            own_hello: micelio_proto::encode(&hello_envelope),
            transport: None,
            records: RecordDecoder::new(),
            frames: FrameDecoder::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            handshake_deadline,
            last_receive: now,
            last_send: now,
            write_blocked_since: None,
        };
        if let Phase::Closed(reason) = connection.phase {
            connection.events.push_back(Event::Closed(reason));
        } else if role == Role::Initiator {
            connection.write_handshake_message(now);
        }
        connection
    }

    // ----- getters -----

    /// This side's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The verified peer, once the hello exchange succeeded.
    pub fn peer(&self) -> Option<&PeerIdentity> {
        match &self.phase {
            Phase::Established(peer) => Some(peer),
            _ => None,
        }
    }

    /// True once the hello exchange succeeded and until the connection closes.
    pub fn is_established(&self) -> bool {
        matches!(self.phase, Phase::Established(_))
    }

    /// Why the connection closed, if it did.
    pub fn close_reason(&self) -> Option<CloseReason> {
        match self.phase {
            Phase::Closed(reason) => Some(reason),
            _ => None,
        }
    }

    /// Number of records waiting in [`Connection::poll_transmit`].
    pub fn queued_transmits(&self) -> usize {
        self.transmits.len()
    }

    /// Bytes held by the decoders for incomplete records and frames.
    pub fn buffered_input(&self) -> usize {
        self.records.buffered() + self.frames.buffered()
    }

    // ----- handle_* : inputs -----

    /// Processes bytes received from the socket at `now`.
    pub fn handle_input(&mut self, now: Instant, mut data: &[u8]) {
        while !data.is_empty() && !self.is_closed() {
            let record = match self.records.decode(&mut data) {
                Ok(Some(record)) => record,
                Ok(None) => break,
                Err(error) => {
                    self.close_with(CloseReason::Noise(error));
                    break;
                }
            };
            if matches!(self.phase, Phase::Handshake(_)) {
                self.on_handshake_message(now, &record);
            } else {
                self.on_transport_message(now, record);
            }
        }
    }

    /// Fires every timer due at `now`: handshake and hello deadlines, idle close, keepalive and
    /// the write timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_closed() {
            return;
        }
        if let Some(since) = self.write_blocked_since {
            if now >= since + self.config.write_timeout {
                self.close_with(CloseReason::WriteTimeout);
                return;
            }
        }
        match self.phase {
            Phase::Handshake(_) if now >= self.handshake_deadline => {
                self.close_with(CloseReason::HandshakeTimeout)
            }
            Phase::Hello { deadline, .. } if now >= deadline => {
                self.close_with(CloseReason::HelloTimeout)
            }
            Phase::Established(_) => {
                if now >= self.last_receive + self.config.idle_timeout {
                    self.close_with(CloseReason::IdleTimeout);
                } else if now >= self.last_send + self.config.keepalive_interval {
                    let keepalive = micelio_proto::encode(&envelope::keepalive());
                    self.queue_frame(now, &keepalive);
                }
            }
            _ => {}
        }
    }

    /// Tells the connection since when the runtime's pending write has been blocked (`None`
    /// once it drains). The connection closes after `write_timeout` of blockage.
    pub fn set_write_blocked(&mut self, since: Option<Instant>) {
        self.write_blocked_since = since;
    }

    /// The runtime saw EOF or an error on the socket.
    pub fn handle_transport_closed(&mut self) {
        self.close_with(CloseReason::TransportClosed);
    }

    // ----- commands -----

    /// Queues a serialized envelope for sending as one frame in one transport message.
    ///
    /// Errors leave the connection open: the envelope is simply not sent to this peer.
    pub fn send(&mut self, now: Instant, envelope: &[u8]) -> Result<(), SendError> {
        self.check_send(envelope.len())?;
        self.queue_frame(now, envelope);
        Ok(())
    }

    /// Serializes and queues an envelope; see [`Connection::send`]. The envelope is encoded
    /// straight into the record that is then encrypted in place.
    pub fn send_envelope(&mut self, now: Instant, envelope: &Envelope) -> Result<(), SendError> {
        let len = envelope.get_size();
        self.check_send(len)?;
        self.queue_frame_with(now, len, |record| {
            micelio_proto::encode_into(envelope, record)
        });
        Ok(())
    }

    /// Closes the connection locally. Queued bytes are discarded.
    pub fn close(&mut self) {
        self.close_with(CloseReason::Local);
    }

    // ----- poll_* : outputs -----

    /// The next record to write to the socket, in order.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    /// The next event for the owner.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Connection::handle_timeout`] must be called next; `None` once closed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let phase_deadline = match &self.phase {
            Phase::Handshake(_) => self.handshake_deadline,
            Phase::Hello { deadline, .. } => *deadline,
            Phase::Established(_) => core::cmp::min(
                self.last_receive + self.config.idle_timeout,
                self.last_send + self.config.keepalive_interval,
            ),
            Phase::Closed(_) => return None,
        };
        let write_deadline = self
            .write_blocked_since
            .map(|since| since + self.config.write_timeout);
        Some(write_deadline.map_or(phase_deadline, |w| w.min(phase_deadline)))
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed(_))
    }

    // ----- internals -----

    fn close_with(&mut self, reason: CloseReason) {
        if self.is_closed() {
            return;
        }
        tracing::debug!(%reason, "connection closed");
        self.phase = Phase::Closed(reason);
        self.transmits.clear();
        self.transport = None;
        self.events.push_back(Event::Closed(reason));
    }

    fn write_handshake_message(&mut self, now: Instant) {
        let Phase::Handshake(handshake) = &mut self.phase else {
            return;
        };
        let mut out = Vec::with_capacity(2 + 96);
        match handshake.write_message(&mut out) {
            Ok(()) => {
                self.transmits.push_back(out);
                self.last_send = now;
            }
            Err(error) => self.close_with(CloseReason::Noise(error)),
        }
    }

    fn on_handshake_message(&mut self, now: Instant, message: &[u8]) {
        let Phase::Handshake(handshake) = &mut self.phase else {
            return;
        };
        if let Err(error) = handshake.read_message(message) {
            self.close_with(CloseReason::Noise(error));
            return;
        }
        if handshake.is_my_turn() && !handshake.is_finished() {
            self.write_handshake_message(now);
        }
        let finished = matches!(&self.phase, Phase::Handshake(h) if h.is_finished());
        if finished {
            self.finish_handshake(now);
        }
    }

    fn finish_handshake(&mut self, now: Instant) {
        let Phase::Handshake(handshake) = &mut self.phase else {
            return;
        };
        let outcome = match handshake.finish() {
            Ok(outcome) => outcome,
            Err(error) => {
                self.close_with(CloseReason::Noise(error));
                return;
            }
        };
        self.transport = Some(outcome.transport);
        self.records.enter_transport();
        self.phase = Phase::Hello {
            remote_static: outcome.remote_static,
            deadline: now + self.config.hello_timeout,
        };
        self.events.push_back(Event::HandshakeComplete {
            remote_static: outcome.remote_static,
            handshake_hash: outcome.handshake_hash,
        });
        if self.role == Role::Initiator {
            let hello = core::mem::take(&mut self.own_hello);
            self.queue_frame(now, &hello);
        }
    }

    fn on_transport_message(&mut self, now: Instant, mut message: Vec<u8>) {
        let Some(transport) = self.transport.as_mut() else {
            return;
        };
        if let Err(error) = transport.open(&mut message) {
            self.close_with(CloseReason::Noise(error));
            return;
        }
        // The plaintext is a stream of frames, as the reference reads it. A frame that lies
        // whole in this message (the usual case) is read in place.
        let mut plaintext = message.as_slice();
        while !plaintext.is_empty() && !self.is_closed() {
            match self.frames.decode_borrowed(&mut plaintext) {
                Ok(Some(payload)) => self.on_frame(now, &payload),
                Ok(None) => break,
                Err(error) => self.close_with(CloseReason::Frame(error)),
            }
        }
    }

    fn on_frame(&mut self, now: Instant, payload: &[u8]) {
        self.last_receive = now;
        match &self.phase {
            Phase::Hello { remote_static, .. } => {
                let expected = match self.role {
                    Role::Initiator => HelloKind::Ack,
                    Role::Responder => HelloKind::Hello,
                };
                match hello::validate(self.suite, payload, expected, remote_static) {
                    Ok(peer) => self.establish(now, peer),
                    Err(error) => self.close_with(CloseReason::Hello(error)),
                }
            }
            Phase::Established(_) => self.on_steady_frame(payload),
            Phase::Handshake(_) | Phase::Closed(_) => {}
        }
    }

    fn establish(&mut self, now: Instant, peer: PeerIdentity) {
        if self.role == Role::Responder {
            let ack = core::mem::take(&mut self.own_hello);
            self.queue_frame(now, &ack);
        }
        self.phase = Phase::Established(peer.clone());
        self.last_receive = now;
        self.events.push_back(Event::Established(peer));
    }

    fn on_steady_frame(&mut self, payload: &[u8]) {
        let envelope: Envelope = match micelio_proto::decode(payload) {
            Ok(envelope) => envelope,
            Err(_) => {
                tracing::warn!(
                    len = payload.len(),
                    "unmarshal envelope failed, frame ignored"
                );
                return;
            }
        };
        match envelope.msg_type {
            msg_type::KEEPALIVE | msg_type::PEER_HELLO | msg_type::PEER_HELLO_ACK => {}
            _ => self.events.push_back(Event::Envelope(envelope)),
        }
    }

    /// Why an envelope of `len` bytes cannot be sent now, if it cannot.
    fn check_send(&self, len: usize) -> Result<(), SendError> {
        match self.phase {
            Phase::Established(_) => {}
            Phase::Closed(_) => return Err(SendError::Closed),
            _ => return Err(SendError::NotEstablished),
        }
        if self.transmits.len() >= self.config.max_queued_frames {
            return Err(SendError::QueueFull);
        }
        frame::header(len).map_err(SendError::Frame)?;
        Ok(())
    }

    /// Frames, encrypts and queues `payload` (already checked against the frame limit).
    fn queue_frame(&mut self, now: Instant, payload: &[u8]) {
        self.queue_frame_with(now, payload.len(), |record| {
            record.extend_from_slice(payload)
        });
    }

    /// Frames, encrypts and queues the `payload_len` bytes that `write` appends to the record
    /// (already checked against the frame limit), in a single allocation.
    fn queue_frame_with(
        &mut self,
        now: Instant,
        payload_len: usize,
        write: impl FnOnce(&mut Vec<u8>),
    ) {
        let Some(transport) = self.transport.as_mut() else {
            return;
        };
        let Ok(header) = frame::header(payload_len) else {
            return;
        };
        let mut record =
            Vec::with_capacity(TRANSPORT_PREFIX_LEN + frame::HEADER_LEN + payload_len + TAG_LEN);
        record.extend_from_slice(&[0; TRANSPORT_PREFIX_LEN]);
        record.extend_from_slice(&header);
        write(&mut record);
        if record.len() != TRANSPORT_PREFIX_LEN + frame::HEADER_LEN + payload_len {
            // Unreachable with a deterministic encoder: never send a frame its header belies.
            tracing::error!(payload_len, "frame payload length mismatch, not sent");
            return;
        }
        match transport.seal_record(&mut record) {
            Ok(()) => {
                self.transmits.push_back(record);
                self.last_send = now;
            }
            Err(error) => self.close_with(CloseReason::Noise(error)),
        }
    }
}
