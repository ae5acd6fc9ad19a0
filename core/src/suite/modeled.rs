//! The modeled suite's primitives: a fast keyed digest standing in for signatures, X25519 and
//! ChaCha20-Poly1305, with the real sizes (64-byte signatures, 32-byte keys, 16-byte tags).
//!
//! Nothing here is cryptography: the digest only has to make accidental collisions and
//! unnoticed alterations practically impossible inside a simulation.

use alloc::boxed::Box;

use snow::types::{Cipher, Dh, Random};

use crate::identity::{KEY_LEN, SIGNATURE_LEN};
use crate::noise::TAG_LEN;

const P1: u64 = 0x9e37_79b9_7f4a_7c15;
const P2: u64 = 0xc2b2_ae3d_27d4_eb4f;
const P3: u64 = 0x1656_67b1_9e37_79f9;

/// Domain separation of the four uses of the digest.
#[derive(Clone, Copy)]
#[repr(u64)]
enum Domain {
    Signature = 1,
    Binding = 2,
    SharedSecret = 3,
    Tag = 4,
}

/// Mixes one lane with one word.
#[inline(always)]
fn round(lane: u64, word: u64) -> u64 {
    (lane ^ word)
        .wrapping_mul(P1)
        .rotate_left(31)
        .wrapping_mul(P2)
}

/// Final avalanche of one word (the SplitMix64 finalizer).
#[inline(always)]
fn avalanche(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn word(bytes: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    buf[..bytes.len()].copy_from_slice(bytes);
    u64::from_le_bytes(buf)
}

/// Four-lane digest of `parts` (each length-delimited) under `key` and `domain`, expanded to
/// eight words.
fn digest(domain: Domain, key: &[u8; KEY_LEN], parts: &[&[u8]]) -> [u64; 8] {
    let mut lanes = [0u64; 4];
    for (i, lane) in lanes.iter_mut().enumerate() {
        *lane = word(&key[i * 8..i * 8 + 8]) ^ P3.wrapping_mul(domain as u64 + i as u64 + 1);
    }
    for part in parts {
        let mut blocks = part.chunks_exact(32);
        for block in &mut blocks {
            for (i, lane) in lanes.iter_mut().enumerate() {
                *lane = round(*lane, word(&block[i * 8..i * 8 + 8]));
            }
        }
        let rest = blocks.remainder();
        for (i, lane) in lanes.iter_mut().enumerate() {
            let start = (i * 8).min(rest.len());
            let end = (i * 8 + 8).min(rest.len());
            *lane = round(*lane, word(&rest[start..end]) ^ (part.len() as u64) << 3);
        }
    }
    let mut out = [0u64; 8];
    for i in 0..4 {
        let mixed = lanes[i] ^ lanes[(i + 1) % 4].rotate_left(17) ^ lanes[(i + 2) % 4];
        out[i] = avalanche(mixed);
        out[i + 4] = avalanche(mixed ^ P1 ^ lanes[(i + 3) % 4].rotate_left(41));
    }
    out
}

fn to_bytes<const N: usize>(words: &[u64; 8]) -> [u8; N] {
    let mut out = [0u8; N];
    for (chunk, word) in out.chunks_mut(8).zip(words) {
        chunk.copy_from_slice(&word.to_le_bytes()[..chunk.len()]);
    }
    out
}

/// The modeled signature of `message` by the holder of `public_key`.
pub(crate) fn signature(public_key: &[u8; KEY_LEN], message: &[u8]) -> [u8; SIGNATURE_LEN] {
    to_bytes(&digest(Domain::Signature, public_key, &[message]))
}

/// The modeled Noise static key bound to an ED25519 public key (public and private at once:
/// the modeled DH needs no secret).
pub(crate) fn x25519_binding(public_key: &[u8; KEY_LEN]) -> [u8; KEY_LEN] {
    to_bytes(&digest(Domain::Binding, public_key, &[]))
}

/// The modeled AEAD tag of `data` under `key`, `nonce` and associated data `ad`.
pub(crate) fn tag(key: &[u8; KEY_LEN], nonce: u64, ad: &[u8], data: &[u8]) -> [u8; TAG_LEN] {
    to_bytes(&digest(Domain::Tag, key, &[&nonce.to_le_bytes(), ad, data]))
}

/// Modeled X25519: the public key equals the private key, and the shared secret is a digest
/// of the two public keys in sorted order, so both sides compute the same value.
#[derive(Default)]
struct ModeledDh {
    key: [u8; KEY_LEN],
}

impl Dh for ModeledDh {
    fn name(&self) -> &'static str {
        "25519"
    }
    fn pub_len(&self) -> usize {
        KEY_LEN
    }
    fn priv_len(&self) -> usize {
        KEY_LEN
    }
    fn set(&mut self, privkey: &[u8]) {
        let len = privkey.len().min(KEY_LEN);
        self.key = [0; KEY_LEN];
        self.key[..len].copy_from_slice(&privkey[..len]);
    }
    fn generate(&mut self, rng: &mut dyn Random) -> Result<(), snow::Error> {
        rng.try_fill_bytes(&mut self.key)
    }
    fn pubkey(&self) -> &[u8] {
        &self.key
    }
    fn privkey(&self) -> &[u8] {
        &self.key
    }
    fn dh(&self, pubkey: &[u8], out: &mut [u8]) -> Result<(), snow::Error> {
        // snow hands over its key buffer, which may be longer than the key.
        let other: &[u8; KEY_LEN] = pubkey
            .get(..KEY_LEN)
            .and_then(|key| key.try_into().ok())
            .ok_or(snow::Error::Dh)?;
        let (low, high) = if self.key <= *other {
            (&self.key, other)
        } else {
            (other, &self.key)
        };
        let secret: [u8; KEY_LEN] = to_bytes(&digest(Domain::SharedSecret, low, &[high]));
        let len = out.len().min(KEY_LEN);
        out[..len].copy_from_slice(&secret[..len]);
        Ok(())
    }
}

