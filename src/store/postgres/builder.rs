//! [`PostgresStoreBuilder`]: where the pool comes from, the table and its schema, the clock,
//! the timeout; names checked before they reach the SQL.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};

use super::sql::Sql;
use super::{
    DEFAULT_POSTGRES_COMMAND_TIMEOUT, DEFAULT_POSTGRES_MAX_CONNECTIONS, DEFAULT_POSTGRES_TABLE,
    PostgresStore, STORE,
};
use crate::store::StoreError;
use crate::store::backend::configuration;
use crate::{Clock, SystemClock};

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
pub(crate) fn valid_identifier(name: &str, max: usize) -> bool {
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
                STORE,
                "the table name must be 1 to 48 characters from `a-z 0-9 _`, not starting with a digit",
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
        Ok(PostgresStore {
            pool,
            sql: Arc::new(Sql::new(self.schema.as_deref(), &self.table)),
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
            table: DEFAULT_POSTGRES_TABLE.to_owned(),
            clock: Arc::new(SystemClock),
            command_timeout: DEFAULT_POSTGRES_COMMAND_TIMEOUT,
            max_connections: DEFAULT_POSTGRES_MAX_CONNECTIONS,
        }
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
}
