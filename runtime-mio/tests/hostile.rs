//! Hostile peers against a real `micelio` process on 127.0.0.1. Each test runs a target node and
//! an honest node connected to it, each with a partyline user; after every attack the target is
//! still up, the offending connection was closed with its reason logged (or, for gossip-level
//! attacks, the message was dropped with its reason), the honest users still chat both ways,
//! nothing forged reached a partyline, and the target's RSS stayed under [`RSS_BOUND_KIB`].

use micelio_testkit as support;

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use micelio_core::envelope::{self, HelloKind};
use micelio_core::frame;
use micelio_core::identity::Identity;
use micelio_core::node::NodeConfig;
use micelio_core::proto::{self, ChatMessage, Envelope, PeerExchange, PeerInfo};
use micelio_platform::identity_files;
use support::partyline::{login, start_with_keys};
use support::raw::{RawPeer, message_id, random_identity};
use support::ssh::{SshSession, new_key};
use support::{NodeProcess, NodeSettings, eventually};

/// Generous bound for anything that normally takes milliseconds.
const SHORT: Duration = Duration::from_secs(15);
/// The target's resident memory must stay below this during every attack (measured: about
/// 20 MiB at rest, 40 MiB at the peak of the floods).
const RSS_BOUND_KIB: u64 = 96 * 1024;
/// The text every forged chat line carries, so a partyline screen can be searched for it.
const FORGED: &str = "FORGED";

/// A field of `/proc/<pid>/status` in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("procfs");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| {
            v.trim_start_matches(':')
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// Resident set size of process `pid` in KiB (code and data).
fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS")
}

/// Resident anonymous memory of process `pid` in KiB: the heap and stacks, without the
/// binary's code pages (which a new code path faults in once and which never leave).
fn anon_kib(pid: u32) -> u64 {
    status_kib(pid, "RssAnon")
}

/// A target node, an honest node connected to it, and a partyline user on each.
struct Arena {
    target: NodeProcess,
    honest: NodeProcess,
    alice: SshSession,
    bob: SshSession,
    honest_id: String,
    rounds: usize,
    peak_rss_kib: u64,
}

impl Arena {
    fn new(name: &str, target_extra: &str) -> Arena {
        let key = new_key();
        let mut settings = NodeSettings::new(&format!("{name}-target"));
        settings.network_extra.push_str(target_extra);
        let target = start_with_keys(settings, &[&key]);
        let mut settings = NodeSettings::new(&format!("{name}-honest"));
        settings.bootstrap = vec![target.settings.listen.clone()];
        let honest = start_with_keys(settings, &[&key]);
        let honest_id = honest.node_id();
        assert!(
            target
                .wait_for(&["peer connected", &honest_id], SHORT)
                .is_some(),
            "{:#?}",
            target.lines()
        );
        let alice = login(&target, "alice", &key);
        let bob = login(&honest, "bob", &key);
        let peak_rss_kib = rss_kib(target.pid());
        Arena {
            target,
            honest,
            alice,
            bob,
            honest_id,
            rounds: 0,
            peak_rss_kib,
        }
    }

    fn addr(&self) -> String {
        self.target.settings.listen.clone()
    }

    /// The target is alive, the honest users chat both ways, no forged line reached either
    /// partyline, and the target's memory is within bound.
    fn check_health(&mut self, after: &str) {
        self.rounds += 1;
        let (from_bob, from_alice) = (
            format!("honest {} from bob", self.rounds),
            format!("honest {} from alice", self.rounds),
        );
        self.bob.type_line(&from_bob);
        assert!(
            self.alice.wait_line(&format!("[bob] {from_bob}"), SHORT),
            "after {after}: bob's chat reached alice: {:#?}",
            self.alice.screen_lines()
        );
        self.alice.type_line(&from_alice);
        assert!(
            self.bob.wait_line(&format!("[alice] {from_alice}"), SHORT),
            "after {after}: alice's chat reached bob: {:#?}",
            self.bob.screen_lines()
        );
        for session in [&self.alice, &self.bob] {
            let forged: Vec<String> = session
                .screen_lines()
                .into_iter()
                .filter(|l| l.contains(FORGED))
                .collect();
            assert!(
                forged.is_empty(),
                "after {after}: forged lines shown: {forged:?}"
            );
        }
        self.sample_rss(after);
    }

