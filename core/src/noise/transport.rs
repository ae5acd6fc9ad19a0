//! The Noise transport run directly on ChaCha20-Poly1305 with the split keys, so that messages
//! up to [`MAX_TRANSPORT_MESSAGE`] bytes work in both directions as with the reference.

use alloc::vec::Vec;

use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit, Nonce, Tag};

use super::{MAX_TRANSPORT_MESSAGE, NoiseError, TAG_LEN, TRANSPORT_PREFIX_LEN};

/// One direction of the transport: a key and its message counter (spec §5.3).
pub struct CipherState {
    cipher: ChaCha20Poly1305,
    counter: u64,
}

impl CipherState {
    /// A cipher state starting at counter 0.
    pub fn new(key: &[u8; 32]) -> Self {
        CipherState {
            cipher: ChaCha20Poly1305::new(Key::from_slice(key)),
            counter: 0,
        }
    }

    /// The counter the next message will use.
    pub fn counter(&self) -> u64 {
        self.counter
    }

    fn next_nonce(&mut self) -> Result<Nonce, NoiseError> {
        // Noise reserves the all-ones counter; reaching it ends the session.
        if self.counter == u64::MAX {
            return Err(NoiseError::NonceExhausted);
        }
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&self.counter.to_le_bytes());
        self.counter += 1;
        Ok(*Nonce::from_slice(&nonce))
    }

    /// Encrypts `buf[start..]` in place and appends the tag.
    pub fn encrypt_in_place(&mut self, buf: &mut Vec<u8>, start: usize) -> Result<(), NoiseError> {
        let nonce = self.next_nonce()?;
        let tag = self
            .cipher
            .encrypt_in_place_detached(&nonce, &[], &mut buf[start..])
            .map_err(|_| NoiseError::PlaintextTooLarge(buf.len() - start))?;
        buf.extend_from_slice(&tag);
        Ok(())
    }

    /// Decrypts `message` (ciphertext followed by the tag) in place, leaving the plaintext.
    pub fn decrypt_in_place(&mut self, message: &mut Vec<u8>) -> Result<(), NoiseError> {
        let len = message.len();
        if len < TAG_LEN {
            return Err(NoiseError::MessageTooShort(len));
        }
        let nonce = self.next_nonce()?;
        let tag = *Tag::from_slice(&message[len - TAG_LEN..]);
        message.truncate(len - TAG_LEN);
        self.cipher
            .decrypt_in_place_detached(&nonce, &[], message, &tag)
            .map_err(|_| NoiseError::Decrypt)
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
        let (send, receive) = if initiator { (k1, k2) } else { (k2, k1) };
        Transport {
            send: CipherState::new(send),
            receive: CipherState::new(receive),
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
