//! Reliable dissemination (extension `tree1`): every node gets every message with about one
//! copy, partitions heal, and reference-mode nodes in a mixed network never see an extension
//! message while delivery stays at least as good as an all-reference network of the same
//! shape.
//!
//! Each run is reproducible from its seed: `MICELIO_SIM_SEED=<seed> cargo test -p micelio-sim
//! --test dissemination <test name>`.

use std::time::Duration;

use micelio_core::node::NodeConfig;
use micelio_sim::presets::{brisk_discovery, random_network as network, reference_mode};
use micelio_sim::{HostId, Report, Sim, seed_from_env};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

/// Chat text length of the bandwidth comparisons (issue: 100 bytes and above).
const CHAT_LEN: usize = 100;

/// Sends `messages` chat lines of `chat_len` bytes from random hosts, 200 ms apart, then
/// lets them settle for 10 s.
fn traffic(sim: &mut Sim, hosts: &[HostId], seed: u64, messages: usize, chat_len: usize) {
    let mut choice = ChaCha20Rng::seed_from_u64(seed ^ 0xc4a7);
    for _ in 0..messages {
        let origin = hosts[(choice.next_u64() % hosts.len() as u64) as usize];
        sim.chat_sized(origin, chat_len);
        sim.run_for(Duration::from_millis(200));
    }
    sim.run_for(Duration::from_secs(10));
}

/// Runs the same seed with every node configured by `config`; returns the report.
fn run(seed: u64, n: usize, config: &NodeConfig) -> (Report, Sim, Vec<HostId>) {
    run_sized(seed, n, config, CHAT_LEN)
}

/// [`run`] with chat lines of `chat_len` bytes.
fn run_sized(
    seed: u64,
    n: usize,
    config: &NodeConfig,
    chat_len: usize,
) -> (Report, Sim, Vec<HostId>) {
    let (mut sim, hosts) = network(seed, n, Duration::from_secs(40), |_| config.clone());
    traffic(&mut sim, &hosts, seed, 40, chat_len);
    (sim.report(&hosts), sim, hosts)
}

/// Dissemination bytes sent per node: payload copies plus the tree's control traffic.
fn dissemination_bytes(report: &Report) -> f64 {
    report.gossip_bytes_per_node + report.control_bytes_per_node
}

#[test]
fn every_node_gets_every_message_with_fewer_copies_and_bytes() {
    let base = seed_from_env(800);
    let config = brisk_discovery();
    for seed in base..base + 3 {
        let (tree, sim, _) = run(seed, 150, &config);
        let (push, _, _) = run(seed, 150, &reference_mode(&config));
        println!("seed {seed}\n  tree: {tree}\n  push: {push}");
        assert_eq!(tree.complete_messages, 1.0, "seed {seed}: {tree}");
        assert_eq!(sim.metrics.duplicate_deliveries, 0);
        assert!(tree.copies_per_node <= 1.5, "seed {seed}: {tree}");
        assert!(push.copies_per_node >= 2.0, "push-only copies: {push}");
        let tree_bytes = dissemination_bytes(&tree);
        assert!(
            tree_bytes < push.gossip_bytes_per_node,
            "seed {seed}: {tree_bytes:.0} B/node against {:.0}",
            push.gossip_bytes_per_node
        );
        assert_eq!(
            push.control_bytes_per_node, 0.0,
            "reference mode sends no control"
        );
        // The 1.5x bound is set at 1,000 and 10,000 nodes (`large_network`); here the
        // ratio is tracked, and only a gross regression fails.
        println!(
            "  p99 ratio {:.2}",
            tree.latency_p99.as_secs_f64() / push.latency_p99.as_secs_f64()
        );
        assert!(tree.latency_p99 <= push.latency_p99 * 4, "seed {seed}");
    }
}

/// The tree's control traffic does not grow with the payload while its copies stay near one
/// against push only's three, so its share of push only's bytes falls as chat grows: the
/// bandwidth bound holds for chat of 100 bytes and above, not only at 100.
#[test]
fn larger_chat_widens_the_bandwidth_gap() {
    let seed = seed_from_env(810);
    let config = brisk_discovery();
    let mut previous_share = f64::INFINITY;
    for chat_len in [CHAT_LEN, 1_000, 4_000] {
        let (tree, _, _) = run_sized(seed, 150, &config, chat_len);
        let (push, _, _) = run_sized(seed, 150, &reference_mode(&config), chat_len);
        let share = dissemination_bytes(&tree) / dissemination_bytes(&push);
        println!("seed {seed}, {chat_len}-byte chat: tree bytes {share:.2} of push only's");
        assert_eq!(
            tree.complete_messages, 1.0,
            "seed {seed}, {chat_len} B: {tree}"
        );
        assert!(share < 1.0, "seed {seed}, {chat_len} B: {share:.2}");
        assert!(
            share < previous_share,
            "seed {seed}, {chat_len} B: {share:.2} against {previous_share:.2} for shorter chat"
        );
        previous_share = share;
    }
}

