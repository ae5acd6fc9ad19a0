//! The chat messages of a run: sender identities, message ids, and (when presigned) the
//! signed, serialized envelopes, prepared before the timed phase.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use micelio_core::envelope;
use micelio_core::identity::Identity;
use micelio_core::proto::{self, ChatMessage};
use rand_chacha::ChaCha20Rng;
use rand_core::{OsRng, SeedableRng};

/// Nick of every generated chat line.
pub const NICK: &str = "loadgen";

/// The messages of one run. Message `i` is originated by sender `i % senders`, so every
/// sender sends once per round and stays within its rate when the total rate is paced.
pub struct Messages {
    senders: Vec<Identity>,
    ids: Vec<String>,
    /// Serialized signed envelopes, when presigned.
    signed: Option<Vec<Vec<u8>>>,
    index: HashMap<u128, u32>,
    text_len: usize,
    timestamp: u64,
}

/// A fast RNG seeded from the OS (message ids and seeds need uniqueness, not secrecy here).
pub fn fast_rng() -> ChaCha20Rng {
    ChaCha20Rng::from_rng(OsRng).unwrap_or_else(|_| ChaCha20Rng::seed_from_u64(0x6d69_6365))
}

/// `count` fresh identities.
pub fn identities(count: usize, rng: &mut ChaCha20Rng) -> Vec<Identity> {
    (0..count).map(|_| Identity::generate(rng)).collect()
}

/// The 128-bit value of a canonical UUID text (hyphens ignored), used to recognise our ids.
pub fn id_key(message_id: &str) -> Option<u128> {
    if message_id.len() != 36 {
        return None;
    }
    let mut value: u128 = 0;
    let mut digits = 0;
    for byte in message_id.bytes() {
        if byte == b'-' {
            continue;
        }
        let digit = (byte as char).to_digit(16)?;
        value = (value << 4) | u128::from(digit);
        digits += 1;
    }
    (digits == 32).then_some(value)
}

/// The chat text of message `index`: its number, padded with `x` to `len` bytes (never
/// shorter than the number itself).
pub fn chat_text(index: usize, len: usize) -> String {
    let mut text = format!("lg{index} ");
    if text.len() < len {
        text.extend(std::iter::repeat_n('x', len - text.len()));
    }
    text
}

impl Messages {
    /// Prepares `count` messages from `senders` identities with `text_len`-byte texts; when
    /// `presign`, signs and serializes them all, on every available core.
    pub fn prepare(count: usize, senders: usize, text_len: usize, presign: bool) -> Messages {
        let mut rng = fast_rng();
        let senders = identities(senders.max(1), &mut rng);
        let ids: Vec<String> = (0..count)
            .map(|_| envelope::new_message_id(&mut rng))
            .collect();
        let index = ids
            .iter()
            .enumerate()
            .filter_map(|(i, id)| Some((id_key(id)?, u32::try_from(i).ok()?)))
            .collect();
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut messages = Messages {
            senders,
            ids,
            signed: None,
            index,
            text_len,
            timestamp,
        };
        if presign {
            messages.signed = Some(messages.sign_all());
        }
        messages
    }

    fn sign_all(&self) -> Vec<Vec<u8>> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = self.ids.len().div_ceil(threads).max(1);
        let mut signed = vec![Vec::new(); self.ids.len()];
        std::thread::scope(|scope| {
            for (n, out) in signed.chunks_mut(chunk).enumerate() {
                scope.spawn(move || {
                    for (k, slot) in out.iter_mut().enumerate() {
                        *slot = self.build(n * chunk + k);
                    }
                });
            }
        });
        signed
    }

    /// Signs and serializes message `i`.
    fn build(&self, i: usize) -> Vec<u8> {
        let line = ChatMessage {
            nick: NICK.into(),
            text: chat_text(i, self.text_len),
            timestamp: self.timestamp,
        };
        let sender = &self.senders[i % self.senders.len()];
        proto::encode(&envelope::chat(sender, self.ids[i].clone(), &line))
    }

    /// Number of messages.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// The serialized envelope of message `i` (signed now unless presigned).
    pub fn wire(&self, i: usize) -> Cow<'_, [u8]> {
        match &self.signed {
            Some(signed) => Cow::Borrowed(&signed[i]),
            None => Cow::Owned(self.build(i)),
        }
    }

    /// The index of the message with this id, if it is one of ours.
    pub fn lookup(&self, message_id: &str) -> Option<usize> {
        let key = id_key(message_id)?;
        self.index.get(&key).map(|&i| i as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use micelio_core::proto::Envelope;

    #[test]
    fn id_keys_parse_canonical_uuids_only() {
        let id = "6f1c2b7e-3d4a-4c5b-9e8f-0a1b2c3d4e5f";
        assert_eq!(id_key(id), Some(0x6f1c2b7e_3d4a_4c5b_9e8f_0a1b2c3d4e5f));
        assert_eq!(id_key("6f1c2b7e"), None);
        assert_eq!(id_key("zf1c2b7e-3d4a-4c5b-9e8f-0a1b2c3d4e5f"), None);
    }

    #[test]
    fn prepared_messages_verify_and_are_found_by_id() {
        let messages = Messages::prepare(6, 3, 40, true);
        for i in 0..messages.len() {
            let env: Envelope = proto::decode(&messages.wire(i)).unwrap();
            let key: [u8; 32] = env.sender_pubkey.as_slice().try_into().unwrap();
            assert_eq!(envelope::verify(&env, &key), Ok(()));
            assert_eq!(messages.lookup(&env.message_id), Some(i));
            let chat: ChatMessage = proto::decode(&env.payload).unwrap();
            assert_eq!(chat.text.len(), 40);
        }
        // Round-robin senders: message 0 and 3 share an identity, 0 and 1 do not.
        let sender = |i| {
            proto::decode::<Envelope>(&messages.wire(i))
                .unwrap()
                .sender_id
        };
        assert_eq!(sender(0), sender(3));
        assert_ne!(sender(0), sender(1));
        let lazy = Messages::prepare(2, 1, 8, false);
        assert!(proto::decode::<Envelope>(&lazy.wire(1)).is_ok());
    }
}
