//! The shared map through the smol API: writes, reads, keys, deletes, a watch of a prefix,
//! and the map reloaded from the store after a restart.

mod support;

use std::time::Duration;

use futures_lite::StreamExt;
use micelio_smol::{CommandError, SmolNode, StateChange};
use support::{config, wait_for_peers, within};

#[test]
fn writes_reach_the_other_node_and_its_watch_of_the_prefix() {
    smol::block_on(async {
        let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
        let (a, _a_events) = SmolNode::start(config(dirs[0].path(), &[])).await.unwrap();
        let seed = [a.local_addr().unwrap()];
        let (b, _b_events) = SmolNode::start(config(dirs[1].path(), &seed))
            .await
            .unwrap();
        wait_for_peers(a.handle(), 1, Duration::from_secs(20)).await;
        let mut watch = b.handle().watch("cfg/").await.expect("b runs");

        let limit = Duration::from_secs(10);
        a.handle().state_set("other", b"x".to_vec()).await.unwrap();
        a.handle()
            .state_set("cfg/mode", b"fast".to_vec())
            .await
            .unwrap();
        let change: StateChange = within(limit, watch.next())
            .await
            .flatten()
            .expect("a change");
        // Only the prefix: "other" (written first) is not in the watch.
        assert_eq!(change.key, "cfg/mode");
        assert_eq!(change.value.as_deref(), Some(&b"fast"[..]));
        assert_eq!(change.writer, a.node_id());
        assert_eq!(
            b.handle().state_get("cfg/mode").await.as_deref(),
            Some(&b"fast"[..])
        );
        assert_eq!(b.handle().state_keys("").await, ["cfg/mode", "other"]);

        // A delete is a change to nothing; the node's own writes are in its watch too.
        b.handle().state_delete("cfg/mode").await.unwrap();
        let change = within(limit, watch.next())
            .await
            .flatten()
            .expect("the delete");
        assert_eq!((change.key.as_str(), change.value), ("cfg/mode", None));
        assert_eq!(change.writer, b.node_id());
        let gone = async {
            while a.handle().state_get("cfg/mode").await.is_some() {
                smol::Timer::after(Duration::from_millis(20)).await;
            }
        };
        within(limit, gone).await;

        // The map's rules, as typed errors.
        let foreign = format!("node/{}/name", a.node_id());
        assert!(matches!(
            b.handle().state_set(&foreign, b"m".to_vec()).await,
            Err(CommandError::State(_))
        ));
        assert!(matches!(
            b.handle().state_set("", b"m".to_vec()).await,
            Err(CommandError::State(_))
        ));

        let b_handle = b.handle().clone();
        a.shutdown().await.unwrap();
        b.shutdown().await.unwrap();
        assert_eq!(watch.next().await, None, "the watch ends with the node");
        assert_eq!(
            b_handle.state_set("late", Vec::new()).await,
            Err(CommandError::ShutDown)
        );

        // Restarted on the same data directory, alone: the map comes back from the store.
        let (again, _events) = SmolNode::start(config(dirs[0].path(), &[])).await.unwrap();
        assert_eq!(again.handle().state_keys("").await, ["other"]);
        again.shutdown().await.unwrap();
    });
}
