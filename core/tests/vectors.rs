//! Reproduces, byte for byte, every vector produced by the reference Go implementation:
//! `vectors/reference-vectors.json` and PROTOCOL.md Appendix A (`vectors/protocol-appendix-a.json`).

use std::collections::VecDeque;

use micelio_core::connection::{Connection, ConnectionConfig, Event, LocalHello, Role};
use micelio_core::envelope::{self, HelloKind, msg_type};
use micelio_core::frame;
use micelio_core::identity::{Identity, NodeId, x25519_public_from_ed25519};
use micelio_core::noise::Handshake;
use micelio_core::proto::{self, ChatMessage, Envelope, PeerExchange, PeerHello, PeerInfo};
use micelio_core::time::Instant;
use rand_core::{CryptoRng, RngCore};
use serde_json::Value;

const REFERENCE: &str = include_str!("../../vectors/reference-vectors.json");
const APPENDIX_A: &str = include_str!("../../vectors/protocol-appendix-a.json");

fn reference() -> Value {
    serde_json::from_str(REFERENCE).expect("reference vectors parse")
}

fn appendix() -> Value {
    serde_json::from_str(APPENDIX_A).expect("appendix vectors parse")
}

fn bytes(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().expect("hex string")).expect("valid hex")
}

fn text(value: &Value) -> String {
    value.as_str().expect("string").to_owned()
}

fn seed(value: &Value) -> [u8; 32] {
    bytes(value).try_into().expect("32-byte seed")
}

fn node_a() -> Identity {
    Identity::from_seed(&seed(&reference()["node_a"]["ed25519_seed_hex"]))
}

fn node_b() -> Identity {
    Identity::from_seed(&seed(&reference()["node_b"]["ed25519_seed_hex"]))
}

/// An RNG that hands out a fixed script of bytes, so that ephemeral keys and message ids are
/// exactly the ones the reference used.
struct ScriptedRng(VecDeque<u8>);

impl ScriptedRng {
    fn new(chunks: &[&[u8]]) -> Self {
        ScriptedRng(chunks.iter().flat_map(|c| c.iter().copied()).collect())
    }
}

impl RngCore for ScriptedRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for byte in dest {
            *byte = self.0.pop_front().expect("scripted RNG ran out of bytes");
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for ScriptedRng {}

/// Random bytes that the UUID v4 builder turns into `00000000-0000-4000-8000-0000000000NN`.
fn uuid_bytes(last: u8) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[15] = last;
    b
}

/// Checks seed -> keys -> node id -> X25519 for one identity against the given field names.
fn assert_identity(v: &Value, seed_key: &str, public_key: &str, x_private: &str, x_public: &str) {
    let identity = Identity::from_seed(&seed(&v[seed_key]));
    let node_id = text(&v["node_id"]);
    assert_eq!(identity.public_key().to_vec(), bytes(&v[public_key]));
    assert_eq!(identity.node_id().as_str(), node_id);
    assert_eq!(
        NodeId::from_public_key(identity.public_key()).as_str(),
        node_id
    );
    assert_eq!(identity.x25519_private().to_vec(), bytes(&v[x_private]));
    assert_eq!(identity.x25519_public().to_vec(), bytes(&v[x_public]));
    assert_eq!(
        x25519_public_from_ed25519(identity.public_key())
            .unwrap()
            .to_vec(),
        bytes(&v[x_public])
    );
    assert_eq!(identity.seed().to_vec(), bytes(&v[seed_key]));
}

#[test]
fn identities_match_reference_vectors() {
    let v = reference();
    for name in ["node_a", "node_b"] {
        let n = &v[name];
        assert_identity(
            n,
            "ed25519_seed_hex",
            "ed25519_public_key_hex",
            "x25519_private_key_hex",
            "x25519_public_key_hex",
        );
        // The 64-byte Go private key form is seed || public key.
        let identity = Identity::from_seed(&seed(&n["ed25519_seed_hex"]));
        let mut go_private = identity.seed().to_vec();
        go_private.extend_from_slice(identity.public_key());
        assert_eq!(go_private, bytes(&n["ed25519_private_key_hex"]));
        assert_eq!(
            bytes(&n["x25519_public_from_private"]),
            bytes(&n["x25519_public_key_hex"])
        );
    }
    // The stored X25519 private key is unclamped; clamping it gives the scalar X25519 uses.
    let mut clamped = node_a().x25519_private().to_owned();
    clamped[0] &= 248;
    clamped[31] &= 127;
    clamped[31] |= 64;
    assert_eq!(
        clamped.to_vec(),
        bytes(&v["x25519_notes"]["node_a_x25519_private_clamped_hex"])
    );
}

