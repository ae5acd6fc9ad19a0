//! The traffic phase: one sending connection paces prepared chat messages into a node, one
//! receiving connection (possibly on another node) recognises them by message id and
//! measures each one's latency from send to receive.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use micelio_core::envelope::msg_type;
use micelio_core::proto::Envelope;
use mio::{Events, Poll, Token};
use serde::Serialize;

use crate::clock::Clock;
use crate::connection::Link;
use crate::latency::{LatencySummary, summarize};
use crate::messages::{Messages, fast_rng, identities};
use crate::monitor::{Monitor, cpu_ns};
use crate::pacing::Pacer;

/// Most bytes the sender keeps queued ahead of the socket; beyond it, it waits for the node.
const MAX_UNSENT: usize = 64 * 1024;
/// How long a connection may take to be established.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Pause between both connections being up and the first message, so the node has admitted
/// them and sent its first peer exchange.
const SETTLE: Duration = Duration::from_millis(300);

const WAIT: u8 = 0;
const GO: u8 = 1;
const STOP: u8 = 2;

/// What one traffic run measured.
#[derive(Clone, Debug, Serialize)]
pub struct TrafficReport {
    /// Messages sent.
    pub sent: u64,
    /// Distinct messages of ours received.
    pub received: u64,
    /// Sent but never received.
    pub lost: u64,
    /// Copies of already-received messages.
    pub duplicates: u64,
    /// Chat or gossip envelopes that were not ours.
    pub foreign: u64,
    /// Seconds from the first to the last message sent.
    pub send_s: f64,
    /// Messages sent per second.
    pub sent_per_sec: f64,
    /// Seconds from the first message sent to the last one received.
    pub delivery_s: f64,
    /// Messages received per second over `delivery_s`.
    pub delivered_per_sec: f64,
    /// Send-to-receive latency.
    pub latency: Option<LatencySummary>,
    /// Why a connection ended early, if one did.
    pub errors: Vec<String>,
    /// The target's CPU use from the first message to the last one received (with
    /// `--target-pid`).
    pub target_cpu: Option<TargetCpu>,
}

/// How busy the target process was while it relayed.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct TargetCpu {
    /// CPU seconds used (all its threads).
    pub cpu_s: f64,
    /// `cpu_s` over the wall-clock seconds of the phase (1.0 = one core busy throughout).
    pub busy: f64,
    /// CPU microseconds per message received.
    pub us_per_message: f64,
}

/// State shared by the sending and receiving threads.
struct Shared {
    clock: Clock,
    messages: Messages,
    /// Send time of each message, nanoseconds + 1 (0 = not sent).
    sent_at: Vec<AtomicU64>,
    sent: AtomicU64,
    received: AtomicU64,
    state: AtomicU8,
    /// Nanoseconds + 1 when the sender stopped (0 = still sending).
    send_end: AtomicU64,
}

/// Dials `addr` with a fresh identity and drives the link until established.
fn connect(addr: SocketAddr, clock: Clock) -> Result<(Poll, Link), String> {
    let mut rng = fast_rng();
    let identity = identities(1, &mut rng).remove(0);
    let poll = Poll::new().map_err(|e| e.to_string())?;
    let mut link =
        Link::dial(addr, &identity, clock, &mut rng).map_err(|e| format!("{addr}: {e}"))?;
    link.register(poll.registry(), Token(0))
        .map_err(|e| e.to_string())?;
    let mut poll = poll;
    let mut events = Events::with_capacity(16);
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    while !link.is_established() {
        if Instant::now() >= deadline {
            return Err(format!(
                "{addr}: not established within {CONNECT_TIMEOUT:?}"
            ));
        }
        let _ = poll.poll(&mut events, Some(Duration::from_millis(20)));
        link.ready(&mut buf, |_| {})
            .and_then(|()| link.tick())
            .map_err(|e| format!("{addr}: {e}"))?;
    }
    Ok((poll, link))
}

/// Keeps a link serviced (incoming data read and dropped, timers answered) for `wait`.
fn service(poll: &mut Poll, link: &mut Link, wait: Duration, buf: &mut [u8]) -> Result<(), String> {
    let mut events = Events::with_capacity(16);
    let _ = poll.poll(&mut events, Some(wait));
    link.ready(buf, |_| {})
        .and_then(|()| link.tick())
        .map_err(|e| e.to_string())
}

/// What to send, where, and for how long.
#[derive(Clone, Copy, Debug)]
pub struct TrafficSpec {
    /// Node the sending connection dials.
    pub send_to: SocketAddr,
    /// Node the receiving connection dials.
    pub receive_from: SocketAddr,
    /// Paced messages per second.
    pub rate: f64,
    /// How long to send.
    pub duration: Duration,
    /// How long to keep receiving after the last message was sent.
    pub drain: Duration,
    /// Most messages sent and not yet received (0 = no limit).
    pub max_in_flight: u64,
    /// The target node's process, for its CPU time.
    pub target_pid: Option<u32>,
}