#[test]
fn a_mixed_network_keeps_extension_messages_away_from_reference_nodes() {
    let seed = seed_from_env(830);
    let config = brisk_discovery();
    let reference = reference_mode(&config);
    // 30% of the nodes (every node whose index is 3, 6 or 9 mod 10) run in reference mode.
    let is_reference = |i: usize| matches!(i % 10, 3 | 6 | 9);
    let (mut sim, hosts) = network(seed, 150, Duration::from_secs(40), |i| {
        if is_reference(i) {
            reference.clone()
        } else {
            config.clone()
        }
    });
    traffic(&mut sim, &hosts, seed, 40, CHAT_LEN);
    let (ours, theirs): (Vec<HostId>, Vec<HostId>) = hosts
        .iter()
        .enumerate()
        .partition_map_hosts(|i| !is_reference(i));
    for &h in &theirs {
        let node = sim.hosts[h].node().expect("running");
        assert_eq!(
            node.traffic_stats().extension_received,
            0,
            "reference-mode host {h} received an extension message"
        );
        assert_eq!(node.traffic_stats().control_bytes, 0);
    }
    assert_eq!(sim.metrics.marked_hop_counts, 0, "a tree mark leaked");
    let mixed_all = sim.report(&hosts);
    let mixed_ours = sim.report(&ours);
    let mixed_theirs = sim.report(&theirs);

    // The same shape with every node in reference mode.
    let (mut all_ref, hosts_ref) =
        network(seed, 150, Duration::from_secs(40), |_| reference.clone());
    traffic(&mut all_ref, &hosts_ref, seed, 40, CHAT_LEN);
    let reference_all = all_ref.report(&hosts_ref);
    println!(
        "mixed: {mixed_all}\n  extension nodes: {mixed_ours}\n  reference nodes: {mixed_theirs}\n\
         all reference: {reference_all}"
    );
    assert!(mixed_all.delivery_ratio >= reference_all.delivery_ratio);
    assert!(mixed_ours.delivery_ratio > mixed_theirs.delivery_ratio);
    assert!(mixed_ours.delivery_ratio > reference_all.delivery_ratio);
}

/// Splits `(index, host)` pairs by a predicate on the index.
trait PartitionHosts {
    fn partition_map_hosts(self, ours: impl Fn(usize) -> bool) -> (Vec<HostId>, Vec<HostId>);
}

impl<'a, I: Iterator<Item = (usize, &'a HostId)>> PartitionHosts for I {
    fn partition_map_hosts(self, ours: impl Fn(usize) -> bool) -> (Vec<HostId>, Vec<HostId>) {
        let mut yes = Vec::new();
        let mut no = Vec::new();
        for (i, &h) in self {
            if ours(i) {
                yes.push(h);
            } else {
                no.push(h);
            }
        }
        (yes, no)
    }
}

/// Messages sent on both sides of a partition reach every node soon after the heal: `cut`
/// shorter than the idle timeout (links survive, held traffic flows at the heal) and longer
/// (links die; new links announce what their ends hold).
#[test]
fn messages_sent_during_a_partition_reach_everyone_after_the_heal() {
    let seed = seed_from_env(840);
    let config = brisk_discovery();
    for cut in [Duration::from_secs(30), Duration::from_secs(90)] {
        let (mut sim, hosts) = network(seed, 100, Duration::from_secs(40), |_| config.clone());
        let groups: Vec<u8> = (0..hosts.len()).map(|i| u8::from(i % 2 == 1)).collect();
        sim.partition(groups, cut);
        let heal = sim.now() + cut;
        let mut choice = ChaCha20Rng::seed_from_u64(seed);
        let mut sent = Vec::new();
        for _ in 0..10 {
            let origin = hosts[(choice.next_u64() % hosts.len() as u64) as usize];
            sent.push(sim.chat_sized(origin, CHAT_LEN));
            sim.run_for(Duration::from_secs(1));
        }
        sim.run_until(heal + Duration::from_secs(10));
        for text in &sent {
            let got = sim.metrics.deliveries.get(text).map_or(0, |d| d.len());
            assert_eq!(
                got,
                hosts.len() - 1,
                "cut {cut:?}: {text} reached {got} of {} within 10 s of the heal (seed {seed})",
                hosts.len() - 1
            );
            let last = sim.metrics.deliveries[text]
                .values()
                .map(|(at, _)| *at)
                .max();
            println!(
                "cut {cut:?}: {text} complete {} ms after the heal",
                last.map_or(0, |at| at.saturating_duration_since(heal).as_millis())
            );
        }
    }
}

/// Nodes whose known-peer tables hold a tenth of the network still estimate its size (the
/// estimate scales the entry points of their messages): a table-based guess would say 25.
#[test]
fn small_known_peer_tables_still_estimate_the_network_size() {
    let seed = seed_from_env(830);
    let n = 240;
    let config = NodeConfig {
        max_known_peers: 24,
        ..brisk_discovery()
    };
    let (mut sim, hosts) = network(seed, n, Duration::from_secs(40), |_| config.clone());
    let estimates: Vec<usize> = hosts
        .iter()
        .filter_map(|&h| sim.hosts[h].node().map(|node| node.network_size_estimate()))
        .collect();
    let close = estimates
        .iter()
        .filter(|&&e| e >= n / 2 && e <= 2 * n)
        .count();
    println!("estimates of {n}: {estimates:?}");
    assert!(
        close * 100 >= estimates.len() * 95,
        "{close} of {} within [n/2, 2n]",
        estimates.len()
    );
    traffic(&mut sim, &hosts, seed, 20, CHAT_LEN);
    let report = sim.report(&hosts);
    assert_eq!(report.complete_messages, 1.0, "{report}");
}
