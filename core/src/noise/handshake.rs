//! The three-message XX handshake, on `snow`, with the ephemeral key supplied by the caller.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use snow::params::{CipherChoice, DHChoice, HashChoice};
use snow::resolvers::{CryptoResolver, DefaultResolver};
use snow::types::{Cipher, Dh, Hash, Random};

use super::{NoiseError, PROTOCOL_NAME, Transport};
use crate::suite::Suite;

/// Hands snow exactly the ephemeral private key drawn by the caller, and nothing more.
struct SuppliedEphemeral {
    key: Option<[u8; 32]>,
}

impl Random for SuppliedEphemeral {
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), snow::Error> {
        match self.key.take() {
            Some(key) if dest.len() == key.len() => {
                dest.copy_from_slice(&key);
                Ok(())
            }
            _ => Err(snow::Error::Rng),
        }
    }
}

/// The suite's snow primitives, with the caller's ephemeral key as the only randomness.
struct Resolver {
    ephemeral: [u8; 32],
    suite: Suite,
}

impl CryptoResolver for Resolver {
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        Some(Box::new(SuppliedEphemeral {
            key: Some(self.ephemeral),
        }))
    }
    fn resolve_dh(&self, choice: &DHChoice) -> Option<Box<dyn Dh>> {
        match self.suite {
            Suite::Standard => DefaultResolver.resolve_dh(choice),
            #[cfg(feature = "modeled-crypto")]
            Suite::Modeled => Some(crate::suite::modeled::noise_dh()),
        }
    }
    fn resolve_hash(&self, choice: &HashChoice) -> Option<Box<dyn Hash>> {
        DefaultResolver.resolve_hash(choice)
    }
    fn resolve_cipher(&self, choice: &CipherChoice) -> Option<Box<dyn Cipher>> {
        match self.suite {
            Suite::Standard => DefaultResolver.resolve_cipher(choice),
            #[cfg(feature = "modeled-crypto")]
            Suite::Modeled => Some(crate::suite::modeled::noise_cipher()),
        }
    }
}

/// What a completed handshake yields.
pub struct HandshakeOutcome {
    /// The transport keyed with the split keys.
    pub transport: Transport,
    /// The peer's X25519 static public key, authenticated by the handshake.
    pub remote_static: [u8; 32],
    /// The final handshake hash (identical on both sides).
    pub handshake_hash: [u8; 32],
    /// The raw split keys (k1 initiator→responder, k2 responder→initiator).
    pub split: ([u8; 32], [u8; 32]),
}

/// An XX handshake in progress.
pub struct Handshake {
    state: Box<snow::HandshakeState>,
    initiator: bool,
    suite: Suite,
}

impl Handshake {
    /// A handshake for the initiator (the dialer) or the responder, with the node's X25519
    /// static private key and an ephemeral private key drawn by the caller.
    pub fn new(
        initiator: bool,
        static_private: &[u8; 32],
        ephemeral_private: [u8; 32],
    ) -> Result<Self, NoiseError> {
        Self::with_suite(
            initiator,
            static_private,
            ephemeral_private,
            Suite::Standard,
        )
    }

    /// [`Handshake::new`] with the primitives of `suite`.
    pub fn with_suite(
        initiator: bool,
        static_private: &[u8; 32],
        ephemeral_private: [u8; 32],
        suite: Suite,
    ) -> Result<Self, NoiseError> {
        let params = PROTOCOL_NAME.parse().map_err(|_| NoiseError::Init)?;
        let builder = snow::Builder::with_resolver(
            params,
            Box::new(Resolver {
                ephemeral: ephemeral_private,
                suite,
            }),
        )
        .local_private_key(static_private)
        .map_err(|_| NoiseError::Init)?;
        let state = if initiator {
            builder.build_initiator()
        } else {
            builder.build_responder()
        }
        .map_err(|_| NoiseError::Init)?;
        Ok(Handshake {
            state: Box::new(state),
            initiator,
            suite,
        })
    }

    /// True when the next handshake step is ours to write.
    pub fn is_my_turn(&self) -> bool {
        self.state.is_my_turn()
    }

    /// True once all three messages have been processed.
    pub fn is_finished(&self) -> bool {
        self.state.is_handshake_finished()
    }

    /// Writes the next handshake message (empty payload) with its 2-byte prefix to `out`.
    pub fn write_message(&mut self, out: &mut Vec<u8>) -> Result<(), NoiseError> {
        let mut message = [0u8; 128];
        let len = self
            .state
            .write_message(&[], &mut message)
            .map_err(|_| NoiseError::Handshake)?;
        // XX messages with empty payloads are at most 96 bytes.
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.extend_from_slice(&message[..len]);
        Ok(())
    }

    /// Processes one received handshake message (without its prefix). A non-empty payload is
    /// accepted and ignored, as by the reference.
    pub fn read_message(&mut self, message: &[u8]) -> Result<(), NoiseError> {
        let mut payload = vec![0u8; message.len()];
        self.state
            .read_message(message, &mut payload)
            .map(|_| ())
            .map_err(|_| NoiseError::Handshake)
    }

    /// Finishes a completed handshake into its transport and the authenticated peer key.
    pub fn finish(&mut self) -> Result<HandshakeOutcome, NoiseError> {
        if !self.state.is_handshake_finished() {
            return Err(NoiseError::Handshake);
        }
        let remote_static: [u8; 32] = self
            .state
            .get_remote_static()
            .and_then(|key| key.try_into().ok())
            .ok_or(NoiseError::Handshake)?;
        let handshake_hash: [u8; 32] = self
            .state
            .get_handshake_hash()
            .try_into()
            .map_err(|_| NoiseError::Handshake)?;
        let (k1, k2) = self.state.dangerously_get_raw_split();
        Ok(HandshakeOutcome {
            transport: Transport::from_split_with(&k1, &k2, self.initiator, self.suite),
            remote_static,
            handshake_hash,
            split: (k1, k2),
        })
    }
}
