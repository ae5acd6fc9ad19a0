//! The gossip seen cache (spec §10.6): which message ids were already processed, and since
//! when, bounded in time (a TTL enforced by periodic sweeps) and in size (oldest evicted first).

use alloc::collections::{BTreeSet, VecDeque};
use core::time::Duration;

use sha2::{Digest, Sha256};

use crate::time::Instant;

/// What the cache keeps of a message id: the first 16 bytes of its SHA-256. Ids are strings of
/// up to 128 bytes chosen by senders; a fixed-size digest keeps every entry small (about 50
/// bytes with the indexes) whatever the id. Making another message's id collide needs a
/// second preimage of 128 bits. Compute it once with [`SeenId::of`] when an id is both looked
/// up and inserted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeenId([u8; 16]);

impl SeenId {
    /// The digest of message id `id`.
    pub fn of(id: &str) -> SeenId {
        let hash = Sha256::digest(id.as_bytes());
        let mut out = [0u8; 16];
        out.copy_from_slice(&hash[..16]);
        SeenId(out)
    }

    /// The digest as carried on the wire by the dissemination extension.
    pub fn from_bytes(bytes: [u8; 16]) -> SeenId {
        SeenId(bytes)
    }

    /// The 16 bytes of the digest.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

/// Outcome of [`SeenCache::try_insert`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeenInsert {
    /// The id was not known and is now remembered.
    New,
    /// The id was already known.
    Seen,
    /// The cache is full of recent ids; the id was not remembered.
    Full,
}

/// Message ids already processed, each with the time it was first seen.
///
/// Spec §10.6: a read-only lookup ([`SeenCache::contains`]), an atomic test-and-set
/// ([`SeenCache::insert`]) and a periodic [`SeenCache::sweep`] of entries older than the TTL.
/// An expired entry still counts as seen until a sweep removes it, so with the reference's
/// 5-minute TTL and 1-minute sweep an id is remembered for 5 to 6 minutes.
///
/// Our bound: at most [`SeenCache::capacity`] ids. [`SeenCache::insert`] into a full cache
/// forgets the oldest id; [`SeenCache::try_insert`] forgets it only when it is old enough and
/// otherwise refuses the new id. Every operation is O(log n) (amortised for [`SeenCache::sweep`]): ids are
/// kept in a map for lookups and in a queue, oldest first, for eviction and sweeping.
#[derive(Clone, Debug)]
pub struct SeenCache {
    ttl: Duration,
    capacity: usize,
    /// Digests of the ids remembered.
    entries: BTreeSet<SeenId>,
    /// The same entries with their first-seen times, in insertion order, with non-decreasing
    /// times (oldest at the front).
    order: VecDeque<(Instant, SeenId)>,
}

