//! Tests of the Noise layer (PROTOCOL.md §5, TESTS.md §7): the XX handshake, length-prefixed
//! records (`RecordDecoder`), the large-message ChaCha20-Poly1305 transport and their failure
//! modes, with property tests for chunking, tampering and hostile handshake input.

use std::sync::OnceLock;

use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit, Nonce};
use micelio_core::identity::Identity;
use micelio_core::noise::{
    HANDSHAKE_PREFIX_LEN, Handshake, HandshakeOutcome, MAX_TRANSPORT_MESSAGE, NoiseError,
    RecordDecoder, TAG_LEN, TRANSPORT_PREFIX_LEN, Transport,
};
use proptest::prelude::*;
use proptest::sample::Index;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

/// Largest plaintext that fits one transport message (one maximum frame).
const MAX_PLAINTEXT: usize = MAX_TRANSPORT_MESSAGE - TAG_LEN;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The initiator's identity (computed once: key derivation is slow in debug builds).
fn identity_a() -> &'static Identity {
    static A: OnceLock<Identity> = OnceLock::new();
    A.get_or_init(|| Identity::from_seed(&[0x01; 32]))
}

/// The responder's identity.
fn identity_b() -> &'static Identity {
    static B: OnceLock<Identity> = OnceLock::new();
    B.get_or_init(|| Identity::from_seed(&[0x02; 32]))
}

const EPHEMERAL_A: [u8; 32] = [0x40; 32];
const EPHEMERAL_B: [u8; 32] = [0x60; 32];

/// A completed handshake: both outcomes and the three prefixed messages as sent.
struct Session {
    initiator: HandshakeOutcome,
    responder: HandshakeOutcome,
    wire: [Vec<u8>; 3],
}

/// Decodes exactly one complete record from `wire`, which must hold nothing else.
fn single_record(decoder: &mut RecordDecoder, wire: &[u8]) -> Vec<u8> {
    let mut input = wire;
    let body = decoder
        .decode(&mut input)
        .expect("record")
        .expect("complete record");
    assert!(
        input.is_empty(),
        "{} bytes left after the record",
        input.len()
    );
    assert_eq!(decoder.buffered(), 0);
    body
}

/// Runs XX between `a` (initiator) and `b` (responder) through each side's `RecordDecoder`.
fn handshake(a: &Identity, b: &Identity, ephemeral_a: [u8; 32], ephemeral_b: [u8; 32]) -> Session {
    let mut init = Handshake::new(true, a.x25519_private(), ephemeral_a).unwrap();
    let mut resp = Handshake::new(false, b.x25519_private(), ephemeral_b).unwrap();
    let mut init_rx = RecordDecoder::new();
    let mut resp_rx = RecordDecoder::new();
    assert!(init.is_my_turn() && !resp.is_my_turn());
    assert!(!init.is_finished() && !resp.is_finished());

    let mut msg1 = Vec::new();
    init.write_message(&mut msg1).unwrap();
    resp.read_message(&single_record(&mut resp_rx, &msg1))
        .unwrap();
    assert!(!init.is_my_turn() && resp.is_my_turn());

    let mut msg2 = Vec::new();
    resp.write_message(&mut msg2).unwrap();
    init.read_message(&single_record(&mut init_rx, &msg2))
        .unwrap();

    let mut msg3 = Vec::new();
    init.write_message(&mut msg3).unwrap();
    assert!(init.is_finished());
    assert!(!resp.is_finished());
    resp.read_message(&single_record(&mut resp_rx, &msg3))
        .unwrap();
    assert!(resp.is_finished());

    Session {
        initiator: init.finish().unwrap(),
        responder: resp.finish().unwrap(),
        wire: [msg1, msg2, msg3],
    }
}

fn session() -> Session {
    handshake(identity_a(), identity_b(), EPHEMERAL_A, EPHEMERAL_B)
}

/// The split keys of the fixed session, computed once.
fn split_keys() -> ([u8; 32], [u8; 32]) {
    static KEYS: OnceLock<([u8; 32], [u8; 32])> = OnceLock::new();
    *KEYS.get_or_init(|| session().initiator.split)
}

