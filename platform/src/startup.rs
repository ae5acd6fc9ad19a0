//! The start-up sequence every runtime shares (NODE.md §2): validate the configuration, create
//! the data directory, load or create the identity, open the store, bind the peer listener and
//! build the core node with its stored peer table.

use std::fmt;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use micelio_core::node::Node;
use rand_core::{OsRng, RngCore};

use crate::clock::Clock;
use crate::config::{self, Config, ConfigErrors};
use crate::identity_files::{self, IdentityError};
use crate::store::{Store, StoreError};

/// Everything a runtime needs to start driving a node.
pub struct Prepared {
    /// The core node, with the stored peer table loaded.
    pub node: Node,
    /// The open store (the data directory is locked while it lives).
    pub store: Store,
    /// The bound peer listener (blocking mode), or `None` when `network.listen` is empty.
    pub listener: Option<TcpListener>,
    /// The clock the node was created with.
    pub clock: Clock,
    /// The data directory, `~` expanded.
    pub data_dir: PathBuf,
}

/// A start-up failure, with the NODE.md §2 message in its `Display`.
#[derive(Debug)]
pub enum StartupError {
    /// The configuration is invalid.
    Config(ConfigErrors),
    /// The data directory could not be created.
    DataDir(std::io::Error),
    /// The identity files could not be read or written.
    Identity(IdentityError),
    /// The store could not be opened or read.
    Store(StoreError),
    /// The peer listener could not be bound.
    Listen {
        /// The configured address.
        addr: String,
        /// The bind error.
        source: std::io::Error,
    },
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(e) => write!(f, "fatal: invalid configuration: {e}"),
            Self::DataDir(e) => write!(f, "fatal: creating data dir: {e}"),
            Self::Identity(e) => write!(f, "fatal: identity: {e}"),
            Self::Store(e) => write!(f, "fatal: store: {e}"),
            Self::Listen { addr, source } => {
                write!(f, "fatal: transport: listening on {addr}: {source}")
            }
        }
    }
}

impl std::error::Error for StartupError {}

/// Runs the shared start-up sequence for `config`.
///
/// # Errors
///
/// [`StartupError`] for the first step that fails.
pub fn prepare(config: &Config) -> Result<Prepared, StartupError> {
    config.validate().map_err(StartupError::Config)?;
    let data_dir = config.data_dir();
    create_private_dir(&data_dir).map_err(StartupError::DataDir)?;
    let identity = identity_files::load_or_create(&data_dir).map_err(StartupError::Identity)?;
    tracing::info!(node_id = %identity.node_id(), name = %config.node.name, "node started");
    let store = Store::open(&data_dir.join("data.db")).map_err(StartupError::Store)?;
    let listen = config.network.listen.trim();
    let listener = if listen.is_empty() {
        None
    } else {
        let listener = TcpListener::bind(listen).map_err(|source| StartupError::Listen {
            addr: listen.to_owned(),
            source,
        })?;
        tracing::info!(addr = %listen, "transport listening");
        Some(listener)
    };
    let bound = listener.as_ref().and_then(|l| l.local_addr().ok());
    let advertised = config::advertised_addr(&config.network.advertise_addr, bound);
    let node_config = config.to_node_config(advertised, listener.is_some());
    let clock = Clock::start();
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    let mut node = Node::new(node_config, identity, seed, clock.now(), Clock::unix_now());
    let loaded = store.load_peers().map_err(StartupError::Store)?;
    node.load_peers(loaded.records);
    let (lamport, entries) = store.load_state().map_err(StartupError::Store)?;
    node.load_state(lamport, entries);
    Ok(Prepared {
        node,
        store,
        listener,
        clock,
        data_dir,
    })
}

/// Creates the data directory (and parents) with mode 0700 when missing.
///
/// # Errors
///
/// The error of the directory creation.
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)
}
