//! Faults, in the simulator: a crashed peer is evicted by its neighbours' idle timeout, a
//! partition longer than the idle timeout splits a network that bootstrap and discovery join
//! again after the heal, a restarted node rejoins from its persisted peer table alone, and a
//! reset bootstrap connection is re-dialed.
//!
//! Each test is reproducible from its seed: `MICELIO_SIM_SEED=<seed> cargo test -p micelio-sim
//! --test faults <test name>`.

use std::time::Duration;

use micelio_core::connection::{CloseReason, ConnectionConfig};
use micelio_core::identity::NodeId;
use micelio_core::node::{Direction, NodeConfig, NodeEvent};
use micelio_core::time::Instant;
use micelio_sim::presets::{no_discovery, quick_discovery, spec};
use micelio_sim::{HostId, NetworkConfig, Sim, seed_from_env};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

/// Node ids of the admitted peers of `host` (empty if it is not running).
fn peer_ids(sim: &Sim, host: HostId) -> Vec<NodeId> {
    sim.hosts[host]
        .node()
        .map(|n| n.peers().iter().map(|p| p.node_id).collect())
        .unwrap_or_default()
}

fn connected(sim: &Sim, a: HostId, b: HostId) -> bool {
    peer_ids(sim, a).contains(&sim.node_id(b))
}

/// `PeerDown` events of `host` about `peer`, with their time and reason.
fn downs(sim: &Sim, host: HostId, peer: NodeId) -> Vec<(Instant, CloseReason)> {
    sim.hosts[host]
        .events
        .iter()
        .filter_map(|(at, e)| match e {
            NodeEvent::PeerDown { node_id, reason } if *node_id == peer => Some((*at, *reason)),
            _ => None,
        })
        .collect()
}

/// `PeerUp` events of `host` about `peer`, with their time and direction.
fn ups(sim: &Sim, host: HostId, peer: NodeId) -> Vec<(Instant, Direction)> {
    sim.hosts[host]
        .events
        .iter()
        .filter_map(|(at, e)| match e {
            NodeEvent::PeerUp {
                node_id, direction, ..
            } if *node_id == peer => Some((*at, *direction)),
            _ => None,
        })
        .collect()
}

fn all_down_events(sim: &Sim, host: HostId) -> usize {
    sim.hosts[host]
        .events
        .iter()
        .filter(|(_, e)| matches!(e, NodeEvent::PeerDown { .. }))
        .count()
}

/// Asserts that every pair of `hosts` is connected, as seen from both sides.
fn assert_mutual_mesh(sim: &Sim, hosts: &[HostId], seed: u64) {
    for &a in hosts {
        for &b in hosts.iter().filter(|&&b| b != a) {
            assert!(
                connected(sim, a, b),
                "host {a} is not connected to host {b}: {:?} (seed {seed})",
                sim.peer_counts()
            );
        }
    }
}

/// Asserts that `text` reached every host of `hosts` except its origin, exactly once.
fn assert_reached(sim: &Sim, hosts: &[HostId], origin: HostId, text: &str, seed: u64) {
    for &h in hosts.iter().filter(|&&h| h != origin) {
        let copies = sim.hosts[h].chats().iter().filter(|t| *t == text).count();
        assert_eq!(
            copies, 1,
            "host {h}: {copies} copies of {text} from host {origin} (seed {seed})"
        );
    }
}

