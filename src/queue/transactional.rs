//! What the transactional handlers of the SQL backends (PostgreSQL, SQLite) share: the error
//! of a handler that committed nothing ([`TransactionalError`]) and the future a worker awaits
//! ([`TransactionalFuture`]).

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::store::StoreError;

/// Why a transactional handler (`PostgresQueue::transactional`, `SqliteQueue::transactional`)
/// committed nothing.
#[derive(Debug)]
pub enum TransactionalError<E> {
    /// The handler failed (its transaction was rolled back).
    Handler(E),
    /// The transaction could not begin, complete the job or commit: the database did not answer
    /// ([`StoreError::Unavailable`]), or the job was taken over
    /// ([`StoreError::StaleToken`]: this worker was fenced off, and nothing it wrote committed).
    Store(StoreError),
}

impl<E: fmt::Display> fmt::Display for TransactionalError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Handler(error) => write!(f, "{error}"),
            Self::Store(error) => write!(f, "the transaction did not commit: {error}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for TransactionalError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Handler(error) => Some(error),
            Self::Store(error) => Some(error),
        }
    }
}

/// The future of a transactional handler: what the [`Worker`](crate::queue::Worker) awaits.
pub type TransactionalFuture<E> =
    Pin<Box<dyn Future<Output = Result<(), TransactionalError<E>>> + Send + 'static>>;