/// Runs the traffic phase: `messages` sent as `spec` says, while `monitor` prints progress.
pub fn run(
    spec: &TrafficSpec,
    messages: Messages,
    clock: Clock,
    monitor: &mut Monitor,
) -> Result<TrafficReport, String> {
    let count = messages.len();
    let shared = Arc::new(Shared {
        clock,
        messages,
        sent_at: (0..count).map(|_| AtomicU64::new(0)).collect(),
        sent: AtomicU64::new(0),
        received: AtomicU64::new(0),
        state: AtomicU8::new(WAIT),
        send_end: AtomicU64::new(0),
    });
    let receiver_link = connect(spec.receive_from, clock)?;
    let sender_link = connect(spec.send_to, clock)?;
    let drain = spec.drain;
    let receiver = {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || receive(&shared, receiver_link, drain))
    };
    let sender = {
        let shared = Arc::clone(&shared);
        let limits = SendLimits {
            pacer: Pacer::new(spec.rate),
            duration: spec.duration,
            max_in_flight: spec.max_in_flight,
        };
        std::thread::spawn(move || send(&shared, sender_link, limits))
    };
    std::thread::sleep(SETTLE);
    let cpu_before = spec.target_pid.and_then(cpu_ns);
    shared.state.store(GO, Ordering::SeqCst);
    let (mut last_sent, mut last_received) = (0, 0);
    while !receiver.is_finished() {
        std::thread::sleep(Duration::from_millis(20));
        monitor.tick(|since| {
            let (sent, received) = (
                shared.sent.load(Ordering::Relaxed),
                shared.received.load(Ordering::Relaxed),
            );
            let secs = since.as_secs_f64();
            let line = format!(
                "traffic: sent {sent} ({:.0}/s) received {received} ({:.0}/s)",
                (sent - last_sent) as f64 / secs,
                (received - last_received) as f64 / secs
            );
            (last_sent, last_received) = (sent, received);
            line
        });
    }
    let cpu_after = spec.target_pid.and_then(cpu_ns);
    let received = receiver.join().map_err(|_| "receiver thread panicked")?;
    shared.state.store(STOP, Ordering::SeqCst);
    let sent = sender.join().map_err(|_| "sender thread panicked")?;
    let mut report = report(&shared, sent, received);
    if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
        let cpu_s = after.saturating_sub(before) as f64 / 1e9;
        report.target_cpu = Some(TargetCpu {
            cpu_s,
            busy: cpu_s / report.delivery_s.max(1e-9),
            us_per_message: cpu_s * 1e6 / report.received.max(1) as f64,
        });
    }
    Ok(report)
}

/// What the sender thread ends with: first and last send times (ns), and its error.
struct SendOutcome {
    first_ns: u64,
    last_ns: u64,
    error: Option<String>,
}

/// How fast and how long the sender goes.
struct SendLimits {
    pacer: Pacer,
    duration: Duration,
    /// 0 = unlimited.
    max_in_flight: u64,
}

impl SendLimits {
    /// True while one more message may be in flight after `sent` sent and `received` received.
    fn window_open(&self, sent: u64, received: u64) -> bool {
        self.max_in_flight == 0 || sent.saturating_sub(received) < self.max_in_flight
    }
}

