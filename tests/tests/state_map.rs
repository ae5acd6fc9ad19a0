//! The shared state map (extension `state1`): concurrent writes and deletes from random
//! nodes, through partitions and crashes, end in the same map on every node, equal to the
//! map the last-writer rule gives over every write.
//!
//! Each run is reproducible from its seed: `MICELIO_SIM_SEED=<seed> cargo test -p micelio-sim
//! --test state_map <test name>`.

use std::collections::BTreeSet;
use std::time::Duration;

use micelio_core::envelope::{self, msg_type};
use micelio_core::node::{CommandError, NodeConfig, NodeEvent};
use micelio_core::proto::{self, Envelope, StateWrite};
use micelio_core::state::clock::MAX_CLOCK_STEP;
use micelio_core::state::{ClockExhausted, StateError};
use micelio_core::time::Instant;
use micelio_sim::presets::{brisk_discovery, no_discovery, random_network, reference_mode};
use micelio_sim::{HostId, NetworkConfig, NodeSpec, Sim, seed_count_from_env, seed_from_env};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

/// `n` nodes with `config`, meshed for `settle` ([`random_network`]).
fn network(seed: u64, n: usize, settle: Duration, config: &NodeConfig) -> (Sim, Vec<HostId>) {
    random_network(seed, n, settle, |_| config.clone())
}

/// Random writes: `count` of them, 100 ms apart, from random hosts (a crashed one refuses),
/// to a shared key set of `keys` keys (one in five a delete) or to the writer's own
/// `node/<id>/` key.
fn write_randomly(
    sim: &mut Sim,
    hosts: &[HostId],
    choice: &mut ChaCha20Rng,
    count: usize,
    keys: u64,
) {
    for _ in 0..count {
        let host = hosts[(choice.next_u64() % hosts.len() as u64) as usize];
        let roll = choice.next_u64();
        let key = if roll % 7 == 0 {
            format!("node/{}/status", sim.node_id(host))
        } else {
            format!("shared/{}", roll % keys)
        };
        let value = format!("v{} from {host}", choice.next_u64() % 1000);
        // A crashed host refuses; every other write is taken.
        let value = (roll % 5 != 0).then_some(value.as_bytes());
        let written = sim.state_write(host, &key, value);
        assert!(
            written.is_ok() || sim.hosts[host].node().is_none(),
            "{written:?}"
        );
        sim.run_for(Duration::from_millis(100));
    }
}

/// The running hosts whose map differs from the oracle's.
fn diverging(sim: &Sim, hosts: &[HostId]) -> Vec<HostId> {
    let expected = sim.state_oracle().state_hash();
    hosts
        .iter()
        .copied()
        .filter(|&h| {
            sim.hosts[h]
                .node()
                .is_some_and(|n| n.state().state_hash() != expected)
        })
        .collect()
}

/// Runs until every host's map equals the oracle's (checked every 500 ms); returns when.
fn converge(sim: &mut Sim, hosts: &[HostId], limit: Duration) -> Option<Instant> {
    let end = sim.now() + limit;
    while sim.now() < end {
        if diverging(sim, hosts).is_empty() {
            return Some(sim.now());
        }
        sim.run_for(Duration::from_millis(500));
    }
    diverging(sim, hosts).is_empty().then(|| sim.now())
}