/// A crashed peer sends no FIN: its neighbours hold a dead connection until their idle timeout
/// (60 s without a frame) closes it.
///
/// The exact window: a neighbour's idle timer runs from the arrival of the last frame the
/// crashed peer sent. That frame left at most `keepalive_interval` (20 s) before the crash
/// (an idle connection carries a keepalive every 20 s, a busy one more), and it may still have
/// been in flight at the crash, arriving up to `max_latency` (+ its transmission time) after
/// it. The timer is exact (the node wakes at the deadline), so every eviction happens in
/// `(crash + 60 s - 20 s, crash + 60 s + max_latency + 1 ms]`: never at once (nothing tells the
/// neighbours), never later than the idle timeout plus one in-flight segment.
#[test]
fn crashed_peer_is_evicted_by_the_idle_timeout() {
    let seed = seed_from_env(11);
    let network = NetworkConfig::default();
    let mut sim = Sim::new(seed, network.clone());
    // Reference timers (keepalive 20 s, exchange 30 s): connections are mostly idle, so the
    // last frame before the crash may be up to 20 s old. Discovery every 2 s meshes quickly.
    let config = NodeConfig {
        discovery_interval: Duration::from_secs(2),
        ..NodeConfig::default()
    };
    let timers = ConnectionConfig::default();
    // Three nodes bootstrap to the victim, two to the previous node: the victim learns of
    // those two through exchanges and dials them itself, so it has connections both ways.
    let victim = sim.add_node(spec(vec![], &config));
    let mut others: Vec<HostId> = Vec::new();
    for i in 0..5 {
        let bootstrap = if i % 2 == 0 {
            vec![victim]
        } else {
            vec![others[i - 1]]
        };
        others.push(sim.add_node(spec(bootstrap, &config)));
    }
    sim.run_for(Duration::from_secs(90));
    let victim_id = sim.node_id(victim);
    let neighbours: Vec<HostId> = others
        .iter()
        .copied()
        .filter(|&h| connected(&sim, h, victim))
        .collect();
    assert!(
        neighbours.len() >= 3,
        "the victim has neighbours before the crash: {:?} (seed {seed})",
        sim.peer_counts()
    );
    let directions: Vec<Direction> = sim.hosts[victim]
        .node()
        .unwrap()
        .peers()
        .iter()
        .map(|p| p.direction)
        .collect();
    println!("victim's connections before the crash: {directions:?}");
    let downs_before: Vec<usize> = others.iter().map(|&h| all_down_events(&sim, h)).collect();
    let peers_before: Vec<Vec<NodeId>> = others.iter().map(|&h| peer_ids(&sim, h)).collect();

    // Crash at a seed-dependent instant, so the keepalive and exchange phases at the crash
    // vary with the seed.
    let offset = ChaCha20Rng::seed_from_u64(seed).next_u64() % 30_000;
    sim.run_for(Duration::from_millis(offset));
    let crash = sim.now();
    sim.crash(victim);

    // Just before the earliest possible eviction, every neighbour still holds the dead peer.
    let earliest = crash + (timers.idle_timeout - timers.keepalive_interval);
    sim.run_until(earliest);
    for &h in &neighbours {
        assert!(
            connected(&sim, h, victim),
            "host {h} dropped the crashed peer before its idle timeout could fire (seed {seed})"
        );
        assert!(downs(&sim, h, victim_id).is_empty(), "seed {seed}");
    }

    let latest = crash + timers.idle_timeout + network.max_latency + Duration::from_millis(1);
    sim.run_until(latest);
    for &h in &neighbours {
        let d = downs(&sim, h, victim_id);
        assert_eq!(
            d.len(),
            1,
            "host {h} evicts the crashed peer once: {d:?} (seed {seed})"
        );
        let (at, reason) = d[0];
        assert_eq!(reason, CloseReason::IdleTimeout, "host {h} (seed {seed})");
        assert!(
            at > earliest && at <= latest,
            "host {h} evicted at {:?} after the crash, outside ({:?}, {:?}] (seed {seed})",
            at.saturating_duration_since(crash),
            earliest.saturating_duration_since(crash),
            latest.saturating_duration_since(crash)
        );
        println!(
            "host {h} evicted the crashed peer {:.3} s after the crash",
            at.saturating_duration_since(crash).as_secs_f64()
        );
        assert!(!connected(&sim, h, victim), "seed {seed}");
    }

    // The survivors lost nothing else, and nobody reconnects to a dead host.
    sim.run_for(Duration::from_secs(60));
    for (i, &h) in others.iter().enumerate() {
        let expected = downs_before[i] + usize::from(neighbours.contains(&h));
        assert_eq!(
            all_down_events(&sim, h),
            expected,
            "host {h} lost only the crashed peer (seed {seed})"
        );
        assert!(!connected(&sim, h, victim), "seed {seed}");
        let now = peer_ids(&sim, h);
        for peer in peers_before[i].iter().filter(|p| **p != victim_id) {
            assert!(
                now.contains(peer),
                "host {h} keeps its other peers (seed {seed})"
            );
        }
    }
    let text = sim.chat(others[0]);
    sim.run_for(Duration::from_secs(2));
    assert_reached(&sim, &others, others[0], &text, seed);
}

