//! Hostile peers inside the simulation (spec §9.6, §10, §12.3): scripted adversaries complete
//! real handshakes with their own identity, then send forged sender ids, bad signatures,
//! replays, floods from one and from many identities, poisoned PeerExchanges and
//! self-announcing addresses. Nothing forged is delivered, replays are delivered once, the
//! bounded tables hold, no node dials itself, and honest traffic reaches as many nodes as
//! without the adversaries.
//!
//! Weaknesses found here and fixed in the core have their tests: a relay storm when more
//! distinct ids arrive at once than the bounded seen cache holds (a full cache now refuses new
//! ids instead of forgetting recent ones), and PeerExchange entries dated in the far future
//! (`last_seen` is capped at now; a connected peer's record is never overwritten). One ignored
//! test records a protocol limitation: replays after the seen window.

use std::collections::BTreeSet;
use std::time::Duration;

use micelio_core::envelope::{self, new_message_id, sign};
use micelio_core::identity::{Identity, NodeId};
use micelio_core::node::address::is_invalid_peer_addr;
use micelio_core::node::{GossipStats, NodeConfig, NodeEvent, PeerRecord};
use micelio_core::proto::{self, ChatMessage, Envelope, PeerExchange, PeerInfo};
use micelio_sim::presets::{brisk_discovery, no_discovery, quick_discovery};
use micelio_sim::{HostId, NetworkConfig, NodeSpec, Sim, seed_from_env};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

// ----- building blocks -----

/// Unix time the simulator's clock starts at (as `sim.rs`), for plausible `last_seen` values.
const UNIX_START: u64 = 1_700_000_000;

/// Builds envelopes for the adversary: message ids, fresh identities, chats and exchanges.
struct Forge {
    rng: ChaCha20Rng,
}

impl Forge {
    fn new(seed: u64) -> Self {
        Forge {
            rng: ChaCha20Rng::seed_from_u64(seed ^ 0xbad_c0de),
        }
    }

    fn message_id(&mut self) -> String {
        new_message_id(&mut self.rng)
    }

    fn identity(&mut self) -> Identity {
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        Identity::from_seed(&seed)
    }

    /// A valid chat envelope originated by `signer` (hop 10, `sender_pubkey` set).
    fn chat(&mut self, signer: &Identity, text: &str) -> Envelope {
        let id = self.message_id();
        envelope::chat(signer, id, &chat_message(text))
    }

    /// A chat envelope claiming to come from `sender` with `sender_pubkey`, signed by `signer`.
    fn forged_chat(
        &mut self,
        sender: &NodeId,
        sender_pubkey: &[u8],
        signer: &Identity,
        text: &str,
    ) -> Envelope {
        let mut envelope = Envelope {
            message_id: self.message_id(),
            sender_id: sender.as_str().to_owned(),
            lamport_ts: 0,
            hop_count: 10,
            msg_type: envelope::msg_type::CHAT,
            payload: proto::encode(&chat_message(text)),
            signature: Vec::new(),
            sender_pubkey: sender_pubkey.to_vec(),
        };
        sign(&mut envelope, signer);
        envelope
    }

    /// A correctly signed PeerExchange from `signer` (type 4, hop 1).
    fn exchange(&mut self, signer: &Identity, peers: Vec<PeerInfo>) -> Envelope {
        let id = self.message_id();
        envelope::peer_exchange(signer, id, &PeerExchange { peers })
    }
}

fn chat_message(text: &str) -> ChatMessage {
    ChatMessage {
        nick: "mallory".to_owned(),
        text: text.to_owned(),
        timestamp: UNIX_START,
    }
}

/// A well-formed PeerExchange entry for `identity` at `addr`.
fn info(identity: &Identity, addr: &str) -> PeerInfo {
    PeerInfo {
        node_id: identity.node_id().as_str().to_owned(),
        addr: addr.to_owned(),
        reachable: true,
        ed25519_pubkey: identity.public_key().to_vec(),
        last_seen: UNIX_START + 1,
    }
}

fn bytes(envelope: &Envelope) -> Vec<u8> {
    proto::encode(envelope)
}

fn host_identity(sim: &Sim, host: HostId) -> Identity {
    sim.identity(host)
}

fn adversary_identity(sim: &mut Sim, adversary: HostId) -> Identity {
    sim.adversary(adversary).identity().clone()
}

/// `n` listening nodes, each bootstrapping to every earlier one: a full mesh once admitted.
fn mesh(sim: &mut Sim, n: usize, config: &NodeConfig) -> Vec<HostId> {
    let mut hosts = Vec::new();
    for _ in 0..n {
        let spec = NodeSpec::listening(hosts.clone()).with_config(config.clone());
        hosts.push(sim.add_node(spec));
    }
    hosts
}

/// `n` listening nodes in a line, each bootstrapping to the previous one.
fn line(sim: &mut Sim, n: usize, config: &NodeConfig) -> Vec<HostId> {
    let mut hosts: Vec<HostId> = Vec::new();
    for _ in 0..n {
        let bootstrap = hosts.last().map(|h| vec![*h]).unwrap_or_default();
        let spec = NodeSpec::listening(bootstrap).with_config(config.clone());
        hosts.push(sim.add_node(spec));
    }
    hosts
}

/// How many times `host`'s application was shown `text`.
fn count(sim: &Sim, host: HostId, text: &str) -> usize {
    sim.hosts[host]
        .chats()
        .iter()
        .filter(|t| *t == text)
        .count()
}

/// Chat lines starting with `prefix` that any application was shown.
fn shown_with_prefix(sim: &Sim, prefix: &str) -> Vec<(HostId, String)> {
    let mut shown = Vec::new();
    for (host, h) in sim.hosts.iter().enumerate() {
        for (_, event) in &h.events {
            if let NodeEvent::Chat { text, .. } = event {
                if text.starts_with(prefix) {
                    shown.push((host, text.clone()));
                }
            }
        }
    }
    shown
}

/// Lines of `texts` that `host` was shown.
fn shown_of(sim: &Sim, host: HostId, texts: &[String]) -> BTreeSet<String> {
    let wanted: BTreeSet<&String> = texts.iter().collect();
    sim.hosts[host]
        .chats()
        .into_iter()
        .filter(|t| wanted.contains(t))
        .collect()
}

