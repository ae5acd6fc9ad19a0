//! A node whose runtime reports a blocked socket keeps that peer's frames in the connection's
//! bounded queue (64 frames), drops the rest for that peer, and releases the queue when the
//! socket drains.

use micelio_core::connection::{Connection, ConnectionConfig, LocalHello, Role};
use micelio_core::identity::Identity;
use micelio_core::node::{ConnId, Input, Node, NodeConfig, Output};
use micelio_core::time::Instant;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// Drains the node's outputs; returns the transmits for `conn` and the next timeout.
fn drain(node: &mut Node, conn: ConnId) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        match node.poll_output() {
            Output::Transmit { conn: c, data } if c == conn => out.push(data),
            Output::Timeout(_) => return out,
            _ => {}
        }
    }
}

#[test]
fn blocked_socket_holds_at_most_the_queue_bound_and_releases_it_on_drain() {
    let t0 = Instant::from_secs(10);
    let config = NodeConfig {
        listening: true,
        advertised_addr: "127.0.0.1:4000".into(),
        ..NodeConfig::default()
    };
    let mut node = Node::new(
        config,
        Identity::from_seed(&[1; 32]),
        [7; 32],
        t0,
        1_700_000_000,
    );
    let conn = ConnId(1);
    node.handle_input(
        t0,
        Input::Accepted {
            conn,
            remote_addr: "127.0.0.1:5000",
        },
    );

    // A raw peer completes the handshake and hello with the node.
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let hello = LocalHello::default();
    let mut peer = Connection::new(
        Role::Initiator,
        ConnectionConfig::default(),
        &Identity::from_seed(&[2; 32]),
        hello,
        t0,
        &mut rng,
    );
    for _ in 0..10 {
        while let Some(bytes) = peer.poll_transmit() {
            node.handle_input(t0, Input::Received { conn, data: &bytes });
        }
        for bytes in drain(&mut node, conn) {
            peer.handle_input(t0, &bytes);
        }
    }
    assert!(peer.is_established());
    assert_eq!(node.peer_count(), 1);

    node.handle_input(
        t0,
        Input::WriteBlocked {
            conn,
            since: Some(t0),
        },
    );
    for i in 0..100 {
        node.broadcast_chat(t0, "n", &format!("line {i}")).unwrap();
    }
    assert!(
        drain(&mut node, conn).is_empty(),
        "nothing is handed to a blocked socket"
    );
    let stats = node.gossip_stats();
    assert_eq!((stats.broadcast, stats.dropped), (64, 36));

    node.handle_input(t0, Input::WriteBlocked { conn, since: None });
    let released = drain(&mut node, conn);
    assert_eq!(
        released.len(),
        64,
        "the queued frames follow once the socket drains"
    );
    let mut delivered = 0;
    for bytes in &released {
        peer.handle_input(t0, bytes);
    }
    while let Some(event) = peer.poll_event() {
        if matches!(&event, micelio_core::connection::Event::Envelope(e) if e.msg_type == 3) {
            delivered += 1;
        }
    }
    assert_eq!(delivered, 64);
}
