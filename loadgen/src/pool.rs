//! Many connections on one mio poll: opened with bounded concurrency (handshakes/s), then
//! either closed at once or held idle (keepalives answered) for memory measurements.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};
use serde::Serialize;

use crate::clock::Clock;
use crate::connection::{Link, LinkError};
use crate::messages::{fast_rng, identities};
use crate::monitor::Monitor;

/// How often every connection's timers are checked.
const TICK_EVERY: Duration = Duration::from_millis(100);

/// Outcome of opening connections.
#[derive(Clone, Debug, Default, Serialize)]
pub struct HandshakeReport {
    /// Connections attempted.
    pub attempted: usize,
    /// Connections that completed the Noise handshake and the hello exchange.
    pub established: usize,
    /// Connections that failed, by reason.
    pub failures: BTreeMap<String, usize>,
    /// Seconds from the first dial to the last outcome.
    pub elapsed_s: f64,
    /// Established connections per second.
    pub per_sec: f64,
    /// The target's CPU microseconds per established connection (with `--target-pid`).
    pub target_cpu_us_per_handshake: Option<f64>,
}

struct Slot {
    link: Link,
    established: bool,
}

/// A set of connections driven by one poll.
pub struct Pool {
    poll: Poll,
    events: Events,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    clock: Clock,
    buf: Vec<u8>,
    /// Established connections closed by the node (or by a timeout) while held.
    pub lost: BTreeMap<String, usize>,
}

impl Pool {
    /// An empty pool.
    pub fn new(clock: Clock) -> io::Result<Pool> {
        Ok(Pool {
            poll: Poll::new()?,
            events: Events::with_capacity(1024),
            slots: Vec::new(),
            free: Vec::new(),
            clock,
            buf: vec![0; 64 * 1024],
            lost: BTreeMap::new(),
        })
    }

    /// Established connections currently held.
    pub fn held(&self) -> usize {
        self.slots
            .iter()
            .flatten()
            .filter(|slot| slot.established)
            .count()
    }

    /// Opens `count` connections with fresh identities, round-robin over `targets`, at most
    /// `concurrency` in progress at once. Established ones are kept when `keep`, closed
    /// otherwise. Identities are created before the clock starts.
    pub fn open(
        &mut self,
        targets: &[SocketAddr],
        count: usize,
        concurrency: usize,
        keep: bool,
        monitor: &mut Monitor,
    ) -> HandshakeReport {
        let cpu_before = monitor.target_cpu_ns();
        let mut rng = fast_rng();
        let ids = identities(count, &mut rng);
        let mut report = HandshakeReport {
            attempted: count,
            ..HandshakeReport::default()
        };
        let start = Instant::now();
        let (mut started, mut pending) = (0, 0);
        let mut last_tick = start;
        let mut last_established = 0;
        while started < count || pending > 0 {
            while pending < concurrency && started < count {
                let target = targets[started % targets.len()];
                match Link::dial(target, &ids[started], self.clock, &mut rng)
                    .and_then(|link| self.insert(link))
                {
                    Ok(()) => pending += 1,
                    Err(e) => {
                        *report
                            .failures
                            .entry(format!("dial: {}", e.kind()))
                            .or_default() += 1
                    }
                }
                started += 1;
            }
            self.turn(
                Duration::from_millis(20),
                &mut last_tick,
                keep,
                &mut report,
                &mut pending,
            );
            monitor.tick(|since| {
                let rate = (report.established - last_established) as f64 / since.as_secs_f64();
                last_established = report.established;
                format!(
                    "handshakes: {}/{count} established, {} failed, {pending} in progress, {rate:.0}/s",
                    report.established,
                    report.failures.values().sum::<usize>()
                )
            });
        }
        report.elapsed_s = start.elapsed().as_secs_f64();
        report.per_sec = report.established as f64 / report.elapsed_s.max(1e-9);
        report.target_cpu_us_per_handshake = cpu_before
            .zip(monitor.target_cpu_ns())
            .filter(|_| report.established > 0)
            .map(|(a, b)| b.saturating_sub(a) as f64 / 1e3 / report.established as f64);
        report
    }

    /// Keeps the held connections alive (reading what arrives, answering timers) for
    /// `duration`.
    pub fn hold(&mut self, duration: Duration, monitor: &mut Monitor) {
        let end = Instant::now() + duration;
        let mut report = HandshakeReport::default();
        let mut pending = 0;
        let mut last_tick = Instant::now();
        while Instant::now() < end {
            self.turn(
                Duration::from_millis(50),
                &mut last_tick,
                true,
                &mut report,
                &mut pending,
            );
            let held = self.held();
            monitor.tick(|_| format!("idle: {held} connections held"));
        }
    }

    /// Closes every connection.
    pub fn close_all(&mut self) {
        for slot in self.slots.iter_mut() {
            if let Some(mut slot) = slot.take() {
                slot.link.deregister(self.poll.registry());
            }
        }
        self.slots.clear();
        self.free.clear();
    }

    fn insert(&mut self, mut link: Link) -> io::Result<()> {
        let token = self.free.pop().unwrap_or(self.slots.len());
        link.register(self.poll.registry(), Token(token))?;
        let slot = Some(Slot {
            link,
            established: false,
        });
        if token == self.slots.len() {
            self.slots.push(slot);
        } else {
            self.slots[token] = slot;
        }
        Ok(())
    }

    fn remove(&mut self, token: usize) {
        if let Some(mut slot) = self.slots[token].take() {
            slot.link.deregister(self.poll.registry());
            self.free.push(token);
        }
    }

    /// One turn of the loop: waits up to `timeout` for readiness, drives the ready
    /// connections, and every [`TICK_EVERY`] gives every connection its timers.
    fn turn(
        &mut self,
        timeout: Duration,
        last_tick: &mut Instant,
        keep: bool,
        report: &mut HandshakeReport,
        pending: &mut usize,
    ) {
        let _ = self.poll.poll(&mut self.events, Some(timeout));
        let ready: Vec<usize> = self.events.iter().map(|e| e.token().0).collect();
        for token in ready {
            self.drive(
                token,
                |link, buf| link.ready(buf, |_| {}),
                keep,
                report,
                pending,
            );
        }
        if last_tick.elapsed() >= TICK_EVERY {
            *last_tick = Instant::now();
            for token in 0..self.slots.len() {
                self.drive(token, |link, _| link.tick(), keep, report, pending);
            }
        }
    }

    /// Runs `step` on connection `token` and records what happened to it.
    fn drive(
        &mut self,
        token: usize,
        step: impl FnOnce(&mut Link, &mut [u8]) -> Result<(), LinkError>,
        keep: bool,
        report: &mut HandshakeReport,
        pending: &mut usize,
    ) {
        let Some(slot) = self.slots.get_mut(token).and_then(Option::as_mut) else {
            return;
        };
        let result = step(&mut slot.link, &mut self.buf);
        let was_established = slot.established;
        match result {
            Err(error) => {
                let reason = error.to_string();
                if was_established {
                    *self.lost.entry(reason).or_default() += 1;
                } else {
                    *report.failures.entry(reason).or_default() += 1;
                    *pending -= 1;
                }
                self.remove(token);
            }
            Ok(()) if !was_established && slot.link.is_established() => {
                slot.established = true;
                report.established += 1;
                *pending -= 1;
                if !keep {
                    self.remove(token);
                }
            }
            Ok(()) => {}
        }
    }
}
