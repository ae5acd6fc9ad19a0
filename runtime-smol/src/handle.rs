//! The application's handle on a running node: commands sent to the driver over a bounded
//! channel, each answered on its own one-shot channel.

use std::time::Duration;

use async_channel::{Receiver, Sender};
use futures_lite::future;
use micelio_core::node::{CommandError, PeerSummary};
use smol::Timer;

use crate::error::ShutdownTimedOut;
use crate::watch::StateWatch;

/// Default capacity of the command queue.
pub const DEFAULT_COMMAND_CAPACITY: usize = 64;

/// How long [`NodeHandle::shutdown`] waits for the driver.
pub const SHUTDOWN_LIMIT: Duration = Duration::from_secs(5);

/// What the application asks of the driver.
pub(crate) enum Command {
    /// Originate a chat line.
    Chat {
        nick: String,
        text: String,
        reply: Sender<Result<String, CommandError>>,
    },
    /// Originate a gossip message of any gossip type.
    Broadcast {
        msg_type: u32,
        payload: Vec<u8>,
        reply: Sender<Result<String, CommandError>>,
    },
    /// List the admitted peers.
    Peers { reply: Sender<Vec<PeerSummary>> },
    /// Write (`Some`) or delete (`None`) a key of the shared map.
    StateWrite {
        key: String,
        value: Option<Vec<u8>>,
        reply: Sender<Result<String, CommandError>>,
    },
    /// Read a key of the shared map.
    StateGet {
        key: String,
        reply: Sender<Option<Vec<u8>>>,
    },
    /// List the live keys under a prefix.
    StateKeys {
        prefix: String,
        reply: Sender<Vec<String>>,
    },
    /// Open a stream of the changes under a prefix.
    Watch {
        prefix: String,
        reply: Sender<StateWatch>,
    },
}

/// A cloneable handle on a running node.
///
/// Commands travel over a bounded queue ([`crate::Options::command_capacity`]): when it is full
/// (or while the driver holds commands back because a peer's socket is not draining, see
/// [`crate`] "Back-pressure"), the `async` methods wait. Once the node has stopped they answer
/// at once ([`CommandError::ShutDown`], an empty peer list).
///
/// # Example
///
/// ```
/// # use micelio_platform::config::Config;
/// use micelio_smol::{CommandError, SmolNode};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # smol::block_on(async {
/// # let dir = tempfile::tempdir()?;
/// # let mut config = Config::default();
/// # config.node.data_dir = dir.path().to_string_lossy().into_owned();
/// let (node, _events) = SmolNode::start(config).await?;
/// let handle = node.handle().clone();
/// assert!(handle.peers().await.is_empty());
///
/// // With no peer the message goes nowhere, but it is originated all the same.
/// let id = handle.broadcast_chat("alice", "anyone there?").await?;
/// assert_eq!(id.len(), 36); // a UUID v4
///
/// // Types 1, 2, 4 and 5 are point to point; gossip payloads stop at 64 KiB.
/// assert_eq!(handle.broadcast(4, vec![]).await, Err(CommandError::NotGossipType(4)));
/// let big = vec![0; 70_000];
/// assert_eq!(handle.broadcast(1000, big).await, Err(CommandError::PayloadTooLarge(70_000)));
///
/// // Any clone can stop the node; afterwards every command is refused at once.
/// handle.shutdown().await?;
/// assert!(node.handle().is_stopped());
/// assert_eq!(handle.broadcast_chat("alice", "late").await, Err(CommandError::ShutDown));
/// # Ok(())
/// # })
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct NodeHandle {
    commands: Sender<Command>,
    /// Asks the driver to stop; not behind the command queue, so a held-back queue cannot
    /// delay a shutdown.
    stop: Sender<()>,
    /// Closed (never written) when the driver has finished.
    done: Receiver<()>,
}

impl NodeHandle {
    pub(crate) fn new(commands: Sender<Command>, stop: Sender<()>, done: Receiver<()>) -> Self {
        NodeHandle {
            commands,
            stop,
            done,
        }
    }

    /// Originates a chat line to every peer. `Ok` carries the message id and means the frames
    /// are queued for every connected peer: they are written even if [`NodeHandle::shutdown`]
    /// follows at once.
    ///
    /// # Errors
    ///
    /// [`CommandError::PayloadTooLarge`] for a line over the gossip limit,
    /// [`CommandError::ShutDown`] once the node has stopped.
    pub async fn broadcast_chat(&self, nick: &str, text: &str) -> Result<String, CommandError> {
        let (reply, answer) = async_channel::bounded(1);
        let command = Command::Chat {
            nick: nick.to_owned(),
            text: text.to_owned(),
            reply,
        };
        self.ask(command, answer)
            .await
            .unwrap_or(Err(CommandError::ShutDown))
    }

