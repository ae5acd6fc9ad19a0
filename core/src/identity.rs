//! Node identities: the ED25519 key pair, the node id, and the ED25519 → X25519 conversion.

use core::fmt;

use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::{Signer, SigningKey};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256, Sha512};

use crate::suite::Suite;

/// Length in bytes of raw ED25519 and X25519 keys.
pub const KEY_LEN: usize = 32;
/// Length in bytes of an ED25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Length in characters of a node id (lowercase hex of a SHA-256 digest).
pub const NODE_ID_LEN: usize = 64;

/// A node id: the lowercase hex SHA-256 of the node's raw ED25519 public key.
///
/// Stored inline as its 64 ASCII characters, so it is `Copy` and compares exactly like the
/// reference's string comparison.
///
/// ```
/// use micelio_core::identity::{Identity, NodeId};
///
/// let id = Identity::from_seed(&[1; 32]).node_id();
/// assert_eq!(id.to_string().len(), 64);
/// // Only 64 lowercase hex characters parse.
/// assert_eq!(NodeId::parse(&id.to_string()), Some(id));
/// assert_eq!(NodeId::parse(&id.to_string().to_uppercase()), None);
/// assert_eq!(NodeId::parse("abc"), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeId([u8; NODE_ID_LEN]);

impl Ord for NodeId {
    /// Byte-wise (string) order. Ids of different nodes almost always differ in their first
    /// eight characters, so those are compared as one big-endian word first: tables keyed by
    /// node id compare keys without a call to `memcmp`.
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        let head = |id: &NodeId| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&id.0[..8]);
            u64::from_be_bytes(word)
        };
        head(self)
            .cmp(&head(other))
            .then_with(|| self.0[8..].cmp(&other.0[8..]))
    }
}

impl PartialOrd for NodeId {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl NodeId {
    /// The node id of an ED25519 public key.
    pub fn from_public_key(public_key: &[u8; KEY_LEN]) -> Self {
        let digest = Sha256::digest(public_key);
        let mut text = [0u8; NODE_ID_LEN];
        // Encoding 32 bytes into a 64-byte buffer cannot fail.
        let _ = hex::encode_to_slice(digest, &mut text);
        NodeId(text)
    }

    /// Parses a node id as sent on the wire: exactly 64 lowercase hex characters.
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != NODE_ID_LEN
            || !bytes.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return None;
        }
        let mut id = [0u8; NODE_ID_LEN];
        id.copy_from_slice(bytes);
        Some(NodeId(id))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        // Constructors only ever store lowercase hex ASCII.
        core::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// True when `public_key` hashes to this node id.
    pub fn matches_public_key(&self, public_key: &[u8]) -> bool {
        <&[u8; KEY_LEN]>::try_from(public_key)
            .map(|key| NodeId::from_public_key(key) == *self)
            .unwrap_or(false)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", &self.as_str()[..12])
    }
}

/// Why an ED25519 public key could not be converted to X25519.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyConversionError {
    /// The key is not exactly 32 bytes long.
    WrongLength(usize),
    /// The bytes do not encode a point on the curve.
    NotOnCurve,
}

impl fmt::Display for KeyConversionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongLength(len) => write!(f, "ed25519 public key has {len} bytes, expected 32"),
            Self::NotOnCurve => f.write_str("ed25519 public key is not a curve point"),
        }
    }
}

impl core::error::Error for KeyConversionError {}

/// Converts an ED25519 public key to the X25519 public key of the same point (spec §3.2):
/// the Montgomery u-coordinate, little-endian and fully reduced.
pub fn x25519_public_from_ed25519(public_key: &[u8]) -> Result<[u8; KEY_LEN], KeyConversionError> {
    let bytes: [u8; KEY_LEN] = public_key
        .try_into()
        .map_err(|_| KeyConversionError::WrongLength(public_key.len()))?;
    let point = CompressedEdwardsY(bytes)
        .decompress()
        .ok_or(KeyConversionError::NotOnCurve)?;
    Ok(point.to_montgomery().to_bytes())
}

/// Converts an ED25519 seed to the X25519 private key used as Noise static key (spec §3.2):
/// the first 32 bytes of SHA-512(seed), unclamped.
pub fn x25519_private_from_seed(seed: &[u8; KEY_LEN]) -> [u8; KEY_LEN] {
    let digest = Sha512::digest(seed);
    let mut key = [0u8; KEY_LEN];
    key.copy_from_slice(&digest[..KEY_LEN]);
    key
}

