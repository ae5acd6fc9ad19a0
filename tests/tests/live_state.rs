//! The shared state map between real processes on 127.0.0.1: three `micelio` daemons and one
//! `micelio-smol` node. `/set` on one partyline shows on every other one (and in the smol
//! node), a smol write shows on the partylines, and a daemon killed with SIGKILL restarts with
//! its map from its store.

use std::path::Path;
use std::time::{Duration, Instant};

use micelio_platform::config::{Config, GoDuration};
use micelio_smol::SmolNode;
use micelio_testkit::partyline::{login, start_with_keys};
use micelio_testkit::ssh::{self, SshSession, new_key};
use micelio_testkit::{NodeProcess, NodeSettings, eventually, free_port, temp_dir};

/// Generous bound for anything that normally takes a second or two (never a timing claim:
/// the measured times are printed).
const SHORT: Duration = Duration::from_secs(20);

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

fn start_daemon(name: &str, bootstrap: Vec<String>, key: &ssh::PrivateKey) -> NodeProcess {
    let mut settings = NodeSettings::new(name);
    settings.bootstrap = bootstrap;
    start_with_keys(settings, &[key])
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
