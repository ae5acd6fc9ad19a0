//! The node's SQLite database `<data_dir>/data.db` (NODE.md §4.4): the persisted known-peer
//! table (PROTOCOL.md §12.1, §12.10) and the shared state map (docs/state.md), owned
//! exclusively by one node process at a time.
//!
//! The reference keeps each record as a JSON value in a bbolt bucket; nothing on the wire
//! depends on the storage engine, so this store keeps the same record fields as columns of a
//! table `peers`. [`record_to_json`] and [`record_from_json`] convert a record to and from the
//! reference's JSON value (Appendix A.5) for exports and compatibility tests.
//!
//! Ownership: [`Store::open`] takes an advisory `flock(2)` on the sidecar file `data.db.lock`
//! and holds it for the store's lifetime. A second node (or a second [`Store`] in the same
//! process) opening the same database fails at once with [`StoreError::Locked`] instead of
//! hanging as the reference does. The kernel releases the lock when the file is closed, so it
//! disappears on drop, on a clean exit, and when the process is killed.

use std::ffi::OsString;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use micelio_core::identity::NodeId;
use micelio_core::node::PeerRecord;
use micelio_core::node::address::is_invalid_peer_addr;
use micelio_core::node::peers::{RejectReason, validate_loaded};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, params};

/// The schema migrations, in order: entry `i` takes the database from `user_version` `i` to
/// `i + 1`. Append only; never edit a released entry.
const MIGRATIONS: &[&str] = &[
    // v1: the known-peer table, exactly the reference's record fields (PROTOCOL.md §12.1).
    // `public_key` is lowercase hex of the 32-byte ED25519 key, or empty.
    "CREATE TABLE peers (
        node_id TEXT PRIMARY KEY,
        addr TEXT NOT NULL,
        reachable INTEGER NOT NULL,
        public_key TEXT NOT NULL,
        last_seen INTEGER NOT NULL,
        fail_count INTEGER NOT NULL,
        last_fail INTEGER NOT NULL
    );",
    // v2: the shared state map (docs/state.md): each key's entry as its encoded, signed
    // envelope (verified again when loaded), and the node's Lamport clock.
    "CREATE TABLE state_entries (
        key TEXT PRIMARY KEY,
        envelope BLOB NOT NULL
    );
    CREATE TABLE state_clock (
        id INTEGER PRIMARY KEY CHECK (id = 0),
        time INTEGER NOT NULL
    );",
];

/// The schema version (`PRAGMA user_version`) this code creates and understands.
// The list has a handful of entries; the cast cannot truncate.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// File mode of the database and its lock file (NODE.md §4.1).
#[cfg(unix)]
const FILE_MODE: u32 = 0o600;

/// Why the store could not be opened or used.
#[derive(Debug)]
pub enum StoreError {
    /// Another process, or another [`Store`] in this process, holds the data directory's lock.
    Locked {
        /// The database whose lock is held.
        path: PathBuf,
    },
    /// The database was written by a newer version of the node.
    TooNew {
        /// Its schema version (`PRAGMA user_version`, read as unsigned).
        found: u32,
        /// The newest schema version this code knows ([`SCHEMA_VERSION`]).
        supported: u32,
    },
    /// A file could not be created, opened or locked.
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// SQLite reported an error.
    Sqlite(rusqlite::Error),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Locked { path } => {
                let dir = path
                    .parent()
                    .filter(|dir| !dir.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                write!(
                    f,
                    "another micelio node is already using the data directory {} \
                     (the database {} is locked); stop that node or choose another data_dir",
                    dir.display(),
                    path.display()
                )
            }
            Self::TooNew { found, supported } => write!(
                f,
                "database schema version {found} is newer than this node supports \
                 ({supported}); it was written by a newer micelio"
            ),
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Sqlite(error) => write!(f, "sqlite: {error}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Sqlite(error) => Some(error),
            Self::Locked { .. } | Self::TooNew { .. } => None,
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Sqlite(error)
    }
}

/// Why a stored record was skipped (PROTOCOL.md §12.10).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// The record could not be decoded: a column of the wrong type or out of range, or JSON
    /// that does not parse. The text says what was wrong.
    Malformed(String),
    /// The node id is empty.
    EmptyNodeId,
    /// The node id is not 64 lowercase hex characters and there is no key to check it against
    /// (the reference would load such a record; it can never match a real node).
    InvalidNodeId,
    /// The address is non-empty but not a valid peer address (Appendix B).
    InvalidAddr,
    /// The key is non-empty but not hex.
    InvalidKeyEncoding,
    /// The key is not 32 bytes.
    InvalidKeyLength,
    /// The node id is not the SHA-256 of the key.
    MismatchedKey,
}

