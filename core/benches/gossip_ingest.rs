//! Benchmark of gossip ingestion by a `Node` with 3 peers against raw ED25519 verification.
//!
//! Ingest, per iteration: one distinct, valid chat envelope (pre-signed, with `sender_pubkey`
//! so the key is auto-learned) arrives from peer 0 as an encrypted record through
//! `Input::Received`, and `poll_output` is drained: the chat event and the relayed copies to
//! the two other peers (re-encoded with `hop_count - 1`, framed and encrypted). Senders send
//! 20 messages each (the rate limiter's burst), 10 senders interleaved at a time, so one
//! message in 20 auto-learns its key. A fresh node takes each criterion sample; records are
//! encrypted by the peer before the timed phase.
//!
//! The queued variant hands the node 32 records per `Input::Received`, as one read of a
//! socket where messages queued up: the node verifies them with one batch verification.
//!
//! Ceiling: `ed25519_dalek` single verification of the same envelopes' signed bytes with keys
//! already parsed, interleaved with the ingestion in every sample (`support::Paired`). For
//! reference: single verification including key parsing, and `verify_batch` over batches of
//! 64.

mod support;

use std::hint::black_box;
use std::time::{Duration, Instant as WallClock};

use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use micelio_core::envelope;
use micelio_core::identity::Identity;
use micelio_core::node::{ConnId, Input, Output};
use micelio_core::proto::{ChatMessage, Envelope};
use micelio_core::time::Instant;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use support::{Paired, Samples};

/// Messages per sender: the rate limiter's burst, so none is rate limited.
const PER_SENDER: usize = 20;
/// Senders interleaved in one block of the pool.
const SENDERS_PER_BLOCK: usize = 10;
/// Batch size of the batch-verification reference.
const BATCH: usize = 64;
/// Messages per read in the queued variant.
const QUEUED: usize = 32;

/// One `verify_batch` call's arguments: messages, signatures, keys.
type Batch<'a> = (Vec<&'a [u8]>, Vec<Signature>, Vec<VerifyingKey>);

/// Pre-signed chat envelopes, grown on demand by blocks of `SENDERS_PER_BLOCK` senders.
struct Pool {
    rng: ChaCha20Rng,
    senders: u32,
    encoded: Vec<Vec<u8>>,
    checks: Vec<Check>,
}

/// What verification needs for one envelope, computed before any timing.
struct Check {
    signed_bytes: Vec<u8>,
    signature: Signature,
    key: [u8; 32],
    parsed: VerifyingKey,
}

impl Check {
    fn new(envelope: &Envelope) -> Self {
        let key: [u8; 32] = envelope.sender_pubkey.as_slice().try_into().unwrap();
        Check {
            signed_bytes: envelope::signed_bytes(envelope),
            signature: Signature::from_slice(&envelope.signature).unwrap(),
            key,
            parsed: VerifyingKey::from_bytes(&key).unwrap(),
        }
    }

    /// The ceiling: a single verification with the key already parsed.
    fn verify(&self) {
        self.parsed
            .verify(black_box(&self.signed_bytes), &self.signature)
            .unwrap();
    }
}

impl Pool {
    fn new() -> Self {
        Pool {
            rng: ChaCha20Rng::seed_from_u64(4),
            senders: 0,
            encoded: Vec::new(),
            checks: Vec::new(),
        }
    }

    fn grow(&mut self, len: usize) {
        while self.encoded.len() < len {
            let block: Vec<Identity> = (0..SENDERS_PER_BLOCK)
                .map(|_| {
                    self.senders += 1;
                    let mut seed = [0u8; 32];
                    seed[..4].copy_from_slice(&self.senders.to_le_bytes());
                    seed[31] = 0xb5;
                    Identity::from_seed(&seed)
                })
                .collect();
            for round in 0..PER_SENDER {
                for (index, sender) in block.iter().enumerate() {
                    let line = ChatMessage {
                        nick: format!("sender-{index}"),
                        text: format!(
                            "message {round} of a benchmark chat line, about as long as a real one"
                        ),
                        timestamp: 1_700_000_000,
                    };
                    let chat =
                        envelope::chat(sender, envelope::new_message_id(&mut self.rng), &line);
                    self.encoded.push(micelio_proto::encode(&chat));
                    self.checks.push(Check::new(&chat));
                }
            }
        }
    }
}

