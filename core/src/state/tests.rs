//! Tests of the map, its entries and anti-entropy, without a node.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use micelio_proto::{Envelope, StateRange, StateSync, StateWrite};
use proptest::prelude::*;

use super::entry::{LAMPORT_CEILING, MAX_FUTURE_SECS, MAX_KEY_LEN, MAX_VALUE_LEN};
use super::sync::{self, ITEM_LEN, MAX_RANGES, SyncError};
use super::*;
use crate::identity::Identity;
use crate::suite::Suite;

const NOW: u64 = 1_700_000_000;
const HORIZON: u64 = 7 * 24 * 3_600;
const TIME: CheckTime = CheckTime {
    unix_now: NOW,
    tombstone_horizon: HORIZON,
};

fn writer(n: u8) -> Identity {
    Identity::from_seed(&[n; 32])
}

fn put(identity: &Identity, lamport: u64, key: &str, value: &[u8]) -> Entry {
    let write = StateWrite {
        key: key.to_string(),
        value: value.to_vec(),
        deleted: false,
        written_at: NOW,
    };
    Entry::sign(identity, format!("w-{key}-{lamport}"), lamport, &write).unwrap()
}

fn delete(identity: &Identity, lamport: u64, key: &str, written_at: u64) -> Entry {
    let write = StateWrite {
        key: key.to_string(),
        deleted: true,
        written_at,
        ..StateWrite::default()
    };
    Entry::sign(identity, format!("d-{key}-{lamport}"), lamport, &write).unwrap()
}

/// A signed envelope with any payload (to build what `Entry::sign` refuses).
fn raw(identity: &Identity, lamport: u64, write: &StateWrite) -> Envelope {
    let mut envelope = Envelope {
        message_id: "raw".to_string(),
        sender_id: identity.node_id().as_str().to_string(),
        lamport_ts: lamport,
        hop_count: 3,
        msg_type: crate::envelope::msg_type::STATE_WRITE,
        payload: micelio_proto::encode(write),
        signature: Vec::new(),
        sender_pubkey: identity.public_key().to_vec(),
    };
    crate::envelope::sign(&mut envelope, identity);
    envelope
}

fn check(envelope: Envelope) -> Result<Entry, EntryError> {
    Entry::verify(Suite::Standard, envelope, TIME)
}

#[test]
fn an_entry_round_trips_through_its_envelope() {
    let alice = writer(1);
    let entry = put(&alice, 7, "colour", b"green");
    assert_eq!(entry.key(), "colour");
    assert_eq!(entry.value(), Some(&b"green"[..]));
    assert_eq!(entry.writer(), alice.node_id());
    assert_eq!(entry.version().lamport, 7);
    assert_eq!(entry.envelope().hop_count, 1);
    let again = check(entry.envelope().clone()).unwrap();
    assert_eq!(again, entry);
}

#[test]
fn an_altered_or_misattributed_entry_is_refused() {
    let (alice, bob) = (writer(1), writer(2));
    let entry = put(&alice, 7, "colour", b"green");

    let mut altered = entry.envelope().clone();
    altered.lamport_ts = 8;
    assert!(matches!(check(altered), Err(EntryError::Signature(_))));

    let mut altered = entry.envelope().clone();
    altered.payload = micelio_proto::encode(&StateWrite {
        key: "colour".to_string(),
        value: b"red".to_vec(),
        ..StateWrite::default()
    });
    assert!(matches!(check(altered), Err(EntryError::Signature(_))));

    let mut other_key = entry.envelope().clone();
    other_key.sender_pubkey = bob.public_key().to_vec();
    assert_eq!(check(other_key), Err(EntryError::KeyMismatch));

    let mut no_key = entry.envelope().clone();
    no_key.sender_pubkey.clear();
    assert_eq!(check(no_key), Err(EntryError::KeyMismatch));

    let mut not_an_id = entry.envelope().clone();
    not_an_id.sender_id = "alice".to_string();
    assert_eq!(check(not_an_id), Err(EntryError::BadWriter));

    let mut wrong_type = entry.envelope().clone();
    wrong_type.msg_type = 3;
    assert_eq!(check(wrong_type), Err(EntryError::WrongType(3)));

    let mut garbage = entry.envelope().clone();
    garbage.payload = vec![0xff; 3];
    crate::envelope::sign(&mut garbage, &alice);
    assert_eq!(check(garbage), Err(EntryError::Malformed));
}