/// A fresh (initiator, responder) transport pair on the fixed session's keys.
fn transports() -> (Transport, Transport) {
    let (k1, k2) = split_keys();
    (
        Transport::from_split(&k1, &k2, true),
        Transport::from_split(&k1, &k2, false),
    )
}

/// The body of a record (prefix stripped), after checking the prefix.
fn body(record: &[u8]) -> Vec<u8> {
    let prefix: [u8; 4] = record[..TRANSPORT_PREFIX_LEN].try_into().unwrap();
    assert_eq!(
        u32::from_be_bytes(prefix) as usize,
        record.len() - TRANSPORT_PREFIX_LEN
    );
    record[TRANSPORT_PREFIX_LEN..].to_vec()
}

/// Seals `plaintext` on `from` and opens it on `to`, checking it is one message of the
/// expected size on the wire.
fn send(from: &mut Transport, to: &mut Transport, plaintext: &[u8]) {
    let record = from.encrypt_record(plaintext).unwrap();
    assert_eq!(
        record.len(),
        TRANSPORT_PREFIX_LEN + plaintext.len() + TAG_LEN
    );
    let mut message = body(&record);
    to.open(&mut message).unwrap();
    assert!(
        message == plaintext,
        "plaintext altered ({} bytes)",
        plaintext.len()
    );
}

/// `len` deterministic bytes.
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut out = vec![0u8; len];
    ChaCha20Rng::seed_from_u64(seed).fill_bytes(&mut out);
    out
}

/// Splits `stream` at the given cut points (mapped onto its length).
fn chunks<'a>(stream: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
    points.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for p in points {
        out.push(&stream[start..p]);
        start = p;
    }
    out.push(&stream[start..]);
    out
}

// ---------------------------------------------------------------------------------------------
// Handshake (TESTS.md §7, TestHandshakeAndPeerStatic)
// ---------------------------------------------------------------------------------------------

#[test]
fn handshake_authenticates_both_static_keys() {
    let (a, b) = (identity_a(), identity_b());
    let s = handshake(a, b, EPHEMERAL_A, EPHEMERAL_B);
    assert_eq!(&s.initiator.remote_static, b.x25519_public());
    assert_eq!(&s.responder.remote_static, a.x25519_public());
    assert_eq!(s.initiator.handshake_hash, s.responder.handshake_hash);
    assert_eq!(s.initiator.split, s.responder.split);
    assert_ne!(s.initiator.split.0, s.initiator.split.1);
}

#[test]
fn handshake_messages_have_spec_sizes() {
    // §5.2: 32, 96 and 64 bytes, so the stream starts 00 20 / 00 60 / 00 40.
    let s = session();
    let sizes = [32usize, 96, 64];
    for (message, size) in s.wire.iter().zip(sizes) {
        assert_eq!(message.len(), HANDSHAKE_PREFIX_LEN + size);
        assert_eq!(message[..2], (size as u16).to_be_bytes());
    }
}

#[test]
fn handshake_is_deterministic_for_fixed_keys() {
    let first = session();
    let second = session();
    assert_eq!(first.wire, second.wire);
    assert_eq!(
        first.initiator.handshake_hash,
        second.initiator.handshake_hash
    );
    // A different ephemeral key gives a different session.
    let other = handshake(identity_a(), identity_b(), [0x41; 32], EPHEMERAL_B);
    assert_ne!(other.wire[0], first.wire[0]);
    assert_ne!(
        other.initiator.handshake_hash,
        first.initiator.handshake_hash
    );
    assert_ne!(other.initiator.split, first.initiator.split);
}

#[test]
fn handshake_between_random_identities() {
    let mut rng = ChaCha20Rng::seed_from_u64(0x6d69_6365_6c69_6f00);
    for _ in 0..3 {
        let a = Identity::generate(&mut rng);
        let b = Identity::generate(&mut rng);
        let mut ea = [0u8; 32];
        let mut eb = [0u8; 32];
        rng.fill_bytes(&mut ea);
        rng.fill_bytes(&mut eb);
        let s = handshake(&a, &b, ea, eb);
        assert_eq!(&s.initiator.remote_static, b.x25519_public());
        assert_eq!(&s.responder.remote_static, a.x25519_public());
        assert_eq!(s.initiator.handshake_hash, s.responder.handshake_hash);
    }
}