/// A partition that outlasts the idle timeout kills every cross link; after the heal,
/// bootstrap re-dials and discovery (with its back-off) join the halves again.
#[test]
fn partition_longer_than_idle_timeout_splits_then_heals() {
    let seed = seed_from_env(12);
    let mut sim = Sim::new(seed, NetworkConfig::default());
    let config = quick_discovery();
    // A bootstrap chain across both halves: host 6 (second half) bootstraps to host 5.
    let mut hosts = vec![sim.add_node(spec(vec![], &config))];
    for i in 1..12 {
        hosts.push(sim.add_node(spec(vec![hosts[i - 1]], &config)));
    }
    let (left, right) = hosts.split_at(6);
    sim.run_for(Duration::from_secs(40));
    for &h in &hosts {
        assert_eq!(
            peer_ids(&sim, h).len(),
            11,
            "host {h} meshed before the partition (seed {seed})"
        );
    }

    let split = sim.now();
    let partition = Duration::from_secs(100);
    let groups: Vec<u8> = hosts.iter().map(|&h| u8::from(h >= 6)).collect();
    sim.partition(groups, partition);
    let heal = split + partition;

    // Cross links die by idle timeout, not before: nothing crosses the cut.
    sim.run_until(split + Duration::from_secs(55));
    let cross_links = |sim: &Sim| {
        left.iter()
            .map(|&a| right.iter().filter(|&&b| connected(sim, a, b)).count())
            .sum::<usize>()
            + right
                .iter()
                .map(|&b| left.iter().filter(|&&a| connected(sim, b, a)).count())
                .sum::<usize>()
    };
    assert_eq!(cross_links(&sim), 72, "too early to notice (seed {seed})");
    sim.run_until(split + Duration::from_secs(62));
    assert_eq!(
        cross_links(&sim),
        0,
        "every cross link died within the idle timeout (seed {seed})"
    );
    for &a in left {
        for &b in right {
            let d = downs(&sim, a, sim.node_id(b));
            assert!(
                d.iter()
                    .any(|(_, reason)| *reason == CloseReason::IdleTimeout),
                "host {a} lost host {b} by idle timeout: {d:?} (seed {seed})"
            );
        }
    }
    for half in [left, right] {
        for &h in half {
            assert_eq!(
                peer_ids(&sim, h).len(),
                5,
                "host {h} keeps its own half (seed {seed})"
            );
        }
    }
    // Gossip stays inside a half while split.
    let inside = sim.chat(left[0]);
    sim.run_until(split + (partition - Duration::from_secs(1)));
    assert_reached(&sim, left, left[0], &inside, seed);
    for &b in right {
        assert!(!sim.hosts[b].chats().contains(&inside), "seed {seed}");
    }
    assert_eq!(
        cross_links(&sim),
        0,
        "no dial crosses the cut (seed {seed})"
    );

    // After the heal, bootstrap (host 6 → host 5, back-off at most 30 s) and discovery (back-off
    // at most 30 s after the last failure) reconnect the halves.
    sim.run_until(heal);
    let mut rejoined = None;
    for second in 1..=60 {
        sim.run_until(heal + Duration::from_secs(second));
        if cross_links(&sim) > 0 && rejoined.is_none() {
            rejoined = Some(second);
        }
    }
    let rejoined = rejoined.unwrap_or_else(|| panic!("the halves never reconnect (seed {seed})"));
    println!(
        "first cross link {rejoined} s after the heal; 60 s after: {} cross links, peers {:?}",
        cross_links(&sim) / 2,
        sim.peer_counts()
    );
    assert!(
        rejoined <= 31,
        "bootstrap re-dials within its 30 s cap (seed {seed})"
    );
    // Discovery restores the full mesh (every cross link, both ways).
    assert_mutual_mesh(&sim, &hosts, seed);
    let from_left = sim.chat(left[1]);
    let from_right = sim.chat(right[2]);
    sim.run_for(Duration::from_secs(2));
    assert_reached(&sim, &hosts, left[1], &from_left, seed);
    assert_reached(&sim, &hosts, right[2], &from_right, seed);
    assert_eq!(sim.metrics.duplicate_deliveries, 0);
}

/// A six-node mesh (quick discovery, a bootstrap chain); host 3 is crashed once it is meshed.
/// Returns the simulation, every host, the victim and the records the victim had persisted.
fn crash_in_a_mesh(seed: u64) -> (Sim, Vec<HostId>, HostId, usize) {
    let mut sim = Sim::new(seed, NetworkConfig::default());
    let config = quick_discovery();
    let mut hosts = vec![sim.add_node(spec(vec![], &config))];
    for i in 1..6 {
        hosts.push(sim.add_node(spec(vec![hosts[i - 1]], &config)));
    }
    let victim = hosts[3];
    sim.run_for(Duration::from_secs(30));
    assert_eq!(peer_ids(&sim, victim).len(), 5, "meshed (seed {seed})");
    // The store holds a dialable record of every other node.
    let stored = sim.hosts[victim].store.records();
    for &h in hosts.iter().filter(|&&h| h != victim) {
        let record = stored
            .get(&sim.node_id(h))
            .unwrap_or_else(|| panic!("host {h} persisted (seed {seed})"));
        assert_eq!(record.addr, sim.hosts[h].addr);
        assert!(record.is_dialable());
    }
    let stored = stored.len();
    sim.crash(victim);
    (sim, hosts, victim, stored)
}