#[test]
fn keys_values_and_clocks_out_of_bounds_are_refused() {
    let alice = writer(1);
    let write = |key: &str, value: &[u8], deleted: bool| StateWrite {
        key: key.to_string(),
        value: value.to_vec(),
        deleted,
        written_at: NOW,
    };
    let long_key = "k".repeat(MAX_KEY_LEN + 1);
    let max_key = "k".repeat(MAX_KEY_LEN);
    let big = vec![1u8; MAX_VALUE_LEN + 1];
    let max = vec![1u8; MAX_VALUE_LEN];
    let cases = [
        (
            raw(&alice, 1, &write("", b"v", false)),
            Some(EntryError::KeyLength(0)),
        ),
        (
            raw(&alice, 1, &write(&long_key, b"v", false)),
            Some(EntryError::KeyLength(MAX_KEY_LEN + 1)),
        ),
        (raw(&alice, 1, &write(&max_key, &max, false)), None),
        (
            raw(&alice, 1, &write("k", &big, false)),
            Some(EntryError::ValueLength(MAX_VALUE_LEN + 1)),
        ),
        (
            raw(&alice, 1, &write("k", b"v", true)),
            Some(EntryError::ValueOnDelete),
        ),
        (
            raw(&alice, 0, &write("k", b"v", false)),
            Some(EntryError::LamportOutOfRange(0)),
        ),
        (
            raw(&alice, LAMPORT_CEILING - 1, &write("k", b"v", false)),
            None,
        ),
        (
            raw(&alice, LAMPORT_CEILING, &write("k", b"v", false)),
            Some(EntryError::LamportOutOfRange(LAMPORT_CEILING)),
        ),
        (
            raw(&alice, u64::MAX, &write("k", b"v", false)),
            Some(EntryError::LamportOutOfRange(u64::MAX)),
        ),
    ];
    for (n, (envelope, expected)) in cases.into_iter().enumerate() {
        match expected {
            Some(error) => assert_eq!(check(envelope), Err(error), "case {n}"),
            None => assert!(check(envelope).is_ok(), "case {n}"),
        }
    }
}

#[test]
fn node_keys_belong_to_their_node() {
    let (alice, bob) = (writer(1), writer(2));
    let own = format!("node/{}/name", alice.node_id());
    assert!(check(put(&alice, 1, &own, b"a").envelope().clone()).is_ok());
    let write = |key: &str| StateWrite {
        key: key.to_string(),
        value: b"x".to_vec(),
        ..StateWrite::default()
    };
    for key in [
        own.as_str(),
        &format!("node/{}", bob.node_id()),
        &format!("node/{}x/name", bob.node_id()),
        "node/",
        "node/name",
    ] {
        assert_eq!(
            check(raw(&bob, 1, &write(key))),
            Err(EntryError::NotOwner),
            "{key}"
        );
    }
    assert!(check(raw(&bob, 1, &write(&format!("node/{}/", bob.node_id())))).is_ok());
    assert!(check(raw(&bob, 1, &write("nodes/anything"))).is_ok());
}

#[test]
fn tombstones_live_within_their_window() {
    let alice = writer(1);
    let fresh = delete(&alice, 2, "k", NOW - HORIZON);
    assert!(check(fresh.envelope().clone()).is_ok());
    let expired = delete(&alice, 2, "k", NOW - HORIZON - 1);
    assert_eq!(
        check(expired.envelope().clone()),
        Err(EntryError::TombstoneOutOfWindow)
    );
    let ahead = delete(&alice, 2, "k", NOW + MAX_FUTURE_SECS + 1);
    assert_eq!(
        check(ahead.envelope().clone()),
        Err(EntryError::TombstoneOutOfWindow)
    );
    assert!(
        check(
            delete(&alice, 2, "k", NOW + MAX_FUTURE_SECS)
                .envelope()
                .clone()
        )
        .is_ok()
    );

    let mut map = StateMap::new(10);
    map.apply(put(&alice, 1, "kept", b"v"));
    map.apply(fresh);
    assert_eq!(map.get("k"), None);
    assert!(map.entry("k").is_some_and(Entry::is_deleted));
    assert!(map.expire(NOW, HORIZON).is_empty());
    let gone = map.expire(NOW + 1, HORIZON);
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].key(), "k");
    assert_eq!(map.len(), 1, "live entries never expire");
}