#[test]
fn concurrent_writes_through_a_partition_and_crashes_converge_to_the_last_writer() {
    let seed = seed_from_env(900);
    let config = brisk_discovery();
    let (mut sim, hosts) = network(seed, 80, Duration::from_secs(30), &config);
    let mut choice = ChaCha20Rng::seed_from_u64(seed ^ 0x57a7e);
    write_randomly(&mut sim, &hosts, &mut choice, 40, 24);

    // Three nodes crash; the rest split in two halves for 60 s and both sides keep writing,
    // often to the same keys.
    let crashed: Vec<HostId> = vec![hosts[5], hosts[17], hosts[42]];
    for &h in &crashed {
        sim.crash(h);
    }
    let cut = Duration::from_secs(60);
    let groups: Vec<u8> = (0..hosts.len()).map(|i| u8::from(i % 2 == 1)).collect();
    sim.partition(groups, cut);
    let heal = sim.now() + cut;
    let running: Vec<HostId> = hosts
        .iter()
        .copied()
        .filter(|h| !crashed.contains(h))
        .collect();
    write_randomly(&mut sim, &running, &mut choice, 120, 24);
    assert!(
        !diverging(&sim, &running).is_empty(),
        "the halves cannot agree while cut"
    );
    sim.run_until(heal);
    for &h in &crashed {
        let stored = sim.hosts[h].state_store.entries.len();
        sim.restart(h, None);
        let loaded = sim.hosts[h].node().expect("restarted").state().len();
        assert_eq!(loaded, stored, "host {h} reloads its map from its store");
        assert!(loaded > 0);
    }

    let done = converge(&mut sim, &hosts, Duration::from_secs(120));
    let left = diverging(&sim, &hosts);
    assert!(
        done.is_some(),
        "seed {seed}: {} hosts still differ from the oracle 120 s after the heal: {left:?}",
        left.len()
    );
    let after = done.unwrap().saturating_duration_since(heal);
    let oracle = sim.state_oracle();
    println!(
        "seed {seed}: {} writes, {} keys ({} live), every map equal {} ms after the heal",
        sim.state_writes.len(),
        oracle.len(),
        oracle.keys("").len(),
        after.as_millis()
    );
    for &h in &hosts {
        let node = sim.hosts[h].node().unwrap();
        assert_eq!(node.state().len(), oracle.len());
        for key in oracle.keys("") {
            assert_eq!(node.state_get(key), oracle.get(key), "host {h}, key {key}");
        }
    }
}

/// Bytes of a full copy of `map`: every entry's envelope.
fn full_copy_bytes(sim: &Sim) -> usize {
    sim.state_oracle()
        .entries()
        .map(|e| proto::encode(e.envelope()).len())
        .sum()
}

#[test]
fn a_node_offline_for_six_hours_catches_up_by_anti_entropy_alone() {
    let seed = seed_from_env(910);
    let config = brisk_discovery();
    let (mut sim, hosts) = network(seed, 12, Duration::from_secs(20), &config);
    let mut choice = ChaCha20Rng::seed_from_u64(seed ^ 0x6_0ff);
    // A map of 1,200 keys everybody holds.
    for i in 0..1_200 {
        let host = hosts[i % hosts.len()];
        let value = format!("initial {i} {}", "x".repeat(64));
        let written = sim.state_write(host, &format!("shared/{i}"), Some(value.as_bytes()));
        assert_eq!(written, Ok(()));
        sim.run_for(Duration::from_millis(50));
    }
    sim.run_for(Duration::from_secs(20));
    assert!(diverging(&sim, &hosts).is_empty(), "everyone holds the map");

    let away = hosts[3];
    sim.crash(away);
    let others: Vec<HostId> = hosts.iter().copied().filter(|&h| h != away).collect();
    // Six hours: 40 changes (updates, new keys, deletes) spread over them, far beyond every
    // seen-cache and dissemination-store window.
    let mut changed = std::collections::BTreeSet::new();
    for n in 0..40u64 {
        let host = others[(choice.next_u64() % others.len() as u64) as usize];
        let key = if n % 4 == 0 {
            format!("added/{n}")
        } else {
            format!("shared/{}", choice.next_u64() % 1_200)
        };
        let value = format!("change {n}");
        let value = (n % 5 != 2).then_some(value.as_bytes());
        assert_eq!(sim.state_write(host, &key, value), Ok(()));
        changed.insert(key);
        sim.run_for(Duration::from_secs(6 * 3600 / 40));
    }
    assert!(diverging(&sim, &others).is_empty(), "the others agree");

    sim.restart(away, None);
    let restarted = sim.now();
    let done = converge(&mut sim, &[away], Duration::from_secs(120))
        .expect("the returning node converges within 2 minutes");
    let node = sim.hosts[away].node().unwrap();
    let stats = node.state_stats();
    let exchanged = stats.sync_bytes_sent + stats.sync_bytes_received;
    let missed: usize = sim
        .state_oracle()
        .entries()
        .filter(|e| changed.contains(e.key()))
        .map(|e| proto::encode(e.envelope()).len())
        .sum();
    let full = full_copy_bytes(&sim);
    println!(
        "seed {seed}: {} keys changed while away; converged {} ms after restart; {} entries by \
         anti-entropy; {exchanged} bytes exchanged for {missed} bytes of missed entries \
         (a full copy: {full} bytes)",
        changed.len(),
        done.saturating_duration_since(restarted).as_millis(),
        stats.synced
    );
    assert_eq!(
        stats.synced as usize,
        changed.len(),
        "every missed key came by anti-entropy, once"
    );
    assert!(
        (exchanged as usize) < missed * 4,
        "{exchanged} bytes for {missed} missed"
    );
    assert!(
        (exchanged as usize) * 10 < full,
        "{exchanged} against {full}"
    );
}

