//! The SSH partyline of real `micelio` processes (NODE.md §5, §7): chat across a star of three
//! nodes and the commands, SIGTERM with users connected, hostile remote text kept off the
//! terminals, authentication and the channel rules.

use micelio_testkit as support;

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use micelio_core::envelope;
use micelio_core::proto::ChatMessage;
use rand_core::OsRng;
use russh::{ChannelMsg, ChannelOpenFailure};
use support::partyline::{login, start_with_keys};
use support::peer::WirePeer;
use support::ssh::{self, SshSession, block_on, new_key, public_line};
use support::{NodeProcess, NodeSettings, binary, eventually};

/// Generous bound for anything that normally takes milliseconds.
const SHORT: Duration = Duration::from_secs(10);

/// Waits until `node` logged a connected peer `id` (and no later disconnect).
fn wait_peer(node: &NodeProcess, id: &str) {
    assert!(
        node.wait_for(&["peer connected", id], Duration::from_secs(15))
            .is_some(),
        "peer {id} connected: {:#?}",
        node.lines()
    );
}

#[test]
fn chat_crosses_a_star_and_commands_answer() {
    let key = new_key();
    let centre = start_with_keys(NodeSettings::new("star-a"), &[&key]);
    let spoke = |name: &str| {
        let mut settings = NodeSettings::new(name);
        // Outbound-only spokes cannot reach each other: chat must go through the centre.
        settings.listen = String::new();
        settings.bootstrap = vec![centre.settings.listen.clone()];
        start_with_keys(settings, &[&key])
    };
    let b = spoke("star-b");
    let c = spoke("star-c");
    wait_peer(&centre, &b.node_id());
    wait_peer(&centre, &c.node_id());

    let bob = login(&b, "bob", &key);
    let carol = login(&c, "carol", &key);
    let dave = login(&c, "dave", &key);
    assert!(carol.wait_line("* dave joined the partyline", SHORT));

    bob.type_line("hello from B");
    for user in [&carol, &dave] {
        assert!(
            user.wait_line("[bob] hello from B", SHORT),
            "chat reached node C: {:#?}",
            user.screen_lines()
        );
    }
    // The author sees only the echo of what was typed.
    assert!(bob.wait_line("[bob]> hello from B", SHORT));
    assert!(!bob.screen_lines().iter().any(|l| l == "[bob] hello from B"));

    carol.type_line("/who");
    assert!(
        carol.wait_line("Online (2): carol, dave", SHORT),
        "{:#?}",
        carol.screen_lines()
    );

    carol.type_line("/nick x");
    assert!(carol.wait_line("* carol is now known as x", SHORT));
    assert!(dave.wait_line("* carol is now known as x", SHORT));
    // The prompt follows the new nick.
    carol.type_line("typed after rename");
    assert!(
        carol.wait_line("[x]> typed after rename", SHORT),
        "{:#?}",
        carol.screen_lines()
    );
    assert!(dave.wait_line("[x] typed after rename", SHORT));

    carol.type_line("/help");
    let help = [
        "Commands:",
        "  /who           \u{2014} list online users",
        "  /nick <name>   \u{2014} change your nickname",
        "  /quit          \u{2014} disconnect",
        "  /help          \u{2014} show this help",
    ];
    assert!(
        carol.wait_block(&help, SHORT),
        "help block: {:#?}",
        carol.screen_lines()
    );

    carol.type_line("/quit");
    assert!(
        carol.wait_line("Goodbye.", SHORT),
        "{:#?}",
        carol.screen_lines()
    );
    assert!(carol.wait_closed(SHORT), "the channel closes after /quit");
    assert!(dave.wait_line("* x left the partyline", SHORT));
    dave.type_line("/who");
    assert!(dave.wait_line("Online (1): dave", SHORT));
}

