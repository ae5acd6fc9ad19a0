//! Helpers shared by the benchmarks: criterion settings, sample recording, in-memory wiring.
// Each benchmark binary uses a subset of these helpers.
#![allow(dead_code)]

use std::ops::Range;
use std::time::{Duration, Instant as WallClock};

use criterion::Criterion;
use micelio_core::connection::{Connection, ConnectionConfig, Event, LocalHello, Role};
use micelio_core::identity::Identity;
use micelio_core::node::{ConnId, Input, Node, NodeConfig, Output};
use micelio_core::time::Instant;
use rand_chacha::ChaCha20Rng;

/// Samples criterion takes per benchmark (the ratio uses the same samples).
pub const SAMPLE_SIZE: usize = 20;

/// Modest settings so the three benchmarks run in a couple of minutes on a 2-core machine.
pub fn criterion() -> Criterion {
    Criterion::default()
        .sample_size(SAMPLE_SIZE)
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args()
}

/// The timings criterion asked for, kept so the benchmark can print its own figures.
///
/// Criterion runs the routine first for warm-up, then exactly [`SAMPLE_SIZE`] times for its
/// measurement: the figure is the median time per iteration over those last samples.
#[derive(Default)]
pub struct Samples {
    samples: Vec<(Duration, u64)>,
}

impl Samples {
    /// Records one sample of `iters` iterations that took `elapsed`, and returns `elapsed`
    /// for criterion.
    pub fn record(&mut self, iters: u64, elapsed: Duration) -> Duration {
        self.samples.push((elapsed, iters));
        elapsed
    }

    /// Times `iters` calls of `routine`, records the sample and returns its duration.
    pub fn time(&mut self, iters: u64, mut routine: impl FnMut()) -> Duration {
        let start = WallClock::now();
        for _ in 0..iters {
            routine();
        }
        let elapsed = start.elapsed();
        self.record(iters, elapsed)
    }

    /// Median seconds per iteration over the measurement samples; `None` if the benchmark did
    /// not run (filtered out) or ran in `--test` mode.
    pub fn seconds_per_iter(&self) -> Option<f64> {
        if self.samples.len() < SAMPLE_SIZE {
            return None;
        }
        let mut per_iter: Vec<f64> = self.samples[self.samples.len() - SAMPLE_SIZE..]
            .iter()
            .map(|(elapsed, iters)| elapsed.as_secs_f64() / *iters as f64)
            .collect();
        per_iter.sort_by(f64::total_cmp);
        Some((per_iter[SAMPLE_SIZE / 2 - 1] + per_iter[SAMPLE_SIZE / 2]) / 2.0)
    }

    /// Iterations per second (median), see [`Samples::seconds_per_iter`].
    pub fn per_second(&self) -> Option<f64> {
        self.seconds_per_iter().map(|s| 1.0 / s)
    }
}

/// Chunks each sample of a [`Paired`] measurement is cut into.
pub const CHUNKS: u64 = 16;

/// The iteration ranges of one sample's chunks (at most [`CHUNKS`]).
pub fn chunk_ranges(iters: u64) -> impl Iterator<Item = Range<u64>> {
    let size = iters.div_ceil(CHUNKS).max(1);
    (0..iters)
        .step_by(size as usize)
        .map(move |start| start..(start + size).min(iters))
}

/// Runs `routine` `count` times and returns how long that took.
pub fn run(count: u64, routine: &mut dyn FnMut()) -> Duration {
    let start = WallClock::now();
    for _ in 0..count {
        routine();
    }
    start.elapsed()
}

/// A benchmark and its ceiling measured together, so that both see the same load on a shared
/// machine: each criterion sample is cut into [`CHUNKS`] chunks, and every chunk of the
/// benchmark is followed (or, every other chunk, preceded) by the same number of iterations of
/// the ceiling. The ratio is the median of the per-sample ratios.
///
/// Only the benchmark's time goes to criterion.
#[derive(Default)]
pub struct Paired {
    path: Samples,
    ceiling: Samples,
}

impl Paired {
    /// Records one sample of both; returns the path's time for criterion.
    pub fn record(&mut self, iters: u64, path: Duration, ceiling: Duration) -> Duration {
        self.ceiling.record(iters, ceiling);
        self.path.record(iters, path)
    }

    /// Times `iters` calls of `path` and of `ceiling`, interleaved chunk by chunk.
    pub fn time(
        &mut self,
        iters: u64,
        mut path: impl FnMut(),
        mut ceiling: impl FnMut(),
    ) -> Duration {
        let (mut path_time, mut ceiling_time) = (Duration::ZERO, Duration::ZERO);
        for (index, range) in chunk_ranges(iters).enumerate() {
            let count = range.end - range.start;
            if index % 2 == 0 {
                path_time += run(count, &mut path);
                ceiling_time += run(count, &mut ceiling);
            } else {
                ceiling_time += run(count, &mut ceiling);
                path_time += run(count, &mut path);
            }
        }
        self.record(iters, path_time, ceiling_time)
    }

