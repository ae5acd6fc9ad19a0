//! Topologies of the reference test suite, run in the simulator: star, outbound-only bridge,
//! bootstrap chain to full mesh, full-mesh gossip with exactly-once delivery.

use std::time::Duration;

use micelio_core::node::NodeConfig;
use micelio_sim::presets::{no_discovery, quick_discovery, spec};
use micelio_sim::{HostId, NetworkConfig, NodeSpec, Sim, seed_from_env};

#[test]
fn ten_node_star_relays_through_the_centre() {
    let mut sim = Sim::new(seed_from_env(1), NetworkConfig::default());
    let config = no_discovery();
    let centre = sim.add_node(spec(vec![], &config));
    let spokes: Vec<HostId> = (0..9)
        .map(|_| sim.add_node(spec(vec![centre], &config)))
        .collect();
    sim.run_for(Duration::from_secs(5));
    assert_eq!(sim.hosts[centre].node().unwrap().peer_count(), 9);
    for &s in &spokes {
        assert_eq!(sim.hosts[s].node().unwrap().peer_count(), 1);
    }

    let from_centre = sim.chat(centre);
    let from_spoke = sim.chat(spokes[0]);
    sim.run_for(Duration::from_secs(2));
    for &s in &spokes {
        assert!(
            sim.hosts[s].chats().contains(&from_centre),
            "spoke {s} missed the centre"
        );
    }
    assert!(sim.hosts[centre].chats().contains(&from_spoke));
    let relayed = spokes[1..]
        .iter()
        .filter(|&&s| sim.hosts[s].chats().contains(&from_spoke))
        .count();
    assert!(
        relayed >= 1,
        "a spoke's message reaches another spoke through the centre"
    );
    assert_eq!(sim.metrics.duplicate_deliveries, 0);
}

#[test]
fn outbound_only_bridge_joins_two_networks() {
    let mut sim = Sim::new(seed_from_env(2), NetworkConfig::default());
    let config = no_discovery();
    let centre_a = sim.add_node(spec(vec![], &config));
    let spokes_a: Vec<HostId> = (0..2)
        .map(|_| sim.add_node(spec(vec![centre_a], &config)))
        .collect();
    let centre_b = sim.add_node(spec(vec![], &config));
    let spokes_b: Vec<HostId> = (0..2)
        .map(|_| sim.add_node(spec(vec![centre_b], &config)))
        .collect();
    let bridge =
        sim.add_node(NodeSpec::outbound_only(vec![centre_a, centre_b]).with_config(config));
    sim.run_for(Duration::from_secs(5));
    let bridge_node = sim.hosts[bridge].node().unwrap();
    assert_eq!(bridge_node.peer_count(), 2);
    assert!(bridge_node.config().advertised_addr.is_empty());

    let from_bridge = sim.chat(bridge);
    let from_centre = sim.chat(centre_a);
    let from_spoke = sim.chat(spokes_a[0]);
    sim.run_for(Duration::from_secs(2));
    for host in [centre_a, centre_b] {
        assert!(sim.hosts[host].chats().contains(&from_bridge));
    }
    for &host in spokes_a.iter().chain([bridge, centre_b].iter()) {
        assert!(
            sim.hosts[host].chats().contains(&from_centre),
            "host {host}"
        );
    }
    for host in [centre_a, bridge, centre_b] {
        assert!(sim.hosts[host].chats().contains(&from_spoke), "host {host}");
    }
    // The bridge is never propagated: nobody knows an address for it.
    let bridge_id = sim.node_id(bridge);
    for host in [centre_a, centre_b] {
        let record = sim.hosts[host]
            .node()
            .unwrap()
            .known_peers()
            .find(|r| r.node_id == bridge_id);
        assert!(record.is_some_and(|r| !r.reachable && r.addr.is_empty()));
    }
    let _ = spokes_b;
}

#[test]
fn five_node_bootstrap_chain_becomes_a_full_mesh() {
    let mut sim = Sim::new(seed_from_env(3), NetworkConfig::default());
    let config = quick_discovery();
    let mut hosts = vec![sim.add_node(spec(vec![], &config))];
    for i in 1..5 {
        hosts.push(sim.add_node(spec(vec![hosts[i - 1]], &config)));
    }
    sim.run_for(Duration::from_secs(30));
    for &h in &hosts {
        assert_eq!(
            sim.hosts[h].node().unwrap().peer_count(),
            4,
            "host {h} not fully meshed"
        );
    }
    let text = sim.chat(hosts[0]);
    sim.run_for(Duration::from_secs(2));
    for &h in &hosts[1..] {
        assert_eq!(
            sim.hosts[h].chats().iter().filter(|t| **t == text).count(),
            1
        );
    }
}

