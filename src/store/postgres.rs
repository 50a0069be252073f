//! The PostgreSQL store: an inbox table whose records are claimed either on their own (the
//! [`IdempotencyStore`] protocol, leased) or inside the caller's transaction
//! ([`PostgresInbox::claim_in`]), so that an event's effect and its record commit together.
//!
//! Built on sqlx 0.8 (tokio, rustls): a pool for the leased path, the caller's connection or
//! transaction for the transactional one. Times come from the injected [`Clock`], sent as
//! parameters; the database's own `now()` is never read.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};

use super::{
    BoxFuture, Claim, ClaimToken, Deduplicator, IdempotencyStore, StoreError, store_event,
};
use crate::{Clock, Event, SystemClock};

const STORE: &str = "postgres";

/// The default table name.
pub const DEFAULT_POSTGRES_TABLE: &str = "amps_webhooks_inbox";

/// The default command timeout of the leased path: every claim, complete, release and purge
/// batch answers within it (waiting for a pool connection included), or fails with
/// [`StoreError::Timeout`].
pub const DEFAULT_POSTGRES_COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// The default size of the pool a [`PostgresStore`] opens from a URL.
pub const DEFAULT_POSTGRES_MAX_CONNECTIONS: u32 = 16;

/// Rows deleted per statement by [`PostgresStore::purge_expired`].
const PURGE_BATCH: i64 = 1_000;

/// Timestamps past the year 9999 are stored as 9999-12-31: PostgreSQL's intervals and
/// timestamps have a range, and a retention of `Duration::MAX` must not overflow it.
const MAX_MICROS: i64 = 253_402_300_799_000_000;

/// How often a claim retries when the record it met vanished (released or purged) between two
/// statements. Each retry needs another worker's release to land in between, so a handful is
/// plenty.
const MAX_ATTEMPTS: usize = 8;

/// The key of the advisory lock that serializes concurrent [`PostgresStore::migrate`] calls
/// (`CREATE ... IF NOT EXISTS` races otherwise). "amps-wh" in ASCII.
const MIGRATION_LOCK: i64 = 0x0061_6d70_732d_7768;

/// A `timestamptz` from bound microseconds since the Unix epoch.
fn ts(param: usize) -> String {
    format!("(timestamptz 'epoch' + ${param}::int8 * interval '1 microsecond')")
}

/// The statements, built once for the configured table.
#[derive(Debug)]
struct Sql {
    /// `$1` key, `$2` token, `$3` now, `$4` lease end.
    insert_lease: String,
    take_over_lease: String,
    /// `$1` key, `$2` now, `$3` retention end.
    insert_completed: String,
    take_over_completed: String,
    /// `$1` key.
    select: String,
    /// `$1` key, `$2` token, `$3` now, `$4` retention end.
    complete: String,
    /// `$1` key, `$2` token, `$3` now.
    release: String,
    /// `$1` now, `$2` batch size.
    purge: String,
    migration: String,
}

