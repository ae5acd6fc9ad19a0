//! Both runtimes in one network on 127.0.0.1: `micelio` (mio) processes and `micelio-smol`
//! nodes in this test process chat and form a full mesh, and each runtime reloads the peer
//! table the other one stored (one store, one start-up sequence: `micelio-platform`). The
//! shared state map between them: `/set` on one partyline reads on every other one and in
//! the smol node, and a daemon killed with SIGKILL restarts with its map from its store.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use micelio_core::node::NodeEvent;
use micelio_platform::config::{Config, GoDuration};
use micelio_platform::store::Store;
use micelio_smol::SmolNode;
use micelio_testkit::partyline::{login, start_with_keys};
use micelio_testkit::ssh::{self, SshSession, new_key};
use micelio_testkit::{NodeProcess, NodeSettings, eventually, free_port, temp_dir};

/// Generous bound for anything that normally takes a second or two.
const SHORT: Duration = Duration::from_secs(20);

/// A smol node's configuration: 127.0.0.1 with an OS-chosen port, 1 s exchange and discovery.
fn smol_config(data_dir: &Path, bootstrap: &[String]) -> Config {
    let mut config = Config::default();
    config.node.name = "smol".into();
    config.node.data_dir = data_dir.to_string_lossy().into_owned();
    config.network.listen = "127.0.0.1:0".into();
    config.network.bootstrap = bootstrap.to_vec();
    config.network.exchange_interval = GoDuration::from_secs(1);
    config.network.discovery_interval = GoDuration::from_secs(1);
    config
}

/// A started smol node and every event it emitted so far.
struct SmolPeer {
    node: SmolNode,
    events: Arc<Mutex<Vec<NodeEvent>>>,
}

impl SmolPeer {
    fn start(config: Config) -> SmolPeer {
        let (node, mut events) = smol::block_on(SmolNode::start(config)).expect("smol node starts");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        smol::spawn(async move {
            while let Some(event) = events.next().await {
                sink.lock().unwrap().push(event);
            }
        })
        .detach();
        SmolPeer { node, events: seen }
    }

    fn id(&self) -> String {
        self.node.node_id().to_string()
    }

    fn peer_ids(&self) -> BTreeSet<String> {
        smol::block_on(self.node.handle().peers())
            .iter()
            .map(|p| p.node_id.to_string())
            .collect()
    }

    /// How many times each chat text arrived.
    fn chats(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for event in self.events.lock().unwrap().iter() {
            if let NodeEvent::Chat { text, .. } = event {
                *counts.entry(text.clone()).or_insert(0) += 1;
            }
        }
        counts
    }

    fn chat(&self, nick: &str, text: &str) {
        smol::block_on(self.node.handle().broadcast_chat(nick, text)).expect("chat queued");
    }

    fn stop(self) {
        smol::block_on(self.node.shutdown()).expect("shutdown within 5 s");
    }
}

/// The peers a daemon's log says are connected now (the last connect or disconnect wins).
fn daemon_peer_ids(node: &NodeProcess) -> BTreeSet<String> {
    let mut connected = BTreeSet::new();
    for line in node.lines() {
        let Some(start) = line.find("peer=") else {
            continue;
        };
        let id: String = line[start + 5..].chars().take(64).collect();
        if line.contains("\"peer connected\"") || line.contains("msg=peer connected") {
            connected.insert(id);
        } else if line.contains("peer disconnected") {
            connected.remove(&id);
        }
    }
    connected
}

/// A daemon with the SSH partyline open to `key`.
fn start_daemon(name: &str, bootstrap: Vec<String>, key: &ssh::PrivateKey) -> NodeProcess {
    let mut settings = NodeSettings::new(name);
    settings.bootstrap = bootstrap;
    start_with_keys(settings, &[key])
}

/// Lines on a partyline screen equal to `line`.
fn screen_count(session: &SshSession, line: &str) -> usize {
    session.screen_lines().iter().filter(|l| *l == line).count()
}

