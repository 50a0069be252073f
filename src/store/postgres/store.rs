//! [`PostgresStore`], the leased path: the [`IdempotencyStore`] protocol on the store's pool,
//! each operation bounded by the command timeout; the migration, the ping and the purge.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnection, PgPool};

use super::sql::{Sql, Write};
use super::{STORE, unavailable};
use crate::Clock;
use crate::store::backend::bounded;
use crate::store::sql::{Found, micros, micros_after};
use crate::store::{Claim, ClaimToken, IdempotencyStore, StoreError, StoreFuture};

/// Rows deleted per statement by [`PostgresStore::purge_expired`].
const PURGE_BATCH: i64 = 1_000;

/// The key of the advisory lock that serializes concurrent [`PostgresStore::migrate`] calls
/// (`CREATE ... IF NOT EXISTS` races otherwise). "amps-wh" in ASCII.
const MIGRATION_LOCK: i64 = 0x0061_6d70_732d_7768;

/// An idempotency store in PostgreSQL: one table (the inbox), shared by every instance of a
/// receiver, and joinable by the receiver's own transactions.
///
/// Two paths share the table:
///
/// - **Leased**, the [`IdempotencyStore`] protocol (so a [`Deduplicator`](crate::store::Deduplicator) and the framework
///   integrations use it like any store): `claim` writes an in-flight row with a token and a
///   lease; `complete` turns it into a completed row kept for the retention; `release` deletes
///   it. Each is one statement in autocommit on the store's pool (a claim that meets an existing
///   row reads it with one or two more).
/// - **Transactional**, [`PostgresInbox::claim_in`](super::PostgresInbox::claim_in): inside the caller's transaction, it writes
///   the *completed* row at once. The row is uncommitted until the caller commits its own
///   writes, so the effect and its record commit together or not at all: a rollback, or a crash
///   before the commit, leaves the event unprocessed for the retry. No lease is needed: the
///   uncommitted row is the claim, held by the database until the transaction ends.
///
/// How the two meet, on one key:
///
/// - A claim of either kind that meets an *uncommitted* transactional row waits for that
///   transaction: it is then answered [`Claim::Completed`] if it committed, or claims the event
///   if it rolled back. On the leased path the wait is bounded by the command timeout
///   (then [`StoreError::Timeout`]: fail closed, the sender retries); inside a transaction it is
///   bounded by that transaction's own `lock_timeout` or `statement_timeout`, if set.
/// - A transactional claim that meets a live lease is answered [`InboxClaim::InFlight`](super::InboxClaim::InFlight): the
///   leased worker is running the handler; roll back (or commit nothing) and answer 409.
/// - A transactional claim that meets a lapsed lease takes the event over; the leased worker's
///   late `complete` then gets [`StoreError::StaleToken`] (its handler ran outside the
///   transaction, so, as on every store, a lease shorter than the handler allows a second run).
/// - The transactional path takes no row lock when it answers `Completed` or `InFlight`, so a
///   transaction that goes on after such an answer holds up nobody.
///
/// On the leased path, a lost connection, a refused one, or an operation slower than the command
/// timeout (default 2 s) is a [`StoreError`], never a silent pass. A claim that times out after
/// PostgreSQL applied it holds the key until its lease runs out: retries meanwhile are told
/// [`Claim::InFlight`], never run twice.
///
/// Run transactional claims at `READ COMMITTED` (PostgreSQL's default): there, a duplicate that
/// waited reads the first transaction's outcome. At `REPEATABLE READ` or `SERIALIZABLE` the
/// waiting duplicate gets a serialization failure instead ([`StoreError::Unavailable`], 503:
/// the sender retries and is then answered as a duplicate).
///
/// Leases and retentions are kept in the table as timestamps computed from the injected
/// [`Clock`] and compared with the clock's `now`, passed as a parameter (never the database's
/// `now()`): give every instance a clock in step (the system clock, NTP-synchronised), and tests
/// a [`MockClock`](crate::MockClock). Expired rows are ignored by every operation and deleted by
/// [`purge_expired`](Self::purge_expired), which the application schedules (or
/// [`spawn_purger`](Self::spawn_purger)).
///
/// ```no_run
/// # async fn demo() -> Result<(), amps_webhooks::store::StoreError> {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use amps_webhooks::store::{Deduplicator, PostgresStore};
///
/// let store = PostgresStore::builder("postgres://postgres@127.0.0.1/app")
///     .table("webhook_inbox")
///     .connect()
///     .await?;
/// store.migrate().await?; // once at start-up, or run `migration_sql()` in your own migrations
/// let _purger = store.spawn_purger(Duration::from_secs(3600));
/// let dedup = Deduplicator::new(Arc::new(store), "orders")?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    pub(super) pool: PgPool,
    pub(super) sql: Arc<Sql>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) command_timeout: Duration,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: it is not kept, so it cannot be printed.
        f.debug_struct("PostgresStore")
            .field("table", &self.sql.table)
            .field("clock", &self.clock)
            .field("command_timeout", &self.command_timeout)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// The pool the leased path runs on.
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The table, qualified by its schema when one is configured.
    #[must_use]
    pub fn table(&self) -> &str {
        &self.sql.table
    }

    /// The command timeout.
    #[must_use]
    pub fn command_timeout(&self) -> Duration {
        self.command_timeout
    }

    /// The SQL that [`migrate`](Self::migrate) runs (idempotent: `IF NOT EXISTS` throughout),
    /// for applications that keep every migration in their own tool: the table (key, state,
    /// token, lease and retention expiry, a generated `expires_at`, timestamps) and an index on
    /// `expires_at` for the purge.
    #[must_use]
    pub fn migration_sql(&self) -> &str {
        &self.sql.migration
    }

    /// Creates the schema (if configured), the table and its index, when missing. Safe to run
    /// from several instances at once (serialized by an advisory lock).
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when PostgreSQL does not answer or refuses the DDL (check
    /// the user's `CREATE` privilege).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        // Through a plain `&mut PgConnection`: borrowing the transaction in each call makes
        // the future's `Send` depend on a lifetime rustc cannot generalize (in `tokio::spawn`).
        let conn: &mut PgConnection = &mut tx;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await
            .map_err(unavailable)?;
        // One statement at a time: `raw_sql`'s future is not `Send` for every lifetime either.
        for statement in self.sql.migration.split_inclusive(";\n") {
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
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        })
        .await
    }

    /// Deletes every row whose lease or retention has run out (by the store's clock), in
    /// batches of 1,000 that skip rows locked by open transactions, and returns how many it
    /// deleted. Expired rows are already ignored by every operation: this only reclaims space.
    /// Schedule it (hourly is plenty), or use [`spawn_purger`](Self::spawn_purger).
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] or [`StoreError::Timeout`] (each batch has the command
    /// timeout) when PostgreSQL does not answer; the batches deleted before stay deleted.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        let now = micros(self.clock.now());
        let mut total = 0;
        loop {
            let deleted = self
                .bounded(async {
                    Ok(sqlx::query(&self.sql.purge)
                        .bind(now)
                        .bind(PURGE_BATCH)
                        .execute(&self.pool)
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
        bounded(STORE, self.command_timeout, operation).await
    }

    async fn claim_key(&self, key: &str, lease: Duration) -> Result<Claim, StoreError> {
        let now = micros(self.clock.now());
        let token = ClaimToken::random();
        let write = Write::Lease {
            token,
            until: micros_after(now, lease),
        };
        // The wait for a connection and every statement of the claim, under one timeout.
        let found = self
            .bounded(async {
                let mut conn = self.pool.acquire().await?;
                Ok(self.sql.claim_on(&mut conn, key, now, write).await)
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
                Ok(sqlx::query(&self.sql.complete)
                    .bind(key)
                    .bind(token.to_string())
                    .bind(now)
                    .bind(micros_after(now, retention))
                    .execute(&self.pool)
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
        let (released, live): (bool, bool) = self
            .bounded(
                sqlx::query_as(&self.sql.release)
                    .bind(key)
                    .bind(token.to_string())
                    .bind(now)
                    .fetch_one(&self.pool),
            )
            .await?;
        if released || !live {
            Ok(())
        } else {
            Err(StoreError::StaleToken)
        }
    }
}

impl IdempotencyStore for PostgresStore {
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
