//! The per-sender rate limiter of the gossip engine (spec §10.5): one token bucket per
//! originating node id, in exact integer arithmetic, bounded in number of buckets.

use alloc::collections::{BTreeMap, BTreeSet};
use core::time::Duration;

use crate::identity::NodeId;
use crate::time::Instant;

/// Fixed-point scale of the token count: a bucket counts in units of 10⁻⁹ token, so that a
/// refill of `elapsed_nanos × rate_per_sec` units is exact and no fraction is ever lost.
const UNITS_PER_TOKEN: u64 = 1_000_000_000;

/// One sender's bucket.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// Tokens, in units of 10⁻⁹ token; at most `burst × UNITS_PER_TOKEN`.
    tokens: u64,
    last_update: Instant,
}

/// Token buckets keyed by the originating `sender_id` (spec §10.5; the reference uses 10
/// tokens/s, a burst of 20 and drops buckets idle for more than 5 minutes).
///
/// The first message from an unseen sender is allowed and creates its bucket with
/// `burst − 1` tokens. Each later message first refills `elapsed × rate` tokens (capped at
/// `burst`), sets the last update to now, even when it then refuses, and takes one token if
/// there is at least one. Token counts are integers in units of 10⁻⁹ token, so the result is
/// exactly that of real arithmetic and identical on every platform.
///
/// Our bound: at most [`RateLimiter::capacity`] buckets. When a new sender arrives at a full
/// limiter, idle buckets are swept and, if it is still full, the bucket with the oldest last
/// update is dropped (that sender starts again with a full burst). Every operation is
/// O(log n) (amortised for sweeps): buckets are also indexed by last update.
#[derive(Clone, Debug)]
pub struct RateLimiter {
    rate_per_sec: u32,
    /// `burst × UNITS_PER_TOKEN`.
    max_units: u64,
    /// `(burst − 1) × UNITS_PER_TOKEN`, saturating at 0.
    initial_units: u64,
    idle_ttl: Duration,
    capacity: usize,
    buckets: BTreeMap<NodeId, Bucket>,
    /// `(last_update, sender)` of every bucket, oldest update first.
    by_update: BTreeSet<(Instant, NodeId)>,
}

impl RateLimiter {
    /// An empty limiter refilling `rate_per_sec` tokens per second into buckets of `burst`
    /// tokens, whose sweeps drop buckets idle for more than `idle_ttl`, and holding at most
    /// `capacity` buckets. A `capacity` of 0 is taken as 1.
    ///
    /// With `burst` 0 only each sender's first message (after its bucket was dropped) passes;
    /// with `rate_per_sec` 0 buckets never refill.
    pub fn new(rate_per_sec: u32, burst: u32, idle_ttl: Duration, capacity: usize) -> Self {
        // u32::MAX × 10⁹ < 2⁶⁴, so neither product can saturate.
        let max_units = u64::from(burst).saturating_mul(UNITS_PER_TOKEN);
        RateLimiter {
            rate_per_sec,
            max_units,
            initial_units: max_units.saturating_sub(UNITS_PER_TOKEN),
            idle_ttl,
            capacity: capacity.max(1),
            buckets: BTreeMap::new(),
            by_update: BTreeSet::new(),
        }
    }

    /// Takes one token from `sender`'s bucket at `now`: true when the message may pass.
    ///
    /// If `now` is earlier than the bucket's last update (a clock that went backwards), no
    /// time has elapsed and the last update is kept.
    pub fn allow(&mut self, sender: &NodeId, now: Instant) -> bool {
        let Some(bucket) = self.buckets.get_mut(sender) else {
            self.make_room(now);
            self.buckets.insert(
                *sender,
                Bucket {
                    tokens: self.initial_units,
                    last_update: now,
                },
            );
            self.by_update.insert((now, *sender));
            return true;
        };
        let previous = bucket.last_update;
        let elapsed = now.saturating_duration_since(previous);
        let refill = elapsed
            .as_nanos()
            .saturating_mul(u128::from(self.rate_per_sec));
        let room = self.max_units.saturating_sub(bucket.tokens);
        // min(refill, room) ≤ room, which is a u64.
        let refill = u64::try_from(refill.min(u128::from(room))).unwrap_or(room);
        bucket.tokens = bucket.tokens.saturating_add(refill);
        let allowed = bucket.tokens >= UNITS_PER_TOKEN;
        if allowed {
            bucket.tokens = bucket.tokens.saturating_sub(UNITS_PER_TOKEN);
        }
        let updated = now.max(previous);
        if updated != previous {
            bucket.last_update = updated;
            self.by_update.remove(&(previous, *sender));
            self.by_update.insert((updated, *sender));
        }
        allowed
    }

