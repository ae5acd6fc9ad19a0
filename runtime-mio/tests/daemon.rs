//! The `micelio` daemon as a process: mesh formation, outbound-only nodes, crash and restart
//! from `data.db`, configuration errors, a second node on the same data directory, SIGTERM.

use micelio_testkit as support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{NodeProcess, NodeSettings, binary, eventually, temp_dir};

/// Distinct peers a node reported as connected and not since disconnected.
fn connected_peers(node: &NodeProcess) -> std::collections::BTreeSet<String> {
    let mut peers = std::collections::BTreeSet::new();
    for line in node.lines() {
        let Some(start) = line.find("peer=") else {
            continue;
        };
        let id = line[start + 5..].chars().take(64).collect::<String>();
        if line.contains("peer connected") {
            peers.insert(id);
        } else if line.contains("peer disconnected") {
            peers.remove(&id);
        }
    }
    peers
}

#[test]
fn five_node_bootstrap_chain_becomes_a_full_mesh() {
    let mut nodes: Vec<NodeProcess> = Vec::new();
    for i in 0..5 {
        let mut settings = NodeSettings::new(&format!("chain{i}"));
        if let Some(prev) = nodes.last() {
            settings.bootstrap = vec![prev.settings.listen.clone()];
        }
        nodes.push(NodeProcess::start(settings));
    }
    let meshed = eventually(Duration::from_secs(30), || {
        nodes.iter().all(|n| connected_peers(n).len() == 4)
    });
    let counts: Vec<usize> = nodes.iter().map(|n| connected_peers(n).len()).collect();
    assert!(meshed, "peer counts after 30 s: {counts:?}");
}

#[test]
fn restart_after_kill_reloads_peers_from_the_database() {
    let hub = NodeProcess::start(NodeSettings::new("hub"));
    let mut a_settings = NodeSettings::new("spoke-a");
    a_settings.bootstrap = vec![hub.settings.listen.clone()];
    let _a = NodeProcess::start(a_settings);
    let mut b_settings = NodeSettings::new("spoke-b");
    b_settings.bootstrap = vec![hub.settings.listen.clone()];
    let b = NodeProcess::start(b_settings.clone());
    assert!(eventually(Duration::from_secs(20), || connected_peers(&b)
        .len()
        == 2));
    // Let the batched store writes land, then kill without warning.
    std::thread::sleep(Duration::from_millis(1500));
    b.signal("KILL");
    drop(b);
    let store = micelio_platform::store::Store::open(&b_settings.data_dir.join("data.db"))
        .expect("the killed node's lock is released");
    assert!(
        store.integrity_check().expect("integrity check runs"),
        "PRAGMA integrity_check"
    );
    assert!(store.load_peers().expect("peers load").records.len() >= 2);
    drop(store);

    let mut restarted = b_settings;
    restarted.bootstrap.clear();
    let b = NodeProcess::start(restarted);
    assert!(
        b.wait_for(&["loaded known peers"], Duration::from_secs(10))
            .is_some()
    );
    assert!(
        eventually(Duration::from_secs(20), || connected_peers(&b).len() == 2),
        "rejoined without a bootstrap list: {:?}",
        connected_peers(&b)
    );
}

#[test]
fn outbound_only_node_joins_through_a_peer() {
    let hub = NodeProcess::start(NodeSettings::new("listener"));
    let mut settings = NodeSettings::new("outbound");
    settings.listen = String::new();
    settings.bootstrap = vec![hub.settings.listen.clone()];
    let outbound = NodeProcess::start(settings);
    let id = outbound.node_id();
    assert!(
        hub.wait_for(&["peer connected", &id], Duration::from_secs(10))
            .is_some()
    );
    assert!(
        outbound
            .wait_for(&["peer connected"], Duration::from_secs(10))
            .is_some()
    );
}

