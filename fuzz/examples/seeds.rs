//! Writes the seed corpora (`fuzz/seeds/<target>/`) from the golden vectors.
//!
//! Run from anywhere: `cargo run --manifest-path fuzz/Cargo.toml --features seedgen --example
//! seeds`. The files are data and are committed; re-running rewrites them identically.

use std::fs;
use std::path::Path;

use micelio_core::connection::{ConnectionConfig, Role};
use micelio_core::frame;
use micelio_core::proto::{self, Envelope};
use micelio_core::time::Instant;
use micelio_fuzz::connection_ops::Op as ConnOp;
use micelio_fuzz::cursor::Script;
use micelio_fuzz::identities;
use micelio_fuzz::node::ops::{Entry, Gossip, Op as NodeOp};
use micelio_fuzz::rng::ScriptedRng;
use micelio_fuzz::splits::Split;
use micelio_fuzz::victim::Victim;
use serde_json::Value;

const REFERENCE: &str = include_str!("../../vectors/reference-vectors.json");
const APPENDIX: &str = include_str!("../../vectors/protocol-appendix-a.json");

fn hex_of(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().expect("a hex string")).expect("valid hex")
}

/// The byte strings of the vectors the seeds are made of.
struct Vectors {
    envelopes: Vec<Vec<u8>>,
    frames: Vec<Vec<u8>>,
    chat: Vec<u8>,
    /// Reference transcript, with prefixes: msg1, msg2, msg3, then transport records 0-2.
    wire: Vec<Vec<u8>>,
    /// Appendix A transcript, prefixed here: msg1, msg3, initiator record at counter 0.
    appendix_wire: Vec<Vec<u8>>,
}

fn prefixed(prefix_len: usize, body: &[u8]) -> Vec<u8> {
    let len = (body.len() as u32).to_be_bytes();
    let mut out = len[4 - prefix_len..].to_vec();
    out.extend_from_slice(body);
    out
}

fn load() -> Vectors {
    let r: Value = serde_json::from_str(REFERENCE).expect("reference vectors");
    let a: Value = serde_json::from_str(APPENDIX).expect("appendix vectors");
    let names = [
        "chat_envelope",
        "peer_hello",
        "peer_hello_ack",
        "peer_exchange",
        "keepalive",
    ];
    let mut envelopes: Vec<Vec<u8>> = names
        .iter()
        .map(|n| hex_of(&r[n]["envelope_hex"]))
        .collect();
    envelopes.push(hex_of(&r["chat_envelope"]["after_one_hop"]["envelope_hex"]));
    envelopes.push(hex_of(&a["chat"]["envelope"]));
    envelopes.push(hex_of(&a["peer_hello_a"]["envelope"]));
    let mut frames: Vec<Vec<u8>> = names.iter().map(|n| hex_of(&r[n]["frame_hex"])).collect();
    frames.push(hex_of(&a["keepalive"]["frame"]));
    let noise = &r["noise_xx"];
    let mut wire: Vec<Vec<u8>> = ["msg1_wire_hex", "msg2_wire_hex", "msg3_wire_hex"]
        .iter()
        .map(|k| hex_of(&noise[k]))
        .collect();
    for record in noise["transport"].as_array().expect("transport records") {
        wire.push(hex_of(&record["wire_hex"]));
    }
    let n = &a["noise_xx"];
    let appendix_wire = vec![
        prefixed(2, &hex_of(&n["msg1"])),
        prefixed(2, &hex_of(&n["msg3"])),
        prefixed(4, &hex_of(&n["initiator_counter0"])),
    ];
    Vectors {
        chat: envelopes[0].clone(),
        envelopes,
        frames,
        wire,
        appendix_wire,
    }
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    fs::create_dir_all(&dir).expect("seed directory");
    fs::write(dir.join(name), bytes).expect("seed file");
}

