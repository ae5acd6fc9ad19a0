//! The std-threads example exchanges chat with a `micelio` daemon (mio) on 127.0.0.1.

mod common;

use std::time::Duration;

use common::{Example, SHORT};
use micelio_testkit::ssh::{self, SshSession, new_key, public_line};
use micelio_testkit::{NodeProcess, NodeSettings, eventually, free_port};

#[test]
fn threads_example_chats_with_a_mio_node() {
    let key = new_key();
    let settings = NodeSettings::new("threads-peer");
    ssh::write_authorized_keys(&settings.data_dir, &format!("{}\n", public_line(&key)));
    let daemon = NodeProcess::start(settings);
    assert!(
        daemon.wait_for(&["ssh listening"], SHORT).is_some(),
        "{:#?}",
        daemon.lines()
    );
    let daemon_id = daemon.node_id();

    let listen = format!("127.0.0.1:{}", free_port());
    let mut example = Example::start(
        env!("CARGO_BIN_EXE_threads-chat"),
        &["bob", &listen, &daemon.settings.listen],
    );
    let example_id = example.node_id();
    assert!(
        daemon
            .wait_for(&["peer connected", &example_id], SHORT)
            .is_some(),
        "the daemon admitted the example: {:#?}",
        daemon.lines()
    );
    assert!(
        eventually(SHORT, || example.count(&format!("* {daemon_id} joined"))
            == 1),
        "the example saw the daemon join: {:#?}",
        example.lines()
    );

    // From the example to the daemon's partyline.
    let alice = SshSession::connect(&daemon.settings.ssh_listen, "alice", &key)
        .unwrap_or_else(|e| panic!("alice logs in: {e}"));
    assert!(alice.wait_line("* alice joined the partyline", SHORT));
    example.type_line("hello from std threads");
    assert!(
        alice.wait_line("[bob] hello from std threads", SHORT),
        "{:#?}",
        alice.screen_lines()
    );

    // From the partyline to the example.
    alice.type_line("hello from mio");
    assert!(
        eventually(SHORT, || example.count("<alice> hello from mio") == 1),
        "the example printed the daemon's chat: {:#?}",
        example.lines()
    );

    // Exactly once each way, after time for any duplicate to arrive.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(example.count("<alice> hello from mio"), 1);
    assert_eq!(
        daemon.count(&["chat received", &example_id]),
        1,
        "{:#?}",
        daemon.lines()
    );

    // End of input shuts the example down cleanly; the daemon sees it leave.
    example.finish();
    assert!(
        daemon
            .wait_for(&["peer disconnected", &example_id], SHORT)
            .is_some(),
        "{:#?}",
        daemon.lines()
    );
}