/// The issue-8 live check: a five-node chain (discovery off, so the chain stays a chain)
/// whose middle node runs with the dissemination extension off still carries chat end to end
/// both ways: extension nodes serve that reference-mode peer exactly as the reference would.
#[test]
fn chat_crosses_a_chain_whose_middle_node_has_the_extension_off() {
    let key = new_key();
    let mut nodes: Vec<NodeProcess> = Vec::new();
    for i in 0..5 {
        let mut settings = NodeSettings::new(&format!("tree-chain{i}"));
        settings.network_extra =
            "exchange_interval = \"1s\"\ndiscovery_interval = \"3600s\"\n".to_owned();
        if i == 2 {
            settings
                .network_extra
                .push_str("\n[extensions]\ntree = false\n");
        }
        if let Some(prev) = nodes.last() {
            settings.bootstrap = vec![prev.settings.listen.clone()];
        }
        nodes.push(start_with_keys(settings, &[&key]));
    }
    for pair in nodes.windows(2) {
        wait_peer(&pair[0], &pair[1].node_id());
        wait_peer(&pair[1], &pair[0].node_id());
    }
    let first = login(&nodes[0], "first", &key);
    let last = login(&nodes[4], "last", &key);
    let middle = login(&nodes[2], "middle", &key);
    first.type_line("through the reference-mode middle");
    for user in [&last, &middle] {
        assert!(
            user.wait_line("[first] through the reference-mode middle", SHORT),
            "{:#?}",
            user.screen_lines()
        );
    }
    last.type_line("and back");
    assert!(
        first.wait_line("[last] and back", SHORT),
        "{:#?}",
        first.screen_lines()
    );
    // The reference-mode node never got an extension message: its gossip engine would have
    // refused that id-less envelope, logged at debug level.
    assert!(
        !nodes[2].lines().iter().any(|l| l.contains("empty id")),
        "{:#?}",
        nodes[2].lines()
    );
}

#[test]
fn sigterm_with_ssh_users_drains_and_exits_zero() {
    let key = new_key();
    let mut node = start_with_keys(NodeSettings::new("drain"), &[&key]);
    let mut peer_settings = NodeSettings::new("drain-peer");
    peer_settings.bootstrap = vec![node.settings.listen.clone()];
    let peer = NodeProcess::start(peer_settings);
    let node_id = node.node_id();
    wait_peer(&peer, &node_id);

    let first = login(&node, "first", &key);
    let last = login(&node, "last", &key);
    assert!(first.wait_line("* last joined the partyline", SHORT));

    let started = Instant::now();
    let status = node
        .terminate(Duration::from_secs(5))
        .expect("exited within 5 s");
    assert!(
        status.success(),
        "exit status {status:?} after {:?}",
        started.elapsed()
    );
    // Sessions end in join order: the one that remains longest is shown the other leaving,
    // then both channels are closed.
    assert!(
        last.wait_line("* first left the partyline", SHORT),
        "{:#?}",
        last.screen_lines()
    );
    assert!(first.wait_closed(SHORT));
    assert!(last.wait_closed(SHORT));
    assert!(
        !first
            .screen_lines()
            .iter()
            .any(|l| l == "* last left the partyline")
    );
    assert!(node.count(&["shutting down"]) == 1);
    assert_eq!(
        node.count(&["timeout waiting for SSH connections to drain"]),
        0
    );
    assert!(
        peer.wait_for(&["peer disconnected", &node_id], Duration::from_secs(3))
            .is_some(),
        "the peer saw the close: {:#?}",
        peer.lines()
    );
}

#[test]
fn sigterm_gives_up_on_a_client_that_does_not_read() {
    let key = new_key();
    let mut node = start_with_keys(NodeSettings::new("stalled"), &[&key]);
    let addr = node.settings.ssh_listen.clone();

    // A client with a 4 KiB window and room for one unread message that never reads: once both
    // are full its connection stops taking data, and its session's writes block for good.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let stalled_key = key.clone();
    let stalled = std::thread::spawn(move || {
        block_on(async move {
            let config = russh::client::Config {
                window_size: 4096,
                channel_buffer_size: 1,
                ..Default::default()
            };
            let handle = ssh::connect_with(config, &addr, "stalled", &stalled_key, None)
                .await
                .expect("stalled client logs in");
            let channel = handle.channel_open_session().await.expect("session");
            channel.request_shell(false).await.expect("shell");
            let _ = ready_tx.send(());
            while let Err(std::sync::mpsc::TryRecvError::Empty) = stop_rx.try_recv() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            drop((channel, handle));
        });
    });
    ready_rx.recv_timeout(SHORT).expect("stalled client ready");
    let flooder = login(&node, "flooder", &key);
    for i in 0..300 {
        flooder.type_line(&format!("{i:04} {}", "x".repeat(100)));
    }
    // The loop handles lines in order: once /who is answered, every line was distributed.
    flooder.type_line("/who");
    assert!(
        flooder.wait_line("Online (2): stalled, flooder", SHORT),
        "{:#?}",
        flooder.screen_lines()
    );

    let started = Instant::now();
    let status = node
        .terminate(Duration::from_secs(8))
        .expect("exited within the drain limit");
    assert!(status.success(), "exit status {status:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "waited for the drain: {:?}",
        started.elapsed()
    );
    assert_eq!(
        node.count(&["WARN", "timeout waiting for SSH connections to drain"]),
        1,
        "{:#?}",
        node.lines()
    );
    assert!(flooder.wait_line("* stalled left the partyline", SHORT));
    assert!(flooder.wait_closed(SHORT));
    let _ = stop_tx.send(());
    stalled.join().expect("stalled client thread");
}