fn split(sizes: &[u8], stream: &[u8]) -> Vec<u8> {
    let mut s = Script::new();
    Split::write(&mut s, sizes, stream);
    s.bytes
}

fn frame_seeds(v: &Vectors) {
    let all: Vec<u8> = v.frames.concat();
    write("frame_decoder", "all-frames", &split(&[], &all));
    write("frame_decoder", "all-frames-by-1", &split(&[1], &all));
    write(
        "frame_decoder",
        "all-frames-7-13-255",
        &split(&[7, 13, 0, 255], &all),
    );
    for (i, f) in v.frames.iter().enumerate() {
        write("frame_decoder", &format!("frame-{i}"), &split(&[3, 5], f));
    }
    let mut empty = Vec::new();
    frame::encode(&[], &mut empty).expect("empty frame");
    write("frame_decoder", "empty-payload", &split(&[], &empty));
    let bad = [
        b"MI\x00\x02\x00\x00\x00\x00".to_vec(),
        b"XY\x00\x01\x00\x00\x00\x00".to_vec(),
        b"MI\x00\x01\x00\x10\x00\x01".to_vec(),
    ];
    for (i, header) in bad.iter().enumerate() {
        write(
            "frame_decoder",
            &format!("bad-header-{i}"),
            &split(&[2], &[&v.frames[4][..], header].concat()),
        );
    }
}

fn record_seeds(v: &Vectors) {
    let transcript: Vec<u8> = [
        &v.wire[0][..],
        &v.wire[1],
        &v.wire[2],
        &v.wire[3],
        &v.wire[4],
        &v.wire[5],
    ]
    .concat();
    let mut s = Script::new();
    s.u8(3);
    Split::write(&mut s, &[], &transcript);
    write("record_decoder", "transcript", &s.bytes);
    let mut s = Script::new();
    s.u8(3);
    Split::write(&mut s, &[1, 31, 200], &transcript);
    write("record_decoder", "transcript-split", &s.bytes);
    let mut s = Script::new();
    s.u8(0);
    Split::write(
        &mut s,
        &[9],
        &[&v.wire[3][..], &v.wire[5], b"\x00\x10\x00\x19"].concat(),
    );
    write("record_decoder", "transport-then-oversize", &s.bytes);
    let mut s = Script::new();
    s.u8(255);
    Split::write(&mut s, &[], &v.appendix_wire[..2].concat());
    write("record_decoder", "appendix-handshake", &s.bytes);
}

fn envelope_seeds(v: &Vectors) {
    for (i, e) in v.envelopes.iter().enumerate() {
        write("envelope_verify", &format!("vector-{i}"), e);
    }
    // The hello and exchange vectors carry no sender_pubkey: attach node A's, so that the
    // verified path runs on them too.
    for (i, bytes) in [&v.envelopes[1], &v.envelopes[3]].iter().enumerate() {
        let mut e: Envelope = proto::decode(bytes).expect("vector envelope");
        e.sender_pubkey = identities::peer(0).public_key().to_vec();
        write(
            "envelope_verify",
            &format!("with-pubkey-{i}"),
            &proto::encode(&e),
        );
    }
    // A weak key (the identity point) and the signature every message has under it.
    let mut weak: Envelope = proto::decode(&v.chat).expect("chat vector");
    weak.sender_pubkey = [&[1u8][..], &[0; 31]].concat();
    weak.signature = [&[1u8][..], &[0; 63]].concat();
    write("envelope_verify", "weak-key", &proto::encode(&weak));
}

