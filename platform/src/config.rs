//! The node's configuration (NODE.md §3): the TOML file, command-line overrides (§1), validation
//! with the reference's messages (§3.4), Go duration strings, and the conversion to the core's
//! [`NodeConfig`].

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use micelio_core::node::address::{AddrError, is_wildcard_host, split_host_port};
use micelio_core::node::{NodeConfig, TreeConfig};
use micelio_core::state::StateConfig;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// Default of `node.data_dir`.
pub const DEFAULT_DATA_DIR: &str = "~/.micelio";
/// Default of `ssh.listen`.
pub const DEFAULT_SSH_LISTEN: &str = "0.0.0.0:2222";
/// Default of `network.max_peers`.
pub const DEFAULT_MAX_PEERS: i64 = 15;
/// Default of `network.exchange_interval`, also used when it is 0.
pub const DEFAULT_EXCHANGE_INTERVAL: GoDuration = GoDuration::from_secs(30);
/// Default of `network.discovery_interval`, also used when it is 0.
pub const DEFAULT_DISCOVERY_INTERVAL: GoDuration = GoDuration::from_secs(10);
/// Node name used when the host name cannot be determined.
pub const FALLBACK_NODE_NAME: &str = "micelio";
/// Environment variable consulted for the log level when none is configured (§2 step 4).
pub const LOG_LEVEL_ENV: &str = "MICELIO_LOG_LEVEL";

// ---------------------------------------------------------------------------------------------
// Configuration structure
// ---------------------------------------------------------------------------------------------

/// The whole configuration file (NODE.md §3.3). Missing keys take their defaults, unknown keys
/// are ignored, and a value of the wrong TOML type is a parse error.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Config {
    /// `[node]`.
    pub node: NodeSection,
    /// `[ssh]`.
    pub ssh: SshSection,
    /// `[network]`.
    pub network: NetworkSection,
    /// `[logging]`.
    pub logging: LoggingSection,
    /// `[limits]` (ours, not in the reference; a reference node ignores it).
    pub limits: LimitsSection,
    /// `[extensions]` (ours, not in the reference; a reference node ignores it).
    pub extensions: ExtensionsSection,
}

/// The `[extensions]` table: protocol extensions spoken with peers that announce them
/// (docs/extensions.md). Turning one off makes the node behave like the reference for it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ExtensionsSection {
    /// Eager/lazy dissemination (`tree1`): every node gets every message with about one copy.
    pub tree: bool,
    /// The shared state map (`state1`, docs/state.md): off keeps no map.
    pub state: bool,
}

impl Default for ExtensionsSection {
    fn default() -> Self {
        ExtensionsSection {
            tree: true,
            state: true,
        }
    }
}

/// The `[node]` table.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct NodeSection {
    /// Shown in the SSH welcome line and the start-up log; default: the host name.
    pub name: String,
    /// Sent in `PeerHello.tags`.
    pub tags: Vec<String>,
    /// The data directory; a leading `~/` is expanded by [`expand_home`].
    pub data_dir: String,
}

impl Default for NodeSection {
    fn default() -> Self {
        NodeSection {
            name: default_node_name(),
            tags: Vec::new(),
            data_dir: DEFAULT_DATA_DIR.to_owned(),
        }
    }
}

/// The `[ssh]` table.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct SshSection {
    /// The SSH partyline listen address.
    pub listen: String,
}

impl Default for SshSection {
    fn default() -> Self {
        SshSection {
            listen: DEFAULT_SSH_LISTEN.to_owned(),
        }
    }
}

/// The `[network]` table.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct NetworkSection {
    /// Peer listen address; empty = outbound only.
    pub listen: String,
    /// Address announced to peers instead of the bound address (PROTOCOL.md §12.6).
    pub advertise_addr: String,
    /// Peer addresses dialed permanently with back-off.
    pub bootstrap: Vec<String>,
    /// Maximum admitted peer connections; 0 = unlimited.
    pub max_peers: i64,
    /// PeerExchange period; 0 means 30 s.
    pub exchange_interval: GoDuration,
    /// Discovery scan period; 0 means 10 s.
    pub discovery_interval: GoDuration,
}

impl Default for NetworkSection {
    fn default() -> Self {
        NetworkSection {
            listen: String::new(),
            advertise_addr: String::new(),
            bootstrap: Vec::new(),
            max_peers: DEFAULT_MAX_PEERS,
            exchange_interval: DEFAULT_EXCHANGE_INTERVAL,
            discovery_interval: DEFAULT_DISCOVERY_INTERVAL,
        }
    }
}

/// The `[limits]` table: how long the gossip caches remember, for memory-constrained nodes.
/// Each value 0 means its default; shorter lifetimes free memory sooner after a burst of
/// senders, and a shorter `seen_ttl` also shortens the window in which replays are recognised.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct LimitsSection {
    /// How long a message id is remembered (PROTOCOL.md §10.6: 5 min).
    pub seen_ttl: GoDuration,
    /// How long an idle sender's rate bucket and gossip-learned key are kept (5 min).
    pub idle_ttl: GoDuration,
    /// How often the caches are swept (1 min).
    pub sweep_interval: GoDuration,
}

impl Default for LimitsSection {
    fn default() -> Self {
        LimitsSection {
            seen_ttl: GoDuration::from_secs(300),
            idle_ttl: GoDuration::from_secs(300),
            sweep_interval: GoDuration::from_secs(60),
        }
    }
}

/// The `[logging]` table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct LoggingSection {
    /// `debug`, `info`, `warn`, `warning` or `error` (case-insensitive, trimmed); empty = info.
    pub level: String,
    /// `json` (case-insensitive) selects JSON lines; anything else selects text.
    pub format: String,
}

/// The machine's host name, or [`FALLBACK_NODE_NAME`] if it cannot be determined.
///
/// Tries `/proc/sys/kernel/hostname`, `/etc/hostname`, then the `HOSTNAME` and `COMPUTERNAME`
/// environment variables.
pub fn default_node_name() -> String {
    for file in ["/proc/sys/kernel/hostname", "/etc/hostname"] {
        if let Ok(text) = std::fs::read_to_string(file) {
            let name = text.trim();
            if !name.is_empty() {
                return name.to_owned();
            }
        }
    }
    for var in ["HOSTNAME", "COMPUTERNAME"] {
        if let Ok(value) = std::env::var(var) {
            let name = value.trim();
            if !name.is_empty() {
                return name.to_owned();
            }
        }
    }
    FALLBACK_NODE_NAME.to_owned()
}

/// The current user's home directory, from `HOME` (or `USERPROFILE` on Windows).
pub fn home_dir() -> Option<PathBuf> {
    let var = if cfg!(windows) { "USERPROFILE" } else { "HOME" };
    std::env::var_os(var)
        .filter(|home| !home.is_empty())
        .map(PathBuf::from)
}

/// Replaces a leading `~/` by the user's home directory. Any other path (including a bare `~`
/// and `~user/…`) is returned unchanged, as is every path when the home directory is unknown.
pub fn expand_home(path: &str) -> PathBuf {
    expand_home_with(path, home_dir().as_deref())
}

/// [`expand_home`] with an explicit home directory.
pub fn expand_home_with(path: &str, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(path),
    }
}

/// The configuration file read when no `-config` is given: `<home>/.micelio/config.toml`.
pub fn default_config_path(home: &Path) -> PathBuf {
    home.join(".micelio").join("config.toml")
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

/// Why the configuration could not be loaded.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be opened or read.
    Read {
        /// The file.
        path: PathBuf,
        /// `open` or `read`: the operation that failed (as in Go's error text).
        op: &'static str,
        /// The underlying error.
        source: io::Error,
    },
    /// The file is not valid TOML, or a value has the wrong type or an invalid duration.
    Parse {
        /// The parser's message.
        message: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { path, op, source } => write!(
                f,
                "reading config: {op} {}: {}",
                path.display(),
                go_io_error_text(source)
            ),
            Self::Parse { message } => write!(f, "parsing config: {message}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read { source, .. } => Some(source),
            Self::Parse { .. } => None,
        }
    }
}

