//! The SQLite backend of the queue: [`SqliteQueue`], one jobs table in one database file,
//! shared by the processes of one machine; takes serialized by SQLite's write lock, woken in
//! process by an enqueue and polling otherwise; and the transactional handler
//! ([`SqliteQueue::complete_in`], [`SqliteQueue::transactional`]), whose business writes
//! commit with the job's completion, as on PostgreSQL.
//!
//! The parts: the statements ([`sql`]), the [`QueueBackend`](crate::queue::QueueBackend)
//! ([`backend`]) and the transactional path ([`transactional`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::SqlitePool;
use tokio::sync::Notify;

use crate::Clock;
use crate::store::sql::{SqlOptions, check_identifier, sql_builder_options};
use crate::store::sqlite::{Database, Source};
use crate::store::{
    DEFAULT_SQLITE_BUSY_TIMEOUT, DEFAULT_SQLITE_COMMAND_TIMEOUT, DEFAULT_SQLITE_MAX_CONNECTIONS,
    StoreError,
};

mod backend;
mod sql;
mod transactional;

pub use backend::SqliteQueue;

const STORE: &str = "sqlite";

/// The default name of the jobs table.
pub const DEFAULT_SQLITE_QUEUE_TABLE: &str = "amps_webhook_jobs";

/// How often a waiting [`take`](crate::queue::QueueBackend::take) looks again, unless
/// configured: SQLite has no notifications between processes, so a job enqueued by another
/// process (or a retry that becomes due) is seen within this interval. Enqueues in the same
/// process wake a waiting take at once.
pub const DEFAULT_SQLITE_QUEUE_POLL: Duration = Duration::from_millis(50);

/// A job's row as the statements return it (see `sql::RECORD`).
type RecordRow = crate::queue::rows::Row;

/// The record of a row; its sequence number as the second value.
fn record(row: RecordRow, table: &str) -> Result<(crate::queue::JobRecord, i64), StoreError> {
    crate::queue::rows::record(STORE, row, table)
}

/// The job of a row taken under `token` (32 hex digits).
fn job(row: RecordRow, token: &str, table: &str) -> Result<crate::queue::Job, StoreError> {
    crate::queue::rows::job(STORE, row, token, table)
}

/// Configures a [`SqliteQueue`].
#[derive(Debug)]
pub struct SqliteQueueBuilder {
    source: Source,
    options: SqlOptions,
    busy_timeout: Duration,
    poll: Duration,
}

sql_builder_options!(
    SqliteQueueBuilder,
    "SQLite",
    "amps_webhook_jobs",
    "48",
    "8",
    "[`SqliteQueue::with_pool`]"
);

impl SqliteQueueBuilder {
    /// How long a statement waits for another process's write lock on the file (default 5 s).
    /// Ignored with [`SqliteQueue::with_pool`].
    #[must_use]
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// How often a waiting take looks again (default 50 ms): the delay before a job enqueued
    /// by another process is seen.
    #[must_use]
    pub fn poll(mut self, poll: Duration) -> Self {
        self.poll = poll.max(Duration::from_millis(1));
        self
    }

    /// The queue: opens the file (creating it when missing, in WAL mode), checks that it is an
    /// SQLite database this process can write, and creates the jobs table and its indexes when
    /// missing ([`migration_sql`](SqliteQueue::migration_sql)).
    ///
    /// # Errors
    ///
    /// [`StoreError::Configuration`] for a malformed table name, an empty path, a file that is
    /// not an SQLite database, or one that this process cannot create or write (the message
    /// names the path); [`StoreError::Unavailable`] when SQLite fails otherwise.
    pub async fn connect(self) -> Result<SqliteQueue, StoreError> {
        let options = self.options;
        check_identifier(STORE, "table", &options.table, 48)?;
        let sql = sql::Sql::new(&options.table);
        let database =
            Database::open(self.source, &options, self.busy_timeout, &sql.migration).await?;
        Ok(SqliteQueue::from_parts(backend::Inner {
            database,
            sql,
            clock: options.clock,
            poll: self.poll,
            woken: Notify::new(),
        }))
    }
}

impl SqliteQueue {
    /// Configures a queue on the database file at `path` (created when missing); the same
    /// file as a [`SqliteStore`](crate::store::SqliteStore) is fine (their tables differ).
    #[must_use]
    pub fn builder(path: impl Into<PathBuf>) -> SqliteQueueBuilder {
        SqliteQueueBuilder::new(Source::Path(path.into()))
    }

    /// Configures a queue on the application's own pool (the one its transactions come from),
    /// opened on a file in WAL mode with a busy timeout.
    #[must_use]
    pub fn with_pool(pool: SqlitePool) -> SqliteQueueBuilder {
        SqliteQueueBuilder::new(Source::Pool(pool))
    }
}

impl SqliteQueueBuilder {
    fn new(source: Source) -> Self {
        Self {
            source,
            options: SqlOptions::new(
                DEFAULT_SQLITE_QUEUE_TABLE,
                DEFAULT_SQLITE_COMMAND_TIMEOUT,
                DEFAULT_SQLITE_MAX_CONNECTIONS,
            ),
            busy_timeout: DEFAULT_SQLITE_BUSY_TIMEOUT,
            poll: DEFAULT_SQLITE_QUEUE_POLL,
        }
    }
}

/// The clock of a queue (for the transactional path).
fn now_micros(clock: &Arc<dyn Clock>) -> i64 {
    crate::store::sql::micros(clock.now())
}
