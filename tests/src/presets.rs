//! Node configurations and specs the simulation tests share.

use std::time::Duration;

use micelio_core::node::NodeConfig;

use crate::sim::{HostId, NodeSpec};

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

/// `config` with every extension off (dissemination, state map): the node behaves like the
/// reference.
pub fn reference_mode(config: &NodeConfig) -> NodeConfig {
    let mut config = config.clone();
    config.tree.enabled = false;
    config.state.enabled = false;
    config
}

/// A listening node with `config`, bootstrapping to `bootstrap`.
pub fn spec(bootstrap: Vec<HostId>, config: &NodeConfig) -> NodeSpec {
    NodeSpec::listening(bootstrap).with_config(config.clone())
}