fn stats(sim: &Sim, hosts: &[HostId]) -> Vec<GossipStats> {
    hosts
        .iter()
        .map(|&h| sim.hosts[h].node().expect("running").gossip_stats())
        .collect()
}

fn known(sim: &Sim, host: HostId, id: &NodeId) -> Option<PeerRecord> {
    sim.hosts[host]
        .node()
        .expect("running")
        .known_peers()
        .find(|r| r.node_id == *id)
        .cloned()
}

/// Asserts that every honest line in `texts` (origin, text) was shown exactly once on every
/// host of `hosts` but its origin.
fn assert_everywhere_once(sim: &Sim, hosts: &[HostId], texts: &[(HostId, String)]) {
    for (origin, text) in texts {
        for &h in hosts {
            let expected = usize::from(h != *origin);
            assert_eq!(count(sim, h, text), expected, "host {h}, line {text}");
        }
    }
}

// ----- 1. forged sender_id -----

#[test]
fn forged_sender_id_is_never_delivered_nor_relayed() {
    let seed = seed_from_env(61);
    let mut sim = Sim::new(seed, NetworkConfig::default());
    let mut forge = Forge::new(seed);
    let config = no_discovery();
    let hosts = mesh(&mut sim, 5, &config);
    // An honest node nobody knows yet: it is stopped at once and started again at the end.
    let lonely = sim.add_node(NodeSpec::listening(vec![]).with_config(config.clone()));
    sim.crash(lonely);
    let adv = sim.add_adversary(&[hosts[0], hosts[1]], "");
    sim.run_for(Duration::from_secs(5));
    assert_eq!(sim.adversary(adv).established(), 2);
    for (i, &h) in hosts.iter().enumerate() {
        let peers = sim.hosts[h].node().unwrap().peer_count();
        assert_eq!(peers, 4 + usize::from(i < 2), "host {h}");
    }

    // A genuine line of a peer, which the adversary receives directly and then splices.
    let victim = host_identity(&sim, hosts[2]);
    let speaker = host_identity(&sim, hosts[1]);
    let genuine = sim.chat(hosts[1]);
    sim.run_for(Duration::from_secs(1));
    let recorded = sim
        .adversary(adv)
        .received
        .iter()
        .find(|e| e.sender_id == speaker.node_id().as_str() && e.msg_type == 3)
        .cloned()
        .expect("the adversary is sent its peer's line");

    let me = adversary_identity(&mut sim, adv);
    let target = host_identity(&sim, hosts[0]);
    let lonely_identity = host_identity(&sim, lonely);
    let v = victim.node_id();
    let l = lonely_identity.node_id();
    let cases: Vec<(NodeId, Vec<u8>)> = vec![
        // A known honest sender, with its real key, with none, with the adversary's.
        (v, victim.public_key().to_vec()),
        (v, Vec::new()),
        (v, me.public_key().to_vec()),
        // The receiving node's own id.
        (target.node_id(), target.public_key().to_vec()),
        // A sender nobody knows: auto-learn takes the real key, the signature still fails.
        (l, lonely_identity.public_key().to_vec()),
        (l, me.public_key().to_vec()),
        (l, Vec::new()),
    ];
    let mut forged: Vec<Envelope> = cases
        .iter()
        .enumerate()
        .map(|(i, (sender, key))| forge.forged_chat(sender, key, &me, &format!("forged-{i}")))
        .collect();
    // A peer's real signature on another payload and another message id.
    let mut splice = recorded.clone();
    splice.message_id = forge.message_id();
    splice.payload = proto::encode(&chat_message("forged-splice"));
    forged.push(splice);
    // The victim's id signed by a third identity that carries its own key.
    let stranger = forge.identity();
    forged.push(forge.forged_chat(&v, stranger.public_key(), &stranger, "forged-stranger"));

    let before = stats(&sim, &hosts);
    let received_before = sim.adversary(adv).received.len();
    for envelope in &forged {
        assert_eq!(sim.adversary_send(adv, &bytes(envelope)), 2);
    }
    sim.run_for(Duration::from_secs(2));

    assert_eq!(
        shown_with_prefix(&sim, "forged"),
        vec![],
        "forged lines shown"
    );
    assert_eq!(sim.metrics.unexpected_deliveries, 0);
    let after = stats(&sim, &hosts);
    for (i, &h) in hosts.iter().enumerate() {
        let (b, a) = (before[i], after[i]);
        assert_eq!(
            (a.received, a.delivered, a.forwarded),
            (b.received, b.delivered, b.forwarded),
            "host {h} accepted or relayed a forged envelope"
        );
        // Only the two targets saw the forgeries: nobody relayed them.
        let sent = if i < 2 { forged.len() as u64 } else { 0 };
        assert_eq!(a.rejected - b.rejected, sent, "host {h}");
    }
    let forged_ids: BTreeSet<&str> = forged.iter().map(|e| e.message_id.as_str()).collect();
    let echoed = sim.adversary(adv).received[received_before..]
        .iter()
        .filter(|e| forged_ids.contains(e.message_id.as_str()))
        .count();
    assert_eq!(echoed, 0, "a forgery came back to the adversary");

    // The real owners of the stolen ids still get through, to everyone, once: the forgeries
    // poisoned no key. The lonely node connects to everyone, so that its lines and the
    // victim's reach it in one direct hop (relay fan-out is random).
    sim.restart(lonely, Some(hosts.clone()));
    sim.run_for(Duration::from_secs(3));
    let from_lonely = sim.chat(lonely);
    let from_victim = sim.chat(hosts[2]);
    sim.run_for(Duration::from_secs(2));
    let mut all = hosts.clone();
    all.push(lonely);
    assert_everywhere_once(
        &sim,
        &all,
        &[(lonely, from_lonely), (hosts[2], from_victim)],
    );
    assert_everywhere_once(&sim, &hosts, &[(hosts[1], genuine)]);
    assert_eq!(sim.metrics.duplicate_deliveries, 0);
}

// ----- 2. bad signatures -----