impl Sql {
    fn new(schema: Option<&str>, table: &str) -> Self {
        let qualified = match schema {
            Some(schema) => format!("\"{schema}\".\"{table}\""),
            None => format!("\"{table}\""),
        };
        let t = &qualified;
        let mut migration = String::new();
        if let Some(schema) = schema {
            migration.push_str(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\";\n"));
        }
        migration.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS {t} (
    key              text        PRIMARY KEY,
    state            text        NOT NULL CHECK (state IN ('in_flight', 'completed')),
    token            uuid,
    lease_expires_at timestamptz,
    retain_until     timestamptz,
    expires_at       timestamptz NOT NULL GENERATED ALWAYS AS
                         (CASE WHEN state = 'completed' THEN retain_until ELSE lease_expires_at END) STORED,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CHECK (state <> 'in_flight' OR (token IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CHECK (state <> 'completed' OR retain_until IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS \"{table}_expires_at_idx\" ON {t} (expires_at);
"
        ));
        Self {
            insert_lease: format!(
                "INSERT INTO {t} (key, state, token, lease_expires_at, created_at, updated_at) \
                 VALUES ($1, 'in_flight', $2::text::uuid, {lease}, {now}, {now}) \
                 ON CONFLICT (key) DO NOTHING",
                lease = ts(4),
                now = ts(3)
            ),
            take_over_lease: format!(
                "UPDATE {t} SET state = 'in_flight', token = $2::text::uuid, \
                 lease_expires_at = {lease}, retain_until = NULL, created_at = {now}, updated_at = {now} \
                 WHERE key = $1 AND expires_at <= {now}",
                lease = ts(4),
                now = ts(3)
            ),
            insert_completed: format!(
                "INSERT INTO {t} (key, state, retain_until, created_at, updated_at) \
                 VALUES ($1, 'completed', {until}, {now}, {now}) \
                 ON CONFLICT (key) DO NOTHING",
                until = ts(3),
                now = ts(2)
            ),
            take_over_completed: format!(
                "UPDATE {t} SET state = 'completed', token = NULL, lease_expires_at = NULL, \
                 retain_until = {until}, created_at = {now}, updated_at = {now} \
                 WHERE key = $1 AND expires_at <= {now}",
                until = ts(3),
                now = ts(2)
            ),
            select: format!(
                "SELECT state, (extract(epoch FROM expires_at) * 1000000)::int8 FROM {t} WHERE key = $1"
            ),
            complete: format!(
                "INSERT INTO {t} AS r (key, state, token, retain_until, created_at, updated_at) \
                 VALUES ($1, 'completed', $2::text::uuid, {until}, {now}, {now}) \
                 ON CONFLICT (key) DO UPDATE SET state = 'completed', token = EXCLUDED.token, \
                 lease_expires_at = NULL, retain_until = EXCLUDED.retain_until, updated_at = EXCLUDED.updated_at \
                 WHERE (r.state = 'in_flight' AND r.token = EXCLUDED.token) OR r.expires_at <= EXCLUDED.updated_at",
                until = ts(4),
                now = ts(3)
            ),
            release: format!(
                "WITH gone AS (DELETE FROM {t} WHERE key = $1 AND state = 'in_flight' AND token = $2::text::uuid RETURNING 1) \
                 SELECT EXISTS (SELECT 1 FROM gone), EXISTS (SELECT 1 FROM {t} WHERE key = $1 AND expires_at > {now})",
                now = ts(3)
            ),
            purge: format!(
                "WITH doomed AS (SELECT key FROM {t} WHERE expires_at <= {now} ORDER BY expires_at LIMIT $2 \
                 FOR UPDATE SKIP LOCKED) \
                 DELETE FROM {t} AS r USING doomed WHERE r.key = doomed.key",
                now = ts(1)
            ),
            migration,
        }
    }
}

/// What a claim writes when the key has no live record.
#[derive(Clone, Copy)]
enum Write {
    /// An in-flight record with this token until the lease end (microseconds).
    Lease { token: ClaimToken, until: i64 },
    /// A completed record until the retention end (microseconds), inside the caller's
    /// transaction.
    Completed { until: i64 },
}

/// What a claim found.
enum Found {
    Written,
    Completed,
    InFlight { retry_after: Duration },
}

/// An idempotency store in PostgreSQL: one table (the inbox), shared by every instance of a
/// receiver, and joinable by the receiver's own transactions.
///
/// Two paths share the table:
///
/// - **Leased**, the [`IdempotencyStore`] protocol (so a [`Deduplicator`] and the framework
///   integrations use it like any store): `claim` writes an in-flight row with a token and a
///   lease; `complete` turns it into a completed row kept for the retention; `release` deletes
///   it. Each is one statement in autocommit on the store's pool (a claim that meets an existing
///   row reads it with one or two more).
/// - **Transactional**, [`PostgresInbox::claim_in`]: inside the caller's transaction, it writes
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
/// - A transactional claim that meets a live lease is answered [`InboxClaim::InFlight`]: the
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
    pool: PgPool,
    sql: Arc<Sql>,
    table: Arc<str>,
    clock: Arc<dyn Clock>,
    command_timeout: Duration,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: it is not kept, so it cannot be printed.
        f.debug_struct("PostgresStore")
            .field("table", &self.table)
            .field("clock", &self.clock)
            .field("command_timeout", &self.command_timeout)
            .finish_non_exhaustive()
    }
}