/// An I/O error as Go would print it: the OS message without Rust's ` (os error N)` suffix, with
/// a lowercase first letter (`no such file or directory`).
fn go_io_error_text(error: &io::Error) -> String {
    let text = error.to_string();
    let text = match text.rfind(" (os error ") {
        Some(pos) if text.ends_with(')') => text.get(..pos).unwrap_or(&text).to_owned(),
        _ => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

impl Config {
    /// Loads the configuration (NODE.md §3.1).
    ///
    /// With `Some(path)` that file must exist and is read as given (no `~` expansion). With
    /// `None`, `~/.micelio/config.toml` is read if it exists; otherwise (or when the home
    /// directory is unknown) the defaults are returned.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Read`] when the file cannot be read, [`ConfigError::Parse`] when its
    /// content is not a valid configuration.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with_home(path, home_dir().as_deref())
    }

    /// [`Config::load`] with an explicit home directory for the default file.
    ///
    /// # Errors
    ///
    /// As [`Config::load`].
    pub fn load_with_home(path: Option<&Path>, home: Option<&Path>) -> Result<Config, ConfigError> {
        let path = match path {
            Some(path) => path.to_path_buf(),
            None => {
                let Some(home) = home else {
                    return Ok(Config::default());
                };
                let path = default_config_path(home);
                match std::fs::metadata(&path) {
                    Err(error) if error.kind() == io::ErrorKind::NotFound => {
                        return Ok(Config::default());
                    }
                    _ => path,
                }
            }
        };
        let mut file = File::open(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            op: "open",
            source,
        })?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|source| ConfigError::Read {
                path: path.clone(),
                op: "read",
                source,
            })?;
        let text = String::from_utf8(bytes).map_err(|error| ConfigError::Parse {
            message: format!("invalid UTF-8: {error}"),
        })?;
        Self::from_toml_str(&text)
    }

    /// Parses a configuration from TOML text; missing keys take their defaults.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Parse`] for invalid TOML, wrong value types or invalid durations.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|error| ConfigError::Parse {
            message: error.to_string().trim_end().to_owned(),
        })
    }

    /// Applies the command-line overrides (NODE.md §2 step 3): every non-empty value replaces
    /// the configured one. A non-empty bootstrap list replaces the configured list.
    pub fn apply_overrides(&mut self, overrides: &Overrides) {
        let replace = |target: &mut String, value: &str| {
            if !value.is_empty() {
                *target = value.to_owned();
            }
        };
        replace(&mut self.node.data_dir, &overrides.data_dir);
        replace(&mut self.ssh.listen, &overrides.ssh_listen);
        replace(&mut self.node.name, &overrides.name);
        replace(&mut self.logging.level, &overrides.log_level);
        replace(&mut self.network.listen, &overrides.listen);
        replace(&mut self.network.advertise_addr, &overrides.advertise_addr);
        let bootstrap: Vec<String> = overrides
            .bootstrap
            .iter()
            .filter(|addr| !addr.is_empty())
            .cloned()
            .collect();
        if !bootstrap.is_empty() {
            self.network.bootstrap = bootstrap;
        }
        if let Some(max_peers) = overrides.max_peers {
            self.network.max_peers = max_peers;
        }
    }

    /// NODE.md §2 step 4: if `logging.level` is still empty, takes `env_value` (the value of
    /// [`LOG_LEVEL_ENV`], passed in by the caller) when it is set and non-empty.
    pub fn apply_env_log_level(&mut self, env_value: Option<&str>) {
        if self.logging.level.is_empty() {
            if let Some(value) = env_value.filter(|value| !value.is_empty()) {
                self.logging.level = value.to_owned();
            }
        }
    }

    /// Validates the configuration (NODE.md §3.4), collecting every problem in the reference's
    /// reporting order.
    ///
    /// # Errors
    ///
    /// [`ConfigErrors`] listing all problems; its `Display` joins them with newlines.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut problems = Vec::new();
        let mut push = |field: String, message: String| {
            problems.push(FieldProblem { field, message });
        };
        let net = &self.network;
        for (field, addr) in [
            ("network.listen", &net.listen),
            ("ssh.listen", &self.ssh.listen),
        ] {
            if !addr.is_empty() {
                if let Err(problem) = validate_listen_addr(addr) {
                    push(field.to_owned(), problem.to_string());
                }
            }
        }
        for (index, addr) in net.bootstrap.iter().enumerate() {
            if let Err(problem) = validate_peer_addr(addr) {
                push(format!("network.bootstrap[{index}]"), problem.to_string());
            }
        }
        if !net.advertise_addr.is_empty() {
            if let Err(problem) = validate_peer_addr(&net.advertise_addr) {
                push("network.advertise_addr".to_owned(), problem.to_string());
            }
        }
        if net.max_peers < 0 {
            push(
                "network.max_peers".to_owned(),
                format!("must be >= 0, got {}", net.max_peers),
            );
        }
        for (field, value) in [
            ("network.exchange_interval", net.exchange_interval),
            ("network.discovery_interval", net.discovery_interval),
            ("limits.seen_ttl", self.limits.seen_ttl),
            ("limits.idle_ttl", self.limits.idle_ttl),
            ("limits.sweep_interval", self.limits.sweep_interval),
        ] {
            if value.is_negative() {
                push(field.to_owned(), format!("must be >= 0, got {value}"));
            }
        }
        if parse_log_level(&self.logging.level).is_none() {
            push(
                "logging.level".to_owned(),
                format!(
                    "invalid level {} (expected: debug, info, warn, warning, error)",
                    go_quote(&self.logging.level)
                ),
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors { problems })
        }
    }

    /// The data directory with a leading `~/` expanded.
    pub fn data_dir(&self) -> PathBuf {
        expand_home(&self.node.data_dir)
    }

    /// The configured log level; an unrecognised value (rejected by [`Config::validate`]) means
    /// info.
    pub fn log_level(&self) -> LogLevel {
        parse_log_level(&self.logging.level).unwrap_or(LogLevel::Info)
    }

    /// The configured log format: JSON when `logging.format` is `json` ignoring case, else text.
    pub fn log_format(&self) -> LogFormat {
        if self.logging.format.eq_ignore_ascii_case("json") {
            LogFormat::Json
        } else {
            LogFormat::Text
        }
    }

    /// True when the node joins the mesh: `network.listen` or `network.bootstrap` is non-empty
    /// (NODE.md §2 step 12).
    pub fn networking_enabled(&self) -> bool {
        !self.network.listen.is_empty() || !self.network.bootstrap.is_empty()
    }

    /// The core's node settings: `max_peers`, bootstrap list, tags, intervals and cache
    /// lifetimes from this configuration (a zero or negative duration means its default), the advertised address as
    /// resolved by [`advertised_addr`], and whether a listener exists. Everything else keeps the
    /// [`NodeConfig`] defaults.
    pub fn to_node_config(&self, advertised_addr: String, listening: bool) -> NodeConfig {
        let defaults = NodeConfig::default();
        let interval = |value: GoDuration, default: Duration| {
            value.to_std().filter(|d| !d.is_zero()).unwrap_or(default)
        };
        let seen_ttl = interval(self.limits.seen_ttl, defaults.seen_ttl);
        let idle_ttl = interval(self.limits.idle_ttl, defaults.rate_idle_ttl);
        NodeConfig {
            // A negative value is rejected by validation; fall back to the default.
            max_peers: usize::try_from(self.network.max_peers).unwrap_or(defaults.max_peers),
            bootstrap: self.network.bootstrap.clone(),
            advertised_addr,
            listening,
            tags: self.node.tags.clone(),
            exchange_interval: interval(self.network.exchange_interval, defaults.exchange_interval),
            discovery_interval: interval(
                self.network.discovery_interval,
                defaults.discovery_interval,
            ),
            seen_ttl,
            // A full cache may forget ids older than this: never more than their lifetime.
            seen_min_age: defaults.seen_min_age.min(seen_ttl),
            rate_idle_ttl: idle_ttl,
            key_idle_ttl: idle_ttl,
            sweep_interval: interval(self.limits.sweep_interval, defaults.sweep_interval),
            tree: TreeConfig {
                enabled: self.extensions.tree,
                ..defaults.tree.clone()
            },
            state: StateConfig {
                enabled: self.extensions.state,
                ..defaults.state.clone()
            },
            ..defaults
        }
    }
}

/// The address a node advertises (PROTOCOL.md §12.6): `config_advertise` verbatim when it is
/// non-empty; otherwise the bound listener address unless its host is `0.0.0.0`, `::` or
/// empty; otherwise (no listener) the empty string.
pub fn advertised_addr(config_advertise: &str, bound: Option<SocketAddr>) -> String {
    if !config_advertise.is_empty() {
        return config_advertise.to_owned();
    }
    let Some(bound) = bound else {
        return String::new();
    };
    // Go prints IPv4-mapped IPv6 addresses in their IPv4 form.
    let bound = match bound {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => bound,
        },
        SocketAddr::V4(_) => bound,
    };
    let text = bound.to_string();
    match split_host_port(&text) {
        Ok((host, _)) if !is_wildcard_host(host) => text,
        _ => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

/// One validation problem: the field name and the message, displayed as `field: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field, e.g. `network.bootstrap[0]`.
    pub field: String,
    /// The message, e.g. `wildcard host not allowed for peer address`.
    pub message: String,
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every problem found by [`Config::validate`], in reporting order (never empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors {
    /// The problems.
    pub problems: Vec<FieldProblem>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// What is wrong with a listen or peer address (NODE.md §3.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddressProblem {
    /// `address is empty` (after trimming).
    Empty,
    /// `invalid format (expected host:port): address <addr>: <error>`.
    InvalidFormat {
        /// The trimmed address.
        addr: String,
        /// Why it does not split into host and port.
        error: AddrError,
    },
    /// `missing port`.
    MissingPort,
    /// `missing host` (listen addresses only).
    MissingHost,
    /// `wildcard host not allowed for peer address` (peer addresses only).
    WildcardHost,
}

impl fmt::Display for AddressProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("address is empty"),
            Self::InvalidFormat { addr, error } => {
                write!(
                    f,
                    "invalid format (expected host:port): address {addr}: {error}"
                )
            }
            Self::MissingPort => f.write_str("missing port"),
            Self::MissingHost => f.write_str("missing host"),
            Self::WildcardHost => f.write_str("wildcard host not allowed for peer address"),
        }
    }
}