impl SkipReason {
    /// The WARN message logged for it: the reference's text (NODE.md §6) where there is one.
    pub fn log_message(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "unmarshal peer record",
            Self::EmptyNodeId => "skipping peer: empty NodeID",
            Self::InvalidNodeId => "skipping peer: invalid NodeID",
            Self::InvalidAddr => "skipping peer: invalid addr",
            Self::InvalidKeyEncoding => "skipping peer: invalid pubkey encoding",
            Self::InvalidKeyLength => "skipping peer: invalid pubkey length",
            Self::MismatchedKey => "skipping peer: mismatched pubkey",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(what) => write!(f, "malformed record: {what}"),
            Self::EmptyNodeId => f.write_str("empty node id"),
            Self::InvalidNodeId => f.write_str("node id is not 64 lowercase hex characters"),
            Self::InvalidAddr => f.write_str("invalid peer address"),
            Self::InvalidKeyEncoding => f.write_str("public key is not hex"),
            Self::InvalidKeyLength => f.write_str("public key is not 32 bytes"),
            Self::MismatchedKey => f.write_str("node id is not the SHA-256 of the public key"),
        }
    }
}

/// A stored record that [`Store::load_peers`] skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedPeer {
    /// The stored node id as text (lossy when it is not UTF-8; empty when it is not text).
    pub node_id: String,
    /// Why it was skipped.
    pub reason: SkipReason,
}

/// What [`Store::load_peers`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadedPeers {
    /// The valid records, in node-id order.
    pub records: Vec<PeerRecord>,
    /// The records skipped, each with its reason (each also logged at WARN).
    pub skipped: Vec<SkippedPeer>,
}

/// The node's database: the known-peer table, with exclusive ownership of its data directory.
///
/// Every method is synchronous and short; [`Store::save_peers`] writes a whole batch in one
/// transaction, so a runtime can collect its persistence outputs and write them at once.
#[derive(Debug)]
pub struct Store {
    // Declared before `_lock` so the database is closed before the lock is released.
    conn: Connection,
    path: PathBuf,
    _lock: DirLock,
}

impl Store {
    /// Opens (creating it with mode 0600 if needed) the database at `path`, normally
    /// `<data_dir>/data.db`, and brings its schema up to [`SCHEMA_VERSION`].
    ///
    /// The parent directory must exist. The database uses WAL journaling with
    /// `synchronous=NORMAL`: a power loss may lose the last few writes, never the file, which
    /// suits a discovery cache.
    ///
    /// # Errors
    ///
    /// [`StoreError::Locked`] at once when another store holds `path` (its lock file is
    /// `path` + `.lock`); [`StoreError::TooNew`] when the schema version is newer than this code
    /// knows; [`StoreError::Io`] or [`StoreError::Sqlite`] when a file cannot be opened or
    /// the database is not a valid SQLite file.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let lock = DirLock::acquire(path)?;
        create_private_file(path)?;
        let mut conn = Connection::open(path)?;