#[test]
fn the_last_writer_wins_whatever_the_order() {
    let (alice, bob) = (writer(1), writer(2));
    let old = put(&alice, 3, "k", b"old");
    let new = put(&bob, 4, "k", b"new");
    let mut map = StateMap::new(10);
    assert_eq!(map.apply(new.clone()), Applied::Changed { previous: None });
    assert_eq!(map.apply(old.clone()), Applied::Stale);
    assert_eq!(map.apply(new.clone()), Applied::Duplicate);
    assert_eq!(map.get("k"), Some(&b"new"[..]));

    let mut other = StateMap::new(10);
    other.apply(old.clone());
    assert_eq!(
        other.apply(new.clone()),
        Applied::Changed {
            previous: Some(Box::new(old))
        }
    );
    assert_eq!(other.state_hash(), map.state_hash());

    // Same Lamport time: the writer's node id decides, the same way everywhere.
    let a = put(&alice, 9, "tie", b"a");
    let b = put(&bob, 9, "tie", b"b");
    let winner = if alice.node_id() > bob.node_id() {
        &a
    } else {
        &b
    };
    let mut one = StateMap::new(10);
    one.apply(a.clone());
    one.apply(b.clone());
    let mut two = StateMap::new(10);
    two.apply(b.clone());
    two.apply(a.clone());
    assert_eq!(one.get("tie"), winner.value());
    assert_eq!(one.state_hash(), two.state_hash());

    // A delete at a later time hides the value; an older put does not bring it back.
    let tombstone = delete(&alice, 10, "tie", NOW);
    one.apply(tombstone);
    one.apply(put(&bob, 8, "tie", b"late"));
    assert_eq!(one.get("tie"), None);
    assert!(one.keys("").is_empty());
}

#[test]
fn a_full_map_refuses_new_keys_but_takes_newer_versions() {
    let alice = writer(1);
    let mut map = StateMap::new(2);
    map.apply(put(&alice, 1, "a", b"1"));
    map.apply(put(&alice, 2, "b", b"2"));
    assert_eq!(map.apply(put(&alice, 3, "c", b"3")), Applied::Full);
    assert!(matches!(
        map.apply(put(&alice, 4, "a", b"4")),
        Applied::Changed { .. }
    ));
    assert_eq!(map.keys(""), ["a", "b"]);
    assert_eq!(map.get("a"), Some(&b"4"[..]));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Applying the same writes in any order gives the same map.
    #[test]
    fn any_order_of_writes_gives_the_same_map(
        writes in proptest::collection::vec((0u8..3, 1u64..6, 0u8..4, any::<bool>()), 1..24),
        seed in any::<u64>(),
    ) {
        let ids = [writer(1), writer(2), writer(3)];
        let entries: Vec<Entry> = writes
            .iter()
            .map(|&(w, lamport, k, del)| {
                let key = format!("key{k}");
                if del {
                    delete(&ids[usize::from(w)], lamport, &key, NOW)
                } else {
                    put(&ids[usize::from(w)], lamport, &key, &[w, k])
                }
            })
            .collect();
        let mut forward = StateMap::new(100);
        for e in &entries {
            forward.apply(e.clone());
        }
        let mut shuffled = entries.clone();
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let mut backward = StateMap::new(100);
        for e in shuffled {
            backward.apply(e);
        }
        prop_assert_eq!(forward.state_hash(), backward.state_hash());
        for e in &entries {
            let held = forward.entry(e.key()).unwrap();
            prop_assert!(held.version() >= e.version());
        }
    }
}

/// Runs one anti-entropy round from `a` to `b` to completion; returns the bytes sent and
/// the number of messages.
fn reconcile(a: &mut StateMap, b: &mut StateMap) -> (usize, usize) {
    let mut message = sync::opening(a);
    let mut bytes = 0;
    let mut messages = 0;
    let mut from_a = true;
    loop {
        let payload = micelio_proto::encode(&message);
        bytes += payload.len();
        messages += 1;
        assert!(payload.len() <= sync::MAX_SYNC_PAYLOAD);
        let received = sync::decode(&payload).expect("a valid message");
        let (receiver, _) = if from_a {
            (&mut *b, &*a)
        } else {
            (&mut *a, &*b)
        };
        for bytes in &received.entries {
            let envelope: Envelope = micelio_proto::decode(bytes).unwrap();
            let entry = Entry::verify(Suite::Standard, envelope, TIME).expect("a genuine entry");
            receiver.apply(entry);
        }
        match sync::answer(receiver, &received) {
            Some(next) => message = next,
            None => return (bytes, messages),
        }
        from_a = !from_a;
        assert!(messages < 100, "the round does not end");
    }
}