    fn sample_rss(&mut self, during: &str) {
        let rss = rss_kib(self.target.pid());
        self.peak_rss_kib = self.peak_rss_kib.max(rss);
        assert!(
            rss < RSS_BOUND_KIB,
            "during {during}: target RSS {rss} KiB over {RSS_BOUND_KIB} KiB"
        );
    }

    /// Waits for a log line of the target containing every needle.
    fn logged(&self, needles: &[&str]) {
        assert!(
            self.target.wait_for(needles, SHORT).is_some(),
            "target logged {needles:?}: {:#?}",
            self.target.lines()
        );
    }

    /// Asks the target for its `node stats` line (SIGUSR1) and parses its fields.
    fn stats(&self) -> BTreeMap<String, u64> {
        let before = self.target.count(&["node stats"]);
        self.target.signal("USR1");
        assert!(
            eventually(SHORT, || self.target.count(&["node stats"]) > before),
            "node stats logged"
        );
        let line = self
            .target
            .lines()
            .into_iter()
            .rev()
            .find(|l| l.contains("node stats"))
            .expect("stats line");
        line.split_whitespace()
            .filter_map(|field| field.split_once('='))
            .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
            .collect()
    }
}

/// A signed chat envelope from `identity` carrying its public key (auto-learnable).
fn chat_from(identity: &Identity, text: &str) -> Envelope {
    let chat = ChatMessage {
        nick: "mallory".into(),
        text: text.into(),
        timestamp: 0,
    };
    let mut envelope = envelope::chat(identity, message_id(), &chat);
    envelope.sender_pubkey = identity.public_key().to_vec();
    envelope::sign(&mut envelope, identity);
    envelope
}

/// A signed application message (type 6) from `identity` with its public key.
fn app_message_from(identity: &Identity, payload: Vec<u8>) -> Envelope {
    let mut envelope = Envelope {
        message_id: message_id(),
        sender_id: identity.node_id().to_string(),
        hop_count: 10,
        msg_type: 6,
        payload,
        sender_pubkey: identity.public_key().to_vec(),
        ..Envelope::default()
    };
    envelope::sign(&mut envelope, identity);
    envelope
}

/// A peer that completed the handshake and hello with the target.
fn joined(arena: &Arena) -> RawPeer {
    let mut peer = RawPeer::connect(&arena.addr()).expect("connect");
    peer.join(SHORT).expect("handshake and hello");
    let id = peer.identity.node_id().to_string();
    arena.logged(&["peer connected", &id]);
    peer
}

/// A frame header with explicit fields.
fn header(magic: u16, version: u16, len: u32) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(8);
    bytes.extend_from_slice(&magic.to_be_bytes());
    bytes.extend_from_slice(&version.to_be_bytes());
    bytes.extend_from_slice(&len.to_be_bytes());
    bytes
}