enum Source {
    Url(String),
    Pool(PgPool),
}

/// Configures a [`PostgresStore`].
pub struct PostgresStoreBuilder {
    source: Source,
    schema: Option<String>,
    table: String,
    clock: Arc<dyn Clock>,
    command_timeout: Duration,
    max_connections: u32,
}

impl std::fmt::Debug for PostgresStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStoreBuilder")
            .field(
                "source",
                &match self.source {
                    Source::Url(_) => "url [redacted]",
                    Source::Pool(_) => "pool",
                },
            )
            .field("schema", &self.schema)
            .field("table", &self.table)
            .field("clock", &self.clock)
            .field("command_timeout", &self.command_timeout)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// A valid unquoted identifier of at most `max` bytes: a lowercase letter or `_`, then
/// lowercase letters, digits and `_`.
fn valid_identifier(name: &str, max: usize) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && name.len() <= max
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

impl PostgresStoreBuilder {
    /// The schema of the table (default: none, so the connection's `search_path` decides,
    /// usually `public`). [`migrate`](PostgresStore::migrate) creates it if it is missing.
    /// 1 to 63 characters from `a-z 0-9 _`, not starting with a digit.
    #[must_use]
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// The table's name (default `amps_webhooks_inbox`): 1 to 48 characters from `a-z 0-9 _`,
    /// not starting with a digit (its index is named after it).
    #[must_use]
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// The clock that leases and retentions are computed and compared with (default:
    /// [`SystemClock`]).
    #[must_use]
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// [`clock`](Self::clock), shared with a verifier or other stores.
    #[must_use]
    pub fn shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How long one leased-path operation may take, waiting for a pool connection included,
    /// before it fails with [`StoreError::Timeout`] (default 2 s). A pool opened from a URL also
    /// uses it as its acquire timeout.
    #[must_use]
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// The size of the pool opened from a URL (default 16; ignored with
    /// [`PostgresStore::with_pool`]).
    #[must_use]
    pub fn max_connections(mut self, connections: u32) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// The store, connecting on first use (so an application can start while PostgreSQL is
    /// down; its claims fail closed until it answers). Call it inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`StoreError::Configuration`] for a malformed URL, schema or table name.
    pub fn build(self) -> Result<PostgresStore, StoreError> {
        if !valid_identifier(&self.table, 48) {
            return Err(configuration(
                "the table name must be 1 to 48 characters from `a-z 0-9 _`, not starting with a digit",
            ));
        }
        if let Some(schema) = &self.schema
            && !valid_identifier(schema, 63)
        {
            return Err(configuration(
                "the schema name must be 1 to 63 characters from `a-z 0-9 _`, not starting with a digit",
            ));
        }
        let pool = match self.source {
            Source::Pool(pool) => pool,
            Source::Url(url)
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) =>
            {
                return Err(configuration(
                    "the PostgreSQL URL must start with postgres:// or postgresql://",
                ));
            }
            Source::Url(url) => PgPoolOptions::new()
                .max_connections(self.max_connections)
                .acquire_timeout(self.command_timeout)
                .connect_lazy(&url)
                .map_err(|error| StoreError::Configuration {
                    store: STORE,
                    detail: format!(
                        "the PostgreSQL URL was refused ({error}); expected postgres://user@host:port/database"
                    ),
                })?,
        };
        let qualified = match &self.schema {
            Some(schema) => format!("{schema}.{}", self.table),
            None => self.table.clone(),
        };
        Ok(PostgresStore {
            pool,
            sql: Arc::new(Sql::new(self.schema.as_deref(), &self.table)),
            table: qualified.into(),
            clock: self.clock,
            command_timeout: self.command_timeout,
        })
    }

    /// [`build`](Self::build), then a `SELECT 1` to check that PostgreSQL answers.
    ///
    /// # Errors
    ///
    /// [`StoreError::Configuration`] for a malformed URL, schema or table name;
    /// [`StoreError::Unavailable`] or [`StoreError::Timeout`] when PostgreSQL does not answer.
    pub async fn connect(self) -> Result<PostgresStore, StoreError> {
        let store = self.build()?;
        store.ping().await?;
        Ok(store)
    }
}

