//! The network model: per-link latency with jitter, bandwidth, connect timeout, partitions.

use std::time::Duration;

/// How links behave. Every random draw comes from the simulator's seeded RNG.
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// Smallest one-way latency.
    pub min_latency: Duration,
    /// Largest one-way latency (drawn uniformly per segment, never reordering a stream).
    pub max_latency: Duration,
    /// Bytes per second on each connection direction (0 = unlimited).
    pub bandwidth: u64,
    /// How long a dial into a black hole (partition, crashed host) takes to fail.
    pub connect_timeout: Duration,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            min_latency: Duration::from_millis(5),
            max_latency: Duration::from_millis(40),
            bandwidth: 12_500_000, // 100 Mbit/s
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl NetworkConfig {
    /// Time to push `bytes` through one direction of a link.
    pub fn transmission_time(&self, bytes: usize) -> Duration {
        if self.bandwidth == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos((bytes as u64).saturating_mul(1_000_000_000) / self.bandwidth)
    }
}

/// A partition: hosts in different groups cannot reach each other until it heals.
#[derive(Clone, Debug)]
pub struct Partition {
    /// Group of each host, by host index.
    pub group: Vec<u8>,
}

impl Partition {
    /// True when hosts `a` and `b` are on different sides.
    pub fn separates(&self, a: usize, b: usize) -> bool {
        self.group.get(a) != self.group.get(b)
    }
}
