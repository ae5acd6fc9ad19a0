//! The Noise layer (spec §5): `Noise_XX_25519_ChaChaPoly_BLAKE2s` with empty prologue and
//! payloads, length-prefixed records, and a transport that carries messages past 65,535 bytes.

mod handshake;
mod record;
mod transport;

use core::fmt;

pub use handshake::{Handshake, HandshakeOutcome};
pub use record::RecordDecoder;
pub use transport::{CipherState, Transport};

/// The Noise protocol name.
pub const PROTOCOL_NAME: &str = "Noise_XX_25519_ChaChaPoly_BLAKE2s";
/// Size of the big-endian length prefix before each handshake message.
pub const HANDSHAKE_PREFIX_LEN: usize = 2;
/// Size of the big-endian length prefix before each transport message.
pub const TRANSPORT_PREFIX_LEN: usize = 4;
/// Size of the ChaCha20-Poly1305 authentication tag.
pub const TAG_LEN: usize = 16;
/// Largest transport ciphertext accepted: the largest frame (1 MiB + 8) plus the tag.
pub const MAX_TRANSPORT_MESSAGE: usize =
    crate::frame::MAX_PAYLOAD + crate::frame::HEADER_LEN + TAG_LEN;
/// Largest handshake message the 2-byte prefix can announce.
pub const MAX_HANDSHAKE_MESSAGE: usize = u16::MAX as usize;

/// A failure of the Noise layer; every one ends the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoiseError {
    /// The handshake state could not be built (a local configuration problem).
    Init,
    /// A handshake message was malformed or failed authentication.
    Handshake,
    /// A transport message announced more than [`MAX_TRANSPORT_MESSAGE`] bytes.
    MessageTooLarge(usize),
    /// A transport message shorter than the tag.
    MessageTooShort(usize),
    /// A transport message failed authentication.
    Decrypt,
    /// A plaintext too large to send as one transport message.
    PlaintextTooLarge(usize),
    /// The 64-bit nonce counter is exhausted.
    NonceExhausted,
}

impl fmt::Display for NoiseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Init => f.write_str("noise handshake state could not be built"),
            Self::Handshake => f.write_str("noise handshake failed"),
            Self::MessageTooLarge(n) => {
                write!(
                    f,
                    "transport message of {n} bytes exceeds {MAX_TRANSPORT_MESSAGE}"
                )
            }
            Self::MessageTooShort(n) => write!(f, "transport message of {n} bytes has no tag"),
            Self::Decrypt => f.write_str("transport message failed authentication"),
            Self::PlaintextTooLarge(n) => write!(f, "plaintext of {n} bytes is too large"),
            Self::NonceExhausted => f.write_str("transport nonce exhausted"),
        }
    }
}

impl core::error::Error for NoiseError {}