fn configuration(detail: &str) -> StoreError {
    StoreError::Configuration {
        store: STORE,
        detail: detail.to_owned(),
    }
}

/// Microseconds since the Unix epoch, saturating at 0 and at [`MAX_MICROS`].
fn micros(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
        })
        .min(MAX_MICROS)
}

/// `now + by` in microseconds, saturating.
fn micros_after(now: i64, by: Duration) -> i64 {
    now.saturating_add(i64::try_from(by.as_micros()).unwrap_or(i64::MAX))
        .min(MAX_MICROS)
}

impl PostgresStore {
    /// Configures a store that opens its own pool to `url`
    /// (`postgres://user[:password]@host[:port]/database[?sslmode=require]`).
    #[must_use]
    pub fn builder(url: impl Into<String>) -> PostgresStoreBuilder {
        Self::builder_from(Source::Url(url.into()))
    }

    /// Configures a store on the application's own pool (the one its transactions come from).
    #[must_use]
    pub fn with_pool(pool: PgPool) -> PostgresStoreBuilder {
        Self::builder_from(Source::Pool(pool))
    }

    fn builder_from(source: Source) -> PostgresStoreBuilder {
        PostgresStoreBuilder {
            source,
            schema: None,
            table: DEFAULT_POSTGRES_TABLE.to_owned(),
            clock: Arc::new(SystemClock),
            command_timeout: DEFAULT_POSTGRES_COMMAND_TIMEOUT,
            max_connections: DEFAULT_POSTGRES_MAX_CONNECTIONS,
        }
    }

    /// The pool the leased path runs on.
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The table, qualified by its schema when one is configured.
    #[must_use]
    pub fn table(&self) -> &str {
        &self.table
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
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::spawn(async move {
            loop {
                ticks.tick().await;
                match store.purge_expired().await {
                    Ok(_deleted) => {
                        store_event!(debug, table = %store.table, deleted = _deleted, "purged expired inbox rows");
                    }
                    Err(_error) => {
                        store_event!(warn, table = %store.table, error = %_error, "could not purge expired inbox rows; retrying at the next tick");
                    }
                }
            }
        })
    }

    /// A transactional inbox for `namespace`, with the default lease and retention: the same
    /// keys as a [`Deduplicator`] over this store in that namespace, so both paths can serve
    /// one endpoint.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidNamespace`] as [`Deduplicator::new`].
    pub fn inbox(&self, namespace: &str) -> Result<PostgresInbox, StoreError> {
        Ok(PostgresInbox {
            dedup: Deduplicator::new(Arc::new(self.clone()), namespace)?,
            store: self.clone(),
        })
    }

    /// Claims the stored key `key` inside the caller's transaction (or connection): see
    /// [`PostgresInbox::claim_in`], which namespaces the key first. On
    /// [`InboxClaim::Acquired`] a completed record kept for `retention` is written on `conn`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the statement fails (the connection broke, the
    /// transaction is aborted, a serialization failure, a lock or statement timeout, no
    /// migrated table); the caller's transaction is then unusable: roll it back.
    pub async fn claim_in(
        &self,
        conn: &mut PgConnection,
        key: &str,
        retention: Duration,
    ) -> Result<InboxClaim, StoreError> {
        let now = micros(self.clock.now());
        let write = Write::Completed {
            until: micros_after(now, retention),
        };
        Ok(match self.claim_on(conn, key, now, write).await? {
            Found::Written => InboxClaim::Acquired,
            Found::Completed => InboxClaim::Completed,
            Found::InFlight { retry_after } => InboxClaim::InFlight { retry_after },
        })
    }

