//! A daemon whose SSH partyline admits given keys, and users logged into it.

use std::time::Duration;

use crate::process::{NodeProcess, NodeSettings};
use crate::ssh::{self, PrivateKey, SshSession, public_line};

/// How long start-up or a login may take.
const LIMIT: Duration = Duration::from_secs(15);

/// Starts a node whose `authorized_keys` lists `keys` and waits until its SSH server listens.
pub fn start_with_keys(settings: NodeSettings, keys: &[&PrivateKey]) -> NodeProcess {
    let lines: Vec<String> = keys.iter().map(|k| public_line(k)).collect();
    ssh::write_authorized_keys(&settings.data_dir, &(lines.join("\n") + "\n"));
    let node = NodeProcess::start(settings);
    assert!(
        node.wait_for(&["ssh listening"], LIMIT).is_some(),
        "ssh listening: {:#?}",
        node.lines()
    );
    node
}

/// Logs `user` into `node`'s partyline and waits for its own join notice.
pub fn login(node: &NodeProcess, user: &str, key: &PrivateKey) -> SshSession {
    let session = SshSession::connect(&node.settings.ssh_listen, user, key)
        .unwrap_or_else(|e| panic!("{user} logs in: {e}"));
    let notice = format!("* {user} joined the partyline");
    assert!(
        session.wait_line(&notice, LIMIT),
        "{user} sees its join notice: {:#?}",
        session.screen_lines()
    );
    session
}
