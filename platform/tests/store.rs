//! Integration tests of the SQLite store: round trips, validation of stored rows, the reference
//! JSON form, schema versions and exclusive ownership of the data directory.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use micelio_core::identity::NodeId;
use micelio_core::node::PeerRecord;
use micelio_platform::store::{
    LoadedPeers, SCHEMA_VERSION, SkipReason, Store, StoreError, record_from_json, record_to_json,
};

/// Node id and key of PROTOCOL.md Appendix A.5.
const A5_NODE: &str = "24f6ed6acbfe1009c030d7ca567c33ca4830911498236b5561a6c82abec5de28";
const A5_KEY: &str = "29acbae141bccaf0b22e1a94d34d0bc7361e526d0bfe12c89794bc9322966dd7";
const A5_JSON: &str = r#"{"node_id":"24f6ed6acbfe1009c030d7ca567c33ca4830911498236b5561a6c82abec5de28","addr":"198.51.100.7:4000","reachable":true,"public_key":"29acbae141bccaf0b22e1a94d34d0bc7361e526d0bfe12c89794bc9322966dd7","last_seen":1700000000,"fail_count":0,"last_fail":0}"#;

/// Environment variable telling [`lock_holder_child`] which database to hold.
const HOLDER_ENV: &str = "MICELIO_STORE_TEST_HOLD_LOCK";

/// Held (for writing) while a test spawns a child process: from its fork to its exec a child
/// holds a copy of every descriptor of this process, flock(2) locks included, so a store
/// another test just closed would stay locked for that moment.
static SPAWNING: RwLock<()> = RwLock::new(());

/// Keeps child processes from being spawned while the caller closes and reopens stores.
fn no_spawn() -> RwLockReadGuard<'static, ()> {
    SPAWNING.read().unwrap_or_else(PoisonError::into_inner)
}

/// A unique directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let dir = std::env::temp_dir().join(format!(
            "micelio-store-{name}-{}-{nanos}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn db(&self) -> PathBuf {
        self.0.join("data.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn a5_record() -> PeerRecord {
    PeerRecord {
        node_id: NodeId::parse(A5_NODE).unwrap(),
        addr: "198.51.100.7:4000".to_owned(),
        reachable: true,
        public_key: Some(hex::decode(A5_KEY).unwrap().try_into().unwrap()),
        last_seen: 1_700_000_000,
        fail_count: 0,
        last_fail: 0,
    }
}

/// A valid record for the key `[seed; 32]`.
fn record(seed: u8, addr: &str, last_seen: i64) -> PeerRecord {
    let key = [seed; 32];
    PeerRecord {
        node_id: NodeId::from_public_key(&key),
        addr: addr.to_owned(),
        reachable: true,
        public_key: Some(key),
        last_seen,
        fail_count: 0,
        last_fail: 0,
    }
}

