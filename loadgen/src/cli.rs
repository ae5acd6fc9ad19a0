//! The command line: which nodes to load, and with what.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use clap::Parser;

/// Per-sender rate limit of the reference node (spec §10.5): 10 messages/s, burst 20.
pub const NODE_RATE_PER_SENDER: f64 = 10.0;
/// The rate each sender identity is held to, a little under the node's limit so jitter never
/// empties a bucket.
pub const SENDER_RATE: f64 = 9.5;
/// Most sender identities: the node's key ring and rate-limiter tables hold 8,192.
pub const MAX_SENDERS: usize = 8_000;

/// Load generator for a Micelio node (ours or any other implementation of the wire protocol).
///
/// Phases, in this order, each only when asked: ED25519 verify ceiling of this machine,
/// handshakes (`--connections`), idle connections (`--idle-connections`), then chat traffic
/// (`--duration`) from one sending to one receiving connection.
#[derive(Parser, Debug, Clone)]
#[command(name = "micelio-loadgen", version)]
pub struct Args {
    /// Node address (host:port); repeatable. Handshakes and idle connections go round-robin
    /// over them; the first is the default for --send-to and the last for --receive-from.
    #[arg(long = "target", value_name = "ADDR")]
    pub targets: Vec<String>,

    /// Node the sending connection dials (default: the first --target).
    #[arg(long, value_name = "ADDR")]
    pub send_to: Option<String>,

    /// Node the receiving connection dials (default: the last --target).
    #[arg(long, value_name = "ADDR")]
    pub receive_from: Option<String>,

    /// Handshake this many fresh identities (Noise + hello), each closed once established,
    /// and report handshakes/s.
    #[arg(long, default_value_t = 0)]
    pub connections: usize,

    /// Connection attempts in flight at once (the node keeps at most 64 pending handshakes).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,

    /// Open this many fresh identities and keep them connected and idle for --idle-hold
    /// seconds (RSS per idle connection when --target-pid is given). Closed before traffic.
    #[arg(long, default_value_t = 0)]
    pub idle_connections: usize,

    /// Seconds the idle connections are held once all are open.
    #[arg(long, default_value_t = 3.0)]
    pub idle_hold: f64,

    /// Distinct identities originating chat (0 = enough for --rate at 9.5 msgs/s each, or
    /// 8,000 when --rate is 0). At most 8,000.
    #[arg(long, default_value_t = 0)]
    pub senders: usize,

    /// Chat messages per second in total (0 = as fast as the node takes them, each sender
    /// still held to 9.5 msgs/s).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,

    /// Seconds of sending (0 = no traffic phase).
    #[arg(long, default_value_t = 0.0)]
    pub duration: f64,

    /// Size of each chat line's text in bytes.
    #[arg(long, default_value_t = 64)]
    pub payload_bytes: usize,

    /// Sign every message before the timed phase (default); `--presign false` signs while
    /// sending.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", value_name = "BOOL")]
    pub presign: bool,

    /// Most messages prepared for a --rate 0 run (memory and presign time bound); fewer when
    /// the verify ceiling shows the node cannot take that many in --duration.
    #[arg(long, default_value_t = 200_000)]
    pub max_messages: usize,

    /// Most messages in flight (sent, not yet received); the sender waits beyond it, so a
    /// saturating run measures the node's latency rather than socket buffers (0 = no limit).
    /// Lost messages keep counting against it.
    #[arg(long, default_value_t = 0)]
    pub max_in_flight: u64,

    /// Seconds the receiver keeps listening after the last message was sent.
    #[arg(long, default_value_t = 2.0)]
    pub drain: f64,

    /// Seconds spent on each rate of the ED25519 verify ceiling, measured at start and again
    /// after a traffic phase; the faster measurement counts (0 = skip).
    #[arg(long, default_value_t = 1.0)]
    pub ceiling_secs: f64,

    /// Process id of the target node, to sample its RSS (/proc/PID/status VmRSS).
    #[arg(long, value_name = "PID")]
    pub target_pid: Option<u32>,

    /// Write a JSON summary to this file.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,

    /// Label stored in the JSON summary (the name of the scenario).
    #[arg(long, default_value = "")]
    pub label: String,
}

