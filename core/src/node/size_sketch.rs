//! The node's estimate of the network's size: a k-minimum-values sketch of every node id it
//! has heard of, 512 bytes however large the network, integer arithmetic only.
//!
//! The known-peer table cannot say how large the network is once it is full (a node keeping
//! 256 records in a network of 10,000 would think it has 257 nodes); the sketch keeps the
//! 64 smallest hashes of the ids it was shown and estimates from the 64th:
//! `n ≈ 63 · 2^64 / h₆₄` (relative error about 1/√62, 13%). Below 64 distinct ids it counts
//! them exactly.

use core::hash::BuildHasher;

use foldhash::quality::FixedState;

use crate::identity::NodeId;

/// Hashes kept: the precision of the estimate.
pub const SKETCH_SIZE: usize = 64;

/// Largest estimate returned (2^24 nodes): a peer feeding made-up ids can raise a node's
/// estimate this far at most, which bounds the extra entry points of its messages (each
/// node's links bound them anyway).
pub const MAX_ESTIMATE: usize = 1 << 24;

/// A k-minimum-values sketch of node ids.
#[derive(Clone, Debug)]
pub struct SizeSketch {
    /// The smallest hashes seen, ascending, without repeats; `len` of them are valid.
    smallest: [u64; SKETCH_SIZE],
    len: usize,
    hasher: FixedState,
}

impl SizeSketch {
    /// An empty sketch hashing ids with `seed` (per node: peers cannot choose ids that land
    /// among its smallest hashes).
    pub fn with_seed(seed: u64) -> Self {
        SizeSketch {
            smallest: [u64::MAX; SKETCH_SIZE],
            len: 0,
            hasher: FixedState::with_seed(seed),
        }
    }

    /// Notes that node `id` exists (repeats change nothing).
    pub fn observe(&mut self, id: &NodeId) {
        let hash = self.hasher.hash_one(id);
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
    }

    /// Estimated number of distinct ids observed (exact below [`SKETCH_SIZE`]), at most
    /// [`MAX_ESTIMATE`].
    pub fn estimate(&self) -> usize {
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
        let mut sketch = SizeSketch::with_seed(1);
        for id in ids(40).chain(ids(40)) {
            sketch.observe(&id);
        }
        assert_eq!(sketch.estimate(), 40);
    }

    #[test]
    fn large_networks_are_estimated_within_a_third() {
        for (count, seed) in [(1_000u32, 2u64), (10_000, 3), (50_000, 4)] {
            let mut sketch = SizeSketch::with_seed(seed);
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
        let mut sketch = SizeSketch::with_seed(5);
        for id in ids(500) {
            sketch.observe(&id);
            let kept = &sketch.smallest[..sketch.len];
            assert!(kept.windows(2).all(|w| w[0] < w[1]));
        }
        assert_eq!(sketch.len, SKETCH_SIZE);
    }
}