#[test]
fn finish_before_completion_fails() {
    let mut init = Handshake::new(true, identity_a().x25519_private(), EPHEMERAL_A).unwrap();
    assert_eq!(init.finish().err(), Some(NoiseError::Handshake));
    let mut msg1 = Vec::new();
    init.write_message(&mut msg1).unwrap();
    assert_eq!(init.finish().err(), Some(NoiseError::Handshake));
}

#[test]
fn out_of_turn_steps_fail() {
    let mut init = Handshake::new(true, identity_a().x25519_private(), EPHEMERAL_A).unwrap();
    let mut resp = Handshake::new(false, identity_b().x25519_private(), EPHEMERAL_B).unwrap();
    // The responder cannot write first, the initiator cannot read first.
    let mut out = Vec::new();
    assert_eq!(resp.write_message(&mut out), Err(NoiseError::Handshake));
    assert!(out.is_empty());
    assert_eq!(init.read_message(&[0u8; 32]), Err(NoiseError::Handshake));
}

#[test]
fn wrong_responder_static_is_detected_by_remote_static() {
    // The handshake succeeds with any static key; binding to the expected identity is the
    // caller's job (§9.3), using remote_static.
    let a = identity_a();
    let c = Identity::from_seed(&[0x03; 32]);
    let s = handshake(a, &c, EPHEMERAL_A, EPHEMERAL_B);
    assert_ne!(&s.initiator.remote_static, identity_b().x25519_public());
    assert_eq!(&s.initiator.remote_static, c.x25519_public());
}

#[test]
fn tampered_handshake_messages_fail() {
    let s = session();
    let (a, b) = (identity_a(), identity_b());
    // msg2 tampered: the initiator rejects it.
    for i in [0, 31, 32, 79, 80, 95] {
        let mut init = Handshake::new(true, a.x25519_private(), EPHEMERAL_A).unwrap();
        init.write_message(&mut Vec::new()).unwrap();
        let mut msg2 = s.wire[1][HANDSHAKE_PREFIX_LEN..].to_vec();
        msg2[i] ^= 0x01;
        assert_eq!(
            init.read_message(&msg2),
            Err(NoiseError::Handshake),
            "msg2 byte {i}"
        );
    }
    // msg3 tampered: the responder rejects it.
    for i in [0, 31, 47, 48, 63] {
        let mut resp = Handshake::new(false, b.x25519_private(), EPHEMERAL_B).unwrap();
        resp.read_message(&s.wire[0][HANDSHAKE_PREFIX_LEN..])
            .unwrap();
        resp.write_message(&mut Vec::new()).unwrap();
        let mut msg3 = s.wire[2][HANDSHAKE_PREFIX_LEN..].to_vec();
        msg3[i] ^= 0x80;
        assert_eq!(
            resp.read_message(&msg3),
            Err(NoiseError::Handshake),
            "msg3 byte {i}"
        );
        assert!(!resp.is_finished());
    }
    // msg1 tampered: accepted (it is a bare public key), but the responder's msg2 then fails
    // at the initiator because the transcripts differ.
    let mut resp = Handshake::new(false, b.x25519_private(), EPHEMERAL_B).unwrap();
    let mut msg1 = s.wire[0][HANDSHAKE_PREFIX_LEN..].to_vec();
    msg1[5] ^= 0x04;
    resp.read_message(&msg1).unwrap();
    let mut msg2 = Vec::new();
    resp.write_message(&mut msg2).unwrap();
    let mut init = Handshake::new(true, a.x25519_private(), EPHEMERAL_A).unwrap();
    init.write_message(&mut Vec::new()).unwrap();
    assert_eq!(
        init.read_message(&msg2[HANDSHAKE_PREFIX_LEN..]),
        Err(NoiseError::Handshake)
    );
}

