//! Real `micelio` processes on 127.0.0.1: their settings, start-up, logs and signals.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    // Ports handed out in this process never repeat: asking the OS for port 0 and releasing it
    // let parallel tests receive the same port before either child process bound it.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let base = 20_000 + (std::process::id() % 20_000);
    loop {
        let offset = NEXT.fetch_add(1, Ordering::SeqCst);
        let port = u16::try_from(base + offset % 20_000).unwrap_or(0);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A fresh directory under the system temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("micelio-it-{}-{name}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Settings of one test node.
#[derive(Clone, Debug)]
pub struct NodeSettings {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Peer listen address, empty for outbound-only.
    pub listen: String,
    /// Bootstrap addresses.
    pub bootstrap: Vec<String>,
    /// SSH listen address.
    pub ssh_listen: String,
    /// Extra TOML appended to the `[network]` table.
    pub network_extra: String,
    /// Node name.
    pub name: String,
}

impl NodeSettings {
    /// A listening node with a fresh data directory, fast discovery and its own SSH port.
    pub fn new(name: &str) -> Self {
        NodeSettings {
            data_dir: temp_dir(name),
            listen: format!("127.0.0.1:{}", free_port()),
            bootstrap: Vec::new(),
            ssh_listen: format!("127.0.0.1:{}", free_port()),
            network_extra: "exchange_interval = \"1s\"\ndiscovery_interval = \"1s\"\n".into(),
            name: name.into(),
        }
    }

    /// Writes the configuration file and returns its path.
    pub fn write_config(&self) -> PathBuf {
        let bootstrap: Vec<String> = self.bootstrap.iter().map(|b| format!("{b:?}")).collect();
        let text = format!(
            "[node]\nname = {:?}\ndata_dir = {:?}\n\n[ssh]\nlisten = {:?}\n\n[network]\nlisten = {:?}\nbootstrap = [{}]\n{}\n[logging]\nlevel = \"debug\"\n",
            self.name,
            self.data_dir.display().to_string(),
            self.ssh_listen,
            self.listen,
            bootstrap.join(", "),
            self.network_extra,
        );
        let path = self.data_dir.join("config.toml");
        std::fs::write(&path, text).expect("write config");
        path
    }
}

/// A running `micelio` process whose stderr is collected line by line.
pub struct NodeProcess {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    /// What it was started with.
    pub settings: NodeSettings,
}

/// The path of the `micelio` daemon to run: `$MICELIO_BIN` if set, else the binary next to
/// the running test's profile directory (`target/<profile>/micelio`), which `cargo test
/// --workspace` builds before running any test; when it is missing (a single package's tests
/// were run), it is built with `$CARGO build -p micelio-node --bin micelio` first.
pub fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Some(path) = std::env::var_os("MICELIO_BIN") {
            return PathBuf::from(path);
        }
        let exe = std::env::current_exe().expect("path of the running test");
        // target/<profile>/deps/<test> -> target/<profile>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test executable under target/<profile>/deps");
        let path = profile_dir.join(format!("micelio{}", std::env::consts::EXE_SUFFIX));
        if !path.exists() {
            build_daemon(profile_dir);
        }
        path
    })
}

/// Builds the daemon into the profile directory the running test came from.
fn build_daemon(profile_dir: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(["build", "-p", "micelio-node", "--bin", "micelio"]);
    if profile_dir
        .file_name()
        .is_some_and(|name| name == "release")
    {
        command.arg("--release");
    }
    let status = command
        .status()
        .expect("run cargo build for the micelio daemon");
    assert!(status.success(), "building the micelio daemon failed");
}

impl NodeProcess {
    /// Starts a node from `settings` (writes its config file).
    pub fn start(settings: NodeSettings) -> Self {
        let config = settings.write_config();
        let mut child = Command::new(binary())
            .arg("-config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start micelio");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        NodeProcess {
            child,
            lines,
            settings,
        }
    }

    /// Every stderr line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits until a line contains every one of `needles`; returns it.
    pub fn wait_for(&self, needles: &[&str], timeout: Duration) -> Option<String> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(line) = self
                .lines()
                .into_iter()
                .find(|l| needles.iter().all(|n| l.contains(n)))
            {
                return Some(line);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Number of lines containing every one of `needles`.
    pub fn count(&self, needles: &[&str]) -> usize {
        self.lines()
            .iter()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .count()
    }

    /// The node id from the `node started` line.
    pub fn node_id(&self) -> String {
        let line = self
            .wait_for(&["node started"], Duration::from_secs(10))
            .expect("node started");
        let start = line.find("node_id=").expect("node_id attribute") + "node_id=".len();
        line[start..start + 64].to_owned()
    }

    /// Sends a signal.
    pub fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status();
    }

    /// Waits for the process to exit, at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Sends SIGTERM and waits for the process to exit, at most `timeout`.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.signal("TERM");
        self.wait_exit(timeout)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.settings.data_dir
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it is true or `timeout` passes.
pub fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}
