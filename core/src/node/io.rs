//! The node's inputs and outputs: what the runtime feeds in and what it must carry out.

use alloc::string::String;
use alloc::vec::Vec;

use super::peers::PeerRecord;
use crate::connection::CloseReason;
use crate::identity::NodeId;
use crate::time::Instant;

/// A connection, named by the runtime (a socket token, a simulator counter...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// A dial the node asked for, named by the node; the runtime answers with
/// [`Input::Connected`] or [`Input::DialFailed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DialId(pub u64);

/// Who opened a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// We dialed it.
    Outbound,
    /// The peer dialed us.
    Inbound,
}

impl core::fmt::Display for Direction {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
        })
    }
}

/// Something that happened on the network side, fed to [`super::Node::handle_input`].
#[derive(Debug)]
pub enum Input<'a> {
    /// Only time passed (the instant from [`Output::Timeout`] was reached).
    Timeout,
    /// The listener accepted a connection.
    Accepted {
        /// The runtime's name for it.
        conn: ConnId,
        /// The peer's address as text (for logs).
        remote_addr: &'a str,
    },
    /// A dial requested by [`Output::Dial`] connected.
    Connected {
        /// The dial it answers.
        dial: DialId,
        /// The runtime's name for the new connection.
        conn: ConnId,
    },
    /// A dial requested by [`Output::Dial`] failed (refused, unreachable, 10 s timeout).
    DialFailed {
        /// The dial it answers.
        dial: DialId,
    },
    /// Bytes arrived on a connection.
    Received {
        /// The connection.
        conn: ConnId,
        /// The bytes, in stream order.
        data: &'a [u8],
    },
    /// The socket reached EOF or failed; the runtime has closed it.
    Closed {
        /// The connection.
        conn: ConnId,
    },
    /// Since when the connection's pending write is blocked (`None`: it drained).
    WriteBlocked {
        /// The connection.
        conn: ConnId,
        /// When the write started blocking.
        since: Option<Instant>,
    },
}

/// What the application learns from the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeEvent {
    /// A chat line from the network (never our own).
    Chat {
        /// The originator.
        sender: NodeId,
        /// Its self-chosen nick (unsanitised: sanitise before showing it on a terminal).
        nick: String,
        /// The line.
        text: String,
        /// Hops the envelope had left on arrival (10 at the originator's peers).
        hop_count: u32,
    },
    /// Any other gossip message that passed every check.
    Message {
        /// The originator.
        sender: NodeId,
        /// Its `msg_type`.
        msg_type: u32,
        /// The payload bytes as signed.
        payload: Vec<u8>,
        /// Hops the envelope had left on arrival.
        hop_count: u32,
    },
    /// A peer was admitted.
    PeerUp {
        /// Its node id.
        node_id: NodeId,
        /// Its advertised address (may be empty).
        addr: String,
        /// Who dialed.
        direction: Direction,
    },
    /// An admitted peer's connection ended.
    PeerDown {
        /// Its node id.
        node_id: NodeId,
        /// Why.
        reason: CloseReason,
    },
    /// A key of the shared map changed (a write of this node's, or one from the network).
    StateChanged {
        /// The key.
        key: String,
        /// Its value now (`None`: deleted).
        value: Option<Vec<u8>>,
        /// Who wrote it.
        writer: NodeId,
        /// The write's Lamport time.
        lamport: u64,
    },
}

/// What the runtime must do next; drain with [`super::Node::poll_output`] until
/// [`Output::Timeout`].
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Write these bytes to the connection, after everything written before.
    Transmit {
        /// The connection.
        conn: ConnId,
        /// The bytes.
        data: Vec<u8>,
    },
    /// Open a TCP connection to `addr` (10 s connect timeout) and answer with
    /// [`Input::Connected`] or [`Input::DialFailed`].
    Dial {
        /// The node's name for this dial.
        dial: DialId,
        /// `host:port`.
        addr: String,
    },
    /// Close the socket (after writing what was already transmitted, if possible). No input is
    /// expected for this connection afterwards.
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// Store (insert or replace) this known-peer record.
    PersistPeer(PeerRecord),
    /// Delete the stored record of this node (evicted from the bounded table).
    ForgetPeer(NodeId),
    /// Store (insert or replace) the entry of a key of the shared map: its encoded, signed
    /// envelope, to hand back to [`super::Node::load_state`] at the next start.
    PersistState {
        /// The key.
        key: String,
        /// The entry's envelope, encoded.
        envelope: Vec<u8>,
    },
    /// Delete the stored entry of this key (an expired tombstone, or an entry that no longer
    /// loads).
    ForgetState(String),
    /// Store the node's Lamport clock (after each of its own writes), for
    /// [`super::Node::load_state`].
    PersistClock(u64),
    /// Tell the application.
    Event(NodeEvent),
    /// Nothing else to do until this instant (or until the next input); `None` after shutdown.
    Timeout(Option<Instant>),
}
