//! What a simulated run measured: delivery, hops, latency, copies, bytes, connections.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use micelio_core::time::Instant;

use crate::sim::HostId;

/// Raw observations, filled while the simulation runs.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Chat text → (originating host, origination time). Texts are unique per run.
    pub originated: BTreeMap<String, (HostId, Instant)>,
    /// Chat text → host → (arrival time, hops travelled).
    pub deliveries: BTreeMap<String, BTreeMap<HostId, (Instant, u32)>>,
    /// Chat lines an application saw more than once (must stay 0).
    pub duplicate_deliveries: u64,
    /// Chat lines delivered whose text was never originated by an honest host.
    pub unexpected_deliveries: u64,
    /// Chat lines delivered with a hop count carrying the tree's detour mark (a mark that
    /// leaked to an application or to a reference node; must stay 0).
    pub marked_hop_counts: u64,
    /// Known-peer records the nodes asked their store to write (creations and updates).
    pub persist_writes: u64,
    /// Bytes each host handed to the network, by host id.
    pub bytes_sent: Vec<u64>,
    /// Dials each host aimed at its own address. A listening node must never make one,
    /// whatever its peers announce (an outbound-only node does not know its address).
    pub self_dials: BTreeMap<HostId, u64>,
}

impl Metrics {
    /// Counts `bytes` handed to the network by `host`.
    pub fn count_sent(&mut self, host: HostId, bytes: usize) {
        if host >= self.bytes_sent.len() {
            self.bytes_sent.resize(host + 1, 0);
        }
        self.bytes_sent[host] += bytes as u64;
    }
}

/// A summary of a run, printed by the tests and copied into the README.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// Hosts counted as receivers.
    pub nodes: usize,
    /// Messages originated.
    pub messages: usize,
    /// Average over messages of (receivers reached / receivers).
    pub delivery_ratio: f64,
    /// Worst message's ratio.
    pub min_delivery_ratio: f64,
    /// Share of messages that reached every receiver.
    pub complete_messages: f64,
    /// Median hops to a receiver.
    pub hops_p50: u32,
    /// Largest hops to a receiver.
    pub hops_max: u32,
    /// Median virtual latency to a receiver.
    pub latency_p50: Duration,
    /// 99th percentile virtual latency.
    pub latency_p99: Duration,
    /// Copies received per reached node per message (duplicates included).
    pub copies_per_node: f64,
    /// Bytes sent per host over the run.
    pub bytes_per_node: f64,
    /// Admitted connections per host at the end: average, min, max.
    pub connections: (f64, usize, usize),
    /// Gossip envelope bytes sent per host (payload copies: originated, relayed, pushed,
    /// served).
    pub gossip_bytes_per_node: f64,
    /// Dissemination-extension control bytes sent per host (announcements, grafts, prunes).
    pub control_bytes_per_node: f64,
    /// Messages grafted (asked for after an announcement) per host.
    pub grafts_per_node: f64,
}

fn percentile<T: Copy + Ord + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

impl Metrics {
    /// Delivery figures over `receivers` (a message's originator is never counted).
    pub fn delivery(&self, receivers: &[HostId]) -> Report {
        let mut ratios = Vec::new();
        let mut hops = Vec::new();
        let mut latencies = Vec::new();
        let mut complete = 0usize;
        for (text, (origin, sent_at)) in &self.originated {
            let targets = receivers.iter().filter(|h| *h != origin).count();
            if targets == 0 {
                continue;
            }
            let got = self.deliveries.get(text);
            let mut reached = 0usize;
            for host in receivers.iter().filter(|h| *h != origin) {
                if let Some((at, h)) = got.and_then(|d| d.get(host)) {
                    reached += 1;
                    hops.push(*h);
                    latencies.push(at.saturating_duration_since(*sent_at));
                }
            }
            if reached == targets {
                complete += 1;
            }
            ratios.push(reached as f64 / targets as f64);
        }
        hops.sort_unstable();
        latencies.sort_unstable();
        let messages = ratios.len();
        Report {
            nodes: receivers.len(),
            messages,
            delivery_ratio: ratios.iter().sum::<f64>() / messages.max(1) as f64,
            min_delivery_ratio: ratios.iter().copied().fold(1.0, f64::min),
            complete_messages: complete as f64 / messages.max(1) as f64,
            hops_p50: percentile(&hops, 0.5),
            hops_max: hops.last().copied().unwrap_or(0),
            latency_p50: percentile(&latencies, 0.5),
            latency_p99: percentile(&latencies, 0.99),
            ..Report::default()
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "nodes {} | messages {} | delivery {:.2}% (min {:.2}%, complete {:.0}%) | hops p50 {} max {} \
             | latency p50 {} ms p99 {} ms | copies/node {:.2} | bytes/node {:.0} | conns avg {:.1} min {} max {} \
             | dissemination B/node {:.0} gossip + {:.0} control | grafts/node {:.2}",
            self.nodes,
            self.messages,
            self.delivery_ratio * 100.0,
            self.min_delivery_ratio * 100.0,
            self.complete_messages * 100.0,
            self.hops_p50,
            self.hops_max,
            self.latency_p50.as_millis(),
            self.latency_p99.as_millis(),
            self.copies_per_node,
            self.bytes_per_node,
            self.connections.0,
            self.connections.1,
            self.connections.2,
            self.gossip_bytes_per_node,
            self.control_bytes_per_node,
            self.grafts_per_node,
        )
    }
}
