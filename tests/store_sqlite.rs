//! The conformance suite on SQLite (a fresh database file in a temporary directory per test,
//! time on a `MockClock`), and the SQLite store's own checks: the file created on first use
//! and durable across a reopen, two independent pools on one file, WAL mode, the purge, and
//! the errors for a file that is not a database or that cannot be written.
// The helpers are not tests: clippy.toml's test allowances do not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "store_common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use amps_webhooks::MockClock;
use amps_webhooks::store::sqlx;
use amps_webhooks::store::{Claim, IdempotencyStore, SqliteStore, StoreError};
use common::Harness;

const LEASE: Duration = Duration::from_secs(60);
const RETENTION: Duration = Duration::from_secs(72 * 3600);

async fn open(path: &Path, clock: &MockClock) -> SqliteStore {
    SqliteStore::builder(path)
        .clock(clock.clone())
        .command_timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap()
}

/// A store on a new file in a new temporary directory, its clock, and the directory (removed
/// when dropped).
async fn fresh() -> (SqliteStore, MockClock, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let clock = MockClock::at_unix(1_700_000_000);
    let store = open(&dir.path().join("store.db"), &clock).await;
    (store, clock, dir)
}

async fn harness() -> Harness {
    let (store, clock, dir) = fresh().await;
    Harness {
        store: Arc::new(store),
        advance: Arc::new(move |by| {
            // The directory lives as long as the harness.
            let _dir = &dir;
            clock.advance(by);
            Box::pin(async {})
        }),
        lease: LEASE,
        retention: RETENTION,
        namespace: "sqlite-test".to_owned(),
    }
}

conformance_tests!(harness());

async fn rows(store: &SqliteStore) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM \"{}\"", store.table()))
        .fetch_one(store.pool())
        .await
        .unwrap()
}

fn configuration_detail(outcome: Result<SqliteStore, StoreError>) -> String {
    match outcome {
        Err(StoreError::Configuration {
            store: "sqlite",
            detail,
        }) => detail,
        other => panic!("expected a configuration error of the sqlite store, got {other:?}"),
    }
}

#[tokio::test]
async fn the_file_and_its_table_are_created_on_first_use_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    assert!(!path.exists());
    let clock = MockClock::at_unix(1_700_000_000);
    let store = open(&path, &clock).await;
    assert!(path.exists());
    assert_eq!(store.path(), path);
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(busy, 5_000);
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(synchronous, 2, "FULL");
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM pragma_table_info('amps_webhooks_inbox') ORDER BY cid",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(
        columns,
        [
            "key",
            "state",
            "token",
            "expires_at",
            "created_at",
            "updated_at"
        ]
    );
    assert!(
        store
            .migration_sql()
            .starts_with("CREATE TABLE IF NOT EXISTS \"amps_webhooks_inbox\" (")
    );
}

#[tokio::test]
async fn completions_survive_a_reopen() {
    let (store, clock, dir) = fresh().await;
    let Claim::Acquired(token) = store.claim("ns:evt_1", LEASE).await.unwrap() else {
        panic!("expected Acquired")
    };
    store.complete("ns:evt_1", token, RETENTION).await.unwrap();
    let _ = store.claim("ns:evt_2", LEASE).await.unwrap();
    store.pool().close().await;
    drop(store);
    let again = open(&dir.path().join("store.db"), &clock).await;
    assert_eq!(
        again.claim("ns:evt_1", LEASE).await.unwrap(),
        Claim::Completed
    );
    assert!(matches!(
        again.claim("ns:evt_2", LEASE).await.unwrap(),
        Claim::InFlight { retry_after } if retry_after == LEASE
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pools_on_one_file_race_for_a_key_with_one_winner() {
    let (first, clock, dir) = fresh().await;
    let second = open(&dir.path().join("store.db"), &clock).await;
    for round in 0..20 {
        let key = format!("ns:evt_{round}");
        let racers: Vec<_> = (0..16)
            .map(|i| {
                let store = if i % 2 == 0 {
                    first.clone()
                } else {
                    second.clone()
                };
                let key = key.clone();
                tokio::spawn(async move { store.claim(&key, LEASE).await.unwrap() })
            })
            .collect();
        let mut acquired = 0;
        for racer in racers {
            match racer.await.unwrap() {
                Claim::Acquired(_) => acquired += 1,
                Claim::InFlight { .. } => {}
                Claim::Completed => panic!("nothing completed {key}"),
            }
        }
        assert_eq!(acquired, 1, "{key}");
    }
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_a_configuration_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "these are my notes, not a database\n".repeat(200)).unwrap();
    let detail = configuration_detail(SqliteStore::builder(&path).connect().await);
    assert!(
        detail.starts_with(&format!("{} is not an SQLite database (", path.display())),
        "{detail}"
    );
    assert!(detail.contains("file is not a database"), "{detail}");
    assert!(
        detail.ends_with("give the path of an SQLite database, or of a new file to create"),
        "{detail}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap().len(),
        35 * 200,
        "left as it was"
    );
}

/// A file this process cannot write, even as root: mode 0444, and immutable (`chattr +i`)
/// where the process may set that; made writable again when dropped, so that the directory can
/// be removed.
struct ReadOnly(PathBuf);

impl ReadOnly {
    fn new(path: PathBuf) -> Self {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|out| out.stdout.starts_with(b"0\n"));
        if root {
            let status = std::process::Command::new("chattr")
                .arg("+i")
                .arg(&path)
                .status()
                .expect("as root, this test needs chattr (e2fsprogs) to make a file read-only");
            assert!(status.success(), "chattr +i {}", path.display());
        }
        Self(path)
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o644));
    }
}

