//! Unit tests of the dissemination engine's decisions.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::identity::Identity;
use micelio_proto::Envelope;

/// Time to live of stored envelopes in these tests.
const TTL: Duration = Duration::from_secs(360);

/// A network estimate too small to want entry points beyond the originator's eager links.
const FEW_NODES: usize = 1;

fn peer(n: u8) -> NodeId {
    Identity::from_seed(&[n; 32]).node_id()
}

fn message(n: u8) -> (SeenId, Vec<u8>) {
    let id = alloc::format!("message-{n}");
    let envelope = Envelope {
        message_id: id.clone(),
        sender_id: String::from("s"),
        msg_type: 3,
        hop_count: 5,
        payload: vec![n; 8],
        ..Envelope::default()
    };
    (SeenId::of(&id), micelio_proto::encode(&envelope))
}

fn at(millis: u64) -> Instant {
    Instant::from_millis(millis)
}

fn drain(tree: &mut Tree) -> Vec<(NodeId, TreeControl)> {
    core::iter::from_fn(|| tree.poll_control()).collect()
}

#[test]
fn capability_is_a_build_metadata_token() {
    assert!(announces_tree("0.1.0+tree1"));
    assert!(announces_tree("0.2.0+foo.tree1.bar"));
    assert!(!announces_tree("0.1.0"));
    assert!(!announces_tree("0.1.0-tree1"));
    assert!(!announces_tree("0.1.0+tree10"));
    assert!(!announces_tree(""));
}

#[test]
fn pushes_to_eager_peers_and_prunes_a_duplicate_sender() {
    let mut tree = Tree::new(TreeConfig::default(), TTL);
    for n in 1..=3 {
        tree.add_link(peer(n));
    }
    let (id, envelope) = message(1);
    let mut eager = tree.on_message(at(0), Arrival::relayed(&peer(1), FEW_NODES), id, &envelope);
    eager.sort();
    let mut expected = vec![(peer(2), false), (peer(3), false)];
    expected.sort();
    assert_eq!(
        eager, expected,
        "every link starts eager, the sender excluded"
    );
    // Peer 2 sends the same message again: it is pruned once.
    tree.on_duplicate(&peer(2), &id, false);
    tree.on_duplicate(&peer(2), &id, false);
    let sent = drain(&mut tree);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, peer(2));
    assert!(sent[0].1.prune);
    assert_eq!(tree.eager_count(), 2);
    // The next message (relayed from 3) goes eagerly to 1, and is announced to 2 after the
    // batch delay.
    let (id2, envelope2) = message(2);
    let eager = tree.on_message(
        at(10),
        Arrival::relayed(&peer(3), FEW_NODES),
        id2,
        &envelope2,
    );
    assert_eq!(eager, vec![(peer(1), false)]);
    let flush = at(10) + TreeConfig::default().announce_interval;
    assert_eq!(tree.poll_timeout(), Some(flush));
    tree.on_timeout(at(10), |_| false);
    assert!(drain(&mut tree).is_empty());
    tree.on_timeout(flush, |_| false);
    let sent = drain(&mut tree);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, peer(2));
    assert_eq!(sent[0].1.ihave, id2.as_bytes().to_vec());
}

#[test]
fn an_announced_missing_message_is_grafted_then_served() {
    let mut a = Tree::new(TreeConfig::default(), TTL);
    let mut b = Tree::new(TreeConfig::default(), TTL);
    a.add_link(peer(2));
    b.add_link(peer(1));
    let (id, envelope) = message(7);
    // b has the message; a only hears of it.
    b.on_message(at(0), Arrival::originated(FEW_NODES), id, &envelope);
    let announce = TreeControl {
        ihave: id.as_bytes().to_vec(),
        ..TreeControl::default()
    };
    assert_eq!(
        a.on_control(at(100), &peer(2), &announce, |_| false),
        Ok(vec![])
    );
    assert_eq!(a.missing_count(), 1);
    let due = at(100) + TreeConfig::default().graft_timeout;
    assert_eq!(a.poll_timeout(), Some(due));
    a.on_timeout(due, |_| false);
    let sent = drain(&mut a);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.graft, id.as_bytes().to_vec());
    let served = b.on_control(due, &peer(1), &sent[0].1, |_| true).unwrap();
    assert_eq!(served, vec![envelope.clone()]);
    a.on_message(due, Arrival::relayed(&peer(2), FEW_NODES), id, &envelope);
    assert_eq!(a.missing_count(), 0);
}