#[test]
fn a_round_makes_two_maps_equal() {
    let (alice, bob) = (writer(1), writer(2));
    let mut a = StateMap::new(10_000);
    let mut b = StateMap::new(10_000);
    for i in 0..300u64 {
        let entry = put(&alice, 1 + i, &format!("shared/{i}"), b"same");
        a.apply(entry.clone());
        b.apply(entry);
    }
    // Each side has keys the other lacks, newer and older versions, and a delete.
    for i in 0..20u64 {
        a.apply(put(&alice, 1_000 + i, &format!("a-only/{i}"), b"a"));
        b.apply(put(&bob, 1_000 + i, &format!("b-only/{i}"), b"b"));
    }
    a.apply(put(&bob, 5_000, "shared/3", b"newer on a"));
    b.apply(put(&bob, 5_001, "shared/4", b"newer on b"));
    b.apply(delete(&bob, 5_002, "shared/5", NOW));
    assert_ne!(a.state_hash(), b.state_hash());

    let (bytes, messages) = reconcile(&mut a, &mut b);
    assert_eq!(a.state_hash(), b.state_hash());
    assert_eq!(a.len(), 340);
    assert_eq!(a.get("shared/3"), Some(&b"newer on a"[..]));
    assert_eq!(b.get("shared/4"), Some(&b"newer on b"[..]));
    assert_eq!(a.get("shared/5"), None);
    assert!(messages <= 8, "{messages} messages");
    // A second round finds nothing: one summary, no answer.
    let (bytes_again, messages_again) = reconcile(&mut a, &mut b);
    assert_eq!(messages_again, 1);
    assert!(bytes_again < 64, "{bytes_again}");
    assert!(bytes > 0);
}

/// Bytes of the rounds that bring a copy of `shared` up to date with `missing` writes it
/// lacks (one round while the differences fit a message).
fn catch_up_cost(shared: &StateMap, missing: u64) -> usize {
    let alice = writer(1);
    let mut ahead = shared.clone();
    let mut behind = shared.clone();
    for i in 0..missing {
        ahead.apply(put(&alice, 10_000 + i, &format!("new/{i}"), &[9; 100]));
    }
    let mut bytes = 0;
    for _ in 0..10 {
        bytes += reconcile(&mut behind, &mut ahead).0;
        if behind.state_hash() == ahead.state_hash() {
            return bytes;
        }
    }
    panic!("{missing} missing entries: no convergence in 10 rounds");
}

#[test]
fn a_round_costs_bytes_in_proportion_to_the_differences() {
    let alice = writer(1);
    let mut small = StateMap::new(100_000);
    let mut large = StateMap::new(100_000);
    let mut entry_bytes = 0;
    for i in 0..4_000u64 {
        let entry = put(&alice, 1 + i, &format!("k/{i}"), &[7; 100]);
        entry_bytes = micelio_proto::encode(entry.envelope()).len();
        if i < 500 {
            small.apply(entry.clone());
        }
        large.apply(entry);
    }
    let full = entry_bytes * large.len();
    let one = catch_up_cost(&large, 1);
    let ten = catch_up_cost(&large, 10);
    let hundred = catch_up_cost(&large, 100);
    let ten_of_small = catch_up_cost(&small, 10);
    // Measured: one 1,193, ten 9,865, a hundred 76,902 bytes, ten against 500 shared
    // entries 7,207 (entries of 306 bytes; 1.2 MB for a full copy).
    for (missing, bytes) in [(1, one), (10, ten), (100, hundred)] {
        assert!(
            bytes < missing * entry_bytes * 4,
            "{missing} missing: {bytes} bytes, entries of {entry_bytes}"
        );
    }
    // Eight times the shared entries: a level or two more of summaries, no more.
    assert!(ten * 2 < ten_of_small * 3, "{ten} against {ten_of_small}");
    assert!(
        hundred * 10 < full,
        "{hundred} against a full copy of {full}"
    );
}

