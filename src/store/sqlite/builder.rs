//! [`SqliteStoreBuilder`]: where the database comes from (a file, or the application's pool),
//! the table, the clock, the timeouts; the file opened, checked and migrated by
//! [`connect`](SqliteStoreBuilder::connect).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::SqlitePool;

use super::sql::Sql;
use super::{
    DEFAULT_SQLITE_BUSY_TIMEOUT, DEFAULT_SQLITE_COMMAND_TIMEOUT, DEFAULT_SQLITE_MAX_CONNECTIONS,
    DEFAULT_SQLITE_TABLE, Database, STORE, Source, SqliteStore,
};
use crate::store::StoreError;
use crate::store::sql::{SqlOptions, check_identifier, sql_builder_options};

/// Configures a [`SqliteStore`].
#[derive(Debug)]
pub struct SqliteStoreBuilder {
    source: Source,
    options: SqlOptions,
    busy_timeout: Duration,
}

sql_builder_options!(
    SqliteStoreBuilder,
    "SQLite",
    "amps_webhooks_inbox",
    "48",
    "8",
    "[`SqliteStore::with_pool`]"
);

impl SqliteStoreBuilder {
    /// How long a statement waits for another process's write lock on the file before
    /// SQLite gives up with `SQLITE_BUSY` (default 5 s; the command timeout bounds the whole
    /// operation all the same). Ignored with [`SqliteStore::with_pool`], whose connections
    /// keep their own.
    #[must_use]
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// The store: opens the file (creating it when missing, in WAL mode, `synchronous =
    /// FULL`), checks that it is an SQLite database this process can write, and creates the
    /// table and its index when missing ([`migration_sql`](SqliteStore::migration_sql)).
    ///
    /// # Errors
    ///
    /// [`StoreError::Configuration`] for a malformed table name, an empty path, a file that is
    /// not an SQLite database, or one that this process cannot create or write (the message
    /// names the path); [`StoreError::Unavailable`] when SQLite fails otherwise.
    pub async fn connect(self) -> Result<SqliteStore, StoreError> {
        let options = self.options;
        check_identifier(STORE, "table", &options.table, 48)?;
        let sql = Sql::new(&options.table);
        let database =
            Database::open(self.source, &options, self.busy_timeout, &sql.migration).await?;
        Ok(SqliteStore {
            database,
            sql: Arc::new(sql),
            clock: options.clock,
        })
    }
}

impl SqliteStore {
    /// Configures a store on the database file at `path` (created when missing).
    #[must_use]
    pub fn builder(path: impl Into<PathBuf>) -> SqliteStoreBuilder {
        SqliteStoreBuilder::new(Source::Path(path.into()))
    }

    /// Configures a store on the application's own pool (the one its transactions come
    /// from). Open it on a file in WAL mode with a busy timeout, as [`builder`](Self::builder)
    /// does.
    #[must_use]
    pub fn with_pool(pool: SqlitePool) -> SqliteStoreBuilder {
        SqliteStoreBuilder::new(Source::Pool(pool))
    }
}

impl SqliteStoreBuilder {
    fn new(source: Source) -> Self {
        Self {
            source,
            options: SqlOptions::new(
                DEFAULT_SQLITE_TABLE,
                DEFAULT_SQLITE_COMMAND_TIMEOUT,
                DEFAULT_SQLITE_MAX_CONNECTIONS,
            ),
            busy_timeout: DEFAULT_SQLITE_BUSY_TIMEOUT,
        }
    }
}