#[test]
fn identities_match_appendix_a() {
    let v = appendix();
    for name in ["identity_a", "identity_b"] {
        assert_identity(
            &v[name],
            "seed",
            "ed25519_public",
            "x25519_private",
            "x25519_public",
        );
    }
}

#[test]
fn x25519_conversion_edge_cases() {
    assert!(x25519_public_from_ed25519(&[0u8; 5]).is_err());
    // The identity point (y = 1) converts to 32 zero bytes.
    let mut identity_point = [0u8; 32];
    identity_point[0] = 1;
    assert_eq!(
        x25519_public_from_ed25519(&identity_point).unwrap(),
        [0u8; 32]
    );
}

/// Checks signed bytes, signature, serialized envelope and frame of one reference envelope
/// built by our code from its fields.
fn assert_envelope(v: &Value, built: &Envelope) {
    assert_eq!(
        envelope::signed_bytes(built),
        bytes(&v["signed_data_hex"]),
        "signed bytes"
    );
    assert_eq!(built.signature, bytes(&v["signature_hex"]), "signature");
    let encoded = proto::encode(built);
    assert_eq!(encoded, bytes(&v["envelope_hex"]), "serialized envelope");
    let mut framed = Vec::new();
    frame::encode(&encoded, &mut framed).unwrap();
    assert_eq!(framed, bytes(&v["frame_hex"]), "frame");
    let decoded: Envelope = proto::decode(&encoded).unwrap();
    assert_eq!(&decoded, built);
    assert_eq!(
        envelope::verify(&decoded, &bytes(&v_pubkey(v))).is_ok(),
        v["verifies"] == true
    );
}

/// The public key a vector's envelope verifies with: its sender's key.
fn v_pubkey(v: &Value) -> Value {
    let r = reference();
    if v["sender_id"] == r["node_a"]["node_id"] {
        r["node_a"]["ed25519_public_key_hex"].clone()
    } else {
        r["node_b"]["ed25519_public_key_hex"].clone()
    }
}

fn identity_of(sender_id: &Value) -> Identity {
    if *sender_id == reference()["node_a"]["node_id"] {
        node_a()
    } else {
        node_b()
    }
}

#[test]
fn chat_envelope_and_one_hop_match_reference() {
    let v = &reference()["chat_envelope"];
    let chat = ChatMessage {
        nick: text(&v["chat"]["nick"]),
        text: text(&v["chat"]["text"]),
        timestamp: v["chat"]["timestamp"].as_u64().unwrap(),
    };
    assert_eq!(proto::encode(&chat), bytes(&v["payload_hex"]));
    let built = envelope::chat(&identity_of(&v["sender_id"]), text(&v["message_id"]), &chat);
    assert_eq!(built.hop_count, 10);
    assert_eq!(built.sender_pubkey, bytes(&v["sender_pubkey_hex"]));
    assert_envelope(v, &built);

    let mut relayed = built.clone();
    relayed.hop_count -= 1;
    let hop = &v["after_one_hop"];
    assert_eq!(proto::encode(&relayed), bytes(&hop["envelope_hex"]));
    let mut framed = Vec::new();
    frame::encode(&proto::encode(&relayed), &mut framed).unwrap();
    assert_eq!(framed, bytes(&hop["frame_hex"]));
    assert!(envelope::verify(&relayed, &bytes(&v["sender_pubkey_hex"])).is_ok());
}

fn hello_from(v: &Value) -> PeerHello {
    PeerHello {
        node_id: text(&v["node_id"]),
        version: text(&v["version"]),
        tags: v["tags"].as_array().unwrap().iter().map(text).collect(),
        reachable: v["reachable"] == true,
        listen_addr: text(&v["listen_addr"]),
        ed25519_pubkey: bytes(&v["ed25519_pubkey_hex"]),
    }
}

