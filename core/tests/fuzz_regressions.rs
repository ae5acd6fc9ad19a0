//! Inputs the fuzz targets (`fuzz/`) found to break the core, each replayed through the
//! public API with the crashing bytes inline, so that they stay fixed; and, with the same
//! harness (a node and one raw peer connection), what a hello carries.

use micelio_core::connection::{Connection, ConnectionConfig, LocalHello, Role};
use micelio_core::envelope::{self, msg_type};
use micelio_core::identity::Identity;
use micelio_core::node::{ConnId, Input, Node, NodeConfig, Output};
use micelio_core::proto::{PeerExchange, PeerInfo};
use micelio_core::time::Instant;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const T0: Instant = Instant::ZERO;
const CONN: ConnId = ConnId(1);

/// Hands every transmit for the peer to it; returns when the node is quiet.
fn carry(node: &mut Node, peer: &mut Connection) {
    carry_on(node, CONN, peer);
}

/// Carries bytes both ways between the node's connection `conn` and the peer's side of it
/// (what the node sends on other connections is dropped); returns when both are quiet.
fn carry_on(node: &mut Node, conn: ConnId, peer: &mut Connection) {
    for _ in 0..10 {
        while let Some(bytes) = peer.poll_transmit() {
            node.handle_input(T0, Input::Received { conn, data: &bytes });
        }
        let mut quiet = true;
        loop {
            match node.poll_output() {
                Output::Transmit { conn: to, data } if to == conn => {
                    peer.handle_input(T0, &data);
                    quiet = false;
                }
                Output::Timeout(_) => break,
                _ => {}
            }
        }
        if quiet && peer.queued_transmits() == 0 {
            return;
        }
    }
}

/// A listening node at 10.0.0.1:4000 with default settings.
fn listening_node() -> Node {
    let config = NodeConfig {
        listening: true,
        advertised_addr: "10.0.0.1:4000".into(),
        ..NodeConfig::default()
    };
    Node::new(
        config,
        Identity::from_seed(&[0xA0; 32]),
        [7; 32],
        T0,
        1_700_000_000,
    )
}

/// A listening node with one admitted peer, whose side is a raw connection.
fn node_with_peer(peer_identity: &Identity) -> (Node, Connection) {
    let mut node = listening_node();
    let remote_addr = "10.0.0.2:50000";
    node.handle_input(
        T0,
        Input::Accepted {
            conn: CONN,
            remote_addr,
        },
    );
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let hello = LocalHello::default();
    let config = ConnectionConfig::default();
    let mut peer = Connection::new(Role::Initiator, config, peer_identity, hello, T0, &mut rng);
    carry(&mut node, &mut peer);
    assert!(peer.is_established());
    assert_eq!(node.peer_count(), 1);
    (node, peer)
}

/// The peer sends a PeerExchange envelope it signed itself, with `payload` as is.
fn send_exchange(node: &mut Node, peer: &mut Connection, identity: &Identity, payload: Vec<u8>) {
    let id = format!("exchange-{}", payload.len());
    let exchange = envelope::originate(identity, id, msg_type::PEER_EXCHANGE, 1, payload, false);
    peer.send_envelope(T0, &exchange).expect("the peer sends");
    carry(node, peer);
}

/// `envelope_verify` (crash-26fb8dd8): a PeerExchange whose `PeerInfo` ends inside a varint.
/// quick-protobuf read the varint past the entry's length, then `read_unknown` computed
/// `end - start` with `start > end`: an overflow panic in debug builds, and in release builds
/// the 14-byte payload below wraps the reader back onto the same tag, so decoding never ends.
/// Any admitted peer could send it, signed with its own key. The node now decodes each entry
/// from its own bytes: the payload is refused, the peer stays connected, later exchanges work.
#[test]
fn peer_exchange_entry_ending_inside_a_varint_is_refused() {
    // Field 1, one byte long: a tag byte whose continuation bit reaches past the entry, then a
    // ten-byte length of 2^64 - 12, which (wrapped) jumps back to that tag.
    let endless = vec![
        0x0a, 0x01, 0xfa, 0x01, 0xf4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ];
    // The payload the fuzzer found (the reference PeerExchange vector, mutated).
    let found = hex::decode(concat!(
        "0a7c0a4036356236303637336436656438383462663031633263323232643832616461303734306632",
        "396163333335356436613932356338316631376634376132376238120e3132372e302e302e313a3430",
        "30301801222079b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664283ae2",
        "cfaa060a7c0a4063393435636266326135363032303032313431653266623964313730353464366361",
        "303639393531646637336634396431663861636138376639383738663630120e3132372e302e302e31",
        "3a3430303118012220e7f162a10bec559afea195e4dce84b69568d5d2cb0963eb446c0685e2b17f2f0",
        "2881e2cfaa06",
    ))
    .unwrap();

    let alice = Identity::from_seed(&[2; 32]);
    let (mut node, mut peer) = node_with_peer(&alice);
    let known_before = node.known_peers().count();
    send_exchange(&mut node, &mut peer, &alice, endless);
    send_exchange(&mut node, &mut peer, &alice, found);
    assert_eq!(node.peer_count(), 1, "the sender stays connected");
    assert_eq!(
        node.known_peers().count(),
        known_before,
        "nothing was learned from them"
    );

    let carol = Identity::from_seed(&[3; 32]);
    let valid = PeerExchange {
        peers: vec![PeerInfo {
            node_id: carol.node_id().as_str().into(),
            addr: "10.0.0.3:4000".into(),
            reachable: true,
            ed25519_pubkey: carol.public_key().to_vec(),
            last_seen: 1_700_000_000,
        }],
    };
    send_exchange(
        &mut node,
        &mut peer,
        &alice,
        micelio_core::proto::encode(&valid),
    );
    assert!(
        node.known_peers().any(|r| r.node_id == carol.node_id()),
        "a valid exchange after them is still merged"
    );
}

