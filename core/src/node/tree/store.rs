//! The bounded store of recently delivered gossip envelopes (their encoded bytes), served to
//! peers that graft.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::time::Duration;

use foldhash::quality::FixedState;

use crate::node::seen_cache::SeenId;
use crate::time::Instant;

/// Where one stored envelope is.
#[derive(Clone, Copy, Debug)]
struct Entry {
    stored_at: Instant,
    id: SeenId,
    /// Position of its first byte in the stream of every byte ever stored.
    start: u64,
    len: usize,
}

/// Recent envelopes by message digest, oldest evicted first, bounded in count, bytes and age.
///
/// The envelopes are the originals (same ids, payload and signature; only the unsigned hop
/// count is this node's), kept encoded: a receiver verifies them like any gossip, so a node
/// serving them cannot alter them. Storage is first in, first out, so the bytes live in one
/// buffer appended at the back and consumed at the front, and the whole store is three
/// allocations that shrink when it empties (no heap fragments left behind by a flood).
#[derive(Debug)]
pub struct MessageStore {
    /// Stream bytes from position `base` on.
    data: Vec<u8>,
    base: u64,
    /// The entries, oldest first.
    order: VecDeque<Entry>,
    /// Digest to (start, length, whether the first copy took a detour off the tree).
    by_id: hashbrown::HashMap<SeenId, (u64, usize, bool), FixedState>,
    bytes: usize,
    max_messages: usize,
    max_bytes: usize,
    ttl: Duration,
}

impl MessageStore {
    /// An empty store of at most `max_messages` envelopes and `max_bytes`, each kept `ttl`.
    pub fn new(max_messages: usize, max_bytes: usize, ttl: Duration) -> Self {
        MessageStore {
            data: Vec::new(),
            base: 0,
            order: VecDeque::new(),
            by_id: hashbrown::HashMap::with_hasher(FixedState::with_seed(0)),
            bytes: 0,
            max_messages,
            max_bytes,
            ttl,
        }
    }

    /// Keeps the encoded `envelope` under `id`, with whether its first copy came over a
    /// detour (see [`super::DETOUR_FLAG`]); a digest already stored keeps its first envelope.
    /// One larger than the whole byte budget is not stored.
    pub fn insert(&mut self, id: SeenId, envelope: &[u8], detour: bool, now: Instant) {
        let len = envelope.len();
        if self.max_messages == 0 || len > self.max_bytes || self.by_id.contains_key(&id) {
            return;
        }
        self.expire(now);
        while self.order.len() >= self.max_messages || self.bytes + len > self.max_bytes {
            if !self.evict_oldest() {
                break;
            }
        }
        let start = self.base + self.data.len() as u64;
        self.data.extend_from_slice(envelope);
        self.bytes += len;
        self.by_id.insert(id, (start, len, detour));
        self.order.push_back(Entry {
            stored_at: now,
            id,
            start,
            len,
        });
    }

    /// The stored envelope of `id`.
    pub fn get(&self, id: &SeenId) -> Option<&[u8]> {
        let &(start, len, _) = self.by_id.get(id)?;
        let offset = usize::try_from(start.checked_sub(self.base)?).ok()?;
        self.data.get(offset..offset + len)
    }

    /// Whether the first copy of a stored message came over a detour.
    pub fn detour(&self, id: &SeenId) -> Option<bool> {
        self.by_id.get(id).map(|&(_, _, detour)| detour)
    }