#[test]
fn peer_hello_and_ack_match_reference() {
    let r = reference();
    for (name, inner, kind) in [
        ("peer_hello", "peer_hello", HelloKind::Hello),
        ("peer_hello_ack", "peer_hello_ack", HelloKind::Ack),
    ] {
        let v = &r[name];
        let hello = hello_from(&v[inner]);
        assert_eq!(
            proto::encode(&hello),
            bytes(&v["payload_hex"]),
            "{name} payload"
        );
        let identity = identity_of(&v["sender_id"]);
        // Our own hello builder produces the same payload from the node's settings.
        let ours = envelope::local_hello(&identity, hello.tags.clone(), hello.listen_addr.clone());
        assert_eq!(ours, hello);
        let built = envelope::hello(&identity, text(&v["message_id"]), kind, &hello);
        assert_eq!(built.msg_type, v["msg_type"].as_u64().unwrap() as u32);
        assert_eq!(built.hop_count, 1);
        assert!(built.sender_pubkey.is_empty());
        assert_envelope(v, &built);
    }
}

#[test]
fn peer_exchange_matches_reference() {
    let v = &reference()["peer_exchange"];
    let peers = v["peer_exchange"]["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| PeerInfo {
            node_id: text(&p["node_id"]),
            addr: text(&p["addr"]),
            reachable: p["reachable"] == true,
            ed25519_pubkey: bytes(&p["ed25519_pubkey_hex"]),
            last_seen: p["last_seen"].as_u64().unwrap(),
        })
        .collect();
    let exchange = PeerExchange { peers };
    assert_eq!(proto::encode(&exchange), bytes(&v["payload_hex"]));
    let built = envelope::peer_exchange(
        &identity_of(&v["sender_id"]),
        text(&v["message_id"]),
        &exchange,
    );
    assert_eq!(built.msg_type, msg_type::PEER_EXCHANGE);
    assert_envelope(v, &built);
}

#[test]
fn keepalive_matches_reference() {
    let v = &reference()["keepalive"];
    let encoded = proto::encode(&envelope::keepalive());
    assert_eq!(encoded, bytes(&v["envelope_hex"]));
    let mut framed = Vec::new();
    frame::encode(&encoded, &mut framed).unwrap();
    assert_eq!(framed, bytes(&v["frame_hex"]));
    let a = &appendix()["keepalive"];
    assert_eq!(encoded, bytes(&a["envelope"]));
    assert_eq!(framed, bytes(&a["frame"]));
}

#[test]
fn appendix_a_chat_envelope() {
    let v = &appendix()["chat"];
    let identity = Identity::from_seed(&seed(&appendix()["identity_a"]["seed"]));
    let chat = ChatMessage {
        nick: text(&v["nick"]),
        text: text(&v["text"]),
        timestamp: v["timestamp"].as_u64().unwrap(),
    };
    assert_eq!(proto::encode(&chat), bytes(&v["payload"]));
    let built = envelope::chat(&identity, text(&v["message_id"]), &chat);
    assert_eq!(envelope::signed_bytes(&built), bytes(&v["signed_bytes"]));
    assert_eq!(built.signature, bytes(&v["signature"]));
    let encoded = proto::encode(&built);
    assert_eq!(encoded.len(), 230);
    assert_eq!(encoded, bytes(&v["envelope"]));
    let mut framed = Vec::new();
    frame::encode(&encoded, &mut framed).unwrap();
    assert_eq!(framed[..8].to_vec(), bytes(&v["frame_header"]));
    assert_eq!(&framed[8..], &encoded[..]);

    // One relay changes only `20 0a` into `20 09`, and the signature still verifies.
    let mut relayed = built.clone();
    relayed.hop_count = 9;
    let relayed_bytes = proto::encode(&relayed);
    let diff: Vec<usize> = (0..encoded.len())
        .filter(|&i| encoded[i] != relayed_bytes[i])
        .collect();
    assert_eq!(relayed_bytes.len(), encoded.len());
    assert_eq!(diff.len(), 1);
    assert_eq!(
        (
            encoded[diff[0] - 1],
            encoded[diff[0]],
            relayed_bytes[diff[0]]
        ),
        (0x20, 0x0a, 0x09)
    );
    assert!(envelope::verify(&relayed, identity.public_key()).is_ok());
}

