//! Helpers shared by the integration tests: configurations on 127.0.0.1 with short intervals,
//! and waiting with a deadline.

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use futures_lite::{StreamExt, future};
use micelio_platform::config::{Config, GoDuration};
use micelio_smol::{Events, NodeEvent, NodeHandle};
use smol::Timer;

/// A node listening on an OS-chosen port of 127.0.0.1, with 1 s exchange and discovery.
pub fn config(data_dir: &Path, bootstrap: &[SocketAddr]) -> Config {
    let mut config = Config::default();
    config.node.name = "test".into();
    config.node.data_dir = data_dir.to_string_lossy().into_owned();
    config.network.listen = "127.0.0.1:0".into();
    config.network.bootstrap = bootstrap.iter().map(|a| a.to_string()).collect();
    config.network.exchange_interval = GoDuration::from_secs(1);
    config.network.discovery_interval = GoDuration::from_secs(1);
    config
}

/// `fut`'s output, or `None` after `limit`.
pub async fn within<T>(limit: Duration, fut: impl Future<Output = T>) -> Option<T> {
    future::or(async { Some(fut.await) }, async {
        Timer::after(limit).await;
        None
    })
    .await
}

/// Polls `handle.peers()` until it lists `count` peers; panics after `limit`.
pub async fn wait_for_peers(handle: &NodeHandle, count: usize, limit: Duration) {
    let found = within(limit, async {
        loop {
            if handle.peers().await.len() >= count {
                return;
            }
            Timer::after(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(found.is_some(), "fewer than {count} peers after {limit:?}");
}

/// The chat texts among `events` read for `period` (or until the stream ends).
pub async fn chats_for(events: &mut Events, period: Duration) -> Vec<String> {
    let mut texts = Vec::new();
    let _ = within(period, async {
        while let Some(event) = events.next().await {
            if let NodeEvent::Chat { text, .. } = event {
                texts.push(text);
            }
        }
    })
    .await;
    texts
}

/// Reads events until `count` chat lines arrived; panics after `limit`.
pub async fn chats(events: &mut Events, count: usize, limit: Duration) -> Vec<String> {
    let mut texts = Vec::new();
    let done = within(limit, async {
        while texts.len() < count {
            match events.next().await {
                Some(NodeEvent::Chat { text, .. }) => texts.push(text),
                Some(_) => {}
                None => return,
            }
        }
    })
    .await;
    assert!(
        done.is_some(),
        "only {} of {count} chats: {texts:?}",
        texts.len()
    );
    texts
}