fn send(shared: &Shared, (mut poll, mut link): (Poll, Link), limits: SendLimits) -> SendOutcome {
    let SendLimits {
        pacer, duration, ..
    } = limits;
    let mut buf = vec![0u8; 64 * 1024];
    let mut outcome = SendOutcome {
        first_ns: 0,
        last_ns: 0,
        error: None,
    };
    while shared.state.load(Ordering::SeqCst) == WAIT {
        if let Err(e) = service(&mut poll, &mut link, Duration::from_millis(5), &mut buf) {
            outcome.error = Some(format!("sender: {e}"));
            shared
                .send_end
                .store(shared.clock.nanos() + 1, Ordering::SeqCst);
            return outcome;
        }
    }
    let total = shared.messages.len() as u64;
    let start = Instant::now();
    outcome.first_ns = shared.clock.nanos();
    let mut next = 0u64;
    let mut events = Events::with_capacity(16);
    while next < total && shared.state.load(Ordering::SeqCst) == GO {
        let elapsed = start.elapsed();
        if elapsed >= duration {
            break;
        }
        let due = pacer.due(elapsed).min(total);
        while next < due
            && link.unsent() < MAX_UNSENT
            && limits.window_open(next, shared.received.load(Ordering::Relaxed))
        {
            let wire = shared.messages.wire(next as usize);
            let now = shared.clock.nanos();
            shared.sent_at[next as usize].store(now + 1, Ordering::Release);
            if let Err(e) = link.send(&wire) {
                outcome.error = Some(format!("sender: {e}"));
                break;
            }
            outcome.last_ns = now;
            next += 1;
        }
        shared.sent.store(next, Ordering::Relaxed);
        let step = link.flush().and_then(|_| link.tick());
        if let Err(e) = step {
            outcome.error = Some(format!("sender: {e}"));
        }
        if outcome.error.is_some() {
            break;
        }
        // Wait for the next message's turn, or for the socket to drain when behind.
        let wait = if next < due {
            Duration::from_millis(1)
        } else {
            pacer
                .due_at(next)
                .saturating_sub(start.elapsed())
                .min(Duration::from_millis(50))
        };
        let _ = poll.poll(&mut events, Some(wait));
        if !events.is_empty() {
            if let Err(e) = link.ready(&mut buf, |_| {}) {
                outcome.error = Some(format!("sender: {e}"));
                break;
            }
        }
    }
    shared
        .send_end
        .store(shared.clock.nanos() + 1, Ordering::SeqCst);
    // Keep the connection open (and read) until the receiver is done, so nothing we sent is
    // lost to a reset.
    while outcome.error.is_none() && shared.state.load(Ordering::SeqCst) != STOP {
        if let Err(e) = service(&mut poll, &mut link, Duration::from_millis(20), &mut buf) {
            outcome.error = Some(format!("sender: {e}"));
        }
    }
    outcome
}

/// What the receiver thread ends with.
struct ReceiveOutcome {
    latencies: Vec<u64>,
    duplicates: u64,
    foreign: u64,
    last_ns: u64,
    error: Option<String>,
}

fn receive(shared: &Shared, (mut poll, mut link): (Poll, Link), drain: Duration) -> ReceiveOutcome {
    let mut buf = vec![0u8; 256 * 1024];
    let mut seen = vec![false; shared.messages.len()];
    let mut outcome = ReceiveOutcome {
        latencies: Vec::with_capacity(shared.messages.len()),
        duplicates: 0,
        foreign: 0,
        last_ns: 0,
        error: None,
    };
    let mut events = Events::with_capacity(16);
    let mut on_envelope = |envelope: Envelope, outcome: &mut ReceiveOutcome| {
        if !msg_type::is_gossip(envelope.msg_type) {
            return;
        }
        let now = shared.clock.nanos();
        let Some(index) = shared.messages.lookup(&envelope.message_id) else {
            outcome.foreign += 1;
            return;
        };
        let sent_at = shared.sent_at[index].load(Ordering::Acquire);
        if std::mem::replace(&mut seen[index], true) || sent_at == 0 {
            outcome.duplicates += 1;
            return;
        }
        outcome.latencies.push(now.saturating_sub(sent_at - 1));
        outcome.last_ns = now;
        shared
            .received
            .store(outcome.latencies.len() as u64, Ordering::Relaxed);
    };
    loop {
        let _ = poll.poll(&mut events, Some(Duration::from_millis(20)));
        let step = link
            .ready(&mut buf, |envelope| on_envelope(envelope, &mut outcome))
            .and_then(|()| link.tick());
        if let Err(e) = step {
            outcome.error = Some(format!("receiver: {e}"));
            break;
        }
        let end = shared.send_end.load(Ordering::SeqCst);
        if end != 0 {
            let all = outcome.latencies.len() as u64 >= shared.sent.load(Ordering::Relaxed);
            let drained = shared.clock.nanos() >= end - 1 + drain.as_nanos() as u64;
            if all || drained {
                break;
            }
        }
    }
    outcome
}

fn report(shared: &Shared, sent: SendOutcome, received: ReceiveOutcome) -> TrafficReport {
    let count = shared.sent.load(Ordering::Relaxed);
    let got = received.latencies.len() as u64;
    let send_s = sent.last_ns.saturating_sub(sent.first_ns) as f64 / 1e9;
    let delivery_s = received.last_ns.saturating_sub(sent.first_ns) as f64 / 1e9;
    let per_sec = |n: u64, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
    TrafficReport {
        sent: count,
        received: got,
        lost: count.saturating_sub(got),
        duplicates: received.duplicates,
        foreign: received.foreign,
        send_s,
        sent_per_sec: per_sec(count, send_s),
        delivery_s,
        delivered_per_sec: per_sec(got, delivery_s),
        latency: summarize(received.latencies),
        errors: sent.error.into_iter().chain(received.error).collect(),
        target_cpu: None,
    }
}
