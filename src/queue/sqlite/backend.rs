//! [`SqliteQueue`] and its [`QueueBackend`](crate::queue::QueueBackend): each write one
//! statement under the file's write lock (in process, the writers take turns on the database's
//! gate), bounded by the command timeout; a waiting take woken by an enqueue in this process,
//! polling otherwise.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::SqlitePool;
use tokio::sync::Notify;

use super::sql::Sql;
use super::{RecordRow, STORE, job, record};
use crate::Clock;
use crate::queue::waiting::take_waiting;
use crate::queue::{Enqueue, Job, JobRecord, JobState, QueueStats, Redrive, storage_key};
use crate::store::StoreError;
use crate::store::backend::bounded;
use crate::store::sql::{micros, micros_after};
use crate::store::sqlite::Database;

/// Rows deleted per statement by [`purge`](crate::queue::QueueBackend::purge).
const PURGE_BATCH: i64 = 1_000;

/// How often an enqueue tries again when the row it met vanished between two statements.
const MAX_ATTEMPTS: usize = 8;

/// A row of a take: its record, its new token, when it was due.
type TakenRow = (
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
    String,
    i64,
);

/// A durable queue in one SQLite database file: one table of jobs, shared by the receivers
/// and workers of one machine (any number of processes on the same file: `listen --enqueue`
/// in one, `work` in another), each namespace a queue of its own.
///
/// - **enqueue** is one `INSERT ... ON CONFLICT (namespace, key) DO NOTHING`; a duplicate's
///   state is read after it, and a done job whose retention is over is replaced.
/// - **take** is one `UPDATE ... WHERE seq IN (SELECT ... ORDER BY next_run_at, seq LIMIT n)
///   RETURNING ...`. SQLite has no `SKIP LOCKED`: the statement runs under the file's write
///   lock, which serializes takers (and every other writer), so two workers, in one process
///   or in two, never get the same job; the tokens are fresh `randomblob(16)`s. A take that
///   finds nothing waits: woken at once by an enqueue, a release or a redrive of this
///   process, looking again every [`poll`](super::SqliteQueueBuilder::poll) (default 50 ms)
///   for what other processes enqueue.
/// - **renew, complete, fail, release** are fenced by the token: a worker whose job was
///   taken over gets [`StoreError::StaleToken`] and changes nothing.
/// - [`complete_in`](Self::complete_in) marks the job done inside the handler's own
///   transaction, and [`transactional`](Self::transactional) wraps a handler so: the business
///   writes and the completion commit together (exactly-once effects), as on PostgreSQL.
///
/// The file is in WAL mode with `synchronous = FULL`: an enqueued job is on disk before the
/// receiver answers 200. Keep it on a local disk of one machine; for several machines use
/// PostgreSQL or Redis. Times come from the injected [`Clock`] (tests use a
/// [`MockClock`](crate::MockClock)).
///
/// The whole path (receive with `integrations::axum::enqueue_route`, enqueue, work with the
/// transactional handler) runs as written in `examples/queue_sqlite.rs` (`cargo run --example
/// queue_sqlite --features queue,sqlite,axum`).
#[derive(Clone)]
pub struct SqliteQueue {
    inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) database: Database,
    pub(super) sql: Sql,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) poll: Duration,
    /// Woken by this process's enqueues, releases and redrives.
    pub(super) woken: Notify,
}

impl std::fmt::Debug for SqliteQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteQueue")
            .field("path", &self.inner.database.path)
            .field("table", &self.inner.sql.table)
            .field("clock", &self.inner.clock)
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

fn fenced(rows: u64) -> Result<(), StoreError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::StaleToken)
    }
}

/// A statement with its binds.
type LiteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