#[test]
fn malformed_noise_and_frames_close_only_the_offending_connection() {
    let mut arena = Arena::new("malformed", "");
    let keepalive = proto::encode(&envelope::keepalive());

    // Each case: what the peer does after the handshake, and the reason the target logs.
    let after_handshake: [(&str, Vec<u8>, &str); 3] = [
        (
            "wrong magic",
            [header(0x4D4A, 1, 2), keepalive.clone()].concat(),
            "invalid frame magic 0x4d4a",
        ),
        (
            "unknown version",
            [header(frame::MAGIC, 2, 2), keepalive.clone()].concat(),
            "unsupported frame version 0x0002",
        ),
        (
            "frame length over 1 MiB",
            header(frame::MAGIC, 1, 1 << 20 | 1),
            "frame announces 1048577 bytes",
        ),
    ];
    for (case, plaintext, reason) in after_handshake {
        let mut peer = RawPeer::connect(&arena.addr()).expect("connect");
        peer.handshake(SHORT).expect("handshake");
        peer.send_transport(&plaintext).expect("send");
        assert!(peer.closed_within(SHORT), "{case}: connection closed");
        arena.logged(&["protocol violation", reason]);
        arena.check_health(case);
    }

    // A Noise transport message announced over 1,048,600 bytes: refused from its prefix.
    let mut peer = RawPeer::connect(&arena.addr()).expect("connect");
    peer.handshake(SHORT).expect("handshake");
    peer.send_raw(&1_048_601u32.to_be_bytes()).expect("send");
    assert!(peer.closed_within(SHORT), "oversized Noise message: closed");
    arena.logged(&[
        "protocol violation",
        "transport message of 1048601 bytes exceeds 1048600",
    ]);
    arena.check_health("oversized Noise message");

    // Garbage instead of Noise message 1: too short to hold an ephemeral key. (Any 32 bytes
    // or more parse as message 1: XX authenticates nothing before message 2.)
    let mut peer = RawPeer::connect(&arena.addr()).expect("connect");
    let mut garbage = vec![0x00, 0x10];
    garbage.extend((0..16u8).map(|i| i.wrapping_mul(37)));
    peer.send_raw(&garbage).expect("send");
    assert!(
        peer.closed_within(SHORT),
        "garbage before the handshake: closed"
    );
    arena.logged(&["protocol violation", "noise handshake failed"]);
    arena.check_health("garbage before the handshake");

    // A valid message 1, then garbage as message 3.
    let mut peer = RawPeer::connect(&arena.addr()).expect("connect");
    let _handshake = peer.send_handshake_message_1().expect("message 1");
    std::thread::sleep(Duration::from_millis(200));
    peer.send_raw(&[0x00, 0x40]).expect("send");
    peer.send_raw(&[0xAB; 64]).expect("send");
    assert!(
        peer.closed_within(SHORT),
        "garbage during the handshake: closed"
    );
    assert!(
        eventually(SHORT, || arena
            .target
            .count(&["protocol violation", "noise handshake failed"])
            >= 2),
        "second handshake failure logged"
    );
    arena.check_health("garbage during the handshake");

    // Garbage after an established session: fails authentication.
    let mut peer = joined(&arena);
    peer.send_raw(&[0, 0, 0, 40]).expect("send");
    peer.send_raw(&[0x5A; 40]).expect("send");
    assert!(
        peer.closed_within(SHORT),
        "garbage in the transport: closed"
    );
    arena.logged(&[
        "peer disconnected",
        "transport message failed authentication",
    ]);
    arena.check_health("garbage in the transport");
}

#[test]
fn a_handshake_that_stops_after_message_1_is_closed_at_the_deadline() {
    let mut arena = Arena::new("slowloris", "");
    let started = Instant::now();
    let mut slow: Vec<(RawPeer, _)> = (0..20)
        .map(|_| {
            let mut peer = RawPeer::connect(&arena.addr()).expect("connect");
            let handshake = peer.send_handshake_message_1().expect("message 1");
            (peer, handshake)
        })
        .collect();
    // The honest peers keep chatting while the slow handshakes hang.
    arena.check_health("slow handshakes in progress");
    let deadline = NodeConfig::default().connection.handshake_timeout;
    for (peer, _) in &mut slow {
        assert!(
            peer.closed_within(deadline + SHORT),
            "slow handshake closed"
        );
    }
    let waited = started.elapsed();
    assert!(
        waited >= deadline - Duration::from_millis(500),
        "closed at the deadline ({deadline:?}), not before: {waited:?}"
    );
    assert!(
        eventually(SHORT, || arena
            .target
            .count(&["handshake too slow", "noise handshake timeout"])
            >= 20),
        "{:#?}",
        arena.target.lines()
    );
    arena.check_health("slow handshakes closed");
}