#[test]
fn appendix_a_signed_bytes_layout() {
    let v = &appendix()["signed_bytes_layout"];
    let e = Envelope {
        message_id: text(&v["message_id"]),
        sender_id: text(&v["sender_id"]),
        lamport_ts: u64::from_str_radix(v["lamport_ts"].as_str().unwrap(), 16).unwrap(),
        msg_type: v["msg_type"].as_u64().unwrap() as u32,
        payload: bytes(&v["payload"]),
        ..Envelope::default()
    };
    assert_eq!(envelope::signed_bytes(&e), bytes(&v["signed_bytes"]));
}

#[test]
fn appendix_a_hellos_and_exchange() {
    let v = appendix();
    let a = Identity::from_seed(&seed(&v["identity_a"]["seed"]));
    let b = Identity::from_seed(&seed(&v["identity_b"]["seed"]));

    let h = &v["peer_hello_a"];
    let tags = h["tags"].as_array().unwrap().iter().map(text).collect();
    let hello = envelope::local_hello(&a, tags, text(&h["listen_addr"]));
    assert_eq!(proto::encode(&hello), bytes(&h["payload"]));
    let built = envelope::hello(&a, text(&h["message_id"]), HelloKind::Hello, &hello);
    assert_eq!(built.signature, bytes(&h["signature"]));
    assert_eq!(proto::encode(&built), bytes(&h["envelope"]));

    let outbound_only = envelope::local_hello(&b, Vec::new(), String::new());
    assert!(!outbound_only.reachable);
    assert_eq!(
        proto::encode(&outbound_only),
        bytes(&v["peer_hello_b_outbound_only"]["payload"])
    );

    let x = &v["peer_exchange_a"];
    let exchange = PeerExchange {
        peers: vec![PeerInfo {
            node_id: text(&x["peer_node_id"]),
            addr: text(&x["peer_addr"]),
            reachable: true,
            ed25519_pubkey: b.public_key().to_vec(),
            last_seen: x["last_seen"].as_u64().unwrap(),
        }],
    };
    assert_eq!(proto::encode(&exchange), bytes(&x["payload"]));
    let built = envelope::peer_exchange(&a, text(&x["message_id"]), &exchange);
    assert_eq!(built.signature, bytes(&x["signature"]));
    assert!(envelope::verify(&built, a.public_key()).is_ok());
}

/// Runs the Appendix A.6 handshake with our `Handshake` wrapper and checks every byte.
#[test]
fn appendix_a_noise_transcript() {
    let v = appendix();
    let n = &v["noise_xx"];
    let a = Identity::from_seed(&seed(&v["identity_a"]["seed"]));
    let b = Identity::from_seed(&seed(&v["identity_b"]["seed"]));
    let mut init = Handshake::new(
        true,
        a.x25519_private(),
        seed(&n["initiator_ephemeral_private"]),
    )
    .unwrap();
    let mut resp = Handshake::new(
        false,
        b.x25519_private(),
        seed(&n["responder_ephemeral_private"]),
    )
    .unwrap();
    let mut wire = Vec::new();
    init.write_message(&mut wire).unwrap();
    assert_eq!(wire[..2], [0x00, 0x20]);
    assert_eq!(wire[2..].to_vec(), bytes(&n["msg1"]));
    resp.read_message(&wire[2..]).unwrap();
    wire.clear();
    resp.write_message(&mut wire).unwrap();
    assert_eq!(wire[..2], [0x00, 0x60]);
    assert_eq!(wire[2..].to_vec(), bytes(&n["msg2"]));
    init.read_message(&wire[2..]).unwrap();
    wire.clear();
    init.write_message(&mut wire).unwrap();
    assert_eq!(wire[..2], [0x00, 0x40]);
    assert_eq!(wire[2..].to_vec(), bytes(&n["msg3"]));
    resp.read_message(&wire[2..]).unwrap();

    let mut i = init.finish().unwrap();
    let mut r = resp.finish().unwrap();
    assert_eq!(i.handshake_hash.to_vec(), bytes(&n["handshake_hash"]));
    assert_eq!(r.handshake_hash, i.handshake_hash);
    assert_eq!(i.split.0.to_vec(), bytes(&n["k1"]));
    assert_eq!(i.split.1.to_vec(), bytes(&n["k2"]));
    assert_eq!(r.split, i.split);
    assert_eq!(r.remote_static, *a.x25519_public());
    assert_eq!(i.remote_static, *b.x25519_public());

    let keepalive = bytes(&n["keepalive_frame"]);
    for (initiator, expected) in [
        (true, "initiator_counter0"),
        (true, "initiator_counter1"),
        (false, "responder_counter0"),
    ] {
        let transport = if initiator {
            &mut i.transport
        } else {
            &mut r.transport
        };
        let record = transport.encrypt_record(&keepalive).unwrap();
        assert_eq!(record[..4], [0, 0, 0, 0x1a]);
        assert_eq!(record[4..].to_vec(), bytes(&n[expected]), "{expected}");
    }
}