#[test]
fn truncated_and_oversized_handshake_messages_fail() {
    let s = session();
    let mut resp = Handshake::new(false, identity_b().x25519_private(), EPHEMERAL_B).unwrap();
    assert_eq!(
        resp.read_message(&s.wire[0][HANDSHAKE_PREFIX_LEN..31]),
        Err(NoiseError::Handshake)
    );
    assert_eq!(resp.read_message(&[]), Err(NoiseError::Handshake));
    // Larger than any Noise message: refused, not a panic.
    assert_eq!(
        resp.read_message(&vec![7u8; 65_536]),
        Err(NoiseError::Handshake)
    );
    assert_eq!(
        resp.read_message(&vec![7u8; 70_000]),
        Err(NoiseError::Handshake)
    );

    let mut init = Handshake::new(true, identity_a().x25519_private(), EPHEMERAL_A).unwrap();
    init.write_message(&mut Vec::new()).unwrap();
    assert_eq!(
        init.read_message(&s.wire[1][HANDSHAKE_PREFIX_LEN..95]),
        Err(NoiseError::Handshake)
    );
}

#[test]
fn handshake_message_with_extra_payload_bytes() {
    // §5.2: a non-empty payload in msg1 is accepted and ignored (msg1 carries it in clear).
    let s = session();
    let mut resp = Handshake::new(false, identity_b().x25519_private(), EPHEMERAL_B).unwrap();
    let mut msg1 = s.wire[0][HANDSHAKE_PREFIX_LEN..].to_vec();
    msg1.extend_from_slice(b"ignored payload");
    resp.read_message(&msg1).unwrap();
    assert!(resp.is_my_turn());
}

// ---------------------------------------------------------------------------------------------
// Transport (TESTS.md §7, TestNoiseConnReadWrite)
// ---------------------------------------------------------------------------------------------

#[test]
fn transport_records_open_on_the_other_side() {
    let s = session();
    let (mut init, mut resp) = (s.initiator.transport, s.responder.transport);
    for i in 0..3u8 {
        send(&mut init, &mut resp, &[i; 10]);
        send(&mut resp, &mut init, &[0x80 | i; 33]);
    }
}

#[test]
fn transport_records_through_record_decoder() {
    let s = session();
    let (mut init, mut resp) = (s.initiator.transport, s.responder.transport);
    // The initiator's msg3 and its first two records arrive in one read at the responder.
    let mut wire = s.wire[2].clone();
    wire.extend(init.encrypt_record(b"first frame").unwrap());
    wire.extend(init.encrypt_record(b"second frame").unwrap());

    let mut rx = RecordDecoder::new();
    let mut input = wire.as_slice();
    let msg3 = rx.decode(&mut input).unwrap().unwrap();
    assert_eq!(msg3, s.wire[2][HANDSHAKE_PREFIX_LEN..]);
    assert_eq!(
        input.len(),
        wire.len() - s.wire[2].len(),
        "decoder read past msg3"
    );
    rx.enter_transport();
    for expected in [&b"first frame"[..], b"second frame"] {
        let mut message = rx.decode(&mut input).unwrap().unwrap();
        resp.open(&mut message).unwrap();
        assert_eq!(message, expected);
    }
    assert!(input.is_empty());
    assert_eq!(rx.decode(&mut input), Ok(None));

    // And back, byte by byte.
    let record = resp.encrypt_record(b"reply").unwrap();
    let mut rx = RecordDecoder::new();
    rx.enter_transport();
    let mut got = None;
    for byte in &record {
        let mut input = std::slice::from_ref(byte);
        if let Some(message) = rx.decode(&mut input).unwrap() {
            got = Some(message);
        }
    }
    let mut message = got.expect("record completed");
    init.open(&mut message).unwrap();
    assert_eq!(message, b"reply");
}

#[test]
fn empty_plaintext_is_a_sixteen_byte_message() {
    let (mut init, mut resp) = transports();
    let record = init.encrypt_record(&[]).unwrap();
    assert_eq!(record[..4], [0, 0, 0, 16]);
    assert_eq!(record.len(), 20);
    let mut message = body(&record);
    resp.open(&mut message).unwrap();
    assert!(message.is_empty());
}