#[test]
fn a_hello_claiming_another_nodes_identity_is_refused() {
    let mut arena = Arena::new("impersonation", "");
    // The strongest impostor: it holds a hello validly signed with the honest node's key (read
    // from its data directory) but runs the Noise handshake with its own key.
    let honest_identity =
        identity_files::load_or_create(&arena.honest.settings.data_dir).expect("honest key");
    assert_eq!(honest_identity.node_id().to_string(), arena.honest_id);
    let hello = envelope::local_hello(&honest_identity, Vec::new(), String::new());
    let mut impostor = RawPeer::connect(&arena.addr()).expect("connect");
    impostor.handshake(SHORT).expect("handshake");
    let signed = envelope::hello(&honest_identity, message_id(), HelloKind::Hello, &hello);
    impostor.send_envelope(&signed).expect("send hello");
    assert!(impostor.closed_within(SHORT), "impostor closed");
    arena.logged(&[
        "protocol violation",
        "hello key is not the key of the Noise handshake",
    ]);

    // A hello whose node id is another node's, signed with the impostor's own key.
    let mut impostor = RawPeer::connect(&arena.addr()).expect("connect");
    let mut forged = envelope::local_hello(&impostor.identity, Vec::new(), String::new());
    forged.node_id = arena.honest_id.clone();
    let result = impostor.join_with(&forged, SHORT);
    assert!(result.is_err(), "no ack for a forged hello");
    arena.logged(&["protocol violation", "hello:"]);

    // The real node was never displaced.
    assert_eq!(
        arena.target.count(&["peer disconnected", &arena.honest_id]),
        0,
        "{:#?}",
        arena.target.lines()
    );
    arena.check_health("impersonation");
}

#[test]
fn forged_replayed_and_flooded_gossip_never_reaches_the_partyline() {
    let mut arena = Arena::new("gossip", "");
    let mut peer = joined(&arena);

    // A bad signature: dropped, the connection stays (spec §10).
    let mallory = random_identity();
    let mut forged = chat_from(&mallory, &format!("{FORGED} bad signature"));
    if let Some(byte) = forged.signature.first_mut() {
        *byte ^= 0x01;
    }
    peer.send_envelope(&forged).expect("send");
    arena.logged(&["gossip dropped", "invalid signature"]);
    // Signed by one key, claiming another sender.
    let other = random_identity();
    let mut stolen = chat_from(&mallory, &format!("{FORGED} wrong sender"));
    stolen.sender_id = other.node_id().to_string();
    peer.send_envelope(&stolen).expect("send");
    arena.check_health("forged signatures");

    // Replays: shown once.
    let original = chat_from(&mallory, "replayed line");
    for _ in 0..5 {
        peer.send_envelope(&original).expect("send");
    }
    assert!(arena.alice.wait_line("[mallory] replayed line", SHORT));
    // Duplicates are normal in gossip: counted, not logged one by one.
    assert!(
        eventually(SHORT, || arena.stats()["duplicates"] >= 4),
        "replays counted as duplicates: {:?}",
        arena.stats()
    );
    std::thread::sleep(Duration::from_secs(1));
    let shown = |arena: &Arena, line: &str| {
        arena
            .alice
            .screen_lines()
            .iter()
            .filter(|l| *l == line)
            .count()
    };
    assert_eq!(shown(&arena, "[mallory] replayed line"), 1);
    arena.check_health("replays");

    // A flood from one identity, past its rate limit (burst 20, 10 per second).
    let flooder = random_identity();
    let started = Instant::now();
    for i in 0..300 {
        peer.send_envelope(&chat_from(&flooder, &format!("flood {i}")))
            .expect("send");
    }
    let elapsed = started.elapsed().as_secs() + 1;
    arena.logged(&["gossip dropped", "rate limit exceeded"]);
    std::thread::sleep(Duration::from_secs(1));
    let flooded = arena
        .alice
        .screen_lines()
        .iter()
        .filter(|l| l.starts_with("[mallory] flood "))
        .count();
    let config = NodeConfig::default();
    let allowed = config.rate_burst as usize + config.rate_per_sec as usize * elapsed as usize;
    assert!(
        flooded >= 1 && flooded <= allowed,
        "{flooded} flood lines shown, at most {allowed} allowed"
    );
    arena.check_health("a one-identity flood");
    let stats = arena.stats();
    assert!(stats["invalid_signatures"] >= 1, "{stats:?}");
    assert!(stats["rate_limited"] as usize >= 300 - allowed, "{stats:?}");
}