    /// The digests stored, oldest first.
    pub fn ids(&self) -> impl Iterator<Item = SeenId> + '_ {
        self.order.iter().map(|entry| entry.id)
    }

    /// Drops the envelopes older than the time to live.
    pub fn expire(&mut self, now: Instant) {
        while let Some(entry) = self.order.front() {
            if entry.stored_at + self.ttl > now {
                break;
            }
            self.evict_oldest();
        }
    }

    /// Number of stored envelopes.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Bytes of the stored envelopes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn evict_oldest(&mut self) -> bool {
        let Some(entry) = self.order.pop_front() else {
            return false;
        };
        self.by_id.remove(&entry.id);
        self.bytes -= entry.len;
        // Bytes before the next entry are dead: drop them once they are half the buffer.
        let live_from = self
            .order
            .front()
            .map_or(self.base + self.data.len() as u64, |e| e.start);
        let dead = usize::try_from(live_from - self.base).unwrap_or(usize::MAX);
        if dead >= self.data.len() {
            self.base += self.data.len() as u64;
            self.data.clear();
        } else if dead > self.data.len() / 2 {
            self.data.drain(..dead);
            self.base = live_from;
        }
        if self.data.capacity() > 4 * self.data.len() + 4_096 {
            self.data.shrink_to(2 * self.data.len());
        }
        if self.order.capacity() > 4 * self.order.len() + 64 {
            self.order.shrink_to(2 * self.order.len());
        }
        if self.by_id.capacity() > 4 * self.by_id.len() + 64 {
            self.by_id.shrink_to(2 * self.by_id.len());
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn envelope(n: u8, len: usize) -> (SeenId, Vec<u8>) {
        (SeenId::of(&alloc::format!("id-{n}")), vec![n; len])
    }

    fn at(secs: u64) -> Instant {
        Instant::from_nanos(secs * 1_000_000_000)
    }

    #[test]
    fn bounded_by_count_oldest_first() {
        let mut store = MessageStore::new(2, 1 << 20, Duration::from_secs(60));
        for n in 0..3 {
            let (id, e) = envelope(n, 10);
            store.insert(id, &e, false, at(1));
        }
        assert_eq!(store.len(), 2);
        assert!(store.get(&envelope(0, 0).0).is_none());
        assert!(store.get(&envelope(2, 0).0).is_some());
    }

    #[test]
    fn bounded_by_bytes_and_refuses_oversized() {
        let mut store = MessageStore::new(100, 100, Duration::from_secs(60));
        let (id, e) = envelope(1, 200);
        store.insert(id, &e, false, at(1));
        assert!(store.is_empty());
        for n in 0..5 {
            let (id, e) = envelope(n, 40);
            store.insert(id, &e, false, at(1));
        }
        assert!(store.bytes() <= 100);
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn expires_after_ttl_and_keeps_first_copy() {
        let mut store = MessageStore::new(10, 1 << 20, Duration::from_secs(60));
        let (id, e) = envelope(1, 10);
        store.insert(id, &e, false, at(0));
        store.insert(id, &[9], false, at(1));
        assert_eq!(store.get(&id).map(<[u8]>::len), Some(10));
        store.expire(at(59));
        assert_eq!(store.len(), 1);
        store.expire(at(60));
        assert!(store.is_empty());
        assert_eq!(store.bytes(), 0);
        assert_eq!(store.ids().count(), 0);
    }

    #[test]
    fn the_byte_buffer_stays_bounded_and_every_stored_envelope_reads_back() {
        let mut store = MessageStore::new(100, 1 << 20, Duration::from_secs(60));
        for n in 0..10_000u32 {
            let id = SeenId::of(&alloc::format!("m{n}"));
            let bytes: Vec<u8> = (0..(n % 700) as usize)
                .map(|i| (i as u32 ^ n) as u8)
                .collect();
            store.insert(id, &bytes, false, at(1));
            assert_eq!(store.get(&id), Some(bytes.as_slice()));
            assert!(
                store.data.len() <= 2 * store.bytes() + 700,
                "dead bytes are dropped"
            );
        }
        assert_eq!(store.len(), 100);
        for n in 9_900..10_000u32 {
            let id = SeenId::of(&alloc::format!("m{n}"));
            let bytes: Vec<u8> = (0..(n % 700) as usize)
                .map(|i| (i as u32 ^ n) as u8)
                .collect();
            assert_eq!(store.get(&id), Some(bytes.as_slice()));
        }
        store.expire(at(61));
        assert!(store.is_empty());
        assert!(
            store.data.capacity() <= 4_096,
            "an empty store gives its room back"
        );
    }
}