#[test]
fn remote_escape_sequences_never_reach_a_terminal() {
    let key = new_key();
    let node = start_with_keys(NodeSettings::new("hostile"), &[&key]);
    let alice = login(&node, "alice", &key);

    let mut peer = WirePeer::connect(&node.settings.listen, SHORT).expect("wire peer connects");
    wait_peer(&node, peer.identity.node_id().as_str());
    let chat = ChatMessage {
        nick: "evil\x1b[2J\x1b]0;pwned\x07\u{9b}31m".into(),
        text: "hi\x1b[2Jthere\x07\r\u{9b}1;1Hend\x1b]2;title\x1b\\!".into(),
        timestamp: 0,
    };
    let message_id = envelope::new_message_id(&mut OsRng);
    peer.send(&envelope::chat(&peer.identity, message_id, &chat))
        .expect("chat sent");

    let expected = "[evil] hithereend!";
    let seen = eventually(SHORT, || {
        let _ = peer.pump();
        alice.screen_lines().iter().any(|l| l == expected)
    });
    assert!(seen, "sanitised line shown: {:#?}", alice.screen_lines());

    let raw = alice.raw();
    let contains = |needle: &[u8]| raw.windows(needle.len()).any(|w| w == needle);
    for hostile in [
        &b"\x1b[2J"[..],
        b"\x1b]",
        b"\x1b\\",
        b"\x07",
        "\u{9b}".as_bytes(),
        b"pwned",
        b"title",
    ] {
        assert!(
            !contains(hostile),
            "{hostile:?} reached the client: {raw:?}"
        );
    }
    assert!(!raw.contains(&0x9b), "raw C1 CSI byte");
    // The only escape sequences are the editor's own: cursor movement and erasing.
    let text = String::from_utf8_lossy(&raw);
    for (i, _) in text.match_indices('\x1b') {
        let rest: String = text[i + 1..].chars().take(8).collect();
        let mut chars = rest.chars();
        assert_eq!(chars.next(), Some('['), "ESC not starting a CSI: {rest:?}");
        let last = chars.find(|c| !c.is_ascii_digit());
        assert!(
            matches!(last, Some('A' | 'B' | 'C' | 'D' | 'K' | 'J')),
            "unexpected escape sequence ESC {rest:?}"
        );
    }
}

#[test]
fn only_authorized_keys_get_in() {
    let listed = new_key();
    let stranger = new_key();
    let mut settings = NodeSettings::new("auth");
    // No networking at all: the partyline still works, chat stays local.
    settings.listen = String::new();
    let data_dir = settings.data_dir.clone();
    ssh::write_authorized_keys(
        &data_dir,
        &format!(
            "# team keys\n\nnot a key\nfrom=\"127.0.0.1\",command=\"echo hi there\" {} zed@laptop\n",
            public_line(&listed)
        ),
    );
    let node = NodeProcess::start(settings);
    assert!(node.wait_for(&["ssh listening"], SHORT).is_some());
    assert_eq!(node.count(&["no authorized keys loaded"]), 0);
    assert_eq!(node.count(&["transport listening"]), 0);

    let refused = SshSession::connect(&node.settings.ssh_listen, "mallory", &stranger);
    assert!(refused.is_err(), "an unknown key is refused");
    assert!(
        node.wait_for(&["WARN", "handshake failed"], SHORT)
            .is_some(),
        "{:#?}",
        node.lines()
    );
    assert_eq!(node.count(&["client connected", "mallory"]), 0);

    // The host key is the node's identity key.
    let host = ssh::node_host_key(&data_dir);
    let addr = node.settings.ssh_listen.clone();
    block_on(async {
        ssh::connect(&addr, "zed", &listed, Some(host))
            .await
            .expect("the listed key gets in, host key = node.pub");
        let other = new_key().public_key().clone();
        assert!(
            ssh::connect(&addr, "zed", &listed, Some(other))
                .await
                .is_err()
        );
    });

    let zed = login(&node, "zed", &listed);
    assert!(zed.wait_block(
        &["Welcome to auth partyline!", "Type /help for commands.", ""],
        SHORT
    ));
    assert!(
        node.wait_for(&["INFO", "client connected", "user=zed"], SHORT)
            .is_some()
    );
    let amy = login(&node, "amy", &listed);
    amy.type_line("local chat");
    assert!(zed.wait_line("[amy] local chat", SHORT));
}

