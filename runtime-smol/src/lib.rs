//! A Micelio node for applications that are already async, on [smol].
//!
//! It runs the same node as the `micelio` daemon: the configuration, identity files, SQLite
//! peer table and start-up sequence come from `micelio-platform`, the protocol from the
//! sans-IO `micelio-core`. There is no SSH partyline: the application is the user interface.
//!
//! ```no_run
//! use futures_lite::StreamExt;
//! use micelio_core::node::NodeEvent;
//! use micelio_platform::config::Config;
//! use micelio_smol::SmolNode;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! smol::block_on(async {
//!     let mut config = Config::default();
//!     config.node.data_dir = "/tmp/micelio-example".into();
//!     config.network.listen = "127.0.0.1:7000".into();
//!     config.network.bootstrap = vec!["127.0.0.1:7001".into()];
//!     let (node, mut events) = SmolNode::start(config).await?;
//!     let handle = node.handle().clone();
//!     // `CommandError` is `no_std` and has no `std::error::Error` impl: convert it.
//!     handle
//!         .broadcast_chat("alice", "hello, mesh")
//!         .await
//!         .map_err(|e| e.to_string())?;
//!     while let Some(event) = events.next().await {
//!         match event {
//!             NodeEvent::Chat { nick, text, .. } => println!("<{nick}> {text}"),
//!             NodeEvent::PeerUp { node_id, .. } => println!("{node_id} joined"),
//!             _ => {}
//!         }
//!         if handle.peers().await.is_empty() {
//!             break;
//!         }
//!     }
//!     node.shutdown().await?;
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })
//! # }
//! ```
//!
//! # Tasks
//!
//! [`SmolNode::start`] spawns its tasks on smol's global executor (`smol::spawn`, threads
//! started on demand; `SMOL_THREADS` sets how many): one driver task that owns the core
//! `Node` and the store, one task accepting connections, one reader and one writer task per
//! connection, and one task per dial in progress (10 s connect timeout). The driver waits on
//! the command queue, the socket events, a stop request and the node's next timer; the store
//! is written in one batch about once a second, on smol's blocking thread pool.
//!
//! # Back-pressure
//!
//! Every queue is bounded:
//!
//! - **Events** ([`Options::event_capacity`], default 1024): when the application does not
//!   read its [`Events`], the oldest event is dropped for each new one and counted in
//!   [`Events::dropped`]. The node itself never waits for the application.
//! - **Commands** ([`Options::command_capacity`], default 64): [`NodeHandle`] methods wait
//!   when the queue is full. While any peer connection is write-blocked (its writer's queue
//!   of 128 frames is full) the driver takes no commands, so callers wait rather than have
//!   their frames dropped; the core closes a connection blocked for 10 s.
//! - **Sockets**: readers hand data to the driver over a bounded queue and stop reading when
//!   it is full (TCP flow control slows the peer down).
//!
//! A broadcast is acknowledged (its future returns `Ok`) once its frames are queued for every
//! connected peer; [`NodeHandle::shutdown`] writes those frames out before closing.
//!
//! [smol]: https://docs.rs/smol

mod conn;
mod driver;
mod error;
mod events;
mod handle;
mod net;
mod node;

pub use error::{ShutdownTimedOut, StartError};
pub use events::{DEFAULT_EVENT_CAPACITY, Events};
pub use handle::{DEFAULT_COMMAND_CAPACITY, NodeHandle, SHUTDOWN_LIMIT};
pub use micelio_core::node::{CommandError, NodeEvent, PeerSummary};
pub use node::{Options, SmolNode};