#[test]
fn bad_signatures_are_dropped_without_marking_the_id_seen() {
    let seed = seed_from_env(62);
    let mut sim = Sim::new(seed, NetworkConfig::default());
    let mut forge = Forge::new(seed);
    let hosts = mesh(&mut sim, 4, &no_discovery());
    let adv = sim.add_adversary(&[hosts[0]], "");
    sim.run_for(Duration::from_secs(5));
    assert_eq!(sim.adversary(adv).established(), 1);

    let me = adversary_identity(&mut sim, adv);
    let text = "signed-once";
    let genuine = forge.chat(&me, text);
    let mut flipped = genuine.clone();
    flipped.signature[10] ^= 0x01;
    let mut truncated = genuine.clone();
    truncated.signature.truncate(63);
    let mut empty = genuine.clone();
    empty.signature.clear();
    let mut tampered = genuine.clone();
    tampered.payload = proto::encode(&chat_message("tampered"));
    let mut lamport = genuine.clone();
    lamport.lamport_ts = 7;
    let mut other_signer = genuine.clone();
    sign(&mut other_signer, &forge.identity());
    let bad = [flipped, truncated, empty, tampered, lamport, other_signer];

    let before = stats(&sim, &hosts);
    for envelope in &bad {
        assert_eq!(sim.adversary_send(adv, &bytes(envelope)), 1);
    }
    sim.run_for(Duration::from_secs(1));
    for &h in &hosts {
        assert_eq!(count(&sim, h, text), 0, "host {h}");
        assert_eq!(count(&sim, h, "tampered"), 0, "host {h}");
    }
    let after = stats(&sim, &hosts);
    assert_eq!(after[0].rejected - before[0].rejected, bad.len() as u64);
    assert_eq!(after[0].duplicates, before[0].duplicates);
    assert_eq!(after[0].received, before[0].received);
    for i in 1..hosts.len() {
        assert_eq!(
            after[i], before[i],
            "host {} saw a relayed bad copy",
            hosts[i]
        );
    }

    // The same message id, correctly signed, is delivered everywhere exactly once: the
    // dropped copies were not marked seen (spec §10.1).
    sim.note_adversary_chat(adv, text);
    sim.adversary_send(adv, &bytes(&genuine));
    sim.run_for(Duration::from_secs(1));
    for &h in &hosts {
        assert_eq!(count(&sim, h, text), 1, "host {h}");
    }
    // And now it is seen: neither the genuine copy nor the bad ones get through again.
    for envelope in bad.iter().chain([&genuine, &genuine]) {
        sim.adversary_send(adv, &bytes(envelope));
    }
    sim.run_for(Duration::from_secs(1));
    for &h in &hosts {
        assert_eq!(count(&sim, h, text), 1, "host {h}");
        assert_eq!(count(&sim, h, "tampered"), 0, "host {h}");
    }
    assert_eq!(sim.metrics.duplicate_deliveries, 0);
    assert_eq!(sim.metrics.unexpected_deliveries, 0);
}

// ----- 3. replays -----

#[test]
fn replayed_messages_are_delivered_once() {
    let seed = seed_from_env(63);
    let mut sim = Sim::new(seed, NetworkConfig::default());
    let hosts = mesh(&mut sim, 5, &no_discovery());
    let adv = sim.add_adversary(&[hosts[0], hosts[1], hosts[2]], "");
    sim.run_for(Duration::from_secs(5));
    assert_eq!(sim.adversary(adv).established(), 3);

    let mut texts = Vec::new();
    for _ in 0..2 {
        for &h in &hosts {
            texts.push((h, sim.chat(h)));
        }
        sim.run_for(Duration::from_millis(300));
    }
    sim.run_for(Duration::from_secs(2));
    assert_everywhere_once(&sim, &hosts, &texts);

    // Every distinct chat envelope the adversary was sent, as it arrived.
    let mut recorded: Vec<Envelope> = Vec::new();
    let mut ids = BTreeSet::new();
    for envelope in &sim.adversary(adv).received {
        if envelope.msg_type == 3 && ids.insert(envelope.message_id.clone()) {
            recorded.push(envelope.clone());
        }
    }
    // At least every line of the three hosts it is connected to (sent to it directly).
    assert!(recorded.len() >= 6, "recorded {}", recorded.len());

    let replay = |sim: &mut Sim| {
        for envelope in &recorded {
            let mut variants = vec![envelope.clone()];
            let mut fresh_hops = envelope.clone();
            fresh_hops.hop_count = 10;
            variants.push(fresh_hops.clone());
            fresh_hops.sender_pubkey.clear();
            variants.push(fresh_hops);
            let mut last_hop = envelope.clone();
            last_hop.hop_count = 0;
            variants.push(last_hop);
            for v in &variants {
                sim.adversary_send(adv, &bytes(v));
            }
        }
    };
    let before = stats(&sim, &hosts);
    for _ in 0..5 {
        replay(&mut sim);
        sim.run_for(Duration::from_millis(100));
    }
    sim.run_for(Duration::from_secs(2));
    assert_everywhere_once(&sim, &hosts, &texts);
    let after = stats(&sim, &hosts);
    let copies = 5 * 4 * recorded.len() as u64;
    for i in 0..3 {
        assert_eq!(after[i].duplicates - before[i].duplicates, copies);
        assert_eq!(after[i].received, before[i].received);
        assert_eq!(after[i].forwarded, before[i].forwarded);
    }
    for i in 3..5 {
        assert_eq!(after[i], before[i], "a replay was relayed to {}", hosts[i]);
    }

    // Four minutes later the ids are still remembered (seen TTL 5 min, spec §10.6).
    sim.run_for(Duration::from_secs(240));
    replay(&mut sim);
    sim.run_for(Duration::from_secs(2));
    assert_everywhere_once(&sim, &hosts, &texts);
    assert_eq!(sim.metrics.duplicate_deliveries, 0);
    assert_eq!(sim.metrics.unexpected_deliveries, 0);
}

/// A replay after the seen window (5-6 min, spec §10.6) is processed as new: nothing else in
/// an envelope dates it (`lamport_ts` is 0, the chat `timestamp` is ignored, spec §10.8).
#[test]
#[ignore = "known protocol limitation, kept as an executable record: seen ids expire after \
            5-6 min and nothing signed dates most envelopes, so a replay 7 min later is \
            delivered again (README, Known limitations)"]
