//! A Micelio node for applications that are already async, on [smol].
//!
//! It runs the same node as the `micelio` daemon: the configuration, identity files, SQLite
//! peer table and start-up sequence come from `micelio-platform`, the protocol from the
//! sans-IO `micelio-core`. There is no SSH partyline: the application is the user interface.
//!
//! Two nodes on this machine: A listens on a free port of 127.0.0.1, B bootstraps from it, and
//! a chat line from A reaches B's application.
//!
//! ```
//! use futures_lite::StreamExt;
//! use micelio_platform::config::Config;
//! use micelio_smol::{NodeEvent, SmolNode};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! smol::block_on(async {
//!     let (a_dir, b_dir) = (tempfile::tempdir()?, tempfile::tempdir()?);
//!     let mut config = Config::default();
//!     config.node.data_dir = a_dir.path().to_string_lossy().into_owned();
//!     config.network.listen = "127.0.0.1:0".into(); // port 0: the OS picks a free one
//!     let (a, _a_events) = SmolNode::start(config.clone()).await?;
//!
//!     config.node.data_dir = b_dir.path().to_string_lossy().into_owned();
//!     config.network.bootstrap = vec![a.local_addr().unwrap().to_string()];
//!     let (b, mut b_events) = SmolNode::start(config).await?;
//!
//!     while let Some(event) = b_events.next().await {
//!         match event {
//!             NodeEvent::PeerUp { node_id, .. } => {
//!                 assert_eq!(node_id, a.node_id());
//!                 a.handle().broadcast_chat("alice", "hello, mesh").await?;
//!             }
//!             NodeEvent::Chat { sender, nick, text, .. } => {
//!                 assert_eq!(sender, a.node_id());
//!                 println!("<{nick}> {text}");
//!                 break;
//!             }
//!             _ => {}
//!         }
//!     }
//!     b.shutdown().await?;
//!     a.shutdown().await?;
//!     Ok(())
//! })
//! # }
//! ```
//!
//! [`SmolNode`], [`NodeHandle`] and [`Events`] each have a runnable example of their own.
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
#![warn(missing_docs)]

mod conn;
mod driver;
mod error;
mod events;
mod handle;
mod net;
mod node;
mod watch;

pub use error::{ShutdownTimedOut, StartError};
pub use events::{DEFAULT_EVENT_CAPACITY, Events};
pub use handle::{DEFAULT_COMMAND_CAPACITY, NodeHandle, SHUTDOWN_LIMIT};
pub use micelio_core::node::{CommandError, NodeEvent, PeerSummary};
pub use node::{Options, SmolNode};
pub use watch::{StateChange, StateWatch, WATCH_CAPACITY};