/// An envelope of type 11 with any payload and Lamport time, signed by `signer`, naming
/// `sender` (and its key) as the writer.
fn hostile_write(
    signer: &micelio_core::identity::Identity,
    sender: &micelio_core::identity::Identity,
    id: &str,
    lamport: u64,
    write: &StateWrite,
) -> Vec<u8> {
    let mut envelope = Envelope {
        message_id: id.to_owned(),
        sender_id: sender.node_id().as_str().to_owned(),
        lamport_ts: lamport,
        hop_count: 10,
        msg_type: msg_type::STATE_WRITE,
        payload: proto::encode(write),
        signature: Vec::new(),
        sender_pubkey: sender.public_key().to_vec(),
    };
    envelope::sign(&mut envelope, signer);
    proto::encode(&envelope)
}

#[test]
fn hostile_writers_are_refused_or_contained() {
    let seed = seed_from_env(920);
    let mut sim = Sim::new(seed, NetworkConfig::default());
    let config = brisk_discovery();
    let mut hosts = Vec::new();
    for _ in 0..5 {
        let spec = NodeSpec::listening(hosts.clone()).with_config(config.clone());
        hosts.push(sim.add_node(spec));
    }
    sim.run_for(Duration::from_secs(5));
    let adv = sim.add_adversary(&[hosts[0], hosts[1]], "");
    sim.run_for(Duration::from_secs(5));
    assert_eq!(sim.adversary(adv).established(), 2);
    let me = sim.adversary(adv).identity().clone();
    let victim = sim.identity(hosts[2]);
    let own_key = format!("node/{}/status", victim.node_id());

    // Honest state: the victim's own key and a shared key.
    assert_eq!(sim.state_write(hosts[2], &own_key, Some(b"ok")), Ok(()));
    assert_eq!(
        sim.state_write(hosts[3], "shared/open", Some(b"honest")),
        Ok(())
    );
    sim.run_for(Duration::from_secs(2));
    let genuine = sim
        .adversary(adv)
        .received
        .iter()
        .find(|e| e.msg_type == msg_type::STATE_WRITE && e.sender_id == victim.node_id().as_str())
        .cloned()
        .expect("the adversary is relayed the victim's write");
    let clocks_before: Vec<u64> = hosts
        .iter()
        .map(|&h| sim.hosts[h].node().unwrap().lamport_time())
        .collect();

    let write = |key: &str, value: &[u8]| StateWrite {
        key: key.to_owned(),
        value: value.to_vec(),
        deleted: false,
        written_at: 1_700_000_000,
    };
    let mut altered = genuine.clone();
    altered.payload = proto::encode(&write(&own_key, b"pwned"));
    altered.message_id = "altered".to_owned();
    let refused: Vec<(&str, Vec<u8>)> = vec![
        (
            "another node's key",
            hostile_write(&me, &me, "h1", 5, &write(&own_key, b"pwned")),
        ),
        (
            "forged writer",
            hostile_write(&me, &victim, "h2", 5, &write(&own_key, b"pwned")),
        ),
        ("altered entry", proto::encode(&altered)),
        (
            "oversized key",
            hostile_write(&me, &me, "h3", 5, &write(&"k".repeat(257), b"v")),
        ),
        (
            "oversized value",
            hostile_write(
                &me,
                &me,
                "h4",
                5,
                &write("shared/big", &vec![7; 16 * 1024 + 1]),
            ),
        ),
        (
            "lamport u64::MAX",
            hostile_write(
                &me,
                &me,
                "h5",
                u64::MAX,
                &write("shared/open", b"mine forever"),
            ),
        ),
    ];
    for (what, bytes) in &refused {
        assert_eq!(sim.adversary_send(adv, bytes), 2, "{what} sent");
        sim.run_for(Duration::from_millis(300));
    }
    // Just below the ceiling: accepted, and it wins its key.
    let frozen = hostile_write(&me, &me, "h6", (1 << 62) - 1, &write("shared/frozen", b"x"));
    assert_eq!(sim.adversary_send(adv, &frozen), 2);
    sim.run_for(Duration::from_secs(2));

    for (i, &h) in hosts.iter().enumerate() {
        let node = sim.hosts[h].node().unwrap();
        assert_eq!(node.state_get(&own_key), Some(&b"ok"[..]), "host {h}");
        assert_eq!(
            node.state_get("shared/open"),
            Some(&b"honest"[..]),
            "host {h}"
        );
        assert_eq!(node.state_get("shared/big"), None);
        assert_eq!(node.state_get("shared/frozen"), Some(&b"x"[..]), "host {h}");
        // Each hostile envelope moved each clock by at most the bounded step (the refused
        // writes passed the gossip checks: their times were observed too).
        let moved = node.lamport_time() - clocks_before[i];
        assert!(
            moved <= 3 * MAX_CLOCK_STEP,
            "host {h}: clock moved by {moved}"
        );
    }
    let refused_here: u64 = hosts
        .iter()
        .map(|&h| sim.hosts[h].node().unwrap().state_stats().refused)
        .sum();
    assert!(refused_here >= 2, "entry rules refused the signed ones");

    // Honest writers go on with small times; only the frozen key cannot be written over.
    assert_eq!(
        sim.state_write(hosts[4], "shared/later", Some(b"fine")),
        Ok(())
    );
    let later = sim.hosts[hosts[4]]
        .node()
        .unwrap()
        .state()
        .entry("shared/later")
        .unwrap();
    assert!(later.version().lamport <= 4 * MAX_CLOCK_STEP);
    assert_eq!(
        sim.state_write(hosts[4], "shared/frozen", Some(b"back")),
        Err(CommandError::State(StateError::Clock(ClockExhausted)))
    );
    sim.run_for(Duration::from_secs(15));
    let hashes: BTreeSet<[u8; 32]> = hosts
        .iter()
        .map(|&h| sim.hosts[h].node().unwrap().state().state_hash())
        .collect();
    assert_eq!(hashes.len(), 1, "honest maps agree");
}