    /// Writes `write` on `key` when it has no live record; otherwise reports the live one.
    async fn claim_on(
        &self,
        conn: &mut PgConnection,
        key: &str,
        now: i64,
        write: Write,
    ) -> Result<Found, StoreError> {
        for _ in 0..MAX_ATTEMPTS {
            // Insert first: a fresh key costs one statement. A conflicting uncommitted insert
            // (a concurrent transactional claim) makes this wait for its transaction.
            let inserted = match write {
                Write::Lease { token, until } => sqlx::query(&self.sql.insert_lease)
                    .bind(key)
                    .bind(token.to_string())
                    .bind(now)
                    .bind(until),
                Write::Completed { until } => sqlx::query(&self.sql.insert_completed)
                    .bind(key)
                    .bind(now)
                    .bind(until),
            }
            .execute(&mut *conn)
            .await
            .map_err(unavailable)?;
            if inserted.rows_affected() == 1 {
                return Ok(Found::Written);
            }
            // The key has a row: take it over if it expired. An UPDATE whose condition fails
            // locks nothing, so answering a duplicate holds up nobody.
            let taken = match write {
                Write::Lease { token, until } => sqlx::query(&self.sql.take_over_lease)
                    .bind(key)
                    .bind(token.to_string())
                    .bind(now)
                    .bind(until),
                Write::Completed { until } => sqlx::query(&self.sql.take_over_completed)
                    .bind(key)
                    .bind(now)
                    .bind(until),
            }
            .execute(&mut *conn)
            .await
            .map_err(unavailable)?;
            if taken.rows_affected() == 1 {
                return Ok(Found::Written);
            }
            let row: Option<(String, i64)> = sqlx::query_as(&self.sql.select)
                .bind(key)
                .fetch_optional(&mut *conn)
                .await
                .map_err(unavailable)?;
            match row {
                Some((state, expires)) if expires > now => {
                    return match state.as_str() {
                        "completed" => Ok(Found::Completed),
                        "in_flight" => Ok(Found::InFlight {
                            retry_after: Duration::from_micros(
                                expires.saturating_sub(now).unsigned_abs(),
                            )
                            .max(Duration::from_millis(1)),
                        }),
                        other => Err(StoreError::UnexpectedReply {
                            store: STORE,
                            detail: format!("a row of {} holds the state {other:?}", self.table),
                        }),
                    };
                }
                // Released, purged or expired between two statements: try again.
                _ => {}
            }
        }
        Err(StoreError::UnexpectedReply {
            store: STORE,
            detail: format!(
                "the record of {key:?} in {} changed under {MAX_ATTEMPTS} claims in a row",
                self.table
            ),
        })
    }

