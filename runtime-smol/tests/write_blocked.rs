//! A peer that stops reading: broadcasts wait instead of dropping frames, the core closes the
//! blocked connection after its write timeout, and the node carries on.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_lite::StreamExt;
use micelio_core::connection::CloseReason;
use micelio_smol::{NodeEvent, SmolNode};
use micelio_testkit::peer::WirePeer;
use support::{config, wait_for_peers, within};

/// Application messages the test tries to broadcast, 60 KB each: far more than the writer
/// queue (128 frames), the core's queue and the kernel's socket buffers hold together.
const MESSAGES: usize = 400;

#[test]
fn a_peer_that_stops_reading_blocks_broadcasts_until_the_write_timeout_closes_it() {
    smol::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (node, mut events) = SmolNode::start(config(dir.path(), &[])).await.unwrap();
        let addr = node.local_addr().unwrap().to_string();

        // A peer completes the handshake and hello, then never reads again.
        let stalled = smol::unblock(move || WirePeer::connect(&addr, Duration::from_secs(10)))
            .await
            .expect("wire peer connects");
        let stalled_id = stalled.identity.node_id();
        wait_for_peers(node.handle(), 1, Duration::from_secs(10)).await;

        let acknowledged = Arc::new(AtomicUsize::new(0));
        let sender = {
            let handle = node.handle().clone();
            let acknowledged = Arc::clone(&acknowledged);
            smol::spawn(async move {
                for i in 0..MESSAGES {
                    let payload = vec![u8::try_from(i % 251).unwrap(); 60_000];
                    handle
                        .broadcast(6, payload)
                        .await
                        .expect("broadcast accepted");
                    acknowledged.fetch_add(1, Ordering::SeqCst);
                }
            })
        };

        // The core closes the blocked connection with its write timeout (10 s).
        let reason = within(Duration::from_secs(40), async {
            while let Some(event) = events.next().await {
                if let NodeEvent::PeerDown { node_id, reason } = event {
                    assert_eq!(node_id, stalled_id);
                    return Some(reason);
                }
            }
            None
        })
        .await
        .flatten();
        let acked_while_blocked = acknowledged.load(Ordering::SeqCst);
        assert_eq!(reason, Some(CloseReason::WriteTimeout));
        // Until then the callers waited: only what the queues and socket buffers hold was
        // acknowledged, not every message.
        assert!(
            acked_while_blocked < MESSAGES,
            "{acked_while_blocked} of {MESSAGES} acknowledged while the peer was not reading"
        );

        // With the blocked peer gone, the remaining broadcasts go through.
        within(Duration::from_secs(20), sender)
            .await
            .expect("broadcasts resume after the close");
        assert_eq!(acknowledged.load(Ordering::SeqCst), MESSAGES);
        assert!(node.handle().peers().await.is_empty());
        drop(stalled);
        node.shutdown().await.unwrap();
    });
}