    /// (path per second, ceiling per second, median of per-sample ratios path/ceiling), each a
    /// median over the measurement samples; `None` if criterion did not measure.
    pub fn summary(&self) -> Option<(f64, f64, f64)> {
        let path = self.path.per_second()?;
        let ceiling = self.ceiling.per_second()?;
        let n = self.path.samples.len();
        let mut ratios: Vec<f64> = self.path.samples[n - SAMPLE_SIZE..]
            .iter()
            .zip(&self.ceiling.samples[n - SAMPLE_SIZE..])
            .map(|((path, _), (ceiling, _))| ceiling.as_secs_f64() / path.as_secs_f64())
            .collect();
        ratios.sort_by(f64::total_cmp);
        Some((
            path,
            ceiling,
            (ratios[SAMPLE_SIZE / 2 - 1] + ratios[SAMPLE_SIZE / 2]) / 2.0,
        ))
    }
}

/// Prints one result line to stdout (criterion's own lines stay as they are).
pub fn report(line: &str) {
    println!("==> {line}");
}

/// A two-side identity pair for connection benchmarks.
pub fn identities() -> (Identity, Identity) {
    (Identity::from_seed(&[1; 32]), Identity::from_seed(&[2; 32]))
}

/// Feeds every record queued on one side to the other until both are quiet.
pub fn pump(a: &mut Connection, b: &mut Connection, now: Instant) {
    while a.queued_transmits() + b.queued_transmits() > 0 {
        while let Some(record) = a.poll_transmit() {
            b.handle_input(now, &record);
        }
        while let Some(record) = b.poll_transmit() {
            a.handle_input(now, &record);
        }
    }
}

/// A full connection setup (Noise XX and hello exchange), both sides in memory.
pub fn connect(
    initiator: &Identity,
    responder: &Identity,
    now: Instant,
    rng: &mut ChaCha20Rng,
) -> (Connection, Connection) {
    let config = ConnectionConfig::default();
    let hello = LocalHello::default();
    let mut a = Connection::new(
        Role::Initiator,
        config.clone(),
        initiator,
        hello.clone(),
        now,
        rng,
    );
    let mut b = Connection::new(Role::Responder, config, responder, hello, now, rng);
    pump(&mut a, &mut b, now);
    (a, b)
}

/// Two established connections with their setup events drained.
pub fn established_pair(now: Instant, rng: &mut ChaCha20Rng) -> (Connection, Connection) {
    let (alice, bob) = identities();
    let (mut a, mut b) = connect(&alice, &bob, now, rng);
    assert!(a.is_established() && b.is_established());
    while a.poll_event().is_some() {}
    while b.poll_event().is_some() {}
    (a, b)
}

/// A node that accepted `count` peers, each a bare initiator [`Connection`] in memory on
/// `ConnId(i)`; returns once every peer is admitted, with the node's outputs drained.
pub fn node_with_peers(count: u64, now: Instant, rng: &mut ChaCha20Rng) -> (Node, Vec<Connection>) {
    let config = NodeConfig {
        listening: true,
        advertised_addr: "10.0.0.1:4000".into(),
        ..NodeConfig::default()
    };
    let mut node = Node::new(config, Identity::from_seed(&[100; 32]), [7; 32], now, 0);
    let mut peers = Vec::new();
    for i in 0..count {
        let identity = Identity::from_seed(&[101 + i as u8; 32]);
        let conn = ConnId(i);
        node.handle_input(
            now,
            Input::Accepted {
                conn,
                remote_addr: "10.0.0.9:50000",
            },
        );
        let mut peer = Connection::new(
            Role::Initiator,
            ConnectionConfig::default(),
            &identity,
            LocalHello::default(),
            now,
            rng,
        );
        loop {
            let mut moved = false;
            while let Some(record) = peer.poll_transmit() {
                node.handle_input(
                    now,
                    Input::Received {
                        conn,
                        data: &record,
                    },
                );
                moved = true;
            }
            loop {
                match node.poll_output() {
                    // Only the peer being admitted has anything left to hear.
                    Output::Transmit { conn: to, data } if to == conn => {
                        peer.handle_input(now, &data);
                        moved = true;
                    }
                    Output::Timeout(_) => break,
                    _ => {}
                }
            }
            if !moved {
                break;
            }
        }
        assert!(peer.is_established(), "peer {i} not established");
        while peer.poll_event().is_some() {}
        peers.push(peer);
    }
    assert_eq!(node.peer_count(), count as usize);
    (node, peers)
}

/// Drains a connection's events, returning how many were envelopes.
pub fn drain_envelopes(connection: &mut Connection) -> usize {
    let mut envelopes = 0;
    while let Some(event) = connection.poll_event() {
        if matches!(event, Event::Envelope(_)) {
            envelopes += 1;
        }
    }
    envelopes
}