#[test]
fn two_mio_processes_and_two_smol_nodes_chat_in_a_full_mesh() {
    let key = new_key();
    let a = start_daemon("mixed-a", Vec::new(), &key);
    let b = start_daemon("mixed-b", vec![a.settings.listen.clone()], &key);
    let c = SmolPeer::start(smol_config(
        &temp_dir("mixed-c"),
        std::slice::from_ref(&a.settings.listen),
    ));
    let d = SmolPeer::start(smol_config(
        &temp_dir("mixed-d"),
        std::slice::from_ref(&b.settings.listen),
    ));
    let ids = [a.node_id(), b.node_id(), c.id(), d.id()];
    let others =
        |me: &str| -> BTreeSet<String> { ids.iter().filter(|id| *id != me).cloned().collect() };

    // Discovery turns the two chains (b -> a <- c, d -> b) into a full mesh.
    let meshed = eventually(SHORT, || {
        daemon_peer_ids(&a) == others(&ids[0])
            && daemon_peer_ids(&b) == others(&ids[1])
            && c.peer_ids() == others(&ids[2])
            && d.peer_ids() == others(&ids[3])
    });
    assert!(
        meshed,
        "full mesh: a {:?}, b {:?}, c {:?}, d {:?} (ids {ids:?})",
        daemon_peer_ids(&a),
        daemon_peer_ids(&b),
        c.peer_ids(),
        d.peer_ids()
    );

    let alice = login(&a, "alice", &key);
    let bob = login(&b, "bob", &key);
    alice.type_line("chat from a");
    bob.type_line("chat from b");
    c.chat("carol", "chat from c");
    d.chat("dave", "chat from d");

    let expect_screen = |session: &SshSession, lines: &[&str]| {
        eventually(SHORT, || {
            lines.iter().all(|l| screen_count(session, l) >= 1)
        })
    };
    assert!(
        expect_screen(
            &alice,
            &[
                "[bob] chat from b",
                "[carol] chat from c",
                "[dave] chat from d"
            ]
        ),
        "a's partyline: {:#?}",
        alice.screen_lines()
    );
    assert!(
        expect_screen(
            &bob,
            &[
                "[alice] chat from a",
                "[carol] chat from c",
                "[dave] chat from d"
            ]
        ),
        "b's partyline: {:#?}",
        bob.screen_lines()
    );
    let expect_chats = |peer: &SmolPeer, texts: &[&str]| {
        eventually(SHORT, || {
            let chats = peer.chats();
            texts.iter().all(|t| chats.contains_key(*t))
        })
    };
    assert!(
        expect_chats(&c, &["chat from a", "chat from b", "chat from d"]),
        "{:?}",
        c.chats()
    );
    assert!(
        expect_chats(&d, &["chat from a", "chat from b", "chat from c"]),
        "{:?}",
        d.chats()
    );

    // Exactly once everywhere, after time for any duplicate to arrive.
    std::thread::sleep(Duration::from_secs(3));
    for (session, lines) in [
        (
            &alice,
            [
                "[bob] chat from b",
                "[carol] chat from c",
                "[dave] chat from d",
            ],
        ),
        (
            &bob,
            [
                "[alice] chat from a",
                "[carol] chat from c",
                "[dave] chat from d",
            ],
        ),
    ] {
        for line in lines {
            assert_eq!(
                screen_count(session, line),
                1,
                "{line}: {:#?}",
                session.screen_lines()
            );
        }
    }
    for (daemon, me) in [(&a, 0), (&b, 1)] {
        for (sender, id) in ids.iter().enumerate().filter(|(i, _)| *i != me) {
            assert_eq!(
                daemon.count(&["chat received", id]),
                1,
                "daemon {me} logs node {sender}'s chat once"
            );
        }
    }
    let expected = |texts: [&str; 3]| -> BTreeMap<String, usize> {
        texts.iter().map(|t| ((*t).to_owned(), 1)).collect()
    };
    assert_eq!(
        c.chats(),
        expected(["chat from a", "chat from b", "chat from d"])
    );
    assert_eq!(
        d.chats(),
        expected(["chat from a", "chat from b", "chat from c"])
    );

    c.stop();
    d.stop();
}