#[test]
fn writes_cross_a_reference_node_between_two_of_ours() {
    let seed = seed_from_env(930);
    let mut sim = Sim::new(seed, NetworkConfig::default());
    // A line 0 - 1 - 2 - 3 - 4 without discovery; node 2 runs in reference mode (no map, no
    // extensions): writes cross it only as gossip it relays without knowing the type.
    let ours = no_discovery();
    let theirs = reference_mode(&ours);
    let mut hosts: Vec<HostId> = Vec::new();
    for i in 0..5 {
        let bootstrap = hosts.last().map(|h| vec![*h]).unwrap_or_default();
        let config = if i == 2 { theirs.clone() } else { ours.clone() };
        hosts.push(sim.add_node(NodeSpec::listening(bootstrap).with_config(config)));
    }
    sim.run_for(Duration::from_secs(5));
    let mut choice = ChaCha20Rng::seed_from_u64(seed);
    for n in 0..30u64 {
        // Both ends write, often to the same keys.
        let host = [hosts[0], hosts[1], hosts[3], hosts[4]][(choice.next_u64() % 4) as usize];
        let key = format!("shared/{}", choice.next_u64() % 6);
        let value = format!("{n} from {host}");
        let value = (n % 6 != 5).then_some(value.as_bytes());
        assert_eq!(sim.state_write(host, &key, value), Ok(()));
        sim.run_for(Duration::from_millis(150));
    }
    sim.run_for(Duration::from_secs(5));
    let ours_hosts = [hosts[0], hosts[1], hosts[3], hosts[4]];
    assert!(
        diverging(&sim, &ours_hosts).is_empty(),
        "seed {seed}: our nodes on both sides hold the oracle's map"
    );
    let reference = sim.hosts[hosts[2]].node().unwrap();
    assert!(
        reference.state().is_empty(),
        "the reference node keeps no map"
    );
    assert_eq!(reference.traffic_stats().extension_received, 0);
    let relayed = sim.hosts[hosts[2]]
        .events
        .iter()
        .filter(|(_, e)| matches!(e, NodeEvent::Message { msg_type: 11, .. }))
        .count();
    assert_eq!(
        relayed, 30,
        "it saw every write as a message of an unknown type"
    );
}