/// Splits a trimmed address, applying the rules common to listen and peer addresses.
fn split_checked(addr: &str) -> Result<&str, AddressProblem> {
    let addr = addr.trim();
    if addr.is_empty() {
        return Err(AddressProblem::Empty);
    }
    let (host, port) = split_host_port(addr).map_err(|error| AddressProblem::InvalidFormat {
        addr: addr.to_owned(),
        error,
    })?;
    if port.is_empty() {
        return Err(AddressProblem::MissingPort);
    }
    Ok(host)
}

/// The listen-address rules: surrounding whitespace is ignored, the address must split into
/// host and port (Go semantics), and neither may be empty. Wildcard hosts are accepted.
///
/// # Errors
///
/// The first rule broken.
pub fn validate_listen_addr(addr: &str) -> Result<(), AddressProblem> {
    if split_checked(addr)?.is_empty() {
        return Err(AddressProblem::MissingHost);
    }
    Ok(())
}

/// The peer-address rules: as [`validate_listen_addr`], but an empty host or one that parses
/// as an unspecified IP address (`0.0.0.0`, `::`, `0:0:0:0:0:0:0:0`, …) is rejected. Host names
/// are not resolved and the port is not checked to be numeric.
///
/// # Errors
///
/// The first rule broken.
pub fn validate_peer_addr(addr: &str) -> Result<(), AddressProblem> {
    let host = split_checked(addr)?;
    if host.is_empty() || is_unspecified_ip(host) {
        return Err(AddressProblem::WildcardHost);
    }
    Ok(())
}

/// True when `host` parses as the unspecified IPv4 or IPv6 address, including the IPv4-mapped
/// form `::ffff:0.0.0.0` (Go's `net.ParseIP(host).IsUnspecified()`).
fn is_unspecified_ip(host: &str) -> bool {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_unspecified(),
        Ok(IpAddr::V6(v6)) => {
            v6.is_unspecified() || v6.to_ipv4_mapped() == Some(Ipv4Addr::UNSPECIFIED)
        }
        Err(_) => false,
    }
}

/// A log level (NODE.md §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// `debug`.
    Debug,
    /// `info` (also the empty level).
    Info,
    /// `warn` or `warning`.
    Warn,
    /// `error`.
    Error,
}

/// A log output format (NODE.md §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogFormat {
    /// `key=value` text lines (default).
    Text,
    /// JSON lines.
    Json,
}

/// Parses a configured log level, ignoring case and surrounding whitespace; empty means
/// [`LogLevel::Info`]. `None` for anything else.
pub fn parse_log_level(level: &str) -> Option<LogLevel> {
    match level.trim().to_lowercase().as_str() {
        "" | "info" => Some(LogLevel::Info),
        "debug" => Some(LogLevel::Debug),
        "warn" | "warning" => Some(LogLevel::Warn),
        "error" => Some(LogLevel::Error),
        _ => None,
    }
}

/// Quotes a string like Go's `%q` verb (`strconv.Quote`): `\"`, `\\`, the usual short escapes,
/// `\xNN` for other ASCII control characters, `\uNNNN`/`\UNNNNNNNN` for other non-printable
/// characters.
fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len().saturating_add(2));
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0b}' => out.push_str("\\v"),
            c if c < ' ' || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                let code = u32::from(c);
                if code <= 0xffff {
                    out.push_str(&format!("\\u{code:04x}"));
                } else {
                    out.push_str(&format!("\\U{code:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------------------------
// Go durations
// ---------------------------------------------------------------------------------------------

/// A signed duration with Go's `time.Duration` range and syntax: an `i64` count of
/// nanoseconds. [`fmt::Display`] prints it as Go does (`1m30s`, `-5s`, `1.5ms`, `0s`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GoDuration(i64);

const NANOS_PER_MICRO: u64 = 1_000;
const NANOS_PER_MILLI: u64 = 1_000_000;
const NANOS_PER_SEC: u64 = 1_000_000_000;

impl GoDuration {
    /// The zero duration.
    pub const ZERO: GoDuration = GoDuration(0);

    /// A duration of `nanos` nanoseconds.
    pub const fn from_nanos(nanos: i64) -> Self {
        GoDuration(nanos)
    }

    /// A duration of `secs` seconds, saturating at the `i64` nanosecond range.
    pub const fn from_secs(secs: i64) -> Self {
        GoDuration(secs.saturating_mul(NANOS_PER_SEC as i64))
    }

    /// The signed number of nanoseconds.
    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    /// True when the duration is below zero.
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// The duration as a [`Duration`], or `None` when it is negative.
    pub fn to_std(self) -> Option<Duration> {
        u64::try_from(self.0).ok().map(Duration::from_nanos)
    }
}

impl From<GoDuration> for i64 {
    fn from(value: GoDuration) -> i64 {
        value.0
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.unsigned_abs();
        if self.0 < 0 {
            f.write_str("-")?;
        }
        if nanos == 0 {
            return f.write_str("0s");
        }
        if nanos < NANOS_PER_SEC {
            let (scale_digits, unit) = if nanos < NANOS_PER_MICRO {
                (0, "ns")
            } else if nanos < NANOS_PER_MILLI {
                (3, "µs")
            } else {
                (6, "ms")
            };
            let (int, frac) = split_fraction(nanos, scale_digits);
            return write!(f, "{int}{frac}{unit}");
        }
        let (secs, frac) = split_fraction(nanos, 9);
        let minutes = secs / 60;
        if minutes > 0 {
            let hours = minutes / 60;
            if hours > 0 {
                write!(f, "{hours}h")?;
            }
            write!(f, "{}m", minutes % 60)?;
        }
        write!(f, "{}{frac}s", secs % 60)
    }
}

/// Splits `value` into `value / 10^digits` and the fraction text (`.` plus digits without
/// trailing zeros, or empty when the fraction is zero), as Go's `fmtFrac`.
fn split_fraction(value: u64, digits: u32) -> (u64, String) {
    let scale = 10u64.pow(digits);
    let (int, rem) = (value / scale, value % scale);
    if rem == 0 {
        return (int, String::new());
    }
    let text = format!("{rem:0width$}", width = digits as usize);
    (int, format!(".{}", text.trim_end_matches('0')))
}

/// Why a Go duration string was rejected. `Display` gives Go's messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DurationError {
    /// `time: invalid duration "<input>"`.
    Invalid {
        /// The whole input.
        input: String,
    },
    /// `time: missing unit in duration "<input>"`.
    MissingUnit {
        /// The whole input.
        input: String,
    },
    /// `time: unknown unit "<unit>" in duration "<input>"`.
    UnknownUnit {
        /// The unrecognised unit.
        unit: String,
        /// The whole input.
        input: String,
    },
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid { input } => {
                write!(f, "time: invalid duration {}", time_quote(input))
            }
            Self::MissingUnit { input } => {
                write!(f, "time: missing unit in duration {}", time_quote(input))
            }
            Self::UnknownUnit { unit, input } => write!(
                f,
                "time: unknown unit {} in duration {}",
                time_quote(unit),
                time_quote(input)
            ),
        }
    }
}

impl std::error::Error for DurationError {}

/// Quotes like Go's `time.quote`: non-ASCII and control bytes become `\xNN`.
fn time_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len().saturating_add(2));
    out.push('"');
    for c in text.chars() {
        if !c.is_ascii() || c < ' ' {
            let mut buf = [0u8; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{byte:02x}"));
            }
        } else {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// Nanoseconds per unit, as Go's `unitMap`.
fn unit_nanos(unit: &str) -> Option<u64> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => NANOS_PER_MICRO,
        "ms" => NANOS_PER_MILLI,
        "s" => NANOS_PER_SEC,
        "m" => 60 * NANOS_PER_SEC,
        "h" => 3_600 * NANOS_PER_SEC,
        _ => return None,
    })
}

