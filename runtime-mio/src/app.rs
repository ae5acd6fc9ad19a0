//! The daemon's application side of the event loop: signals, and the partyline that node events
//! go to.

use std::io;
use std::time::{Duration, Instant};

use micelio_core::node::{Node, NodeEvent};
use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
use signal_hook_mio::v1_0::Signals;

use crate::net::{Application, SIGNALS};
use crate::partyline::service::PartylineService;
use crate::ssh::DRAIN_TIMEOUT;

/// How long the loop waits beyond the SSH server's own drain limit before it stops anyway.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// Signals and the hand-off between the node and the partyline.
pub struct DaemonApp {
    signals: Signals,
    partyline: PartylineService,
    /// Set on SIGINT/SIGTERM: when the loop stops even if the SSH side has not drained.
    stop_deadline: Option<Instant>,
    /// SIGUSR1 arrived: log the node's table sizes.
    stats_requested: bool,
}

impl DaemonApp {
    /// Registers SIGINT, SIGTERM (stop) and SIGUSR1 (log statistics) with the loop's registry.
    pub fn new(registry: &mio::Registry, partyline: PartylineService) -> io::Result<Self> {
        let mut signals = Signals::new([SIGINT, SIGTERM, SIGUSR1])?;
        registry.register(&mut signals, SIGNALS, mio::Interest::READABLE)?;
        Ok(DaemonApp {
            signals,
            partyline,
            stop_deadline: None,
            stats_requested: false,
        })
    }

    /// The partyline, once the loop has returned.
    pub fn into_partyline(self) -> PartylineService {
        self.partyline
    }
}

impl Application for DaemonApp {
    fn on_event(&mut self, event: NodeEvent) {
        match event {
            NodeEvent::PeerUp {
                node_id, direction, ..
            } => {
                tracing::debug!(peer = %node_id, %direction, "peer up");
            }
            NodeEvent::PeerDown { node_id, reason } => {
                tracing::debug!(peer = %node_id, %reason, "peer down");
            }
            NodeEvent::Chat {
                sender, nick, text, ..
            } => {
                tracing::debug!(%sender, len = text.len(), "chat received");
                self.partyline.remote_chat(&nick, &text);
            }
            NodeEvent::Message {
                sender, msg_type, ..
            } => {
                tracing::debug!(%sender, msg_type, "message received");
            }
            NodeEvent::StateChanged {
                key,
                writer,
                lamport,
                ..
            } => {
                tracing::debug!(%key, %writer, lamport, "state changed");
            }
        }
    }

    fn take_stats_request(&mut self) -> bool {
        std::mem::take(&mut self.stats_requested)
    }

    fn serve(&mut self, node: &mut Node, now: micelio_core::time::Instant) {
        self.partyline.poll();
        self.partyline.serve_node(node, now);
    }

    fn take_outgoing(&mut self) -> Vec<(String, String)> {
        self.partyline.poll();
        self.partyline.take_network()
    }

    /// On the first SIGINT/SIGTERM: ends the partyline sessions and starts the SSH drain; the
    /// loop goes on until the SSH side reports it has stopped (at most about 5 s), then shuts the
    /// node down.
    fn should_stop(&mut self) -> bool {
        let mut stop = false;
        for signal in self.signals.pending() {
            if signal == SIGUSR1 {
                self.stats_requested = true;
            } else {
                stop = true;
            }
        }
        if stop && self.stop_deadline.is_none() {
            tracing::info!("shutting down");
            self.stop_deadline = Some(Instant::now() + DRAIN_TIMEOUT + DRAIN_GRACE);
            self.partyline.shutdown();
        }
        let Some(deadline) = self.stop_deadline else {
            return false;
        };
        self.partyline.poll();
        self.partyline.ssh_stopped() || Instant::now() >= deadline
    }
}
