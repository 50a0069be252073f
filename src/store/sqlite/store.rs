//! [`SqliteStore`]: the [`IdempotencyStore`] protocol on one SQLite table, each operation
//! bounded by the command timeout; the migration's SQL and the purge.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::SqlitePool;

use super::sql::Sql;
use super::{Database, STORE};
use crate::Clock;
use crate::store::backend::bounded;
use crate::store::sql::{
    Found, MAX_CLAIM_ATTEMPTS, claim_kept_changing, live_record, micros, micros_after,
};
use crate::store::{Claim, ClaimToken, IdempotencyStore, StoreError, StoreFuture};

/// Rows deleted per statement by [`SqliteStore::purge_expired`].
const PURGE_BATCH: i64 = 1_000;

/// An idempotency store in one SQLite database file: durable across restarts, shared by the
/// processes of one machine, with nothing to run beside the application.
///
/// `claim` writes an in-flight row with a token and a lease in one statement (an
/// `INSERT ... ON CONFLICT DO UPDATE` that takes over only an expired row); `complete` turns
/// it into a completed row kept for the retention, if the token still holds it; `release`
/// deletes it. The file is in WAL mode (readers never wait for the writer) with
/// `synchronous = FULL` (a completion is on disk before it is acknowledged). SQLite admits one
/// writer at a time: within a process the writers take turns on an async gate, between
/// processes they wait in SQLite's busy handler, up to the busy timeout (default 5 s); every
/// operation is bounded by the command timeout (default 2 s), then [`StoreError::Timeout`].
///
/// SQLite locks the file with POSIX locks and shares memory through the `-shm` file beside it:
/// keep the file on a local disk of one machine (not a network share). For several machines,
/// use PostgreSQL or Redis.
///
/// Leases and retentions are integer microseconds from the injected [`Clock`] (tests use a
/// [`MockClock`](crate::MockClock)). Expired rows are ignored by every operation and deleted by
/// [`purge_expired`](Self::purge_expired), which the application schedules (or
/// [`spawn_purger`](Self::spawn_purger)).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use amps_webhooks::store::{Deduplicator, SqliteStore};
///
/// let dir = tempfile::tempdir()?;
/// // The file and its table are created on first use.
/// let store = SqliteStore::builder(dir.path().join("webhooks.db")).connect().await?;
/// let _purger = store.spawn_purger(Duration::from_secs(3600));
/// let dedup = Deduplicator::new(Arc::new(store), "orders")?;
/// let first = dedup.run_key("evt_1", || async { Ok::<_, std::io::Error>(()) }).await;
/// assert!(first.is_processed());
/// let again = dedup.run_key("evt_1", || async { Ok::<_, std::io::Error>(()) }).await;
/// assert!(again.is_duplicate());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    pub(super) database: Database,
    pub(super) sql: Arc<Sql>,
    pub(super) clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.database.path)
            .field("table", &self.sql.table)
            .field("clock", &self.clock)
            .field("command_timeout", &self.database.command_timeout)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// The pool the store runs on.
    #[must_use]
    pub fn pool(&self) -> &SqlitePool {
        &self.database.pool
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.database.path
    }

    /// The table.
    #[must_use]
    pub fn table(&self) -> &str {
        &self.sql.table
    }

    /// The command timeout.
    #[must_use]
    pub fn command_timeout(&self) -> Duration {
        self.database.command_timeout
    }

    /// The SQL that [`connect`](super::SqliteStoreBuilder::connect) runs (idempotent: `IF NOT
    /// EXISTS` throughout), for applications that keep every migration in their own tool: the
    /// table (key, state, token, `expires_at`, timestamps, as integer microseconds since the
    /// Unix epoch) and an index on `expires_at` for the purge.
    #[must_use]
    pub fn migration_sql(&self) -> &str {
        &self.sql.migration
    }

    /// Deletes every row whose lease or retention has run out (by the store's clock), in
    /// batches of 1,000, and returns how many it deleted. Expired rows are already ignored by
    /// every operation: this only reclaims space. Schedule it (hourly is plenty), or use
    /// [`spawn_purger`](Self::spawn_purger).
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] or [`StoreError::Timeout`] (each batch has the command
    /// timeout) when SQLite fails; the batches deleted before stay deleted.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        let now = micros(self.clock.now());
        let mut total = 0;
        loop {
            let deleted = self
                .bounded(async {
                    let _turn = self.database.gate.lock().await;
                    Ok(sqlx::query(&self.sql.purge)
                        .bind(now)
                        .bind(PURGE_BATCH)
                        .execute(&self.database.pool)
                        .await?
                        .rows_affected())
                })
                .await?;
            total += deleted;
            if deleted < PURGE_BATCH.unsigned_abs() {
                return Ok(total);
            }
        }
    }

    /// Runs [`purge_expired`](Self::purge_expired) every `every` on the current tokio runtime,
    /// until the returned handle is aborted; failures are logged (feature `tracing`) and retried
    /// at the next tick.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or with `every` zero (as `tokio::time::interval`).
    pub fn spawn_purger(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        crate::store::sql::spawn_purger(self.sql.table.clone(), every, move || {
            let store = store.clone();
            async move { store.purge_expired().await }
        })
    }

    /// `operation` within the command timeout.
    async fn bounded<T>(
        &self,
        operation: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, StoreError> {
        bounded(STORE, self.database.command_timeout, operation).await
    }

    async fn claim_key(&self, key: &str, lease: Duration) -> Result<Claim, StoreError> {
        let now = micros(self.clock.now());
        let token = ClaimToken::random();
        let until = micros_after(now, lease);
        let pool = &self.database.pool;
        let found = self
            .bounded(async {
                for _ in 0..MAX_CLAIM_ATTEMPTS {
                    // One statement: a fresh or expired key is the caller's at once.
                    let written = {
                        let _turn = self.database.gate.lock().await;
                        sqlx::query(&self.sql.claim)
                            .bind(key)
                            .bind(token.to_string())
                            .bind(now)
                            .bind(until)
                            .execute(pool)
                            .await?
                            .rows_affected()
                    };
                    if written == 1 {
                        return Ok(Ok(Found::Written));
                    }
                    let row: Option<(String, i64)> = sqlx::query_as(&self.sql.select)
                        .bind(key)
                        .fetch_optional(pool)
                        .await?;
                    // Released or purged between the two statements: try again.
                    if let Some(found) = live_record(STORE, &self.sql.table, row, now) {
                        return Ok(found);
                    }
                }
                Ok(Err(claim_kept_changing(STORE, &self.sql.table, key)))
            })
            .await??;
        Ok(match found {
            Found::Written => Claim::Acquired(token),
            Found::Completed => Claim::Completed,
            Found::InFlight { retry_after } => Claim::InFlight { retry_after },
        })
    }

    async fn complete_key(
        &self,
        key: &str,
        token: ClaimToken,
        retention: Duration,
    ) -> Result<(), StoreError> {
        let now = micros(self.clock.now());
        let done = self
            .bounded(async {
                let _turn = self.database.gate.lock().await;
                Ok(sqlx::query(&self.sql.complete)
                    .bind(key)
                    .bind(token.to_string())
                    .bind(now)
                    .bind(micros_after(now, retention))
                    .execute(&self.database.pool)
                    .await?
                    .rows_affected())
            })
            .await?;
        if done == 1 {
            Ok(())
        } else {
            Err(StoreError::StaleToken)
        }
    }

    async fn release_key(&self, key: &str, token: ClaimToken) -> Result<(), StoreError> {
        let now = micros(self.clock.now());
        // The delete and the look at what is left, in one write transaction: no claim can
        // land between them.
        let (released, live) = self
            .bounded(async {
                let _turn = self.database.gate.lock().await;
                let mut tx = self.database.pool.begin_with("BEGIN IMMEDIATE").await?;
                let released = sqlx::query(&self.sql.release)
                    .bind(key)
                    .bind(token.to_string())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    == 1;
                let live: bool = sqlx::query_scalar(&self.sql.live)
                    .bind(key)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok((released, live))
            })
            .await?;
        if released || !live {
            Ok(())
        } else {
            Err(StoreError::StaleToken)
        }
    }
}

impl IdempotencyStore for SqliteStore {
    fn name(&self) -> &'static str {
        STORE
    }

    fn claim<'a>(
        &'a self,
        key: &'a str,
        lease: Duration,
    ) -> StoreFuture<'a, Result<Claim, StoreError>> {
        StoreFuture::new(self.claim_key(key, lease))
    }

    fn complete<'a>(
        &'a self,
        key: &'a str,
        token: ClaimToken,
        retention: Duration,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        StoreFuture::new(self.complete_key(key, token, retention))
    }

    fn release<'a>(
        &'a self,
        key: &'a str,
        token: ClaimToken,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        StoreFuture::new(self.release_key(key, token))
    }
}
