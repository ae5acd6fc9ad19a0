//! What the application may broadcast: every gossip type, never a point-to-point type nor the
//! dissemination extension's control type.

use micelio_core::envelope::msg_type;
use micelio_core::identity::Identity;
use micelio_core::node::{CommandError, Node, NodeConfig};
use micelio_core::time::Instant;

#[test]
fn broadcast_refuses_point_to_point_and_extension_types() {
    let now = Instant::from_secs(1);
    let mut node = Node::new(
        NodeConfig::default(),
        Identity::from_seed(&[3; 32]),
        [5; 32],
        now,
        1_700_000_000,
    );
    for t in [
        msg_type::PEER_HELLO,
        msg_type::PEER_HELLO_ACK,
        msg_type::PEER_EXCHANGE,
        msg_type::KEEPALIVE,
        msg_type::TREE_CONTROL,
    ] {
        assert_eq!(
            node.broadcast(now, t, vec![1]),
            Err(CommandError::NotGossipType(t))
        );
    }
    for t in [0, msg_type::CHAT, 6, 99, 1000, u32::MAX] {
        assert!(node.broadcast(now, t, vec![1]).is_ok(), "type {t}");
    }
}