#[test]
fn transport_matches_independent_chacha20poly1305() {
    // §5.3: k1 initiator→responder, k2 back; nonce = 4 zero bytes || counter LE; empty AAD.
    let (k1, k2) = split_keys();
    let (mut init, mut resp) = transports();
    let plaintext = b"\x4d\x49\x00\x01\x00\x00\x00\x02\x28\x05";
    let seal = |key: &[u8; 32], counter: u64| {
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&counter.to_le_bytes());
        let mut out = plaintext.to_vec();
        let tag = ChaCha20Poly1305::new(Key::from_slice(key))
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), &[], &mut out)
            .unwrap();
        out.extend_from_slice(&tag);
        out
    };
    assert_eq!(body(&init.encrypt_record(plaintext).unwrap()), seal(&k1, 0));
    assert_eq!(body(&init.encrypt_record(plaintext).unwrap()), seal(&k1, 1));
    assert_eq!(body(&resp.encrypt_record(plaintext).unwrap()), seal(&k2, 0));
    assert_eq!(body(&resp.encrypt_record(plaintext).unwrap()), seal(&k2, 1));
    // Counter 256 distinguishes little- from big-endian nonces.
    for _ in 2..256 {
        init.encrypt_record(plaintext).unwrap();
    }
    assert_eq!(
        body(&init.encrypt_record(plaintext).unwrap()),
        seal(&k1, 256)
    );
}

#[test]
fn split_directions_are_distinct() {
    // A record cannot be opened by its own sender's receive direction.
    let (mut init, _) = transports();
    let (mut init2, _) = transports();
    let mut message = body(&init.encrypt_record(b"loop").unwrap());
    assert_eq!(init2.open(&mut message), Err(NoiseError::Decrypt));
}

// ---------------------------------------------------------------------------------------------
// Large messages (§5.6)
// ---------------------------------------------------------------------------------------------

#[test]
fn seventy_thousand_bytes_is_one_message_both_ways() {
    let (mut init, mut resp) = transports();
    let plaintext = random_bytes(70_000, 1);
    let record = init.encrypt_record(&plaintext).unwrap();
    assert_eq!(record[..4], 70_016u32.to_be_bytes());
    let mut message = body(&record);
    assert_eq!(message.len(), 70_016);
    resp.open(&mut message).unwrap();
    assert!(message == plaintext);
    send(&mut resp, &mut init, &plaintext);
}

#[test]
fn largest_frame_is_one_message_both_ways() {
    let (mut init, mut resp) = transports();
    let plaintext = random_bytes(1_048_584, 2);
    assert_eq!(plaintext.len(), MAX_PLAINTEXT);
    {
        let record = init.encrypt_record(&plaintext).unwrap();
        assert_eq!(record.len(), 4 + 1_048_600);
        assert_eq!(record[..4], 1_048_600u32.to_be_bytes());
        // Through the record decoder, in 64 KiB reads.
        let mut rx = RecordDecoder::new();
        rx.enter_transport();
        let mut got = None;
        for piece in record.chunks(65_536) {
            let mut input = piece;
            if let Some(message) = rx.decode(&mut input).unwrap() {
                got = Some(message);
            }
            assert!(input.is_empty());
        }
        let mut message = got.expect("complete record");
        resp.open(&mut message).unwrap();
        assert!(message == plaintext);
    }
    send(&mut resp, &mut init, &plaintext);
    // Counters stay in step after the large messages.
    send(&mut init, &mut resp, b"small");
    send(&mut resp, &mut init, b"small");
}

#[test]
fn plaintext_over_the_limit_is_refused_without_consuming_a_nonce() {
    let (mut init, mut resp) = transports();
    send(&mut init, &mut resp, b"before");
    let too_large = vec![0u8; 1_048_585];
    assert_eq!(
        init.encrypt_record(&too_large),
        Err(NoiseError::PlaintextTooLarge(1_048_585))
    );
    assert_eq!(
        resp.encrypt_record(&too_large),
        Err(NoiseError::PlaintextTooLarge(1_048_585))
    );
    // The next record still uses the next counter on both sides.
    send(&mut init, &mut resp, b"after");
    send(&mut resp, &mut init, b"after");
}

#[test]
fn seal_record_in_place() {
    let (mut init, mut resp) = transports();
    let mut record = vec![0u8; TRANSPORT_PREFIX_LEN];
    record.extend_from_slice(b"frame bytes");
    init.seal_record(&mut record).unwrap();
    assert_eq!(record.len(), 4 + 11 + 16);
    let mut message = body(&record);
    resp.open(&mut message).unwrap();
    assert_eq!(message, b"frame bytes");
    // A buffer without room for the prefix is refused and consumes no nonce.
    assert!(init.seal_record(&mut vec![0u8; 3]).is_err());
    send(&mut init, &mut resp, b"next");
}

