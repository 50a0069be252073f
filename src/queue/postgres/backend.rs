//! [`PostgresQueue`] and its [`QueueBackend`]: each transition one statement in autocommit on
//! the queue's pool, bounded by the command timeout; a waiting take woken by `NOTIFY`, polling
//! as the fallback; the migration and the ping.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnection, PgPool};
use tokio::sync::Notify;

use super::listen::Listener;
use super::sql::Sql;
use super::{STORE, job};
use crate::Clock;
use crate::queue::waiting::take_waiting;
use crate::queue::{Enqueue, Job, JobRecord, JobState, storage_key};
use crate::store::StoreError;
use crate::store::backend::{bounded, unavailable};
use crate::store::sql::{micros, micros_after};

/// How often an enqueue tries again when the row it met vanished (purged, or replaced by
/// another enqueue) between two statements.
const MAX_ATTEMPTS: usize = 8;

/// The advisory lock that serializes concurrent [`PostgresQueue::migrate`] calls. "amps-q" in
/// ASCII.
const MIGRATION_LOCK: i64 = 0x616d_7073_2d71;

/// A statement with its binds.
type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// A row of a take: when it was due, its record, its new token.
type TakenRow = (
    i64,
    i64,
    String,
    String,
    Option<String>,
    i64,
    i64,
    Vec<u8>,
    String,
    i32,
    Option<String>,
    i64,
    String,
);

/// A durable queue in PostgreSQL: one table of jobs, shared by every receiver that enqueues
/// and every worker that takes (in any number of processes), each namespace a queue of its
/// own.
///
/// - **enqueue** is one `INSERT ... ON CONFLICT (namespace, key) DO NOTHING` that also reads
///   the state of the job the key already has (a `Duplicate`) and `NOTIFY`s the namespace's
///   channel when it inserted. A done job whose retention is over is replaced by a second
///   statement.
/// - **take** is one `UPDATE ... FROM (SELECT ... FOR UPDATE SKIP LOCKED LIMIT n)`: concurrent
///   workers never wait for each other nor get the same job; the token is a fresh
///   `gen_random_uuid()`. A take that finds nothing waits for a notification (a dedicated
///   `LISTEN` connection), looking again every [`poll`](super::PostgresQueueBuilder::poll)
///   as the fallback.
/// - **renew, complete, fail, release** are fenced by the token: a worker whose job was
///   taken over gets [`StoreError::StaleToken`] and changes nothing.
/// - [`complete_in`](Self::complete_in) marks the job done inside the handler's own
///   transaction: the business writes and the completion commit together (exactly-once
///   effects); [`transactional`](Self::transactional) wraps a handler so.
///
/// Times are computed from the injected [`Clock`] and bound as parameters (never the
/// database's `now()`): give every instance a clock in step, and tests a
/// [`MockClock`](crate::MockClock). Each statement answers within the command timeout
/// (default 2 s) or fails with [`StoreError::Timeout`]; a refused or broken connection is
/// [`StoreError::Unavailable`].
#[derive(Clone)]
pub struct PostgresQueue {
    inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) pool: PgPool,
    pub(super) sql: Sql,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) command_timeout: Duration,
    pub(super) poll: Duration,
    pub(super) listener: Listener,
}

impl std::fmt::Debug for PostgresQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: it is not kept, so it cannot be printed.
        f.debug_struct("PostgresQueue")
            .field("table", &self.inner.sql.table)
            .field("clock", &self.inner.clock)
            .field("command_timeout", &self.inner.command_timeout)
            .field("poll", &self.inner.poll)
            .finish_non_exhaustive()
    }
}

fn state(name: &str, table: &str) -> Result<JobState, StoreError> {
    Ok(match name {
        "pending" => JobState::Pending,
        "running" => JobState::Running,
        "done" => JobState::Done,
        "dead" => JobState::Dead,
        other => {
            return Err(StoreError::UnexpectedReply {
                store: STORE,
                detail: format!("a job in {table} holds the state {other:?}"),
            });
        }
    })
}

pub(super) fn fenced(rows: u64) -> Result<(), StoreError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::StaleToken)
    }
}