fn responder_seeds(v: &Vectors) {
    let feed = |s: &mut Script, bytes: &[u8]| {
        s.u8(0).chunk(bytes);
    };
    let mut s = Script::new();
    s.u8(0);
    for record in [&v.wire[0], &v.wire[2], &v.wire[3], &v.wire[5]] {
        feed(&mut s, record);
    }
    s.u8(1).u8(1).u16(25).u8(1).u8(2).u16(0);
    write("connection_responder", "reference-established", &s.bytes);
    assert_established(Role::Responder, 1, 0x61);
    let mut s = Script::new();
    s.u8(0);
    feed(&mut s, &v.wire[0][..10]);
    feed(&mut s, &[&v.wire[0][10..], &v.wire[2][..]].concat());
    feed(&mut s, &v.wire[3][..100]);
    s.u8(2);
    feed(&mut s, &v.wire[3][100..]);
    s.u8(1).u8(1).u16(11).u8(2);
    write(
        "connection_responder",
        "reference-chunked-blocked",
        &s.bytes,
    );
    let mut s = Script::new();
    s.u8(1);
    for record in &v.appendix_wire {
        feed(&mut s, record);
    }
    write(
        "connection_responder",
        "appendix-keepalive-as-hello",
        &s.bytes,
    );
    let mut s = Script::new();
    s.u8(2);
    feed(&mut s, &v.wire[1]);
    feed(&mut s, &v.wire[4]);
    s.u8(1).u8(1).u16(61).u8(3);
    write("connection_responder", "reference-initiator", &s.bytes);
    assert_established(Role::Initiator, 0, 0x41);
    let mut s = Script::new();
    s.u8(0).u8(0).chunk(b"\xff\xff garbage").u8(1).u8(1).u16(11);
    write("connection_responder", "garbage-then-timeout", &s.bytes);
}

/// Checks that the reference transcript really establishes the connection it is fed to.
fn assert_established(role: Role, identity: usize, ephemeral: u8) {
    let v = load();
    let key: [u8; 32] = core::array::from_fn(|i| ephemeral + i as u8);
    let mut rng = ScriptedRng::new(&key, 0);
    let me = identities::peer(identity);
    let mut victim = Victim::new(
        role,
        ConnectionConfig::default(),
        me,
        Instant::ZERO,
        &mut rng,
    );
    let records = match role {
        Role::Responder => vec![&v.wire[0], &v.wire[2], &v.wire[3], &v.wire[5]],
        Role::Initiator => vec![&v.wire[1], &v.wire[4]],
    };
    victim.step();
    for record in records {
        victim.conn.handle_input(victim.now, record);
        victim.step();
    }
    assert!(
        victim.conn.is_established(),
        "{role:?} seed does not establish"
    );
}

fn established_seeds(v: &Vectors) {
    let script = |flags: u8, ops: &[ConnOp<'_>]| {
        let mut s = Script::new();
        s.u8(flags);
        for op in ops {
            op.write(&mut s);
        }
        s.bytes
    };
    let frames_plain = v.frames[0..2].concat();
    let steady = [
        ConnOp::Frame(&v.chat),
        ConnOp::Signed {
            signer: 0,
            msg_type: 1000,
            hop: 3,
            payload: b"plugin",
        },
        ConnOp::Frames {
            count: 2,
            payload: &v.envelopes[3],
        },
        ConnOp::SplitFrame {
            at: 7,
            payload: &v.envelopes[5],
        },
        ConnOp::Sealed(&frames_plain),
        ConnOp::Send(&v.chat),
        ConnOp::Block,
        ConnOp::Send(&v.envelopes[4]),
        ConnOp::Tick { unit: 1, amount: 5 },
        ConnOp::Block,
        ConnOp::Tick {
            unit: 1,
            amount: 25,
        },
        ConnOp::Tick { unit: 2, amount: 0 },
        ConnOp::Frame(&[0xff, 0x01]),
        ConnOp::Raw(b"\x00\x00\x00\x01z"),
    ];
    write(
        "connection_established",
        "steady-responder",
        &script(0, &steady),
    );
    write(
        "connection_established",
        "steady-initiator",
        &script(1, &steady),
    );
    for flags in [2, 3] {
        for mutation in 0..8 {
            let ops = [
                ConnOp::Hello {
                    signer: (mutation % 3) * 7,
                    kind: mutation % 3,
                    mutation,
                },
                ConnOp::Frame(&v.chat),
            ];
            write(
                "connection_established",
                &format!("hello-{flags}-{mutation}"),
                &script(flags, &ops),
            );
        }
    }
    let ops = [
        ConnOp::Frames {
            count: 3,
            payload: &v.envelopes[1],
        },
        ConnOp::Tick {
            unit: 1,
            amount: 11,
        },
    ];
    write(
        "connection_established",
        "hello-phase-frames",
        &script(2, &ops),
    );
    let ops = [
        ConnOp::Tick {
            unit: 1,
            amount: 61,
        },
        ConnOp::TransportClosed,
        ConnOp::Close,
    ];
    write("connection_established", "idle", &script(0, &ops));
}

