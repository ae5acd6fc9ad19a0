//! The smol chat example exchanges chat with a `micelio` daemon (mio) on 127.0.0.1.

mod common;

use std::time::Duration;

use common::{Example, SHORT};
use micelio_testkit::ssh::{self, SshSession, new_key, public_line};
use micelio_testkit::{NodeProcess, NodeSettings, eventually, free_port, temp_dir};

#[test]
fn smol_example_chats_with_a_mio_node() {
    let key = new_key();
    let settings = NodeSettings::new("smol-chat-peer");
    ssh::write_authorized_keys(&settings.data_dir, &format!("{}\n", public_line(&key)));
    let daemon = NodeProcess::start(settings);
    assert!(daemon.wait_for(&["ssh listening"], SHORT).is_some());
    let daemon_id = daemon.node_id();

    let data_dir = temp_dir("smol-chat");
    let listen = format!("127.0.0.1:{}", free_port());
    let mut example = Example::start(
        env!("CARGO_BIN_EXE_smol-chat"),
        &[
            "-data-dir",
            &data_dir.to_string_lossy(),
            "-listen",
            &listen,
            "-bootstrap",
            &daemon.settings.listen,
            "-name",
            "carol",
        ],
    );
    let example_id = example.node_id();
    assert!(
        eventually(SHORT, || example.count(&format!("* {daemon_id} joined"))
            == 1),
        "{:#?}",
        example.lines()
    );

    let alice = SshSession::connect(&daemon.settings.ssh_listen, "alice", &key)
        .unwrap_or_else(|e| panic!("alice logs in: {e}"));
    assert!(alice.wait_line("* alice joined the partyline", SHORT));
    example.type_line("hello from smol");
    assert!(
        alice.wait_line("[carol] hello from smol", SHORT),
        "{:#?}",
        alice.screen_lines()
    );
    alice.type_line("hello from mio");
    assert!(
        eventually(SHORT, || example.count("<alice> hello from mio") == 1),
        "{:#?}",
        example.lines()
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(example.count("<alice> hello from mio"), 1);
    assert_eq!(daemon.count(&["chat received", &example_id]), 1);

    // End of input: the node shuts down (peer table flushed) and the process exits 0.
    example.finish();
    assert!(
        daemon
            .wait_for(&["peer disconnected", &example_id], SHORT)
            .is_some()
    );
    assert!(data_dir.join("data.db").exists());
}