impl SeenCache {
    /// An empty cache whose sweeps drop entries older than `ttl` and which holds at most
    /// `capacity` ids. A `capacity` of 0 is taken as 1, so a just-inserted id is always found.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        SeenCache {
            ttl,
            capacity: capacity.max(1),
            entries: BTreeSet::new(),
            order: VecDeque::new(),
        }
    }

    /// True when `id` has been inserted and not yet swept or evicted. Never inserts.
    pub fn contains(&self, id: &str) -> bool {
        self.contains_id(&SeenId::of(id))
    }

    /// [`SeenCache::contains`] for an id already digested.
    pub fn contains_id(&self, id: &SeenId) -> bool {
        self.entries.contains(id)
    }

    /// Atomic test-and-set: records `id` as first seen at `now` and returns true if it was not
    /// present; returns false, changing nothing, if it was.
    ///
    /// When the cache is full, the oldest entry is evicted first. If `now` is earlier than the
    /// newest entry's time (a clock that went backwards), the newest entry's time is recorded
    /// instead, which only makes the new entry live longer.
    pub fn insert(&mut self, id: &str, now: Instant) -> bool {
        let id = SeenId::of(id);
        if self.entries.contains(&id) {
            return false;
        }
        while self.entries.len() >= self.capacity {
            if !self.evict_oldest() {
                break;
            }
        }
        self.push(id, now);
        true
    }

    /// Test-and-set that never forgets an id younger than `min_age` to make room: when the
    /// cache is full of such ids the new one is refused ([`SeenInsert::Full`]) and not
    /// remembered. Evicting ids whose copies may still be circulating would let those copies
    /// be accepted and relayed again (a message storm); refusing only delays new messages.
    pub fn try_insert(&mut self, id: &str, now: Instant, min_age: Duration) -> SeenInsert {
        self.try_insert_id(SeenId::of(id), now, min_age)
    }

    /// [`SeenCache::try_insert`] for an id already digested.
    pub fn try_insert_id(&mut self, id: SeenId, now: Instant, min_age: Duration) -> SeenInsert {
        if self.entries.contains(&id) {
            return SeenInsert::Seen;
        }
        if self.entries.len() >= self.capacity {
            self.sweep(now);
        }
        while self.entries.len() >= self.capacity {
            let old_enough = self
                .order
                .front()
                .is_some_and(|(seen, _)| now.saturating_duration_since(*seen) >= min_age);
            if !old_enough || !self.evict_oldest() {
                return SeenInsert::Full;
            }
        }
        self.push(id, now);
        SeenInsert::New
    }

    fn evict_oldest(&mut self) -> bool {
        match self.order.pop_front() {
            Some((_, oldest)) => {
                self.entries.remove(&oldest);
                true
            }
            None => false,
        }
    }

    fn push(&mut self, id: SeenId, now: Instant) {
        let at = match self.order.back() {
            Some(&(newest, _)) => now.max(newest),
            None => now,
        };
        self.entries.insert(id);
        self.order.push_back((at, id));
    }

    /// Removes every entry whose age at `now` is greater than the TTL (an entry exactly TTL
    /// old stays).
    pub fn sweep(&mut self, now: Instant) {
        while let Some((seen, _)) = self.order.front() {
            if now.saturating_duration_since(*seen) <= self.ttl {
                break;
            }
            if let Some((_, id)) = self.order.pop_front() {
                self.entries.remove(&id);
            }
        }
        // After a burst, give back the queue's spare room (kept up to twice the live ids).
        if self.order.capacity() > 64 && self.order.len() < self.order.capacity() / 4 {
            self.order.shrink_to(self.order.len() * 2);
        }
    }

    /// Number of ids remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Most ids remembered at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use alloc::format;

    use super::*;

    const TTL: Duration = Duration::from_secs(300);

    fn cache() -> SeenCache {
        SeenCache::new(TTL, 1_000)
    }

    fn assert_consistent(c: &SeenCache) {
        assert_eq!(c.entries.len(), c.order.len());
        assert!(c.entries.len() <= c.capacity);
        for (_, id) in &c.order {
            assert!(c.entries.contains(id));
        }
        assert!(
            c.order
                .iter()
                .zip(c.order.iter().skip(1))
                .all(|(a, b)| a.0 <= b.0)
        );
    }

    /// TESTS.md §17, TestSeenCacheBasic.
    #[test]
    fn test_and_set_reports_new_then_seen() {
        let mut c = cache();
        let now = Instant::from_secs(1);
        assert!(c.insert("msg-1", now));
        assert!(!c.insert("msg-1", now));
        assert!(c.insert("msg-2", now));
        assert_consistent(&c);
    }

    /// TESTS.md §17, TestSeenCacheLen.
    #[test]
    fn len_counts_entries() {
        let mut c = cache();
        assert!(c.is_empty());
        assert_eq!(c.len(), 0);
        for i in 0..5 {
            c.insert(&format!("msg-{i}"), Instant::from_secs(i));
        }
        c.insert("msg-0", Instant::from_secs(9));
        assert_eq!(c.len(), 5);
        assert!(!c.is_empty());
    }

    /// TESTS.md §17, TestSeenCacheCleanup.
    #[test]
    fn sweep_after_ttl_forgets_the_id() {
        let mut c = cache();
        let t0 = Instant::from_secs(10);
        assert!(c.insert("msg", t0));
        c.sweep(t0 + TTL + Duration::from_secs(1));
        assert!(c.is_empty());
        assert!(!c.contains("msg"));
        assert!(c.insert("msg", t0 + TTL + Duration::from_secs(2)));
    }

    /// TESTS.md §17, TestSeenCacheHasReadOnly.
    #[test]
    fn contains_is_read_only() {
        let mut c = cache();
        assert!(!c.contains("msg"));
        assert!(!c.contains("msg"));
        assert_eq!(c.len(), 0);
        assert!(c.insert("msg", Instant::ZERO));
        assert!(c.contains("msg"));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn sweep_boundary_is_strictly_older_than_ttl() {
        let mut c = cache();
        let t0 = Instant::from_secs(10);
        c.insert("msg", t0);
        c.sweep(t0 + TTL);
        assert!(c.contains("msg"), "exactly TTL old stays");
        c.sweep(t0 + TTL + Duration::from_nanos(1));
        assert!(!c.contains("msg"), "TTL + 1 ns old goes");
        assert_consistent(&c);
    }

    #[test]
    fn expired_but_unswept_entries_still_count_as_seen() {
        let mut c = cache();
        c.insert("msg", Instant::ZERO);
        let late = Instant::ZERO + TTL * 3;
        assert!(c.contains("msg"));
        assert!(!c.insert("msg", late));
    }

    #[test]
    fn sweep_removes_only_old_entries() {
        let mut c = cache();
        for i in 0..10u64 {
            c.insert(&format!("msg-{i}"), Instant::from_secs(i));
        }
        // At 305 s, entries seen before 5 s are older than 300 s; the one seen at 5 s is
        // exactly 300 s old and stays.
        c.sweep(Instant::from_secs(305));
        assert_eq!(c.len(), 5);
        for i in 0..10u64 {
            assert_eq!(c.contains(&format!("msg-{i}")), i >= 5, "msg-{i}");
        }
        // A sweep at an earlier time than the entries does nothing.
        c.sweep(Instant::ZERO);
        assert_eq!(c.len(), 5);
        assert_consistent(&c);
    }

    #[test]
    fn full_cache_evicts_oldest_first() {
        let mut c = SeenCache::new(TTL, 3);
        assert_eq!(c.capacity(), 3);
        c.insert("a", Instant::from_secs(1));
        c.insert("b", Instant::from_secs(2));
        c.insert("c", Instant::from_secs(3));
        // A duplicate does not evict anything.
        assert!(!c.insert("a", Instant::from_secs(4)));
        assert_eq!(c.len(), 3);
        assert!(c.insert("d", Instant::from_secs(4)));
        assert_eq!(c.len(), 3);
        assert!(!c.contains("a"));
        assert!(c.contains("b") && c.contains("c") && c.contains("d"));
        assert!(c.insert("e", Instant::from_secs(5)));
        assert!(!c.contains("b"));
        assert!(c.contains("c") && c.contains("d") && c.contains("e"));
        assert_consistent(&c);
    }

    #[test]
    fn capacity_never_exceeded_under_churn() {
        let mut c = SeenCache::new(Duration::from_secs(5), 64);
        for i in 0..10_000u64 {
            c.insert(&format!("m{}", i % 500), Instant::from_millis(i * 3));
            if i % 97 == 0 {
                c.sweep(Instant::from_millis(i * 3));
            }
            assert!(c.len() <= 64);
        }
        assert_consistent(&c);
    }

    #[test]
    fn zero_capacity_is_one() {
        let mut c = SeenCache::new(TTL, 0);
        assert_eq!(c.capacity(), 1);
        assert!(c.insert("a", Instant::ZERO));
        assert!(c.contains("a"));
        assert!(!c.insert("a", Instant::ZERO));
        assert!(c.insert("b", Instant::ZERO));
        assert!(!c.contains("a"));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn clock_going_backwards_keeps_order_and_extends_life() {
        let mut c = cache();
        c.insert("late", Instant::from_secs(100));
        c.insert("early", Instant::from_secs(50));
        assert_consistent(&c);
        // "early" was recorded at 100 s, so it survives a sweep at 350 s.
        c.sweep(Instant::from_secs(350));
        assert!(c.contains("early") && c.contains("late"));
        c.sweep(Instant::from_secs(401));
        assert!(c.is_empty());
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        let mut c = SeenCache::new(Duration::MAX, 4);
        c.insert("a", Instant::from_nanos(u64::MAX));
        c.sweep(Instant::ZERO);
        c.sweep(Instant::from_nanos(u64::MAX));
        assert!(c.contains("a"));
        let mut c = SeenCache::new(Duration::ZERO, 4);
        c.insert("a", Instant::ZERO);
        c.sweep(Instant::ZERO);
        assert!(c.contains("a"));
        c.sweep(Instant::from_nanos(1));
        assert!(c.is_empty());
    }

    #[test]
    fn try_insert_refuses_rather_than_forgetting_recent_ids() {
        let min_age = Duration::from_secs(30);
        let mut cache = SeenCache::new(Duration::from_secs(300), 2);
        let t0 = Instant::from_secs(100);
        assert_eq!(cache.try_insert("a", t0, min_age), SeenInsert::New);
        assert_eq!(cache.try_insert("a", t0, min_age), SeenInsert::Seen);
        assert_eq!(cache.try_insert("b", t0, min_age), SeenInsert::New);
        let soon = t0 + Duration::from_secs(29);
        assert_eq!(cache.try_insert("c", soon, min_age), SeenInsert::Full);
        assert!(cache.contains("a") && cache.contains("b") && !cache.contains("c"));
        let later = t0 + Duration::from_secs(30);
        assert_eq!(cache.try_insert("c", later, min_age), SeenInsert::New);
        assert!(!cache.contains("a") && cache.contains("b") && cache.contains("c"));
        assert_eq!(cache.len(), 2);
    }
}