        // Check the version before anything writes to a database we may not understand.
        let found = schema_version(&conn)?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                found,
                supported: SCHEMA_VERSION,
            });
        }

        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            // Some file systems cannot host the WAL index; the store still works, only slower.
            tracing::warn!(path = %path.display(), %mode, "store: WAL journal unavailable");
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;

        // Each migration and its version bump commit together: a crash leaves the database at
        // one version or the next, never in between.
        for (migration, version) in MIGRATIONS.iter().zip(1i64..).skip(found as usize) {
            let tx = conn.transaction()?;
            tx.execute_batch(migration)?;
            tx.pragma_update(None, "user_version", version)?;
            tx.commit()?;
        }

        Ok(Store {
            conn,
            path: path.to_path_buf(),
            _lock: lock,
        })
    }

    /// The database file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The database's schema version (`PRAGMA user_version`).
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] when SQLite fails.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        schema_version(&self.conn)
    }

    /// Reads every stored record (PROTOCOL.md §12.10), validating each.
    ///
    /// A record is skipped, with a WARN carrying the reference's message, when a column cannot
    /// be decoded, the node id is empty (or not a node id), the address is non-empty but
    /// invalid, or the key is non-empty but not hex, not 32 bytes, or not the key of the node
    /// id. Records without a key are kept. Skipped rows stay in the database.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] when the table cannot be read at all.
    pub fn load_peers(&self) -> Result<LoadedPeers, StoreError> {
        let mut statement = self.conn.prepare(
            "SELECT node_id, addr, reachable, public_key, last_seen, fail_count, last_fail \
             FROM peers ORDER BY node_id",
        )?;
        let mut rows = statement.query([])?;
        let mut loaded = LoadedPeers::default();
        while let Some(row) = rows.next()? {
            let node_id = match row.get_ref(0)? {
                ValueRef::Text(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                _ => String::new(),
            };
            match decode_row(row).and_then(validate_raw) {
                Ok(record) => loaded.records.push(record),
                Err(reason) => {
                    tracing::warn!(
                        component = "discovery",
                        node_id = %node_id,
                        reason = %reason,
                        "{}",
                        reason.log_message()
                    );
                    loaded.skipped.push(SkippedPeer { node_id, reason });
                }
            }
        }
        Ok(loaded)
    }

    /// Inserts or overwrites `records` (keyed by node id) in one transaction.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] when the write fails; then none of the batch is stored.
    pub fn save_peers(&mut self, records: &[PeerRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        {
            let mut statement = tx.prepare_cached(
                "INSERT INTO peers \
                 (node_id, addr, reachable, public_key, last_seen, fail_count, last_fail) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT(node_id) DO UPDATE SET \
                 addr = excluded.addr, reachable = excluded.reachable, \
                 public_key = excluded.public_key, last_seen = excluded.last_seen, \
                 fail_count = excluded.fail_count, last_fail = excluded.last_fail",
            )?;
            for record in records {
                statement.execute(params![
                    record.node_id.as_str(),
                    record.addr,
                    record.reachable,
                    record.public_key.map(hex::encode).unwrap_or_default(),
                    record.last_seen,
                    i64::from(record.fail_count),
                    record.last_fail,
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Deletes the records of `ids` (unknown ids are ignored) in one transaction.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] when the write fails; then nothing is deleted.
    pub fn forget_peers(&mut self, ids: &[NodeId]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        {
            let mut statement = tx.prepare_cached("DELETE FROM peers WHERE node_id = ?1")?;
            for id in ids {
                statement.execute([id.as_str()])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Reads the shared map: the Lamport clock (0 if never stored) and every entry's
    /// encoded envelope, for `Node::load_state` (which verifies each again).
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] when the tables cannot be read.
    pub fn load_state(&self) -> Result<(u64, Vec<Vec<u8>>), StoreError> {
        let clock: Option<i64> = self
            .conn
            .query_row("SELECT time FROM state_clock WHERE id = 0", [], |row| {
                row.get(0)
            })
            .optional()?;
        let mut statement = self
            .conn
            .prepare("SELECT envelope FROM state_entries ORDER BY key")?;
        let entries = statement
            .query_map([], |row| row.get::<_, Vec<u8>>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        let clock = clock.map_or(0, |t| u64::from_ne_bytes(t.to_ne_bytes()));
        Ok((clock, entries))
    }

    /// Stores entries (key, encoded envelope; replacing a key's previous one), deletes
    /// `forget`, and stores `clock` if given, in one transaction.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] when the write fails; then none of it is stored.
    pub fn save_state(
        &mut self,
        entries: &[(String, Vec<u8>)],
        forget: &[String],
        clock: Option<u64>,
    ) -> Result<(), StoreError> {
        if entries.is_empty() && forget.is_empty() && clock.is_none() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        {
            let mut save = tx.prepare_cached(
                "INSERT INTO state_entries (key, envelope) VALUES (?1, ?2) \
                 ON CONFLICT(key) DO UPDATE SET envelope = excluded.envelope",
            )?;
            for (key, envelope) in entries {
                save.execute(params![key, envelope])?;
            }
            let mut delete = tx.prepare_cached("DELETE FROM state_entries WHERE key = ?1")?;
            for key in forget {
                delete.execute([key])?;
            }
            if let Some(time) = clock {
                // Stored as the same 64 bits, read back by `load_state`.
                let time = i64::from_ne_bytes(time.to_ne_bytes());
                tx.execute(
                    "INSERT INTO state_clock (id, time) VALUES (0, ?1) \
                     ON CONFLICT(id) DO UPDATE SET time = excluded.time",
                    [time],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Runs SQLite's `PRAGMA integrity_check`: true when it reports exactly `ok`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] when the check cannot run (e.g. the file is not a database).
    pub fn integrity_check(&self) -> Result<bool, StoreError> {
        let mut statement = self.conn.prepare("PRAGMA integrity_check")?;
        let mut rows = statement.query([])?;
        let first: Option<String> = rows.next()?.map(|row| row.get(0)).transpose()?;
        let more = rows.next()?.is_some();
        Ok(first.as_deref() == Some("ok") && !more)
    }

    /// Checkpoints the write-ahead log into the database file, closes it and releases the
    /// lock. Dropping the store also closes it, without the explicit checkpoint.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] when the checkpoint or the close fails; the lock is released
    /// either way.
    pub fn close(self) -> Result<(), StoreError> {
        let Store { conn, _lock, .. } = self;
        let checkpoint = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .optional();
        let closed = conn.close().map_err(|(_, error)| error);
        checkpoint?;
        closed?;
        Ok(())
    }
}

/// Reads the schema version, as unsigned (SQLite stores it as a signed 32-bit integer; a
/// negative value is taken as a very new version rather than as version 0).
fn schema_version(conn: &Connection) -> Result<u32, StoreError> {
    let version: i32 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    Ok(u32::from_ne_bytes(version.to_ne_bytes()))
}

/// Creates `path` with mode 0600 unless it exists; an existing file is left as it is.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    match options.open(path) {
        Ok(file) => set_private_mode(&file, path),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Sets mode 0600 exactly on a file we created (the umask may have removed bits only).
fn set_private_mode(file: &File, path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))
            .map_err(|source| StoreError::Io {
                path: path.to_path_buf(),
                source,
            })?;
    }
    #[cfg(not(unix))]
    let _ = (file, path);
    Ok(())
}

/// The lock file of the database at `db_path`: `db_path` + `.lock`.
fn lock_path(db_path: &Path) -> PathBuf {
    let mut name = OsString::from(db_path.as_os_str());
    name.push(".lock");
    PathBuf::from(name)
}

/// An exclusive advisory lock on `data.db.lock`, held while the open file lives.
///
/// flock(2) locks belong to the open file description: a second open of the same file, even
/// in this process, conflicts, and the kernel drops the lock when the last descriptor closes,
/// including when the process dies. The lock file is never deleted (deleting it would let two
/// processes lock two different files of the same name).
#[derive(Debug)]
struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock without waiting, or fails with [`StoreError::Locked`].
    fn acquire(db_path: &Path) -> Result<DirLock, StoreError> {
        let path = lock_path(db_path);
        let io_error = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(FILE_MODE);
        }
        let mut file = options.open(&path).map_err(io_error)?;
        if !try_lock_exclusive(&file).map_err(io_error)? {
            return Err(StoreError::Locked {
                path: db_path.to_path_buf(),
            });
        }
        // For people looking at the directory: which process holds it. Best effort only; the
        // lock, not the content, is what excludes other nodes.
        if file.set_len(0).is_ok() {
            let _ = writeln!(file, "{}", std::process::id());
        }
        Ok(DirLock { _file: file })
    }
}

/// `flock(LOCK_EX | LOCK_NB)`: `Ok(false)` when another open file holds the lock.
#[cfg(unix)]
fn try_lock_exclusive(file: &File) -> io::Result<bool> {
    use rustix::fs::{FlockOperation, flock};
    use rustix::io::Errno;
    loop {
        match flock(file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(true),
            Err(Errno::WOULDBLOCK) => return Ok(false),
            Err(Errno::INTR) => continue,
            Err(errno) => return Err(errno.into()),
        }
    }
}

/// Without flock(2) the store is not protected against a second node; micelio targets Unix.
#[cfg(not(unix))]
fn try_lock_exclusive(_file: &File) -> io::Result<bool> {
    Ok(true)
}

/// A stored record before validation, in the reference's field types.
struct RawRecord {
    node_id: String,
    addr: String,
    reachable: bool,
    public_key: String,
    last_seen: i64,
    fail_count: u32,
    last_fail: i64,
}

/// Decodes one `peers` row; a column of the wrong type or range makes it malformed.
fn decode_row(row: &rusqlite::Row<'_>) -> Result<RawRecord, SkipReason> {
    Ok(RawRecord {
        node_id: text_column(row, 0, "node_id")?,
        addr: text_column(row, 1, "addr")?,
        reachable: match int_column(row, 2, "reachable")? {
            0 => false,
            1 => true,
            other => return Err(malformed(format!("reachable is {other}, not 0 or 1"))),
        },
        public_key: text_column(row, 3, "public_key")?,
        last_seen: int_column(row, 4, "last_seen")?,
        fail_count: {
            let value = int_column(row, 5, "fail_count")?;
            u32::try_from(value)
                .map_err(|_| malformed(format!("fail_count {value} is out of range")))?
        },
        last_fail: int_column(row, 6, "last_fail")?,
    })
}

fn malformed(what: String) -> SkipReason {
    SkipReason::Malformed(what)
}

fn text_column(row: &rusqlite::Row<'_>, index: usize, name: &str) -> Result<String, SkipReason> {
    match row.get_ref(index) {
        Ok(ValueRef::Text(bytes)) => std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| malformed(format!("{name} is not UTF-8"))),
        Ok(other) => Err(malformed(format!(
            "{name} is {}, not text",
            other.data_type()
        ))),
        Err(error) => Err(malformed(format!("{name}: {error}"))),
    }
}

fn int_column(row: &rusqlite::Row<'_>, index: usize, name: &str) -> Result<i64, SkipReason> {
    match row.get_ref(index) {
        Ok(ValueRef::Integer(value)) => Ok(value),
        Ok(other) => Err(malformed(format!(
            "{name} is {}, not an integer",
            other.data_type()
        ))),
        Err(error) => Err(malformed(format!("{name}: {error}"))),
    }
}

/// Validates a decoded record in the reference's order (PROTOCOL.md §12.10): empty node id,
/// address, key encoding, key length, key against node id. The final address and key checks
/// are micelio-core's [`validate_loaded`], the same the node applies.
fn validate_raw(raw: RawRecord) -> Result<PeerRecord, SkipReason> {
    if raw.node_id.is_empty() {
        return Err(SkipReason::EmptyNodeId);
    }
    if !raw.addr.is_empty() && is_invalid_peer_addr(&raw.addr) {
        return Err(SkipReason::InvalidAddr);
    }
    let public_key = if raw.public_key.is_empty() {
        None
    } else {
        let bytes = hex::decode(&raw.public_key).map_err(|_| SkipReason::InvalidKeyEncoding)?;
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| SkipReason::InvalidKeyLength)?;
        Some(key)
    };
    let Some(node_id) = NodeId::parse(&raw.node_id) else {
        // With a key, the reference reports the SHA-256 mismatch; without, it would keep a
        // record no real node can match.
        return Err(if public_key.is_some() {
            SkipReason::MismatchedKey
        } else {
            SkipReason::InvalidNodeId
        });
    };
    let record = PeerRecord {
        node_id,
        addr: raw.addr,
        reachable: raw.reachable,
        public_key,
        last_seen: raw.last_seen,
        fail_count: raw.fail_count,
        last_fail: raw.last_fail,
    };
    match validate_loaded(&record) {
        Ok(()) => Ok(record),
        Err(RejectReason::InvalidAddr) => Err(SkipReason::InvalidAddr),
        Err(RejectReason::MismatchedNodeId) => Err(SkipReason::MismatchedKey),
        Err(other) => Err(malformed(other.to_string())),
    }
}

/// The reference's JSON value for `record` (PROTOCOL.md §12.10, Appendix A.5): keys `node_id`,
/// `addr`, `reachable`, `public_key`, `last_seen`, `fail_count`, `last_fail` in this order, none
/// omitted, strings escaped as Go's `encoding/json` does (including `<`, `>`, `&`, U+2028 and
/// U+2029 as `\u` escapes), no whitespace.
pub fn record_to_json(record: &PeerRecord) -> String {
    let public_key = record.public_key.map(hex::encode).unwrap_or_default();
    let mut out = String::with_capacity(256);
    out.push_str("{\"node_id\":");
    push_json_string(&mut out, record.node_id.as_str());
    out.push_str(",\"addr\":");
    push_json_string(&mut out, &record.addr);
    out.push_str(",\"reachable\":");
    out.push_str(if record.reachable { "true" } else { "false" });
    out.push_str(",\"public_key\":");
    push_json_string(&mut out, &public_key);
    out.push_str(&format!(
        ",\"last_seen\":{},\"fail_count\":{},\"last_fail\":{}}}",
        record.last_seen, record.fail_count, record.last_fail
    ));
    out
}

/// Appends `text` as a JSON string with Go's `encoding/json` escaping (Go 1.22 and later).
fn push_json_string(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0}'..='\u{1f}' | '<' | '>' | '&' => {
                let byte = c as u8;
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xf)]));
            }
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The JSON form of a record as Go's `encoding/json` reads it: missing keys take their zero
/// value, unknown keys are ignored.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct JsonRecord {
    node_id: String,
    addr: String,
    reachable: bool,
    public_key: String,
    last_seen: i64,
    fail_count: u32,
    last_fail: i64,
}

