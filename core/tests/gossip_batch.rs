//! Gossip that arrives in one read is checked with one batch verification, with exactly the
//! outputs of the same records arriving one read at a time: same events, same relayed bytes
//! to the same peers, same counters, a bad signature in the middle included.

#[path = "../benches/support/mod.rs"]
mod support;

use micelio_core::envelope;
use micelio_core::identity::Identity;
use micelio_core::node::{ConnId, GossipStats, Input, NodeEvent, Output};
use micelio_core::proto::ChatMessage;
use micelio_core::time::Instant;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// What the node produced: events and transmits (connection, bytes), in order.
#[derive(Debug, PartialEq)]
enum Seen {
    Event(String),
    Transmit(ConnId, Vec<u8>),
}

/// Feeds 48 chat records from peer 0 to a node with 3 peers, `per_read` records per input.
fn run(per_read: usize) -> (Vec<Seen>, GossipStats) {
    let now = Instant::ZERO;
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let (mut node, mut peers) = support::node_with_peers(3, now, &mut rng);
    let senders: Vec<Identity> = (1..=4u8).map(|i| Identity::from_seed(&[i; 32])).collect();
    let mut ids = ChaCha20Rng::seed_from_u64(4);
    let mut envelopes = Vec::new();
    for i in 0..48 {
        let line = ChatMessage {
            nick: "n".into(),
            text: format!("line {i}"),
            timestamp: 0,
        };
        let mut e = envelope::chat(&senders[i % 4], envelope::new_message_id(&mut ids), &line);
        if i == 17 {
            e.signature[3] ^= 1;
        }
        envelopes.push(e);
    }
    // A copy of an earlier message, and another sender's message again later.
    envelopes.insert(30, envelopes[29].clone());
    let records: Vec<Vec<u8>> = envelopes
        .iter()
        .map(|e| {
            peers[0].send_envelope(now, e).unwrap();
            peers[0].poll_transmit().unwrap()
        })
        .collect();
    let mut seen = Vec::new();
    for group in records.chunks(per_read) {
        let data = group.concat();
        node.handle_input(
            now,
            Input::Received {
                conn: ConnId(0),
                data: &data,
            },
        );
        loop {
            match node.poll_output() {
                Output::Event(NodeEvent::Chat { text, .. }) => seen.push(Seen::Event(text)),
                Output::Transmit { conn, data } => seen.push(Seen::Transmit(conn, data)),
                Output::Timeout(_) => break,
                _ => {}
            }
        }
    }
    (seen, node.gossip_stats())
}

#[test]
fn one_read_of_many_messages_equals_one_read_each() {
    let (single, single_stats) = run(1);
    assert_eq!(single_stats.received, 47, "{single_stats:?}");
    assert_eq!(single_stats.invalid_signatures, 1);
    assert_eq!(single_stats.duplicates, 1);
    for per_read in [2, 5, 49] {
        let (batched, stats) = run(per_read);
        assert_eq!(stats, single_stats, "{per_read} per read");
        assert_eq!(batched, single, "{per_read} per read");
    }
}