    async fn bounded<T>(
        &self,
        operation: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.command_timeout, operation).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(sqlx::Error::PoolTimedOut)) | Err(_) => Err(StoreError::Timeout {
                store: STORE,
                after: self.command_timeout,
            }),
            Ok(Err(error)) => Err(unavailable(error)),
        }
    }

    async fn claim_key(&self, key: &str, lease: Duration) -> Result<Claim, StoreError> {
        let now = micros(self.clock.now());
        let token = ClaimToken::random();
        let write = Write::Lease {
            token,
            until: micros_after(now, lease),
        };
        let found = match tokio::time::timeout(self.command_timeout, async {
            let mut conn = self.pool.acquire().await?;
            Ok::<_, sqlx::Error>(self.claim_on(&mut conn, key, now, write).await)
        })
        .await
        {
            Ok(Ok(found)) => found?,
            Ok(Err(sqlx::Error::PoolTimedOut)) | Err(_) => {
                return Err(StoreError::Timeout {
                    store: STORE,
                    after: self.command_timeout,
                });
            }
            Ok(Err(error)) => return Err(unavailable(error)),
        };
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

fn unavailable(error: sqlx::Error) -> StoreError {
    StoreError::Unavailable {
        store: STORE,
        source: Box::new(error),
    }
}

impl IdempotencyStore for PostgresStore {
    fn claim<'a>(
        &'a self,
        key: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        Box::pin(self.claim_key(key, lease))
    }

    fn complete<'a>(
        &'a self,
        key: &'a str,
        token: ClaimToken,
        retention: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.complete_key(key, token, retention))
    }

    fn release<'a>(
        &'a self,
        key: &'a str,
        token: ClaimToken,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.release_key(key, token))
    }

    fn release_detached(self: Arc<Self>, key: String, token: ClaimToken) {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(_error) = self.release_key(&key, token).await {
                        store_event!(warn, key = %key, error = %_error, "could not release a dropped claim; it stays until its lease runs out");
                    }
                });
            }
            Err(_) => {
                store_event!(warn, key = %key, "no tokio runtime to release a dropped claim on; it stays until its lease runs out");
            }
        }
    }
}

/// The answer of a transactional claim ([`PostgresInbox::claim_in`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "only a transaction answered `Acquired` may apply the event"]
pub enum InboxClaim {
    /// This transaction owns the event: apply it on the same transaction and commit (the
    /// record commits with it), or roll back (the event stays unprocessed for the retry).
    Acquired,
    /// The event was committed before, by a transaction or a leased worker: acknowledge
    /// (HTTP 200) without applying it.
    Completed,
    /// A leased worker (the non-transactional path) is processing it: answer 409 with this
    /// `Retry-After`.
    InFlight {
        /// When that worker's lease runs out.
        retry_after: Duration,
    },
}

/// The transactional inbox of one namespace: [`claim_in`](Self::claim_in) inside the caller's
/// transaction tells whether that transaction owns the event.
///
/// ```no_run
/// # async fn demo(event: amps_webhooks::Event<serde_json::Value>) -> Result<(), Box<dyn std::error::Error>> {
/// use amps_webhooks::store::{InboxClaim, PostgresStore};
/// use amps_webhooks::store::sqlx::PgPool;
///
/// let pool = PgPool::connect("postgres://postgres@127.0.0.1/app").await?;
/// let store = PostgresStore::with_pool(pool.clone()).build()?;
/// store.migrate().await?;
/// let inbox = store.inbox("orders")?;
///
/// let mut tx = pool.begin().await?;
/// match inbox.claim_event_in(&mut tx, &event).await? {
///     InboxClaim::Acquired => {
///         amps_webhooks::store::sqlx::query("INSERT INTO orders (event_id) VALUES ($1)")
///             .bind(event.idempotency_key())
///             .execute(&mut *tx)
///             .await?;
///         tx.commit().await?; // the order and the record, together: 200
///     }
///     InboxClaim::Completed => { /* a duplicate: 200; dropping `tx` rolls it back */ }
///     InboxClaim::InFlight { retry_after } => { /* 409 + Retry-After */ }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresInbox {
    store: PostgresStore,
    dedup: Deduplicator,
}

