//! Shutdown while messages are in flight: every acknowledged message reaches the peer, and
//! shutdown returns within 5 s.

mod support;

use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use micelio_smol::{NodeEvent, SmolNode};
use support::{config, wait_for_peers, within};

#[test]
fn shutdown_loses_nothing_acknowledged_and_is_prompt() {
    smol::block_on(async {
        let a_dir = tempfile::tempdir().unwrap();
        let b_dir = tempfile::tempdir().unwrap();
        let (a, _a_events) = SmolNode::start(config(a_dir.path(), &[])).await.unwrap();
        let seed = [a.local_addr().unwrap()];
        let (b, mut b_events) = SmolNode::start(config(b_dir.path(), &seed)).await.unwrap();
        wait_for_peers(a.handle(), 1, Duration::from_secs(10)).await;

        // 20 messages (the receiver's per-sender rate limit allows a burst of 20): 10 chat lines
        // and 10 application messages of 60 KB, so that writes are still queued at shutdown.
        let sent: Vec<String> = (0..10).map(|i| format!("line {i:02}")).collect();
        for text in &sent {
            a.handle().broadcast_chat("a", text).await.unwrap();
        }
        for i in 0..10u8 {
            a.handle().broadcast(6, vec![i; 60_000]).await.unwrap();
        }
        let started = Instant::now();
        a.shutdown().await.unwrap();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(5), "shutdown took {took:?}");

        let mut got = Vec::new();
        let mut payloads = Vec::new();
        let _ = within(Duration::from_secs(10), async {
            while got.len() < 10 || payloads.len() < 10 {
                match b_events.next().await {
                    Some(NodeEvent::Chat { text, .. }) => got.push(text),
                    Some(NodeEvent::Message { payload, .. }) => payloads.push(payload),
                    Some(_) => {}
                    None => return,
                }
            }
        })
        .await;
        got.sort();
        assert_eq!(got, sent);
        payloads.sort();
        let expected: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 60_000]).collect();
        assert_eq!(payloads.len(), 10, "application messages lost");
        assert!(payloads == expected, "application messages differ");
        b.shutdown().await.unwrap();
    });
}

#[test]
fn shutdown_with_an_unresponsive_dial_is_prompt() {
    smol::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        // 192.0.2.0/24 (TEST-NET-1) is not routed: the dial hangs until its timeout.
        let mut cfg = config(dir.path(), &[]);
        cfg.network.bootstrap = vec!["192.0.2.1:9".into()];
        let (node, _events) = SmolNode::start(cfg).await.unwrap();
        smol::Timer::after(Duration::from_millis(200)).await;
        let started = Instant::now();
        node.shutdown().await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
    });
}
