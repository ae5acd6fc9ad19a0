//! The std-threads example exchanges chat with a `micelio` daemon (mio) on 127.0.0.1.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use micelio_testkit::ssh::{self, SshSession, new_key, public_line};
use micelio_testkit::{NodeProcess, NodeSettings, eventually, free_port};

/// Generous bound for anything that normally takes milliseconds.
const SHORT: Duration = Duration::from_secs(15);

/// The example running as a child process, its stdout collected line by line.
struct Example {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl Example {
    fn start(args: &[&str]) -> Example {
        let mut child = Command::new(env!("CARGO_BIN_EXE_threads-chat"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start threads-chat");
        let stdin = child.stdin.take();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&stdout);
        let out = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Example {
            child,
            stdin,
            stdout,
        }
    }

    fn lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    fn count(&self, line: &str) -> usize {
        self.lines().iter().filter(|l| *l == line).count()
    }

    fn type_line(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{text}").expect("write to threads-chat");
        stdin.flush().expect("flush");
    }

    /// The node id the example printed at start.
    fn node_id(&self) -> String {
        let mut id = String::new();
        assert!(
            eventually(SHORT, || {
                let lines = self.lines();
                let found = lines.iter().find_map(|l| l.strip_prefix("node "));
                if let Some(rest) = found {
                    id = rest.chars().take(64).collect();
                }
                !id.is_empty()
            }),
            "threads-chat printed its node id"
        );
        id
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
    let mut example = Example::start(&["bob", &listen, &daemon.settings.listen]);
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
    drop(example.stdin.take());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = example.child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            start.elapsed() < SHORT,
            "threads-chat exits after end of input"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status}");
    assert!(
        daemon
            .wait_for(&["peer disconnected", &example_id], SHORT)
            .is_some(),
        "{:#?}",
        daemon.lines()
    );
}
