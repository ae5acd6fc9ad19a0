//! Benchmark of a full connection setup (Noise XX + hello exchange, both sides) against raw snow.
//!
//! Setup, per iteration: `Connection::new` in both roles, records carried both ways until both
//! are established. Ceiling: what that setup cannot avoid, done directly with the crates: a
//! `snow` XX handshake in both roles with the same resolver shape as the core (ephemeral key
//! from the caller's RNG, raw split), two ED25519 signatures of the hellos' signed bytes and
//! two verifications (key parsing included: each hello brings a key never seen before). Both
//! run interleaved in every sample (`support::Paired`); the ratio is setups/s over ceiling/s.

mod support;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use micelio_core::envelope::{self, HelloKind};
use micelio_core::identity::Identity;
use micelio_core::noise::PROTOCOL_NAME;
use micelio_core::time::Instant;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use snow::params::{CipherChoice, DHChoice, HashChoice};
use snow::resolvers::{CryptoResolver, DefaultResolver};
use snow::types::{Cipher, Dh, Hash, Random};

use support::Paired;

/// snow's randomness: 32 bytes drawn by the caller (the ephemeral key), as in the core.
struct Ephemeral(Option<[u8; 32]>);

impl Random for Ephemeral {
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), snow::Error> {
        let key = self.0.take().ok_or(snow::Error::Rng)?;
        dest.copy_from_slice(&key[..dest.len()]);
        Ok(())
    }
}

struct Resolver([u8; 32]);

impl CryptoResolver for Resolver {
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        Some(Box::new(Ephemeral(Some(self.0))))
    }
    fn resolve_dh(&self, choice: &DHChoice) -> Option<Box<dyn Dh>> {
        DefaultResolver.resolve_dh(choice)
    }
    fn resolve_hash(&self, choice: &HashChoice) -> Option<Box<dyn Hash>> {
        DefaultResolver.resolve_hash(choice)
    }
    fn resolve_cipher(&self, choice: &CipherChoice) -> Option<Box<dyn Cipher>> {
        DefaultResolver.resolve_cipher(choice)
    }
}

fn snow_state(
    initiator: bool,
    static_key: &[u8; 32],
    rng: &mut ChaCha20Rng,
) -> snow::HandshakeState {
    let mut ephemeral = [0u8; 32];
    rng.fill_bytes(&mut ephemeral);
    let builder = snow::Builder::with_resolver(
        PROTOCOL_NAME.parse().unwrap(),
        Box::new(Resolver(ephemeral)),
    )
    .local_private_key(static_key)
    .unwrap();
    if initiator {
        builder.build_initiator().unwrap()
    } else {
        builder.build_responder().unwrap()
    }
}

/// Raw XX: three messages with empty payloads, then the raw split on both sides.
fn raw_handshake(alice: &Identity, bob: &Identity, rng: &mut ChaCha20Rng) {
    let mut a = snow_state(true, alice.x25519_private(), rng);
    let mut b = snow_state(false, bob.x25519_private(), rng);
    let (mut message, mut payload) = ([0u8; 128], [0u8; 128]);
    let len = a.write_message(&[], &mut message).unwrap();
    b.read_message(&message[..len], &mut payload).unwrap();
    let len = b.write_message(&[], &mut message).unwrap();
    a.read_message(&message[..len], &mut payload).unwrap();
    let len = a.write_message(&[], &mut message).unwrap();
    b.read_message(&message[..len], &mut payload).unwrap();
    black_box((a.dangerously_get_raw_split(), b.dangerously_get_raw_split()));
}

fn connection_setup(c: &mut Criterion) {
    let (alice, bob) = support::identities();
    let now = Instant::ZERO;
    let mut group = c.benchmark_group("connection_setup");

    // The hellos' signed bytes, as the two connections sign and verify them.
    let mut ids = ChaCha20Rng::seed_from_u64(3);
    let hellos: Vec<(SigningKey, VerifyingKey, Vec<u8>)> = [&alice, &bob]
        .into_iter()
        .zip([HelloKind::Hello, HelloKind::Ack])
        .map(|(identity, kind)| {
            let hello = envelope::local_hello(identity, Vec::new(), String::new());
            let hello = envelope::hello(identity, envelope::new_message_id(&mut ids), kind, &hello);
            let signing = SigningKey::from_bytes(&identity.seed());
            (
                signing.clone(),
                signing.verifying_key(),
                envelope::signed_bytes(&hello),
            )
        })
        .collect();
    let mut raw_rng = ChaCha20Rng::seed_from_u64(2);
    let mut ceiling = || {
        raw_handshake(&alice, &bob, &mut raw_rng);
        for (signing, verifying, message) in &hellos {
            let signature: Signature = signing.sign(black_box(message));
            let key = VerifyingKey::from_bytes(black_box(verifying.as_bytes())).unwrap();
            key.verify(message, &signature).unwrap();
        }
    };

    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let mut paired = Paired::default();
    group.bench_function("connection", |b| {
        b.iter_custom(|iters| {
            paired.time(
                iters,
                || {
                    let (a, b) = support::connect(&alice, &bob, now, &mut rng);
                    assert!(a.is_established() && b.is_established());
                    black_box((a, b));
                },
                &mut ceiling,
            )
        })
    });
    group.bench_function("snow_ed25519_ceiling", |b| b.iter(&mut ceiling));
    group.finish();

    if let Some((setup, ceiling, ratio)) = paired.summary() {
        support::report(&format!(
            "connection_setup: {setup:.0} setups/s ({:.0} us), ceiling {ceiling:.0}/s ({:.0} us), \
             ratio {ratio:.2}",
            1e6 / setup,
            1e6 / ceiling,
        ));
    }
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = connection_setup
}
criterion_main!(benches);