#[test]
fn each_runtime_reloads_the_peer_table_the_other_stored() {
    let key = new_key();
    let hub = start_daemon("reload-hub", Vec::new(), &key);
    let hub_id = hub.node_id();
    let hub_addr = hub.settings.listen.clone();

    // A daemon and a smol node each learn the hub from bootstrap, then stop.
    let mio_settings = {
        let mut settings = NodeSettings::new("reload-mio");
        settings.bootstrap = vec![hub_addr.clone()];
        settings
    };
    let mio_dir = mio_settings.data_dir.clone();
    let mut mio = NodeProcess::start(mio_settings);
    let mio_id = mio.node_id();
    let smol_dir = temp_dir("reload-smol");
    let smol_node = SmolPeer::start(smol_config(&smol_dir, std::slice::from_ref(&hub_addr)));
    let smol_id = smol_node.id();
    assert!(
        eventually(SHORT, || {
            let hub_peers = daemon_peer_ids(&hub);
            hub_peers.contains(&mio_id) && hub_peers.contains(&smol_id)
        }),
        "both joined the hub: {:?}",
        daemon_peer_ids(&hub)
    );
    assert!(
        mio.terminate(SHORT).is_some_and(|s| s.success()),
        "daemon exits cleanly"
    );
    smol_node.stop();

    // Both wrote the hub's record through the same store code.
    for dir in [&mio_dir, &smol_dir] {
        let store = Store::open(&dir.join("data.db")).expect("open the stopped node's store");
        let records = store.load_peers().expect("load").records;
        assert!(
            records
                .iter()
                .any(|r| r.node_id.to_string() == hub_id && r.addr == hub_addr),
            "{} stored the hub: {records:?}",
            dir.display()
        );
    }
    assert!(
        eventually(SHORT, || {
            let hub_peers = daemon_peer_ids(&hub);
            !hub_peers.contains(&mio_id) && !hub_peers.contains(&smol_id)
        }),
        "the hub saw both leave"
    );

    // Swap: smol reloads the daemon's directory, the daemon the smol node's, no bootstrap.
    let smol_on_mio_dir = SmolPeer::start(smol_config(&mio_dir, &[]));
    assert_eq!(smol_on_mio_dir.id(), mio_id, "same identity files");
    let mut settings = NodeSettings::new("reload-mio-on-smol-dir");
    settings.data_dir = smol_dir.clone();
    let mio_on_smol_dir = NodeProcess::start(settings);
    assert_eq!(mio_on_smol_dir.node_id(), smol_id, "same identity files");

    assert!(
        eventually(SHORT, || {
            let hub_peers = daemon_peer_ids(&hub);
            hub_peers.contains(&mio_id) && hub_peers.contains(&smol_id)
        }),
        "both redialed the hub from the stored table: {:?}",
        daemon_peer_ids(&hub)
    );
    assert!(smol_on_mio_dir.peer_ids().contains(&hub_id));
    assert!(daemon_peer_ids(&mio_on_smol_dir).contains(&hub_id));
    smol_on_mio_dir.stop();
}

/// Types `/get <key>` on `session` until the answer `line` shows; returns how long it took.
fn get_until(session: &SshSession, key: &str, line: &str) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < SHORT {
        session.type_line(&format!("/get {key}"));
        if session.wait_line(line, Duration::from_millis(100)) {
            return Some(start.elapsed());
        }
    }
    None
}

