//! Sans-IO protocol core of Micelio.
//!
//! This crate never touches a socket, a clock, a thread, a file or an entropy source: time is a
//! value passed in ([`time::Instant`]) and randomness comes from an RNG the caller passes in, so
//! the same inputs always produce the same outputs.
//!
//! Layers, bottom up:
//! - [`identity`]: ED25519 identities, node ids and the ED25519 → X25519 conversion.
//! - [`frame`]: the 8-byte frame header and an incremental frame decoder.
//! - [`envelope`]: signed envelopes and the payload of each message type.
//! - [`noise`]: the `Noise_XX_25519_ChaChaPoly_BLAKE2s` handshake and the large-message transport.
//! - [`connection`]: one peer connection as a state machine (handshake, hello, keepalive, timers).
//! - [`node`]: many connections: admission, gossip, discovery and the known-peer table.
//! - [`state`]: the shared last-writer-wins map, its Lamport clock and anti-entropy.
//!
//! Beside them: [`suite`] (which cryptography an identity runs), [`time`] (the caller's clock as a value) and [`proto`] (the wire messages,
//! re-exported from `micelio-proto`).
//!
//! Runnable examples: [`identity::Identity`], [`envelope`] (sign, verify, tamper),
//! [`frame::FrameDecoder`], [`connection::Connection`] (two connections wired in memory) and
//! [`node::Node`] (two nodes exchanging a chat line, with the whole input/output loop).
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod codec;
pub mod connection;
pub mod envelope;
pub mod frame;
pub mod identity;
pub mod node;
pub mod noise;
pub mod state;
pub mod suite;
pub mod time;

pub use micelio_proto as proto;