#[test]
fn bad_configuration_names_the_field_and_exits_non_zero() {
    let dir = temp_dir("badconf");
    let cases = [
        (
            "[network]\nlisten = \"127.0.0.1\"\n",
            "network.listen: invalid format",
        ),
        ("[ssh]\nlisten = \":2222\"\n", "ssh.listen: missing host"),
        (
            "[network]\nbootstrap = [\"0.0.0.0:4000\"]\n",
            "network.bootstrap[0]: wildcard host not allowed",
        ),
        (
            "[network]\nadvertise_addr = \"1.2.3.4\"\n",
            "network.advertise_addr:",
        ),
        (
            "[network]\nmax_peers = -5\n",
            "network.max_peers: must be >= 0, got -5",
        ),
        (
            "[network]\nexchange_interval = \"-5s\"\n",
            "network.exchange_interval: must be >= 0, got -5s",
        ),
        (
            "[network]\ndiscovery_interval = \"-10s\"\n",
            "network.discovery_interval: must be >= 0, got -10s",
        ),
        (
            "[logging]\nlevel = \"trace\"\n",
            "logging.level: invalid level \"trace\"",
        ),
    ];
    for (i, (toml, expected)) in cases.iter().enumerate() {
        let path = dir.join(format!("c{i}.toml"));
        let data = dir.join(format!("d{i}"));
        std::fs::write(
            &path,
            format!(
                "{toml}\n[node]\ndata_dir = {:?}\n",
                data.display().to_string()
            ),
        )
        .unwrap();
        let output = Command::new(binary())
            .arg("-config")
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{toml}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{toml}: expected {expected:?} in {stderr}"
        );
    }
    let output = Command::new(binary())
        .arg("-no-such-flag")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("flag provided but not defined: -no-such-flag")
    );
}

#[test]
fn second_node_on_the_same_data_directory_fails_fast() {
    let first = NodeProcess::start(NodeSettings::new("owner"));
    first.node_id();
    let mut settings = first.settings.clone();
    settings.listen = format!("127.0.0.1:{}", support::free_port());
    settings.ssh_listen = format!("127.0.0.1:{}", support::free_port());
    let config = settings.data_dir.join("second.toml");
    let text = std::fs::read_to_string(settings.write_config()).unwrap();
    std::fs::write(&config, text).unwrap();
    let started = Instant::now();
    let output = Command::new(binary())
        .arg("-config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("fatal: store"), "{stderr}");
    assert!(
        stderr.to_lowercase().contains("another"),
        "clear message expected: {stderr}"
    );
}

#[test]
fn sigterm_closes_peers_and_exits_zero_within_five_seconds() {
    let a = NodeProcess::start(NodeSettings::new("term-a"));
    let mut settings = NodeSettings::new("term-b");
    settings.bootstrap = vec![a.settings.listen.clone()];
    let mut b = NodeProcess::start(settings);
    let b_id = b.node_id();
    assert!(
        a.wait_for(&["peer connected", &b_id], Duration::from_secs(10))
            .is_some()
    );
    let started = Instant::now();
    let status = b
        .terminate(Duration::from_secs(5))
        .expect("exited within 5 s");
    assert!(
        status.success(),
        "exit status {status:?} after {:?}",
        started.elapsed()
    );
    assert!(
        b.wait_for(&["shutting down"], Duration::from_secs(1))
            .is_some()
    );
    assert!(
        a.wait_for(&["peer disconnected", &b_id], Duration::from_secs(3))
            .is_some(),
        "the peer saw the close"
    );
}

#[test]
fn data_directory_in_the_reference_format_keeps_its_node_id() {
    // NODE.md §4.2: the reference's files for the seed 00 01 .. 1f.
    let settings = NodeSettings::new("reference-identity");
    let identity = settings.data_dir.join("identity");
    std::fs::create_dir_all(&identity).unwrap();
    std::fs::write(
        identity.join("node.key"),
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    std::fs::write(
        identity.join("node.pub"),
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4\n",
    )
    .unwrap();
    let node = NodeProcess::start(settings);
    assert_eq!(
        node.node_id(),
        "56475aa75463474c0285df5dbf2bcab73da651358839e9b77481b2eab107708c"
    );
    let key = std::fs::read_to_string(identity.join("node.key")).unwrap();
    assert!(key.contains("MC4CAQAwBQYDK2VwBCIEIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f"));
}
