//! Benchmark of the encrypted frame path against raw ChaCha20-Poly1305 of the same bytes.
//!
//! Path, per iteration: `Connection::send_envelope` on the sender (envelope encode, frame,
//! encrypt), `poll_transmit`, `handle_input` on the receiver (record reassembly, decrypt, frame
//! decode, envelope decode) and `poll_event` (the decoded envelope). Ceiling: one
//! `encrypt_in_place_detached` and one `decrypt_in_place_detached` of exactly the plaintext the
//! connection encrypts (frame header + encoded envelope), in a reused buffer. Both run
//! interleaved in every sample (`support::Paired`); the ratio is path throughput / ceiling.

mod support;

use std::hint::black_box;

use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit, Nonce};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use micelio_core::connection::Event;
use micelio_core::envelope;
use micelio_core::frame::HEADER_LEN;
use micelio_core::time::Instant;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use support::Paired;

/// The ceiling: one encryption and one decryption of `buffer` with a fresh nonce.
struct AeadRound {
    cipher: ChaCha20Poly1305,
    buffer: Vec<u8>,
    counter: u64,
}

impl AeadRound {
    fn new(len: usize) -> Self {
        AeadRound {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&[9; 32])),
            buffer: vec![0x5a; len],
            counter: 0,
        }
    }

    fn run(&mut self) {
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&self.counter.to_le_bytes());
        self.counter += 1;
        let nonce = Nonce::from_slice(&nonce);
        let tag = self
            .cipher
            .encrypt_in_place_detached(nonce, &[], black_box(&mut self.buffer))
            .unwrap();
        self.cipher
            .decrypt_in_place_detached(nonce, &[], black_box(&mut self.buffer), &tag)
            .unwrap();
    }
}

fn frame_path(c: &mut Criterion) {
    for (label, payload_len) in [("1KiB", 1024usize), ("64KiB", 65_536)] {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let now = Instant::ZERO;
        let (mut sender, mut receiver) = support::established_pair(now, &mut rng);
        let (alice, _) = support::identities();
        let mut payload = vec![0u8; payload_len];
        rng.fill_bytes(&mut payload);
        let message = envelope::originate(
            &alice,
            envelope::new_message_id(&mut rng),
            envelope::msg_type::PLUGIN_FIRST,
            10,
            payload,
            true,
        );
        // What the connection encrypts: frame header + encoded envelope.
        let plaintext_len = HEADER_LEN + micelio_proto::encode(&message).len();

        let mut group = c.benchmark_group("frame_path");
        group.throughput(Throughput::Bytes(plaintext_len as u64));

        let mut aead = AeadRound::new(plaintext_len);
        let mut paired = Paired::default();
        group.bench_function(format!("{label}/connection"), |b| {
            b.iter_custom(|iters| {
                paired.time(
                    iters,
                    || {
                        sender.send_envelope(now, black_box(&message)).unwrap();
                        let record = sender.poll_transmit().unwrap();
                        receiver.handle_input(now, black_box(&record));
                        let Some(Event::Envelope(received)) = receiver.poll_event() else {
                            panic!("no envelope");
                        };
                        black_box(received);
                    },
                    || aead.run(),
                )
            })
        });
        group.bench_function(format!("{label}/aead_ceiling"), |b| b.iter(|| aead.run()));
        group.finish();

        if let Some((path, ceiling, ratio)) = paired.summary() {
            let mb = plaintext_len as f64 / 1e6;
            support::report(&format!(
                "frame_path {label}: {:.0} MB/s, ceiling {:.0} MB/s, ratio {ratio:.2} \
                 ({plaintext_len} plaintext bytes per record)",
                path * mb,
                ceiling * mb,
            ));
        }
    }
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = frame_path
}
criterion_main!(benches);
