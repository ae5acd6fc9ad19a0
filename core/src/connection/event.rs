//! What a connection reports to its owner: events, close reasons and send errors.

use alloc::string::String;
use core::fmt;

use micelio_proto::Envelope;

use crate::envelope::SignatureError;
use crate::frame::FrameError;
use crate::identity::{KeyConversionError, NodeId};
use crate::noise::NoiseError;

/// The verified identity of the peer, from its hello.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The peer's node id (the SHA-256 of its key, checked).
    pub node_id: NodeId,
    /// The peer's raw ED25519 public key, bound to its Noise static key.
    pub public_key: [u8; 32],
    /// Whether the peer announced that it accepts inbound connections.
    pub reachable: bool,
    /// The address the peer advertised, possibly empty (not validated here).
    pub listen_addr: String,
    /// The `version` of its hello when at most [`MAX_PEER_VERSION_LEN`] bytes, else empty
    /// (it is informative: the reference ignores it; extensions are announced in it).
    pub version: String,
    /// The hello envelope's Lamport time (signed; 0 from the reference).
    pub lamport: u64,
}

/// Longest hello `version` kept (64 bytes).
pub const MAX_PEER_VERSION_LEN: usize = 64;

/// True when a hello `version` announces extension `token`: `token` among the dot-separated
/// build metadata (`0.1.0+tree1`, `0.1.0+tree1.state1`).
pub fn announces(version: &str, token: &str) -> bool {
    version
        .split_once('+')
        .is_some_and(|(_, meta)| meta.split('.').any(|t| t == token))
}

/// Something the owner of a connection must learn about; drain with `poll_event`.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The Noise handshake completed; the hello exchange starts.
    HandshakeComplete {
        /// The peer's authenticated X25519 static key.
        remote_static: [u8; 32],
        /// The handshake hash, identical on both sides.
        handshake_hash: [u8; 32],
    },
    /// The hello exchange succeeded: the peer is who it claims to be.
    Established(PeerIdentity),
    /// A steady-state envelope other than keepalive and hello types.
    Envelope(Envelope),
    /// The connection is closed; the runtime should close its socket.
    Closed(CloseReason),
}

/// Why the hello exchange failed (spec §9.3, in the order the checks run).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelloError {
    /// The frame is not a valid envelope.
    MalformedEnvelope,
    /// The envelope has the wrong `msg_type` for this side of the exchange.
    WrongMessageType {
        /// The type this side waits for (1 on the responder, 2 on the initiator).
        expected: u32,
        /// The type received.
        received: u32,
    },
    /// The payload is not a valid `PeerHello`.
    MalformedHello,
    /// The signature does not verify with the hello's own key.
    BadSignature(SignatureError),
    /// `sender_id` differs from the hello's `node_id`.
    SenderMismatch,
    /// `node_id` is not the SHA-256 of the hello's key.
    NodeIdMismatch,
    /// The hello's key has no X25519 form.
    BadPublicKey(KeyConversionError),
    /// The hello's key is not the one that did the Noise handshake (impersonation).
    StaticKeyMismatch,
}

impl fmt::Display for HelloError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MalformedEnvelope => f.write_str("hello frame is not a valid envelope"),
            Self::WrongMessageType { expected, received } => {
                write!(f, "expected msg_type {expected}, received {received}")
            }
            Self::MalformedHello => f.write_str("hello payload is not a valid PeerHello"),
            Self::BadSignature(e) => write!(f, "hello signature: {e}"),
            Self::SenderMismatch => f.write_str("sender_id differs from the hello's node_id"),
            Self::NodeIdMismatch => f.write_str("node_id is not the SHA-256 of the hello's key"),
            Self::BadPublicKey(e) => write!(f, "hello key: {e}"),
            Self::StaticKeyMismatch => {
                f.write_str("hello key is not the key of the Noise handshake")
            }
        }
    }
}

impl core::error::Error for HelloError {}

/// Why a connection closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The owner called `close`.
    Local,
    /// The runtime reported that the peer closed the stream or it failed.
    TransportClosed,
    /// The Noise handshake did not complete in time.
    HandshakeTimeout,
    /// The hello exchange did not complete in time.
    HelloTimeout,
    /// Nothing was received for the idle timeout.
    IdleTimeout,
    /// A write stayed blocked for the write timeout.
    WriteTimeout,
    /// The Noise layer failed.
    Noise(NoiseError),
    /// A received frame header was invalid.
    Frame(FrameError),
    /// The peer's hello failed validation.
    Hello(HelloError),
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local => f.write_str("closed locally"),
            Self::TransportClosed => f.write_str("transport closed"),
            Self::HandshakeTimeout => f.write_str("noise handshake timeout"),
            Self::HelloTimeout => f.write_str("hello exchange timeout"),
            Self::IdleTimeout => f.write_str("peer idle timeout"),
            Self::WriteTimeout => f.write_str("peer write timeout"),
            Self::Noise(e) => write!(f, "noise: {e}"),
            Self::Frame(e) => write!(f, "frame: {e}"),
            Self::Hello(e) => write!(f, "hello: {e}"),
        }
    }
}

/// Why an envelope could not be queued. None of these closes the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The hello exchange has not completed yet.
    NotEstablished,
    /// The connection is closed.
    Closed,
    /// The outbound queue is full; the envelope is dropped for this peer.
    QueueFull,
    /// The envelope exceeds the frame limit.
    Frame(FrameError),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotEstablished => f.write_str("connection not established"),
            Self::Closed => f.write_str("connection closed"),
            Self::QueueFull => f.write_str("send buffer full"),
            Self::Frame(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for SendError {}