fn raw_conn(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

#[test]
fn a_saved_record_is_found_again() {
    let _no_spawn = no_spawn();
    // TESTS.md §11 "A saved record is found again" (TestSaveAndLoadKnownPeers).
    let dir = TempDir::new("roundtrip");
    let mut with_key = a5_record();
    with_key.fail_count = 3;
    with_key.last_fail = 1_700_000_100;
    let mut keyless = record(7, "[2001:db8::1]:4000", -5);
    keyless.public_key = None;
    keyless.reachable = false;
    {
        let mut store = Store::open(&dir.db()).unwrap();
        store
            .save_peers(&[with_key.clone(), keyless.clone()])
            .unwrap();
        store.close().unwrap();
    }
    let store = Store::open(&dir.db()).unwrap();
    let LoadedPeers { records, skipped } = store.load_peers().unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    let mut expected = vec![with_key, keyless];
    expected.sort_by_key(|r| r.node_id);
    assert_eq!(records, expected);
}

#[test]
fn upsert_overwrites_and_forget_deletes() {
    let _no_spawn = no_spawn();
    let dir = TempDir::new("upsert");
    let mut store = Store::open(&dir.db()).unwrap();
    let first = record(1, "10.0.0.1:4000", 100);
    let second = record(2, "10.0.0.2:4000", 200);
    store.save_peers(&[first.clone(), second.clone()]).unwrap();

    let mut updated = first.clone();
    updated.addr = "10.0.0.9:5000".to_owned();
    updated.last_seen = 300;
    updated.fail_count = u32::MAX;
    updated.last_fail = i64::MAX;
    updated.reachable = false;
    store.save_peers(&[updated.clone()]).unwrap();
    let loaded = store.load_peers().unwrap().records;
    assert_eq!(loaded.len(), 2);
    assert!(loaded.contains(&updated));
    assert!(loaded.contains(&second));

    // The later record of a batch wins.
    let mut last = second.clone();
    last.last_seen = 999;
    store.save_peers(&[second.clone(), last.clone()]).unwrap();
    assert!(store.load_peers().unwrap().records.contains(&last));

    let unknown = NodeId::from_public_key(&[9; 32]);
    store.forget_peers(&[first.node_id, unknown]).unwrap();
    assert_eq!(store.load_peers().unwrap().records, vec![last]);
    store.forget_peers(&[]).unwrap();
    store.save_peers(&[]).unwrap();
}

#[test]
fn invalid_rows_are_skipped_with_reasons() {
    let _no_spawn = no_spawn();
    let dir = TempDir::new("skip");
    let good = record(1, "10.0.0.1:4000", 1);
    let keyless = {
        let mut r = record(2, "example.com:4000", 2);
        r.public_key = None;
        r
    };
    {
        let mut store = Store::open(&dir.db()).unwrap();
        store.save_peers(&[good.clone(), keyless.clone()]).unwrap();
    }
    let node = |seed: u8| NodeId::from_public_key(&[seed; 32]).as_str().to_owned();
    let key = |seed: u8| hex::encode([seed; 32]);
    let conn = raw_conn(&dir.db());
    let insert = |node_id: rusqlite::types::Value,
                  addr: &str,
                  reachable: i64,
                  public_key: &str,
                  fail_count: i64| {
        conn.execute(
            "INSERT INTO peers VALUES (?1, ?2, ?3, ?4, 0, ?5, 0)",
            rusqlite::params![node_id, addr, reachable, public_key, fail_count],
        )
        .unwrap();
    };
    use rusqlite::types::Value::{Blob, Integer, Text};
    insert(Text(String::new()), "10.0.0.1:1", 1, "", 0);
    insert(Text(node(3)), "0.0.0.0:4000", 1, &key(3), 0);
    insert(Text(node(4)), "10.0.0.4:4000", 1, "not hex!", 0);
    insert(Text(node(5)), "10.0.0.5:4000", 1, "abcd", 0);
    insert(Text(node(6)), "10.0.0.6:4000", 1, &key(60), 0);
    insert(Text("not-a-node-id".to_owned()), "10.0.0.7:4000", 1, "", 0);
    insert(Text(node(8)), "10.0.0.8:4000", 2, "", 0);
    insert(Text(node(9)), "10.0.0.9:4000", 1, "", -1);
    insert(Integer(10), "10.0.0.10:4000", 1, "", 0);
    insert(Blob(vec![0xff; 3]), "10.0.0.11:4000", 1, "", 0);
    conn.execute(
        "INSERT INTO peers VALUES (?1, 'x:1', 1, '', 'yesterday', 0, 0)",
        [node(12)],
    )
    .unwrap();
    drop(conn);

    let store = Store::open(&dir.db()).unwrap();
    let LoadedPeers { records, skipped } = store.load_peers().unwrap();
    let mut expected = vec![good, keyless];
    expected.sort_by_key(|r| r.node_id);
    assert_eq!(records, expected);

    let reason_of = |id: &str| {
        skipped
            .iter()
            .find(|s| s.node_id == id)
            .map(|s| s.reason.clone())
            .unwrap_or_else(|| panic!("{id} not skipped: {skipped:?}"))
    };
    assert_eq!(reason_of(""), SkipReason::EmptyNodeId);
    assert_eq!(reason_of(&node(3)), SkipReason::InvalidAddr);
    assert_eq!(reason_of(&node(4)), SkipReason::InvalidKeyEncoding);
    assert_eq!(reason_of(&node(5)), SkipReason::InvalidKeyLength);
    assert_eq!(reason_of(&node(6)), SkipReason::MismatchedKey);
    assert_eq!(reason_of("not-a-node-id"), SkipReason::InvalidNodeId);
    assert!(matches!(reason_of(&node(8)), SkipReason::Malformed(_)));
    assert!(matches!(reason_of(&node(9)), SkipReason::Malformed(_)));
    assert!(matches!(reason_of(&node(12)), SkipReason::Malformed(_)));
    // The TEXT column's affinity stored the integer node id as the text "10".
    assert_eq!(reason_of("10"), SkipReason::InvalidNodeId);
    // The blob node id has no text to report.
    let malformed_without_id = skipped
        .iter()
        .filter(|s| s.node_id.is_empty() && matches!(s.reason, SkipReason::Malformed(_)))
        .count();
    assert_eq!(malformed_without_id, 1, "{skipped:?}");
    assert_eq!(skipped.len(), 11, "{skipped:?}");
    for skip in &skipped {
        assert!(!skip.reason.log_message().is_empty());
    }
}

#[test]
fn appendix_a5_json_exact_bytes() {
    let _no_spawn = no_spawn();
    assert_eq!(record_to_json(&a5_record()), A5_JSON);
    assert_eq!(record_from_json(A5_JSON).unwrap(), a5_record());

    // No key is omitted when empty or zero.
    let mut empty = a5_record();
    empty.addr.clear();
    empty.public_key = None;
    empty.reachable = false;
    empty.last_seen = 0;
    assert_eq!(
        record_to_json(&empty),
        format!(
            r#"{{"node_id":"{A5_NODE}","addr":"","reachable":false,"public_key":"","last_seen":0,"fail_count":0,"last_fail":0}}"#
        )
    );
    assert_eq!(record_from_json(&record_to_json(&empty)).unwrap(), empty);

    let mut extreme = a5_record();
    extreme.last_seen = i64::MIN;
    extreme.fail_count = u32::MAX;
    extreme.last_fail = i64::MAX;
    assert_eq!(
        record_from_json(&record_to_json(&extreme)).unwrap(),
        extreme
    );
}

#[test]
fn second_open_fails_fast_with_locked() {
    let _no_spawn = no_spawn();
    let dir = TempDir::new("locked");
    let first = Store::open(&dir.db()).unwrap();
    let started = Instant::now();
    let second = Store::open(&dir.db());
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    match second {
        Err(StoreError::Locked { path }) => assert_eq!(path, dir.db()),
        other => panic!("expected Locked, got {other:?}"),
    }
    let message = Store::open(&dir.db()).unwrap_err().to_string();
    assert!(
        message.contains("another micelio node is already using the data directory"),
        "{message}"
    );
    assert!(message.contains(&dir.0.display().to_string()), "{message}");
    // The first store is unaffected.
    assert!(first.integrity_check().unwrap());
}

#[test]
fn lock_is_released_on_drop_and_close() {
    let _no_spawn = no_spawn();
    let dir = TempDir::new("release");
    let store = Store::open(&dir.db()).unwrap();
    drop(store);
    let store = Store::open(&dir.db()).unwrap();
    store.close().unwrap();
    let mut store = Store::open(&dir.db()).unwrap();
    store.save_peers(&[record(1, "10.0.0.1:1", 1)]).unwrap();
    drop(store);
    assert_eq!(
        Store::open(&dir.db())
            .unwrap()
            .load_peers()
            .unwrap()
            .records
            .len(),
        1
    );
}

/// Not a test of its own: run by [`lock_is_released_when_the_holder_is_killed`] in a child
/// process, it holds the store named by [`HOLDER_ENV`] until killed.
#[test]
fn lock_holder_child() {
    let Some(path) = std::env::var_os(HOLDER_ENV) else {
        return;
    };
    let mut store = Store::open(Path::new(&path)).unwrap();
    store.save_peers(&[record(1, "10.0.0.1:1", 1)]).unwrap();
    println!("LOCK_HELD");
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn lock_is_released_when_the_holder_is_killed() {
    let dir = TempDir::new("kill");
    let spawning = SPAWNING.write().unwrap_or_else(PoisonError::into_inner);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "lock_holder_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HOLDER_ENV, dir.db())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(spawning);
    let stdout = child.stdout.take().unwrap();
    let held = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains("LOCK_HELD"));
    if !held {
        let _ = child.kill();
        let _ = child.wait();
        panic!("child did not take the lock");
    }

    let started = Instant::now();
    let blocked = Store::open(&dir.db());
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        matches!(blocked, Err(StoreError::Locked { .. })),
        "{blocked:?}"
    );

    child.kill().unwrap(); // SIGKILL: no destructor runs, the kernel drops the lock.
    let _ = child.wait();
    let store = Store::open(&dir.db()).unwrap();
    assert!(store.integrity_check().unwrap());
    assert_eq!(
        store.load_peers().unwrap().records,
        vec![record(1, "10.0.0.1:1", 1)]
    );
}

