//! Node configurations, specs and networks the simulation tests share.

use std::time::Duration;

use micelio_core::node::NodeConfig;
use micelio_core::suite::Suite;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use crate::network::NetworkConfig;
use crate::sim::{HostId, NodeSpec, Sim};

/// Exchange and discovery every second: meshes form within seconds of virtual time.
pub fn quick_discovery() -> NodeConfig {
    NodeConfig {
        exchange_interval: Duration::from_secs(1),
        discovery_interval: Duration::from_secs(1),
        ..NodeConfig::default()
    }
}

/// Exchange every 5 s, discovery every 2 s: a 40-node network meshes in about 30 s of virtual
/// time with the reference's other settings.
pub fn brisk_discovery() -> NodeConfig {
    NodeConfig {
        exchange_interval: Duration::from_secs(5),
        discovery_interval: Duration::from_secs(2),
        ..NodeConfig::default()
    }
}

/// Exchange and discovery effectively off: only the exchange sent at admission happens, so
/// topologies stay as built.
pub fn no_discovery() -> NodeConfig {
    NodeConfig {
        exchange_interval: Duration::from_secs(3600),
        discovery_interval: Duration::from_secs(3600),
        ..NodeConfig::default()
    }
}

/// `config` with every extension off (dissemination, state map) and no inbound reserve: the
/// node behaves like the reference.
pub fn reference_mode(config: &NodeConfig) -> NodeConfig {
    let mut config = config.clone();
    config.tree.enabled = false;
    config.state.enabled = false;
    // The reference dials into every free slot.
    config.inbound_reserve = 0;
    config
}

/// A listening node with `config`, bootstrapping to `bootstrap`.
pub fn spec(bootstrap: Vec<HostId>, config: &NodeConfig) -> NodeSpec {
    NodeSpec::listening(bootstrap).with_config(config.clone())
}

/// A network of `n` listening nodes (modeled cryptography), each bootstrapping to up to 3
/// random earlier ones, node `i` with `config(i)`, meshed by discovery for `settle`.
pub fn random_network(
    seed: u64,
    n: usize,
    settle: Duration,
    config: impl Fn(usize) -> NodeConfig,
) -> (Sim, Vec<HostId>) {
    let mut sim = Sim::with_suite(seed, NetworkConfig::default(), Suite::Modeled);
    let mut choice = ChaCha20Rng::seed_from_u64(seed ^ 0x5eed);
    let mut hosts: Vec<HostId> = Vec::new();
    for i in 0..n {
        let mut bootstrap: Vec<HostId> = (0..3.min(i))
            .map(|_| hosts[(choice.next_u64() % i as u64) as usize])
            .collect();
        bootstrap.sort_unstable();
        bootstrap.dedup();
        hosts.push(sim.add_node(NodeSpec::listening(bootstrap).with_config(config(i))));
        if i % 50 == 49 {
            sim.run_for(Duration::from_millis(500));
        }
    }
    sim.run_for(settle);
    (sim, hosts)
}