fn replays_after_the_seen_window_are_still_delivered_once() {
    let seed = seed_from_env(631);
    let mut sim = Sim::new(seed, NetworkConfig::default());
    let hosts = mesh(&mut sim, 3, &no_discovery());
    let adv = sim.add_adversary(&[hosts[0]], "");
    sim.run_for(Duration::from_secs(5));
    let text = sim.chat(hosts[1]);
    sim.run_for(Duration::from_secs(2));
    let recorded: Vec<Envelope> = sim
        .adversary(adv)
        .received
        .iter()
        .filter(|e| e.msg_type == 3)
        .cloned()
        .collect();
    assert!(!recorded.is_empty());
    sim.run_for(Duration::from_secs(7 * 60));
    for envelope in &recorded {
        sim.adversary_send(adv, &bytes(envelope));
    }
    sim.run_for(Duration::from_secs(2));
    assert_everywhere_once(&sim, &hosts, &[(hosts[1], text)]);
    assert_eq!(sim.metrics.duplicate_deliveries, 0);
}

// ----- 4. one sender flooding -----

/// Sends `n` valid chat lines from `signer` through the adversary, at once; returns the texts.
fn flood(
    sim: &mut Sim,
    forge: &mut Forge,
    adv: HostId,
    signer: &Identity,
    prefix: &str,
    n: usize,
) -> Vec<String> {
    let mut texts = Vec::new();
    for i in 0..n {
        let text = format!("{prefix}-{i}");
        let envelope = forge.chat(signer, &text);
        sim.note_adversary_chat(adv, &text);
        sim.adversary_send(adv, &bytes(&envelope));
        texts.push(text);
    }
    texts
}

#[test]
fn one_sender_flooding_is_held_to_its_rate_limit() {
    let seed = seed_from_env(64);
    let mut sim = Sim::new(seed, NetworkConfig::default());
    let mut forge = Forge::new(seed);
    let hosts = mesh(&mut sim, 5, &no_discovery());
    let adv = sim.add_adversary(&[hosts[0]], "");
    sim.run_for(Duration::from_secs(5));
    assert_eq!(sim.adversary(adv).established(), 1);
    let me = adversary_identity(&mut sim, adv);

    // 200 lines in one instant, while every honest node speaks too.
    let start = sim.now();
    let mut honest: Vec<(HostId, String)> = hosts.iter().map(|&h| (h, sim.chat(h))).collect();
    let burst = flood(&mut sim, &mut forge, adv, &me, "flood1", 200);
    sim.run_for(Duration::from_millis(900));
    let entry = shown_of(&sim, hosts[0], &burst);
    assert_eq!(
        entry.len(),
        20,
        "the burst of the bucket passes, nothing more"
    );
    for &h in &hosts[1..] {
        let got = shown_of(&sim, h, &burst);
        assert!(
            got.is_subset(&entry),
            "host {h} got lines its entry refused"
        );
        assert!(got.len() >= 15, "host {h} got {} relayed lines", got.len());
    }
    assert_everywhere_once(&sim, &hosts, &honest);

    // One second after the burst: about 10 more.
    sim.run_until(start + Duration::from_secs(1));
    let second = flood(&mut sim, &mut forge, adv, &me, "flood2", 200);
    sim.run_for(Duration::from_millis(900));
    let entry = shown_of(&sim, hosts[0], &second).len();
    assert!((9..=11).contains(&entry), "{entry} lines after 1 s");
    for &h in &hosts[1..] {
        assert!(shown_of(&sim, h, &second).len() <= entry);
    }

    // After 3 s of silence the bucket is full again (20); a steady 50 lines/s for 4 s then
    // passes the burst and about 10/s: 25 in the first 0.5 s, 35 in the next 3.5 s.
    sim.run_for(Duration::from_secs(3));
    let mut steady = Vec::new();
    for tick in 0..200 {
        steady.extend(flood(
            &mut sim,
            &mut forge,
            adv,
            &me,
            &format!("flood3-{tick}"),
            1,
        ));
        if tick % 20 == 0 {
            let origin = hosts[(tick / 20) % hosts.len()];
            honest.push((origin, sim.chat(origin)));
        }
        sim.run_for(Duration::from_millis(20));
    }
    sim.run_for(Duration::from_secs(2));
    let entry = shown_of(&sim, hosts[0], &steady).len();
    assert!((57..=62).contains(&entry), "{entry} lines in 4 s at 50/s");
    for &h in &hosts[1..] {
        assert!(shown_of(&sim, h, &steady).len() <= entry);
    }
    assert_everywhere_once(&sim, &hosts, &honest);
    assert_eq!(sim.metrics.duplicate_deliveries, 0);
    assert_eq!(sim.metrics.unexpected_deliveries, 0);
}

// ----- 5. many identities flooding -----

