//! The node's estimate of the network's size: a k-minimum-values sketch of every node id it
//! has heard of, 512 bytes however large the network, integer arithmetic only.
//!
//! The known-peer table cannot say how large the network is once it is full (a node keeping
//! 256 records in a network of 10,000 would think it has 257 nodes); the sketch keeps the
//! 64 smallest hashes of the ids it was shown and estimates from the 64th:
//! `n ≈ 63 · 2^64 / h₆₄` (relative error about 1/√62, 13%). Below 64 distinct ids it counts
//! them exactly. Two generations of [`GENERATION`] each: a node that left is forgotten after
//! one to two generations, so a network that shrinks is not overestimated for ever.

use core::hash::BuildHasher;
use core::time::Duration;

use foldhash::quality::FixedState;

use crate::identity::NodeId;
use crate::time::Instant;

/// How long one generation of the sketch collects ids (30 minutes).
pub const GENERATION: Duration = Duration::from_secs(30 * 60);

/// Hashes kept: the precision of the estimate.
pub const SKETCH_SIZE: usize = 64;

/// Largest estimate returned (2^24 nodes): a peer feeding made-up ids can raise a node's
/// estimate this far at most, which bounds the extra entry points of its messages (each
/// node's links bound them anyway).
pub const MAX_ESTIMATE: usize = 1 << 24;

/// The network-size estimate: the ids heard of in this generation and the previous one.
#[derive(Clone, Debug)]
pub struct SizeSketch {
    current: Kmv,
    previous: Kmv,
    /// When `current` started collecting.
    generation_start: Instant,
    hasher: FixedState,
}

impl SizeSketch {
    /// An empty sketch started at `now`, hashing ids with `seed` (per node: peers cannot
    /// choose ids that land among its smallest hashes).
    pub fn new(seed: u64, now: Instant) -> Self {
        SizeSketch {
            current: Kmv::default(),
            previous: Kmv::default(),
            generation_start: now,
            hasher: FixedState::with_seed(seed),
        }
    }

    /// Notes that node `id` exists (repeats change nothing).
    pub fn observe(&mut self, id: &NodeId) {
        self.current.insert(self.hasher.hash_one(id));
    }

    /// Starts a new generation when the current one is [`GENERATION`] old: ids not heard of
    /// since the previous generation started are forgotten.
    pub fn age(&mut self, now: Instant) {
        if now >= self.generation_start + GENERATION {
            self.previous = core::mem::take(&mut self.current);
            self.generation_start = now;
        }
    }

    /// Estimated number of distinct ids observed in this generation or the previous one
    /// (exact below [`SKETCH_SIZE`]), at most [`MAX_ESTIMATE`].
    pub fn estimate(&self) -> usize {
        self.current.estimate().max(self.previous.estimate())
    }
}

/// The 64 smallest distinct hashes of one generation.
#[derive(Clone, Debug)]
struct Kmv {
    /// The smallest hashes seen, ascending, without repeats; `len` of them are valid.
    smallest: [u64; SKETCH_SIZE],
    len: usize,
    /// The estimate from `smallest`, recomputed when they change (rarely, once the sketch is
    /// full), not at every relayed message that reads it.
    estimate: usize,
}

impl Default for Kmv {
    fn default() -> Self {
        Kmv {
            smallest: [u64::MAX; SKETCH_SIZE],
            len: 0,
            estimate: 0,
        }
    }
}

impl Kmv {
    fn insert(&mut self, hash: u64) {
        if self.len == SKETCH_SIZE && hash >= self.smallest[SKETCH_SIZE - 1] {
            return;
        }
        let kept = &mut self.smallest[..self.len];
        let Err(position) = kept.binary_search(&hash) else {
            return;
        };
        if self.len < SKETCH_SIZE {
            self.len += 1;
        }
        // Shift the larger hashes up by one (the largest falls off a full sketch).
        self.smallest
            .copy_within(position..self.len - 1, position + 1);
        self.smallest[position] = hash;
        self.estimate = self.compute_estimate();
    }

    fn estimate(&self) -> usize {
        self.estimate
    }

    fn compute_estimate(&self) -> usize {
        if self.len < SKETCH_SIZE {
            return self.len;
        }
        let kth = u128::from(self.smallest[SKETCH_SIZE - 1]).max(1);
        let estimate = ((SKETCH_SIZE as u128 - 1) << 64) / kth;
        usize::try_from(estimate)
            .unwrap_or(MAX_ESTIMATE)
            .min(MAX_ESTIMATE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(count: u32) -> impl Iterator<Item = NodeId> {
        (0..count).map(|n| {
            let hex = alloc::format!("{n:064x}");
            NodeId::parse(&hex).expect("64 hex digits")
        })
    }

    #[test]
    fn small_networks_are_counted_exactly_and_repeats_do_not_count() {
        let mut sketch = SizeSketch::new(1, Instant::ZERO);
        for id in ids(40).chain(ids(40)) {
            sketch.observe(&id);
        }
        assert_eq!(sketch.estimate(), 40);
    }

    #[test]
    fn large_networks_are_estimated_within_a_third() {
        for (count, seed) in [(1_000u32, 2u64), (10_000, 3), (50_000, 4)] {
            let mut sketch = SizeSketch::new(seed, Instant::ZERO);
            // Every id three times, in three passes, as exchanges repeat them.
            for _ in 0..3 {
                for id in ids(count) {
                    sketch.observe(&id);
                }
            }
            let estimate = sketch.estimate() as f64;
            let error = (estimate - f64::from(count)).abs() / f64::from(count);
            assert!(error < 0.34, "{count} ids estimated as {estimate}");
        }
    }

    #[test]
    fn the_kept_hashes_stay_sorted_and_distinct() {
        let mut sketch = SizeSketch::new(5, Instant::ZERO);
        for id in ids(500) {
            sketch.observe(&id);
            let kept = &sketch.current.smallest[..sketch.current.len];
            assert!(kept.windows(2).all(|w| w[0] < w[1]));
        }
        assert_eq!(sketch.current.len, SKETCH_SIZE);
    }

    #[test]
    fn nodes_unheard_of_for_two_generations_are_forgotten() {
        let mut sketch = SizeSketch::new(6, Instant::ZERO);
        for id in ids(5_000) {
            sketch.observe(&id);
        }
        let large = sketch.estimate();
        // One generation later the old ids still count; the network is now 50 nodes.
        let mut now = Instant::ZERO + GENERATION;
        sketch.age(now);
        for id in ids(50) {
            sketch.observe(&id);
        }
        assert_eq!(sketch.estimate(), large);
        // Early ageing does nothing.
        sketch.age(now + GENERATION / 2);
        assert_eq!(sketch.estimate(), large);
        now = now + GENERATION;
        sketch.age(now);
        for id in ids(50) {
            sketch.observe(&id);
        }
        assert_eq!(sketch.estimate(), 50);
    }
}
