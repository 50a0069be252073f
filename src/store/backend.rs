//! What the stores with I/O (Redis, PostgreSQL, SQLite) share: every operation bounded by the command
//! timeout, and the backend's own errors read as [`StoreError`]s (kept in `source()`).

use std::error::Error;
use std::future::Future;
use std::time::Duration;

use super::StoreError;

/// A backend's error, as the bounded operations read it.
pub(crate) trait BackendError: Error + Send + Sync + 'static {
    /// True when the backend itself gave up waiting: a [`StoreError::Timeout`], not
    /// [`StoreError::Unavailable`].
    fn is_timeout(&self) -> bool;
}

#[cfg(feature = "redis")]
impl BackendError for redis::RedisError {
    fn is_timeout(&self) -> bool {
        redis::RedisError::is_timeout(self)
    }
}

#[cfg(any(feature = "postgres", feature = "sqlite"))]
impl BackendError for sqlx::Error {
    fn is_timeout(&self) -> bool {
        // The pool's acquire timeout, which a store opened from a URL sets to the command's.
        matches!(self, Self::PoolTimedOut)
    }
}

/// Runs `operation` for `store` within `timeout`: its value, else [`StoreError::Timeout`]
/// (out of time here or in the backend), else [`StoreError::Unavailable`].
pub(crate) async fn bounded<T, E: BackendError>(
    store: &'static str,
    timeout: Duration,
    operation: impl Future<Output = Result<T, E>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(timeout, operation).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) if !error.is_timeout() => Err(unavailable(store, error)),
        Ok(Err(_)) | Err(_) => Err(StoreError::Timeout {
            store,
            after: timeout,
        }),
    }
}

/// `store` failed, for `error`.
pub(crate) fn unavailable(
    store: &'static str,
    error: impl Error + Send + Sync + 'static,
) -> StoreError {
    StoreError::Unavailable {
        store,
        source: Box::new(error),
    }
}

/// `store`'s configuration is refused, for `detail` (what to change).
pub(crate) fn configuration(store: &'static str, detail: impl Into<String>) -> StoreError {
    StoreError::Configuration {
        store,
        detail: detail.into(),
    }
}
