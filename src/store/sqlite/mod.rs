//! The SQLite store: one database file in WAL mode, opened and migrated by the builder
//! ([`builder`]), the statements of the idempotency table ([`sql`]) and the
//! [`IdempotencyStore`](crate::store::IdempotencyStore) protocol on them ([`store`]). What the
//! SQLite queue reuses lives here too: [`Database`], the opened file with its pool and its
//! write gate, and the reading of SQLite's errors.
//!
//! Built on sqlx 0.8's SQLite driver with the bundled SQLite (nothing to install). Times come
//! from the injected [`Clock`](crate::Clock), bound as integer microseconds since the Unix
//! epoch; SQLite's own clock is never read.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::store::StoreError;
use crate::store::backend::{configuration, unavailable};
use crate::store::sql::SqlOptions;

mod builder;
mod sql;
mod store;

pub use builder::SqliteStoreBuilder;
pub use store::SqliteStore;

const STORE: &str = "sqlite";

/// The default table name of the idempotency store.
pub const DEFAULT_SQLITE_TABLE: &str = "amps_webhooks_inbox";

/// The default command timeout: every operation answers within it (waiting for the file's
/// write lock and for a pool connection included), or fails with [`StoreError::Timeout`].
pub const DEFAULT_SQLITE_COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// The default SQLite busy timeout: how long a statement waits for another process's write
/// lock on the file before SQLite answers `SQLITE_BUSY`.
pub const DEFAULT_SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The default size of the connection pool (readers; the writers of one process take turns).
pub const DEFAULT_SQLITE_MAX_CONNECTIONS: u32 = 8;

/// SQLite's primary result codes that mean "this file is not one to use" (the low byte of the
/// extended code that sqlx reports).
const SQLITE_READONLY: i64 = 8;
const SQLITE_IOERR: i64 = 10;
const SQLITE_CANTOPEN: i64 = 14;
const SQLITE_PERM: i64 = 3;
const SQLITE_CORRUPT: i64 = 11;
const SQLITE_NOTADB: i64 = 26;

/// An opened database file: its pool, and the gate its writers pass one at a time.
///
/// SQLite lets one writer at a time hold a file. Between processes, a writer that finds the
/// file locked waits in SQLite's busy handler (the busy timeout), which sleeps in steps of up
/// to 100 ms; within one process the writers take turns on the gate instead (an async mutex),
/// so that they neither sleep nor hold a pool connection while they wait.
#[derive(Clone)]
pub(crate) struct Database {
    pub(crate) pool: SqlitePool,
    pub(crate) path: Arc<Path>,
    pub(crate) gate: Arc<tokio::sync::Mutex<()>>,
    pub(crate) command_timeout: Duration,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.path)
            .field("command_timeout", &self.command_timeout)
            .finish_non_exhaustive()
    }
}

/// Where a store's or a queue's database comes from.
pub(crate) enum Source {
    /// A file, opened (and created when missing) by the builder.
    Path(PathBuf),
    /// The application's own pool (the one its transactions come from), on a file.
    Pool(SqlitePool),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Path(path) => f.debug_tuple("Path").field(path).finish(),
            Self::Pool(_) => f.write_str("Pool(..)"),
        }
    }
}

/// The options a file is opened with: WAL, the busy timeout, `synchronous = FULL` (a commit
/// is on disk before it returns: an acknowledged delivery survives a power cut), created when
/// missing.
fn connect_options(path: &Path, busy_timeout: Duration) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(busy_timeout)
}