/// Parses a Go duration string exactly as Go's `time.ParseDuration`: an optional sign, then one
/// or more decimal numbers (fractions allowed) each followed by a unit `ns`, `us`/`µs`/`μs`,
/// `ms`, `s`, `m` or `h`; `"0"` (optionally signed) needs no unit. The range is that of an
/// `i64` of nanoseconds.
///
/// # Errors
///
/// [`DurationError`] with Go's message for empty input, missing or unknown units, malformed
/// numbers and overflow.
pub fn parse_go_duration(input: &str) -> Result<GoDuration, DurationError> {
    const LIMIT: u64 = 1 << 63;
    let invalid = || DurationError::Invalid {
        input: input.to_owned(),
    };
    let mut s = input.as_bytes();
    let mut neg = false;
    if let Some((&sign @ (b'-' | b'+'), rest)) = s.split_first() {
        neg = sign == b'-';
        s = rest;
    }
    if s == b"0" {
        return Ok(GoDuration::ZERO);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while let Some(&first) = s.first() {
        if !(first == b'.' || first.is_ascii_digit()) {
            return Err(invalid());
        }
        // Integer part (Go's leadingInt): overflow is an error.
        let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
        let mut value: u64 = 0;
        for &b in s.get(..digits).unwrap_or_default() {
            if value > LIMIT / 10 {
                return Err(invalid());
            }
            value = value * 10 + u64::from(b - b'0');
            if value > LIMIT {
                return Err(invalid());
            }
        }
        let pre = digits > 0;
        s = s.get(digits..).unwrap_or_default();
        // Fraction (Go's leadingFraction): overflow only stops accumulating precision.
        let mut fraction: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut post = false;
        if s.first() == Some(&b'.') {
            s = s.get(1..).unwrap_or_default();
            let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
            let mut overflow = false;
            for &b in s.get(..digits).unwrap_or_default() {
                if overflow {
                    continue;
                }
                if fraction > (LIMIT - 1) / 10 {
                    overflow = true;
                    continue;
                }
                let next = fraction * 10 + u64::from(b - b'0');
                if next > LIMIT {
                    overflow = true;
                    continue;
                }
                fraction = next;
                scale *= 10.0;
            }
            post = digits > 0;
            s = s.get(digits..).unwrap_or_default();
        }
        if !pre && !post {
            return Err(invalid());
        }
        // Unit: everything up to the next '.' or digit.
        let unit_len = s
            .iter()
            .take_while(|&&b| b != b'.' && !b.is_ascii_digit())
            .count();
        if unit_len == 0 {
            return Err(DurationError::MissingUnit {
                input: input.to_owned(),
            });
        }
        // The unit ends at an ASCII byte or at the end, so it is valid UTF-8.
        let unit_bytes = s.get(..unit_len).unwrap_or_default();
        let unit = std::str::from_utf8(unit_bytes).unwrap_or_default();
        s = s.get(unit_len..).unwrap_or_default();
        let Some(unit_value) = unit_nanos(unit) else {
            return Err(DurationError::UnknownUnit {
                unit: unit.to_owned(),
                input: input.to_owned(),
            });
        };
        if value > LIMIT / unit_value {
            return Err(invalid());
        }
        value *= unit_value;
        if fraction > 0 {
            // As Go: float64 arithmetic, truncated.
            #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
            let extra = (fraction as f64 * (unit_value as f64 / scale)) as u64;
            value = value.saturating_add(extra);
            if value > LIMIT {
                return Err(invalid());
            }
        }
        total = total.saturating_add(value);
        if total > LIMIT {
            return Err(invalid());
        }
    }
    if neg {
        // total <= 2^63, so the negation fits.
        return Ok(GoDuration(0i64.wrapping_sub_unsigned(total)));
    }
    i64::try_from(total).map(GoDuration).map_err(|_| invalid())
}

impl FromStr for GoDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_go_duration(s)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    /// Accepts a Go duration string, or the integer 0. Any other integer is rejected for lacking
    /// a unit, as the reference's TOML library hands its text to the duration parser.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct GoDurationVisitor;

        impl Visitor<'_> for GoDurationVisitor {
            type Value = GoDuration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Go duration string such as \"30s\"")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<GoDuration, E> {
                parse_go_duration(value).map_err(E::custom)
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<GoDuration, E> {
                parse_go_duration(&value.to_string()).map_err(E::custom)
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<GoDuration, E> {
                parse_go_duration(&value.to_string()).map_err(E::custom)
            }
        }

        deserializer.deserialize_any(GoDurationVisitor)
    }
}

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

/// Command-line overrides (NODE.md §1). An empty string (and `None`) means "not given".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `-config`: the configuration file to read.
    pub config: String,
    /// `-data-dir`: overrides `node.data_dir`.
    pub data_dir: String,
    /// `-ssh-listen`: overrides `ssh.listen`.
    pub ssh_listen: String,
    /// `-name`: overrides `node.name`.
    pub name: String,
    /// `-log-level`: overrides `logging.level`.
    pub log_level: String,
    /// `-listen`: overrides `network.listen` (not in the reference).
    pub listen: String,
    /// `-bootstrap`: replaces `network.bootstrap` when non-empty (not in the reference).
    pub bootstrap: Vec<String>,
    /// `-advertise-addr`: overrides `network.advertise_addr` (not in the reference).
    pub advertise_addr: String,
    /// `-max-peers`: overrides `network.max_peers` (not in the reference).
    pub max_peers: Option<i64>,
}

impl Overrides {
    /// The `-config` path, if given.
    pub fn config_path(&self) -> Option<&Path> {
        (!self.config.is_empty()).then(|| Path::new(&self.config))
    }
}

/// The usage text, in the layout of Go's `flag.PrintDefaults` (flags sorted by name).
pub const USAGE: &str = "Usage of micelio:
  -advertise-addr string
    \taddress announced to peers (overrides config)
  -bootstrap string
    \tcomma-separated peer addresses to dial; repeatable (overrides config)
  -config string
    \tpath to config file
  -data-dir string
    \tdata directory (overrides config)
  -listen string
    \tpeer listen address host:port (overrides config)
  -log-level string
    \tlog level: debug, info, warn, error (overrides config)
  -max-peers int
    \tmaximum peer connections, 0 = unlimited (overrides config)
  -name string
    \tnode name (overrides config)
  -ssh-listen string
    \tSSH listen address (overrides config)
";

/// Why the command line was not accepted. `Display` gives Go's `flag` package messages; the
/// caller prints the message and [`USAGE`] to stderr, then exits with [`ArgsError::exit_code`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgsError {
    /// `-h`, `-help` or `--help`: the usage text to print (exit status 0).
    Help(String),
    /// A flag that does not exist (its name without dashes).
    Unknown(String),
    /// A malformed flag argument such as `---x` or `-=x` (the whole argument).
    BadSyntax(String),
    /// A flag at the end of the arguments without its value (its name).
    MissingValue(String),
    /// A value that could not be parsed.
    InvalidValue {
        /// The flag's name.
        flag: String,
        /// The value given.
        value: String,
        /// Why it was rejected (`parse error`, `value out of range`).
        reason: String,
    },
}

impl ArgsError {
    /// The exit status Go's `flag` package uses: 0 for help, 2 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Help(_) => 0,
            _ => 2,
        }
    }
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Help(_) => f.write_str("flag: help requested"),
            Self::Unknown(name) => write!(f, "flag provided but not defined: -{name}"),
            Self::BadSyntax(arg) => write!(f, "bad flag syntax: {arg}"),
            Self::MissingValue(name) => write!(f, "flag needs an argument: -{name}"),
            Self::InvalidValue {
                flag,
                value,
                reason,
            } => write!(
                f,
                "invalid value {} for flag -{flag}: {reason}",
                go_quote(value)
            ),
        }
    }
}

impl std::error::Error for ArgsError {}

/// Parses the command line (without the program name) with Go's `flag` conventions: one or two
/// dashes, `-name=value` or `-name value`, `--` ends the flags, parsing stops at the first
/// non-flag argument (positional arguments are ignored), the last occurrence of a flag wins, an
/// empty value means "not given". `-bootstrap` takes comma-separated addresses and may be
/// repeated; its entries accumulate.
///
/// # Errors
///
/// [`ArgsError::Help`] for `-h`/`-help`, [`ArgsError::Unknown`] for an undefined flag, and the
/// other [`ArgsError`] variants for malformed arguments.
pub fn parse_args(args: &[String]) -> Result<Overrides, ArgsError> {
    let mut overrides = Overrides::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let bytes = arg.as_bytes();
        if bytes.len() < 2 || bytes.first() != Some(&b'-') {
            break;
        }
        let dashes = if bytes.get(1) == Some(&b'-') {
            if bytes.len() == 2 {
                // "--" terminates the flags.
                break;
            }
            2
        } else {
            1
        };
        let spec = arg.get(dashes..).unwrap_or_default();
        if spec.is_empty() || spec.starts_with('-') || spec.starts_with('=') {
            return Err(ArgsError::BadSyntax(arg.clone()));
        }
        // An '=' cannot be the first character of the name.
        let (name, inline) = match spec.char_indices().find(|&(i, c)| i > 0 && c == '=') {
            Some((pos, _)) => (
                spec.get(..pos).unwrap_or_default(),
                Some(spec.get(pos.saturating_add(1)..).unwrap_or_default()),
            ),
            None => (spec, None),
        };
        let Some(flag) = Flag::from_name(name) else {
            if name == "help" || name == "h" {
                return Err(ArgsError::Help(USAGE.to_owned()));
            }
            return Err(ArgsError::Unknown(name.to_owned()));
        };
        let value = match inline {
            Some(value) => value,
            None => rest
                .next()
                .map(String::as_str)
                .ok_or_else(|| ArgsError::MissingValue(name.to_owned()))?,
        };
        flag.set(&mut overrides, value)?;
    }
    Ok(overrides)
}

/// The flags understood by [`parse_args`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flag {
    Config,
    DataDir,
    SshListen,
    Name,
    LogLevel,
    Listen,
    Bootstrap,
    AdvertiseAddr,
    MaxPeers,
}

impl Flag {
    fn from_name(name: &str) -> Option<Flag> {
        Some(match name {
            "config" => Flag::Config,
            "data-dir" => Flag::DataDir,
            "ssh-listen" => Flag::SshListen,
            "name" => Flag::Name,
            "log-level" => Flag::LogLevel,
            "listen" => Flag::Listen,
            "bootstrap" => Flag::Bootstrap,
            "advertise-addr" => Flag::AdvertiseAddr,
            "max-peers" => Flag::MaxPeers,
            _ => return None,
        })
    }