    /// Drops every bucket whose last update is more than the idle TTL before `now` (a bucket
    /// idle for exactly the TTL stays).
    pub fn sweep(&mut self, now: Instant) {
        while let Some(&(last_update, sender)) = self.by_update.first() {
            if now.saturating_duration_since(last_update) <= self.idle_ttl {
                break;
            }
            self.by_update.remove(&(last_update, sender));
            self.buckets.remove(&sender);
        }
    }

    /// Number of buckets (senders tracked).
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// True when no sender is tracked.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Most buckets kept at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Frees a slot for a new bucket: sweeps idle buckets, then drops the least recently
    /// updated ones while the limiter is still full.
    fn make_room(&mut self, now: Instant) {
        if self.buckets.len() < self.capacity {
            return;
        }
        self.sweep(now);
        while self.buckets.len() >= self.capacity {
            match self.by_update.pop_first() {
                Some((_, sender)) => {
                    self.buckets.remove(&sender);
                }
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Duration = Duration::from_secs(300);

    fn sender(n: u8) -> NodeId {
        NodeId::from_public_key(&[n; 32])
    }

    fn limiter(rate: u32) -> RateLimiter {
        RateLimiter::new(rate, rate.saturating_mul(2), IDLE, 1_000)
    }

    fn assert_consistent(l: &RateLimiter) {
        assert!(l.buckets.len() <= l.capacity);
        assert_eq!(l.buckets.len(), l.by_update.len());
        for (last, id) in &l.by_update {
            let bucket = l.buckets.get(id).expect("indexed sender has a bucket");
            assert_eq!(bucket.last_update, *last);
            assert!(bucket.tokens <= l.max_units);
        }
    }

    /// TESTS.md §16, TestRateLimiterAllow.
    #[test]
    fn rate_5_allows_10_then_refuses() {
        let mut l = limiter(5);
        let a = sender(1);
        let now = Instant::from_secs(1);
        for i in 0..10 {
            assert!(l.allow(&a, now), "call {i}");
        }
        assert!(!l.allow(&a, now));
        assert_consistent(&l);
    }

    /// TESTS.md §16, TestRateLimiterRefill.
    #[test]
    fn rate_100_refills_after_50ms() {
        let mut l = limiter(100);
        let a = sender(1);
        let t0 = Instant::from_secs(1);
        for i in 0..200 {
            assert!(l.allow(&a, t0), "call {i}");
        }
        assert!(!l.allow(&a, t0));
        let later = t0 + Duration::from_millis(50);
        // 50 ms at 100/s is 5 tokens.
        for i in 0..5 {
            assert!(l.allow(&a, later), "refilled call {i}");
        }
        assert!(!l.allow(&a, later));
        assert_consistent(&l);
    }

    /// TESTS.md §16, TestRateLimiterIndependentSenders.
    #[test]
    fn senders_are_independent() {
        let mut l = limiter(1);
        let (a, b) = (sender(1), sender(2));
        let now = Instant::from_secs(1);
        assert!(l.allow(&a, now));
        assert!(l.allow(&a, now));
        assert!(!l.allow(&a, now));
        assert!(l.allow(&b, now));
        assert!(l.allow(&b, now));
        assert!(!l.allow(&b, now));
        assert_eq!(l.len(), 2);
    }

    /// TESTS.md §16, TestRateLimiterCleanup.
    #[test]
    fn idle_sender_is_swept() {
        let mut l = limiter(10);
        let (a, b) = (sender(1), sender(2));
        let t0 = Instant::from_secs(1);
        l.allow(&a, t0);
        l.allow(&b, t0 + Duration::from_secs(400));
        l.sweep(t0 + Duration::from_secs(600));
        assert_eq!(l.len(), 1);
        assert!(!l.buckets.contains_key(&a));
        assert!(l.buckets.contains_key(&b));
        assert_consistent(&l);
    }

    #[test]
    fn sweep_boundary_is_strictly_more_than_idle_ttl() {
        let mut l = limiter(10);
        let a = sender(1);
        let t0 = Instant::from_secs(1);
        l.allow(&a, t0);
        l.sweep(t0 + IDLE);
        assert_eq!(l.len(), 1);
        l.sweep(t0 + IDLE + Duration::from_nanos(1));
        assert!(l.is_empty());
    }

    #[test]
    fn reference_defaults_burst_then_ten_per_second() {
        let mut l = RateLimiter::new(10, 20, IDLE, 8);
        let a = sender(1);
        let t0 = Instant::from_secs(5);
        let passed = (0..30).filter(|_| l.allow(&a, t0)).count();
        assert_eq!(passed, 20);
        // One token every 100 ms.
        assert!(!l.allow(&a, t0 + Duration::from_millis(99)));
        assert!(l.allow(&a, t0 + Duration::from_millis(100)));
        assert!(!l.allow(&a, t0 + Duration::from_millis(100)));
        // A long pause refills to the burst only.
        let later = t0 + Duration::from_secs(3_600);
        let passed = (0..30).filter(|_| l.allow(&a, later)).count();
        assert_eq!(passed, 20);
    }

    #[test]
    fn refusal_still_updates_last_update() {
        let mut l = RateLimiter::new(10, 1, IDLE, 8);
        let a = sender(1);
        let t0 = Instant::from_secs(1);
        assert!(l.allow(&a, t0)); // created with 0 tokens
        // 60 ms: 0.6 token, refused, last update moves to 60 ms.
        assert!(!l.allow(&a, t0 + Duration::from_millis(60)));
        assert_eq!(
            l.buckets.get(&a).map(|b| b.last_update),
            Some(t0 + Duration::from_millis(60))
        );
        // 100 ms: +0.4 token = 1.0 exactly, allowed (fractions are kept exactly).
        assert!(l.allow(&a, t0 + Duration::from_millis(100)));
        assert!(!l.allow(&a, t0 + Duration::from_millis(100)));
        assert_consistent(&l);
    }

    #[test]
    fn frequent_calls_lose_no_fraction() {
        // Rate 3/s with a call every 7 919 ns, each refilling far less than a micro-token's
        // worth of time at coarser scales: the refills must still add up exactly.
        let mut l = RateLimiter::new(3, 1, IDLE, 8);
        let a = sender(1);
        assert!(l.allow(&a, Instant::ZERO)); // 0 tokens left
        // One token takes 1/3 s, i.e. the bucket reaches 1 token at 333 333 334 ns.
        let mut t = 0u64;
        let mut allowed_at = None;
        while t < 400_000_000 {
            t += 7_919;
            if l.allow(&a, Instant::from_nanos(t)) {
                allowed_at = Some(t);
                break;
            }
        }
        // The first instant ≥ 333_333_334 ns that the loop visits.
        let expected = 333_333_334u64.div_ceil(7_919) * 7_919;
        assert_eq!(allowed_at, Some(expected));
    }

    #[test]
    fn full_limiter_sweeps_idle_buckets_first() {
        let mut l = RateLimiter::new(10, 20, IDLE, 3);
        let t0 = Instant::from_secs(1);
        l.allow(&sender(1), t0);
        l.allow(&sender(2), t0 + Duration::from_secs(1));
        l.allow(&sender(3), t0 + Duration::from_secs(2));
        // At t0 + 300.5 s only sender 1 is idle for more than 300 s; sweeping frees one slot.
        let now = t0 + Duration::from_millis(300_500);
        assert!(l.allow(&sender(4), now));
        assert_eq!(l.len(), 3);
        assert!(!l.buckets.contains_key(&sender(1)));
        assert_consistent(&l);
        // At t0 + 303 s senders 2 and 3 are both idle: both go, and the new one is added.
        assert!(l.allow(&sender(5), t0 + Duration::from_secs(303)));
        assert_eq!(l.len(), 2);
        assert_consistent(&l);
    }

    #[test]
    fn full_limiter_evicts_oldest_last_update() {
        let mut l = RateLimiter::new(10, 20, IDLE, 3);
        let t0 = Instant::from_secs(1);
        l.allow(&sender(1), t0);
        l.allow(&sender(2), t0 + Duration::from_secs(1));
        l.allow(&sender(3), t0 + Duration::from_secs(2));
        // Sender 1 becomes the most recently updated (even a refusal would count).
        l.allow(&sender(1), t0 + Duration::from_secs(3));
        assert!(l.allow(&sender(4), t0 + Duration::from_secs(4)));
        assert_eq!(l.len(), 3);
        assert!(!l.buckets.contains_key(&sender(2)), "oldest update evicted");
        assert!(l.buckets.contains_key(&sender(1)));
        assert_consistent(&l);
        // An evicted sender comes back with a fresh bucket.
        assert!(l.allow(&sender(2), t0 + Duration::from_secs(5)));
        assert!(!l.buckets.contains_key(&sender(3)));
        assert_consistent(&l);
    }

    #[test]
    fn eviction_ties_are_broken_by_node_id() {
        let mut l = RateLimiter::new(10, 20, IDLE, 2);
        let now = Instant::from_secs(1);
        let (mut lo, mut hi) = (sender(1), sender(2));
        if hi < lo {
            core::mem::swap(&mut lo, &mut hi);
        }
        l.allow(&hi, now);
        l.allow(&lo, now);
        l.allow(&sender(3), now);
        assert!(!l.buckets.contains_key(&lo));
        assert!(l.buckets.contains_key(&hi));
    }

    #[test]
    fn zero_capacity_burst_and_rate() {
        let mut l = RateLimiter::new(0, 0, IDLE, 0);
        assert_eq!(l.capacity(), 1);
        let a = sender(1);
        assert!(l.allow(&a, Instant::ZERO));
        assert!(!l.allow(&a, Instant::from_secs(1_000)));
        // A second sender takes the only slot; the first then starts over.
        assert!(l.allow(&sender(2), Instant::from_secs(1_001)));
        assert!(l.allow(&a, Instant::from_secs(1_002)));
        assert_eq!(l.len(), 1);
        assert_consistent(&l);
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let mut l = RateLimiter::new(u32::MAX, u32::MAX, Duration::MAX, 4);
        let a = sender(1);
        assert!(l.allow(&a, Instant::ZERO));
        assert!(l.allow(&a, Instant::from_nanos(u64::MAX)));
        assert_eq!(
            l.buckets.get(&a).map(|b| b.tokens),
            Some(u64::from(u32::MAX) * UNITS_PER_TOKEN - UNITS_PER_TOKEN)
        );
        l.sweep(Instant::from_nanos(u64::MAX));
        assert_eq!(l.len(), 1);
        let mut l = RateLimiter::new(10, 20, Duration::ZERO, 4);
        l.allow(&a, Instant::ZERO);
        l.sweep(Instant::ZERO);
        assert_eq!(l.len(), 1);
        l.sweep(Instant::from_nanos(1));
        assert!(l.is_empty());
    }

    #[test]
    fn clock_going_backwards_gives_no_tokens() {
        let mut l = RateLimiter::new(10, 2, IDLE, 4);
        let a = sender(1);
        let t = Instant::from_secs(100);
        assert!(l.allow(&a, t));
        assert!(l.allow(&a, t));
        assert!(!l.allow(&a, Instant::from_secs(50)));
        // Last update stayed at 100 s: 50 ms later is only 0.5 token.
        assert!(!l.allow(&a, t + Duration::from_millis(50)));
        assert!(l.allow(&a, t + Duration::from_millis(100)));
        assert_consistent(&l);
    }

    #[test]
    fn bound_holds_under_churn() {
        let mut l = RateLimiter::new(10, 20, Duration::from_secs(2), 16);
        for i in 0..5_000u64 {
            let n = u8::try_from(i % 40).unwrap_or(0);
            l.allow(&sender(n), Instant::from_millis(i * 11));
            if i % 50 == 0 {
                l.sweep(Instant::from_millis(i * 11));
            }
            assert!(l.len() <= 16);
        }
        assert_consistent(&l);
    }
}