#[test]
fn many_identities_flooding_keep_tables_bounded() {
    let seed = seed_from_env(65);
    let mut sim = Sim::new(seed, NetworkConfig::default());
    let mut forge = Forge::new(seed);
    let config = NodeConfig {
        max_keys: 256,
        max_rate_buckets: 256,
        max_seen: 1024,
        ..no_discovery()
    };
    // A line: the far nodes' keys are only gossip-learned (from the admission exchanges), so
    // the flood evicts them and honest lines must be verified again by auto-learn.
    let hosts = line(&mut sim, 5, &config);
    let adv = sim.add_adversary(&[hosts[0]], "");
    sim.run_for(Duration::from_secs(5));
    assert_eq!(sim.adversary(adv).established(), 1);

    let identities: Vec<Identity> = (0..2_000).map(|_| forge.identity()).collect();
    let mut flood_texts = Vec::new();
    let mut honest = Vec::new();
    let mut max_sizes = (0, 0, 0, 0);
    let sample = |sim: &Sim, max: &mut (usize, usize, usize, usize)| {
        for &h in &hosts {
            let node = sim.hosts[h].node().unwrap();
            let (seen, keys, buckets, peers) = node.table_sizes();
            *max = (
                max.0.max(seen),
                max.1.max(keys),
                max.2.max(buckets),
                max.3.max(peers),
            );
        }
    };
    for (batch, chunk) in identities.chunks(100).enumerate() {
        for (i, identity) in chunk.iter().enumerate() {
            let text = format!("many-{batch}-{i}");
            let envelope = forge.chat(identity, &text);
            sim.note_adversary_chat(adv, &text);
            sim.adversary_send(adv, &bytes(&envelope));
            flood_texts.push(text);
        }
        if batch == 5 {
            for &h in &hosts {
                honest.push((h, sim.chat(h)));
            }
        }
        for _ in 0..5 {
            sim.run_for(Duration::from_millis(10));
            sample(&sim, &mut max_sizes);
        }
    }
    for _ in 0..200 {
        sim.run_for(Duration::from_millis(10));
        sample(&sim, &mut max_sizes);
    }
    let limits = {
        let c = sim.hosts[hosts[0]].node().unwrap().config();
        (
            c.max_seen,
            c.max_keys,
            c.max_rate_buckets,
            c.max_known_peers,
        )
    };
    assert!(
        max_sizes.0 <= limits.0
            && max_sizes.1 <= limits.1
            && max_sizes.2 <= limits.2
            && max_sizes.3 <= limits.3,
        "table sizes {max_sizes:?} over the bounds {limits:?}"
    );
    // The bounds did bite: every table is full.
    let (seen, keys, buckets, _) = sim.hosts[hosts[4]].node().unwrap().table_sizes();
    assert_eq!((seen, keys, buckets), (1024, 256, 256));
    // Valid lines are delivered at most once; once the seen cache is full of ids younger than
    // its minimum age, further new ids are refused rather than forgetting recent ones.
    let max_seen = limits.0;
    for &h in &hosts {
        let shown = shown_of(&sim, h, &flood_texts).len();
        assert!(
            shown >= 1_000 && shown <= max_seen,
            "host {h} showed {shown}"
        );
    }
    assert_everywhere_once(&sim, &hosts, &honest);

    // Honest traffic after the flood, once the flood's ids are old enough to be forgotten:
    // every key of a distant node was evicted by then.
    sim.run_for(Duration::from_secs(31));
    let mut after = Vec::new();
    for &h in &hosts {
        after.push((h, sim.chat(h)));
    }
    sim.run_for(Duration::from_secs(2));
    assert_everywhere_once(&sim, &hosts, &after);
    assert_eq!(sim.metrics.duplicate_deliveries, 0);
    assert_eq!(sim.metrics.unexpected_deliveries, 0);
}

/// The same flood in one instant, in a mesh: more distinct ids arrive within one relay
/// round-trip than the seen cache holds.
#[test]
fn many_identities_bursting_past_the_seen_bound_are_delivered_once() {
    let seed = seed_from_env(65);
    let mut sim = Sim::new(seed, NetworkConfig::default());
    let mut forge = Forge::new(seed);
    let config = NodeConfig {
        max_keys: 256,
        max_rate_buckets: 256,
        max_seen: 1024,
        ..no_discovery()
    };
    let hosts = mesh(&mut sim, 5, &config);
    let adv = sim.add_adversary(&[hosts[0], hosts[1]], "");
    sim.run_for(Duration::from_secs(5));
    assert_eq!(sim.adversary(adv).established(), 2);
    let honest: Vec<(HostId, String)> = hosts.iter().map(|&h| (h, sim.chat(h))).collect();
    for i in 0..2_000 {
        let identity = forge.identity();
        let text = format!("burst-{i}");
        let envelope = forge.chat(&identity, &text);
        sim.note_adversary_chat(adv, &text);
        sim.adversary_send(adv, &bytes(&envelope));
    }
    sim.run_for(Duration::from_secs(3));
    for &h in &hosts {
        let (seen, keys, buckets, _) = sim.hosts[h].node().unwrap().table_sizes();
        assert!(seen <= 1024 && keys <= 256 && buckets <= 256);
    }
    assert_everywhere_once(&sim, &hosts, &honest);
    assert_eq!(sim.metrics.duplicate_deliveries, 0);
}

// ----- 6. poisoned PeerExchange -----