/// Issue 9's figure: 1,000 nodes, `MICELIO_SIM_SEEDS` seeds (20) from `MICELIO_SIM_SEED`
/// (1900): writes and deletes from random nodes to 100 shared keys (and their own keys),
/// then 20 nodes crash and the rest split in two halves for 120 s while both keep writing;
/// after the heal the crashed nodes restart. Every node must end with the oracle's map.
#[test]
#[ignore = "1,000 nodes x 20 seeds: many minutes; run with --ignored --release"]
fn thousand_nodes_twenty_seeds_converge_after_partitions_and_crashes() {
    let first = seed_from_env(1_900);
    let seeds = seed_count_from_env(20);
    let mut slowest = Duration::ZERO;
    for seed in first..first + seeds {
        let wall = std::time::Instant::now();
        let (mut sim, hosts) =
            network(seed, 1_000, Duration::from_secs(60), &NodeConfig::default());
        let mut choice = ChaCha20Rng::seed_from_u64(seed ^ 0x57a7e);
        write_randomly(&mut sim, &hosts, &mut choice, 200, 100);
        let mut crashed: Vec<HostId> = (0..20)
            .map(|_| hosts[(choice.next_u64() % hosts.len() as u64) as usize])
            .collect();
        crashed.sort_unstable();
        crashed.dedup();
        for &h in &crashed {
            sim.crash(h);
        }
        // Longer than the idle timeout: the links across the cut die, and what was held on
        // them with them.
        let cut = Duration::from_secs(120);
        let groups: Vec<u8> = (0..hosts.len()).map(|i| u8::from(i % 2 == 1)).collect();
        sim.partition(groups, cut);
        let heal = sim.now() + cut;
        write_randomly(&mut sim, &hosts, &mut choice, 400, 100);
        sim.run_until(heal);
        for &h in &crashed {
            sim.restart(h, None);
        }
        let mut done = converge(&mut sim, &hosts, Duration::from_secs(60));
        if done.is_none() {
            // Slow: say who lags, how connected, and whether it had crashed.
            for h in diverging(&sim, &hosts) {
                let node = sim.hosts[h].node().unwrap();
                println!(
                    "  seed {seed}: host {h} differs 60 s after the heal: {} peers ({} of them \
                     state1), {} keys, restarted: {}, {:?}",
                    node.peer_count(),
                    node.state_links(),
                    node.state().len(),
                    crashed.contains(&h),
                    node.state_stats()
                );
            }
            done = converge(&mut sim, &hosts, Duration::from_secs(240));
        }
        let left = diverging(&sim, &hosts);
        let oracle = sim.state_oracle();
        let after = done.map(|at| at.saturating_duration_since(heal));
        println!(
            "seed {seed}: {} writes, {} keys ({} live), {} crashed; every map equal to the \
             oracle {} after the heal; {} s wall",
            sim.state_writes.len(),
            oracle.len(),
            oracle.keys("").len(),
            crashed.len(),
            after.map_or("NEVER".to_owned(), |d| format!("{} ms", d.as_millis())),
            wall.elapsed().as_secs()
        );
        assert!(
            left.is_empty(),
            "seed {seed}: {} hosts differ: {left:?}",
            left.len()
        );
        slowest = slowest.max(after.unwrap_or(Duration::MAX));
    }
    println!(
        "{seeds} seeds: slowest convergence {} ms after the heal",
        slowest.as_millis()
    );
}

