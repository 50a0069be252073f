//! `--store URL`: the one place that turns a store URL into what `listen`, `work` and `inbox`
//! use: the idempotency store of `listen`'s deduplication, and the queue backend of `listen
//! --enqueue`, `work` and `inbox`. `memory`, `redis://HOST:PORT` (or `rediss://`) and
//! `postgres://...` (or `postgresql://`) and `sqlite://PATH` (the file and its tables created on
//! first use; `sqlite:///abs/path` or `sqlite://relative/path`). A store that cannot be reached is a usage error
//! (exit 2) whose message names the URL without its password.

use std::sync::Arc;

use amps_webhooks::queue::{MemoryQueue, PostgresQueue, QueueBackend, RedisQueue, SqliteQueue};
use amps_webhooks::store::{
    DEFAULT_MEMORY_CAPACITY, IdempotencyStore, MemoryStore, PostgresStore, RedisStore, SqliteStore,
    StoreError,
};

use crate::failure::{Failure, usage};

/// What `--store` accepts, in the messages that refuse another.
pub(crate) const EXPECTED: &str =
    "`memory`, `redis://HOST:PORT`, `postgres://USER@HOST:PORT/DB` or `sqlite://PATH`";

/// A parsed `--store`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreUrl {
    /// In this process only: gone when it exits.
    Memory,
    /// A Redis server.
    Redis(String),
    /// A PostgreSQL database.
    Postgres(String),
    /// An SQLite database file (the URL kept as given, the path after `sqlite://`).
    Sqlite(String),
}

impl StoreUrl {
    /// The store `text` names.
    pub(crate) fn parse(text: &str) -> Result<Self, Failure> {
        let scheme = text.split_once("://").map(|(scheme, _)| scheme);
        match (text, scheme) {
            ("memory", _) => Ok(Self::Memory),
            (_, Some("redis" | "rediss" | "redis+cluster")) => Ok(Self::Redis(text.to_owned())),
            (_, Some("postgres" | "postgresql")) => Ok(Self::Postgres(text.to_owned())),
            (_, Some("sqlite")) if text.len() > "sqlite://".len() => {
                Ok(Self::Sqlite(text.to_owned()))
            }
            _ => Err(usage(format!(
                "--store {:?}: expected {EXPECTED}",
                redacted(text)
            ))),
        }
    }

    /// The URL as messages show it: its password masked.
    pub(crate) fn shown(&self) -> String {
        match self {
            Self::Memory => "memory".to_owned(),
            Self::Redis(url) | Self::Postgres(url) => redacted(url),
            Self::Sqlite(url) => url.clone(),
        }
    }

    /// The file of a `sqlite://PATH` store.
    fn sqlite_path(url: &str) -> &str {
        url.strip_prefix("sqlite://").unwrap_or(url)
    }

    /// The failure of a store that cannot be used: exit 2, naming the store.
    pub(crate) fn unreachable(&self, error: &StoreError) -> Failure {
        usage(format!("--store {}: {error}", self.shown()))
    }

    /// The idempotency store, connected (and, for PostgreSQL, its table created when missing).
    pub(crate) async fn idempotency_store(&self) -> Result<Arc<dyn IdempotencyStore>, Failure> {
        Ok(match self {
            Self::Memory => Arc::new(MemoryStore::new(DEFAULT_MEMORY_CAPACITY)),
            Self::Redis(url) => Arc::new(
                RedisStore::builder(url.as_str())
                    .connect()
                    .await
                    .map_err(|e| self.unreachable(&e))?,
            ),
            Self::Postgres(url) => {
                let store = PostgresStore::builder(url.as_str())
                    .connect()
                    .await
                    .map_err(|e| self.unreachable(&e))?;
                store.migrate().await.map_err(|e| self.unreachable(&e))?;
                Arc::new(store)
            }
            Self::Sqlite(url) => Arc::new(
                SqliteStore::builder(Self::sqlite_path(url))
                    .connect()
                    .await
                    .map_err(|e| self.unreachable(&e))?,
            ),
        })
    }
}

impl StoreUrl {
    /// The queue backend, connected (and its table or streams created when missing).
    pub(crate) async fn queue_backend(&self) -> Result<Arc<dyn QueueBackend>, Failure> {
        Ok(match self {
            Self::Memory => Arc::new(MemoryQueue::new()),
            Self::Redis(url) => Arc::new(
                RedisQueue::builder(url.as_str())
                    .connect()
                    .await
                    .map_err(|e| self.unreachable(&e))?,
            ),
            Self::Postgres(url) => {
                let queue = PostgresQueue::builder(url.as_str())
                    .connect()
                    .await
                    .map_err(|e| self.unreachable(&e))?;
                queue.migrate().await.map_err(|e| self.unreachable(&e))?;
                Arc::new(queue)
            }
            Self::Sqlite(url) => Arc::new(
                SqliteQueue::builder(Self::sqlite_path(url))
                    .connect()
                    .await
                    .map_err(|e| self.unreachable(&e))?,
            ),
        })
    }

    /// This store, unless it is `memory`, which `subcommand` cannot use: the memory queue
    /// lives in the `listen` process that holds it.
    pub(crate) fn shared(self, subcommand: &str) -> Result<Self, Failure> {
        match self {
            Self::Memory => Err(usage(format!(
                "--store memory: the memory queue lives in the `listen --enqueue` process that holds it, out of {subcommand}'s reach; use redis://HOST:PORT, postgres://... or sqlite://PATH, or drain it with `listen --enqueue --forward-to URL`"
            ))),
            other => Ok(other),
        }
    }
}

/// `url` with its password, if any, replaced by `***`; a text that is not a URL as it is.
pub(crate) fn redacted(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) if url.password().is_some() => {
            // Fails only for URLs that cannot have a password, which this one has.
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            redacted("postgres://app:s3cret@db:5432/test"),
            "postgres://app:***@db:5432/test"
        );
        assert_eq!(
            redacted("redis://:pw@127.0.0.1:6379/0"),
            "redis://:***@127.0.0.1:6379/0"
        );
        assert_eq!(redacted("postgres://app@db/test"), "postgres://app@db/test");
        assert_eq!(redacted("memory"), "memory");
    }

    #[test]
    fn schemes() {
        assert_eq!(StoreUrl::parse("memory").ok(), Some(StoreUrl::Memory));
        assert_eq!(
            StoreUrl::parse("rediss://h:1").ok(),
            Some(StoreUrl::Redis("rediss://h:1".to_owned()))
        );
        assert_eq!(
            StoreUrl::parse("postgresql://h/d").ok(),
            Some(StoreUrl::Postgres("postgresql://h/d".to_owned()))
        );
        let refused = StoreUrl::parse("mysql://u:pw@h/d")
            .err()
            .map(|f| (f.code, f.message));
        assert_eq!(
            refused,
            Some((
                2,
                format!("--store \"mysql://u:***@h/d\": expected {EXPECTED}")
            ))
        );
    }
}
