//! The bounded event queue: an application that does not read loses the oldest events, counted,
//! while the node keeps serving its peers.

mod support;

use std::time::Duration;

use futures_lite::StreamExt;
use micelio_smol::{NodeEvent, Options, SmolNode};
use support::{config, wait_for_peers, within};

#[test]
fn full_event_queue_drops_oldest_and_counts() {
    smol::block_on(async {
        let a_dir = tempfile::tempdir().unwrap();
        let b_dir = tempfile::tempdir().unwrap();
        let (a, _a_events) = SmolNode::start(config(a_dir.path(), &[])).await.unwrap();
        let seed = [a.local_addr().unwrap()];
        let options = Options {
            event_capacity: 4,
            ..Options::default()
        };
        let (b, mut b_events) = SmolNode::start_with(config(b_dir.path(), &seed), options)
            .await
            .unwrap();
        wait_for_peers(a.handle(), 1, Duration::from_secs(10)).await;

        // B's application reads nothing while 20 lines arrive: 1 PeerUp + 20 chats = 21 events.
        for i in 0..20 {
            a.handle()
                .broadcast_chat("a", &format!("{i:02}"))
                .await
                .unwrap();
        }
        let all_counted = within(Duration::from_secs(10), async {
            while b_events.dropped() < 17 {
                smol::Timer::after(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(all_counted.is_some(), "dropped {}", b_events.dropped());
        assert_eq!(b_events.dropped(), 17);
        assert_eq!(b_events.len(), 4);

        // The newest four remain, in order.
        let mut kept = Vec::new();
        for _ in 0..4 {
            match b_events.next().await {
                Some(NodeEvent::Chat { text, .. }) => kept.push(text),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(kept, ["16", "17", "18", "19"]);

        // The node kept serving its peer all along: B still answers and is still connected.
        assert_eq!(b.handle().peers().await.len(), 1);
        b.handle().broadcast_chat("b", "still here").await.unwrap();
        b.shutdown().await.unwrap();
        a.shutdown().await.unwrap();
    });
}