#[test]
fn set_on_one_partyline_reads_everywhere_and_survives_a_kill() {
    let key = new_key();
    let a = start_daemon("state-a", Vec::new(), &key);
    let b = start_daemon("state-b", vec![a.settings.listen.clone()], &key);
    let c = start_daemon("state-c", vec![b.settings.listen.clone()], &key);
    let (d, _events) = smol::block_on(SmolNode::start(smol_config(
        &temp_dir("state-d"),
        std::slice::from_ref(&a.settings.listen),
    )))
    .expect("smol node starts");
    let handle = d.handle().clone();
    // Everyone connected to someone: b and c by their bootstrap, d to a.
    for node in [&a, &b, &c] {
        assert!(
            node.wait_for(&["peer connected"], SHORT).is_some(),
            "{:#?}",
            node.lines()
        );
    }
    assert!(eventually(SHORT, || !smol::block_on(handle.peers()).is_empty()));

    let alice = login(&a, "alice", &key);
    let bob = login(&b, "bob", &key);
    let carol = login(&c, "carol", &key);
    alice.type_line("/set colour deep green");
    assert!(
        alice.wait_line("* colour set", SHORT),
        "{:#?}",
        alice.screen_lines()
    );
    let set_at = Instant::now();
    let on_b = get_until(&bob, "colour", "colour = deep green");
    let on_c = get_until(&carol, "colour", "colour = deep green");
    let on_d = eventually(SHORT, || {
        smol::block_on(handle.state_get("colour")).as_deref() == Some(&b"deep green"[..])
    });
    assert!(on_b.is_some(), "b: {:#?}", bob.screen_lines());
    assert!(on_c.is_some(), "c: {:#?}", carol.screen_lines());
    assert!(on_d, "the smol node reads it");
    println!(
        "/set on a: b read it after {:?} of /get polling, c after {:?}; all within {:?} of \
         the set",
        on_b.unwrap(),
        on_c.unwrap(),
        set_at.elapsed()
    );

    // A write of the smol node reaches the daemons' partylines; the commands check input.
    let id = smol::block_on(handle.state_set("greeting", b"from smol".to_vec()));
    assert!(id.is_ok(), "{id:?}");
    assert!(get_until(&alice, "greeting", "greeting = from smol").is_some());
    carol.type_line("/del greeting");
    assert!(carol.wait_line("* greeting deleted", SHORT));
    assert!(get_until(&bob, "greeting", "greeting is not set").is_some());
    alice.type_line("/set");
    assert!(alice.wait_line("Usage: /set <key> <value>", SHORT));
    let other = format!("/set node/{}/name mallory", b.node_id());
    alice.type_line(&other);
    assert!(
        eventually(SHORT, || alice
            .screen_lines()
            .iter()
            .any(|l| l.contains("not set: key under node/ of another node"))),
        "{:#?}",
        alice.screen_lines()
    );
    bob.type_line("/keys");
    assert!(bob.wait_line("colour", SHORT), "{:#?}", bob.screen_lines());

    // SIGKILL b once its store has been written (every second), then start it again on new
    // ports with discovery off: its map can only come from its store.
    std::thread::sleep(Duration::from_secs(2));
    drop(bob);
    let mut b = b;
    b.signal("KILL");
    assert!(b.wait_exit(SHORT).is_some());
    let mut settings = b.settings.clone();
    settings.listen = format!("127.0.0.1:{}", free_port());
    settings.ssh_listen = format!("127.0.0.1:{}", free_port());
    settings.bootstrap = Vec::new();
    settings.network_extra = "exchange_interval = \"1h\"\ndiscovery_interval = \"1h\"\n".to_owned();
    let again = start_with_keys(settings, &[&key]);
    assert!(
        again.wait_for(&["loaded state"], SHORT).is_some(),
        "{:#?}",
        again.lines()
    );
    let bob = login(&again, "bob", &key);
    bob.type_line("/get colour");
    assert!(
        bob.wait_line("colour = deep green", SHORT),
        "{:#?}",
        bob.screen_lines()
    );
    assert_eq!(again.count(&["peer connected"]), 0, "isolated");
    smol::block_on(d.shutdown()).expect("shutdown within 5 s");
}