/// One criterion sample: a fresh node with 3 peers ingests the first `iters` envelopes of
/// the pool, all from peer 0; only the ingestion is timed. The ceiling verifies the same
/// envelopes, interleaved chunk by chunk with the ingestion (see [`Paired`]).
///
/// `per_input` records arrive in each `Input::Received` (1: one read per message; more: the
/// messages queued up in the socket and one read returns them together).
fn ingest_sample(pool: &mut Pool, paired: &mut Paired, iters: u64, per_input: usize) -> Duration {
    let count = iters as usize;
    pool.grow(count);
    let now = Instant::ZERO;
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let (mut node, mut peers) = support::node_with_peers(3, now, &mut rng);
    let from = &mut peers[0];
    let records: Vec<Vec<u8>> = pool.encoded[..count]
        .iter()
        .map(|bytes| {
            from.send(now, bytes).unwrap();
            from.poll_transmit().unwrap()
        })
        .collect();

    let ranges: Vec<std::ops::Range<usize>> = support::chunk_ranges(iters)
        .map(|r| r.start as usize..r.end as usize)
        .collect();
    // The inputs of each range, built before timing.
    let inputs: Vec<Vec<Vec<u8>>> = ranges
        .iter()
        .map(|range| {
            records[range.clone()]
                .chunks(per_input)
                .map(|group| group.concat())
                .collect()
        })
        .collect();

    let (mut relayed, mut events) = (0u64, 0u64);
    let mut ingest = |records: &[Vec<u8>]| {
        let start = WallClock::now();
        for record in records {
            node.handle_input(
                now,
                Input::Received {
                    conn: ConnId(0),
                    data: black_box(record),
                },
            );
            loop {
                match node.poll_output() {
                    Output::Transmit { data, .. } => {
                        black_box(data);
                        relayed += 1;
                    }
                    Output::Event(event) => {
                        black_box(event);
                        events += 1;
                    }
                    Output::Timeout(_) => break,
                    _ => {}
                }
            }
        }
        start.elapsed()
    };
    let verify = |checks: &[Check]| {
        let start = WallClock::now();
        checks.iter().for_each(Check::verify);
        start.elapsed()
    };
    let (mut elapsed, mut ceiling) = (Duration::ZERO, Duration::ZERO);
    for (index, (range, inputs)) in ranges.into_iter().zip(&inputs).enumerate() {
        if index % 2 == 0 {
            elapsed += ingest(inputs);
            ceiling += verify(&pool.checks[range]);
        } else {
            ceiling += verify(&pool.checks[range]);
            elapsed += ingest(inputs);
        }
    }

    let stats = node.gossip_stats();
    assert_eq!((stats.received, stats.rejected), (iters, 0), "{stats:?}");
    assert_eq!((events, relayed), (iters, 2 * iters));
    paired.record(iters, elapsed, ceiling)
}

fn gossip_ingest(c: &mut Criterion) {
    let mut pool = Pool::new();
    pool.grow(2_000);
    let mut group = c.benchmark_group("gossip_ingest");

    let mut paired = Paired::default();
    group.bench_function("node", |b| {
        b.iter_custom(|iters| ingest_sample(&mut pool, &mut paired, iters, 1))
    });
    let mut queued = Paired::default();
    group.bench_function(format!("node_queued_{QUEUED}"), |b| {
        b.iter_custom(|iters| ingest_sample(&mut pool, &mut queued, iters, QUEUED))
    });

    let checks = &pool.checks;
    let mut next = 0;
    group.bench_function("verify_ceiling", |b| {
        b.iter(|| {
            checks[next % checks.len()].verify();
            next += 1;
        })
    });

    let mut parse_verify = Samples::default();
    group.bench_function("parse_and_verify", |b| {
        b.iter_custom(|iters| {
            parse_verify.time(iters, || {
                let check = &checks[next % checks.len()];
                next += 1;
                let key = VerifyingKey::from_bytes(black_box(&check.key)).unwrap();
                key.verify(black_box(&check.signed_bytes), &check.signature)
                    .unwrap();
            })
        })
    });

    let batches: Vec<Batch> = checks
        .chunks_exact(BATCH)
        .map(|chunk| {
            (
                chunk.iter().map(|c| c.signed_bytes.as_slice()).collect(),
                chunk.iter().map(|c| c.signature).collect(),
                chunk.iter().map(|c| c.parsed).collect(),
            )
        })
        .collect();
    let mut batch = Samples::default();
    group.bench_function(format!("verify_batch_{BATCH}"), |b| {
        b.iter_custom(|iters| {
            batch.time(iters, || {
                let (messages, signatures, keys) = &batches[next % batches.len()];
                next += 1;
                ed25519_dalek::verify_batch(black_box(messages), signatures, keys).unwrap();
            })
        })
    });
    group.finish();

    if let Some((ingest, ceiling, ratio)) = paired.summary() {
        support::report(&format!(
            "gossip_ingest: {ingest:.0} messages/s, ceiling (single verify) {ceiling:.0} \
             messages/s, ratio {ratio:.2}"
        ));
    }
    if let Some((ingest, ceiling, ratio)) = queued.summary() {
        support::report(&format!(
            "gossip_ingest, {QUEUED} messages per read (batch verification): {ingest:.0} \
             messages/s, ceiling (single verify) {ceiling:.0} messages/s, ratio {ratio:.2}"
        ));
    }
    if let Some(parse_verify) = parse_verify.per_second() {
        support::report(&format!(
            "gossip_ingest reference: key parsing + single verify {parse_verify:.0} messages/s"
        ));
    }
    if let Some(batch) = batch.per_second() {
        support::report(&format!(
            "gossip_ingest reference: verify_batch of {BATCH} {:.0} messages/s",
            batch * BATCH as f64
        ));
    }
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = gossip_ingest
}
criterion_main!(benches);