    /// Originates a gossip message of type `msg_type` (applications use 6 and up; plugins 1000
    /// and up) with `payload`. Acknowledgement as for [`NodeHandle::broadcast_chat`].
    ///
    /// # Errors
    ///
    /// [`CommandError::NotGossipType`], [`CommandError::PayloadTooLarge`] (over 64 KiB) or
    /// [`CommandError::ShutDown`].
    pub async fn broadcast(&self, msg_type: u32, payload: Vec<u8>) -> Result<String, CommandError> {
        let (reply, answer) = async_channel::bounded(1);
        let command = Command::Broadcast {
            msg_type,
            payload,
            reply,
        };
        self.ask(command, answer)
            .await
            .unwrap_or(Err(CommandError::ShutDown))
    }

    /// The admitted peers, in node-id order (empty once the node has stopped).
    pub async fn peers(&self) -> Vec<PeerSummary> {
        let (reply, answer) = async_channel::bounded(1);
        self.ask(Command::Peers { reply }, answer)
            .await
            .unwrap_or_default()
    }

    /// Writes `value` under `key` of the shared map, for every node (docs/state.md); `Ok`
    /// carries the write's message id.
    ///
    /// # Errors
    ///
    /// [`CommandError::State`] when the write breaks the map's rules (key 1 to 256 bytes,
    /// value at most 16 KiB, `node/<id>/` keys only for this node, the map full or the map
    /// off), [`CommandError::ShutDown`] once the node has stopped.
    pub async fn state_set(&self, key: &str, value: Vec<u8>) -> Result<String, CommandError> {
        self.state_write(key, Some(value)).await
    }

    /// Deletes `key` of the shared map for every node (a tombstone). Errors as for
    /// [`NodeHandle::state_set`].
    ///
    /// # Errors
    ///
    /// As [`NodeHandle::state_set`].
    pub async fn state_delete(&self, key: &str) -> Result<String, CommandError> {
        self.state_write(key, None).await
    }

    async fn state_write(&self, key: &str, value: Option<Vec<u8>>) -> Result<String, CommandError> {
        let (reply, answer) = async_channel::bounded(1);
        let command = Command::StateWrite {
            key: key.to_owned(),
            value,
            reply,
        };
        self.ask(command, answer)
            .await
            .unwrap_or(Err(CommandError::ShutDown))
    }

    /// The value of `key` in this node's copy of the shared map (`None`: not set, deleted,
    /// or the node has stopped). Eventually consistent: another node's write shows once it
    /// has arrived.
    pub async fn state_get(&self, key: &str) -> Option<Vec<u8>> {
        let (reply, answer) = async_channel::bounded(1);
        let command = Command::StateGet {
            key: key.to_owned(),
            reply,
        };
        self.ask(command, answer).await.flatten()
    }

    /// The live keys under `prefix`, sorted (empty once the node has stopped).
    pub async fn state_keys(&self, prefix: &str) -> Vec<String> {
        let (reply, answer) = async_channel::bounded(1);
        let command = Command::StateKeys {
            prefix: prefix.to_owned(),
            reply,
        };
        self.ask(command, answer).await.unwrap_or_default()
    }

    /// A stream of the changes of the keys under `prefix` (`""`: every key), from now on;
    /// `None` once the node has stopped.
    pub async fn watch(&self, prefix: &str) -> Option<StateWatch> {
        let (reply, answer) = async_channel::bounded(1);
        let command = Command::Watch {
            prefix: prefix.to_owned(),
            reply,
        };
        self.ask(command, answer).await
    }

    /// Stops the node: frames of commands acknowledged before are written out, commands still
    /// queued are answered with [`CommandError::ShutDown`], every connection is closed, the
    /// peer table is written to the store and the data directory is unlocked. Returns when
    /// that is done, or after [`SHUTDOWN_LIMIT`] at the latest. Calling it again, from any
    /// clone, waits for the same shutdown.
    ///
    /// # Errors
    ///
    /// [`ShutdownTimedOut`] when the driver had not finished in time.
    pub async fn shutdown(&self) -> Result<(), ShutdownTimedOut> {
        let stop = async {
            // Full: a stop is already pending; closed: the driver has already stopped.
            let _ = self.stop.try_send(());
            // The driver never sends on `done`: this returns when it drops the sender.
            let _ = self.done.recv().await;
            Ok(())
        };
        let limit = async {
            Timer::after(SHUTDOWN_LIMIT).await;
            Err(ShutdownTimedOut)
        };
        future::or(stop, limit).await
    }

    /// True once the driver has finished.
    pub fn is_stopped(&self) -> bool {
        self.done.is_closed()
    }

    async fn ask<T>(&self, command: Command, answer: Receiver<T>) -> Option<T> {
        self.commands.send(command).await.ok()?;
        answer.recv().await.ok()
    }
}
