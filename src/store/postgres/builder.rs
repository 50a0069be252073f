//! [`PostgresStoreBuilder`]: where the pool comes from, the table and its schema, the clock,
//! the timeout; names checked before they reach the SQL.

use std::sync::Arc;

use sqlx::postgres::{PgPool, PgPoolOptions};

use super::sql::Sql;
use super::{
    DEFAULT_POSTGRES_COMMAND_TIMEOUT, DEFAULT_POSTGRES_MAX_CONNECTIONS, DEFAULT_POSTGRES_TABLE,
    PostgresStore, STORE,
};
use crate::store::StoreError;
use crate::store::backend::configuration;
use crate::store::sql::{SqlOptions, check_identifier, sql_builder_options};

enum Source {
    Url(String),
    Pool(PgPool),
}

/// Configures a [`PostgresStore`].
pub struct PostgresStoreBuilder {
    source: Source,
    schema: Option<String>,
    options: SqlOptions,
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
            .field("options", &self.options)
            .finish()
    }
}

sql_builder_options!(
    PostgresStoreBuilder,
    "PostgreSQL",
    "amps_webhooks_inbox",
    "48",
    "16",
    "[`PostgresStore::with_pool`]"
);

impl PostgresStoreBuilder {
    /// The schema of the table (default: none, so the connection's `search_path` decides,
    /// usually `public`). [`migrate`](PostgresStore::migrate) creates it if it is missing.
    /// 1 to 63 characters from `a-z 0-9 _`, not starting with a digit.
    #[must_use]
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// The store, connecting on first use (so an application can start while PostgreSQL is
    /// down; its claims fail closed until it answers). Call it inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`StoreError::Configuration`] for a malformed URL, schema or table name.
    pub fn build(self) -> Result<PostgresStore, StoreError> {
        let options = self.options;
        check_identifier(STORE, "table", &options.table, 48)?;
        if let Some(schema) = &self.schema {
            check_identifier(STORE, "schema", schema, 63)?;
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
                .max_connections(options.max_connections)
                .acquire_timeout(options.command_timeout)
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
        Ok(PostgresStore {
            pool,
            sql: Arc::new(Sql::new(self.schema.as_deref(), &options.table)),
            clock: options.clock,
            command_timeout: options.command_timeout,
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

impl PostgresStore {
    /// Configures a store that opens its own pool to `url`
    /// (`postgres://user[:password]@host[:port]/database[?sslmode=require]`).
    #[must_use]
    pub fn builder(url: impl Into<String>) -> PostgresStoreBuilder {
        PostgresStoreBuilder::new(Source::Url(url.into()))
    }

    /// Configures a store on the application's own pool (the one its transactions come from).
    #[must_use]
    pub fn with_pool(pool: PgPool) -> PostgresStoreBuilder {
        PostgresStoreBuilder::new(Source::Pool(pool))
    }
}

impl PostgresStoreBuilder {
    fn new(source: Source) -> Self {
        Self {
            source,
            schema: None,
            options: SqlOptions::new(
                DEFAULT_POSTGRES_TABLE,
                DEFAULT_POSTGRES_COMMAND_TIMEOUT,
                DEFAULT_POSTGRES_MAX_CONNECTIONS,
            ),
        }
    }
}
