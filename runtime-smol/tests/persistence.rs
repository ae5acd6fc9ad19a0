//! The peer table is written at shutdown and reloaded at start: a restarted node with no
//! bootstrap list finds its old peer again.

mod support;

use std::time::Duration;

use micelio_platform::store::Store;
use micelio_smol::SmolNode;
use support::{config, wait_for_peers};

#[test]
fn peer_table_survives_a_restart() {
    smol::block_on(async {
        let a_dir = tempfile::tempdir().unwrap();
        let b_dir = tempfile::tempdir().unwrap();
        let (a, _a_events) = SmolNode::start(config(a_dir.path(), &[])).await.unwrap();
        let a_addr = a.local_addr().unwrap();
        let (b, _b_events) = SmolNode::start(config(b_dir.path(), &[a_addr]))
            .await
            .unwrap();
        wait_for_peers(b.handle(), 1, Duration::from_secs(10)).await;
        let b_id = b.node_id();
        b.shutdown().await.unwrap();

        // Shutdown flushed the table and unlocked the data directory.
        let store = Store::open(&b_dir.path().join("data.db")).unwrap();
        let loaded = store.load_peers().unwrap();
        store.close().unwrap();
        let record = loaded
            .records
            .iter()
            .find(|r| r.node_id == a.node_id())
            .expect("A is in B's stored table");
        assert_eq!(record.addr, a_addr.to_string());

        // Same data dir, same identity, no bootstrap: discovery dials A from the stored table.
        let (b, _b_events) = SmolNode::start(config(b_dir.path(), &[])).await.unwrap();
        assert_eq!(b.node_id(), b_id);
        wait_for_peers(b.handle(), 1, Duration::from_secs(15)).await;
        assert_eq!(b.handle().peers().await[0].node_id, a.node_id());
        b.shutdown().await.unwrap();
        a.shutdown().await.unwrap();
    });
}

#[test]
fn a_second_node_on_a_locked_data_dir_fails_to_start() {
    smol::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (node, _events) = SmolNode::start(config(dir.path(), &[])).await.unwrap();
        let second = SmolNode::start(config(dir.path(), &[])).await;
        assert!(second.is_err(), "the store lock must refuse a second node");
        node.shutdown().await.unwrap();
        // Released at shutdown.
        let (node, _events) = SmolNode::start(config(dir.path(), &[])).await.unwrap();
        node.shutdown().await.unwrap();
    });
}