impl PostgresInbox {
    /// Sets how long a committed event is remembered (default 72 h); make it longer than the
    /// sender's whole retry schedule.
    #[must_use]
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.dedup = self.dedup.with_retention(retention);
        self
    }

    /// Sets the lease of [`deduplicator`](Self::deduplicator)'s leased claims (default 60 s).
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.dedup = self.dedup.with_lease(lease);
        self
    }

    /// The leased path over the same namespace, lease and retention: events it completes are
    /// duplicates here, and the other way round.
    #[must_use]
    pub fn deduplicator(&self) -> &Deduplicator {
        &self.dedup
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &PostgresStore {
        &self.store
    }

    /// Claims `key` (namespaced as [`Deduplicator::storage_key`]) inside the caller's
    /// transaction `conn` (pass `&mut tx`): [`InboxClaim::Acquired`] when this transaction owns
    /// the event. Its completed record is written on `conn`, so it commits or rolls back with
    /// the caller's own writes. A concurrent transaction claiming the same key waits for this
    /// one to end, then is answered [`InboxClaim::Completed`] (committed) or acquires it
    /// (rolled back). See [`PostgresStore`] for how this meets leased claims.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the statement fails (the connection broke, the
    /// transaction is already aborted, a serialization failure, a lock or statement timeout, the
    /// table was never migrated): roll the transaction back and answer 503.
    pub async fn claim_in(
        &self,
        conn: &mut PgConnection,
        key: &str,
    ) -> Result<InboxClaim, StoreError> {
        let stored = self.dedup.storage_key(key);
        let claim = self
            .store
            .claim_in(conn, &stored, self.dedup.retention())
            .await;
        match &claim {
            Ok(InboxClaim::Acquired) => {}
            Ok(InboxClaim::Completed) => {
                store_event!(info, namespace = %self.dedup.namespace(), key = %key, "duplicate of a committed event; not applied");
            }
            Ok(InboxClaim::InFlight { .. }) => {
                store_event!(warn, namespace = %self.dedup.namespace(), key = %key, "event is in flight under a lease; retry later");
            }
            Err(_error) => {
                store_event!(error, namespace = %self.dedup.namespace(), key = %key, error = %_error, "transactional claim failed");
            }
        }
        claim
    }

    /// [`claim_in`](Self::claim_in) on the event's
    /// [`idempotency_key`](Event::idempotency_key).
    ///
    /// # Errors
    ///
    /// As [`claim_in`](Self::claim_in).
    pub async fn claim_event_in<T>(
        &self,
        conn: &mut PgConnection,
        event: &Event<T>,
    ) -> Result<InboxClaim, StoreError> {
        self.claim_in(conn, event.idempotency_key()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_checked() {
        assert!(valid_identifier("amps_webhooks_inbox", 48));
        assert!(valid_identifier("_t1", 48));
        for bad in ["", "1t", "T", "a-b", "a b", "a\"b", "é"] {
            assert!(!valid_identifier(bad, 48), "{bad:?}");
        }
        assert!(!valid_identifier(&"a".repeat(49), 48));
    }

    #[test]
    fn times_saturate() {
        assert_eq!(micros(UNIX_EPOCH), 0);
        assert_eq!(
            micros(UNIX_EPOCH - Duration::from_secs(1)),
            0,
            "before the epoch"
        );
        assert_eq!(
            micros(UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456)),
            1_700_000_000_123_456
        );
        assert_eq!(micros_after(5, Duration::from_micros(7)), 12);
        assert_eq!(micros_after(5, Duration::MAX), MAX_MICROS);
        assert_eq!(micros_after(MAX_MICROS, Duration::from_secs(1)), MAX_MICROS);
    }

    #[test]
    fn statements_name_the_table() {
        let sql = Sql::new(Some("app"), "inbox");
        assert!(
            sql.migration
                .starts_with("CREATE SCHEMA IF NOT EXISTS \"app\";")
        );
        assert!(
            sql.migration
                .contains("CREATE TABLE IF NOT EXISTS \"app\".\"inbox\"")
        );
        assert!(
            sql.migration
                .contains("\"inbox_expires_at_idx\" ON \"app\".\"inbox\" (expires_at)")
        );
        assert!(
            sql.insert_lease
                .starts_with("INSERT INTO \"app\".\"inbox\"")
        );
        let unqualified = Sql::new(None, "inbox");
        assert!(
            unqualified
                .migration
                .starts_with("CREATE TABLE IF NOT EXISTS \"inbox\"")
        );
    }
}