#[test]
fn poisoned_peer_exchange_stores_only_valid_entries() {
    let seed = seed_from_env(66);
    let mut sim = Sim::new(seed, NetworkConfig::default());
    let mut forge = Forge::new(seed);
    let hosts = mesh(&mut sim, 3, &no_discovery());
    let target = hosts[0];
    let adv = sim.add_adversary(&[target], "");
    sim.run_for(Duration::from_secs(5));
    assert_eq!(sim.adversary(adv).established(), 1);
    let me = adversary_identity(&mut sim, adv);
    let own = host_identity(&sim, target);
    let honest = host_identity(&sim, hosts[1]);
    let table_before: Vec<PeerRecord> = sim.hosts[target]
        .node()
        .unwrap()
        .known_peers()
        .cloned()
        .collect();
    assert_eq!(table_before.len(), 3, "two honest peers and the adversary");

    let mut entries = Vec::new();
    // Valid entries (unreachable in practice, but well formed): stored.
    let good: Vec<Identity> = (0..5).map(|_| forge.identity()).collect();
    for (i, g) in good.iter().enumerate() {
        entries.push(info(g, &format!("192.0.2.{}:4000", i + 1)));
    }
    // Invalid entries: none of their ids may appear.
    let mut bad_ids: Vec<NodeId> = Vec::new();
    let mut bad = |forge: &mut Forge, make: &dyn Fn(&Identity, &Identity) -> PeerInfo| {
        let (a, b) = (forge.identity(), forge.identity());
        bad_ids.push(a.node_id());
        bad_ids.push(b.node_id());
        make(&a, &b)
    };
    // node_id of one key, key of another.
    entries.push(bad(&mut forge, &|a, b| PeerInfo {
        ed25519_pubkey: b.public_key().to_vec(),
        ..info(a, "192.0.2.10:4000")
    }));
    // Uppercase hex of the right hash.
    entries.push(bad(&mut forge, &|a, _| PeerInfo {
        node_id: a.node_id().as_str().to_uppercase(),
        ..info(a, "192.0.2.11:4000")
    }));
    // Wildcard, empty-host, portless, over-long and empty addresses.
    for addr in [
        "0.0.0.0:4000",
        "[::]:4000",
        ":4000",
        "not-a-hostport",
        "host:",
        "",
    ] {
        entries.push(bad(&mut forge, &|a, _| info(a, addr)));
    }
    let long = format!("{}:4000", "a".repeat(300));
    entries.push(bad(&mut forge, &|a, _| info(a, &long)));
    // Not reachable.
    entries.push(bad(&mut forge, &|a, _| PeerInfo {
        reachable: false,
        ..info(a, "192.0.2.12:4000")
    }));
    // 31-, 33- and 0-byte keys (the id is the hash of the real key).
    for len in [31, 33, 0] {
        entries.push(bad(&mut forge, &|a, _| {
            let mut key = a.public_key().to_vec();
            key.resize(len, 7);
            PeerInfo {
                ed25519_pubkey: key,
                ..info(a, "192.0.2.13:4000")
            }
        }));
    }
    // The receiver itself (with its real key and with the adversary's), and an honest peer
    // with the adversary's key and address.
    entries.push(info(&own, "192.0.2.14:4000"));
    entries.push(PeerInfo {
        ed25519_pubkey: me.public_key().to_vec(),
        ..info(&own, "192.0.2.15:4000")
    });
    entries.push(PeerInfo {
        ed25519_pubkey: me.public_key().to_vec(),
        ..info(&honest, "192.0.2.16:4000")
    });
    let read_limit = sim.hosts[target]
        .node()
        .unwrap()
        .config()
        .max_exchange_entries_read;
    assert_eq!(read_limit, 1_024);
    // Padding up to the read limit, then 100,000 entries in all: valid ones past the limit
    // (including a newer address for a good entry) are never read.
    while entries.len() < read_limit {
        entries.push(PeerInfo::default());
    }
    let mut late = Vec::new();
    while entries.len() < 100_000 {
        if entries.len() % 2_000 == 0 {
            let l = forge.identity();
            entries.push(info(&l, "192.0.2.20:4000"));
            late.push(l.node_id());
        } else if entries.len() == 50_001 {
            entries.push(PeerInfo {
                last_seen: UNIX_START + 1_000,
                ..info(&good[0], "192.0.2.21:4000")
            });
        } else {
            entries.push(PeerInfo::default());
        }
    }
    let last = forge.identity();
    *entries.last_mut().unwrap() = info(&last, "192.0.2.22:4000");
    late.push(last.node_id());
    let exchange = forge.exchange(&me, entries);
    let payload_len = bytes(&exchange).len();
    assert!(payload_len < 1 << 20, "fits one frame: {payload_len} bytes");
    assert_eq!(sim.adversary_send(adv, &bytes(&exchange)), 1);
    sim.run_for(Duration::from_secs(1));

    let node = sim.hosts[target].node().unwrap();
    assert_eq!(
        node.peer_count(),
        3,
        "the connection to the adversary stays up"
    );
    for (i, g) in good.iter().enumerate() {
        let record = known(&sim, target, &g.node_id()).expect("valid entry stored");
        assert_eq!(record.addr, format!("192.0.2.{}:4000", i + 1));
        assert_eq!(record.public_key, Some(*g.public_key()));
    }
    for id in bad_ids.iter().chain(&late) {
        assert!(known(&sim, target, id).is_none(), "stored {id:?}");
    }
    assert!(known(&sim, target, &own.node_id()).is_none());
    let honest_record = known(&sim, target, &honest.node_id()).unwrap();
    assert_eq!(honest_record.addr, sim.hosts[hosts[1]].addr);
    assert_eq!(honest_record.public_key, Some(*honest.public_key()));
    let table: Vec<PeerRecord> = sim.hosts[target]
        .node()
        .unwrap()
        .known_peers()
        .cloned()
        .collect();
    assert_eq!(table.len(), table_before.len() + good.len());
    for record in &table {
        assert!(record.addr.is_empty() || !is_invalid_peer_addr(&record.addr));
    }
    // What the runtime persisted is the table, nothing more.
    let stored: BTreeSet<NodeId> = sim.hosts[target].store.records().into_keys().collect();
    let in_table: BTreeSet<NodeId> = table.iter().map(|r| r.node_id).collect();
    assert_eq!(stored, in_table);
    // PeerExchange is point to point: the other nodes learned nothing.
    for &h in &hosts[1..] {
        for g in &good {
            assert!(known(&sim, h, &g.node_id()).is_none(), "host {h}");
        }
    }

    // Exchanges ignored entirely, each carrying one otherwise valid entry.
    let probes: Vec<Identity> = (0..5).map(|_| forge.identity()).collect();
    let entry = |i: usize| vec![info(&probes[i], "192.0.2.30:4000")];
    // sender_id of an honest node, signed by the adversary (the signature is the peer's).
    let mut wrong_sender = Envelope {
        sender_id: honest.node_id().as_str().to_owned(),
        ..forge.exchange(&me, entry(0))
    };
    sign(&mut wrong_sender, &me);
    // Really signed by the honest node, but sent on the adversary's connection.
    let relayed = forge.exchange(&honest, entry(1));
    // The adversary's own, with a corrupted signature, or a payload changed after signing.
    let mut corrupted = forge.exchange(&me, entry(2));
    corrupted.signature[0] ^= 0x80;
    let mut tampered = forge.exchange(&me, entry(0));
    tampered.payload = proto::encode(&PeerExchange { peers: entry(3) });
    for envelope in [&wrong_sender, &relayed, &corrupted, &tampered] {
        assert_eq!(sim.adversary_send(adv, &bytes(envelope)), 1);
    }
    // A control: the same entry kind, correctly sent, is stored.
    let control = forge.exchange(&me, entry(4));
    sim.adversary_send(adv, &bytes(&control));
    sim.run_for(Duration::from_secs(1));
    for probe in &probes[..4] {
        assert!(known(&sim, target, &probe.node_id()).is_none());
    }
    assert!(known(&sim, target, &probes[4].node_id()).is_some());
    assert_eq!(sim.hosts[target].node().unwrap().peer_count(), 3);

    // Honest traffic is untouched.
    let line = sim.chat(hosts[1]);
    sim.run_for(Duration::from_secs(1));
    assert_everywhere_once(&sim, &hosts, &[(hosts[1], line)]);
}

