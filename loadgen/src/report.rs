//! The run's summary: a table on stdout and, on request, a JSON file for plotting.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::ceiling::Ceiling;
use crate::pool::HandshakeReport;
use crate::traffic::TrafficReport;

/// What the run was asked to do.
#[derive(Clone, Debug, Serialize)]
pub struct Settings {
    /// Addresses used for handshakes and idle connections.
    pub targets: Vec<String>,
    /// Where the sending connection went.
    pub send_to: String,
    /// Where the receiving connection went.
    pub receive_from: String,
    /// `--connections`.
    pub connections: usize,
    /// `--concurrency`.
    pub concurrency: usize,
    /// `--idle-connections`.
    pub idle_connections: usize,
    /// Sender identities.
    pub senders: usize,
    /// `--rate` (0 = as fast as possible).
    pub rate: f64,
    /// The rate actually paced.
    pub paced_rate: f64,
    /// `--duration` in seconds.
    pub duration_s: f64,
    /// `--payload-bytes`.
    pub payload_bytes: usize,
    /// `--presign`.
    pub presign: bool,
    /// Messages prepared.
    pub messages: usize,
}

/// The idle-connection phase.
#[derive(Clone, Debug, Serialize)]
pub struct IdleReport {
    /// How the connections were opened.
    pub open: HandshakeReport,
    /// Still held when the RSS was sampled.
    pub held: usize,
    /// Held connections the node closed, by reason.
    pub lost: BTreeMap<String, usize>,
    /// Target RSS before opening them, KiB.
    pub rss_before_kib: Option<u64>,
    /// Target RSS with them held, KiB.
    pub rss_held_kib: Option<u64>,
    /// (held − before) / held, in bytes.
    pub rss_per_connection_bytes: Option<f64>,
}

/// The target's RSS over the whole run, KiB.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct RssReport {
    /// Before anything was sent.
    pub before_kib: Option<u64>,
    /// Largest sample.
    pub peak_kib: Option<u64>,
    /// After every connection closed.
    pub after_kib: Option<u64>,
}

/// Everything a run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// `--label`.
    pub label: String,
    /// Seconds since the Unix epoch at the end of the run.
    pub unix_time: u64,
    /// The settings.
    pub settings: Settings,
    /// This machine's ED25519 verify rates: the faster of `ceiling_samples`.
    pub ceiling: Option<Ceiling>,
    /// Each measurement: at start and, after a traffic phase, again at the end.
    pub ceiling_samples: Vec<Ceiling>,
    /// The handshake phase.
    pub handshakes: Option<HandshakeReport>,
    /// The idle phase.
    pub idle: Option<IdleReport>,
    /// The traffic phase.
    pub traffic: Option<TrafficReport>,
    /// Delivered msgs/s divided by the envelope-verify ceiling.
    pub ratio_to_ceiling: Option<f64>,
    /// Delivered msgs/s divided by the raw verify rate.
    pub ratio_to_raw_verify: Option<f64>,
    /// Messages the target relays per second of its CPU time (1 / its CPU time per message)
    /// divided by envelope verifications per second of CPU time: the ratio with a core to
    /// itself, free of the contention of a shared machine.
    pub ratio_cpu_bound: Option<f64>,
    /// The target's RSS.
    pub rss: RssReport,
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

fn failures(map: &BTreeMap<String, usize>) -> String {
    if map.is_empty() {
        return "none".into();
    }
    let parts: Vec<String> = map.iter().map(|(k, v)| format!("{v}× {k}")).collect();
    parts.join(", ")
}

impl Summary {
    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut rows: Vec<(String, String)> = Vec::new();
        let mut row = |k: &str, v: String| rows.push((k.to_owned(), v));
        if let Some(c) = &self.ceiling {
            let samples: Vec<String> = self
                .ceiling_samples
                .iter()
                .map(|s| format!("{:.0}", s.verify_per_sec))
                .collect();
            row(
                "verify ceiling (1 core)",
                format!(
                    "{:.0} envelopes/s (best of {})",
                    c.verify_per_sec,
                    samples.join(", ")
                ),
            );
            row(
                "verify per CPU-second",
                format!("{:.0} envelopes/s", c.verify_per_cpu_sec),
            );
            row(
                "raw ed25519 verify",
                format!("{:.0} /s", c.raw_verify_per_sec),
            );
        }
        if let Some(h) = &self.handshakes {
            row(
                "handshakes",
                format!(
                    "{}/{} in {:.2} s = {:.0}/s",
                    h.established, h.attempted, h.elapsed_s, h.per_sec
                ),
            );
            if let Some(us) = h.target_cpu_us_per_handshake {
                row(
                    "target CPU per handshake",
                    format!("{us:.0} µs ({:.0} per CPU-second)", 1e6 / us),
                );
            }
            row("handshake failures", failures(&h.failures));
        }
        if let Some(i) = &self.idle {
            row(
                "idle connections held",
                format!("{} of {}", i.held, i.open.attempted),
            );
            row(
                "idle open failures / lost",
                format!("{} / {}", failures(&i.open.failures), failures(&i.lost)),
            );
            row(
                "RSS before / held",
                format!("{} / {}", mib(i.rss_before_kib), mib(i.rss_held_kib)),
            );
            if let Some(b) = i.rss_per_connection_bytes {
                row(
                    "RSS per idle connection",
                    format!("{:.0} bytes ({:.1} KiB)", b, b / 1024.0),
                );
            }
        }
        if let Some(t) = &self.traffic {
            row(
                "sent",
                format!("{} in {:.2} s = {:.0}/s", t.sent, t.send_s, t.sent_per_sec),
            );
            row(
                "delivered",
                format!(
                    "{} in {:.2} s = {:.0}/s (lost {}, duplicates {})",
                    t.received, t.delivery_s, t.delivered_per_sec, t.lost, t.duplicates
                ),
            );
            if let Some(l) = &t.latency {
                row(
                    "latency p50 / p99 / max",
                    format!("{:.2} / {:.2} / {:.2} ms", l.p50_ms, l.p99_ms, l.max_ms),
                );
            }
            if let Some(cpu) = &t.target_cpu {
                row(
                    "target CPU",
                    format!(
                        "{:.2} s, {:.0}% of one core, {:.1} µs per message",
                        cpu.cpu_s,
                        cpu.busy * 100.0,
                        cpu.us_per_message
                    ),
                );
            }
            if !t.errors.is_empty() {
                row("errors", t.errors.join("; "));
            }
        }
        if let Some(r) = self.ratio_to_ceiling {
            row("delivered / ceiling", format!("{r:.3}"));
        }
        if let Some(r) = self.ratio_to_raw_verify {
            row("delivered / raw verify", format!("{r:.3}"));
        }
        if let Some(r) = self.ratio_cpu_bound {
            row("CPU-time ratio (target / verify)", format!("{r:.3}"));
        }
        if self.rss.before_kib.is_some() {
            row(
                "target RSS before / peak / after",
                format!(
                    "{} / {} / {}",
                    mib(self.rss.before_kib),
                    mib(self.rss.peak_kib),
                    mib(self.rss.after_kib)
                ),
            );
        }
        let width = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        if !self.label.is_empty() {
            out.push_str(&format!("== {} ==\n", self.label));
        }
        for (k, v) in rows {
            out.push_str(&format!("{k:<width$}  {v}\n"));
        }
        out
    }

    /// Writes the summary as pretty JSON to `path`.
    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, text + "\n")
    }
}
