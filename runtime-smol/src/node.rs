//! Starting a node: the shared start-up sequence, then the driver task on smol's global
//! executor.

use std::net::SocketAddr;

use micelio_core::identity::NodeId;
use micelio_platform::config::Config;
use micelio_platform::startup;
use smol::net::TcpListener;

use crate::driver::{Channels, Driver};
use crate::error::{ShutdownTimedOut, StartError};
use crate::events::{self, DEFAULT_EVENT_CAPACITY, Events};
use crate::handle::{DEFAULT_COMMAND_CAPACITY, NodeHandle};

/// Sizes of the queues between the application and the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Events queued for the application before the oldest is dropped (see [`Events`]).
    pub event_capacity: usize,
    /// Commands queued before [`NodeHandle`] methods wait.
    pub command_capacity: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            event_capacity: DEFAULT_EVENT_CAPACITY,
            command_capacity: DEFAULT_COMMAND_CAPACITY,
        }
    }
}

/// A running node. See the [crate documentation](crate).
///
/// # Example
///
/// The identity is created in the data directory at the first start and found there at the
/// next; the directory is locked while a node runs on it.
///
/// ```
/// use micelio_platform::config::Config;
/// use micelio_smol::SmolNode;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # smol::block_on(async {
/// let dir = tempfile::tempdir()?;
/// let mut config = Config::default();
/// config.node.data_dir = dir.path().to_string_lossy().into_owned();
/// config.network.listen = "127.0.0.1:0".into();
///
/// let (node, _events) = SmolNode::start(config.clone()).await?;
/// let addr = node.local_addr().expect("the node listens");
/// assert!(addr.ip().is_loopback() && addr.port() != 0);
/// assert!(SmolNode::start(config.clone()).await.is_err()); // locked
/// let id = node.node_id();
/// node.shutdown().await?;
///
/// let (again, _events) = SmolNode::start(config).await?;
/// assert_eq!(again.node_id(), id);
/// again.shutdown().await?;
/// # Ok(())
/// # })
/// # }
/// ```
#[derive(Debug)]
pub struct SmolNode {
    handle: NodeHandle,
    node_id: NodeId,
    local_addr: Option<SocketAddr>,
}

impl SmolNode {
    /// Starts a node from `config` with the default [`Options`]; see [`SmolNode::start_with`].
    ///
    /// # Errors
    ///
    /// [`StartError`] when a start-up step fails.
    pub async fn start(config: Config) -> Result<(SmolNode, Events), StartError> {
        Self::start_with(config, Options::default()).await
    }

    /// Starts a node: validates `config`, creates the data directory, loads or creates the
    /// identity files, opens the store (locking the data directory) and loads its peer table,
    /// binds `network.listen`, then spawns the driver on smol's global executor
    /// (`smol::spawn`). The `[ssh]` section is ignored: this runtime has no partyline. Logging
    /// is the application's business (install a `tracing` subscriber if wanted).
    ///
    /// # Errors
    ///
    /// [`StartError`] when a start-up step fails.
    pub async fn start_with(
        config: Config,
        options: Options,
    ) -> Result<(SmolNode, Events), StartError> {
        // Files, SQLite and bind(2) block: run them off the executor.
        let prepared = smol::unblock(move || startup::prepare(&config)).await?;
        let listener = match prepared.listener {
            Some(listener) => Some(TcpListener::try_from(listener).map_err(StartError::Reactor)?),
            None => None,
        };
        let local_addr = listener.as_ref().and_then(|l| l.local_addr().ok());
        let node_id = prepared.node.node_id();
        let (commands_tx, commands) = async_channel::bounded(options.command_capacity.max(1));
        let (stop_tx, stop) = async_channel::bounded(1);
        let (done, done_rx) = async_channel::bounded(1);
        let (event_tx, events) = events::channel(options.event_capacity);
        let channels = Channels {
            commands,
            stop,
            events: event_tx,
            done,
        };
        let driver = Driver::new(
            prepared.node,
            prepared.clock,
            prepared.store,
            listener,
            channels,
        );
        // Detached: the driver stops on `shutdown` or when every handle is dropped.
        smol::spawn(driver.run()).detach();
        let node = SmolNode {
            handle: NodeHandle::new(commands_tx, stop_tx, done_rx),
            node_id,
            local_addr,
        };
        Ok((node, events))
    }

    /// A handle for commands; clone it freely.
    pub fn handle(&self) -> &NodeHandle {
        &self.handle
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The bound peer listener's address (`None` when the node does not listen).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// Shuts the node down; see [`NodeHandle::shutdown`].
    ///
    /// # Errors
    ///
    /// [`ShutdownTimedOut`] when it took longer than 5 s.
    pub async fn shutdown(self) -> Result<(), ShutdownTimedOut> {
        self.handle.shutdown().await
    }
}