/// A valid entry for an honest node, with a forged address and a `last_seen` far in the
/// future: spec §12.3 lets it overwrite the record, and no honest exchange can ever be newer,
/// so the forged address spreads and stays. Honest nodes must get the real address back.
#[test]
fn future_last_seen_cannot_pin_a_forged_address() {
    let seed = seed_from_env(661);
    let mut sim = Sim::new(seed, NetworkConfig::default());
    let mut forge = Forge::new(seed);
    let config = NodeConfig {
        exchange_interval: Duration::from_secs(2),
        discovery_interval: Duration::from_secs(2),
        ..NodeConfig::default()
    };
    let hosts = mesh(&mut sim, 4, &config);
    let adv = sim.add_adversary(&[hosts[0]], "");
    sim.run_for(Duration::from_secs(5));
    let me = adversary_identity(&mut sim, adv);
    let victim = host_identity(&sim, hosts[3]);
    let exchange = forge.exchange(
        &me,
        vec![PeerInfo {
            last_seen: u64::MAX,
            ..info(&victim, "192.0.2.99:4000")
        }],
    );
    assert_eq!(sim.adversary_send(adv, &bytes(&exchange)), 1);
    // Five exchange rounds, the victim itself announcing its real address in each.
    sim.run_for(Duration::from_secs(10));
    for &h in &hosts[..3] {
        let record = known(&sim, h, &victim.node_id()).unwrap();
        assert_eq!(record.addr, sim.hosts[hosts[3]].addr, "host {h}");
    }
}

// ----- 7. self-announcing address loop -----

#[test]
fn announcing_a_nodes_own_address_never_makes_it_dial_itself() {
    let seed = seed_from_env(67);
    // The instrument works: an outbound-only node (which cannot know its own address) told
    // to bootstrap to it does dial it, and the simulator counts that dial.
    let mut probe = Sim::new(seed, NetworkConfig::default());
    let itself = probe.hosts.len();
    probe.add_node(NodeSpec::outbound_only(vec![itself]));
    probe.run_for(Duration::from_secs(1));
    assert_eq!(probe.metrics.self_dials.get(&itself), Some(&1));

    let mut sim = Sim::new(seed, NetworkConfig::default());
    let mut forge = Forge::new(seed);
    let hosts = line(&mut sim, 6, &quick_discovery());
    // The adversary claims to live at the first node's address.
    let claimed = sim.hosts[hosts[0]].addr.clone();
    let adv = sim.add_adversary(&hosts[..3], &claimed);
    sim.run_for(Duration::from_secs(2));
    assert_eq!(sim.adversary(adv).established(), 3);
    let me = adversary_identity(&mut sim, adv);

    // Every second for 40 s: tell each connected node that fresh ids live at its own address,
    // that the adversary does, and that other fresh ids live at the other nodes' addresses.
    for _ in 0..40 {
        for &t in &hosts[..3] {
            let own_addr = sim.hosts[t].addr.clone();
            let mut entries = vec![info(&me, &own_addr)];
            for _ in 0..3 {
                entries.push(info(&forge.identity(), &own_addr));
            }
            for &other in &hosts {
                let addr = sim.hosts[other].addr.clone();
                entries.push(info(&forge.identity(), &addr));
            }
            let exchange = forge.exchange(&me, entries);
            assert!(sim.adversary_send_to(adv, t, &bytes(&exchange)));
        }
        sim.run_for(Duration::from_secs(1));
    }

    assert!(
        sim.metrics.self_dials.is_empty(),
        "dials to one's own address: {:?}",
        sim.metrics.self_dials
    );
    // Still healthy: the honest nodes are a full mesh and talk.
    for &h in &hosts {
        let node = sim.hosts[h].node().unwrap();
        let peers: BTreeSet<NodeId> = node.peers().iter().map(|p| p.node_id).collect();
        for &other in hosts.iter().filter(|o| **o != h) {
            assert!(peers.contains(&sim.node_id(other)), "host {h} lost {other}");
        }
        assert!(!peers.contains(&sim.node_id(h)));
        assert!(node.pending_count() <= 3, "host {h} churns");
    }
    let mut texts = Vec::new();
    for &h in &hosts {
        texts.push((h, sim.chat(h)));
    }
    sim.run_for(Duration::from_secs(2));
    assert_everywhere_once(&sim, &hosts, &texts);
    assert!(sim.metrics.self_dials.is_empty());
}

// ----- 8. the whole network, with and without adversaries -----

/// The attacks of tests 1-7, one per call, in turn.
fn attack(sim: &mut Sim, forge: &mut Forge, adv: HostId, honest: &[HostId], round: usize) {
    let me = adversary_identity(sim, adv);
    let victim = honest[round * 7 % honest.len()];
    let victim_identity = host_identity(sim, victim);
    match round % 7 {
        0 => {
            // Forged sender ids.
            let text = format!("forged-sender-{adv}-{round}");
            let with_key = forge.forged_chat(
                &victim_identity.node_id(),
                victim_identity.public_key(),
                &me,
                &text,
            );
            let without = forge.forged_chat(&victim_identity.node_id(), &[], &me, &text);
            sim.adversary_send(adv, &bytes(&with_key));
            sim.adversary_send(adv, &bytes(&without));
        }
        1 => {
            // Bad signatures, then the genuine line under the same id.
            let genuine = forge.chat(&me, &format!("adv-signed-{adv}-{round}"));
            let mut flipped = genuine.clone();
            flipped.signature[5] ^= 0x10;
            flipped.payload = proto::encode(&chat_message("forged-bad-signature"));
            sim.adversary_send(adv, &bytes(&flipped));
            sim.adversary_send(adv, &bytes(&genuine));
        }
        2 => {
            // Replays of the last honest lines it was sent, with fresh hop counts.
            let received = &sim.adversary(adv).received;
            let recorded: Vec<Envelope> = received
                .iter()
                .rev()
                .filter(|e| e.msg_type == 3)
                .take(30)
                .cloned()
                .collect();
            for mut envelope in recorded {
                sim.adversary_send(adv, &bytes(&envelope));
                envelope.hop_count = 10;
                sim.adversary_send(adv, &bytes(&envelope));
            }
        }
        3 => {
            // One identity flooding.
            for i in 0..200 {
                let envelope = forge.chat(&me, &format!("adv-flood-{adv}-{round}-{i}"));
                sim.adversary_send(adv, &bytes(&envelope));
            }
        }
        4 => {
            // Many identities flooding.
            for i in 0..100 {
                let identity = forge.identity();
                let envelope = forge.chat(&identity, &format!("adv-many-{adv}-{round}-{i}"));
                sim.adversary_send(adv, &bytes(&envelope));
            }
        }
        5 => {
            // A poisoned PeerExchange.
            let (a, b) = (forge.identity(), forge.identity());
            let mut entries = vec![
                PeerInfo {
                    ed25519_pubkey: b.public_key().to_vec(),
                    ..info(&a, "192.0.2.1:4000")
                },
                info(&forge.identity(), "0.0.0.0:4000"),
                info(&forge.identity(), "[::]:4000"),
                info(&forge.identity(), ":4000"),
                PeerInfo {
                    reachable: false,
                    ..info(&forge.identity(), "192.0.2.2:4000")
                },
                PeerInfo {
                    ed25519_pubkey: vec![1; 31],
                    ..info(&forge.identity(), "192.0.2.3:4000")
                },
                PeerInfo {
                    ed25519_pubkey: me.public_key().to_vec(),
                    ..info(&victim_identity, "192.0.2.4:4000")
                },
            ];
            entries.resize(5_000, PeerInfo::default());
            let exchange = forge.exchange(&me, entries);
            sim.adversary_send(adv, &bytes(&exchange));
        }
        _ => {
            // Each peer is told that fresh ids live at its own address.
            for peer in sim.adversary(adv).peers() {
                let Some(host) = honest.iter().copied().find(|h| sim.node_id(*h) == peer) else {
                    continue;
                };
                let own_addr = sim.hosts[host].addr.clone();
                let entries = vec![
                    info(&forge.identity(), &own_addr),
                    info(&forge.identity(), &own_addr),
                    info(&me, &own_addr),
                ];
                let exchange = forge.exchange(&me, entries);
                sim.adversary_send_to(adv, host, &bytes(&exchange));
            }
        }
    }
}

