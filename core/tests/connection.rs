//! Integration tests of [`micelio_core::connection::Connection`], the sans-IO state machine of
//! one peer connection (PROTOCOL.md §5, §6, §8, §9).
//!
//! Covered:
//! - back-to-back handshake, hello exchange and steady-state traffic between two honest
//!   connections, with the network delivering whole records, coalesced records, one byte at a
//!   time or random chunks;
//! - every identity check of the hello exchange (§9.3), driven by a hand-rolled "raw" Noise
//!   peer that forges hellos and acks;
//! - all timers (handshake, hello, idle, keepalive, write), driven only by the instants passed
//!   in, with the default and a custom [`ConnectionConfig`];
//! - the 1 MiB frame limit and the 1 048 600-byte transport limit on both the send and the
//!   receive side, bad frame headers and corrupted ciphertexts;
//! - the 64-frame outbound queue bound, and malformed envelopes in steady state.
//!
//! The harness is a quinn-style [`Pair`]: it moves every `poll_transmit` output of one side into
//! `handle_input` of the other until both are quiet, re-chunking the byte stream as asked, and
//! collects the events of each side.

use core::time::Duration;

use micelio_core::connection::{
    CloseReason, Connection, ConnectionConfig, Event, HelloError, LocalHello, PeerIdentity, Role,
    SendError,
};
use micelio_core::envelope::{self, HelloKind, SignatureError, msg_type};
use micelio_core::frame::{self, FrameDecoder, FrameError};
use micelio_core::identity::Identity;
use micelio_core::noise::{Handshake, NoiseError, Transport};
use micelio_core::proto::{self, ChatMessage, Envelope, PeerHello};
use micelio_core::time::Instant;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

// ===================================================================================== fixtures

/// Every test starts its clock here, away from the origin, so that deadlines computed from
/// zero instead of from the right instant show up.
const T0: Instant = Instant::from_secs(1_000);

/// The responder's advertised address.
const RESPONDER_ADDR: &str = "127.0.0.1:4000";