#[test]
fn a_message_that_arrives_in_time_is_not_grafted() {
    let mut tree = Tree::new(TreeConfig::default(), TTL);
    tree.add_link(peer(2));
    let (id, envelope) = message(3);
    let announce = TreeControl {
        ihave: id.as_bytes().to_vec(),
        ..TreeControl::default()
    };
    tree.on_control(at(0), &peer(2), &announce, |_| false)
        .unwrap();
    tree.on_message(
        at(300),
        Arrival::relayed(&peer(2), FEW_NODES),
        id,
        &envelope,
    );
    tree.on_timeout(at(5_000), |_| false);
    assert!(drain(&mut tree).iter().all(|(_, c)| c.graft.is_empty()));
    // Announcing what the node already has tracks nothing.
    tree.on_control(at(0), &peer(2), &announce, |_| true)
        .unwrap();
    assert_eq!(tree.missing_count(), 0);
}

#[test]
fn a_new_link_hears_of_every_stored_message() {
    let mut tree = Tree::new(
        TreeConfig {
            max_control_ids: 2,
            ..TreeConfig::default()
        },
        TTL,
    );
    // Without extension peers nothing is stored.
    let (id, envelope) = message(9);
    tree.on_message(at(0), Arrival::originated(FEW_NODES), id, &envelope);
    assert_eq!(tree.stored_count(), 0);
    tree.add_link(peer(8));
    for n in 0..5 {
        let (id, envelope) = message(n);
        tree.on_message(at(0), Arrival::originated(FEW_NODES), id, &envelope);
    }
    drain(&mut tree);
    tree.add_link(peer(9));
    let sent = drain(&mut tree);
    assert_eq!(sent.len(), 3, "five digests in chunks of two");
    let total: usize = sent.iter().map(|(_, c)| c.ihave.len() / DIGEST_LEN).sum();
    assert_eq!(total, 5);
}

#[test]
fn malformed_controls_and_strangers_are_refused() {
    let mut tree = Tree::new(TreeConfig::default(), TTL);
    tree.add_link(peer(2));
    let bad = TreeControl {
        ihave: vec![0; 17],
        ..TreeControl::default()
    };
    assert_eq!(
        tree.on_control(at(0), &peer(2), &bad, |_| false),
        Err(ControlError::TruncatedDigest)
    );
    assert_eq!(tree.stats.bad_controls, 1);
    // Not a link: ignored.
    let graft = TreeControl {
        graft: vec![0; 16],
        ..TreeControl::default()
    };
    assert_eq!(
        tree.on_control(at(0), &peer(3), &graft, |_| false),
        Ok(vec![])
    );
}

#[test]
fn long_lists_are_read_up_to_the_bound() {
    let mut tree = Tree::new(
        TreeConfig {
            max_control_ids: 3,
            ..TreeConfig::default()
        },
        TTL,
    );
    tree.add_link(peer(2));
    let announce = TreeControl {
        ihave: (0..10u8).flat_map(|n| [n; 16]).collect(),
        ..TreeControl::default()
    };
    tree.on_control(at(0), &peer(2), &announce, |_| false)
        .unwrap();
    assert_eq!(tree.missing_count(), 3);
}

#[test]
fn disabled_engine_does_nothing() {
    let mut tree = Tree::new(
        TreeConfig {
            enabled: false,
            ..TreeConfig::default()
        },
        TTL,
    );
    tree.add_link(peer(2));
    let (id, envelope) = message(1);
    assert!(
        tree.on_message(at(0), Arrival::originated(FEW_NODES), id, &envelope)
            .is_empty()
    );
    assert_eq!(tree.link_count(), 0);
    assert!(drain(&mut tree).is_empty());
    assert_eq!(tree.poll_timeout(), None);
}

#[test]
fn a_node_pruned_by_every_eager_peer_asks_the_last_one_back() {
    let mut tree = Tree::new(TreeConfig::default(), TTL);
    tree.add_link(peer(1));
    tree.add_link(peer(2));
    let prune = TreeControl {
        prune: true,
        ..TreeControl::default()
    };
    tree.on_control(at(0), &peer(1), &prune, |_| false).unwrap();
    assert_eq!(tree.eager_count(), 1);
    assert!(
        drain(&mut tree).is_empty(),
        "still one eager peer: nothing to ask"
    );
    tree.on_control(at(0), &peer(2), &prune, |_| false).unwrap();
    assert_eq!(tree.eager_count(), 1, "peer 2 is eager again");
    let sent = drain(&mut tree);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, peer(2));
    assert!(sent[0].1.eager && !sent[0].1.prune);
    // The receiving side: an eager request makes the link eager.
    let mut other = Tree::new(TreeConfig::default(), TTL);
    other.add_link(peer(3));
    let (id, _) = message(1);
    other.on_duplicate(&peer(3), &id, false);
    assert_eq!(other.eager_count(), 0);
    other
        .on_control(at(0), &peer(3), &sent[0].1, |_| false)
        .unwrap();
    assert_eq!(other.eager_count(), 1);
}

