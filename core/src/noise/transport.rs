//! The Noise transport run directly on ChaCha20-Poly1305 with the split keys, so that messages
//! up to [`MAX_TRANSPORT_MESSAGE`] bytes work in both directions as with the reference.

use alloc::vec::Vec;

use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit, Nonce, Tag};

use super::{MAX_TRANSPORT_MESSAGE, NoiseError, TAG_LEN, TRANSPORT_PREFIX_LEN};
use crate::suite::Suite;

/// The ChaCha20-Poly1305 nonce of a message counter: 4 zero bytes, then the counter LE.
fn nonce(counter: u64) -> Nonce {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&counter.to_le_bytes());
    *Nonce::from_slice(&nonce)
}

/// The AEAD of one direction.
enum Aead {
    ChaChaPoly(ChaCha20Poly1305),
    #[cfg(feature = "modeled-crypto")]
    Modeled([u8; 32]),
}

/// One direction of the transport: a key and its message counter (spec §5.3).
pub struct CipherState {
    cipher: Aead,
    counter: u64,
}

impl CipherState {
    /// A cipher state starting at counter 0.
    pub fn new(key: &[u8; 32]) -> Self {
        Self::with_suite(key, Suite::Standard)
    }

    /// [`CipherState::new`] with the AEAD of `suite`.
    pub fn with_suite(key: &[u8; 32], suite: Suite) -> Self {
        let cipher = match suite {
            Suite::Standard => Aead::ChaChaPoly(ChaCha20Poly1305::new(Key::from_slice(key))),
            #[cfg(feature = "modeled-crypto")]
            Suite::Modeled => Aead::Modeled(*key),
        };
        CipherState { cipher, counter: 0 }
    }

    /// The counter the next message will use.
    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// Takes the counter for the next message.
    fn next_counter(&mut self) -> Result<u64, NoiseError> {
        // Noise reserves the all-ones counter; reaching it ends the session.
        if self.counter == u64::MAX {
            return Err(NoiseError::NonceExhausted);
        }
        self.counter += 1;
        Ok(self.counter - 1)
    }

    /// Encrypts `buf[start..]` in place and appends the tag.
    pub fn encrypt_in_place(&mut self, buf: &mut Vec<u8>, start: usize) -> Result<(), NoiseError> {
        let counter = self.next_counter()?;
        match &self.cipher {
            Aead::ChaChaPoly(cipher) => {
                let tag = cipher
                    .encrypt_in_place_detached(&nonce(counter), &[], &mut buf[start..])
                    .map_err(|_| NoiseError::PlaintextTooLarge(buf.len() - start))?;
                buf.extend_from_slice(&tag);
            }
            #[cfg(feature = "modeled-crypto")]
            Aead::Modeled(key) => {
                let tag = crate::suite::modeled::tag(key, counter, &[], &buf[start..]);
                buf.extend_from_slice(&tag);
            }
        }
        Ok(())
    }

    /// Decrypts `message` (ciphertext followed by the tag) in place, leaving the plaintext.
    pub fn decrypt_in_place(&mut self, message: &mut Vec<u8>) -> Result<(), NoiseError> {
        let len = message.len();
        if len < TAG_LEN {
            return Err(NoiseError::MessageTooShort(len));
        }
        let counter = self.next_counter()?;
        let tag = *Tag::from_slice(&message[len - TAG_LEN..]);
        message.truncate(len - TAG_LEN);
        match &self.cipher {
            Aead::ChaChaPoly(cipher) => cipher
                .decrypt_in_place_detached(&nonce(counter), &[], message, &tag)
                .map_err(|_| NoiseError::Decrypt),
            #[cfg(feature = "modeled-crypto")]
            Aead::Modeled(key) => {
                if crate::suite::modeled::tag(key, counter, &[], message) == tag.as_slice() {
                    Ok(())
                } else {
                    Err(NoiseError::Decrypt)
                }
            }
        }
    }
}

/// Both directions of an established session.
pub struct Transport {
    send: CipherState,
    receive: CipherState,
}

impl Transport {
    /// A transport from the split keys: `k1` encrypts initiator→responder, `k2` the reverse.
    pub fn from_split(k1: &[u8; 32], k2: &[u8; 32], initiator: bool) -> Self {
        Self::from_split_with(k1, k2, initiator, Suite::Standard)
    }

    /// [`Transport::from_split`] with the AEAD of `suite`.
    pub fn from_split_with(k1: &[u8; 32], k2: &[u8; 32], initiator: bool, suite: Suite) -> Self {
        let (send, receive) = if initiator { (k1, k2) } else { (k2, k1) };
        Transport {
            send: CipherState::with_suite(send, suite),
            receive: CipherState::with_suite(receive, suite),
        }
    }

    /// Seals a record in place. `record` must hold a 4-byte placeholder followed by the
    /// plaintext; afterwards it holds the BE length prefix followed by ciphertext and tag.
    pub fn seal_record(&mut self, record: &mut Vec<u8>) -> Result<(), NoiseError> {
        let plaintext_len = record.len().saturating_sub(TRANSPORT_PREFIX_LEN);
        let message_len = plaintext_len + TAG_LEN;
        if record.len() < TRANSPORT_PREFIX_LEN || message_len > MAX_TRANSPORT_MESSAGE {
            return Err(NoiseError::PlaintextTooLarge(plaintext_len));
        }
        self.send.encrypt_in_place(record, TRANSPORT_PREFIX_LEN)?;
        // message_len <= MAX_TRANSPORT_MESSAGE, which fits in a u32.
        record[..TRANSPORT_PREFIX_LEN].copy_from_slice(&(message_len as u32).to_be_bytes());
        Ok(())
    }

    /// Encrypts `plaintext` as one length-prefixed transport record.
    pub fn encrypt_record(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let mut record = Vec::with_capacity(TRANSPORT_PREFIX_LEN + plaintext.len() + TAG_LEN);
        record.extend_from_slice(&[0; TRANSPORT_PREFIX_LEN]);
        record.extend_from_slice(plaintext);
        self.seal_record(&mut record)?;
        Ok(record)
    }

    /// Decrypts one received transport message body in place.
    pub fn open(&mut self, message: &mut Vec<u8>) -> Result<(), NoiseError> {
        self.receive.decrypt_in_place(message)
    }
}