#[test]
fn integrity_check_and_wal() {
    let _no_spawn = no_spawn();
    let dir = TempDir::new("integrity");
    let mut store = Store::open(&dir.db()).unwrap();
    store.save_peers(&[record(1, "10.0.0.1:1", 1)]).unwrap();
    assert!(store.integrity_check().unwrap());
    let conn = raw_conn(&dir.db());
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    drop(conn);
    store.close().unwrap();
    // close() checkpoints and truncates the log.
    let wal = std::fs::metadata(dir.0.join("data.db-wal")).map(|m| m.len());
    assert!(matches!(wal, Ok(0) | Err(_)), "{wal:?}");
}

#[test]
fn schema_is_created_at_the_current_version() {
    let _no_spawn = no_spawn();
    let dir = TempDir::new("schema");
    let store = Store::open(&dir.db()).unwrap();
    assert_eq!(SCHEMA_VERSION, 2);
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let conn = raw_conn(&dir.db());
    let mut statement = conn
        .prepare("SELECT name, type, \"notnull\", pk FROM pragma_table_info('peers') ORDER BY cid")
        .unwrap();
    let columns: Vec<(String, String, bool, bool)> = statement
        .query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let expected = [
        ("node_id", "TEXT", false, true),
        ("addr", "TEXT", true, false),
        ("reachable", "INTEGER", true, false),
        ("public_key", "TEXT", true, false),
        ("last_seen", "INTEGER", true, false),
        ("fail_count", "INTEGER", true, false),
        ("last_fail", "INTEGER", true, false),
    ]
    .map(|(n, t, nn, pk)| (n.to_owned(), t.to_owned(), nn, pk));
    assert_eq!(columns, expected);
    drop(statement);
    drop(conn);
    drop(store);
    // Reopening at the current version runs no migration and keeps the data.
    let store = Store::open(&dir.db()).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn version_zero_database_is_migrated() {
    let _no_spawn = no_spawn();
    let dir = TempDir::new("migrate");
    // An existing SQLite file at version 0 with unrelated content.
    let conn = raw_conn(&dir.db());
    conn.execute_batch("CREATE TABLE other (x); INSERT INTO other VALUES (1);")
        .unwrap();
    drop(conn);
    let mut store = Store::open(&dir.db()).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    store.save_peers(&[record(1, "10.0.0.1:1", 1)]).unwrap();
    drop(store);
    let count: i64 = raw_conn(&dir.db())
        .query_row("SELECT count(*) FROM other", [], |row| row.get(0))
        .unwrap();
    assert_eq!(count, 1);
}

#[test]
fn newer_database_is_refused() {
    let _no_spawn = no_spawn();
    for version in [SCHEMA_VERSION + 1, 99] {
        let dir = TempDir::new("toonew");
        raw_conn(&dir.db())
            .pragma_update(None, "user_version", version)
            .unwrap();
        match Store::open(&dir.db()) {
            Err(StoreError::TooNew { found, supported }) => {
                assert_eq!((found, supported), (version, SCHEMA_VERSION));
            }
            other => panic!("expected TooNew, got {other:?}"),
        }
        // Nothing was changed, and the lock was released.
        let conn = raw_conn(&dir.db());
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
            .unwrap();
        assert_eq!(tables, 0);
        let message = Store::open(&dir.db()).unwrap_err().to_string();
        assert!(message.contains("newer"), "{message}");
    }
    // A negative user_version is read as a huge unsigned one.
    let dir = TempDir::new("negative");
    raw_conn(&dir.db())
        .pragma_update(None, "user_version", -1)
        .unwrap();
    assert!(matches!(
        Store::open(&dir.db()),
        Err(StoreError::TooNew {
            found: u32::MAX,
            ..
        })
    ));
}

#[test]
fn not_a_database_is_an_error_not_a_panic() {
    let _no_spawn = no_spawn();
    let dir = TempDir::new("garbage");
    std::fs::write(dir.db(), vec![0x5a; 8192]).unwrap();
    assert!(matches!(Store::open(&dir.db()), Err(StoreError::Sqlite(_))));
    // The failed open did not keep the lock.
    std::fs::remove_file(dir.db()).unwrap();
    assert!(Store::open(&dir.db()).is_ok());
}

#[test]
fn missing_directory_is_an_io_error() {
    let _no_spawn = no_spawn();
    let dir = TempDir::new("missing");
    let path = dir.0.join("no-such-dir").join("data.db");
    assert!(matches!(Store::open(&path), Err(StoreError::Io { .. })));
}

#[cfg(unix)]
#[test]
fn files_are_created_with_mode_0600() {
    let _no_spawn = no_spawn();
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("mode");
    let mut store = Store::open(&dir.db()).unwrap();
    store.save_peers(&[record(1, "10.0.0.1:1", 1)]).unwrap();
    for name in ["data.db", "data.db.lock", "data.db-wal", "data.db-shm"] {
        let mode = std::fs::metadata(dir.0.join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}: {mode:o}");
    }
}

#[test]
fn state_entries_and_clock_survive_a_reopen() {
    let _no_spawn = no_spawn();
    let dir = TempDir::new("state");
    let mut store = Store::open(&dir.db()).unwrap();
    assert_eq!(
        store.load_state().unwrap(),
        (0, Vec::new()),
        "nothing stored yet"
    );
    let entries = vec![
        ("b".to_owned(), vec![2u8; 40]),
        ("a".to_owned(), vec![1u8; 30]),
        ("gone".to_owned(), vec![9u8; 10]),
    ];
    store.save_state(&entries, &[], Some(7)).unwrap();
    // A later batch replaces a key, forgets one, and moves the clock (kept as 64 bits).
    let replaced = vec![("b".to_owned(), vec![3u8; 5])];
    store
        .save_state(&replaced, &["gone".to_owned()], Some(u64::MAX - 1))
        .unwrap();
    store.close().unwrap();
    let store = Store::open(&dir.db()).unwrap();
    let (clock, loaded) = store.load_state().unwrap();
    assert_eq!(clock, u64::MAX - 1);
    assert_eq!(loaded, vec![vec![1u8; 30], vec![3u8; 5]], "in key order");
}