/// Restarts `victim` with an empty bootstrap list and checks that its table came from the
/// store. Returns the restart instant and the index of its first event after the restart.
fn restart_without_bootstrap(sim: &mut Sim, victim: HostId, stored: usize) -> (Instant, usize) {
    let restart = sim.now();
    let events_before = sim.hosts[victim].events.len();
    sim.restart(victim, Some(vec![]));
    let node = sim.hosts[victim].node().unwrap();
    assert!(node.config().bootstrap.is_empty());
    assert_eq!(
        node.known_peers().count(),
        stored,
        "the table comes from the store, before any exchange"
    );
    assert_eq!(node.peer_count(), 0);
    (restart, events_before)
}

/// Chat reaches the restarted node, and its own chat reaches everyone.
fn assert_chat_both_ways(sim: &mut Sim, hosts: &[HostId], victim: HostId, seed: u64) {
    let other = hosts.iter().copied().find(|&h| h != victim).unwrap();
    let to_victim = sim.chat(other);
    let from_victim = sim.chat(victim);
    sim.run_for(Duration::from_secs(2));
    assert!(
        sim.hosts[victim].chats().contains(&to_victim),
        "the restarted node receives chat (seed {seed})"
    );
    assert_reached(sim, hosts, victim, &from_victim, seed);
    assert_eq!(sim.metrics.duplicate_deliveries, 0, "seed {seed}");
}

/// A crashed node restarted with an empty bootstrap list, once its neighbours have evicted it,
/// loads its persisted peer table and rejoins by dialing the stored peers itself.
#[test]
fn restarted_node_rejoins_from_its_persisted_peer_table() {
    let seed = seed_from_env(13);
    let (mut sim, hosts, victim, stored) = crash_in_a_mesh(seed);
    // Past every neighbour's idle timeout: nobody holds the dead connection any more.
    sim.run_for(Duration::from_secs(70));
    for &h in hosts.iter().filter(|&&h| h != victim) {
        assert!(!connected(&sim, h, victim), "seed {seed}");
    }
    let (restart, events_before) = restart_without_bootstrap(&mut sim, victim, stored);

    // Its first discovery tick is 1 s after the start, then up to 2 s of dial jitter and a
    // handshake. Its neighbours' discovery dials it too (their records of it may carry some
    // back-off from their failed dials to the dead host).
    sim.run_for(Duration::from_secs(4));
    let ups_after: Vec<(Instant, Direction)> = sim.hosts[victim].events[events_before..]
        .iter()
        .filter_map(|(at, e)| match e {
            NodeEvent::PeerUp { direction, .. } => Some((*at, *direction)),
            _ => None,
        })
        .collect();
    let dialed = ups_after
        .iter()
        .filter(|(_, d)| *d == Direction::Outbound)
        .count();
    println!(
        "4 s after the restart: {} peers ({dialed} dialed by the restarted node), first after {:?}",
        ups_after.len(),
        ups_after
            .first()
            .map(|(at, _)| at.saturating_duration_since(restart))
    );
    // With no bootstrap address, an outbound connection can only come from discovery of the
    // loaded table.
    assert!(
        dialed >= 1,
        "the restarted node dialed a stored peer itself: {ups_after:?} (seed {seed})"
    );
    sim.run_for(Duration::from_secs(10));
    assert_mutual_mesh(&sim, &hosts, seed);
    assert_chat_both_ways(&mut sim, &hosts, victim, seed);
}