/// Cache lifetimes short enough for a test to see them expire (`[limits]`, 5 min by default).
const SHORT_LIFETIMES: &str =
    "\n[limits]\nseen_ttl = \"5s\"\nidle_ttl = \"5s\"\nsweep_interval = \"1s\"\n";

#[test]
fn ten_thousand_identities_flood_leaves_caches_bounded_and_memory_returns() {
    let mut arena = Arena::new("identities", SHORT_LIFETIMES);
    let mut peer = joined(&arena);
    let config = NodeConfig::default();
    let caches_empty = |arena: &Arena| {
        let stats = arena.stats();
        stats["keys"] <= 10
            && stats["rate_buckets"] <= 10
            && stats["seen"] <= 50
            && stats["stored"] <= 50
    };

    // Warm-up: a small flood runs every code path once (their code pages count in RSS from
    // then on) and expires, so that "before" is a node that has already done this work.
    for i in 0..500u32 {
        let identity = random_identity();
        peer.send_envelope(&app_message_from(&identity, i.to_be_bytes().to_vec()))
            .expect("send");
    }
    assert!(
        eventually(Duration::from_secs(30), || caches_empty(&arena)),
        "warm-up expired: {:?}",
        arena.stats()
    );
    let before_kib = rss_kib(arena.target.pid());

    // 10,000 distinct senders, each auto-learned from its envelope's public key.
    for i in 0..10_000u32 {
        let identity = random_identity();
        peer.send_envelope(&app_message_from(&identity, i.to_be_bytes().to_vec()))
            .expect("send");
        if i % 1_000 == 999 {
            arena.sample_rss("the identity flood");
        }
    }
    // The target answers a stats request only after the backlog before it.
    let stats = arena.stats();
    assert!(stats["keys"] as usize <= config.max_keys, "{stats:?}");
    assert!(
        stats["rate_buckets"] as usize <= config.max_rate_buckets,
        "{stats:?}"
    );
    assert!(stats["seen"] as usize <= config.max_seen, "{stats:?}");
    assert!(
        stats["keys"] >= 1_000 && stats["rate_buckets"] >= 1_000,
        "the flood was processed (keys learned, buckets made): {stats:?}"
    );
    arena.check_health("the identity flood");
    drop(peer);

    // Once the flood's entries outlive their (shortened) lifetimes, the caches shrink back to
    // the honest traffic and the memory follows.
    assert!(
        eventually(Duration::from_secs(30), || caches_empty(&arena)),
        "caches emptied: {:?}",
        arena.stats()
    );
    let pid = arena.target.pid();
    let within_20_percent = || rss_kib(pid) as f64 <= before_kib as f64 * 1.2;
    assert!(
        eventually(Duration::from_secs(10), within_20_percent),
        "RSS {} KiB after, {before_kib} KiB before (peak {} KiB; anonymous now {} KiB)",
        rss_kib(pid),
        arena.peak_rss_kib,
        anon_kib(pid)
    );
    eprintln!(
        "identity flood: RSS {before_kib} KiB before, peak {} KiB, {} KiB after",
        arena.peak_rss_kib,
        rss_kib(pid)
    );
}