/// Drives two real `Connection`s with the reference's ephemeral keys and message ids: the whole
/// wire transcript (three handshake messages, hello, hello-ack, first keepalive) must equal the
/// reference's bytes.
#[test]
fn connection_pair_reproduces_reference_transcript() {
    let v = reference();
    let n = &v["noise_xx"];
    let t = n["transport"].as_array().unwrap();
    let start = Instant::from_secs(1_000);
    let config = ConnectionConfig::default();

    let hello_a = &v["peer_hello"]["peer_hello"];
    let local_a = LocalHello {
        tags: hello_a["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(text)
            .collect(),
        listen_addr: text(&hello_a["listen_addr"]),
        capabilities: String::new(),
        lamport: 0,
    };
    let hello_b = &v["peer_hello_ack"]["peer_hello_ack"];
    let local_b = LocalHello {
        tags: hello_b["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(text)
            .collect(),
        listen_addr: text(&hello_b["listen_addr"]),
        capabilities: String::new(),
        lamport: 0,
    };
    let mut rng_a = ScriptedRng::new(&[
        &bytes(&n["initiator_ephemeral_private_hex"]),
        &uuid_bytes(2),
    ]);
    let mut rng_b = ScriptedRng::new(&[
        &bytes(&n["responder_ephemeral_private_hex"]),
        &uuid_bytes(3),
    ]);
    let mut a = Connection::new(
        Role::Initiator,
        config.clone(),
        &node_a(),
        local_a,
        start,
        &mut rng_a,
    );
    let mut b = Connection::new(
        Role::Responder,
        config,
        &node_b(),
        local_b,
        start,
        &mut rng_b,
    );

    let step = |from: &mut Connection, to: &mut Connection, expected: &[Vec<u8>]| {
        for want in expected {
            let got = from.poll_transmit().expect("a record to send");
            assert_eq!(hex::encode(&got), hex::encode(want));
            to.handle_input(start, &got);
        }
        assert!(from.poll_transmit().is_none(), "no extra records");
    };
    step(&mut a, &mut b, &[bytes(&n["msg1_wire_hex"])]);
    step(&mut b, &mut a, &[bytes(&n["msg2_wire_hex"])]);
    step(
        &mut a,
        &mut b,
        &[bytes(&n["msg3_wire_hex"]), bytes(&t[0]["wire_hex"])],
    );
    step(&mut b, &mut a, &[bytes(&t[1]["wire_hex"])]);

    let established = |c: &mut Connection| {
        std::iter::from_fn(|| c.poll_event())
            .find_map(|e| match e {
                Event::Established(peer) => Some(peer),
                _ => None,
            })
            .expect("established")
    };
    assert_eq!(established(&mut a).node_id, node_b().node_id());
    assert_eq!(established(&mut b).node_id, node_a().node_id());

    // Twenty seconds of silence: the initiator's first keepalive is the reference's record.
    let later = start + std::time::Duration::from_secs(20);
    assert_eq!(a.poll_timeout(), Some(later));
    a.handle_timeout(later);
    assert_eq!(
        t[2]["plaintext_hex"],
        hex::encode(bytes(&v["keepalive"]["frame_hex"]))
    );
    let record = a.poll_transmit().expect("keepalive record");
    assert_eq!(hex::encode(record), text(&t[2]["wire_hex"]));
}