impl PostgresQueue {
    pub(super) fn from_inner(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    pub(super) fn sql(&self) -> &Sql {
        &self.inner.sql
    }

    pub(super) fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The pool the queue's statements run on.
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// The table, qualified by its schema when one is configured.
    #[must_use]
    pub fn table(&self) -> &str {
        &self.inner.sql.table
    }

    /// The SQL that [`migrate`](Self::migrate) runs (idempotent: `IF NOT EXISTS` throughout),
    /// for applications that keep every migration in their own tool: the jobs table, the
    /// sequence that orders the dead, and three partial indexes (due jobs, done jobs, dead
    /// jobs). For the default table it is the file `src/queue/postgres/migration.sql`.
    #[must_use]
    pub fn migration_sql(&self) -> &str {
        &self.inner.sql.migration
    }

    /// Creates the schema (if configured), the table, its sequence and its indexes, when
    /// missing. Safe to run from several instances at once (serialized by an advisory lock).
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when PostgreSQL does not answer or refuses the DDL (check
    /// the user's `CREATE` privilege).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let unavailable = |error| unavailable(STORE, error);
        let mut tx = self.pool().begin().await.map_err(unavailable)?;
        let conn: &mut PgConnection = &mut tx;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await
            .map_err(unavailable)?;
        for statement in self.inner.sql.migration.split_inclusive(";\n") {
            sqlx::query(statement)
                .execute(&mut *conn)
                .await
                .map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)
    }

    /// Checks that PostgreSQL answers within the command timeout.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] or [`StoreError::Timeout`] when it does not.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.bounded(async {
            sqlx::query("SELECT 1").execute(self.pool()).await?;
            Ok(())
        })
        .await
    }

    /// The channel a namespace's enqueues notify: derived from the table and the namespace
    /// (hashed, as a channel name has at most 63 bytes).
    pub(super) fn channel(&self, namespace: &str) -> String {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        hasher.update(self.inner.sql.channel_base.as_bytes());
        hasher.update([0]);
        hasher.update(namespace.as_bytes());
        let digest = hasher.finalize();
        let mut channel = String::from("amps_jobs_");
        for byte in &digest[..16] {
            channel.push_str(&format!("{byte:02x}"));
        }
        channel
    }

    /// `operation` within the command timeout.
    pub(super) async fn bounded<T>(
        &self,
        operation: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, StoreError> {
        bounded(STORE, self.inner.command_timeout, operation).await
    }

    pub(super) async fn enqueue_job(
        &self,
        namespace: &str,
        job: &JobRecord,
    ) -> Result<Enqueue, StoreError> {
        let sql = self.sql();
        let now = micros(self.clock().now());
        let stored = storage_key(&job.key);
        let channel = self.channel(namespace);
        let headers =
            serde_json::to_string(&job.headers).map_err(|error| StoreError::UnexpectedReply {
                store: STORE,
                detail: format!(
                    "the headers of {:?} cannot be written as JSON ({error})",
                    job.key
                ),
            })?;
        let bind = |statement| {
            sqlx::query(statement)
                .bind(namespace)
                .bind(&stored)
                .bind(&job.key)
                .bind(&job.webhook_id)
                .bind(job.event_type.as_deref())
                .bind(i64::try_from(job.timestamp.as_unix()).unwrap_or(i64::MAX))
                .bind(micros(job.received_at))
                .bind(&job.body)
                .bind(&headers)
                .bind(i32::try_from(job.attempts).unwrap_or(i32::MAX))
                .bind(job.last_error.as_deref())
                .bind(now)
                .bind(&channel)
        };
        for _ in 0..MAX_ATTEMPTS {
            let (inserted, found, done_until): (i64, Option<String>, Option<i64>) = self
                .bounded(async {
                    let row = bind(&sql.enqueue).fetch_one(self.pool()).await?;
                    sqlx::FromRow::from_row(&row)
                })
                .await?;
            if inserted == 1 {
                return Ok(Enqueue::Enqueued);
            }
            // The row was inserted by a transaction that committed after this statement's
            // snapshot: read it again.
            let (found, done_until) = match found {
                Some(found) => (found, done_until),
                None => match self
                    .bounded(
                        sqlx::query_as::<_, (String, Option<i64>)>(&sql.existing)
                            .bind(namespace)
                            .bind(&stored)
                            .fetch_optional(self.pool()),
                    )
                    .await?
                {
                    Some(row) => row,
                    None => continue,
                },
            };
            let found = state(&found, &sql.table)?;
            if found == JobState::Done && done_until.is_some_and(|until| until <= now) {
                let replaced: i64 = self
                    .bounded(async {
                        let row = bind(&sql.replace_expired).fetch_one(self.pool()).await?;
                        sqlx::Row::try_get(&row, 0)
                    })
                    .await?;
                if replaced == 1 {
                    return Ok(Enqueue::Enqueued);
                }
                continue;
            }
            return Ok(Enqueue::Duplicate { state: found });
        }
        Err(StoreError::UnexpectedReply {
            store: STORE,
            detail: format!(
                "the job of {:?} in {} changed under {MAX_ATTEMPTS} enqueues in a row",
                job.key, sql.table
            ),
        })
    }

    /// One take: the due jobs, oldest first.
    async fn take_now(
        &self,
        namespace: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<Job>, StoreError> {
        let now = micros(self.clock().now());
        let mut rows: Vec<TakenRow> = self
            .bounded(
                sqlx::query_as(&self.sql().take)
                    .bind(namespace)
                    .bind(now)
                    .bind(i64::try_from(max).unwrap_or(i64::MAX))
                    .bind(micros_after(now, lease))
                    .fetch_all(self.pool()),
            )
            .await?;
        rows.sort_unstable_by_key(|row| (row.0, row.1));
        rows.into_iter()
            .map(|row| {
                let (_, a, b, c, d, e, f, g, h, i, j, k, token) = row;
                job((a, b, c, d, e, f, g, h, i, j, k), &token, &self.sql().table)
            })
            .collect()
    }

    pub(super) async fn take_jobs(
        &self,
        namespace: &str,
        max: usize,
        lease: Duration,
        wait: Duration,
    ) -> Result<Vec<Job>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let waker: Option<Arc<Notify>> = if wait.is_zero() {
            None
        } else {
            Some(self.inner.listener.waker(&self.channel(namespace)).await)
        };
        take_waiting(wait, self.inner.poll, waker.as_deref(), || {
            self.take_now(namespace, max, lease)
        })
        .await
    }

    /// Runs the fenced `statement` (`$1` namespace, `$2` stored key, `$3` token, then what
    /// `then` binds) and answers how many rows it changed.
    pub(super) async fn fenced_update<'q>(
        &self,
        statement: &'q str,
        job: &Job,
        namespace: &'q str,
        then: impl FnOnce(PgQuery<'q>) -> PgQuery<'q>,
    ) -> Result<u64, StoreError> {
        let query = sqlx::query(statement)
            .bind(namespace)
            .bind(storage_key(job.key()))
            .bind(job.lease().token.to_string());
        let query = then(query);
        self.bounded(async { Ok(query.execute(self.pool()).await?.rows_affected()) })
            .await
    }

    pub(super) async fn renew_job(
        &self,
        namespace: &str,
        job: &Job,
        lease: Duration,
    ) -> Result<(), StoreError> {
        let until = micros_after(micros(self.clock().now()), lease);
        fenced(
            self.fenced_update(&self.sql().renew, job, namespace, |query| query.bind(until))
                .await?,
        )
    }

    pub(super) async fn complete_job(
        &self,
        namespace: &str,
        job: &Job,
        retention: Duration,
    ) -> Result<(), StoreError> {
        let now = micros(self.clock().now());
        let stored = storage_key(job.key());
        let done: bool = self
            .bounded(
                sqlx::query_scalar(&self.sql().complete)
                    .bind(namespace)
                    .bind(&stored)
                    .bind(job.lease().token.to_string())
                    .bind(micros_after(now, retention))
                    .fetch_one(self.pool()),
            )
            .await?;
        if done {
            Ok(())
        } else {
            Err(StoreError::StaleToken)
        }
    }

    pub(super) async fn fail_job(
        &self,
        namespace: &str,
        job: &Job,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<(), StoreError> {
        let now = micros(self.clock().now());
        let rows = match retry_in {
            Some(delay) => {
                self.fenced_update(&self.sql().fail_retry, job, namespace, |query| {
                    query.bind(error).bind(micros_after(now, delay))
                })
                .await?
            }
            None => {
                self.fenced_update(&self.sql().fail_dead, job, namespace, |query| {
                    query.bind(error).bind(now)
                })
                .await?
            }
        };
        fenced(rows)
    }

    pub(super) async fn release_job(&self, namespace: &str, job: &Job) -> Result<(), StoreError> {
        let now = micros(self.clock().now());
        let stored = storage_key(job.key());
        let released: i64 = self
            .bounded(
                sqlx::query_scalar(&self.sql().release)
                    .bind(namespace)
                    .bind(&stored)
                    .bind(job.lease().token.to_string())
                    .bind(now)
                    .bind(self.channel(namespace))
                    .fetch_one(self.pool()),
            )
            .await?;
        fenced(released.unsigned_abs())
    }
}