#[test]
fn malformed_sync_messages_are_refused_with_their_reason() {
    let range = |first, last, count: u32, fingerprint: Vec<u8>, items: Vec<u8>| StateRange {
        first,
        last,
        count,
        fingerprint,
        items,
    };
    let item = |hash: u64| {
        let mut bytes = hash.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0; ITEM_LEN - 8]);
        bytes
    };
    let with = |ranges: Vec<StateRange>| StateSync {
        ranges,
        ..StateSync::default()
    };
    let cases = [
        (
            with(vec![range(5, 4, 0, vec![], vec![])]),
            SyncError::RangeOrder,
        ),
        (
            with(vec![
                range(0, 9, 0, vec![], vec![]),
                range(9, 20, 0, vec![], vec![]),
            ]),
            SyncError::RangeOrder,
        ),
        (
            with(vec![
                range(0, u64::MAX, 20, vec![0; 16], vec![]),
                range(0, 1, 0, vec![], vec![]),
            ]),
            SyncError::RangeOrder,
        ),
        (
            with(vec![range(0, 9, 20, vec![0; 15], vec![])]),
            SyncError::FingerprintLength(15),
        ),
        (
            with(vec![range(0, 9, 20, vec![0; 16], item(1))]),
            SyncError::ItemsLength,
        ),
        (
            with(vec![range(0, 9, 2, vec![], item(1))]),
            SyncError::ItemsLength,
        ),
        (
            with(vec![range(0, 9, 1, vec![], item(10))]),
            SyncError::ItemsOutOfRange,
        ),
        (
            with(vec![range(0, 9, 2, vec![], [item(5), item(4)].concat())]),
            SyncError::ItemsOutOfRange,
        ),
        (
            with(vec![range(0, 9, 0, vec![], vec![]); MAX_RANGES + 1]),
            SyncError::TooManyRanges(MAX_RANGES + 1),
        ),
        (
            StateSync {
                want: vec![0; 12],
                ..StateSync::default()
            },
            SyncError::WantLength(12),
        ),
    ];
    for (n, (message, error)) in cases.into_iter().enumerate() {
        assert_eq!(
            sync::decode(&micelio_proto::encode(&message)),
            Err(error),
            "case {n}"
        );
    }
    assert_eq!(sync::decode(&[0xff, 0xff]), Err(SyncError::Malformed));
    let huge = vec![0u8; sync::MAX_SYNC_PAYLOAD + 1];
    assert_eq!(sync::decode(&huge), Err(SyncError::TooLarge(huge.len())));
    // A well-formed list (equal hashes may repeat) is accepted.
    let fine = with(vec![range(0, 9, 2, vec![], [item(4), item(4)].concat())]);
    assert!(sync::decode(&micelio_proto::encode(&fine)).is_ok());
}

#[test]
fn item_lists_decide_who_sends_and_who_asks() {
    let alice = writer(1);
    let mut map = StateMap::new(10);
    let mine = put(&alice, 5, "x", b"v");
    map.apply(mine.clone());
    let hash = mine.key_hash();
    let item = |lamport: u64, leaf: [u8; 16]| {
        let mut bytes = hash.to_be_bytes().to_vec();
        bytes.extend_from_slice(&lamport.to_be_bytes());
        bytes.extend_from_slice(&leaf);
        bytes
    };
    let listing = |items: Vec<Vec<u8>>| StateSync {
        ranges: vec![StateRange {
            first: hash,
            last: hash,
            count: items.len() as u32,
            fingerprint: Vec::new(),
            items: items.concat(),
        }],
        ..StateSync::default()
    };
    let sent = |reply: &StateSync| reply.entries == [micelio_proto::encode(mine.envelope())];
    let asked = |reply: &StateSync| reply.want == hash.to_be_bytes();
    let leaf = mine.version().leaf;

    assert_eq!(
        sync::answer(&map, &listing(vec![item(5, leaf)])),
        None,
        "the same write"
    );
    let older = sync::answer(&map, &listing(vec![item(4, [0xff; 16])])).unwrap();
    assert!(sent(&older) && older.want.is_empty());
    let newer = sync::answer(&map, &listing(vec![item(6, [0; 16])])).unwrap();
    assert!(asked(&newer) && newer.entries.is_empty());
    // The same time, another write: items do not name writers, so both sides exchange.
    let tie = sync::answer(&map, &listing(vec![item(5, [0; 16])])).unwrap();
    assert!(sent(&tie) && asked(&tie));
    let lacking = sync::answer(&map, &listing(Vec::new())).unwrap();
    assert!(sent(&lacking) && lacking.want.is_empty());
    // Two keys under one hash on the other side (a collision): the group is sent and asked
    // for whole, and each key is then settled by the last-writer rule.
    let collision = sync::answer(&map, &listing(vec![item(5, leaf), item(9, [1; 16])])).unwrap();
    assert!(sent(&collision) && asked(&collision));
    // Asked for a hash: every entry under it.
    let want = StateSync {
        want: hash.to_be_bytes().to_vec(),
        ..StateSync::default()
    };
    assert!(sent(&sync::answer(&map, &want).unwrap()));
    assert_eq!(
        sync::answer(&StateMap::new(10), &want),
        None,
        "nothing to give"
    );
}
