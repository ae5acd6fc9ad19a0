//! The script of `node_inputs`.
//!
//! Layout: `flags: u8` (bit 0 listening with an advertised address, bit 1 bootstrap
//! addresses, bit 2 unlimited peers, bits 3-4 the clock origin, bit 5 the modeled
//! cryptography for every party, bits 6-7 the wall-clock origin), then operations until the
//! input ends, each a tag byte (modulo [`OPS`]) followed by its fields. Connection selectors
//! index the live connections in id order, modulo their number (255 names a connection the
//! node does not know).

use crate::cursor::{Cursor, Script};

/// Number of operation tags.
pub const OPS: u8 = 15;
/// The byte that must follow tag 14 for a shutdown (otherwise it is a failed dial).
pub const SHUTDOWN: u8 = 0xD5;

/// A gossip envelope a harness peer sends, possibly forged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gossip<'a> {
    /// Connection selector.
    pub conn: u8,
    /// Known identity that signs.
    pub signer: u8,
    /// Claimed sender: a known identity below 200, a malformed id from 200 up.
    pub claim: u8,
    /// `sender_pubkey`: 0 none, 1 the signer's, 2 the claimed sender's, 3 a weak key, 4 short.
    pub pubkey: u8,
    /// What to break after signing (0 and 5: nothing).
    pub tamper: u8,
    /// Index into the list of message types tried.
    pub msg_type: u8,
    /// Hop count.
    pub hop: u8,
    /// Message id: 0-7 a small shared pool, 8 empty, 9 oversized, else fresh.
    pub id: u8,
    /// Payload (wrapped in a ChatMessage for chat types when its first byte is odd).
    pub payload: &'a [u8],
}

/// One PeerExchange entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Known identity whose node id is announced.
    pub node: u8,
    /// Known identity whose key is announced (a mismatch unless equal to `node`).
    pub key: u8,
    /// Index into the list of addresses tried (8 and up: distinct valid addresses).
    pub addr: u8,
    /// Low bit: `reachable`; the rest picks `last_seen`.
    pub flags: u8,
}

/// One thing the network, a harness peer or the application does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op<'a> {
    /// The listener accepts a connection from harness peer `peer` (4: the node's own key).
    Accept {
        /// Which identity the harness plays.
        peer: u8,
    },
    /// The oldest requested dial connects to harness peer `peer` (a made-up dial if none).
    Connect {
        /// Which identity the harness plays.
        peer: u8,
    },
    /// The oldest requested dial fails.
    DialFailed,
    /// A harness peer sends a gossip envelope.
    Gossip(Gossip<'a>),
    /// A harness peer sends a PeerExchange signed by `signer`.
    Exchange {
        /// Connection selector.
        conn: u8,
        /// Known identity that signs.
        signer: u8,
        /// The entries (at most 15).
        entries: Vec<Entry>,
    },
    /// A harness peer sends these bytes as an envelope frame.
    SendBytes {
        /// Connection selector.
        conn: u8,
        /// The frame payload.
        bytes: &'a [u8],
    },
    /// Raw bytes arrive on a connection, bypassing its harness peer.
    Raw {
        /// Connection selector.
        conn: u8,
        /// The bytes.
        bytes: &'a [u8],
    },
    /// The socket reports EOF.
    Closed {
        /// Connection selector.
        conn: u8,
    },
    /// The socket's writes block, or unblock.
    Block {
        /// Connection selector.
        conn: u8,
    },
    /// Time passes: `unit` 0 ms, 1 s, 2 to the node's next deadline.
    Tick {
        /// The unit.
        unit: u8,
        /// How many units.
        amount: u16,
    },
    /// The application broadcasts (type index as in [`Gossip::msg_type`]; chat when 0).
    Broadcast {
        /// Index into the list of message types.
        msg_type: u8,
        /// The payload (or chat text).
        payload: &'a [u8],
    },
    /// The application dials an address from a short list.
    Dial {
        /// Address index.
        addr: u8,
    },
    /// The network stops (or resumes) carrying a connection's bytes.
    Hold {
        /// Connection selector.
        conn: u8,
    },
    /// A harness peer replays an envelope it received from the node, with another hop count.
    Replay {
        /// Connection selector.
        conn: u8,
        /// Which captured envelope.
        index: u8,
        /// Its new hop count.
        hop: u8,
    },
    /// The application shuts the node down (tag 14, then [`SHUTDOWN`]).
    Shutdown,
}