fn node_seeds(v: &Vectors) {
    let script = |flags: u8, ops: &[NodeOp<'_>]| {
        let mut s = Script::new();
        s.u8(flags);
        for op in ops {
            op.write(&mut s);
        }
        s.bytes
    };
    // Each script twice: with the protocol's cryptography and, flags bit 5, the modeled
    // suite (about ten times more runs per second).
    let seed = |name: &str, flags: u8, ops: &[NodeOp<'_>]| {
        write("node_inputs", name, &script(flags, ops));
        write(
            "node_inputs",
            &format!("{name}-modeled"),
            &script(flags | 0x20, ops),
        );
    };
    let chat = |conn, signer, claim, id| {
        NodeOp::Gossip(Gossip {
            conn,
            signer,
            claim,
            pubkey: 1,
            tamper: 0,
            msg_type: 0,
            hop: 10,
            id,
            payload: b"\x01hello, mesh",
        })
    };
    let entry = |node, key, addr, flags| Entry {
        node,
        key,
        addr,
        flags,
    };
    let mesh = [
        NodeOp::Accept { peer: 0 },
        NodeOp::Accept { peer: 1 },
        NodeOp::Accept { peer: 2 },
        chat(0, 0, 0, 20),
        chat(1, 3, 3, 21),
        chat(2, 0, 1, 22),
        NodeOp::SendBytes {
            conn: 1,
            bytes: &v.chat,
        },
        NodeOp::Replay {
            conn: 2,
            index: 0,
            hop: 9,
        },
        NodeOp::Exchange {
            conn: 0,
            signer: 0,
            entries: vec![
                entry(5, 5, 0, 3),
                entry(6, 6, 8, 3),
                entry(7, 8, 9, 1),
                entry(9, 9, 10, 5),
                entry(10, 10, 11, 7),
            ],
        },
        NodeOp::Tick {
            unit: 1,
            amount: 10,
        },
        NodeOp::Tick { unit: 2, amount: 0 },
        NodeOp::Connect { peer: 3 },
        NodeOp::Broadcast {
            msg_type: 0,
            payload: b"from the node",
        },
        NodeOp::Broadcast {
            msg_type: 3,
            payload: b"plugin",
        },
        NodeOp::Tick {
            unit: 1,
            amount: 31,
        },
        NodeOp::Closed { conn: 0 },
        NodeOp::Tick {
            unit: 1,
            amount: 61,
        },
    ];
    seed("mesh-listening", 1, &mesh);
    seed("mesh-bootstrap", 3, &mesh);
    let hostile = [
        NodeOp::Accept { peer: 1 },
        NodeOp::Gossip(Gossip {
            conn: 0,
            signer: 1,
            claim: 2,
            pubkey: 2,
            tamper: 0,
            msg_type: 0,
            hop: 5,
            id: 30,
            payload: b"\x01forged",
        }),
        NodeOp::Gossip(Gossip {
            conn: 0,
            signer: 2,
            claim: 2,
            pubkey: 1,
            tamper: 1,
            msg_type: 2,
            hop: 5,
            id: 31,
            payload: b"tampered",
        }),
        NodeOp::Gossip(Gossip {
            conn: 0,
            signer: 1,
            claim: 201,
            pubkey: 3,
            tamper: 0,
            msg_type: 3,
            hop: 5,
            id: 32,
            payload: b"bad id",
        }),
        chat(0, 1, 1, 0),
        chat(0, 1, 1, 0),
        NodeOp::Raw {
            conn: 0,
            bytes: b"\x00\x00\x00\x20garbage",
        },
        NodeOp::Accept { peer: 4 },
        NodeOp::Block { conn: 0 },
        NodeOp::Hold { conn: 0 },
        NodeOp::Tick {
            unit: 1,
            amount: 11,
        },
        NodeOp::Dial { addr: 5 },
        NodeOp::Dial { addr: 0 },
        NodeOp::DialFailed,
        NodeOp::Shutdown,
    ];
    seed("hostile", 0, &hostile);
    // The PeerExchange payload that hung release builds (see core/tests/fuzz_regressions.rs),
    // signed by the sending peer itself (type index 8 is PeerExchange).
    let endless = [
        0x0a, 0x01, 0xfa, 0x01, 0xf4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ];
    let ops = [
        NodeOp::Accept { peer: 0 },
        NodeOp::Gossip(Gossip {
            conn: 0,
            signer: 0,
            claim: 0,
            pubkey: 0,
            tamper: 0,
            msg_type: 8,
            hop: 1,
            id: 40,
            payload: &endless,
        }),
        NodeOp::Exchange {
            conn: 0,
            signer: 0,
            entries: vec![entry(6, 6, 8, 3)],
        },
    ];
    seed("exchange-endless-varint", 1, &ops);
    let flood: Vec<NodeOp<'_>> = (0..24).map(|i| chat(0, 0, 0, 10 + (i % 6))).collect();
    let mut ops = vec![NodeOp::Accept { peer: 0 }];
    ops.extend(flood);
    seed("flood", 4, &ops);
    // Harness peer 0 (identity 0, announces tree1) connects; the node's own dial then reaches
    // identity 0 again as peer 5 (no tree1) and wins the tie-break: the first connection is
    // replaced, and a replayed chat must not draw a tree control to the new one.
    let ops = [
        NodeOp::Accept { peer: 0 },
        chat(0, 0, 0, 20),
        NodeOp::Dial { addr: 0 },
        NodeOp::Connect { peer: 5 },
        chat(0, 0, 0, 20),
        chat(0, 1, 1, 21),
        NodeOp::Tick { unit: 2, amount: 0 },
    ];
    seed("tree-link-replaced", 1, &ops);
    // State writes (type index 11) from a peer: a shared key, the signer's own key, another
    // node's key (refused), one at the Lamport ceiling (refused), then a delete; a second
    // apart, within the harness's rate limit.
    let state = |id, pick: &'static [u8]| {
        NodeOp::Gossip(Gossip {
            conn: 0,
            signer: 0,
            claim: 0,
            pubkey: 1,
            tamper: 0,
            msg_type: 11,
            hop: 10,
            id,
            payload: pick,
        })
    };
    let ops = [
        NodeOp::Accept { peer: 0 },
        state(10, b"\x01\x00shared value"),
        state(11, b"\x01\x01own value"),
        NodeOp::Tick { unit: 1, amount: 1 },
        state(12, b"\x01\x22not mine"),
        state(13, b"\x01\x18at the ceiling"),
        NodeOp::Tick { unit: 1, amount: 1 },
        state(14, b"\x01\x0c"),
        NodeOp::Tick {
            unit: 1,
            amount: 11,
        },
    ];
    seed("state-writes", 1, &ops);
}

fn main() {
    let v = load();
    frame_seeds(&v);
    record_seeds(&v);
    envelope_seeds(&v);
    responder_seeds(&v);
    established_seeds(&v);
    node_seeds(&v);
    println!("seeds written under {}/seeds", env!("CARGO_MANIFEST_DIR"));
}