/// An engine with links to peers 1..=`links`, the `pruned` ones made lazy by their prune.
fn linked_tree(config: TreeConfig, links: u8, pruned: &[u8]) -> Tree {
    let mut tree = Tree::new(config, TTL);
    for n in 1..=links {
        tree.add_link(peer(n));
    }
    let prune = TreeControl {
        prune: true,
        ..TreeControl::default()
    };
    for &n in pruned {
        tree.on_control(at(0), &peer(n), &prune, |_| false).unwrap();
    }
    drain(&mut tree);
    tree
}

#[test]
fn the_originator_pushes_to_every_link_and_marks_the_lazy_ones() {
    let mut tree = linked_tree(TreeConfig::default(), 3, &[2]);
    // In a network of 1,000 nodes, 62 entry points are wanted: every link gets it.
    let (id, envelope) = message(1);
    let mut pushes = tree.on_message(at(0), Arrival::originated(1_000), id, &envelope);
    pushes.sort();
    let mut expected = vec![(peer(1), false), (peer(2), true), (peer(3), false)];
    expected.sort();
    assert_eq!(
        pushes, expected,
        "eager links unmarked, the lazy one marked"
    );
    tree.on_timeout(at(1_000), |_| false);
    assert!(
        drain(&mut tree).iter().all(|(_, c)| c.ihave.is_empty()),
        "nothing left to announce"
    );
    // Without the burst the lazy link only hears of it.
    let config = TreeConfig {
        origin_burst: false,
        ..TreeConfig::default()
    };
    let mut quiet = linked_tree(config, 2, &[2]);
    let pushes = quiet.on_message(at(0), Arrival::originated(1_000), id, &envelope);
    assert_eq!(pushes, vec![(peer(1), false)]);
}

#[test]
fn a_detour_copy_neither_grafts_its_sender_nor_prunes() {
    let mut tree = linked_tree(TreeConfig::default(), 3, &[1]);
    assert_eq!(tree.eager_count(), 2);
    // A marked copy from lazy peer 1 (its originator's burst): 1 stays lazy, the copy goes
    // on marked to the eager peers.
    let (id, envelope) = message(1);
    let mut pushes = tree.on_message(
        at(0),
        Arrival::relayed(&peer(1), FEW_NODES).marked(true),
        id,
        &envelope,
    );
    pushes.sort();
    let mut expected = vec![(peer(2), true), (peer(3), true)];
    expected.sort();
    assert_eq!(pushes, expected);
    assert_eq!(tree.eager_count(), 2);
    drain(&mut tree);
    // Copies meeting it are not a reason to prune, marked or not: the first one was marked.
    tree.on_duplicate(&peer(2), &id, false);
    tree.on_duplicate(&peer(3), &id, true);
    assert!(drain(&mut tree).is_empty());
    assert_eq!(tree.eager_count(), 2);
    // An unmarked message met by an unmarked duplicate prunes.
    let (id2, envelope2) = message(2);
    tree.on_message(
        at(1),
        Arrival::relayed(&peer(2), FEW_NODES),
        id2,
        &envelope2,
    );
    tree.on_duplicate(&peer(3), &id2, true);
    assert!(
        drain(&mut tree).is_empty(),
        "a marked duplicate never prunes"
    );
    tree.on_duplicate(&peer(3), &id2, false);
    let sent = drain(&mut tree);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].0 == peer(3) && sent[0].1.prune);
}

#[test]
fn entry_points_scale_with_the_network_estimate() {
    let mut tree = linked_tree(TreeConfig::default(), 6, &[2, 3, 4, 5]);
    assert_eq!(tree.eager_count(), 2);
    // 64 nodes: 4 entry points, the originator's 2 eager peers and 2 of its 4 lazy ones.
    let (id0, envelope0) = message(3);
    let pushes = tree.on_message(at(0), Arrival::originated(64), id0, &envelope0);
    assert_eq!(pushes.iter().filter(|(_, marked)| *marked).count(), 2);
    assert_eq!(pushes.iter().filter(|(_, marked)| !marked).count(), 2);
    // 288 nodes: 18 entry points, more than the originator's 6 links; each node that got
    // the burst pushes on to 18 / 6 - 1 = 2 lazy links.
    let (id, envelope) = message(4);
    let sender = peer(1);
    let burst = Arrival::relayed(&sender, 288).marked(true);
    let pushes = tree.on_message(at(0), burst, id, &envelope);
    let marked_lazy = pushes
        .iter()
        .filter(|(p, marked)| *marked && (2..=5).any(|n| peer(n) == *p))
        .count();
    assert_eq!(marked_lazy, 2, "two of the four lazy links: {pushes:?}");
    assert!(pushes.contains(&(peer(6), true)), "the eager link, marked");
    // A copy that did not come from a burst spreads nowhere else.
    let (id2, envelope2) = message(5);
    let detour = Arrival::relayed(&sender, 288).marked(false);
    let pushes = tree.on_message(at(0), detour, id2, &envelope2);
    assert_eq!(pushes, vec![(peer(6), true)]);
}