impl<'a> Op<'a> {
    /// Reads the next operation; `None` once the input is exhausted.
    pub fn parse(c: &mut Cursor<'a>) -> Option<Self> {
        if c.is_empty() {
            return None;
        }
        Some(match c.u8() % OPS {
            0 => Op::Accept { peer: c.u8() },
            1 => Op::Connect { peer: c.u8() },
            2 => Op::DialFailed,
            3 => Op::Gossip(Gossip {
                conn: c.u8(),
                signer: c.u8(),
                claim: c.u8(),
                pubkey: c.u8(),
                tamper: c.u8(),
                msg_type: c.u8(),
                hop: c.u8(),
                id: c.u8(),
                payload: c.chunk(),
            }),
            4 => {
                let (conn, signer, count) = (c.u8(), c.u8(), c.u8() % 16);
                let entries = (0..count)
                    .map(|_| Entry {
                        node: c.u8(),
                        key: c.u8(),
                        addr: c.u8(),
                        flags: c.u8(),
                    })
                    .collect();
                Op::Exchange {
                    conn,
                    signer,
                    entries,
                }
            }
            5 => Op::SendBytes {
                conn: c.u8(),
                bytes: c.chunk(),
            },
            6 => Op::Raw {
                conn: c.u8(),
                bytes: c.chunk(),
            },
            7 => Op::Closed { conn: c.u8() },
            8 => Op::Block { conn: c.u8() },
            9 => Op::Tick {
                unit: c.u8(),
                amount: c.u16(),
            },
            10 => Op::Broadcast {
                msg_type: c.u8(),
                payload: c.chunk(),
            },
            11 => Op::Dial { addr: c.u8() },
            12 => Op::Hold { conn: c.u8() },
            13 => Op::Replay {
                conn: c.u8(),
                index: c.u8(),
                hop: c.u8(),
            },
            // A shutdown ends what the rest of a script can reach: it needs a confirmation.
            _ if c.u8() == SHUTDOWN => Op::Shutdown,
            _ => Op::DialFailed,
        })
    }

    /// Appends this operation in the format [`Op::parse`] reads.
    pub fn write(&self, s: &mut Script) {
        match self {
            Op::Accept { peer } => s.u8(0).u8(*peer),
            Op::Connect { peer } => s.u8(1).u8(*peer),
            Op::DialFailed => s.u8(2),
            Op::Gossip(g) => s
                .u8(3)
                .raw(&[
                    g.conn, g.signer, g.claim, g.pubkey, g.tamper, g.msg_type, g.hop, g.id,
                ])
                .chunk(g.payload),
            Op::Exchange {
                conn,
                signer,
                entries,
            } => {
                s.u8(4).u8(*conn).u8(*signer).u8(entries.len() as u8);
                for e in entries {
                    s.raw(&[e.node, e.key, e.addr, e.flags]);
                }
                s
            }
            Op::SendBytes { conn, bytes } => s.u8(5).u8(*conn).chunk(bytes),
            Op::Raw { conn, bytes } => s.u8(6).u8(*conn).chunk(bytes),
            Op::Closed { conn } => s.u8(7).u8(*conn),
            Op::Block { conn } => s.u8(8).u8(*conn),
            Op::Tick { unit, amount } => s.u8(9).u8(*unit).u16(*amount),
            Op::Broadcast { msg_type, payload } => s.u8(10).u8(*msg_type).chunk(payload),
            Op::Dial { addr } => s.u8(11).u8(*addr),
            Op::Hold { conn } => s.u8(12).u8(*conn),
            Op::Replay { conn, index, hop } => s.u8(13).raw(&[*conn, *index, *hop]),
            Op::Shutdown => s.u8(14).u8(SHUTDOWN),
        };
    }
}
