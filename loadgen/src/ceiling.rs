//! The gossip-ingest ceiling of this machine: how many chat envelopes one core can verify per
//! second, the check every relayed message costs a node at least once.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use micelio_core::envelope;
use micelio_core::proto::ChatMessage;
use serde::Serialize;

use crate::messages::{NICK, chat_text, fast_rng, identities};
use crate::monitor::thread_cpu_ns;

/// Single-threaded ED25519 verification rates.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Ceiling {
    /// Envelope verifications per second as the node performs them: signed bytes built from
    /// the envelope, the public key decoded, then `ed25519_dalek` `verify`
    /// (`micelio_core::envelope::verify`). The ceiling that ratios are taken against.
    pub verify_per_sec: f64,
    /// `ed25519_dalek` `verify` alone, on a decoded key and prepared signed bytes.
    pub raw_verify_per_sec: f64,
    /// Envelope verifications per second of this thread's CPU time: the rate with a core to
    /// itself, whatever else the machine was running (0 where /proc is missing).
    pub verify_per_cpu_sec: f64,
}

impl Ceiling {
    /// The faster of two measurements, rate by rate.
    pub fn max(self, other: Ceiling) -> Ceiling {
        Ceiling {
            verify_per_sec: self.verify_per_sec.max(other.verify_per_sec),
            raw_verify_per_sec: self.raw_verify_per_sec.max(other.raw_verify_per_sec),
            verify_per_cpu_sec: self.verify_per_cpu_sec.max(other.verify_per_cpu_sec),
        }
    }
}

/// Distinct signed messages cycled through while measuring.
const SAMPLES: usize = 64;

/// Measures both rates for about `budget` each, on chat envelopes with `text_len`-byte texts.
pub fn measure(text_len: usize, budget: Duration) -> Ceiling {
    let mut rng = fast_rng();
    let signers = identities(8, &mut rng);
    let envelopes: Vec<_> = (0..SAMPLES)
        .map(|i| {
            let line = ChatMessage {
                nick: NICK.into(),
                text: chat_text(i, text_len),
                timestamp: 0,
            };
            let signer = &signers[i % signers.len()];
            envelope::chat(signer, envelope::new_message_id(&mut rng), &line)
        })
        .collect();
    let (verify_per_sec, verify_per_cpu_sec) = rate(budget, |i| {
        let e = &envelopes[i % SAMPLES];
        envelope::verify(e, &e.sender_pubkey).is_ok()
    });
    let raw: Vec<(VerifyingKey, Vec<u8>, Signature)> = envelopes
        .iter()
        .filter_map(|e| {
            let key = VerifyingKey::from_bytes(e.sender_pubkey.as_slice().try_into().ok()?).ok()?;
            let signature = Signature::from_slice(&e.signature).ok()?;
            Some((key, envelope::signed_bytes(e), signature))
        })
        .collect();
    let (raw_verify_per_sec, _) = rate(budget, |i| {
        let (key, bytes, signature) = &raw[i % raw.len()];
        key.verify(bytes, signature).is_ok()
    });
    Ceiling {
        verify_per_sec,
        raw_verify_per_sec,
        verify_per_cpu_sec,
    }
}

/// Calls `op` until `budget` has passed (checking the clock every 64 calls); operations per
/// wall-clock second and per second of this thread's CPU time (0 if unknown). Panics if an
/// operation fails, since a failed verification would not be a measure.
fn rate(budget: Duration, mut op: impl FnMut(usize) -> bool) -> (f64, f64) {
    let start = Instant::now();
    let cpu_start = thread_cpu_ns();
    let mut done = 0usize;
    loop {
        for _ in 0..64 {
            assert!(black_box(op(black_box(done))), "verification failed");
            done += 1;
        }
        let elapsed = start.elapsed();
        if elapsed >= budget {
            let cpu = cpu_start
                .zip(thread_cpu_ns())
                .map_or(0, |(a, b)| b.saturating_sub(a));
            let per_cpu = if cpu > 0 {
                done as f64 / (cpu as f64 / 1e9)
            } else {
                0.0
            };
            return (done as f64 / elapsed.as_secs_f64(), per_cpu);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_positive_rate() {
        let c = measure(16, Duration::from_millis(20));
        assert!(c.verify_per_sec > 0.0 && c.raw_verify_per_sec > 0.0);
    }
}
