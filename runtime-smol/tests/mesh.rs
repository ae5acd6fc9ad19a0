//! Three smol nodes in one process: bootstrap, discovery into a full mesh, chat and application
//! messages delivered exactly once.

mod support;

use std::time::Duration;

use futures_lite::StreamExt;
use micelio_smol::{CommandError, NodeEvent, SmolNode};
use support::{chats, chats_for, config, wait_for_peers};

#[test]
fn three_nodes_form_a_mesh_and_chat_exactly_once() {
    smol::block_on(async {
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let (a, mut a_events) = SmolNode::start(config(dirs[0].path(), &[])).await.unwrap();
        let seed = [a.local_addr().unwrap()];
        let (b, mut b_events) = SmolNode::start(config(dirs[1].path(), &seed))
            .await
            .unwrap();
        let (c, mut c_events) = SmolNode::start(config(dirs[2].path(), &seed))
            .await
            .unwrap();

        // B and C only know A: they must find each other through exchange and discovery.
        for node in [&a, &b, &c] {
            wait_for_peers(node.handle(), 2, Duration::from_secs(20)).await;
        }
        let ids: Vec<_> = b.handle().peers().await.iter().map(|p| p.node_id).collect();
        assert!(ids.contains(&a.node_id()) && ids.contains(&c.node_id()));

        a.handle().broadcast_chat("a", "from a").await.unwrap();
        b.handle().broadcast_chat("b", "from b").await.unwrap();
        c.handle().broadcast_chat("c", "from c").await.unwrap();
        let limit = Duration::from_secs(10);
        let mut got_a = chats(&mut a_events, 2, limit).await;
        let mut got_b = chats(&mut b_events, 2, limit).await;
        let mut got_c = chats(&mut c_events, 2, limit).await;
        // Exactly once: nothing more arrives (relays are deduplicated).
        let quiet = Duration::from_millis(500);
        got_a.extend(chats_for(&mut a_events, quiet).await);
        got_b.extend(chats_for(&mut b_events, quiet).await);
        got_c.extend(chats_for(&mut c_events, quiet).await);
        got_a.sort();
        got_b.sort();
        got_c.sort();
        assert_eq!(got_a, ["from b", "from c"]);
        assert_eq!(got_b, ["from a", "from c"]);
        assert_eq!(got_c, ["from a", "from b"]);

        // Application messages (msg_type >= 6) arrive as `Message`.
        a.handle().broadcast(6, b"app".to_vec()).await.unwrap();
        let message = support::within(limit, async {
            while let Some(event) = c_events.next().await {
                if let NodeEvent::Message {
                    sender,
                    msg_type,
                    payload,
                    ..
                } = event
                {
                    return Some((sender, msg_type, payload));
                }
            }
            None
        })
        .await
        .flatten();
        assert_eq!(message, Some((a.node_id(), 6, b"app".to_vec())));

        // Refused locally.
        assert_eq!(
            a.handle().broadcast(1, Vec::new()).await,
            Err(CommandError::NotGossipType(1))
        );
        assert!(matches!(
            a.handle().broadcast(6, vec![0; 70_000]).await,
            Err(CommandError::PayloadTooLarge(_))
        ));

        for node in [a, b, c] {
            node.shutdown().await.unwrap();
        }
    });
}

#[test]
fn commands_after_shutdown_are_refused() {
    smol::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (node, mut events) = SmolNode::start(config(dir.path(), &[])).await.unwrap();
        let handle = node.handle().clone();
        node.shutdown().await.unwrap();
        assert!(handle.is_stopped());
        assert_eq!(
            handle.broadcast_chat("x", "late").await,
            Err(CommandError::ShutDown)
        );
        assert!(handle.peers().await.is_empty());
        // The event stream ends.
        assert_eq!(events.next().await, None);
        // A second shutdown returns at once.
        handle.shutdown().await.unwrap();
    });
}

#[test]
fn commands_racing_a_shutdown_are_all_answered() {
    smol::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (node, _events) = SmolNode::start(config(dir.path(), &[])).await.unwrap();
        let racing: Vec<_> = (0..50)
            .map(|i| {
                let handle = node.handle().clone();
                smol::spawn(async move { handle.broadcast_chat("x", &format!("{i}")).await })
            })
            .collect();
        let handle = node.handle().clone();
        node.shutdown().await.unwrap();
        for task in racing {
            let answer = support::within(Duration::from_secs(5), task).await;
            assert!(answer.is_some(), "a command was never answered");
        }
        // Alive handles do not keep late callers waiting either.
        let late = support::within(Duration::from_secs(5), handle.peers()).await;
        assert_eq!(late, Some(Vec::new()));
    });
}
