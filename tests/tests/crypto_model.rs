//! The modeled crypto suite changes no protocol decision: the same seed gives the same events,
//! deliveries, latencies and byte counts with real and modeled cryptography (every size is the
//! same), so large simulations may use the cheap one.

use std::time::Duration;

use micelio_core::suite::Suite;
use micelio_sim::presets::brisk_discovery;
use micelio_sim::{HostId, NetworkConfig, NodeSpec, Report, Sim, seed_from_env};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

/// 40 nodes with discovery and exchanges, 20 chat lines from random origins.
fn run(seed: u64, suite: Suite) -> (Report, u64, Vec<usize>) {
    let mut sim = Sim::with_suite(seed, NetworkConfig::default(), suite);
    let mut choice = ChaCha20Rng::seed_from_u64(seed);
    let config = brisk_discovery();
    let mut hosts: Vec<HostId> = Vec::new();
    for i in 0..40 {
        let bootstrap = if i == 0 {
            vec![]
        } else {
            vec![hosts[(choice.next_u64() % i as u64) as usize]]
        };
        hosts.push(sim.add_node(NodeSpec::listening(bootstrap).with_config(config.clone())));
    }
    sim.run_for(Duration::from_secs(30));
    for _ in 0..20 {
        let origin = hosts[(choice.next_u64() % hosts.len() as u64) as usize];
        sim.chat(origin);
        sim.run_for(Duration::from_millis(300));
    }
    sim.run_for(Duration::from_secs(5));
    (sim.report(&hosts), sim.steps, sim.peer_counts())
}

#[test]
fn modeled_and_real_crypto_make_the_same_run() {
    let seed = seed_from_env(77);
    let (real, real_steps, real_peers) = run(seed, Suite::Standard);
    let (modeled, modeled_steps, modeled_peers) = run(seed, Suite::Modeled);
    assert!(real.delivery_ratio > 0.9, "the run does something: {real}");
    assert!(real.bytes_per_node > 10_000.0, "{real}");
    assert_eq!(real, modeled, "replay with MICELIO_SIM_SEED={seed}");
    assert_eq!(real_steps, modeled_steps);
    assert_eq!(real_peers, modeled_peers);
}
