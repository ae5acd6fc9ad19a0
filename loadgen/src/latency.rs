//! Latency statistics: nearest-rank percentiles over every measured message.

use serde::Serialize;

/// Latency of delivered messages, in milliseconds.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct LatencySummary {
    /// Messages measured.
    pub count: usize,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// Arithmetic mean.
    pub mean_ms: f64,
}

/// The nearest-rank `p`-th percentile (0 < p ≤ 100) of sorted samples: the smallest sample
/// with at least p% of the samples at or below it.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn ms(nanos: u64) -> f64 {
    nanos as f64 / 1e6
}

/// Summarises latencies given in nanoseconds; `None` when there are none.
pub fn summarize(mut nanos: Vec<u64>) -> Option<LatencySummary> {
    nanos.sort_unstable();
    let total: u128 = nanos.iter().map(|&n| u128::from(n)).sum();
    Some(LatencySummary {
        count: nanos.len(),
        p50_ms: ms(percentile(&nanos, 50.0)?),
        p99_ms: ms(percentile(&nanos, 99.0)?),
        max_ms: ms(*nanos.last()?),
        mean_ms: total as f64 / nanos.len() as f64 / 1e6,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&samples, 50.0), Some(50));
        assert_eq!(percentile(&samples, 99.0), Some(99));
        assert_eq!(percentile(&samples, 100.0), Some(100));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[1, 2, 3], 50.0), Some(2));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn summary_is_in_milliseconds_and_order_independent() {
        let s = summarize(vec![3_000_000, 1_000_000, 2_000_000]).unwrap();
        assert_eq!(s.count, 3);
        assert_eq!(s.p50_ms, 2.0);
        assert_eq!(s.p99_ms, 3.0);
        assert_eq!(s.max_ms, 3.0);
        assert_eq!(s.mean_ms, 2.0);
        assert!(summarize(Vec::new()).is_none());
    }
}