#[test]
fn a_storm_of_1000_connections_respects_the_pending_bound_and_max_peers() {
    let mut arena = Arena::new("storm", "max_peers = 4\n");
    let before_kib = rss_kib(arena.target.pid());
    let config = NodeConfig::default();

    // 1,000 connections at once; half start a handshake and stall.
    let mut storm: Vec<RawPeer> = Vec::new();
    for i in 0..1_000 {
        let Ok(mut peer) = RawPeer::connect(&arena.addr()) else {
            continue;
        };
        if i % 2 == 0 {
            let _ = peer.send_handshake_message_1();
        }
        storm.push(peer);
    }
    assert!(storm.len() >= 900, "opened {} connections", storm.len());
    arena.logged(&["rejecting inbound: too many pending handshakes"]);
    let stats = arena.stats();
    assert!(
        stats["pending"] as usize <= config.max_pending_connections,
        "{stats:?}"
    );
    arena.sample_rss("the connection storm");
    arena.check_health("the connection storm");

    // Every storm connection is closed: at once, or at its handshake deadline.
    let deadline = config.connection.handshake_timeout + SHORT;
    let start = Instant::now();
    for peer in &mut storm {
        let left = deadline.saturating_sub(start.elapsed());
        assert!(peer.closed_within(left), "storm connection closed");
    }
    drop(storm);

    // Fill the node to max_peers (the honest node plus three), then storm again: every new
    // connection is refused before any Noise byte, but for at most one per referral interval
    // taken through the hello for a referral.
    let fillers: Vec<RawPeer> = (0..3).map(|_| joined(&arena)).collect();
    assert_eq!(arena.stats()["peers"], 4);
    let storm_start = Instant::now();
    let mut second: Vec<TcpStream> = Vec::new();
    for _ in 0..1_000 {
        if let Ok(stream) = TcpStream::connect(arena.addr()) {
            second.push(stream);
        }
    }
    assert!(
        eventually(SHORT, || arena
            .target
            .count(&["rejecting inbound: at capacity"])
            >= 900),
        "at-capacity rejections logged: {}",
        arena.target.count(&["rejecting inbound: at capacity"])
    );
    let stats = arena.stats();
    assert_eq!(stats["peers"], 4, "{stats:?}");
    let referrals = storm_start.elapsed().as_secs() / config.referral_interval.as_secs() + 1;
    assert!(stats["pending"] <= referrals, "{stats:?}");
    drop(second);
    drop(fillers);
    arena.check_health("the storm at capacity");

    assert!(
        eventually(SHORT, || arena.stats()["sockets"] == 1),
        "only the honest peer's socket is left: {:?}",
        arena.stats()
    );
    let after_kib = rss_kib(arena.target.pid());
    eprintln!("connection storm: RSS {before_kib} KiB before, {after_kib} KiB after");
    assert!(
        (after_kib as f64) <= before_kib as f64 * 1.2,
        "RSS {after_kib} KiB after, {before_kib} KiB before (peak {} KiB)",
        arena.peak_rss_kib
    );
}