/// Largest frame payload (1 MiB) and the transport ciphertext it produces.
const MAX_FRAME_PAYLOAD: usize = 1_048_576;
const MAX_CIPHERTEXT: usize = 1_048_600;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn millis(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// One millisecond before `instant` (the crate's `Instant` only adds durations).
fn just_before(instant: Instant) -> Instant {
    Instant::from_nanos(instant.as_nanos() - 1_000_000)
}

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// The honest initiator.
fn alice() -> Identity {
    Identity::from_seed(&[0xA1; 32])
}

/// The honest responder.
fn bob() -> Identity {
    Identity::from_seed(&[0xB2; 32])
}

/// The attacker driving a raw Noise peer.
fn mallory() -> Identity {
    Identity::from_seed(&[0x3C; 32])
}

/// The initiator announces no address: outbound only, `reachable = false`.
fn initiator_local() -> LocalHello {
    LocalHello {
        tags: Vec::new(),
        listen_addr: String::new(),
        capabilities: String::new(),
        lamport: 0,
    }
}

fn responder_local() -> LocalHello {
    LocalHello {
        tags: vec!["relay".to_owned(), "eu-west".to_owned()],
        listen_addr: RESPONDER_ADDR.to_owned(),
        capabilities: String::new(),
        lamport: 0,
    }
}

fn new_initiator(config: ConnectionConfig, now: Instant) -> Connection {
    Connection::new(
        Role::Initiator,
        config,
        &alice(),
        initiator_local(),
        now,
        &mut rng(1),
    )
}

fn new_responder(config: ConnectionConfig, now: Instant) -> Connection {
    Connection::new(
        Role::Responder,
        config,
        &bob(),
        responder_local(),
        now,
        &mut rng(2),
    )
}

/// What the initiator must learn about the responder.
fn bob_as_peer() -> PeerIdentity {
    let bob = bob();
    PeerIdentity {
        node_id: bob.node_id(),
        public_key: *bob.public_key(),
        reachable: true,
        listen_addr: RESPONDER_ADDR.to_owned(),
        version: String::from("0.1.0"),
        lamport: 0,
    }
}

/// What the responder must learn about the initiator.
fn alice_as_peer() -> PeerIdentity {
    let alice = alice();
    PeerIdentity {
        node_id: alice.node_id(),
        public_key: *alice.public_key(),
        reachable: false,
        listen_addr: String::new(),
        version: String::from("0.1.0"),
        lamport: 0,
    }
}

// ==================================================================================== envelopes

/// A signed chat envelope from `identity` and its serialized bytes.
fn chat(identity: &Identity, rng: &mut ChaCha20Rng, text: &str) -> (Envelope, Vec<u8>) {
    let line = ChatMessage {
        nick: "nick".to_owned(),
        text: text.to_owned(),
        timestamp: 1_700_000_000,
    };
    let envelope = envelope::chat(identity, envelope::new_message_id(rng), &line);
    let bytes = proto::encode(&envelope);
    (envelope, bytes)
}

/// A signed envelope of an arbitrary type (gossip types 0, 6–99, ≥ 1000 must surface).
fn typed(identity: &Identity, rng: &mut ChaCha20Rng, kind: u32) -> (Envelope, Vec<u8>) {
    let envelope = envelope::originate(
        identity,
        envelope::new_message_id(rng),
        kind,
        7,
        vec![kind as u8; 5],
        false,
    );
    let bytes = proto::encode(&envelope);
    (envelope, bytes)
}

/// An envelope whose serialization is exactly `len` bytes, and those bytes.
fn envelope_of_len(len: usize) -> (Envelope, Vec<u8>) {
    let mut envelope = Envelope {
        message_id: "big".to_owned(),
        sender_id: alice().node_id().as_str().to_owned(),
        msg_type: msg_type::CHAT,
        hop_count: 3,
        ..Envelope::default()
    };
    // The payload's varint length prefix grows with the payload: converge on the exact size.
    let mut payload_len = len;
    for _ in 0..4 {
        envelope.payload = (0..payload_len).map(|i| (i % 251) as u8).collect();
        let overhead = proto::encode(&envelope).len() - payload_len;
        payload_len = len - overhead;
    }
    envelope.payload = (0..payload_len).map(|i| (i % 251) as u8).collect();
    let bytes = proto::encode(&envelope);
    assert_eq!(
        bytes.len(),
        len,
        "could not build an envelope of {len} bytes"
    );
    (envelope, bytes)
}

/// The honest `PeerHello` of `identity` (no tags, no address).
fn peer_hello(identity: &Identity) -> PeerHello {
    envelope::local_hello(identity, Vec::new(), String::new())
}

/// A hello envelope carrying `hello`, claiming `sender_id`, signed by `signer`.
fn hello_envelope(signer: &Identity, sender_id: &str, kind: u32, hello: &PeerHello) -> Envelope {
    let mut envelope = Envelope {
        message_id: "0b6c3c1e-8f0e-4d0a-9d7a-8d1c0c2f6a11".to_owned(),
        sender_id: sender_id.to_owned(),
        lamport_ts: 0,
        hop_count: 1,
        msg_type: kind,
        payload: proto::encode(hello),
        signature: Vec::new(),
        sender_pubkey: Vec::new(),
    };
    envelope::sign(&mut envelope, signer);
    envelope
}

/// The honest, serialized hello (type 1) or ack (type 2) of `identity`.
fn honest_hello(identity: &Identity, kind: HelloKind) -> Vec<u8> {
    proto::encode(&hello_envelope(
        identity,
        identity.node_id().as_str(),
        kind.msg_type(),
        &peer_hello(identity),
    ))
}

// ======================================================================================= wiring

fn drain_transmits(connection: &mut Connection) -> Vec<Vec<u8>> {
    core::iter::from_fn(|| connection.poll_transmit()).collect()
}

fn drain_events(connection: &mut Connection) -> Vec<Event> {
    core::iter::from_fn(|| connection.poll_event()).collect()
}

/// How the simulated network cuts the byte stream into `handle_input` calls.
enum Chunking {
    /// One call per record, as written.
    Records,
    /// All pending records of a side concatenated into one call.
    Coalesced,
    /// One call per byte.
    Bytewise,
    /// Calls of 1 to 64 bytes, drawn from a seeded RNG, crossing record boundaries.
    Random(Box<ChaCha20Rng>),
}

impl Chunking {
    /// Delivers `records` to `to` at `now`, cut as this network cuts them.
    fn deliver(&mut self, to: &mut Connection, now: Instant, records: &[Vec<u8>]) {
        match self {
            Chunking::Records => records
                .iter()
                .for_each(|record| to.handle_input(now, record)),
            Chunking::Coalesced => to.handle_input(now, &records.concat()),
            Chunking::Bytewise => {
                for byte in records.concat() {
                    to.handle_input(now, &[byte]);
                }
            }
            Chunking::Random(rng) => {
                let stream = records.concat();
                let mut rest = stream.as_slice();
                while !rest.is_empty() {
                    let take = (1 + rng.next_u32() as usize % 64).min(rest.len());
                    to.handle_input(now, &rest[..take]);
                    rest = &rest[take..];
                }
            }
        }
    }
}

/// Two honest connections wired back to back: `a` is the initiator (alice), `b` the responder
/// (bob). Events are collected into `a_events` / `b_events` as the pair runs.
struct Pair {
    a: Connection,
    b: Connection,
    now: Instant,
    network: Chunking,
    a_events: Vec<Event>,
    b_events: Vec<Event>,
}

impl Pair {
    /// Both connections created at [`T0`]; nothing delivered yet.
    fn new(config: ConnectionConfig, network: Chunking) -> Self {
        Pair {
            a: new_initiator(config.clone(), T0),
            b: new_responder(config, T0),
            now: T0,
            network,
            a_events: Vec::new(),
            b_events: Vec::new(),
        }
    }

    /// A pair driven to the established state at [`T0`], with its events checked and cleared.
    fn established(config: ConnectionConfig) -> Self {
        let mut pair = Pair::new(config, Chunking::Records);
        pair.drive();
        assert!(
            pair.a.is_established() && pair.b.is_established(),
            "pair did not establish"
        );
        assert!(matches!(
            pair.a_events.as_slice(),
            [Event::HandshakeComplete { .. }, Event::Established(_)]
        ));
        assert!(matches!(
            pair.b_events.as_slice(),
            [Event::HandshakeComplete { .. }, Event::Established(_)]
        ));
        pair.a_events.clear();
        pair.b_events.clear();
        pair
    }

    /// Moves bytes both ways at `self.now` until neither side has anything to send.
    fn drive(&mut self) {
        for _ in 0..1_000 {
            let from_a = drain_transmits(&mut self.a);
            let from_b = drain_transmits(&mut self.b);
            if from_a.is_empty() && from_b.is_empty() {
                self.collect();
                return;
            }
            self.network.deliver(&mut self.b, self.now, &from_a);
            self.network.deliver(&mut self.a, self.now, &from_b);
            self.collect();
        }
        panic!("the pair never went quiet");
    }

    fn collect(&mut self) {
        self.a_events.extend(drain_events(&mut self.a));
        self.b_events.extend(drain_events(&mut self.b));
    }

    /// Fires both sides' timers at `now` (without moving any bytes).
    fn timeout_both(&mut self, now: Instant) {
        self.now = now;
        self.a.handle_timeout(now);
        self.b.handle_timeout(now);
        self.collect();
    }

    /// `a` sends `bytes`; the pair is driven; `b`'s new events are returned.
    fn a_to_b(&mut self, bytes: &[u8]) -> Vec<Event> {
        self.a.send(self.now, bytes).expect("a can send");
        self.drive();
        core::mem::take(&mut self.b_events)
    }

    /// `b` sends `bytes`; the pair is driven; `a`'s new events are returned.
    fn b_to_a(&mut self, bytes: &[u8]) -> Vec<Event> {
        self.b.send(self.now, bytes).expect("b can send");
        self.drive();
        core::mem::take(&mut self.a_events)
    }
}

// ==================================================================================== raw peers

/// The far end of a connection, run by hand on the Noise primitives, so that it can send
/// anything at all once the handshake is done.
struct RawPeer {
    transport: Transport,
    frames: FrameDecoder,
}

impl RawPeer {
    /// Runs the XX handshake as initiator with `static_identity`'s Noise key against the honest
    /// `responder`. Afterwards the responder waits for a hello.
    fn initiator(static_identity: &Identity, responder: &mut Connection, now: Instant) -> Self {
        let mut handshake = Handshake::new(true, static_identity.x25519_private(), [0x5E; 32])
            .expect("handshake state");
        let mut message_1 = Vec::new();
        handshake.write_message(&mut message_1).expect("message 1");
        responder.handle_input(now, &message_1);
        let message_2 = responder
            .poll_transmit()
            .expect("responder answers message 1");
        assert_eq!(responder.poll_transmit(), None);
        handshake
            .read_message(&message_2[2..])
            .expect("message 2 authenticates");
        let mut message_3 = Vec::new();
        handshake.write_message(&mut message_3).expect("message 3");
        responder.handle_input(now, &message_3);
        let outcome = handshake.finish().expect("handshake finished");
        assert_eq!(&outcome.remote_static, bob().x25519_public());
        RawPeer {
            transport: outcome.transport,
            frames: FrameDecoder::new(),
        }
    }

    /// Runs the XX handshake as responder with `static_identity`'s Noise key against the honest
    /// `initiator`. Afterwards the initiator's hello sits in its transmit queue.
    fn responder(static_identity: &Identity, initiator: &mut Connection, now: Instant) -> Self {
        let mut handshake = Handshake::new(false, static_identity.x25519_private(), [0x6F; 32])
            .expect("handshake state");
        let message_1 = initiator
            .poll_transmit()
            .expect("initiator opens with message 1");
        handshake.read_message(&message_1[2..]).expect("message 1");
        let mut message_2 = Vec::new();
        handshake.write_message(&mut message_2).expect("message 2");
        initiator.handle_input(now, &message_2);
        let message_3 = initiator
            .poll_transmit()
            .expect("initiator answers message 2");
        handshake
            .read_message(&message_3[2..])
            .expect("message 3 authenticates");
        let outcome = handshake.finish().expect("handshake finished");
        assert_eq!(&outcome.remote_static, alice().x25519_public());
        RawPeer {
            transport: outcome.transport,
            frames: FrameDecoder::new(),
        }
    }

    /// One transport record carrying `plaintext` as is (no framing added).
    fn record(&mut self, plaintext: &[u8]) -> Vec<u8> {
        self.transport
            .encrypt_record(plaintext)
            .expect("record encrypts")
    }

    /// One transport record carrying `payload` as one frame.
    fn frame_record(&mut self, payload: &[u8]) -> Vec<u8> {
        let mut plaintext = Vec::new();
        frame::encode(payload, &mut plaintext).expect("payload fits a frame");
        self.record(&plaintext)
    }

    /// Decrypts one record received from the honest side and returns the frame payloads in it.
    fn open(&mut self, record: &[u8]) -> Vec<Vec<u8>> {
        let announced = u32::from_be_bytes(record[..4].try_into().unwrap()) as usize;
        assert_eq!(announced, record.len() - 4, "record length prefix");
        let mut message = record[4..].to_vec();
        self.transport.open(&mut message).expect("record decrypts");
        let mut plaintext = message.as_slice();
        let mut payloads = Vec::new();
        while let Some(payload) = self.frames.decode(&mut plaintext).expect("valid frame") {
            payloads.push(payload);
        }
        payloads
    }
}

/// An honest responder (bob) that completed the Noise handshake with a raw initiator whose
/// static key is `static_identity`'s; the responder now waits for the hello.
fn responder_facing_raw(static_identity: &Identity) -> (Connection, RawPeer) {
    let mut responder = new_responder(ConnectionConfig::default(), T0);
    let raw = RawPeer::initiator(static_identity, &mut responder, T0);
    let events = drain_events(&mut responder);
    assert!(
        matches!(events.as_slice(), [Event::HandshakeComplete { remote_static, .. }]
            if remote_static == static_identity.x25519_public()),
        "unexpected responder events {events:?}"
    );
    assert_eq!(
        responder.poll_transmit(),
        None,
        "responder speaks before the hello"
    );
    (responder, raw)
}

/// An honest responder established with a raw initiator that sent mallory's honest hello.
fn established_responder_facing_raw() -> (Connection, RawPeer) {
    let mallory = mallory();
    let (mut responder, mut raw) = responder_facing_raw(&mallory);
    let record = raw.frame_record(&honest_hello(&mallory, HelloKind::Hello));
    responder.handle_input(T0, &record);
    assert!(responder.is_established());
    let ack = responder.poll_transmit().expect("ack");
    let ack: Envelope = proto::decode(&raw.open(&ack)[0]).expect("ack decodes");
    assert_eq!(ack.msg_type, msg_type::PEER_HELLO_ACK);
    let _ = drain_events(&mut responder);
    (responder, raw)
}

/// Feeds one forged hello (as a frame in a record) from a raw initiator whose Noise key is
/// `static_identity`'s, and checks the responder closed with `expected` and nothing else.
fn assert_responder_rejects(static_identity: &Identity, hello: &[u8], expected: HelloError) {
    let (mut responder, mut raw) = responder_facing_raw(static_identity);
    let record = raw.frame_record(hello);
    responder.handle_input(T0 + millis(1), &record);
    assert_closed_by_hello(&mut responder, expected);
}

/// The connection closed with `CloseReason::Hello(expected)`, never established, sends nothing
/// (no ack) and accepts nothing more.
fn assert_closed_by_hello(connection: &mut Connection, expected: HelloError) {
    let reason = CloseReason::Hello(expected);
    assert_eq!(drain_events(connection), vec![Event::Closed(reason)]);
    assert_eq!(connection.close_reason(), Some(reason));
    assert!(!connection.is_established());
    assert_eq!(connection.peer(), None);
    assert_eq!(
        connection.poll_transmit(),
        None,
        "a rejected hello gets no answer"
    );
    assert_eq!(connection.poll_timeout(), None);
    assert_eq!(connection.send(T0, &[0x28, 0x05]), Err(SendError::Closed));
}

/// `connection` closed with exactly `reason`, once, and holds nothing to send.
fn assert_closed(connection: &mut Connection, events: &[Event], reason: CloseReason) {
    assert_eq!(events, [Event::Closed(reason)].as_slice());
    assert_eq!(connection.close_reason(), Some(reason));
    assert_eq!(connection.poll_transmit(), None);
    assert_eq!(connection.poll_timeout(), None);
}

// ================================================================================ 1–2. honest run

/// Handshake, hello exchange and traffic both ways over `network`.
fn run_back_to_back(network: Chunking) {
    let mut pair = Pair::new(ConnectionConfig::default(), network);
    pair.drive();

    // Noise: both sides authenticated the other's converted identity key, same transcript.
    let (a_hash, b_hash) = match (pair.a_events.as_slice(), pair.b_events.as_slice()) {
        (
            [
                Event::HandshakeComplete {
                    remote_static: a_remote,
                    handshake_hash: a_hash,
                },
                a_rest @ ..,
            ],
            [
                Event::HandshakeComplete {
                    remote_static: b_remote,
                    handshake_hash: b_hash,
                },
                b_rest @ ..,
            ],
        ) => {
            assert_eq!(a_remote, bob().x25519_public());
            assert_eq!(b_remote, alice().x25519_public());
            // Hello: each side verified the other's identity and learned its address.
            assert_eq!(a_rest, [Event::Established(bob_as_peer())].as_slice());
            assert_eq!(b_rest, [Event::Established(alice_as_peer())].as_slice());
            (*a_hash, *b_hash)
        }
        other => panic!("unexpected events {other:?}"),
    };
    assert_eq!(a_hash, b_hash);
    assert_ne!(a_hash, [0; 32]);
    assert_eq!(pair.a.peer(), Some(&bob_as_peer()));
    assert_eq!(pair.b.peer(), Some(&alice_as_peer()));
    assert_eq!(
        (pair.a.role(), pair.b.role()),
        (Role::Initiator, Role::Responder)
    );
    assert_eq!(pair.a.buffered_input() + pair.b.buffered_input(), 0);
    pair.a_events.clear();
    pair.b_events.clear();

    // Steady state: envelopes arrive intact, in order, both ways, over many counters.
    let mut rng = rng(10);
    for round in 0..3 {
        let (sent, bytes) = chat(&alice(), &mut rng, &format!("hello bob #{round}"));
        assert_eq!(pair.a_to_b(&bytes), vec![Event::Envelope(sent)]);
        let (sent, bytes) = chat(&bob(), &mut rng, &format!("hello alice #{round}"));
        assert_eq!(pair.b_to_a(&bytes), vec![Event::Envelope(sent)]);
    }
    for kind in [
        0,
        msg_type::PEER_EXCHANGE,
        msg_type::CORE_RESERVED_FIRST,
        99,
        msg_type::PLUGIN_FIRST,
    ] {
        let (sent, bytes) = typed(&alice(), &mut rng, kind);
        assert_eq!(
            pair.a_to_b(&bytes),
            vec![Event::Envelope(sent)],
            "msg_type {kind}"
        );
    }

    // Keepalives and hello types are consumed by the connection, in both directions.
    let keepalive = proto::encode(&envelope::keepalive());
    assert_eq!(keepalive, [0x28, 0x05]);
    // Any envelope of type 5 is a keepalive, whatever else it carries (spec §8.3).
    let (_, noisy_keepalive) = typed(&alice(), &mut rng, msg_type::KEEPALIVE);
    let consumed = [
        keepalive,
        noisy_keepalive,
        honest_hello(&alice(), HelloKind::Hello),
        honest_hello(&alice(), HelloKind::Ack),
    ];
    for bytes in &consumed {
        pair.a.send(pair.now, bytes).unwrap();
        pair.b.send(pair.now, bytes).unwrap();
    }
    let (last_a, last_a_bytes) = chat(&alice(), &mut rng, "after the noise");
    let (last_b, last_b_bytes) = chat(&bob(), &mut rng, "after the noise too");
    pair.a.send(pair.now, &last_a_bytes).unwrap();
    pair.b.send(pair.now, &last_b_bytes).unwrap();
    pair.drive();
    assert_eq!(pair.b_events, vec![Event::Envelope(last_a)]);
    assert_eq!(pair.a_events, vec![Event::Envelope(last_b)]);
    assert!(pair.a.is_established() && pair.b.is_established());
    assert_eq!(pair.a.buffered_input() + pair.b.buffered_input(), 0);
}

#[test]
fn back_to_back_handshake_hello_and_envelopes_both_ways() {
    run_back_to_back(Chunking::Records);
}

#[test]
fn back_to_back_with_all_pending_records_in_one_read() {
    run_back_to_back(Chunking::Coalesced);
}

#[test]
fn back_to_back_with_one_byte_per_read() {
    run_back_to_back(Chunking::Bytewise);
}

#[test]
fn back_to_back_with_random_chunk_sizes() {
    for seed in 0..4 {
        run_back_to_back(Chunking::Random(Box::new(rng(100 + seed))));
    }
}

#[test]
fn handshake_messages_have_the_spec_lengths_and_hello_follows_message_3() {
    let mut a = new_initiator(ConnectionConfig::default(), T0);
    let mut b = new_responder(ConnectionConfig::default(), T0);
    assert_eq!(b.poll_transmit(), None, "the responder waits for message 1");

    let message_1 = drain_transmits(&mut a);
    assert_eq!(message_1.len(), 1);
    assert_eq!(
        (&message_1[0][..2], message_1[0].len()),
        (&[0x00, 0x20][..], 2 + 32)
    );
    b.handle_input(T0, &message_1[0]);

    let message_2 = drain_transmits(&mut b);
    assert_eq!(message_2.len(), 1);
    assert_eq!(
        (&message_2[0][..2], message_2[0].len()),
        (&[0x00, 0x60][..], 2 + 96)
    );
    a.handle_input(T0, &message_2[0]);

    // The initiator finishes the handshake, then speaks first with its hello.
    let from_a = drain_transmits(&mut a);
    assert_eq!(from_a.len(), 2, "message 3 and the hello");
    assert_eq!(
        (&from_a[0][..2], from_a[0].len()),
        (&[0x00, 0x40][..], 2 + 64)
    );
    let hello_len = honest_hello(&alice(), HelloKind::Hello).len();
    let announced = u32::from_be_bytes(from_a[1][..4].try_into().unwrap()) as usize;
    assert_eq!(announced, 8 + hello_len + 16);
    assert_eq!(from_a[1].len(), 4 + announced);
    assert!(matches!(
        drain_events(&mut a).as_slice(),
        [Event::HandshakeComplete { .. }]
    ));
    assert!(!a.is_established(), "the initiator waits for the ack");
    assert_eq!(a.send(T0, &[0x28, 0x05]), Err(SendError::NotEstablished));
}

// ======================================================================= 3. identity checks

#[test]
fn raw_initiator_with_an_honest_hello_is_accepted() {
    // Control for the forged-hello tests: the raw peer itself is a valid initiator.
    let mallory = mallory();
    let (mut responder, mut raw) = responder_facing_raw(&mallory);
    responder.handle_input(
        T0,
        &raw.frame_record(&honest_hello(&mallory, HelloKind::Hello)),
    );
    let expected = PeerIdentity {
        node_id: mallory.node_id(),
        public_key: *mallory.public_key(),
        reachable: false,
        listen_addr: String::new(),
        version: String::from("0.1.0"),
        lamport: 0,
    };
    assert_eq!(
        drain_events(&mut responder),
        vec![Event::Established(expected)]
    );
    let ack = raw.open(&responder.poll_transmit().expect("ack"));
    assert_eq!(ack, vec![honest_hello_ack_of(&responder_local(), &ack[0])]);
}

/// Checks that `ack` is bob's ack announcing `local`, and returns it unchanged.
fn honest_hello_ack_of(local: &LocalHello, ack: &[u8]) -> Vec<u8> {
    let bob = bob();
    let envelope: Envelope = proto::decode(ack).expect("ack decodes");
    assert_eq!(envelope.msg_type, msg_type::PEER_HELLO_ACK);
    assert_eq!(envelope.sender_id, bob.node_id().as_str());
    envelope::verify(&envelope, bob.public_key()).expect("ack signed by bob");
    let hello: PeerHello = proto::decode(&envelope.payload).expect("ack payload decodes");
    assert_eq!(hello.tags, local.tags);
    assert_eq!(hello.listen_addr, local.listen_addr);
    assert!(hello.reachable);
    ack.to_vec()
}

#[test]
fn hello_whose_node_id_is_not_the_key_hash_is_rejected() {
    let mallory = mallory();
    // Consistent sender_id/node_id, valid signature with the hello's key, but the id is bob's.
    let mut hello = peer_hello(&mallory);
    hello.node_id = bob().node_id().as_str().to_owned();
    let forged = hello_envelope(&mallory, &hello.node_id, msg_type::PEER_HELLO, &hello);
    assert_responder_rejects(
        &mallory,
        &proto::encode(&forged),
        HelloError::NodeIdMismatch,
    );
}

#[test]
fn impersonation_hello_signed_by_another_identity_is_rejected() {
    // Mallory does the Noise handshake with her own key, then replays a hello that is
    // entirely valid for alice (alice's key, id and signature).
    let forged = honest_hello(&alice(), HelloKind::Hello);
    assert_responder_rejects(&mallory(), &forged, HelloError::StaticKeyMismatch);
}

#[test]
fn hello_with_a_bad_signature_is_rejected() {
    let mallory = mallory();
    let honest = hello_envelope(
        &mallory,
        mallory.node_id().as_str(),
        1,
        &peer_hello(&mallory),
    );

    let mut flipped = honest.clone();
    flipped.signature[17] ^= 0x01;
    assert_responder_rejects(
        &mallory,
        &proto::encode(&flipped),
        HelloError::BadSignature(SignatureError::Mismatch),
    );

    // Signed by alice although the hello carries mallory's key.
    let foreign = hello_envelope(
        &alice(),
        mallory.node_id().as_str(),
        1,
        &peer_hello(&mallory),
    );
    assert_responder_rejects(
        &mallory,
        &proto::encode(&foreign),
        HelloError::BadSignature(SignatureError::Mismatch),
    );

    let mut truncated = honest.clone();
    truncated.signature.pop();
    assert_responder_rejects(
        &mallory,
        &proto::encode(&truncated),
        HelloError::BadSignature(SignatureError::SignatureLength(63)),
    );

    let mut short_key = peer_hello(&mallory);
    short_key.ed25519_pubkey.pop();
    let short_key = hello_envelope(&mallory, mallory.node_id().as_str(), 1, &short_key);
    assert_responder_rejects(
        &mallory,
        &proto::encode(&short_key),
        HelloError::BadSignature(SignatureError::PublicKeyLength(31)),
    );
}

#[test]
fn hello_whose_sender_id_differs_from_node_id_is_rejected() {
    let mallory = mallory();
    // Signature valid (it covers the claimed sender_id), node_id correct, sender_id bob's.
    let forged = hello_envelope(&mallory, bob().node_id().as_str(), 1, &peer_hello(&mallory));
    assert_responder_rejects(
        &mallory,
        &proto::encode(&forged),
        HelloError::SenderMismatch,
    );
}

#[test]
fn chat_envelope_instead_of_hello_is_rejected_as_wrong_type() {
    let mallory = mallory();
    let (_, chat) = chat(&mallory, &mut rng(3), "hi, skipping the hello");
    let expected = HelloError::WrongMessageType {
        expected: 1,
        received: msg_type::CHAT,
    };
    assert_responder_rejects(&mallory, &chat, expected);
}

#[test]
fn ack_typed_hello_from_the_initiator_is_rejected_as_wrong_type() {
    let mallory = mallory();
    let ack = honest_hello(&mallory, HelloKind::Ack);
    let expected = HelloError::WrongMessageType {
        expected: 1,
        received: 2,
    };
    assert_responder_rejects(&mallory, &ack, expected);
}

#[test]
fn keepalive_or_empty_frame_instead_of_hello_is_rejected_as_wrong_type() {
    let mallory = mallory();
    let expected = HelloError::WrongMessageType {
        expected: 1,
        received: msg_type::KEEPALIVE,
    };
    assert_responder_rejects(&mallory, &[0x28, 0x05], expected);
    // A zero-length frame decodes as an all-default envelope (msg_type 0), spec §6.
    let expected = HelloError::WrongMessageType {
        expected: 1,
        received: 0,
    };
    assert_responder_rejects(&mallory, &[], expected);
}

#[test]
fn undecodable_hello_envelope_or_payload_is_rejected() {
    let mallory = mallory();
    assert_responder_rejects(&mallory, &[0xff, 0xff], HelloError::MalformedEnvelope);

    let mut garbage = Envelope {
        message_id: "m".to_owned(),
        sender_id: mallory.node_id().as_str().to_owned(),
        msg_type: msg_type::PEER_HELLO,
        payload: vec![0xff, 0xff],
        ..Envelope::default()
    };
    envelope::sign(&mut garbage, &mallory);
    assert_responder_rejects(
        &mallory,
        &proto::encode(&garbage),
        HelloError::MalformedHello,
    );
}

#[test]
fn hello_checks_run_in_the_order_of_the_spec() {
    // Each forged hello fails two checks; the earlier one of §9.3 is reported.
    let mallory = mallory();
    let bob_id = bob().node_id().as_str().to_owned();

    // Type (step 3) before payload decoding (step 4).
    let mut garbage = hello_envelope(&mallory, &bob_id, msg_type::CHAT, &peer_hello(&mallory));
    garbage.payload = vec![0xff, 0xff];
    let expected = HelloError::WrongMessageType {
        expected: 1,
        received: msg_type::CHAT,
    };
    assert_responder_rejects(&mallory, &proto::encode(&garbage), expected);

    // Signature (step 5) before sender_id (step 6).
    let mut unsigned = hello_envelope(&mallory, &bob_id, 1, &peer_hello(&mallory));
    unsigned.signature.clear();
    let expected = HelloError::BadSignature(SignatureError::SignatureLength(0));
    assert_responder_rejects(&mallory, &proto::encode(&unsigned), expected);

    // sender_id (step 6) before node id derivation (step 7).
    let mut hello = peer_hello(&mallory);
    hello.node_id = bob_id.clone();
    let forged = hello_envelope(&mallory, mallory.node_id().as_str(), 1, &hello);
    assert_responder_rejects(
        &mallory,
        &proto::encode(&forged),
        HelloError::SenderMismatch,
    );

    // Node id derivation (step 7) before the static key binding (step 8): alice's key under
    // bob's id, from mallory's Noise session.
    let alice = alice();
    let mut hello = peer_hello(&alice);
    hello.node_id = bob_id.clone();
    let forged = hello_envelope(&alice, &bob_id, 1, &hello);
    assert_responder_rejects(
        &mallory,
        &proto::encode(&forged),
        HelloError::NodeIdMismatch,
    );

    // The node id is compared as lowercase hex text, as the reference does.
    let upper = mallory.node_id().as_str().to_uppercase();
    let mut hello = peer_hello(&mallory);
    hello.node_id = upper.clone();
    let forged = hello_envelope(&mallory, &upper, 1, &hello);
    assert_responder_rejects(
        &mallory,
        &proto::encode(&forged),
        HelloError::NodeIdMismatch,
    );
}

#[test]
fn hello_split_over_several_records_is_accepted() {
    // The frame layer reads the decrypted records as one stream (spec §5.5 step 4).
    let mallory = mallory();
    let (mut responder, mut raw) = responder_facing_raw(&mallory);
    let mut plaintext = Vec::new();
    frame::encode(&honest_hello(&mallory, HelloKind::Hello), &mut plaintext).unwrap();
    let (first, second) = plaintext.split_at(5);
    responder.handle_input(T0, &raw.record(first));
    assert!(!responder.is_established());
    responder.handle_input(T0, &raw.record(&[]));
    responder.handle_input(T0, &raw.record(second));
    assert!(responder.is_established());
}

#[test]
fn initiator_rejects_ack_with_the_hello_type() {
    let bob = bob();
    let mut initiator = new_initiator(ConnectionConfig::default(), T0);
    let mut raw = RawPeer::responder(&bob, &mut initiator, T0);
    let hello = raw.open(&initiator.poll_transmit().expect("hello"));
    assert_eq!(hello, vec![honest_hello_of_alice(&hello[0])]);
    assert!(matches!(
        drain_events(&mut initiator).as_slice(),
        [Event::HandshakeComplete { .. }]
    ));

    initiator.handle_input(T0, &raw.frame_record(&honest_hello(&bob, HelloKind::Hello)));
    assert_closed_by_hello(
        &mut initiator,
        HelloError::WrongMessageType {
            expected: 2,
            received: 1,
        },
    );
}

#[test]
fn initiator_rejects_ack_from_an_impersonator() {
    // Bob's Noise key, but an ack that is entirely valid for mallory.
    let mut initiator = new_initiator(ConnectionConfig::default(), T0);
    let mut raw = RawPeer::responder(&bob(), &mut initiator, T0);
    let _hello = raw.open(&initiator.poll_transmit().expect("hello"));
    let _ = drain_events(&mut initiator);

    initiator.handle_input(
        T0,
        &raw.frame_record(&honest_hello(&mallory(), HelloKind::Ack)),
    );
    assert_closed_by_hello(&mut initiator, HelloError::StaticKeyMismatch);
}

#[test]
fn initiator_accepts_an_honest_ack_from_a_raw_responder() {
    // Control for the forged-ack tests.
    let bob = bob();
    let mut initiator = new_initiator(ConnectionConfig::default(), T0);
    let mut raw = RawPeer::responder(&bob, &mut initiator, T0);
    let _hello = raw.open(&initiator.poll_transmit().expect("hello"));
    let _ = drain_events(&mut initiator);

    initiator.handle_input(T0, &raw.frame_record(&honest_hello(&bob, HelloKind::Ack)));
    let expected = PeerIdentity {
        reachable: false,
        listen_addr: String::new(),
        ..bob_as_peer()
    };
    assert_eq!(
        drain_events(&mut initiator),
        vec![Event::Established(expected)]
    );
    assert_eq!(
        initiator.poll_transmit(),
        None,
        "the initiator sends nothing after the ack"
    );
}

/// Checks that `hello` is alice's honest hello (type 1, unreachable), returns it unchanged.
fn honest_hello_of_alice(hello: &[u8]) -> Vec<u8> {
    let alice = alice();
    let envelope: Envelope = proto::decode(hello).expect("hello decodes");
    assert_eq!(envelope.msg_type, msg_type::PEER_HELLO);
    assert_eq!(envelope.hop_count, 1);
    assert_eq!(envelope.sender_id, alice.node_id().as_str());
    envelope::verify(&envelope, alice.public_key()).expect("hello signed by alice");
    let payload: PeerHello = proto::decode(&envelope.payload).expect("payload decodes");
    assert_eq!(payload.ed25519_pubkey, alice.public_key());
    assert!(!payload.reachable);
    hello.to_vec()
}

// ================================================================================== 4. timers

#[test]
fn idle_pair_exchanges_exactly_one_keepalive_per_side_every_twenty_seconds() {
    let mut pair = Pair::established(ConnectionConfig::default());
    assert_eq!(pair.a.poll_timeout(), Some(T0 + secs(20)));
    assert_eq!(pair.b.poll_timeout(), Some(T0 + secs(20)));

    pair.timeout_both(just_before(T0 + secs(20)));
    assert_eq!(
        (pair.a.queued_transmits(), pair.b.queued_transmits()),
        (0, 0)
    );

    pair.timeout_both(T0 + secs(20));
    let from_a = drain_transmits(&mut pair.a);
    let from_b = drain_transmits(&mut pair.b);
    // One keepalive each: frame `4D49 0001 00000002 2805` encrypted, prefix 0x1A (spec §8.3).
    for keepalive in [&from_a, &from_b] {
        assert_eq!(keepalive.len(), 1);
        assert_eq!(keepalive[0].len(), 4 + 26);
        assert_eq!(&keepalive[0][..4], &[0, 0, 0, 0x1A]);
    }
    // Firing again at the same instant does not queue a second one.
    pair.timeout_both(T0 + secs(20));
    assert_eq!(
        (pair.a.queued_transmits(), pair.b.queued_transmits()),
        (0, 0)
    );
    assert_eq!(pair.a.poll_timeout(), Some(T0 + secs(40)));

    // Delivered keepalives surface nothing but reset the idle timers.
    pair.b.handle_input(T0 + secs(20), &from_a[0]);
    pair.a.handle_input(T0 + secs(20), &from_b[0]);
    pair.collect();
    assert_eq!((pair.a_events.len(), pair.b_events.len()), (0, 0));

    // Next keepalives at +40 s are lost; at +60 s nobody closes (last receive was +20 s) and a
    // keepalive is due again; at +80 s both close.
    pair.timeout_both(T0 + secs(40));
    assert_eq!(drain_transmits(&mut pair.a).len(), 1);
    assert_eq!(drain_transmits(&mut pair.b).len(), 1);
    pair.timeout_both(T0 + secs(60));
    assert!(pair.a.is_established() && pair.b.is_established());
    assert_eq!(drain_transmits(&mut pair.a).len(), 1);
    assert_eq!(drain_transmits(&mut pair.b).len(), 1);
    assert_eq!(pair.a.poll_timeout(), Some(T0 + secs(80)));
    pair.timeout_both(just_before(T0 + secs(80)));
    assert!(pair.a.is_established() && pair.b.is_established());
    pair.timeout_both(T0 + secs(80));
    assert_closed(
        &mut pair.a,
        &core::mem::take(&mut pair.a_events),
        CloseReason::IdleTimeout,
    );
    assert_closed(
        &mut pair.b,
        &core::mem::take(&mut pair.b_events),
        CloseReason::IdleTimeout,
    );
}

#[test]
fn busy_pair_sends_no_keepalive() {
    let mut pair = Pair::established(ConnectionConfig::default());
    let mut rng = rng(4);
    for tick in 1..=12 {
        let now = T0 + secs(5 * tick);
        // Fire every timer the connections ask for before this tick, then this tick.
        for (side, connection) in [("a", &mut pair.a), ("b", &mut pair.b)] {
            let due = connection.poll_timeout().expect("open");
            assert_eq!(due, now + secs(15), "{side}: next timer is the keepalive");
            connection.handle_timeout(just_before(now));
            connection.handle_timeout(now);
            assert_eq!(
                connection.queued_transmits(),
                0,
                "{side}: keepalive while busy"
            );
        }
        pair.now = now;
        let (to_b, to_b_bytes) = chat(&alice(), &mut rng, &format!("a{tick}"));
        let (to_a, to_a_bytes) = chat(&bob(), &mut rng, &format!("b{tick}"));
        pair.a.send(now, &to_b_bytes).unwrap();
        pair.b.send(now, &to_a_bytes).unwrap();
        // Exactly one record per envelope sent, nothing else.
        let from_a = drain_transmits(&mut pair.a);
        let from_b = drain_transmits(&mut pair.b);
        assert_eq!(from_a.len(), 1);
        assert_eq!(from_b.len(), 1);
        assert_eq!(from_a[0].len(), 4 + 8 + to_b_bytes.len() + 16);
        assert_eq!(from_b[0].len(), 4 + 8 + to_a_bytes.len() + 16);
        pair.b.handle_input(now, &from_a[0]);
        pair.a.handle_input(now, &from_b[0]);
        pair.collect();
        assert_eq!(
            core::mem::take(&mut pair.b_events),
            vec![Event::Envelope(to_b)]
        );
        assert_eq!(
            core::mem::take(&mut pair.a_events),
            vec![Event::Envelope(to_a)]
        );
    }
    assert!(pair.a.is_established() && pair.b.is_established());
}

#[test]
fn side_receiving_nothing_closes_at_exactly_sixty_seconds_despite_its_keepalives() {
    // Only a → b works: a keeps sending keepalives, but hears nothing from b.
    let mut pair = Pair::established(ConnectionConfig::default());
    let deadline = T0 + secs(60);
    loop {
        let next = pair
            .a
            .poll_timeout()
            .unwrap()
            .min(pair.b.poll_timeout().unwrap());
        if next >= deadline {
            break;
        }
        pair.timeout_both(next);
        for record in drain_transmits(&mut pair.a) {
            pair.b.handle_input(next, &record);
        }
        let _lost = drain_transmits(&mut pair.b);
    }
    assert!(pair.a_events.is_empty() && pair.b_events.is_empty());
    assert_eq!(pair.a.poll_timeout(), Some(deadline));

    pair.timeout_both(just_before(deadline));
    assert!(pair.a.is_established(), "closed before the idle timeout");
    pair.timeout_both(deadline);
    assert_closed(
        &mut pair.a,
        &core::mem::take(&mut pair.a_events),
        CloseReason::IdleTimeout,
    );
    // b heard a's keepalives (the last at +40 s) and stays up until +100 s.
    assert!(pair.b.is_established());
    assert!(pair.b_events.is_empty());
    assert_eq!(
        pair.b.poll_timeout(),
        Some(T0 + secs(80)),
        "b's next keepalive"
    );
    pair.timeout_both(just_before(T0 + secs(100)));
    assert!(pair.b.is_established());
    pair.timeout_both(T0 + secs(100));
    assert_eq!(pair.b.close_reason(), Some(CloseReason::IdleTimeout));
}

#[test]
fn withheld_hello_closes_both_sides_with_hello_timeout_after_ten_seconds() {
    let mut a = new_initiator(ConnectionConfig::default(), T0);
    let mut b = new_responder(ConnectionConfig::default(), T0);
    // Slow network: message 1 at +1 s, message 2 back at +2 s, message 3 at +5 s.
    b.handle_input(T0 + secs(1), &a.poll_transmit().unwrap());
    a.handle_input(T0 + secs(2), &b.poll_transmit().unwrap());
    let message_3 = a.poll_transmit().unwrap();
    let _withheld_hello = a.poll_transmit().expect("a queued its hello");
    b.handle_input(T0 + secs(5), &message_3);
    assert!(matches!(
        drain_events(&mut a).as_slice(),
        [Event::HandshakeComplete { .. }]
    ));
    assert!(matches!(
        drain_events(&mut b).as_slice(),
        [Event::HandshakeComplete { .. }]
    ));

    // The hello deadline replaces the handshake deadline (T0 + 10 s).
    assert_eq!(a.poll_timeout(), Some(T0 + secs(12)));
    assert_eq!(b.poll_timeout(), Some(T0 + secs(15)));
    b.handle_timeout(T0 + secs(10));
    b.handle_timeout(just_before(T0 + secs(15)));
    assert!(!b.is_closed(), "closed before the hello deadline");
    assert_eq!(b.poll_transmit(), None);
    b.handle_timeout(T0 + secs(15));
    let events = drain_events(&mut b);
    assert_closed(&mut b, &events, CloseReason::HelloTimeout);

    // The initiator never got an ack either.
    a.handle_timeout(just_before(T0 + secs(12)));
    assert!(!a.is_closed());
    a.handle_timeout(T0 + secs(12));
    let events = drain_events(&mut a);
    assert_closed(&mut a, &events, CloseReason::HelloTimeout);
}

#[test]
fn silent_peer_closes_with_handshake_timeout_after_ten_seconds() {
    let mut b = new_responder(ConnectionConfig::default(), T0);
    assert_eq!(b.poll_timeout(), Some(T0 + secs(10)));
    b.handle_timeout(just_before(T0 + secs(10)));
    assert!(!b.is_closed());
    b.handle_timeout(T0 + secs(10));
    let events = drain_events(&mut b);
    assert_closed(&mut b, &events, CloseReason::HandshakeTimeout);

    // An initiator whose message 1 is never answered.
    let mut a = new_initiator(ConnectionConfig::default(), T0);
    let _ = a.poll_transmit();
    a.handle_timeout(just_before(T0 + secs(10)));
    assert!(!a.is_closed());
    a.handle_timeout(T0 + secs(10));
    let events = drain_events(&mut a);
    assert_closed(&mut a, &events, CloseReason::HandshakeTimeout);
}

#[test]
fn slowloris_initiator_closes_responder_with_handshake_timeout() {
    let mut a = new_initiator(ConnectionConfig::default(), T0);
    let mut b = new_responder(ConnectionConfig::default(), T0);
    // Message 1 arrives at +9 s; message 3 is then trickled one byte per second.
    b.handle_input(T0 + secs(9), &a.poll_transmit().unwrap());
    a.handle_input(T0 + secs(9), &b.poll_transmit().unwrap());
    let message_3 = a.poll_transmit().unwrap();
    assert_eq!(
        b.poll_timeout(),
        Some(T0 + secs(10)),
        "input does not extend the deadline"
    );
    b.handle_input(T0 + secs(9) + millis(500), &message_3[..1]);
    b.handle_timeout(just_before(T0 + secs(10)));
    assert!(!b.is_closed());
    assert_eq!(b.buffered_input(), 1);
    b.handle_timeout(T0 + secs(10));
    let events = drain_events(&mut b);
    assert_closed(&mut b, &events, CloseReason::HandshakeTimeout);
    // The rest of message 3 changes nothing any more.
    b.handle_input(T0 + secs(11), &message_3[1..]);
    assert_eq!(drain_events(&mut b), Vec::new());
}

#[test]
fn write_blocked_for_ten_seconds_closes_with_write_timeout() {
    let mut pair = Pair::established(ConnectionConfig::default());
    let since = T0 + secs(2);
    pair.a.set_write_blocked(Some(since));
    assert_eq!(pair.a.poll_timeout(), Some(since + secs(10)));
    pair.timeout_both(just_before(since + secs(10)));
    assert!(pair.a.is_established());
    pair.timeout_both(since + secs(10));
    assert_closed(
        &mut pair.a,
        &core::mem::take(&mut pair.a_events),
        CloseReason::WriteTimeout,
    );
    assert!(pair.b.is_established() && pair.b_events.is_empty());
}

#[test]
fn write_unblocked_before_the_deadline_keeps_the_connection() {
    let mut pair = Pair::established(ConnectionConfig::default());
    let since = T0 + secs(2);
    pair.a.set_write_blocked(Some(since));
    pair.timeout_both(since + secs(9));
    pair.a.set_write_blocked(None);
    assert_eq!(
        pair.a.poll_timeout(),
        Some(T0 + secs(20)),
        "back to the keepalive timer"
    );
    pair.timeout_both(since + secs(10));
    pair.timeout_both(since + secs(15));
    assert!(pair.a.is_established() && pair.a_events.is_empty());

    // Blocking again starts a new 10 s period from the new instant.
    let again = T0 + secs(18);
    pair.a.set_write_blocked(Some(again));
    pair.timeout_both(just_before(again + secs(10)));
    assert!(pair.a.is_established());
    pair.timeout_both(again + secs(10));
    assert_eq!(pair.a.close_reason(), Some(CloseReason::WriteTimeout));
}

#[test]
fn write_timeout_applies_during_the_handshake_too() {
    let mut b = new_responder(ConnectionConfig::default(), T0);
    b.set_write_blocked(Some(T0 + secs(1)));
    assert_eq!(
        b.poll_timeout(),
        Some(T0 + secs(10)),
        "the handshake deadline comes first"
    );
    b.set_write_blocked(Some(Instant::from_secs(995)));
    assert_eq!(b.poll_timeout(), Some(T0 + secs(5)));
    b.handle_timeout(T0 + secs(5));
    let events = drain_events(&mut b);
    assert_closed(&mut b, &events, CloseReason::WriteTimeout);
}

fn short_config() -> ConnectionConfig {
    ConnectionConfig {
        handshake_timeout: millis(2_000),
        hello_timeout: millis(3_000),
        idle_timeout: millis(9_000),
        keepalive_interval: millis(4_000),
        write_timeout: millis(1_000),
        max_queued_frames: 3,
    }
}

#[test]
fn custom_config_durations_are_honoured() {
    // Handshake deadline.
    let mut b = new_responder(short_config(), T0);
    assert_eq!(b.poll_timeout(), Some(T0 + millis(2_000)));
    b.handle_timeout(T0 + millis(1_999));
    assert!(!b.is_closed());
    b.handle_timeout(T0 + millis(2_000));
    assert_eq!(b.close_reason(), Some(CloseReason::HandshakeTimeout));

    // Hello deadline, counted from the end of the handshake.
    let mut a = new_initiator(short_config(), T0);
    let mut b = new_responder(short_config(), T0);
    b.handle_input(T0 + millis(500), &a.poll_transmit().unwrap());
    a.handle_input(T0 + millis(500), &b.poll_transmit().unwrap());
    b.handle_input(T0 + millis(1_000), &a.poll_transmit().unwrap());
    assert_eq!(b.poll_timeout(), Some(T0 + millis(4_000)));
    b.handle_timeout(T0 + millis(3_999));
    assert!(!b.is_closed());
    b.handle_timeout(T0 + millis(4_000));
    assert_eq!(b.close_reason(), Some(CloseReason::HelloTimeout));

    // Keepalive every 4 s, idle close after 9 s of silence.
    let mut pair = Pair::established(short_config());
    assert_eq!(pair.a.poll_timeout(), Some(T0 + millis(4_000)));
    pair.timeout_both(T0 + millis(3_999));
    assert_eq!(pair.a.queued_transmits(), 0);
    pair.timeout_both(T0 + millis(4_000));
    assert_eq!(drain_transmits(&mut pair.a).len(), 1);
    pair.timeout_both(T0 + millis(8_000));
    assert_eq!(drain_transmits(&mut pair.a).len(), 1);
    assert_eq!(pair.a.poll_timeout(), Some(T0 + millis(9_000)));
    pair.timeout_both(T0 + millis(8_999));
    assert!(pair.a.is_established());
    pair.timeout_both(T0 + millis(9_000));
    assert_eq!(pair.a.close_reason(), Some(CloseReason::IdleTimeout));
    assert_eq!(pair.b.close_reason(), Some(CloseReason::IdleTimeout));

    // Write timeout of 1 s.
    let mut pair = Pair::established(short_config());
    pair.b.set_write_blocked(Some(T0 + millis(100)));
    assert_eq!(pair.b.poll_timeout(), Some(T0 + millis(1_100)));
    pair.timeout_both(T0 + millis(1_099));
    assert!(pair.b.is_established());
    pair.timeout_both(T0 + millis(1_100));
    assert_eq!(pair.b.close_reason(), Some(CloseReason::WriteTimeout));

    // Queue of 3 frames.
    let mut pair = Pair::established(short_config());
    for _ in 0..3 {
        pair.a.send(T0, &[0x28, 0x05]).unwrap();
    }
    assert_eq!(pair.a.send(T0, &[0x28, 0x05]), Err(SendError::QueueFull));
}

#[test]
fn local_close_and_transport_close_discard_queued_records() {
    let mut pair = Pair::established(ConnectionConfig::default());
    let (_, bytes) = chat(&alice(), &mut rng(14), "never sent");
    pair.a.send(T0, &bytes).unwrap();
    pair.a.send(T0, &bytes).unwrap();
    pair.a.close();
    let events = drain_events(&mut pair.a);
    assert_closed(&mut pair.a, &events, CloseReason::Local);
    assert_eq!(pair.a.send(T0, &bytes), Err(SendError::Closed));
    pair.a.handle_transport_closed();
    pair.a.handle_timeout(T0 + secs(3_600));
    assert_eq!(
        drain_events(&mut pair.a),
        Vec::new(),
        "closed once, with the first reason"
    );

    pair.b.send(T0, &bytes).unwrap();
    pair.b.handle_transport_closed();
    let events = drain_events(&mut pair.b);
    assert_closed(&mut pair.b, &events, CloseReason::TransportClosed);
}

#[test]
fn timeout_close_discards_queued_records() {
    let mut pair = Pair::established(ConnectionConfig::default());
    let (_, bytes) = chat(&alice(), &mut rng(15), "stuck");
    pair.a.send(T0 + secs(1), &bytes).unwrap();
    pair.a.set_write_blocked(Some(T0 + secs(1)));
    pair.timeout_both(T0 + secs(11));
    assert_closed(
        &mut pair.a,
        &core::mem::take(&mut pair.a_events),
        CloseReason::WriteTimeout,
    );
}

// ========================================================================== 5. large messages

#[test]
fn largest_envelope_is_sent_and_received_intact() {
    let mut pair = Pair::established(ConnectionConfig::default());
    let (sent, bytes) = envelope_of_len(MAX_FRAME_PAYLOAD);
    pair.a
        .send(T0, &bytes)
        .expect("1 MiB envelope is within the frame limit");
    let records = drain_transmits(&mut pair.a);
    assert_eq!(
        records.len(),
        1,
        "one frame, one transport message (spec §5.6)"
    );
    assert_eq!(&records[0][..4], &(MAX_CIPHERTEXT as u32).to_be_bytes());
    assert_eq!(&records[0][..4], &[0x00, 0x10, 0x00, 0x18]);
    assert_eq!(records[0].len(), 4 + MAX_CIPHERTEXT);

    // Delivered in awkward pieces.
    for piece in records[0].chunks(65_537) {
        pair.b.handle_input(T0, piece);
    }
    assert_eq!(drain_events(&mut pair.b), vec![Event::Envelope(sent)]);
    assert_eq!(pair.b.buffered_input(), 0);

    // The other direction too, and the counters still agree afterwards.
    let (sent, bytes) = envelope_of_len(MAX_FRAME_PAYLOAD);
    assert_eq!(pair.b_to_a(&bytes), vec![Event::Envelope(sent)]);
    let (sent, bytes) = chat(&alice(), &mut rng(5), "small again");
    assert_eq!(pair.a_to_b(&bytes), vec![Event::Envelope(sent)]);
}

#[test]
fn oversized_envelope_is_refused_and_the_connection_stays_established() {
    let mut pair = Pair::established(ConnectionConfig::default());
    let (_, bytes) = envelope_of_len(MAX_FRAME_PAYLOAD + 1);
    assert_eq!(
        pair.a.send(T0, &bytes),
        Err(SendError::Frame(FrameError::PayloadTooLarge(1_048_577)))
    );
    assert_eq!(pair.a.queued_transmits(), 0);
    assert!(pair.a.is_established());
    assert_eq!(pair.a.close_reason(), None);
    assert_eq!(drain_events(&mut pair.a), Vec::new());
    let (sent, bytes) = chat(&alice(), &mut rng(6), "still here");
    assert_eq!(pair.a_to_b(&bytes), vec![Event::Envelope(sent)]);
}

#[test]
fn transport_record_announcing_too_many_bytes_closes_before_the_body() {
    let mut pair = Pair::established(ConnectionConfig::default());
    // The largest legal announcement is buffered, waiting for its body.
    pair.b.handle_input(T0, &[0x00, 0x10, 0x00, 0x18]);
    assert!(pair.b.is_established());
    assert_eq!(pair.b.buffered_input(), 4);

    let mut pair = Pair::established(ConnectionConfig::default());
    pair.b.handle_input(T0, &[0x00, 0x10]);
    assert!(pair.b.is_established());
    pair.b.handle_input(T0, &[0x00, 0x19]);
    let events = drain_events(&mut pair.b);
    assert_closed(
        &mut pair.b,
        &events,
        CloseReason::Noise(NoiseError::MessageTooLarge(1_048_601)),
    );
    assert_eq!(
        pair.b.buffered_input(),
        4,
        "no byte of the body was buffered"
    );
}

#[test]
fn transport_record_shorter_than_the_tag_closes() {
    let mut pair = Pair::established(ConnectionConfig::default());
    pair.b.handle_input(T0, &[0, 0, 0, 15]);
    pair.b.handle_input(T0, &[0; 15]);
    let events = drain_events(&mut pair.b);
    assert_closed(
        &mut pair.b,
        &events,
        CloseReason::Noise(NoiseError::MessageTooShort(15)),
    );
}

#[test]
fn bad_frame_header_inside_a_valid_record_closes() {
    let (mut responder, mut raw) = established_responder_facing_raw();
    // Control: a valid frame from the raw peer surfaces.
    let (sent, bytes) = chat(&mallory(), &mut rng(7), "valid first");
    responder.handle_input(T0, &raw.frame_record(&bytes));
    assert_eq!(drain_events(&mut responder), vec![Event::Envelope(sent)]);

    let bad_magic = [b'X', b'X', 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x28, 0x05];
    responder.handle_input(T0, &raw.record(&bad_magic));
    let events = drain_events(&mut responder);
    assert_closed(
        &mut responder,
        &events,
        CloseReason::Frame(FrameError::BadMagic(0x5858)),
    );

    let (mut responder, mut raw) = established_responder_facing_raw();
    let bad_version = [0x4D, 0x49, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x28, 0x05];
    responder.handle_input(T0, &raw.record(&bad_version));
    let events = drain_events(&mut responder);
    assert_closed(
        &mut responder,
        &events,
        CloseReason::Frame(FrameError::BadVersion(2)),
    );

    let (mut responder, mut raw) = established_responder_facing_raw();
    let oversize = [0x4D, 0x49, 0x00, 0x01, 0x00, 0x10, 0x00, 0x01];
    responder.handle_input(T0, &raw.record(&oversize));
    let events = drain_events(&mut responder);
    assert_closed(
        &mut responder,
        &events,
        CloseReason::Frame(FrameError::Oversize(1_048_577)),
    );
}

#[test]
fn corrupted_ciphertext_closes_with_decrypt_error() {
    let mut pair = Pair::established(ConnectionConfig::default());
    let (_, bytes) = chat(&alice(), &mut rng(8), "tampered");
    pair.a.send(T0, &bytes).unwrap();
    let mut record = pair.a.poll_transmit().unwrap();
    record[4 + 20] ^= 0x40;
    pair.b.handle_input(T0, &record);
    let events = drain_events(&mut pair.b);
    assert_closed(
        &mut pair.b,
        &events,
        CloseReason::Noise(NoiseError::Decrypt),
    );
}

#[test]
fn replayed_record_closes_with_decrypt_error() {
    // Each record uses the next nonce: a replayed record no longer authenticates.
    let mut pair = Pair::established(ConnectionConfig::default());
    let (sent, bytes) = chat(&alice(), &mut rng(9), "once");
    pair.a.send(T0, &bytes).unwrap();
    let record = pair.a.poll_transmit().unwrap();
    pair.b.handle_input(T0, &record);
    assert_eq!(drain_events(&mut pair.b), vec![Event::Envelope(sent)]);
    pair.b.handle_input(T0, &record);
    let events = drain_events(&mut pair.b);
    assert_closed(
        &mut pair.b,
        &events,
        CloseReason::Noise(NoiseError::Decrypt),
    );
}

#[test]
fn frames_split_across_and_packed_into_records_are_all_delivered() {
    let (mut responder, mut raw) = established_responder_facing_raw();
    let mut rng = rng(11);
    let envelopes: Vec<_> = (0..3)
        .map(|i| chat(&mallory(), &mut rng, &format!("#{i}")))
        .collect();
    let mut stream = Vec::new();
    for (_, bytes) in &envelopes {
        frame::encode(bytes, &mut stream).unwrap();
    }
    // Record 1: frame 0 and half of frame 1; record 2: empty; record 3: the rest.
    let cut = stream.len() / 2;
    responder.handle_input(T0, &raw.record(&stream[..cut]));
    responder.handle_input(T0, &raw.record(&[]));
    responder.handle_input(T0, &raw.record(&stream[cut..]));
    let expected: Vec<_> = envelopes
        .into_iter()
        .map(|(sent, _)| Event::Envelope(sent))
        .collect();
    assert_eq!(drain_events(&mut responder), expected);
    assert!(responder.is_established());
}

// ============================================================================ 6. queue bound

#[test]
fn send_queue_holds_sixty_four_frames() {
    let mut pair = Pair::established(ConnectionConfig::default());
    let mut rng = rng(12);
    let mut sent = Vec::new();
    for i in 0..64 {
        let (envelope, bytes) = chat(&alice(), &mut rng, &format!("queued {i}"));
        pair.a
            .send(T0, &bytes)
            .unwrap_or_else(|e| panic!("send {i}: {e}"));
        sent.push(Event::Envelope(envelope));
    }
    assert_eq!(pair.a.queued_transmits(), 64);
    let (dropped, dropped_bytes) = chat(&alice(), &mut rng, "one too many");
    assert_eq!(pair.a.send(T0, &dropped_bytes), Err(SendError::QueueFull));
    assert_eq!(pair.a.queued_transmits(), 64);
    assert!(
        pair.a.is_established(),
        "a full queue does not close the connection"
    );

    let first = pair.a.poll_transmit().unwrap();
    pair.b.handle_input(T0, &first);
    let (last, last_bytes) = chat(&alice(), &mut rng, "room again");
    pair.a.send(T0, &last_bytes).expect("a slot was freed");
    assert_eq!(pair.a.send(T0, &last_bytes), Err(SendError::QueueFull));
    sent.push(Event::Envelope(last));

    pair.drive();
    assert_eq!(
        pair.b_events, sent,
        "all queued envelopes arrive in order, the refused one not"
    );
    assert!(!pair.b_events.contains(&Event::Envelope(dropped)));
}

// ==================================================================== 7. malformed envelopes

#[test]
fn malformed_envelope_in_steady_state_is_ignored() {
    let mut pair = Pair::established(ConnectionConfig::default());
    assert_eq!(pair.a_to_b(&[0xff, 0xff]), Vec::new());
    assert!(pair.b.is_established());
    // Invalid UTF-8 in a string field is a decode error too.
    assert_eq!(pair.a_to_b(&[0x0a, 0x01, 0xff]), Vec::new());
    assert!(pair.b.is_established());

    // An empty frame is a valid, all-default envelope: it surfaces (spec §6).
    assert_eq!(pair.a_to_b(&[]), vec![Event::Envelope(Envelope::default())]);

    let (sent, bytes) = chat(&alice(), &mut rng(13), "still in sync");
    assert_eq!(pair.a_to_b(&bytes), vec![Event::Envelope(sent)]);
}

#[test]
fn malformed_envelope_resets_the_idle_timer() {
    // A frame that fails to decode was still read (spec §9.6 step 1 precedes step 3).
    let mut pair = Pair::established(ConnectionConfig::default());
    pair.now = T0 + secs(50);
    assert_eq!(pair.a_to_b(&[0xff, 0xff]), Vec::new());
    pair.b.handle_timeout(T0 + secs(60));
    assert!(pair.b.is_established());
    pair.b.handle_timeout(T0 + secs(110));
    assert_eq!(pair.b.close_reason(), Some(CloseReason::IdleTimeout));
}