// ---------------------------------------------------------------------------------------------
// RecordDecoder limits and opening failures
// ---------------------------------------------------------------------------------------------

#[test]
fn transport_prefix_at_limit_is_accepted() {
    let mut rx = RecordDecoder::new();
    rx.enter_transport();
    let prefix = 1_048_600u32.to_be_bytes();
    assert_eq!(rx.decode(&mut &prefix[..]), Ok(None));
    assert_eq!(rx.buffered(), 4);
    let body = vec![0x33u8; 1_048_600];
    let mut input = &body[..1000];
    assert_eq!(rx.decode(&mut input), Ok(None));
    assert_eq!(rx.buffered(), 4 + 1000);
    let mut input = &body[1000..];
    let message = rx.decode(&mut input).unwrap().expect("complete");
    assert_eq!(message.len(), 1_048_600);
    assert_eq!(rx.buffered(), 0);
}

#[test]
fn transport_prefix_over_limit_is_rejected_on_the_fourth_byte() {
    let prefix = 1_048_601u32.to_be_bytes();
    let mut rx = RecordDecoder::new();
    rx.enter_transport();
    for byte in &prefix[..3] {
        assert_eq!(rx.decode(&mut std::slice::from_ref(byte)), Ok(None));
    }
    assert_eq!(rx.buffered(), 3);
    // The fourth prefix byte arrives with body bytes behind it; none of them is taken.
    let mut wire = vec![prefix[3]];
    wire.extend_from_slice(&[0u8; 64]);
    let mut input = wire.as_slice();
    assert_eq!(
        rx.decode(&mut input),
        Err(NoiseError::MessageTooLarge(1_048_601))
    );
    assert_eq!(input.len(), 64);
    assert!(rx.buffered() <= TRANSPORT_PREFIX_LEN);
    // The limit is on the full 32-bit value.
    let mut rx = RecordDecoder::new();
    rx.enter_transport();
    assert_eq!(
        rx.decode(&mut &[0xff, 0xff, 0xff, 0xff][..]),
        Err(NoiseError::MessageTooLarge(u32::MAX as usize))
    );
}

#[test]
fn handshake_mode_has_two_byte_prefixes() {
    let mut rx = RecordDecoder::new();
    // A zero-length message, then a 3-byte one, then a maximum 2-byte length.
    let mut wire = vec![0, 0, 0, 3, b'a', b'b', b'c', 0xff, 0xff];
    let mut input = wire.as_slice();
    assert_eq!(rx.decode(&mut input), Ok(Some(Vec::new())));
    assert_eq!(rx.decode(&mut input), Ok(Some(b"abc".to_vec())));
    assert_eq!(rx.decode(&mut input), Ok(None));
    assert_eq!(rx.buffered(), 2);
    wire = vec![9u8; 65_535];
    let mut input = wire.as_slice();
    assert_eq!(
        rx.decode(&mut input).unwrap().map(|m| m.len()),
        Some(65_535)
    );
}

#[test]
fn message_shorter_than_tag_fails() {
    for len in 0..TAG_LEN {
        let (_, mut resp) = transports();
        let mut message = vec![0u8; len];
        assert_eq!(
            resp.open(&mut message),
            Err(NoiseError::MessageTooShort(len))
        );
    }
    // Exactly a tag's length is a (possibly valid) empty message, not "too short".
    let (_, mut resp) = transports();
    assert_eq!(resp.open(&mut vec![0u8; TAG_LEN]), Err(NoiseError::Decrypt));
}

