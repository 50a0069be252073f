//! [`PostgresQueueBuilder`]: where the pool comes from, the table and its schema, the clock,
//! the command timeout and the polling fallback; names checked before they reach the SQL.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};

use super::backend::{Inner, PostgresQueue};
use super::listen::Listener;
use super::sql::Sql;
use super::{DEFAULT_POSTGRES_QUEUE_POLL, DEFAULT_POSTGRES_QUEUE_TABLE, STORE};
use crate::store::backend::configuration;
use crate::store::sql::valid_identifier;
use crate::store::{
    DEFAULT_POSTGRES_COMMAND_TIMEOUT, DEFAULT_POSTGRES_MAX_CONNECTIONS, StoreError,
};
use crate::{Clock, SystemClock};

enum Source {
    Url(String),
    Pool(PgPool),
}

/// Configures a [`PostgresQueue`].
pub struct PostgresQueueBuilder {
    source: Source,
    schema: Option<String>,
    table: String,
    clock: Arc<dyn Clock>,
    command_timeout: Duration,
    max_connections: u32,
    poll: Duration,
}

impl std::fmt::Debug for PostgresQueueBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresQueueBuilder")
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
            .field("poll", &self.poll)
            .finish()
    }
}

impl PostgresQueueBuilder {
    /// The schema of the table (default: none, so the connection's `search_path` decides).
    /// [`migrate`](PostgresQueue::migrate) creates it if it is missing. 1 to 63 characters
    /// from `a-z 0-9 _`, not starting with a digit.
    #[must_use]
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// The table's name (default `amps_webhook_jobs`): 1 to 48 characters from `a-z 0-9 _`,
    /// not starting with a digit (its indexes and sequence are named after it).
    #[must_use]
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// The clock that due times, leases and retentions are computed and compared with
    /// (default: [`SystemClock`]).
    #[must_use]
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// [`clock`](Self::clock), shared with a verifier, a [`Queue`](crate::queue::Queue) or
    /// other stores.
    #[must_use]
    pub fn shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How long one statement may take, waiting for a pool connection included, before it
    /// fails with [`StoreError::Timeout`] (default 2 s). A pool opened from a URL also uses it
    /// as its acquire timeout.
    #[must_use]
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// The size of the pool opened from a URL (default 16; ignored with
    /// [`PostgresQueue::with_pool`]). The notifications come on a connection of their own,
    /// outside the pool.
    #[must_use]
    pub fn max_connections(mut self, connections: u32) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// How often a waiting `take` looks again when no notification woke it (default 1 s,
    /// at least 1 ms): the fallback for notifications lost with their connection, and what
    /// finds retries as they become due.
    #[must_use]
    pub fn poll(mut self, every: Duration) -> Self {
        self.poll = every.max(Duration::from_millis(1));
        self
    }

    /// The queue, connecting on first use (so an application can start while PostgreSQL is
    /// down; its enqueues fail closed until it answers). Call it inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`StoreError::Configuration`] for a malformed URL, schema or table name.
    pub fn build(self) -> Result<PostgresQueue, StoreError> {
        if !valid_identifier(&self.table, 48) {
            return Err(configuration(
                STORE,
                "the queue's table name must be 1 to 48 characters from `a-z 0-9 _`, not starting with a digit",
            ));
        }
        if let Some(schema) = &self.schema
            && !valid_identifier(schema, 63)
        {
            return Err(configuration(
                STORE,
                "the schema name must be 1 to 63 characters from `a-z 0-9 _`, not starting with a digit",
            ));
        }
        let pool = match self.source {
            Source::Pool(pool) => pool,
            Source::Url(url)
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) =>
            {
                return Err(configuration(
                    STORE,
                    "the PostgreSQL URL must start with postgres:// or postgresql://",
                ));
            }
            Source::Url(url) => PgPoolOptions::new()
                .max_connections(self.max_connections)
                .acquire_timeout(self.command_timeout)
                .connect_lazy(&url)
                .map_err(|error| {
                    configuration(
                        STORE,
                        format!(
                            "the PostgreSQL URL was refused ({error}); expected postgres://user@host:port/database"
                        ),
                    )
                })?,
        };
        let sql = Sql::new(self.schema.as_deref(), &self.table);
        let listener = Listener::new(&pool, self.command_timeout);
        Ok(PostgresQueue::from_inner(Inner {
            pool,
            sql,
            clock: self.clock,
            command_timeout: self.command_timeout,
            poll: self.poll,
            listener,
        }))
    }

    /// [`build`](Self::build), then a `SELECT 1` to check that PostgreSQL answers.
    ///
    /// # Errors
    ///
    /// [`StoreError::Configuration`] for a malformed URL, schema or table name;
    /// [`StoreError::Unavailable`] or [`StoreError::Timeout`] when PostgreSQL does not answer.
    pub async fn connect(self) -> Result<PostgresQueue, StoreError> {
        let queue = self.build()?;
        queue.ping().await?;
        Ok(queue)
    }
}

impl PostgresQueue {
    /// Configures a queue that opens its own pool to `url`
    /// (`postgres://user[:password]@host[:port]/database[?sslmode=require]`).
    #[must_use]
    pub fn builder(url: impl Into<String>) -> PostgresQueueBuilder {
        PostgresQueueBuilder::new(Source::Url(url.into()))
    }

    /// Configures a queue on the application's own pool (the one its transactions come from,
    /// for [`complete_in`](Self::complete_in)).
    #[must_use]
    pub fn with_pool(pool: PgPool) -> PostgresQueueBuilder {
        PostgresQueueBuilder::new(Source::Pool(pool))
    }
}

impl PostgresQueueBuilder {
    fn new(source: Source) -> Self {
        Self {
            source,
            schema: None,
            table: DEFAULT_POSTGRES_QUEUE_TABLE.to_owned(),
            clock: Arc::new(SystemClock),
            command_timeout: DEFAULT_POSTGRES_COMMAND_TIMEOUT,
            max_connections: DEFAULT_POSTGRES_MAX_CONNECTIONS,
            poll: DEFAULT_POSTGRES_QUEUE_POLL,
        }
    }
}
