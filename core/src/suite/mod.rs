//! Which cryptography an identity runs: the real primitives of the protocol, or (feature
//! `modeled-crypto`, for the simulator only) cheap stand-ins of the same sizes.
//!
//! A [`Suite`] travels with an [`crate::identity::Identity`]; everything that signs, verifies,
//! runs the Noise handshake or seals transport records for that identity asks its suite. With
//! the default [`Suite::Standard`] every operation is exactly the wire protocol's. The modeled
//! suite keeps every size and every failure the protocol can observe (a wrong key, an altered
//! byte, a wrong signer all fail) but gives no secrecy and no unforgeability against code that
//! knows the model: it exists so that a simulated network of thousands of nodes spends its time
//! on the protocol rather than on curve arithmetic.

#[cfg(feature = "modeled-crypto")]
pub(crate) mod modeled;

use alloc::boxed::Box;

use ed25519_dalek::{Signature, Verifier, VerifyingKey};

use crate::identity::{KEY_LEN, KeyConversionError, SIGNATURE_LEN, x25519_public_from_ed25519};

/// The cryptography of an identity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Suite {
    /// ED25519 signatures, `Noise_XX_25519_ChaChaPoly_BLAKE2s`, ChaCha20-Poly1305 records: the
    /// protocol. The only suite a runtime may use.
    #[default]
    Standard,
    /// Keyed non-cryptographic digests in place of signatures, DH and AEAD, with the same
    /// sizes (simulation only; insecure by design).
    #[cfg(feature = "modeled-crypto")]
    Modeled,
}

/// A public key prepared once for repeated verification under a [`Suite`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PreparedKey {
    /// A decompressed ED25519 point (boxed: it is 192 bytes, and key rings hold thousands).
    Ed25519(Box<VerifyingKey>),
    /// Bytes that are not a curve point: every signature fails against them.
    Invalid,
    /// A key of the modeled suite (the raw bytes).
    #[cfg(feature = "modeled-crypto")]
    Modeled([u8; KEY_LEN]),
}

impl Suite {
    /// Prepares `key` for [`Suite::verify_prepared`].
    pub fn prepare_key(self, key: &[u8; KEY_LEN]) -> PreparedKey {
        match self {
            Suite::Standard => VerifyingKey::from_bytes(key)
                .map(|key| PreparedKey::Ed25519(Box::new(key)))
                .unwrap_or(PreparedKey::Invalid),
            #[cfg(feature = "modeled-crypto")]
            Suite::Modeled => PreparedKey::Modeled(*key),
        }
    }

    /// True when `signature` is a valid signature of `message` under `key` (for ED25519, with
    /// the acceptance rules of Go's `crypto/ed25519.Verify`: cofactorless, canonical S).
    pub fn verify_prepared(
        self,
        key: &PreparedKey,
        message: &[u8],
        signature: &[u8; SIGNATURE_LEN],
    ) -> bool {
        match key {
            // `verify`, not `verify_strict`: recomputes R from [s]B - [k]A and compares the
            // encodings, rejecting a non-canonical S, exactly as Go does.
            PreparedKey::Ed25519(key) => key
                .verify(message, &Signature::from_bytes(signature))
                .is_ok(),
            PreparedKey::Invalid => false,
            #[cfg(feature = "modeled-crypto")]
            PreparedKey::Modeled(key) => {
                self == Suite::Modeled && modeled::signature(key, message) == *signature
            }
        }
    }

    /// The Noise static public key bound to an ED25519 public key (spec §3.2): for the
    /// standard suite, the X25519 form of the same point.
    pub fn x25519_binding(self, public_key: &[u8]) -> Result<[u8; KEY_LEN], KeyConversionError> {
        match self {
            Suite::Standard => x25519_public_from_ed25519(public_key),
            #[cfg(feature = "modeled-crypto")]
            Suite::Modeled => {
                let key: &[u8; KEY_LEN] = public_key
                    .try_into()
                    .map_err(|_| KeyConversionError::WrongLength(public_key.len()))?;
                Ok(modeled::x25519_binding(key))
            }
        }
    }
}