impl SqliteQueue {
    pub(super) fn from_parts(inner: Inner) -> Self {
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

    pub(super) fn database(&self) -> &Database {
        &self.inner.database
    }

    /// The pool the queue's statements run on.
    #[must_use]
    pub fn pool(&self) -> &SqlitePool {
        &self.inner.database.pool
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.inner.database.path
    }

    /// The table.
    #[must_use]
    pub fn table(&self) -> &str {
        &self.inner.sql.table
    }

    /// The SQL that [`connect`](super::SqliteQueueBuilder::connect) runs (idempotent: `IF NOT
    /// EXISTS` throughout): the jobs table and three partial indexes (due, done, dead jobs).
    #[must_use]
    pub fn migration_sql(&self) -> &str {
        &self.inner.sql.migration
    }

    /// `operation` within the command timeout.
    async fn bounded<T>(
        &self,
        operation: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, StoreError> {
        bounded(STORE, self.inner.database.command_timeout, operation).await
    }

    /// `query`, executed under the write gate within the command timeout: rows affected.
    async fn write(&self, query: LiteQuery<'_>) -> Result<u64, StoreError> {
        self.bounded(async {
            let _turn = self.inner.database.gate.lock().await;
            Ok(query.execute(self.pool()).await?.rows_affected())
        })
        .await
    }

    async fn enqueue_job(&self, namespace: &str, job: &JobRecord) -> Result<Enqueue, StoreError> {
        let sql = self.sql();
        let now = micros(self.clock().now());
        let stored = storage_key(&job.key);
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
                .bind(i64::from(job.attempts))
                .bind(job.last_error.as_deref())
                .bind(now)
        };
        for _ in 0..MAX_ATTEMPTS {
            if self.write(bind(&sql.enqueue)).await? == 1 {
                self.inner.woken.notify_waiters();
                return Ok(Enqueue::Enqueued);
            }
            let Some((found, done_until)) = self
                .bounded(
                    sqlx::query_as::<_, (String, Option<i64>)>(&sql.existing)
                        .bind(namespace)
                        .bind(&stored)
                        .fetch_optional(self.pool()),
                )
                .await?
            else {
                continue;
            };
            let found = state(&found, &sql.table)?;
            if found == JobState::Done && done_until.is_some_and(|until| until <= now) {
                if self.write(bind(&sql.replace_expired)).await? == 1 {
                    self.inner.woken.notify_waiters();
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
            .bounded(async {
                let _turn = self.inner.database.gate.lock().await;
                sqlx::query_as(&self.sql().take)
                    .bind(namespace)
                    .bind(now)
                    .bind(i64::try_from(max).unwrap_or(i64::MAX))
                    .bind(micros_after(now, lease))
                    .fetch_all(self.pool())
                    .await
            })
            .await?;
        rows.sort_unstable_by_key(|row| (row.12, row.0));
        rows.into_iter()
            .map(|row| {
                let (a, b, c, d, e, f, g, h, i, j, k, token, _) = row;
                job((a, b, c, d, e, f, g, h, i, j, k), &token, &self.sql().table)
            })
            .collect()
    }

    async fn take_jobs(
        &self,
        namespace: &str,
        max: usize,
        lease: Duration,
        wait: Duration,
    ) -> Result<Vec<Job>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        take_waiting(wait, self.inner.poll, Some(&self.inner.woken), || {
            self.take_now(namespace, max, lease)
        })
        .await
    }

    /// The fenced `statement` (`?1` namespace, `?2` stored key, `?3` token, then what `then`
    /// binds): how many rows it changed.
    async fn fenced_update<'q>(
        &self,
        statement: &'q str,
        job: &Job,
        namespace: &'q str,
        then: impl FnOnce(LiteQuery<'q>) -> LiteQuery<'q>,
    ) -> Result<u64, StoreError> {
        let query = sqlx::query(statement)
            .bind(namespace)
            .bind(storage_key(job.key()))
            .bind(job.lease().token.to_string());
        self.write(then(query)).await
    }

    async fn renew_job(
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

    async fn complete_job(
        &self,
        namespace: &str,
        job: &Job,
        retention: Duration,
    ) -> Result<(), StoreError> {
        let until = micros_after(micros(self.clock().now()), retention);
        let rows = self
            .fenced_update(&self.sql().complete, job, namespace, |query| {
                query.bind(until)
            })
            .await?;
        if rows == 1 {
            return Ok(());
        }
        // Already done under this token (a transactional handler's commit): a no-op.
        let done: bool = self
            .bounded(
                sqlx::query_scalar(&self.sql().done_under)
                    .bind(namespace)
                    .bind(storage_key(job.key()))
                    .bind(job.lease().token.to_string())
                    .fetch_one(self.pool()),
            )
            .await?;
        if done {
            Ok(())
        } else {
            Err(StoreError::StaleToken)
        }
    }

    async fn fail_job(
        &self,
        namespace: &str,
        job: &Job,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<(), StoreError> {
        let now = micros(self.clock().now());
        let (statement, at) = match retry_in {
            Some(delay) => (&self.sql().fail_retry, micros_after(now, delay)),
            None => (&self.sql().fail_dead, now),
        };
        fenced(
            self.fenced_update(statement, job, namespace, |query| {
                query.bind(error).bind(at)
            })
            .await?,
        )
    }

    async fn release_job(&self, namespace: &str, job: &Job) -> Result<(), StoreError> {
        let now = micros(self.clock().now());
        fenced(
            self.fenced_update(&self.sql().release, job, namespace, |query| query.bind(now))
                .await?,
        )?;
        self.inner.woken.notify_waiters();
        Ok(())
    }

    async fn redrive_jobs(&self, namespace: &str, which: Redrive<'_>) -> Result<u64, StoreError> {
        let now = micros(self.clock().now());
        let stored = match which {
            Redrive::Key(key) => Some(storage_key(key)),
            Redrive::All => None,
        };
        let moved = self
            .write(
                sqlx::query(&self.sql().redrive)
                    .bind(namespace)
                    .bind(now)
                    .bind(stored),
            )
            .await?;
        if moved > 0 {
            self.inner.woken.notify_waiters();
        }
        Ok(moved)
    }

    async fn dead_jobs(&self, namespace: &str, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        let rows: Vec<RecordRow> = self
            .bounded(
                sqlx::query_as(&self.sql().dead)
                    .bind(namespace)
                    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                    .fetch_all(self.pool()),
            )
            .await?;
        rows.into_iter()
            .map(|row| record(row, &self.sql().table).map(|(record, _)| record))
            .collect()
    }

    async fn stats_of(&self, namespace: &str) -> Result<QueueStats, StoreError> {
        let now = micros(self.clock().now());
        let (pending, running, dead, done, oldest): (i64, i64, i64, i64, Option<i64>) = self
            .bounded(
                sqlx::query_as(&self.sql().stats)
                    .bind(namespace)
                    .bind(now)
                    .fetch_one(self.pool()),
            )
            .await?;
        Ok(QueueStats {
            pending: pending.unsigned_abs(),
            running: running.unsigned_abs(),
            dead: dead.unsigned_abs(),
            done: done.unsigned_abs(),
            oldest_pending_age: oldest.map(|oldest| {
                Duration::from_micros(now.saturating_sub(oldest).max(0).unsigned_abs())
            }),
        })
    }

    async fn purge_done(&self, namespace: &str) -> Result<u64, StoreError> {
        let now = micros(self.clock().now());
        let mut total = 0;
        loop {
            let deleted = self
                .write(
                    sqlx::query(&self.sql().purge)
                        .bind(namespace)
                        .bind(now)
                        .bind(PURGE_BATCH),
                )
                .await?;
            total += deleted;
            if deleted < PURGE_BATCH.unsigned_abs() {
                return Ok(total);
            }
        }
    }
}

crate::queue::backend::delegate_queue_backend!(SqliteQueue, STORE);