#[test]
fn records_must_be_opened_in_order() {
    let (mut init, mut resp) = transports();
    let r0 = body(&init.encrypt_record(b"zero").unwrap());
    let r1 = body(&init.encrypt_record(b"one").unwrap());
    // Swapped: the first one opened uses counter 0 and fails.
    assert_eq!(resp.open(&mut r1.clone()), Err(NoiseError::Decrypt));
    // In order on a fresh receiver: both open.
    let (_, mut resp) = transports();
    let mut m0 = r0.clone();
    resp.open(&mut m0).unwrap();
    assert_eq!(m0, b"zero");
    // A replay of r0 (counter 1 expected) fails.
    assert_eq!(resp.open(&mut r0.clone()), Err(NoiseError::Decrypt));
    // Skipping a record fails too.
    let (_, mut resp) = transports();
    let mut m0 = r0.clone();
    resp.open(&mut m0).unwrap();
    let r2 = body(&init.encrypt_record(b"two").unwrap());
    assert_eq!(resp.open(&mut r2.clone()), Err(NoiseError::Decrypt));
}

#[test]
fn error_display() {
    assert!(
        NoiseError::MessageTooLarge(1_048_601)
            .to_string()
            .contains("1048601")
    );
    assert!(NoiseError::MessageTooShort(3).to_string().contains('3'));
    assert!(
        NoiseError::PlaintextTooLarge(1_048_585)
            .to_string()
            .contains("1048585")
    );
}

// ---------------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Handshake-mode records (2-byte prefix) split at arbitrary points decode unchanged.
    #[test]
    fn prop_handshake_records_any_chunking(
        bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 1..5),
        cut_points in prop::collection::vec(any::<Index>(), 0..24),
    ) {
        let mut wire = Vec::new();
        for b in &bodies {
            wire.extend_from_slice(&(b.len() as u16).to_be_bytes());
            wire.extend_from_slice(b);
        }
        let mut rx = RecordDecoder::new();
        let mut got = Vec::new();
        for chunk in chunks(&wire, &cut_points) {
            let mut input = chunk;
            while let Some(message) = rx.decode(&mut input).unwrap() {
                got.push(message);
            }
            prop_assert!(input.is_empty());
        }
        prop_assert_eq!(got, bodies);
        prop_assert_eq!(rx.buffered(), 0);
    }

    /// Every byte boundary of the prefix and body is a possible split point.
    #[test]
    fn prop_handshake_records_single_split(
        bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..4),
        at in any::<Index>(),
    ) {
        let mut wire = Vec::new();
        for b in &bodies {
            wire.extend_from_slice(&(b.len() as u16).to_be_bytes());
            wire.extend_from_slice(b);
        }
        let split = at.index(wire.len() + 1);
        let mut rx = RecordDecoder::new();
        let mut got = Vec::new();
        for part in [&wire[..split], &wire[split..]] {
            let mut input = part;
            while let Some(message) = rx.decode(&mut input).unwrap() {
                got.push(message);
            }
        }
        prop_assert_eq!(got, bodies);
    }

    /// Transport records split at arbitrary points decode and open in order.
    #[test]
    fn prop_transport_records_any_chunking(
        plaintexts in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..5),
        cut_points in prop::collection::vec(any::<Index>(), 0..24),
    ) {
        let (mut init, mut resp) = transports();
        let wire: Vec<u8> =
            plaintexts.iter().flat_map(|p| init.encrypt_record(p).unwrap()).collect();
        let mut rx = RecordDecoder::new();
        rx.enter_transport();
        let mut got = Vec::new();
        for chunk in chunks(&wire, &cut_points) {
            let mut input = chunk;
            while let Some(mut message) = rx.decode(&mut input).unwrap() {
                resp.open(&mut message).unwrap();
                got.push(message);
            }
        }
        prop_assert_eq!(got, plaintexts);
    }

    /// Flipping any single bit of a ciphertext or tag makes `open` fail with `Decrypt`.
    #[test]
    fn prop_bit_flip_fails_authentication(
        plaintext in prop::collection::vec(any::<u8>(), 0..256),
        earlier in 0usize..4,
        bit in any::<Index>(),
        responder_sends in any::<bool>(),
    ) {
        let (mut init, mut resp) = transports();
        let (from, to) =
            if responder_sends { (&mut resp, &mut init) } else { (&mut init, &mut resp) };
        for _ in 0..earlier {
            let mut m = body(&from.encrypt_record(b"earlier").unwrap());
            to.open(&mut m).unwrap();
        }
        let mut message = body(&from.encrypt_record(&plaintext).unwrap());
        let bit = bit.index(message.len() * 8);
        message[bit / 8] ^= 1 << (bit % 8);
        prop_assert_eq!(to.open(&mut message), Err(NoiseError::Decrypt));
    }

    /// Messages shorter than a tag are refused as such, whatever their content.
    #[test]
    fn prop_short_message(message in prop::collection::vec(any::<u8>(), 0..TAG_LEN)) {
        let (_, mut resp) = transports();
        let len = message.len();
        prop_assert_eq!(resp.open(&mut message.clone()), Err(NoiseError::MessageTooShort(len)));
    }

    /// Transport prefixes are accepted exactly up to the limit, whatever the value.
    #[test]
    fn prop_transport_prefix_limit(len in prop_oneof![any::<u32>(), 1_048_590u32..1_048_610]) {
        let mut rx = RecordDecoder::new();
        rx.enter_transport();
        let outcome = rx.decode(&mut &len.to_be_bytes()[..]);
        if len as usize > MAX_TRANSPORT_MESSAGE {
            prop_assert_eq!(outcome, Err(NoiseError::MessageTooLarge(len as usize)));
        } else if len == 0 {
            prop_assert_eq!(outcome, Ok(Some(Vec::new())));
        } else {
            prop_assert_eq!(outcome, Ok(None));
            prop_assert_eq!(rx.buffered(), 4);
        }
    }
}