#[test]
fn every_envelope_a_node_signs_carries_its_lamport_clock() {
    let seed = seed_from_env(940);
    let mut sim = Sim::new(seed, NetworkConfig::default());
    let ours = no_discovery();
    let theirs = reference_mode(&ours);
    let a = sim.add_node(NodeSpec::listening(Vec::new()).with_config(ours.clone()));
    let b = sim.add_node(NodeSpec::listening(vec![a]).with_config(ours.clone()));
    let r = sim.add_node(NodeSpec::listening(vec![a]).with_config(theirs));
    let adv = sim.add_adversary(&[a, b, r], "");
    sim.run_for(Duration::from_secs(3));
    for _ in 0..3 {
        sim.chat(a);
        sim.run_for(Duration::from_millis(200));
    }
    sim.chat(r);
    sim.run_for(Duration::from_secs(1));
    let received = sim.adversary(adv).received.clone();
    let ids = [(a, sim.node_id(a)), (r, sim.node_id(r))];
    let times = |host: HostId, msg_type: u32| -> Vec<u64> {
        let id = ids
            .iter()
            .find(|(h, _)| *h == host)
            .map(|(_, id)| *id)
            .unwrap();
        // Each envelope once (relays bring the same chat again).
        let mut once = BTreeSet::new();
        received
            .iter()
            .filter(|e| e.sender_id == id.as_str() && e.msg_type == msg_type)
            .filter(|e| once.insert(e.message_id.clone()))
            .map(|e| e.lamport_ts)
            .collect()
    };
    // Exchanges and chats of ours (and hellos) tick the clock: never 0, chats rising.
    let chats = times(a, msg_type::CHAT);
    assert_eq!(chats.len(), 3, "{chats:?}");
    assert!(chats.windows(2).all(|w| w[0] < w[1]), "{chats:?}");
    for t in [msg_type::PEER_EXCHANGE, msg_type::CHAT] {
        let seen = times(a, t);
        assert!(
            !seen.is_empty() && seen.iter().all(|&l| l > 0),
            "type {t}: {seen:?}"
        );
    }
    // B heard A's chats: its clock is past the last one (Lamport's receive rule).
    let b_time = sim.hosts[b].node().unwrap().lamport_time();
    assert!(b_time > *chats.last().unwrap(), "{b_time} after {chats:?}");
    // A reference-mode node signs 0 everywhere, as the reference does.
    for t in [msg_type::PEER_EXCHANGE, msg_type::CHAT] {
        let seen = times(r, t);
        assert!(
            !seen.is_empty() && seen.iter().all(|&l| l == 0),
            "type {t}: {seen:?}"
        );
    }
}
