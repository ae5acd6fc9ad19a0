//! Decoding hostile bytes never panics, and encoding follows the reference's proto3 rules.

use micelio_proto::{
    ChatMessage, Envelope, PeerExchange, PeerExchangeRef, PeerHello, PeerInfo, decode, encode,
};
use proptest::prelude::*;

#[test]
fn defaults_are_omitted_and_fields_are_in_number_order() {
    assert!(encode(&Envelope::default()).is_empty());
    let e = Envelope {
        msg_type: 5,
        ..Envelope::default()
    };
    assert_eq!(encode(&e), [0x28, 0x05]);
    let e = Envelope {
        message_id: "m".into(),
        lamport_ts: 1,
        hop_count: 2,
        sender_pubkey: vec![7],
        ..Envelope::default()
    };
    assert_eq!(encode(&e), [0x0a, 1, b'm', 0x18, 1, 0x20, 2, 0x42, 1, 7]);
}

#[test]
fn invalid_utf8_strings_are_rejected() {
    // message_id (field 1) = 0xff
    assert!(decode::<Envelope>(&[0x0a, 0x01, 0xff]).is_err());
    assert!(decode::<ChatMessage>(&[0x0a, 0x01, 0xc3]).is_err());
}

#[test]
fn unknown_fields_are_skipped_and_last_singular_value_wins() {
    // field 9 varint (unknown), then msg_type twice.
    let e: Envelope = decode(&[0x48, 0x01, 0x28, 0x03, 0x28, 0x05]).unwrap();
    assert_eq!(e.msg_type, 5);
}

#[test]
fn repeated_fields_round_trip_unpacked() {
    let x = PeerExchange {
        peers: vec![
            PeerInfo {
                node_id: "a".into(),
                ..PeerInfo::default()
            },
            PeerInfo {
                addr: "h:1".into(),
                reachable: true,
                ..PeerInfo::default()
            },
        ],
    };
    let bytes = encode(&x);
    assert_eq!(bytes[0], 0x0a);
    assert_eq!(decode::<PeerExchange>(&bytes).unwrap(), x);
    let h = PeerHello {
        tags: vec!["x".into(), "y".into()],
        ..PeerHello::default()
    };
    assert_eq!(encode(&h), [0x1a, 1, b'x', 0x1a, 1, b'y']);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode::<Envelope>(&bytes);
        let _ = decode::<PeerHello>(&bytes);
        let _ = decode::<ChatMessage>(&bytes);
        let _ = decode::<PeerExchange>(&bytes);
        let _ = decode::<PeerInfo>(&bytes);
    }

    #[test]
    fn envelopes_round_trip(
        message_id in ".{0,40}",
        sender_id in ".{0,70}",
        lamport_ts in any::<u64>(),
        hop_count in any::<u32>(),
        msg_type in any::<u32>(),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let e = Envelope { message_id, sender_id, lamport_ts, hop_count, msg_type, payload, ..Envelope::default() };
        prop_assert_eq!(decode::<Envelope>(&encode(&e)).unwrap(), e);
    }
}

/// tafia/quick-protobuf#211: a `PeerInfo` ending inside a varint made the generated reader
/// run past the entry; this payload looped for ever in release builds (found by the
/// `envelope_verify` fuzz target). `decode` refuses it.
#[test]
fn peer_exchange_entry_ending_inside_a_varint_is_an_error() {
    let endless = [
        0x0a, 0x01, 0xfa, 0x01, 0xf4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ];
    assert!(decode::<PeerExchange>(&endless).is_err());
    // A well-formed exchange of two entries still decodes, entries in order.
    let x = PeerExchange {
        peers: vec![
            PeerInfo {
                node_id: "a".into(),
                addr: "h:1".into(),
                ..PeerInfo::default()
            },
            PeerInfo {
                node_id: "b".into(),
                reachable: true,
                ..PeerInfo::default()
            },
        ],
    };
    assert_eq!(decode::<PeerExchange>(&encode(&x)).unwrap(), x);
}

fn peer_info_strategy() -> impl Strategy<Value = PeerInfo> {
    (
        "[0-9a-f]{0,64}",
        "[a-z0-9.:]{0,24}",
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..40),
        any::<u64>(),
    )
        .prop_map(
            |(node_id, addr, reachable, ed25519_pubkey, last_seen)| PeerInfo {
                node_id,
                addr,
                reachable,
                ed25519_pubkey,
                last_seen,
            },
        )
}

proptest! {
    /// The borrowed exchange decodes exactly what the generated type decodes, and fails
    /// exactly when it fails, on arbitrary bytes and on mutated valid exchanges.
    #[test]
    fn borrowed_exchange_agrees_with_generated(
        peers in proptest::collection::vec(peer_info_strategy(), 0..6),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..3),
        junk in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let owned = PeerExchange { peers };
        let encoded = encode(&owned);
        prop_assert_eq!(encode(&PeerExchangeRef::from(&owned)), encoded.clone());
        for mut bytes in [encoded.clone(), junk] {
            for (at, value) in &flips {
                if !bytes.is_empty() {
                    let i = at % bytes.len();
                    bytes[i] ^= value;
                }
            }
            let generated = decode::<PeerExchange>(&bytes);
            let borrowed = PeerExchangeRef::decode(&bytes, usize::MAX);
            match (generated, borrowed) {
                (Ok(g), Ok(b)) => prop_assert_eq!(PeerExchangeRef::from(&g), b),
                (Err(_), Err(_)) => {}
                (g, b) => prop_assert!(false, "generated {:?} vs borrowed {:?}", g, b),
            }
        }
    }
}
