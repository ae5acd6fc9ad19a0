//! The script of `connection_established`: what the harness peer does, one operation at a
//! time, after the handshake.
//!
//! Layout: `flags: u8`, then operations until the input ends, each a tag byte (taken modulo
//! [`OPS`]) followed by its fields. Flags: bit 0 makes the connection under test the
//! initiator; bit 1 skips the harness's valid hello, so the script runs in the hello phase.

use crate::cursor::{Cursor, Script};

/// Number of operation tags.
pub const OPS: u8 = 12;

/// One thing the harness peer (or the runtime) does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op<'a> {
    /// Seal arbitrary plaintext as one transport record.
    Sealed(&'a [u8]),
    /// Frame arbitrary bytes and seal the frame.
    Frame(&'a [u8]),
    /// Inject raw bytes into the stream (no encryption).
    Raw(&'a [u8]),
    /// A validly signed envelope of any type, framed and sealed.
    Signed {
        /// Which known identity signs it.
        signer: u8,
        /// Its `msg_type`.
        msg_type: u32,
        /// Its hop count.
        hop: u8,
        /// Its payload.
        payload: &'a [u8],
    },
    /// Time passes: `unit` 0 is milliseconds, 1 seconds, 2 jumps to the next deadline.
    Tick {
        /// The unit of `amount`.
        unit: u8,
        /// How many units.
        amount: u16,
    },
    /// The connection under test sends these bytes as an envelope.
    Send(&'a [u8]),
    /// The socket blocks, or unblocks if blocked.
    Block,
    /// The runtime reports EOF.
    TransportClosed,
    /// A framed, sealed record delivered in two reads split at `at`.
    SplitFrame {
        /// Split offset (modulo the record length).
        at: u16,
        /// The frame payload.
        payload: &'a [u8],
    },
    /// A hello or hello-ack, possibly forged.
    Hello {
        /// Which known identity it claims to be.
        signer: u8,
        /// 0: the kind expected, 1: the other kind, 2: a chat type.
        kind: u8,
        /// Which field to break (0: none).
        mutation: u8,
    },
    /// `count` frames of the same payload and a keepalive frame, in one record.
    Frames {
        /// How many copies (at most 15).
        count: u8,
        /// The payload of each.
        payload: &'a [u8],
    },
    /// The owner closes the connection.
    Close,
}

impl<'a> Op<'a> {
    /// Reads the next operation; `None` once the input is exhausted.
    pub fn parse(cursor: &mut Cursor<'a>) -> Option<Self> {
        if cursor.is_empty() {
            return None;
        }
        Some(match cursor.u8() % OPS {
            0 => Op::Sealed(cursor.chunk()),
            1 => Op::Frame(cursor.chunk()),
            2 => Op::Raw(cursor.chunk()),
            3 => Op::Signed {
                signer: cursor.u8(),
                msg_type: cursor.u32(),
                hop: cursor.u8(),
                payload: cursor.chunk(),
            },
            4 => Op::Tick {
                unit: cursor.u8(),
                amount: cursor.u16(),
            },
            5 => Op::Send(cursor.chunk()),
            6 => Op::Block,
            7 => Op::TransportClosed,
            8 => Op::SplitFrame {
                at: cursor.u16(),
                payload: cursor.chunk(),
            },
            9 => Op::Hello {
                signer: cursor.u8(),
                kind: cursor.u8(),
                mutation: cursor.u8(),
            },
            10 => Op::Frames {
                count: cursor.u8() % 16,
                payload: cursor.chunk(),
            },
            _ => Op::Close,
        })
    }

    /// Appends this operation in the format [`Op::parse`] reads.
    pub fn write(&self, script: &mut Script) {
        match self {
            Op::Sealed(bytes) => script.u8(0).chunk(bytes),
            Op::Frame(bytes) => script.u8(1).chunk(bytes),
            Op::Raw(bytes) => script.u8(2).chunk(bytes),
            Op::Signed {
                signer,
                msg_type,
                hop,
                payload,
            } => script
                .u8(3)
                .u8(*signer)
                .u32(*msg_type)
                .u8(*hop)
                .chunk(payload),
            Op::Tick { unit, amount } => script.u8(4).u8(*unit).u16(*amount),
            Op::Send(bytes) => script.u8(5).chunk(bytes),
            Op::Block => script.u8(6),
            Op::TransportClosed => script.u8(7),
            Op::SplitFrame { at, payload } => script.u8(8).u16(*at).chunk(payload),
            Op::Hello {
                signer,
                kind,
                mutation,
            } => script.u8(9).u8(*signer).u8(*kind).u8(*mutation),
            Op::Frames { count, payload } => script.u8(10).u8(*count).chunk(payload),
            Op::Close => script.u8(11),
        };
    }
}