proptest! {
    // Each case builds a handshake state and runs up to three X25519 operations, which are slow
    // in debug builds.
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Arbitrary bytes as handshake message 1 never panic; fewer than 32 bytes always fail.
    #[test]
    fn prop_arbitrary_msg1(message in prop::collection::vec(any::<u8>(), 0..160)) {
        let mut resp = Handshake::new(false, identity_b().x25519_private(), EPHEMERAL_B).unwrap();
        match resp.read_message(&message) {
            Ok(()) => prop_assert!(message.len() >= 32 && resp.is_my_turn()),
            Err(error) => {
                prop_assert_eq!(error, NoiseError::Handshake);
                prop_assert!(message.len() < 32);
            }
        }
    }

    /// Arbitrary bytes as handshake message 2 never panic and never authenticate.
    #[test]
    fn prop_arbitrary_msg2(message in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut init = Handshake::new(true, identity_a().x25519_private(), EPHEMERAL_A).unwrap();
        init.write_message(&mut Vec::new()).unwrap();
        prop_assert_eq!(init.read_message(&message), Err(NoiseError::Handshake));
        prop_assert!(!init.is_finished());
        prop_assert!(init.finish().is_err());
    }

    /// Arbitrary bytes as handshake message 3 never panic and never authenticate.
    #[test]
    fn prop_arbitrary_msg3(message in prop::collection::vec(any::<u8>(), 0..160)) {
        let s = wire_once();
        let mut resp = Handshake::new(false, identity_b().x25519_private(), EPHEMERAL_B).unwrap();
        resp.read_message(&s[0][HANDSHAKE_PREFIX_LEN..]).unwrap();
        resp.write_message(&mut Vec::new()).unwrap();
        prop_assert_eq!(resp.read_message(&message), Err(NoiseError::Handshake));
        prop_assert!(!resp.is_finished());
    }

    /// Any single-byte change to a valid message 2 is rejected by the initiator.
    #[test]
    fn prop_mutated_msg2(at in any::<Index>(), xor in 1u8..=255) {
        let s = wire_once();
        let mut init = Handshake::new(true, identity_a().x25519_private(), EPHEMERAL_A).unwrap();
        init.write_message(&mut Vec::new()).unwrap();
        let mut msg2 = s[1][HANDSHAKE_PREFIX_LEN..].to_vec();
        let i = at.index(msg2.len());
        msg2[i] ^= xor;
        prop_assert_eq!(init.read_message(&msg2), Err(NoiseError::Handshake));
    }
}

/// The fixed session's three prefixed handshake messages, computed once.
fn wire_once() -> &'static [Vec<u8>; 3] {
    static WIRE: OnceLock<[Vec<u8>; 3]> = OnceLock::new();
    WIRE.get_or_init(|| session().wire)
}