/// 40 honest nodes with discovery; with `adversaries`, 4 hostile peers attach while the
/// network forms and attack throughout the honest traffic. Returns the honest delivery report.
fn network_run(seed: u64, adversaries: bool) -> (micelio_sim::Report, Sim, Vec<HostId>) {
    let mut sim = Sim::new(seed, NetworkConfig::default());
    let mut forge = Forge::new(seed);
    // Honest choices and hostile choices come from separate streams, so that both runs make
    // the same honest choices.
    let mut choice = ChaCha20Rng::seed_from_u64(seed ^ 0x40);
    let mut hostile = ChaCha20Rng::seed_from_u64(seed ^ 0x666);
    let config = brisk_discovery();
    let mut hosts: Vec<HostId> = Vec::new();
    for i in 0..40 {
        let mut bootstrap: Vec<HostId> = if i == 0 {
            vec![]
        } else {
            (0..3)
                .map(|_| hosts[(choice.next_u64() % i as u64) as usize])
                .collect()
        };
        bootstrap.sort_unstable();
        bootstrap.dedup();
        hosts.push(sim.add_node(NodeSpec::listening(bootstrap).with_config(config.clone())));
    }
    let mut advs = Vec::new();
    if adversaries {
        for _ in 0..4 {
            let mut targets: Vec<HostId> = (0..5)
                .map(|_| hosts[(hostile.next_u64() % 40) as usize])
                .collect();
            targets.sort_unstable();
            targets.dedup();
            // It also claims one honest node's address as its own.
            let claimed = sim.hosts[hosts[(hostile.next_u64() % 40) as usize]]
                .addr
                .clone();
            advs.push(sim.add_adversary(&targets, &claimed));
        }
    }
    sim.run_for(Duration::from_secs(30));
    for &adv in &advs {
        assert!(
            sim.adversary(adv).established() >= 1,
            "adversary {adv} is in"
        );
    }
    for round in 0..60 {
        let origin = hosts[(choice.next_u64() % 40) as usize];
        sim.chat(origin);
        if !advs.is_empty() {
            let adv = advs[round % advs.len()];
            attack(&mut sim, &mut forge, adv, &hosts, round);
        }
        sim.run_for(Duration::from_millis(200));
    }
    sim.run_for(Duration::from_secs(10));
    let report = sim.report(&hosts);
    (report, sim, hosts)
}

#[test]
fn honest_delivery_with_adversaries_matches_the_clean_network() {
    let seed = seed_from_env(68);
    let (clean, clean_sim, _) = network_run(seed, false);
    let (attacked, sim, hosts) = network_run(seed, true);
    println!("without adversaries: {clean}\nwith adversaries:    {attacked}");
    assert_eq!(clean.messages, 60);
    assert_eq!(attacked.messages, 60);
    assert!(
        (clean.delivery_ratio - attacked.delivery_ratio).abs() <= 0.02,
        "honest delivery {:.2}% with adversaries vs {:.2}% without",
        attacked.delivery_ratio * 100.0,
        clean.delivery_ratio * 100.0
    );
    assert!(clean.delivery_ratio >= 0.95, "{clean}");
    // The attacks did reach the network: valid adversary lines travelled, checks fired.
    assert!(!shown_with_prefix(&sim, "adv-").is_empty());
    let rejected = |s: &Sim, hosts: &[HostId]| -> u64 {
        hosts
            .iter()
            .map(|&h| s.hosts[h].node().unwrap().gossip_stats().rejected)
            .sum()
    };
    assert!(rejected(&sim, &hosts) > rejected(&clean_sim, &hosts) + 1_000);
    // Nothing forged shown, no line shown twice, nobody dialed itself.
    assert_eq!(shown_with_prefix(&sim, "forged"), vec![]);
    let foreign = shown_with_prefix(&sim, "");
    for (host, text) in &foreign {
        assert!(
            sim.metrics.originated.contains_key(text) || text.starts_with("adv-"),
            "host {host} was shown {text}"
        );
    }
    assert_eq!(sim.metrics.duplicate_deliveries, 0);
    assert_eq!(clean_sim.metrics.duplicate_deliveries, 0);
    assert!(
        sim.metrics.self_dials.is_empty(),
        "{:?}",
        sim.metrics.self_dials
    );
    for &h in &hosts {
        let node = sim.hosts[h].node().unwrap();
        assert!(node.peer_count() >= 1, "host {h} isolated");
        for record in node.known_peers() {
            assert!(record.addr.is_empty() || !is_invalid_peer_addr(&record.addr));
        }
    }
}