impl Database {
    /// Opens `source` (creating the file when missing), checks that it is an SQLite database
    /// this process can write, in WAL mode, and runs `migration` in one write transaction.
    pub(crate) async fn open(
        source: Source,
        options: &SqlOptions,
        busy_timeout: Duration,
        migration: &str,
    ) -> Result<Self, StoreError> {
        let (pool, path) = match source {
            Source::Path(path) => {
                if path.as_os_str().is_empty() {
                    return Err(configuration(
                        STORE,
                        "the SQLite database path is empty; give the path of a file (created when missing)",
                    ));
                }
                // SQLite opens a file it cannot write read-only, and a WAL database answers
                // reads (and empty write transactions) from there: ask the system first.
                if path.exists()
                    && let Err(error) = std::fs::OpenOptions::new()
                        .read(true)
                        .write(true)
                        .open(&path)
                {
                    return Err(configuration(
                        STORE,
                        format!(
                            "cannot write {} ({error}); check that the file and its directory exist and are writable by this process",
                            path.display()
                        ),
                    ));
                }
                let pool = SqlitePoolOptions::new()
                    .max_connections(options.max_connections)
                    .acquire_timeout(options.command_timeout)
                    .connect_with(connect_options(&path, busy_timeout))
                    .await
                    .map_err(|error| open_error(&path, error))?;
                (pool, path)
            }
            Source::Pool(pool) => {
                let path = pool.connect_options().get_filename().to_path_buf();
                (pool, path)
            }
        };
        let database = Self {
            pool,
            path: Arc::from(path),
            gate: Arc::default(),
            command_timeout: options.command_timeout,
        };
        database.migrate(migration).await?;
        Ok(database)
    }

    /// Checks the file's journal mode and runs `migration` (statements ending in `;\n`) in
    /// one `BEGIN IMMEDIATE` transaction: safe from several processes at once, and the first
    /// write to the file, so that a file this process cannot write is found here.
    async fn migrate(&self, migration: &str) -> Result<(), StoreError> {
        let path = &self.path;
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&self.pool)
            .await
            .map_err(|error| open_error(path, error))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(configuration(
                STORE,
                format!(
                    "cannot write {}: the database stays in journal mode {mode:?}, not WAL (the file or its directory is read-only to this process); check their permissions",
                    path.display()
                ),
            ));
        }
        let _turn = self.gate.lock().await;
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|error| open_error(path, error))?;
        for statement in migration.split_inclusive(";\n") {
            sqlx::query(statement)
                .execute(&mut *tx)
                .await
                .map_err(|error| open_error(path, error))?;
        }
        tx.commit().await.map_err(|error| open_error(path, error))
    }
}

/// SQLite's primary result code of `error`, when it is one of SQLite's.
pub(crate) fn result_code(error: &sqlx::Error) -> Option<i64> {
    let code = error.as_database_error()?.code()?;
    code.parse::<i64>().ok().map(|code| code & 0xff)
}

/// An error met while opening or migrating `path`: a file that is not a database, or that this
/// process cannot open or write, is [`StoreError::Configuration`] naming the path (the
/// operator must change something); anything else is [`StoreError::Unavailable`].
fn open_error(path: &Path, error: sqlx::Error) -> StoreError {
    let shown = path.display();
    match result_code(&error) {
        Some(SQLITE_NOTADB | SQLITE_CORRUPT) => configuration(
            STORE,
            format!(
                "{shown} is not an SQLite database ({error}); give the path of an SQLite database, or of a new file to create"
            ),
        ),
        Some(SQLITE_READONLY | SQLITE_CANTOPEN | SQLITE_PERM | SQLITE_IOERR) => configuration(
            STORE,
            format!(
                "cannot write {shown} ({error}); check that the file and its directory exist and are writable by this process"
            ),
        ),
        _ => unavailable(STORE, error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_errors_name_the_path() {
        let path = Path::new("/srv/hooks.db");
        match open_error(path, sqlx::Error::PoolTimedOut) {
            StoreError::Unavailable { store, .. } => assert_eq!(store, "sqlite"),
            other => panic!("expected Unavailable, got {other:?}"),
        }
        let source = Source::Path(path.to_path_buf());
        assert_eq!(format!("{source:?}"), "Path(\"/srv/hooks.db\")");
    }
}