/// A node restarted (empty bootstrap list) before its neighbours noticed the crash: they still
/// hold the dead incarnation's connection, so its new dials are duplicates until their idle
/// timeout ends the dead ones (unless the new connection wins the cross-dial tie-break). It
/// must be back with every neighbour shortly after that timeout.
#[test]
fn node_restarted_before_its_neighbours_notice_rejoins_after_their_idle_timeout() {
    let seed = seed_from_env(15);
    let (mut sim, hosts, victim, stored) = crash_in_a_mesh(seed);
    let crash = sim.now();
    sim.run_for(Duration::from_secs(5));
    restart_without_bootstrap(&mut sim, victim, stored);

    // The dead connections end at most 60 s (+ one in-flight segment) after the crash. The
    // neighbours' records of the node carry no back-off (they never failed to dial it), so
    // their next discovery tick (<= 1 s) dials it after < 2 s of jitter, and a handshake takes
    // a few round trips: about 63.2 s at worst; 65 s leaves some slack. (The restarted node's
    // own dials were rejected as duplicates meanwhile and are backed off up to 30 s.)
    let deadline = crash + Duration::from_secs(65);
    let mut rejoined = None;
    for tenth in 1..=1_200 {
        sim.run_until(crash + Duration::from_millis(5_000 + tenth * 100));
        if hosts
            .iter()
            .all(|&h| h == victim || (connected(&sim, h, victim) && connected(&sim, victim, h)))
        {
            rejoined = Some(sim.now());
            break;
        }
    }
    let rejoined = rejoined
        .unwrap_or_else(|| panic!("never meshed again: {:?} (seed {seed})", sim.peer_counts()));
    println!(
        "meshed again {:.1} s after the crash",
        rejoined.saturating_duration_since(crash).as_secs_f64()
    );
    assert!(
        rejoined <= deadline,
        "meshed again only {:?} after the crash (seed {seed})",
        rejoined.saturating_duration_since(crash)
    );
    assert_chat_both_ways(&mut sim, &hosts, victim, seed);
}

/// A reset bootstrap connection: both sides see it close at once, the dialer re-dials its
/// bootstrap address after one second, and traffic flows again. Repeated resets do not
/// escalate the back-off of a connection that had lived (spec §12.8).
#[test]
fn reset_bootstrap_connection_is_redialed() {
    let seed = seed_from_env(14);
    let mut sim = Sim::new(seed, NetworkConfig::default());
    // No discovery: only the bootstrap dialer can bring the link back.
    let config = no_discovery();
    let centre = sim.add_node(spec(vec![], &config));
    let spokes: Vec<HostId> = (0..3)
        .map(|_| sim.add_node(spec(vec![centre], &config)))
        .collect();
    let all: Vec<HostId> = std::iter::once(centre)
        .chain(spokes.iter().copied())
        .collect();
    sim.run_for(Duration::from_secs(5));
    let spoke = spokes[1];
    let (spoke_id, centre_id) = (sim.node_id(spoke), sim.node_id(centre));
    assert!(connected(&sim, spoke, centre), "seed {seed}");

    for round in 0..3 {
        sim.run_for(Duration::from_secs(20));
        let reset = sim.now();
        let opened = sim.connections_opened();
        assert!(sim.reset_connection(spoke, centre), "seed {seed}");
        sim.run_for(Duration::from_millis(1));
        assert!(
            !connected(&sim, spoke, centre),
            "round {round} (seed {seed})"
        );
        assert!(
            !connected(&sim, centre, spoke),
            "round {round} (seed {seed})"
        );
        for (host, peer) in [(spoke, centre_id), (centre, spoke_id)] {
            let last = downs(&sim, host, peer).last().copied();
            assert_eq!(
                last,
                Some((reset, CloseReason::TransportClosed)),
                "host {host} sees the reset at once (round {round}, seed {seed})"
            );
        }

        // Bootstrap re-dial after 1 s, then Noise + hello: a few round trips of <= 40 ms.
        sim.run_for(Duration::from_secs(2));
        let up = ups(&sim, spoke, centre_id).last().copied();
        let (at, direction) =
            up.unwrap_or_else(|| panic!("no reconnection (round {round}, seed {seed})"));
        assert_eq!(direction, Direction::Outbound, "the dialer re-dials");
        let delay = at.saturating_duration_since(reset);
        assert!(
            delay >= Duration::from_secs(1) && delay <= Duration::from_millis(1_300),
            "reconnected {delay:?} after the reset (round {round}, seed {seed})"
        );
        assert_eq!(
            sim.connections_opened() - opened,
            1,
            "one re-dial (round {round}, seed {seed})"
        );
        assert!(connected(&sim, centre, spoke), "seed {seed}");

        let from_spoke = sim.chat(spoke);
        let from_centre = sim.chat(centre);
        sim.run_for(Duration::from_secs(1));
        assert_reached(&sim, &all, spoke, &from_spoke, seed);
        assert!(
            sim.hosts[spoke].chats().contains(&from_centre),
            "seed {seed}"
        );
    }
    // The other spokes never noticed.
    for &s in spokes.iter().filter(|&&s| s != spoke) {
        assert_eq!(all_down_events(&sim, s), 0, "seed {seed}");
    }
}
