//! A deterministic simulator of whole Micelio networks, in virtual time.
//!
//! Many [`micelio_core::node::Node`] state machines (and scripted [`adversary::Adversary`]
//! peers) exchange their wire bytes through a modelled network: latency, bandwidth,
//! connection resets, partitions and heals, crashes and restarts with the persisted peer
//! table. The bytes are really encrypted and signed ([`Sim::new`]), or, for large networks,
//! sealed and signed by the modeled suite ([`Sim::with_suite`] with
//! [`micelio_core::suite::Suite::Modeled`]): same sizes, same decisions, a fraction of the cost. No sockets, no sleeps, no threads: the whole run is a function of one `u64` seed, and
//! [`sim::Sim::trace_hash`] fingerprints every event so a replay can be checked bit for bit.
//!
//! Replay a failing run with `MICELIO_SIM_SEED=<seed> cargo test -p micelio-sim <test name>`.

pub mod adversary;
pub mod endpoints;
pub mod metrics;
pub mod network;
pub mod presets;
pub mod queue;
pub mod sim;
pub mod store;
pub mod trace;

pub use metrics::Report;
pub use network::NetworkConfig;
pub use sim::{HostId, NodeSpec, Sim};

/// The seed of a test run: `MICELIO_SIM_SEED` when set, otherwise `default`. Printed so a
/// failure can be replayed.
pub fn seed_from_env(default: u64) -> u64 {
    let seed = std::env::var("MICELIO_SIM_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default);
    println!("simulation seed {seed} (replay: MICELIO_SIM_SEED={seed} cargo test -p micelio-sim)");
    seed
}

/// How many seeds a multi-seed run covers: `MICELIO_SIM_SEEDS` when set, otherwise `default`.
pub fn seed_count_from_env(default: u64) -> u64 {
    std::env::var("MICELIO_SIM_SEEDS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}