/// Modeled ChaCha20-Poly1305 for the handshake: the plaintext followed by a keyed tag.
#[derive(Default)]
struct ModeledCipher {
    key: [u8; KEY_LEN],
}

impl Cipher for ModeledCipher {
    fn name(&self) -> &'static str {
        "ChaChaPoly"
    }
    fn set(&mut self, key: &[u8; KEY_LEN]) {
        self.key = *key;
    }
    fn encrypt(&self, nonce: u64, authtext: &[u8], plaintext: &[u8], out: &mut [u8]) -> usize {
        let len = plaintext.len();
        out[..len].copy_from_slice(plaintext);
        out[len..len + TAG_LEN].copy_from_slice(&tag(&self.key, nonce, authtext, plaintext));
        len + TAG_LEN
    }
    fn decrypt(
        &self,
        nonce: u64,
        authtext: &[u8],
        ciphertext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, snow::Error> {
        let len = ciphertext
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(snow::Error::Decrypt)?;
        let (body, received) = ciphertext.split_at(len);
        if tag(&self.key, nonce, authtext, body) != received {
            return Err(snow::Error::Decrypt);
        }
        out.get_mut(..len)
            .ok_or(snow::Error::Decrypt)?
            .copy_from_slice(body);
        Ok(len)
    }
}

/// A modeled X25519 for snow.
pub(crate) fn noise_dh() -> Box<dyn Dh> {
    Box::new(ModeledDh::default())
}

/// A modeled ChaCha20-Poly1305 for snow.
pub(crate) fn noise_cipher() -> Box<dyn Cipher> {
    Box::new(ModeledCipher::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_depend_on_key_and_every_byte() {
        let key = [7u8; 32];
        let message = b"the quick brown fox jumps over the lazy dog, twice over";
        let sig = signature(&key, message);
        assert_eq!(sig, signature(&key, message));
        assert_ne!(sig, signature(&[8u8; 32], message));
        for i in 0..message.len() {
            let mut altered = *message;
            altered[i] ^= 1;
            assert_ne!(sig, signature(&key, &altered), "byte {i}");
        }
        // Lengths are part of the digest: a trailing zero changes it.
        let mut longer = message.to_vec();
        longer.push(0);
        assert_ne!(sig, signature(&key, &longer));
    }

    #[test]
    fn shared_secret_is_symmetric_and_depends_on_both_keys() {
        let mut a = ModeledDh::default();
        a.set(&[1; 32]);
        let mut b = ModeledDh::default();
        b.set(&[2; 32]);
        let (mut ab, mut ba, mut aa) = ([0u8; 32], [0u8; 32], [0u8; 32]);
        a.dh(b.pubkey(), &mut ab).unwrap();
        b.dh(a.pubkey(), &mut ba).unwrap();
        a.dh(a.pubkey(), &mut aa).unwrap();
        assert_eq!(ab, ba);
        assert_ne!(ab, aa);
    }

    #[test]
    fn cipher_rejects_any_alteration_and_a_wrong_nonce() {
        let mut cipher = ModeledCipher::default();
        cipher.set(&[3; 32]);
        let mut sealed = [0u8; 40];
        let len = cipher.encrypt(5, b"ad", &[9u8; 24], &mut sealed);
        assert_eq!(len, 40);
        let mut out = [0u8; 40];
        assert_eq!(cipher.decrypt(5, b"ad", &sealed, &mut out).unwrap(), 24);
        assert!(cipher.decrypt(6, b"ad", &sealed, &mut out).is_err());
        assert!(cipher.decrypt(5, b"da", &sealed, &mut out).is_err());
        for i in 0..sealed.len() {
            let mut altered = sealed;
            altered[i] ^= 0x80;
            assert!(
                cipher.decrypt(5, b"ad", &altered, &mut out).is_err(),
                "byte {i}"
            );
        }
    }
}

#[cfg(test)]
mod handshake_tests {
    use alloc::vec::Vec;

    use crate::noise::Handshake;
    use crate::suite::Suite;

    #[test]
    fn modeled_handshake_completes() {
        let mut init = Handshake::with_suite(true, &[1; 32], [2; 32], Suite::Modeled).unwrap();
        let mut resp = Handshake::with_suite(false, &[3; 32], [4; 32], Suite::Modeled).unwrap();
        for step in 0..3 {
            let (writer, reader) = if step % 2 == 0 {
                (&mut init, &mut resp)
            } else {
                (&mut resp, &mut init)
            };
            let mut out = Vec::new();
            writer.write_message(&mut out).unwrap();
            reader.read_message(&out[2..]).unwrap();
        }
        let a = init.finish().unwrap();
        let b = resp.finish().unwrap();
        assert_eq!(a.handshake_hash, b.handshake_hash);
        assert_eq!(a.remote_static, [3; 32]);
        assert_eq!(b.remote_static, [1; 32]);
    }
}