/// What the arguments resolve to, checked.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Addresses for handshakes and idle connections.
    pub targets: Vec<SocketAddr>,
    /// Where the sending connection goes.
    pub send_to: SocketAddr,
    /// Where the receiving connection comes from.
    pub receive_from: SocketAddr,
    /// Sender identities to use.
    pub senders: usize,
    /// Paced total rate, in msgs/s (never infinite: `senders` × 9.5 for `--rate 0`).
    pub paced_rate: f64,
    /// Messages to prepare.
    pub messages: usize,
}

impl Plan {
    /// True when each sender would exceed the node's per-sender rate limit.
    pub fn over_sender_limit(&self) -> bool {
        self.paced_rate > self.senders as f64 * NODE_RATE_PER_SENDER
    }
}

/// Senders needed for `rate` msgs/s at [`SENDER_RATE`] each, or [`MAX_SENDERS`] for 0.
pub fn auto_senders(rate: f64) -> usize {
    if rate <= 0.0 {
        return MAX_SENDERS;
    }
    ((rate / SENDER_RATE).ceil() as usize).clamp(1, MAX_SENDERS)
}

fn resolve(addr: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr}: no address"))
}

impl Args {
    /// Resolves addresses and derives the sender count, paced rate and message count. For
    /// `--rate 0`, `ceiling` (verifications/s of this machine, if measured) bounds the
    /// messages prepared: no node verifies faster than 1.5 × that on one core.
    pub fn plan(&self, ceiling: Option<f64>) -> Result<Plan, String> {
        let mut targets = self
            .targets
            .iter()
            .map(|t| resolve(t))
            .collect::<Result<Vec<_>, _>>()?;
        let send_to = match &self.send_to {
            Some(addr) => resolve(addr)?,
            None => *targets.first().ok_or("give --target or --send-to")?,
        };
        let receive_from = match &self.receive_from {
            Some(addr) => resolve(addr)?,
            None => *targets.last().unwrap_or(&send_to),
        };
        if targets.is_empty() {
            targets.push(send_to);
        }
        if self.rate < 0.0 || !self.rate.is_finite() {
            return Err("--rate must be >= 0".into());
        }
        if self.senders > MAX_SENDERS {
            return Err(format!(
                "--senders must be <= {MAX_SENDERS} (the node's key ring and rate tables)"
            ));
        }
        let senders = if self.senders == 0 {
            auto_senders(self.rate)
        } else {
            self.senders
        };
        let cap = senders as f64 * SENDER_RATE;
        let paced_rate = if self.rate == 0.0 { cap } else { self.rate };
        let wanted = (paced_rate * self.duration).ceil() as usize + 1;
        let messages = if self.rate == 0.0 {
            let takes = ceiling.map_or(usize::MAX, |c| (1.5 * c * self.duration) as usize + 1);
            wanted.min(self.max_messages).min(takes)
        } else {
            wanted
        };
        if self.concurrency == 0 {
            return Err("--concurrency must be >= 1".into());
        }
        Ok(Plan {
            targets,
            send_to,
            receive_from,
            senders,
            paced_rate,
            messages,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_senders_cover_the_rate_within_the_node_limit() {
        assert_eq!(auto_senders(100.0), 11);
        assert_eq!(auto_senders(1.0), 1);
        assert_eq!(auto_senders(0.0), MAX_SENDERS);
        assert_eq!(auto_senders(1e9), MAX_SENDERS);
        for rate in [10.0, 95.0, 1000.0, 20_000.0] {
            assert!(rate / auto_senders(rate) as f64 <= SENDER_RATE);
        }
    }

    #[test]
    fn plan_defaults_send_to_first_and_receive_from_last() {
        let args = Args::parse_from([
            "x",
            "--target",
            "127.0.0.1:1",
            "--target",
            "127.0.0.1:2",
            "--rate",
            "100",
            "--duration",
            "2",
        ]);
        let plan = args.plan(None).unwrap();
        assert_eq!(plan.send_to.port(), 1);
        assert_eq!(plan.receive_from.port(), 2);
        assert_eq!(plan.messages, 201);
        assert!(args.presign);
    }
}