#[test]
fn hostile_peer_exchanges_store_nothing_unsafe() {
    let mut arena = Arena::new("exchange", "");
    let mut peer = joined(&arena);
    let own_addr = arena.addr();
    // A listener that a dial to a wildcard address would reach (0.0.0.0 means this host).
    let trap = TcpListener::bind("127.0.0.1:0").expect("trap listener");
    trap.set_nonblocking(true).expect("nonblocking");
    let trap_port = trap.local_addr().expect("addr").port();
    let entry = |identity: &Identity, addr: String| PeerInfo {
        node_id: identity.node_id().to_string(),
        addr,
        reachable: true,
        ed25519_pubkey: identity.public_key().to_vec(),
        last_seen: 0,
    };
    let (a, b) = (random_identity(), random_identity());
    let mut peers = vec![
        // Mismatched: a's id with b's key.
        PeerInfo {
            ed25519_pubkey: b.public_key().to_vec(),
            ..entry(&a, format!("127.0.0.1:{trap_port}"))
        },
        entry(&random_identity(), format!("0.0.0.0:{trap_port}")),
        entry(&random_identity(), format!("[::]:{trap_port}")),
        entry(&random_identity(), format!(":{trap_port}")),
        // The target's own address under another id.
        entry(&random_identity(), own_addr.clone()),
    ];
    // Then 100,000 minimal entries, 9 bytes each so that they fit in one frame (the read bound
    // is 1,024).
    peers.extend((0..100_000).map(|_| PeerInfo {
        addr: "h:1".into(),
        reachable: true,
        ..PeerInfo::default()
    }));
    let exchange = PeerExchange { peers };
    let envelope = envelope::peer_exchange(&peer.identity, message_id(), &exchange);
    peer.send_envelope(&envelope).expect("send exchange");
    arena.logged(&["ignoring peer: mismatched node_id"]);
    arena.sample_rss("a 100,000-entry exchange");

    // Several discovery rounds (1 s): nothing dials the trap or the target itself.
    std::thread::sleep(Duration::from_secs(4));
    assert!(trap.accept().is_err(), "a wildcard address was dialed");
    assert_eq!(arena.target.count(&["connected to itself"]), 0);
    let stats = arena.stats();
    let config = NodeConfig::default();
    assert!(
        stats["known_peers"] as usize <= config.max_known_peers,
        "{stats:?}"
    );
    // Only the honest node, the raw peer, and possibly the self-address entry may be known.
    assert!(stats["known_peers"] <= 4, "{stats:?}");
    arena.check_health("hostile exchanges");
}

/// The process's open-files limit as "soft:hard", read with `prlimit`.
fn nofile_limit(pid: u32) -> String {
    let out = std::process::Command::new("prlimit")
        .args([
            "--pid",
            &pid.to_string(),
            "--nofile",
            "--raw",
            "--noheadings",
            "-o",
            "SOFT,HARD",
        ])
        .output()
        .expect("prlimit (util-linux) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(fields.len(), 2, "prlimit output {text:?}");
    format!("{}:{}", fields[0], fields[1])
}

fn set_nofile_limit(pid: u32, limit: &str) {
    let status = std::process::Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--nofile={limit}")])
        .status()
        .expect("prlimit runs");
    assert!(status.success(), "prlimit --nofile={limit}");
}

#[test]
fn connections_that_waited_while_descriptors_ran_out_are_accepted_once_some_close() {
    let mut arena = Arena::new("emfile", "");
    let pid = arena.target.pid();
    let original = nofile_limit(pid);
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc/<pid>/fd")
        .count();
    // Room for 3 more descriptors: the first connections are accepted, the others wait in
    // the listen backlog and raise no further readiness event on the (edge-triggered)
    // listener.
    // Only the soft limit moves, so that it can be raised again.
    let hard = original.split(':').nth(1).unwrap_or("unlimited").to_owned();
    let tight = open + 3;
    set_nofile_limit(pid, &format!("{tight}:{hard}"));
    let peers: Vec<RawPeer> = (0..12)
        .map(|_| RawPeer::connect(&arena.addr()).expect("connect"))
        .collect();
    // One after the other, each completes its Noise handshake and leaves: its descriptor is
    // freed, and the node must come back to the backlog by itself (no new connection arrives).
    for (i, mut peer) in peers.into_iter().enumerate() {
        if let Err(error) = peer.handshake(SHORT) {
            panic!(
                "connection {i} never served: {error}\n{:#?}",
                arena.target.lines()
            );
        }
    }
    assert!(
        arena.target.count(&["accept paused"]) >= 1,
        "the node ran out of descriptors: {:#?}",
        arena.target.lines()
    );
    set_nofile_limit(pid, &original);
    assert!(
        eventually(SHORT, || arena.target.count(&["accepting again"]) >= 1),
        "{:#?}",
        arena.target.lines()
    );
    arena.check_health("after the descriptors ran out");
}