#[test]
fn missing_authorized_keys_refuses_everyone() {
    let node = NodeProcess::start(NodeSettings::new("nokeys"));
    assert!(
        node.wait_for(
            &["WARN", "no authorized keys loaded", "authorized_keys"],
            SHORT
        )
        .is_some(),
        "{:#?}",
        node.lines()
    );
    assert!(node.wait_for(&["ssh listening"], SHORT).is_some());
    assert!(SshSession::connect(&node.settings.ssh_listen, "anyone", &new_key()).is_err());
}

#[test]
fn channel_requests_follow_the_rules() {
    let key = new_key();
    let node = start_with_keys(NodeSettings::new("rules"), &[&key]);
    let addr = node.settings.ssh_listen.clone();
    block_on(async {
        let handle = ssh::connect(&addr, "rita", &key, None)
            .await
            .expect("login");

        // Non-session channels are refused as an unknown channel type.
        let forward = handle
            .channel_open_direct_tcpip("127.0.0.1", 22, "127.0.0.1", 5000)
            .await;
        assert!(
            matches!(
                forward,
                Err(russh::Error::ChannelOpenFailure(
                    ChannelOpenFailure::UnknownChannelType
                ))
            ),
            "{forward:?}"
        );

        // Before shell: exec, env and subsystem refused, pty-req accepted, then shell accepted.
        let mut first = handle.channel_open_session().await.expect("session");
        first.exec(true, "ls").await.unwrap();
        assert!(matches!(reply(&mut first).await, ChannelMsg::Failure));
        first.set_env(true, "LANG", "C").await.unwrap();
        assert!(matches!(reply(&mut first).await, ChannelMsg::Failure));
        first.request_subsystem(true, "sftp").await.unwrap();
        assert!(matches!(reply(&mut first).await, ChannelMsg::Failure));
        first
            .request_pty(true, "xterm", 120, 40, 0, 0, &[])
            .await
            .unwrap();
        assert!(matches!(reply(&mut first).await, ChannelMsg::Success));
        first.request_shell(true).await.unwrap();
        assert!(matches!(reply(&mut first).await, ChannelMsg::Success));
        // After shell, every request is refused (a second shell, pty-req, exec).
        first.request_shell(true).await.unwrap();
        assert!(matches!(reply(&mut first).await, ChannelMsg::Failure));
        first
            .request_pty(true, "xterm", 80, 24, 0, 0, &[])
            .await
            .unwrap();
        assert!(matches!(reply(&mut first).await, ChannelMsg::Failure));

        // A second session channel on the same connection is a second member; a shell without
        // pty-req works.
        let mut second = handle.channel_open_session().await.expect("second session");
        second.request_shell(true).await.unwrap();
        assert!(matches!(reply(&mut second).await, ChannelMsg::Success));
        second.data(&b"/who\r"[..]).await.unwrap();
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + SHORT;
        while !ssh::screen_lines(&seen)
            .iter()
            .any(|l| l == "Online (2): rita, rita")
        {
            match tokio::time::timeout_at(deadline, second.wait()).await {
                Ok(Some(ChannelMsg::Data { data })) => seen.extend_from_slice(&data),
                Ok(Some(_)) => {}
                other => panic!(
                    "no /who answer ({other:?}): {:#?}",
                    ssh::screen_lines(&seen)
                ),
            }
        }

        // Ctrl-D on an empty line ends the first session: the channel closes.
        first.data(&b"\x04"[..]).await.unwrap();
        let closed = tokio::time::timeout(SHORT, async {
            loop {
                match first.wait().await {
                    Some(ChannelMsg::Close) | None => break,
                    Some(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "Ctrl-D closes the channel");
    });
}

/// The next request reply (success or failure) on `channel`, skipping data.
async fn reply(channel: &mut russh::Channel<russh::client::Msg>) -> ChannelMsg {
    let wait = async {
        loop {
            match channel.wait().await {
                Some(msg @ (ChannelMsg::Success | ChannelMsg::Failure)) => return msg,
                Some(_) => {}
                None => panic!("channel closed while waiting for a reply"),
            }
        }
    };
    tokio::time::timeout(SHORT, wait)
        .await
        .expect("request answered")
}

#[test]
fn unbindable_ssh_address_is_fatal() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut settings = NodeSettings::new("ssh-taken");
    settings.ssh_listen = taken.local_addr().unwrap().to_string();
    let config = settings.write_config();
    let output = Command::new(binary())
        .arg("-config")
        .arg(&config)
        .output()
        .expect("run micelio");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("fatal: ssh"), "{stderr}");
    assert!(
        stderr.contains(&format!("listening on {}", settings.ssh_listen)),
        "{stderr}"
    );
}
