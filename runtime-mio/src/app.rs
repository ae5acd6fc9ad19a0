//! The daemon's application side of the event loop: signals, and where node events go.

use std::io;

use micelio_core::node::NodeEvent;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use crate::net::{Application, SIGNALS};

/// Signals and the hand-off between the node and its users.
pub struct DaemonApp {
    signals: Signals,
    stopping: bool,
}

impl DaemonApp {
    /// Registers SIGINT and SIGTERM with the loop's registry.
    pub fn new(registry: &mio::Registry) -> io::Result<Self> {
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        registry.register(&mut signals, SIGNALS, mio::Interest::READABLE)?;
        Ok(DaemonApp {
            signals,
            stopping: false,
        })
    }
}

impl Application for DaemonApp {
    fn on_event(&mut self, event: NodeEvent) {
        match event {
            NodeEvent::PeerUp {
                node_id, direction, ..
            } => {
                tracing::debug!(peer = %node_id, ?direction, "peer up");
            }
            NodeEvent::PeerDown { node_id, reason } => {
                tracing::debug!(peer = %node_id, %reason, "peer down");
            }
            NodeEvent::Chat {
                sender, nick, text, ..
            } => {
                tracing::debug!(%sender, %nick, len = text.len(), "chat received");
            }
            NodeEvent::Message {
                sender, msg_type, ..
            } => {
                tracing::debug!(%sender, msg_type, "message received");
            }
        }
    }

    fn take_outgoing(&mut self) -> Vec<(String, String)> {
        Vec::new()
    }

    fn should_stop(&mut self) -> bool {
        if self.signals.pending().next().is_some() && !self.stopping {
            tracing::info!("shutting down");
            self.stopping = true;
        }
        self.stopping
    }
}
