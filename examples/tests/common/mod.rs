//! Runs an example binary as a child process and collects its stdout line by line.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use micelio_testkit::eventually;

/// Generous bound for anything that normally takes milliseconds.
pub const SHORT: Duration = Duration::from_secs(15);

/// The example running as a child process, its stdout collected line by line.
pub struct Example {
    /// The process.
    pub child: Child,
    /// Its stdin, until closed.
    pub stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl Example {
    /// Starts `binary` with `args`.
    pub fn start(binary: &str, args: &[&str]) -> Example {
        let mut child = Command::new(binary)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the example");
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

    /// Every stdout line so far.
    pub fn lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// Stdout lines equal to `line`.
    pub fn count(&self, line: &str) -> usize {
        self.lines().iter().filter(|l| *l == line).count()
    }

    /// Writes a line to its stdin.
    pub fn type_line(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{text}").expect("write to the example");
        stdin.flush().expect("flush");
    }

    /// The node id the example printed at start.
    pub fn node_id(&self) -> String {
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
            "the example printed its node id"
        );
        id
    }

    /// Closes stdin and waits for the process to exit cleanly.
    pub fn finish(&mut self) {
        drop(self.stdin.take());
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(
                start.elapsed() < SHORT,
                "the example exits after end of input"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "exit status {status}");
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