#[tokio::test]
async fn a_file_that_cannot_be_written_is_a_configuration_error_naming_it() {
    let (store, clock, dir) = fresh().await;
    store.pool().close().await;
    drop(store);
    let path = dir.path().join("store.db");
    // The WAL's side files go with the last connection; the database alone is left.
    let _ = std::fs::remove_file(dir.path().join("store.db-wal"));
    let _ = std::fs::remove_file(dir.path().join("store.db-shm"));
    let _read_only = ReadOnly::new(path.clone());
    let detail = configuration_detail(
        SqliteStore::builder(&path)
            .clock(clock.clone())
            .connect()
            .await,
    );
    assert!(
        detail.starts_with(&format!("cannot write {}", path.display())),
        "{detail}"
    );
    assert!(
        detail.ends_with("check their permissions")
            || detail.ends_with(
                "check that the file and its directory exist and are writable by this process"
            ),
        "{detail}"
    );
}

#[tokio::test]
async fn a_path_in_a_missing_directory_is_a_configuration_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("store.db");
    let detail = configuration_detail(SqliteStore::builder(&path).connect().await);
    assert_eq!(
        detail,
        format!(
            "cannot write {} (error returned from database: (code: 14) unable to open database file); check that the file and its directory exist and are writable by this process",
            path.display()
        )
    );
    assert!(!path.exists());
}

#[tokio::test]
async fn bad_configuration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for table in ["", "Upper", "with-dash", "1st", &"t".repeat(49)] {
        let detail = configuration_detail(
            SqliteStore::builder(dir.path().join("t.db"))
                .table(table)
                .connect()
                .await,
        );
        assert_eq!(
            detail,
            "the table name must be 1 to 48 characters from `a-z 0-9 _`, not starting with a digit"
        );
    }
    assert!(!dir.path().join("t.db").exists(), "nothing opened");
    let detail = configuration_detail(SqliteStore::builder("").connect().await);
    assert_eq!(
        detail,
        "the SQLite database path is empty; give the path of a file (created when missing)"
    );
}

#[tokio::test]
async fn a_store_on_the_applications_pool_and_its_own_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let pool = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal),
    )
    .await
    .unwrap();
    let clock = MockClock::at_unix(1_700_000_000);
    let store = SqliteStore::with_pool(pool.clone())
        .table("hooks")
        .clock(clock)
        .connect()
        .await
        .unwrap();
    assert_eq!((store.table(), store.path()), ("hooks", path.as_path()));
    let _ = store.claim("ns:a", LEASE).await.unwrap();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM hooks")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
    assert!(format!("{store:?}").contains("app.db"));
}

#[tokio::test]
async fn purge_deletes_exactly_the_expired_rows() {
    let (store, clock, _dir) = fresh().await;
    // 1,500 completions kept 10 minutes (more than one purge batch), 3 leases of 1 minute,
    // 1 completion kept 72 hours.
    for i in 0..1_500 {
        let key = format!("short-{i}");
        let Claim::Acquired(token) = store.claim(&key, LEASE).await.unwrap() else {
            panic!("expected Acquired")
        };
        store
            .complete(&key, token, Duration::from_secs(600))
            .await
            .unwrap();
    }
    for i in 0..3 {
        let _ = store.claim(&format!("lease-{i}"), LEASE).await.unwrap();
    }
    let Claim::Acquired(token) = store.claim("long", LEASE).await.unwrap() else {
        panic!("expected Acquired")
    };
    store.complete("long", token, RETENTION).await.unwrap();
    assert_eq!(store.purge_expired().await.unwrap(), 0);
    clock.advance(LEASE);
    assert_eq!(store.purge_expired().await.unwrap(), 3);
    clock.advance(Duration::from_secs(600));
    assert_eq!(store.purge_expired().await.unwrap(), 1_500);
    assert_eq!(rows(&store).await, 1);
    assert_eq!(store.claim("long", LEASE).await.unwrap(), Claim::Completed);
}

#[tokio::test]
async fn spawned_purger_purges_at_once() {
    let (store, clock, _dir) = fresh().await;
    for i in 0..5 {
        let _ = store.claim(&format!("k{i}"), LEASE).await.unwrap();
    }
    clock.advance(LEASE);
    let _ = store.claim("live", LEASE).await.unwrap();
    // tokio's interval ticks at once: the first purge runs as soon as the task does.
    let purger = store.spawn_purger(Duration::from_secs(3600));
    let mut left = -1;
    for _ in 0..1_000 {
        left = rows(&store).await;
        if left == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    purger.abort();
    assert_eq!(left, 1, "only the live claim is left");
}

#[tokio::test]
async fn tokens_fence_across_two_pools() {
    let (first, clock, dir) = fresh().await;
    let second = open(&dir.path().join("store.db"), &clock).await;
    let Claim::Acquired(stale) = first.claim("ns:evt", LEASE).await.unwrap() else {
        panic!("expected Acquired")
    };
    clock.advance(LEASE);
    let Claim::Acquired(fresh) = second.claim("ns:evt", LEASE).await.unwrap() else {
        panic!("the lapsed lease is taken over")
    };
    assert!(matches!(
        first.complete("ns:evt", stale, RETENTION).await,
        Err(StoreError::StaleToken)
    ));
    assert!(matches!(
        first.release("ns:evt", stale).await,
        Err(StoreError::StaleToken)
    ));
    second.complete("ns:evt", fresh, RETENTION).await.unwrap();
    assert_eq!(
        first.claim("ns:evt", LEASE).await.unwrap(),
        Claim::Completed
    );
}

/// The `store` label of its metrics.
#[tokio::test]
async fn the_store_names_itself_sqlite() {
    let (store, _clock, _dir) = fresh().await;
    assert_eq!(store.name(), "sqlite");
}