/// A node's identity: its ED25519 signing key and everything derived from it.
///
/// Everything is derived from the 32-byte seed: the ED25519 public key, the [`NodeId`] (the
/// lowercase hex SHA-256 of that key) and the X25519 key pair used as Noise static key.
///
/// # Example
///
/// ```
/// use micelio_core::identity::{Identity, NodeId, x25519_public_from_ed25519};
/// use sha2::{Digest, Sha256};
///
/// let identity = Identity::from_seed(&[7; 32]);
/// // The seed is the whole secret: the same seed gives the same identity.
/// let again = Identity::from_seed(&identity.seed());
/// assert_eq!(again.public_key(), identity.public_key());
///
/// // The node id is the lowercase hex SHA-256 of the raw ED25519 public key.
/// let id = identity.node_id();
/// let digest = Sha256::digest(identity.public_key());
/// assert_eq!(id.as_str(), hex::encode(digest));
/// assert_eq!(NodeId::parse(id.as_str()), Some(id));
/// assert!(id.matches_public_key(identity.public_key()));
///
/// // The Noise static key is the X25519 form of the same key, so peers can bind the two.
/// let x25519 = x25519_public_from_ed25519(identity.public_key()).unwrap();
/// assert_eq!(&x25519, identity.x25519_public());
/// ```
#[derive(Clone)]
pub struct Identity {
    signing_key: SigningKey,
    public_key: [u8; KEY_LEN],
    node_id: NodeId,
    x25519_private: [u8; KEY_LEN],
    x25519_public: [u8; KEY_LEN],
    suite: Suite,
}

impl Identity {
    /// The identity whose ED25519 key pair is derived from a 32-byte seed.
    pub fn from_seed(seed: &[u8; KEY_LEN]) -> Self {
        let signing_key = SigningKey::from_bytes(seed);
        let public_key = signing_key.verifying_key().to_bytes();
        let x25519_private = x25519_private_from_seed(seed);
        let x25519_public = signing_key.verifying_key().to_montgomery().to_bytes();
        Identity {
            signing_key,
            public_key,
            node_id: NodeId::from_public_key(&public_key),
            x25519_private,
            x25519_public,
            suite: Suite::Standard,
        }
    }

    /// The identity of `seed` under the modeled suite (simulation only, see [`Suite`]): the
    /// same ED25519 public key and node id, modeled signatures and Noise keys.
    #[cfg(feature = "modeled-crypto")]
    pub fn modeled_from_seed(seed: &[u8; KEY_LEN]) -> Self {
        let signing_key = SigningKey::from_bytes(seed);
        let public_key = signing_key.verifying_key().to_bytes();
        let binding = crate::suite::modeled::x25519_binding(&public_key);
        Identity {
            signing_key,
            public_key,
            node_id: NodeId::from_public_key(&public_key),
            x25519_private: binding,
            x25519_public: binding,
            suite: Suite::Modeled,
        }
    }

    /// The cryptography this identity signs and connects with.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// A fresh identity drawn from `rng`.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut seed = [0u8; KEY_LEN];
        rng.fill_bytes(&mut seed);
        Identity::from_seed(&seed)
    }

    /// The 32-byte seed the key pair is derived from (the secret to persist).
    pub fn seed(&self) -> [u8; KEY_LEN] {
        self.signing_key.to_bytes()
    }

    /// The raw ED25519 public key.
    pub fn public_key(&self) -> &[u8; KEY_LEN] {
        &self.public_key
    }

    /// The node id derived from the public key.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The X25519 private key used as the Noise static key.
    pub fn x25519_private(&self) -> &[u8; KEY_LEN] {
        &self.x25519_private
    }

    /// The X25519 public key matching [`Identity::x25519_private`].
    pub fn x25519_public(&self) -> &[u8; KEY_LEN] {
        &self.x25519_public
    }

    /// Signs `message` with pure ED25519 (or the modeled signature of a modeled identity).
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        match self.suite {
            Suite::Standard => self.signing_key.sign(message).to_bytes(),
            #[cfg(feature = "modeled-crypto")]
            Suite::Modeled => crate::suite::modeled::signature(&self.public_key, message),
        }
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}
