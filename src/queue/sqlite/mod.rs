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
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::sqlite::SqlitePool;
use tokio::sync::Notify;

use crate::Clock;
use crate::queue::{Job, JobRecord, Lease};
use crate::store::sql::{SqlOptions, check_identifier, sql_builder_options};
use crate::store::sqlite::{Database, Source};
use crate::store::{
    ClaimToken, DEFAULT_SQLITE_BUSY_TIMEOUT, DEFAULT_SQLITE_COMMAND_TIMEOUT,
    DEFAULT_SQLITE_MAX_CONNECTIONS, StoreError,
};
use crate::verify::WebhookTimestamp;

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
type RecordRow = (
    i64,
    String,
    String,
    Option<String>,
    i64,
    i64,
    Vec<u8>,
    String,
    i64,
    Option<String>,
    i64,
);

fn time(micros: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(u64::try_from(micros).unwrap_or(0))
}

/// The record of a row; its sequence number as the second value (the lease's handle).
fn record(row: RecordRow, table: &str) -> Result<(JobRecord, i64), StoreError> {
    let (
        seq,
        key,
        webhook_id,
        event_type,
        timestamp,
        received,
        body,
        headers,
        attempts,
        last_error,
        next,
    ) = row;
    let headers: Vec<(String, String)> =
        serde_json::from_str(&headers).map_err(|error| StoreError::UnexpectedReply {
            store: STORE,
            detail: format!(
                "the headers of the job {key:?} in {table} are not pairs of strings ({error})"
            ),
        })?;
    Ok((
        JobRecord {
            webhook_id,
            key,
            event_type,
            timestamp: WebhookTimestamp::from_unix(u64::try_from(timestamp).unwrap_or(0)),
            received_at: time(received),
            body,
            headers,
            attempts: u32::try_from(attempts).unwrap_or(0),
            last_error,
            next_run_at: time(next),
        },
        seq,
    ))
}

/// The job of a row taken under `token` (32 hex digits).
fn job(row: RecordRow, token: &str, table: &str) -> Result<Job, StoreError> {
    let (record, seq) = record(row, table)?;
    let token = u128::from_str_radix(token, 16).map_err(|_| StoreError::UnexpectedReply {
        store: STORE,
        detail: format!(
            "the token of the job {:?} in {table} is {token:?}",
            record.key
        ),
    })?;
    let until = record.next_run_at;
    Ok(Job::new(
        record,
        Lease {
            token: ClaimToken::from_u128(token),
            until,
            handle: seq.to_string().into(),
        },
    ))
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
