//! The application's side of the event queue: a bounded channel that drops its oldest event
//! when the application does not keep up.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use async_channel::{Receiver, Sender};
use futures_core::Stream;
use micelio_core::node::NodeEvent;

/// Default capacity of the event queue.
pub const DEFAULT_EVENT_CAPACITY: usize = 1024;

/// The node's events, in order: chat lines and other gossip messages from the network, peers
/// going up and down.
///
/// # Back-pressure
///
/// The queue between the node and the application is bounded (see
/// [`crate::Options::event_capacity`]). When it is full, the **oldest** queued event is dropped
/// to make room and [`Events::dropped`] counts it: a slow application loses old events, never
/// the node's ability to serve its peers (the driver keeps reading sockets, relaying gossip and
/// answering keep-alives). The stream ends once the node has shut down and every queued event
/// has been read. Dropping `Events` discards all further events.
///
/// # Example
///
/// ```
/// use futures_lite::StreamExt;
/// # use micelio_platform::config::Config;
/// use micelio_smol::{Options, SmolNode};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # smol::block_on(async {
/// # let dir = tempfile::tempdir()?;
/// # let mut config = Config::default();
/// # config.node.data_dir = dir.path().to_string_lossy().into_owned();
/// let options = Options { event_capacity: 16, ..Options::default() };
/// let (node, mut events) = SmolNode::start_with(config, options).await?;
/// assert!(events.is_empty());
/// assert_eq!(events.dropped(), 0);
///
/// // The stream ends once the node has stopped and every queued event has been read.
/// node.shutdown().await?;
/// assert_eq!(events.next().await, None);
/// # Ok(())
/// # })
/// # }
/// ```
#[derive(Debug)]
pub struct Events {
    rx: Pin<Box<Receiver<NodeEvent>>>,
    dropped: Arc<AtomicU64>,
}

impl Events {
    /// Events dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Events waiting to be read.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// True when no event is waiting.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}

impl Stream for Events {
    type Item = NodeEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<NodeEvent>> {
        self.rx.as_mut().poll_next(cx)
    }
}

/// The driver's side of the event queue.
pub(crate) struct EventSender {
    tx: Sender<NodeEvent>,
    dropped: Arc<AtomicU64>,
}

impl EventSender {
    /// Queues `event`, dropping the oldest one if the queue is full; never waits.
    pub(crate) fn push(&self, event: NodeEvent) {
        match self.tx.force_send(event) {
            Ok(None) => {}
            Ok(Some(_oldest)) => {
                let total = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if total.is_power_of_two() {
                    tracing::warn!(dropped = total, "event queue full: oldest events dropped");
                }
            }
            // The application dropped its `Events`: nobody listens.
            Err(_) => {}
        }
    }
}

/// A bounded event queue of `capacity` (at least 1).
pub(crate) fn channel(capacity: usize) -> (EventSender, Events) {
    let (tx, rx) = async_channel::bounded(capacity.max(1));
    let dropped = Arc::new(AtomicU64::new(0));
    (
        EventSender {
            tx,
            dropped: dropped.clone(),
        },
        Events {
            rx: Box::pin(rx),
            dropped,
        },
    )
}