/// `node_inputs` (crash-b0280282): a peer connected with a hello announcing `tree1`, then the
/// same node id won the cross-dial tie-break on a second connection whose hello did not
/// announce it. The replaced connection's close no longer ended the extension link (the peer
/// was still admitted, on the new connection), so the node went on sending extension control
/// messages to a peer that never asked for them. The new hello now decides.
#[test]
fn a_connection_replacing_a_tree_link_without_tree1_ends_the_link() {
    let mut node = listening_node();
    // The tie-break keeps the connection initiated by the smaller node id: the node's dial
    // replaces the peer's inbound connection when the node's id is the smaller one.
    let peer_identity = (1..=255u8)
        .map(|seed| Identity::from_seed(&[seed; 32]))
        .find(|identity| node.node_id() < identity.node_id())
        .expect("some seed gives a larger node id");
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let hello = |capabilities: &str| LocalHello {
        listen_addr: "10.0.0.2:4000".into(),
        capabilities: capabilities.into(),
        ..LocalHello::default()
    };

    node.handle_input(
        T0,
        Input::Accepted {
            conn: CONN,
            remote_addr: "10.0.0.2:50000",
        },
    );
    let config = ConnectionConfig::default();
    let mut inbound = Connection::new(
        Role::Initiator,
        config.clone(),
        &peer_identity,
        hello("tree1"),
        T0,
        &mut rng,
    );
    carry_on(&mut node, CONN, &mut inbound);
    assert_eq!(node.peer_count(), 1);
    assert_eq!(node.tree_links(), (1, 1), "the first hello announced tree1");

    node.dial(T0, "10.0.0.2:4000")
        .expect("the dial is accepted");
    let dial = loop {
        match node.poll_output() {
            Output::Dial { dial, .. } => break dial,
            Output::Timeout(_) => panic!("the node did not dial"),
            _ => {}
        }
    };
    let second = ConnId(2);
    node.handle_input(T0, Input::Connected { dial, conn: second });
    let mut outbound = Connection::new(
        Role::Responder,
        config,
        &peer_identity,
        hello(""),
        T0,
        &mut rng,
    );
    carry_on(&mut node, second, &mut outbound);
    assert!(outbound.is_established());
    assert_eq!(node.peer_count(), 1, "one connection kept");
    assert_eq!(
        node.peers()[0].conn,
        second,
        "the node's own dial won the tie-break"
    );
    assert_eq!(
        node.tree_links(),
        (0, 0),
        "the new hello did not announce tree1"
    );
}

/// Not a fuzz find, but the same harness: the Lamport time of a peer's hello moves the
/// node's clock past it (rule IR2), and the node's own hello carried its clock.
#[test]
fn a_hello_carries_the_clock_both_ways() {
    let mut node = listening_node();
    node.handle_input(
        T0,
        Input::Accepted {
            conn: CONN,
            remote_addr: "10.0.0.2:50000",
        },
    );
    let local = LocalHello {
        lamport: 1_000,
        ..LocalHello::default()
    };
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let peer_identity = Identity::from_seed(&[4; 32]);
    let config = ConnectionConfig::default();
    let mut peer = Connection::new(Role::Initiator, config, &peer_identity, local, T0, &mut rng);
    carry(&mut node, &mut peer);
    let theirs = peer.peer().expect("established").lamport;
    assert!(theirs > 0, "the node's hello ack carries its clock");
    assert!(node.lamport_time() > 1_000, "{}", node.lamport_time());
}