    fn set(self, overrides: &mut Overrides, value: &str) -> Result<(), ArgsError> {
        let target = match self {
            Flag::Config => &mut overrides.config,
            Flag::DataDir => &mut overrides.data_dir,
            Flag::SshListen => &mut overrides.ssh_listen,
            Flag::Name => &mut overrides.name,
            Flag::LogLevel => &mut overrides.log_level,
            Flag::Listen => &mut overrides.listen,
            Flag::AdvertiseAddr => &mut overrides.advertise_addr,
            Flag::Bootstrap => {
                overrides.bootstrap.extend(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|addr| !addr.is_empty())
                        .map(str::to_owned),
                );
                return Ok(());
            }
            Flag::MaxPeers => {
                overrides.max_peers = if value.is_empty() {
                    None
                } else {
                    Some(
                        parse_go_int(value).map_err(|reason| ArgsError::InvalidValue {
                            flag: "max-peers".to_owned(),
                            value: value.to_owned(),
                            reason: reason.to_owned(),
                        })?,
                    )
                };
                return Ok(());
            }
        };
        *target = value.to_owned();
        Ok(())
    }
}

/// A decimal `i64` with optional sign; errors carry the texts of Go's `flag` package.
fn parse_go_int(value: &str) -> Result<i64, &'static str> {
    let digits = value.strip_prefix(['+', '-']).unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("parse error");
    }
    value.parse::<i64>().map_err(|_| "value out of range")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| (*s).to_owned()).collect()
    }

    fn valid_config() -> Config {
        let mut config = Config::default();
        config.network.listen = "127.0.0.1:4000".to_owned();
        config.ssh.listen = "127.0.0.1:2222".to_owned();
        config.network.bootstrap = strings(&["127.0.0.1:8080", "example.com:9000"]);
        config.logging.level = "debug".to_owned();
        config
    }

    fn messages(config: &Config) -> Vec<String> {
        match config.validate() {
            Ok(()) => Vec::new(),
            Err(errors) => errors.problems.iter().map(ToString::to_string).collect(),
        }
    }

    fn temp_dir() -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix("micelio-config-test-")
            .tempdir_in(std::env::temp_dir())
            .expect("temp dir")
    }

    // --- defaults and loading (TESTS.md §5) ---

    #[test]
    fn defaults() {
        let config = Config::default();
        assert_eq!(config.ssh.listen, "0.0.0.0:2222");
        assert_eq!(config.node.data_dir, "~/.micelio");
        assert_eq!(config.network.max_peers, 15);
        assert!(!config.node.name.is_empty());
        assert!(config.node.tags.is_empty());
        assert_eq!(config.network.listen, "");
        assert_eq!(config.network.advertise_addr, "");
        assert!(config.network.bootstrap.is_empty());
        assert_eq!(config.network.exchange_interval, GoDuration::from_secs(30));
        assert_eq!(config.network.discovery_interval, GoDuration::from_secs(10));
        assert_eq!(config.logging, LoggingSection::default());
        assert_eq!(config.log_level(), LogLevel::Info);
        assert_eq!(config.log_format(), LogFormat::Text);
        assert!(!config.networking_enabled());
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn load_without_file_gives_defaults() {
        let home = temp_dir();
        let config = Config::load_with_home(None, Some(home.path())).expect("defaults");
        assert_eq!(config, Config::default());
        assert_eq!(
            Config::load_with_home(None, None).expect("defaults"),
            Config::default()
        );
    }

    #[test]
    fn load_default_file_from_home() {
        let home = temp_dir();
        let dir = home.path().join(".micelio");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("config.toml"), "[node]\nname = \"from-home\"\n").expect("write");
        let config = Config::load_with_home(None, Some(home.path())).expect("load");
        assert_eq!(config.node.name, "from-home");
        assert_eq!(config.ssh.listen, DEFAULT_SSH_LISTEN);
    }

    #[test]
    fn load_toml() {
        let dir = temp_dir();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            r#"
[node]
name = "test-node"
tags = ["EU", "prod"]
data_dir = "/tmp/micelio-test"

[ssh]
listen = "127.0.0.1:3333"

[network]
listen = "0.0.0.0:4000"
bootstrap = ["seed1.example.com:4000", "seed2.example.com:4000"]
max_peers = 20

[logging]
level = "debug"
format = "JSON"
"#,
        )
        .expect("write");
        let config = Config::load(Some(&path)).expect("load");
        assert_eq!(config.node.name, "test-node");
        assert_eq!(config.node.tags, strings(&["EU", "prod"]));
        assert_eq!(config.node.data_dir, "/tmp/micelio-test");
        assert_eq!(config.ssh.listen, "127.0.0.1:3333");
        assert_eq!(config.network.listen, "0.0.0.0:4000");
        assert_eq!(
            config.network.bootstrap,
            strings(&["seed1.example.com:4000", "seed2.example.com:4000"])
        );
        assert_eq!(config.network.max_peers, 20);
        // Not in the file: defaults.
        assert_eq!(config.network.exchange_interval, DEFAULT_EXCHANGE_INTERVAL);
        assert_eq!(config.log_level(), LogLevel::Debug);
        assert_eq!(config.log_format(), LogFormat::Json);
        assert!(config.networking_enabled());
    }

    #[test]
    fn spec_example_file() {
        let config = Config::from_toml_str(
            r#"
[node]
name = "node-eu-1"
tags = ["EU", "prod"]
data_dir = "~/.micelio"

[ssh]
listen = "0.0.0.0:2222"

[network]
listen = "0.0.0.0:4000"
advertise_addr = "203.0.113.10:4000"
bootstrap = ["seed1.example.com:4000", "seed2.example.com:4000"]
max_peers = 15
exchange_interval = "30s"
discovery_interval = "10s"

[logging]
level = "info"
format = "text"
"#,
        )
        .expect("parse");
        assert_eq!(config.network.advertise_addr, "203.0.113.10:4000");
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn load_toml_with_durations() {
        let config = Config::from_toml_str(
            "[network]\nexchange_interval = \"45s\"\ndiscovery_interval = \"15s\"\n",
        )
        .expect("parse");
        assert_eq!(config.network.exchange_interval, GoDuration::from_secs(45));
        assert_eq!(config.network.discovery_interval, GoDuration::from_secs(15));
    }

    #[test]
    fn load_bad_toml() {
        let dir = temp_dir();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "this is not [valid toml").expect("write");
        let error = Config::load(Some(&path)).expect_err("bad TOML");
        assert!(matches!(error, ConfigError::Parse { .. }));
        assert!(error.to_string().starts_with("parsing config: "), "{error}");
    }

    #[test]
    fn load_nonexistent_file() {
        let dir = temp_dir();
        let path = dir.path().join("x.toml");
        let error = Config::load(Some(&path)).expect_err("missing file");
        assert!(matches!(error, ConfigError::Read { .. }));
        assert_eq!(
            error.to_string(),
            format!(
                "reading config: open {}: no such file or directory",
                path.display()
            )
        );
    }

    #[test]
    fn unknown_keys_are_ignored() {
        let config = Config::from_toml_str(
            "top = 1\n[node]\nname = \"n\"\ncolour = \"red\"\n[network]\nidle_timeout = \"5m\"\nkeepalive_interval = \"30s\"\n[extra]\nx = 1\n",
        )
        .expect("parse");
        assert_eq!(config.node.name, "n");
    }

    #[test]
    fn wrong_types_are_errors() {
        for text in [
            "[node]\nname = 5\n",
            "[node]\ntags = \"EU\"\n",
            "[network]\nmax_peers = \"15\"\n",
            "[network]\nbootstrap = [1, 2]\n",
            "[network]\nexchange_interval = true\n",
            "[network]\nexchange_interval = 1.5\n",
            "[ssh]\nlisten = false\n",
            "node = 1\n",
        ] {
            assert!(Config::from_toml_str(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn duration_values_in_toml() {
        // A bare integer is only accepted when 0.
        let config =
            Config::from_toml_str("[network]\nexchange_interval = 0\n").expect("bare zero");
        assert_eq!(config.network.exchange_interval, GoDuration::ZERO);
        let error = Config::from_toml_str("[network]\nexchange_interval = 5\n").expect_err("5");
        assert!(
            error
                .to_string()
                .contains("time: missing unit in duration \"5\""),
            "{error}"
        );
        let error = Config::from_toml_str("[network]\ndiscovery_interval = \"10x\"\n")
            .expect_err("bad unit");
        assert!(error.to_string().contains("unknown unit"), "{error}");
        let config = Config::from_toml_str("[network]\ndiscovery_interval = \"-10s\"\n")
            .expect("negative parses");
        assert_eq!(
            config.network.discovery_interval,
            GoDuration::from_secs(-10)
        );
    }

    #[test]
    fn expand_home_only_handles_tilde_slash() {
        let home = Path::new("/home/user");
        assert_eq!(
            expand_home_with("~/foo/bar", Some(home)),
            PathBuf::from("/home/user/foo/bar")
        );
        assert_eq!(
            expand_home_with("/abs/path", Some(home)),
            PathBuf::from("/abs/path")
        );
        assert_eq!(expand_home_with("~", Some(home)), PathBuf::from("~"));
        assert_eq!(
            expand_home_with("~other/x", Some(home)),
            PathBuf::from("~other/x")
        );
        assert_eq!(expand_home_with("~/x", None), PathBuf::from("~/x"));
        assert_eq!(
            expand_home_with("rel/~/x", Some(home)),
            PathBuf::from("rel/~/x")
        );
        if let Some(home) = home_dir() {
            assert_eq!(expand_home("~/foo/bar"), home.join("foo/bar"));
        }
        assert_eq!(expand_home("/abs"), PathBuf::from("/abs"));
    }

    // --- overrides ---

    #[test]
    fn overrides_empty_means_not_given() {
        let mut config = valid_config();
        let before = config.clone();
        config.apply_overrides(&Overrides::default());
        assert_eq!(config, before);

        config.apply_overrides(&Overrides {
            data_dir: "/data".to_owned(),
            ssh_listen: "127.0.0.1:1".to_owned(),
            name: "over".to_owned(),
            log_level: "error".to_owned(),
            listen: "127.0.0.1:2".to_owned(),
            bootstrap: strings(&["", "a.example:1", "b.example:2"]),
            advertise_addr: "203.0.113.1:2".to_owned(),
            max_peers: Some(0),
            ..Overrides::default()
        });
        assert_eq!(config.node.data_dir, "/data");
        assert_eq!(config.ssh.listen, "127.0.0.1:1");
        assert_eq!(config.node.name, "over");
        assert_eq!(config.logging.level, "error");
        assert_eq!(config.network.listen, "127.0.0.1:2");
        assert_eq!(
            config.network.bootstrap,
            strings(&["a.example:1", "b.example:2"])
        );
        assert_eq!(config.network.advertise_addr, "203.0.113.1:2");
        assert_eq!(config.network.max_peers, 0);
    }

    #[test]
    fn env_log_level_only_when_still_empty() {
        let mut config = Config::default();
        config.apply_env_log_level(None);
        assert_eq!(config.logging.level, "");
        config.apply_env_log_level(Some(""));
        assert_eq!(config.logging.level, "");
        config.apply_env_log_level(Some("warn"));
        assert_eq!(config.logging.level, "warn");
        config.apply_env_log_level(Some("debug"));
        assert_eq!(config.logging.level, "warn");
        // An invalid environment value is reported as logging.level.
        let mut config = Config::default();
        config.apply_env_log_level(Some("loud"));
        assert_eq!(
            messages(&config),
            [
                r#"logging.level: invalid level "loud" (expected: debug, info, warn, warning, error)"#
            ]
        );
    }

    // --- validation (TESTS.md §5, NODE.md §3.4) ---

    #[test]
    fn validate_valid_config() {
        assert_eq!(valid_config().validate(), Ok(()));
    }

    #[test]
    fn validate_empty_optional_fields() {
        let mut config = valid_config();
        config.network.listen.clear();
        config.network.bootstrap.clear();
        config.logging.level.clear();
        assert_eq!(config.validate(), Ok(()));
        // An explicitly empty ssh.listen passes too (quirk).
        config.ssh.listen.clear();
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn validate_invalid_network_listen() {
        for addr in ["127.0.0.1", ":8080"] {
            let mut config = valid_config();
            config.network.listen = addr.to_owned();
            let msgs = messages(&config);
            assert_eq!(msgs.len(), 1, "{addr}");
            assert!(msgs[0].starts_with("network.listen: "), "{msgs:?}");
        }
    }

    #[test]
    fn validate_invalid_ssh_listen() {
        for addr in ["localhost", ":", ":2222"] {
            let mut config = valid_config();
            config.ssh.listen = addr.to_owned();
            let msgs = messages(&config);
            assert_eq!(msgs.len(), 1, "{addr}");
            assert!(msgs[0].starts_with("ssh.listen: "), "{msgs:?}");
        }
    }

    #[test]
    fn validate_invalid_bootstrap() {
        for list in [
            &["0.0.0.0:8080"][..],
            &["[::]:9000"],
            &["example.com"],
            &[""],
            &["127.0.0.1:8080", "0.0.0.0:1"],
        ] {
            let mut config = valid_config();
            config.network.bootstrap = strings(list);
            let msgs = messages(&config);
            assert_eq!(msgs.len(), 1, "{list:?}");
            assert!(msgs[0].starts_with("network.bootstrap["), "{msgs:?}");
        }
        let mut config = valid_config();
        config.network.bootstrap = strings(&["127.0.0.1:8080", "0.0.0.0:1"]);
        assert_eq!(
            messages(&config),
            ["network.bootstrap[1]: wildcard host not allowed for peer address"]
        );
    }

    #[test]
    fn validate_invalid_max_peers() {
        let mut config = valid_config();
        config.network.max_peers = -5;
        assert_eq!(
            messages(&config),
            ["network.max_peers: must be >= 0, got -5"]
        );
        config.network.max_peers = 0;
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn validate_intervals() {
        let mut config = valid_config();
        config.network.exchange_interval = GoDuration::from_secs(-5);
        assert_eq!(
            messages(&config),
            ["network.exchange_interval: must be >= 0, got -5s"]
        );
        let mut config = valid_config();
        config.network.discovery_interval = GoDuration::from_secs(-90);
        assert_eq!(
            messages(&config),
            ["network.discovery_interval: must be >= 0, got -1m30s"]
        );
        for (exchange, discovery) in [(0, 10), (30, 0), (0, 0)] {
            let mut config = valid_config();
            config.network.exchange_interval = GoDuration::from_secs(exchange);
            config.network.discovery_interval = GoDuration::from_secs(discovery);
            assert_eq!(config.validate(), Ok(()));
        }
    }

    #[test]
    fn validate_log_levels() {
        for level in ["unknown", "trace", "fatal", "INVALID"] {
            let mut config = valid_config();
            config.logging.level = level.to_owned();
            let msgs = messages(&config);
            assert_eq!(msgs.len(), 1, "{level}");
            assert!(msgs[0].starts_with("logging.level: "), "{msgs:?}");
        }
        for level in [
            "debug",
            "info",
            "warn",
            "warning",
            "error",
            "DEBUG",
            "  Error  ",
            "",
            " ",
            "\t",
            "\n",
            " \t\n ",
        ] {
            let mut config = valid_config();
            config.logging.level = level.to_owned();
            assert_eq!(config.validate(), Ok(()), "{level:?}");
        }
        assert_eq!(parse_log_level("  Error  "), Some(LogLevel::Error));
        assert_eq!(parse_log_level("WARNING"), Some(LogLevel::Warn));
        assert_eq!(parse_log_level("\t"), Some(LogLevel::Info));
        assert_eq!(parse_log_level("debug"), Some(LogLevel::Debug));
        assert_eq!(parse_log_level("trace"), None);
    }

    #[test]
    fn log_level_message_quotes_like_go() {
        let mut config = valid_config();
        config.logging.level = "a\"b\tc".to_owned();
        assert_eq!(
            messages(&config),
            [
                r#"logging.level: invalid level "a\"b\tc" (expected: debug, info, warn, warning, error)"#
            ]
        );
    }

    #[test]
    fn validate_advertise_addr() {
        for addr in ["0.0.0.0:8080", "[::]:9000", "example.com", ":8080"] {
            let mut config = valid_config();
            config.network.advertise_addr = addr.to_owned();
            let msgs = messages(&config);
            assert_eq!(msgs.len(), 1, "{addr}");
            assert!(msgs[0].starts_with("network.advertise_addr: "), "{msgs:?}");
        }
        let mut config = valid_config();
        config.network.advertise_addr = String::new();
        assert_eq!(config.validate(), Ok(()));
    }

    /// Every example message of NODE.md §3.4, all at once, in reporting order.
    #[test]
    fn validate_spec_messages_in_order() {
        let mut config = Config::default();
        config.network.listen = "127.0.0.1".to_owned();
        config.ssh.listen = ":2222".to_owned();
        config.network.bootstrap = strings(&["0.0.0.0:4000"]);
        config.network.advertise_addr = "example.com:".to_owned();
        config.network.max_peers = -5;
        config.network.exchange_interval = GoDuration::from_secs(-5);
        config.network.discovery_interval = GoDuration::from_secs(-10);
        config.logging.level = "trace".to_owned();
        let expected = [
            "network.listen: invalid format (expected host:port): address 127.0.0.1: missing port in address",
            "ssh.listen: missing host",
            "network.bootstrap[0]: wildcard host not allowed for peer address",
            "network.advertise_addr: missing port",
            "network.max_peers: must be >= 0, got -5",
            "network.exchange_interval: must be >= 0, got -5s",
            "network.discovery_interval: must be >= 0, got -10s",
            r#"logging.level: invalid level "trace" (expected: debug, info, warn, warning, error)"#,
        ];
        assert_eq!(messages(&config), expected);
        let errors = config.validate().expect_err("invalid");
        assert_eq!(errors.to_string(), expected.join("\n"));
    }

    #[test]
    fn listen_addr_rules() {
        for addr in [
            "0.0.0.0:8080",
            "127.0.0.1:5000",
            "[::]:9000",
            "localhost:8080",
            "  127.0.0.1:8080  ",
        ] {
            assert_eq!(validate_listen_addr(addr), Ok(()), "{addr:?}");
        }
        for addr in ["no-port", "", "   ", ":8080", "host:", " :8080 ", " host: "] {
            assert!(validate_listen_addr(addr).is_err(), "{addr:?}");
        }
        assert_eq!(validate_listen_addr("  "), Err(AddressProblem::Empty));
        assert_eq!(
            validate_listen_addr(" host: "),
            Err(AddressProblem::MissingPort)
        );
        assert_eq!(
            validate_listen_addr(":8080"),
            Err(AddressProblem::MissingHost)
        );
        assert_eq!(
            validate_listen_addr("a:b:c").map_err(|p| p.to_string()),
            Err(
                "invalid format (expected host:port): address a:b:c: too many colons in address"
                    .to_owned()
            )
        );
    }

    #[test]
    fn peer_addr_rules() {
        for addr in [
            "127.0.0.1:8080",
            "example.com:5000",
            "[2001:db8::1]:9000",
            "  example.com:8080  ",
            "host:abc",
        ] {
            assert_eq!(validate_peer_addr(addr), Ok(()), "{addr:?}");
        }
        for addr in [
            "0.0.0.0:8080",
            "[::]:9000",
            "[0:0:0:0:0:0:0:0]:8080",
            "[0000:0000:0000:0000:0000:0000:0000:0000]:8080",
            "[::ffff:0.0.0.0]:8080",
            "no-port",
            "",
            "   ",
            ":8080",
            "  :8080  ",
        ] {
            assert!(validate_peer_addr(addr).is_err(), "{addr:?}");
        }
        assert_eq!(
            validate_peer_addr("[0:0:0:0:0:0:0:0]:8080"),
            Err(AddressProblem::WildcardHost)
        );
        assert_eq!(
            validate_peer_addr(":8080"),
            Err(AddressProblem::WildcardHost)
        );
        assert_eq!(
            validate_peer_addr("example.com"),
            Err(AddressProblem::InvalidFormat {
                addr: "example.com".to_owned(),
                error: AddrError::MissingPort,
            })
        );
        assert_eq!(
            validate_peer_addr("host:"),
            Err(AddressProblem::MissingPort)
        );
    }

    // --- conversions ---

    #[test]
    fn advertised_address_rule() {
        let bound = |s: &str| Some(s.parse::<SocketAddr>().expect("socket address"));
        assert_eq!(
            advertised_addr("203.0.113.10:4000", bound("0.0.0.0:4000")),
            "203.0.113.10:4000"
        );
        assert_eq!(advertised_addr("x.example:1", None), "x.example:1");
        assert_eq!(
            advertised_addr("", bound("127.0.0.1:9000")),
            "127.0.0.1:9000"
        );
        assert_eq!(advertised_addr("", bound("[::1]:9000")), "[::1]:9000");
        assert_eq!(advertised_addr("", bound("0.0.0.0:9000")), "");
        assert_eq!(advertised_addr("", bound("[::]:9000")), "");
        assert_eq!(advertised_addr("", bound("[::ffff:0.0.0.0]:9000")), "");
        assert_eq!(
            advertised_addr("", bound("[::ffff:10.0.0.1]:9000")),
            "10.0.0.1:9000"
        );
        assert_eq!(advertised_addr("", None), "");
    }

    #[test]
    fn node_config_conversion() {
        let mut config = valid_config();
        config.node.tags = strings(&["EU"]);
        config.network.max_peers = 7;
        config.network.exchange_interval = GoDuration::from_secs(45);
        config.network.discovery_interval = GoDuration::ZERO;
        let node = config.to_node_config("203.0.113.1:4000".to_owned(), true);
        assert_eq!(node.max_peers, 7);
        assert_eq!(node.bootstrap, config.network.bootstrap);
        assert_eq!(node.tags, strings(&["EU"]));
        assert_eq!(node.advertised_addr, "203.0.113.1:4000");
        assert!(node.listening);
        assert_eq!(node.exchange_interval, Duration::from_secs(45));
        assert_eq!(node.discovery_interval, Duration::from_secs(10));
        let defaults = NodeConfig::default();
        assert_eq!(node.fanout, defaults.fanout);
        assert_eq!(node.connection, defaults.connection);

        config.network.exchange_interval = GoDuration::ZERO;
        config.network.discovery_interval = GoDuration::from_nanos(1_500_000_000);
        config.network.max_peers = 0;
        let node = config.to_node_config(String::new(), false);
        assert_eq!(node.exchange_interval, Duration::from_secs(30));
        assert_eq!(node.discovery_interval, Duration::from_millis(1500));
        assert_eq!(node.max_peers, 0);
        assert!(!node.listening);
    }

    // --- Go durations ---

    #[test]
    fn duration_reference_cases() {
        // TESTS.md §5 (TestDurationUnmarshalText).
        assert_eq!(parse_go_duration("30s"), Ok(GoDuration::from_secs(30)));
        assert_eq!(parse_go_duration("5m"), Ok(GoDuration::from_secs(300)));
        assert_eq!(parse_go_duration("1h"), Ok(GoDuration::from_secs(3600)));
        assert_eq!(
            parse_go_duration("100ms"),
            Ok(GoDuration::from_nanos(100_000_000))
        );
        assert!(parse_go_duration("invalid").is_err());
        assert!(parse_go_duration("").is_err());
    }

    /// Go's own `ParseDuration` test table.
    #[test]
    fn duration_parse_table() {
        const NS: i64 = 1;
        const US: i64 = 1_000;
        const MS: i64 = 1_000_000;
        const S: i64 = 1_000_000_000;
        const M: i64 = 60 * S;
        const H: i64 = 60 * M;
        let cases: &[(&str, i64)] = &[
            ("0", 0),
            ("5s", 5 * S),
            ("30s", 30 * S),
            ("1478s", 1478 * S),
            ("-5s", -5 * S),
            ("+5s", 5 * S),
            ("-0", 0),
            ("+0", 0),
            ("5.0s", 5 * S),
            ("5.6s", 5 * S + 600 * MS),
            ("5.s", 5 * S),
            (".5s", 500 * MS),
            ("1.0s", S),
            ("1.00s", S),
            ("1.004s", S + 4 * MS),
            ("1.0040s", S + 4 * MS),
            ("100.00100s", 100 * S + MS),
            ("10ns", 10 * NS),
            ("11us", 11 * US),
            ("12µs", 12 * US),
            ("12μs", 12 * US),
            ("13ms", 13 * MS),
            ("14s", 14 * S),
            ("15m", 15 * M),
            ("16h", 16 * H),
            ("3h30m", 3 * H + 30 * M),
            ("10.5s4m", 4 * M + 10 * S + 500 * MS),
            ("-2m3.4s", -(2 * M + 3 * S + 400 * MS)),
            (
                "1h2m3s4ms5us6ns",
                H + 2 * M + 3 * S + 4 * MS + 5 * US + 6 * NS,
            ),
            ("39h9m14.425s", 39 * H + 9 * M + 14 * S + 425 * MS),
            ("52763797000ns", 52_763_797_000 * NS),
            ("0.3333333333333333333h", 20 * M),
            ("9007199254740993ns", (1 << 53) + 1),
            ("9223372036854775807ns", i64::MAX),
            ("9223372036854775.807us", i64::MAX),
            ("9223372036s854ms775us807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
            ("-9223372036854775.808us", i64::MIN),
            ("-9223372036s854ms775us808ns", i64::MIN),
            ("-2562047h47m16.854775808s", i64::MIN),
            ("0.100000000000000000000h", 6 * M),
            (
                "0.830103483285477580700h",
                49 * M + 48 * S + 372_539_827 * NS,
            ),
            ("1.5h", 90 * M),
            ("1m30s", 90 * S),
        ];
        for &(input, nanos) in cases {
            assert_eq!(
                parse_go_duration(input),
                Ok(GoDuration::from_nanos(nanos)),
                "{input}"
            );
        }
        let failures = [
            "",
            "3",
            "-",
            "s",
            ".",
            "-.",
            ".s",
            "+.s",
            "1d",
            "\u{85}\u{85}",
            "\u{ff}ff",
            "hello \u{ff}ff world",
            "9223372036854775808ns",
            "9223372036854775.808us",
            "9223372036854ms775us808ns",
            "-9223372036854775809ns",
            "1 s",
            "1S",
            "30 s",
            "1h-5m",
        ];
        for input in failures {
            assert!(parse_go_duration(input).is_err(), "{input:?}");
        }
    }

    #[test]
    fn duration_error_messages() {
        let msg = |s: &str| parse_go_duration(s).expect_err(s).to_string();
        assert_eq!(msg(""), r#"time: invalid duration """#);
        assert_eq!(msg("invalid"), r#"time: invalid duration "invalid""#);
        assert_eq!(msg("5"), r#"time: missing unit in duration "5""#);
        assert_eq!(msg("1d"), r#"time: unknown unit "d" in duration "1d""#);
        assert_eq!(
            msg("1µ"),
            r#"time: unknown unit "\xc2\xb5" in duration "1\xc2\xb5""#
        );
        assert_eq!(
            msg("9223372036854775808ns"),
            r#"time: invalid duration "9223372036854775808ns""#
        );
        assert_eq!("2m".parse::<GoDuration>(), Ok(GoDuration::from_secs(120)));
    }

    /// Go's `Duration.String` test table.
    #[test]
    fn duration_format_table() {
        let cases: &[(i64, &str)] = &[
            (0, "0s"),
            (1, "1ns"),
            (1_100, "1.1µs"),
            (2_200_000, "2.2ms"),
            (3_300_000_000, "3.3s"),
            (245_000_000_000, "4m5s"),
            (245_001_000_000, "4m5.001s"),
            (18_367_001_000_000, "5h6m7.001s"),
            (480_000_000_001, "8m0.000000001s"),
            (i64::MAX, "2562047h47m16.854775807s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
            (-5_000_000_000, "-5s"),
            (-90_000_000_000, "-1m30s"),
            (-10_000_000_000, "-10s"),
            (3_600_000_000_000, "1h0m0s"),
            (-1, "-1ns"),
            (999, "999ns"),
            (1_000, "1µs"),
            (1_000_000, "1ms"),
            (999_999_999, "999.999999ms"),
        ];
        for &(nanos, text) in cases {
            assert_eq!(GoDuration::from_nanos(nanos).to_string(), text, "{nanos}");
        }
        // Round trip.
        for &(nanos, text) in cases {
            assert_eq!(
                parse_go_duration(text),
                Ok(GoDuration::from_nanos(nanos)),
                "{text}"
            );
        }
    }

    #[test]
    fn duration_conversions() {
        assert_eq!(
            GoDuration::from_secs(2).to_std(),
            Some(Duration::from_secs(2))
        );
        assert_eq!(GoDuration::from_secs(-2).to_std(), None);
        assert_eq!(i64::from(GoDuration::from_nanos(7)), 7);
        assert!(GoDuration::from_nanos(-1).is_negative());
        assert!(!GoDuration::ZERO.is_negative());
    }

    // --- command line ---

    #[test]
    fn args_single_and_double_dash() {
        let overrides = parse_args(&strings(&[
            "-config",
            "/etc/m.toml",
            "--data-dir",
            "/data",
            "-ssh-listen=127.0.0.1:2222",
            "--name=node-a",
            "-log-level",
            "debug",
        ]))
        .expect("parse");
        assert_eq!(
            overrides,
            Overrides {
                config: "/etc/m.toml".to_owned(),
                data_dir: "/data".to_owned(),
                ssh_listen: "127.0.0.1:2222".to_owned(),
                name: "node-a".to_owned(),
                log_level: "debug".to_owned(),
                ..Overrides::default()
            }
        );
        assert_eq!(overrides.config_path(), Some(Path::new("/etc/m.toml")));
    }

    #[test]
    fn args_network_flags() {
        let overrides = parse_args(&strings(&[
            "-listen",
            "0.0.0.0:4000",
            "-bootstrap",
            "a.example:1, b.example:2",
            "--bootstrap=c.example:3",
            "-bootstrap=",
            "-advertise-addr=203.0.113.1:4000",
            "-max-peers",
            "30",
        ]))
        .expect("parse");
        assert_eq!(overrides.listen, "0.0.0.0:4000");
        assert_eq!(
            overrides.bootstrap,
            strings(&["a.example:1", "b.example:2", "c.example:3"])
        );
        assert_eq!(overrides.advertise_addr, "203.0.113.1:4000");
        assert_eq!(overrides.max_peers, Some(30));
        assert_eq!(
            parse_args(&strings(&["-max-peers=-1"])).map(|o| o.max_peers),
            Ok(Some(-1))
        );
        assert_eq!(
            parse_args(&strings(&["-max-peers="])).map(|o| o.max_peers),
            Ok(None)
        );
        let error = parse_args(&strings(&["-max-peers", "many"])).expect_err("bad int");
        assert_eq!(
            error.to_string(),
            r#"invalid value "many" for flag -max-peers: parse error"#
        );
        assert_eq!(error.exit_code(), 2);
        let error = parse_args(&strings(&["-max-peers=99999999999999999999"])).expect_err("range");
        assert!(error.to_string().ends_with("value out of range"), "{error}");
    }

    #[test]
    fn args_empty_value_is_not_given() {
        let overrides = parse_args(&strings(&["-name=", "--data-dir", ""])).expect("parse");
        assert_eq!(overrides, Overrides::default());
        assert_eq!(overrides.config_path(), None);
        let mut config = valid_config();
        config.node.name = "kept".to_owned();
        config.apply_overrides(&overrides);
        assert_eq!(config.node.name, "kept");
        // The last occurrence wins, as in Go.
        let overrides = parse_args(&strings(&["-name=a", "-name=b"])).expect("parse");
        assert_eq!(overrides.name, "b");
    }

    #[test]
    fn args_unknown_flag() {
        let error = parse_args(&strings(&["-verbose"])).expect_err("unknown");
        assert_eq!(error, ArgsError::Unknown("verbose".to_owned()));
        assert_eq!(error.to_string(), "flag provided but not defined: -verbose");
        assert_eq!(error.exit_code(), 2);
        let error = parse_args(&strings(&["--version=1"])).expect_err("unknown");
        assert_eq!(error.to_string(), "flag provided but not defined: -version");
    }

    #[test]
    fn args_help() {
        for arg in ["-h", "-help", "--help", "--h", "-help=1"] {
            let error = parse_args(&strings(&[arg])).expect_err(arg);
            assert_eq!(error, ArgsError::Help(USAGE.to_owned()), "{arg}");
            assert_eq!(error.exit_code(), 0);
        }
        assert!(USAGE.starts_with("Usage of micelio:\n"));
        assert!(USAGE.contains("  -config string\n    \tpath to config file\n"));
        assert!(USAGE.contains(
            "  -log-level string\n    \tlog level: debug, info, warn, error (overrides config)\n"
        ));
    }

    #[test]
    fn args_stop_at_first_non_flag() {
        let overrides =
            parse_args(&strings(&["-name", "a", "positional", "-bogus"])).expect("parse");
        assert_eq!(overrides.name, "a");
        let overrides = parse_args(&strings(&["--", "-bogus"])).expect("parse");
        assert_eq!(overrides, Overrides::default());
        let overrides = parse_args(&strings(&["-", "-bogus"])).expect("parse");
        assert_eq!(overrides, Overrides::default());
        assert_eq!(parse_args(&[]), Ok(Overrides::default()));
        // The next argument is the value even when it starts with a dash.
        let overrides = parse_args(&strings(&["-name", "-x"])).expect("parse");
        assert_eq!(overrides.name, "-x");
    }

    #[test]
    fn args_malformed() {
        assert_eq!(
            parse_args(&strings(&["-name"])),
            Err(ArgsError::MissingValue("name".to_owned()))
        );
        assert_eq!(
            parse_args(&strings(&["-name"])).map_err(|e| e.to_string()),
            Err("flag needs an argument: -name".to_owned())
        );
        for arg in ["---name", "-=x", "--=x"] {
            let error = parse_args(&strings(&[arg])).expect_err(arg);
            assert_eq!(error.to_string(), format!("bad flag syntax: {arg}"));
        }
        // Multi-byte names do not panic.
        assert_eq!(
            parse_args(&strings(&["-é=x"])),
            Err(ArgsError::Unknown("é".to_owned()))
        );
    }

    #[test]
    fn limits_table_sets_cache_lifetimes() {
        let defaults = Config::default().to_node_config(String::new(), false);
        let core = NodeConfig::default();
        assert_eq!(
            (
                defaults.seen_ttl,
                defaults.seen_min_age,
                defaults.sweep_interval
            ),
            (core.seen_ttl, core.seen_min_age, core.sweep_interval)
        );
        assert_eq!(
            (defaults.rate_idle_ttl, defaults.key_idle_ttl),
            (core.rate_idle_ttl, core.key_idle_ttl)
        );

        let config = Config::from_toml_str(
            "[limits]\nseen_ttl = \"10s\"\nidle_ttl = \"5s\"\nsweep_interval = \"1s\"\n",
        )
        .expect("parses");
        let node = config.to_node_config(String::new(), false);
        assert_eq!(node.seen_ttl, Duration::from_secs(10));
        assert_eq!(
            node.seen_min_age,
            Duration::from_secs(10),
            "never above the TTL"
        );
        assert_eq!(node.rate_idle_ttl, Duration::from_secs(5));
        assert_eq!(node.key_idle_ttl, Duration::from_secs(5));
        assert_eq!(node.sweep_interval, Duration::from_secs(1));

        let config = Config::from_toml_str("[extensions]\ntree = false\n").expect("parses");
        assert!(!config.to_node_config(String::new(), false).tree.enabled);
        assert!(
            Config::default()
                .to_node_config(String::new(), false)
                .tree
                .enabled
        );
        assert!(Config::from_toml_str("[extensions]\ntree = \"yes\"\n").is_err());
        let config = Config::from_toml_str("[extensions]\nstate = false\n").expect("parses");
        let node = config.to_node_config(String::new(), false);
        assert!(!node.state.enabled && node.tree.enabled);
        assert!(
            Config::default()
                .to_node_config(String::new(), false)
                .state
                .enabled
        );

        let mut config = Config::default();
        config.limits.idle_ttl = GoDuration::from_secs(-5);
        let problems = config
            .validate()
            .expect_err("negative lifetime")
            .to_string();
        assert!(
            problems.contains("limits.idle_ttl: must be >= 0, got -5s"),
            "{problems}"
        );
    }
}
