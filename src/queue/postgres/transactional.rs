//! Exactly-once effects: [`PostgresQueue::complete_in`] marks a job done inside the handler's
//! own transaction, and [`PostgresQueue::transactional`] makes a worker's handler of a function
//! that writes on that transaction ([`TransactionalError`] when it cannot commit).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgConnection;
use sqlx::{Postgres, Transaction};

use super::{PostgresQueue, STORE};
use crate::queue::transactional::{TransactionalError, TransactionalFuture};
use crate::queue::{Job, storage_key};
use crate::store::StoreError;
use crate::store::backend::unavailable;
use crate::store::sql::{micros, micros_after};

impl PostgresQueue {
    /// Marks `job` done, kept for `retention`, inside the caller's transaction `conn` (pass
    /// `&mut tx`): the completion commits or rolls back with the caller's own writes. Once it
    /// answers `Ok`, the job's row is locked by the transaction, so no other worker can take
    /// the job over before the commit; the worker's own
    /// [`complete`](crate::queue::QueueBackend::complete) after the commit is then a no-op.
    ///
    /// # Errors
    ///
    /// [`StoreError::StaleToken`] when the job's lease ran out and another worker took it
    /// since (or it is no longer running): roll back, so that nothing this handler wrote
    /// commits. [`StoreError::Unavailable`] when the statement fails (the connection broke,
    /// the transaction is already aborted, a lock or statement timeout): roll back too.
    pub async fn complete_in(
        &self,
        conn: &mut PgConnection,
        namespace: &str,
        job: &Job,
        retention: Duration,
    ) -> Result<(), StoreError> {
        let now = micros(self.clock().now());
        let done: bool = sqlx::query_scalar(&self.sql().complete)
            .bind(namespace)
            .bind(storage_key(job.key()))
            .bind(job.lease().token.to_string())
            .bind(micros_after(now, retention))
            .fetch_one(conn)
            .await
            .map_err(|error| unavailable(STORE, error))?;
        if done {
            Ok(())
        } else {
            Err(StoreError::StaleToken)
        }
    }

    /// A [`Worker`](crate::queue::Worker) handler that runs `handler` on a transaction of the
    /// queue's pool and commits it together with the job's completion
    /// ([`complete_in`](Self::complete_in) in `namespace`, kept for `retention`): the business
    /// writes and the job's `done` commit together or not at all. `handler` gets the job and
    /// the open transaction, and gives the transaction back to commit it:
    ///
    /// ```no_run
    /// # async fn demo(queue: amps_webhooks::queue::PostgresQueue) {
    /// # use std::time::Duration;
    /// use amps_webhooks::store::sqlx;
    ///
    /// let handler = queue.transactional("orders", Duration::from_secs(72 * 3600), |job, mut tx| async move {
    ///     sqlx::query("INSERT INTO orders (event_key) VALUES ($1)")
    ///         .bind(job.key())
    ///         .execute(&mut *tx)
    ///         .await?;
    ///     Ok::<_, sqlx::Error>(tx)
    /// });
    /// # let _ = handler;
    /// # }
    /// ```
    ///
    /// A handler that fails (`Err`, or a panic) rolls back; so does a worker whose job was
    /// taken over meanwhile ([`TransactionalError::Store`] with [`StoreError::StaleToken`]),
    /// so that a fenced worker commits nothing. Give the same `retention` as the queue's.
    pub fn transactional<F, Fut, E>(
        &self,
        namespace: &str,
        retention: Duration,
        handler: F,
    ) -> impl Fn(Job) -> TransactionalFuture<E> + Clone + Send + Sync + 'static
    where
        F: Fn(Job, Transaction<'static, Postgres>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Transaction<'static, Postgres>, E>> + Send + 'static,
        E: Send + 'static,
    {
        let queue = self.clone();
        let namespace: Arc<str> = namespace.into();
        let handler = Arc::new(handler);
        move |job: Job| {
            let (queue, namespace, handler) =
                (queue.clone(), Arc::clone(&namespace), Arc::clone(&handler));
            Box::pin(async move {
                let store = |error| TransactionalError::Store(unavailable(STORE, error));
                let tx = queue.pool().begin().await.map_err(store)?;
                let fence = job.clone();
                let mut tx = handler(job, tx)
                    .await
                    .map_err(TransactionalError::Handler)?;
                queue
                    .complete_in(&mut tx, &namespace, &fence, retention)
                    .await
                    .map_err(TransactionalError::Store)?;
                tx.commit().await.map_err(store)
            }) as TransactionalFuture<E>
        }
    }
}