#[test]
fn four_node_full_mesh_delivers_every_message_exactly_once() {
    let mut sim = Sim::new(seed_from_env(4), NetworkConfig::default());
    let config = no_discovery();
    let a = sim.add_node(spec(vec![], &config));
    let b = sim.add_node(spec(vec![a], &config));
    let c = sim.add_node(spec(vec![a, b], &config));
    let d = sim.add_node(spec(vec![a, b, c], &config));
    let hosts = [a, b, c, d];
    sim.run_for(Duration::from_secs(5));
    for &h in &hosts {
        assert_eq!(sim.hosts[h].node().unwrap().peer_count(), 3);
    }
    let mut texts = Vec::new();
    for round in 0..5 {
        for &h in &hosts {
            texts.push((h, sim.chat(h)));
        }
        sim.run_for(Duration::from_millis(300 + round * 100));
    }
    sim.run_for(Duration::from_secs(2));
    for &h in &hosts {
        let chats = sim.hosts[h].chats();
        for (origin, text) in &texts {
            let copies = chats.iter().filter(|t| *t == text).count();
            assert_eq!(copies, usize::from(*origin != h), "host {h} text {text}");
        }
    }
    assert_eq!(sim.metrics.duplicate_deliveries, 0);
}

#[test]
fn three_node_mesh_through_one_bootstrap() {
    let mut sim = Sim::new(seed_from_env(5), NetworkConfig::default());
    let config = quick_discovery();
    let b = sim.add_node(spec(vec![], &config));
    let a = sim.add_node(spec(vec![b], &config));
    let c = sim.add_node(spec(vec![b], &config));
    sim.run_for(Duration::from_secs(30));
    for h in [a, b, c] {
        assert_eq!(sim.hosts[h].node().unwrap().peer_count(), 2);
    }
}

#[test]
fn a_newcomer_whose_bootstrap_node_is_full_is_referred_elsewhere() {
    // A hub full with two spokes (which can take more peers); a newcomer that knows only the
    // hub. The reference closes it before any Noise byte, for ever; a referral (the hub's
    // PeerExchange sent after the hello, before closing) lets it dial the spokes.
    let run = |referral_interval: Duration| {
        let mut sim = Sim::new(seed_from_env(77), NetworkConfig::default());
        let config = quick_discovery();
        let hub = sim.add_node(spec(
            vec![],
            &micelio_core::node::NodeConfig {
                max_peers: 2,
                referral_interval,
                ..config.clone()
            },
        ));
        let spokes: Vec<HostId> = (0..2)
            .map(|_| sim.add_node(spec(vec![hub], &config)))
            .collect();
        sim.run_for(Duration::from_secs(5));
        assert_eq!(sim.hosts[hub].node().unwrap().peer_count(), 2);
        let newcomer = sim.add_node(spec(vec![hub], &config));
        sim.run_for(Duration::from_secs(60));
        let node = sim.hosts[newcomer].node().unwrap();
        let peers = node.peers();
        let linked = spokes
            .iter()
            .filter(|&&s| {
                let id = sim.hosts[s].node().unwrap().node_id();
                peers.iter().any(|p| p.node_id == id)
            })
            .count();
        (
            node.peer_count(),
            linked,
            sim.hosts[hub].node().unwrap().peer_count(),
        )
    };
    let (peers, linked, hub_peers) =
        run(micelio_core::node::NodeConfig::default().referral_interval);
    assert!(peers >= 1 && linked >= 1, "referred: {peers} peers");
    assert_eq!(hub_peers, 2, "the hub stays at max_peers");
    let (peers, _, _) = run(Duration::ZERO);
    assert_eq!(peers, 0, "without referrals the newcomer stays alone");
}

#[test]
fn a_saturated_mesh_keeps_room_for_newcomers() {
    // 30 nodes with 4 slots each mesh by discovery; then six newcomers each bootstrap to a
    // node with no free slot. Without a reserve every node dials into every free slot and the
    // mesh saturates: a newcomer is referred on, but to nodes that are full too.
    let run = |inbound_reserve: usize| {
        let mut sim = Sim::new(seed_from_env(91), NetworkConfig::default());
        let config = NodeConfig {
            max_peers: 4,
            inbound_reserve,
            ..quick_discovery()
        };
        let mut hosts = vec![sim.add_node(spec(vec![], &config))];
        for i in 1..30 {
            hosts.push(sim.add_node(spec(vec![hosts[i / 2]], &config)));
        }
        sim.run_for(Duration::from_secs(60));
        let count = |sim: &Sim, h: HostId| sim.hosts[h].node().unwrap().peer_count();
        let (full, with_room): (Vec<HostId>, Vec<HostId>) =
            hosts.iter().partition(|&&h| count(&sim, h) == 4);
        let with_room = with_room.len();
        assert!(!full.is_empty(), "some node is full");
        let newcomers: Vec<HostId> = (0..6)
            .map(|i| sim.add_node(spec(vec![full[i % full.len()]], &config)))
            .collect();
        sim.run_for(Duration::from_secs(60));
        let alone = newcomers.iter().filter(|&&h| count(&sim, h) == 0).count();
        assert!(
            hosts.iter().all(|&h| count(&sim, h) <= 4),
            "max_peers holds"
        );
        (with_room, alone)
    };
    let (room, alone) = run(NodeConfig::default().inbound_reserve);
    let (room_without, alone_without) = run(0);
    println!(
        "30 nodes of 4 slots: {room} with room and {alone} of 6 newcomers alone with the \
         reserve, {room_without} and {alone_without} without it"
    );
    assert_eq!(
        alone, 0,
        "every newcomer found a peer ({room} nodes with room)"
    );
    assert!(
        room >= 10 && room > room_without,
        "the reserve keeps slots open: {room} nodes with room, {room_without} without it \
         ({alone_without} newcomers alone)"
    );
}