/// Parses and validates a record in the reference's JSON form (Appendix A.5), with the same
/// checks as [`Store::load_peers`].
///
/// # Errors
///
/// [`SkipReason::Malformed`] when the text is not such a JSON object (or `fail_count` is
/// negative or above `u32::MAX`), otherwise the validation failure.
pub fn record_from_json(json: &str) -> Result<PeerRecord, SkipReason> {
    // Through a `Value` so that only an object is accepted: the derived deserializer would also
    // take an array of the fields in order, which Go rejects.
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|error| malformed(error.to_string()))?;
    if !value.is_object() {
        return Err(malformed("not a JSON object".to_owned()));
    }
    let parsed: JsonRecord =
        serde_json::from_value(value).map_err(|error| malformed(error.to_string()))?;
    validate_raw(RawRecord {
        node_id: parsed.node_id,
        addr: parsed.addr,
        reachable: parsed.reachable,
        public_key: parsed.public_key,
        last_seen: parsed.last_seen,
        fail_count: parsed.fail_count,
        last_fail: parsed.last_fail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: &str = "24f6ed6acbfe1009c030d7ca567c33ca4830911498236b5561a6c82abec5de28";
    const KEY: &str = "29acbae141bccaf0b22e1a94d34d0bc7361e526d0bfe12c89794bc9322966dd7";

    fn raw(node_id: &str, addr: &str, public_key: &str) -> RawRecord {
        RawRecord {
            node_id: node_id.to_owned(),
            addr: addr.to_owned(),
            reachable: true,
            public_key: public_key.to_owned(),
            last_seen: 1,
            fail_count: 2,
            last_fail: 3,
        }
    }

    #[test]
    fn appendix_a5_key_is_the_node_ids_key() {
        let key: [u8; 32] = hex::decode(KEY).unwrap().try_into().unwrap();
        assert_eq!(NodeId::from_public_key(&key).as_str(), NODE);
    }

    #[test]
    fn validation_follows_the_reference_order() {
        let record = validate_raw(raw(NODE, "198.51.100.7:4000", KEY)).unwrap();
        assert_eq!(record.node_id.as_str(), NODE);
        assert_eq!((record.fail_count, record.last_fail), (2, 3));
        // A key-less record with an address is kept.
        assert_eq!(
            validate_raw(raw(NODE, "10.0.0.1:1", ""))
                .unwrap()
                .public_key,
            None
        );
        // An empty address is allowed.
        assert!(validate_raw(raw(NODE, "", KEY)).is_ok());

        let cases = [
            (raw("", "0.0.0.0:1", "zz"), SkipReason::EmptyNodeId),
            (raw(NODE, "0.0.0.0:4000", "zz"), SkipReason::InvalidAddr),
            (raw(NODE, ":4000", ""), SkipReason::InvalidAddr),
            (raw(NODE, "just-a-host", ""), SkipReason::InvalidAddr),
            (
                raw(NODE, "10.0.0.1:1", "zz"),
                SkipReason::InvalidKeyEncoding,
            ),
            (
                raw(NODE, "10.0.0.1:1", "abc"),
                SkipReason::InvalidKeyEncoding,
            ),
            (
                raw(NODE, "10.0.0.1:1", "abcd"),
                SkipReason::InvalidKeyLength,
            ),
            (
                raw(&"0".repeat(64), "10.0.0.1:1", KEY),
                SkipReason::MismatchedKey,
            ),
            (raw("short", "10.0.0.1:1", KEY), SkipReason::MismatchedKey),
            (raw("short", "10.0.0.1:1", ""), SkipReason::InvalidNodeId),
            (raw(&NODE.to_uppercase(), "", ""), SkipReason::InvalidNodeId),
        ];
        for (input, expected) in cases {
            let label = format!("{}/{}/{}", input.node_id, input.addr, input.public_key);
            assert_eq!(validate_raw(input).unwrap_err(), expected, "{label}");
        }
    }

    #[test]
    fn uppercase_hex_key_is_accepted_like_go() {
        let record = validate_raw(raw(NODE, "", &KEY.to_uppercase())).unwrap();
        assert_eq!(record.public_key.map(hex::encode).as_deref(), Some(KEY));
    }

    #[test]
    fn log_messages_are_the_reference_texts() {
        assert_eq!(
            SkipReason::Malformed(String::new()).log_message(),
            "unmarshal peer record"
        );
        assert_eq!(
            SkipReason::EmptyNodeId.log_message(),
            "skipping peer: empty NodeID"
        );
        assert_eq!(
            SkipReason::InvalidAddr.log_message(),
            "skipping peer: invalid addr"
        );
        assert_eq!(
            SkipReason::InvalidKeyEncoding.log_message(),
            "skipping peer: invalid pubkey encoding"
        );
        assert_eq!(
            SkipReason::InvalidKeyLength.log_message(),
            "skipping peer: invalid pubkey length"
        );
        assert_eq!(
            SkipReason::MismatchedKey.log_message(),
            "skipping peer: mismatched pubkey"
        );
    }

    #[test]
    fn json_strings_are_escaped_like_go() {
        let mut out = String::new();
        push_json_string(
            &mut out,
            "a\"b\\c\u{8}\u{c}\n\r\t\u{0}\u{1f}<>&\u{2028}\u{2029}é\u{7f}",
        );
        assert_eq!(
            out,
            "\"a\\\"b\\\\c\\b\\f\\n\\r\\t\\u0000\\u001f\\u003c\\u003e\\u0026\\u2028\\u2029é\u{7f}\""
        );
        // Whatever the content, the result is valid JSON that reads back the same.
        let text = "x\u{1}<&>\u{2028}\"\\";
        let mut out = String::new();
        push_json_string(&mut out, text);
        assert_eq!(serde_json::from_str::<String>(&out).unwrap(), text);
    }

    #[test]
    fn json_from_go_tolerates_missing_and_unknown_keys() {
        let json = format!(r#"{{"node_id":"{NODE}","extra":[1,2],"addr":"10.0.0.1:9"}}"#);
        let record = record_from_json(&json).unwrap();
        assert_eq!(record.addr, "10.0.0.1:9");
        assert!(!record.reachable);
        assert_eq!(record.public_key, None);
        assert_eq!(
            (record.last_seen, record.fail_count, record.last_fail),
            (0, 0, 0)
        );
    }

    #[test]
    fn bad_json_is_malformed_not_a_panic() {
        for json in [
            "",
            "{",
            "[]",
            "[\"x\"]",
            "null",
            "\"text\"",
            "{\"node_id\":5}",
            "{\"reachable\":\"yes\"}",
            "{\"fail_count\":-1}",
            "{\"fail_count\":4294967296}",
            "{\"last_seen\":1e400}",
        ] {
            assert!(
                matches!(record_from_json(json), Err(SkipReason::Malformed(_))),
                "{json}"
            );
        }
        assert_eq!(record_from_json("{}"), Err(SkipReason::EmptyNodeId));
    }

    #[test]
    fn lock_file_sits_next_to_the_database() {
        assert_eq!(
            lock_path(Path::new("/d/data.db")),
            PathBuf::from("/d/data.db.lock")
        );
    }

    #[test]
    fn locked_error_names_the_data_directory() {
        let error = StoreError::Locked {
            path: PathBuf::from("/var/lib/micelio/data.db"),
        };
        let text = error.to_string();
        assert!(text.contains("another micelio node"), "{text}");
        assert!(text.contains("/var/lib/micelio "), "{text}");
    }

    #[test]
    fn migrations_define_the_schema_version() {
        assert_eq!(SCHEMA_VERSION as usize, MIGRATIONS.len());
        const { assert!(SCHEMA_VERSION >= 1) };
    }
}
