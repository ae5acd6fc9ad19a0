//! Streams of the shared map's changes under a key prefix ([`crate::NodeHandle::watch`]).

use std::pin::Pin;
use std::task::{Context, Poll};

use async_channel::{Receiver, Sender};
use futures_core::Stream;
use micelio_core::identity::NodeId;
use micelio_core::node::NodeEvent;

/// Changes a watch holds for its reader before the oldest is dropped.
pub const WATCH_CAPACITY: usize = 256;

/// One change of a key of the shared map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateChange {
    /// The key.
    pub key: String,
    /// Its value now (`None`: deleted).
    pub value: Option<Vec<u8>>,
    /// Who wrote it.
    pub writer: NodeId,
    /// The write's Lamport time.
    pub lamport: u64,
}

/// The changes of the keys under one prefix, in the order the node applied them (this
/// node's own writes included). Bounded by [`WATCH_CAPACITY`]: a reader that falls behind
/// loses the oldest changes (the map itself, [`crate::NodeHandle::state_get`], is always
/// current). Ends when the node stops.
#[derive(Debug)]
pub struct StateWatch {
    rx: Pin<Box<Receiver<StateChange>>>,
}

impl Stream for StateWatch {
    type Item = StateChange;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<StateChange>> {
        self.rx.as_mut().poll_next(cx)
    }
}

/// The driver's side: every open watch and its prefix.
#[derive(Debug, Default)]
pub(crate) struct Watchers {
    watches: Vec<(String, Sender<StateChange>)>,
}

impl Watchers {
    /// A new watch of `prefix`.
    pub(crate) fn add(&mut self, prefix: String) -> StateWatch {
        let (tx, rx) = async_channel::bounded(WATCH_CAPACITY);
        self.watches.push((prefix, tx));
        StateWatch { rx: Box::pin(rx) }
    }

    /// Hands a change to every watch of a matching prefix; forgets the dropped ones.
    pub(crate) fn notify(&mut self, event: &NodeEvent) {
        let NodeEvent::StateChanged {
            key,
            value,
            writer,
            lamport,
        } = event
        else {
            return;
        };
        self.watches.retain(|(prefix, tx)| {
            if key.starts_with(prefix.as_str()) {
                let change = StateChange {
                    key: key.clone(),
                    value: value.clone(),
                    writer: *writer,
                    lamport: *lamport,
                };
                // Full: the oldest change goes; closed: the reader is gone.
                tx.force_send(change).is_ok()
            } else {
                !tx.is_closed()
            }
        });
    }
}
