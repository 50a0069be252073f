//! Exactly-once effects on SQLite: [`SqliteQueue::complete_in`] marks a job done inside the
//! handler's own transaction, and [`SqliteQueue::transactional`] makes a worker's handler of a
//! function that writes on that transaction, as on PostgreSQL.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::SqliteConnection;
use sqlx::{Sqlite, Transaction};

use super::{STORE, SqliteQueue, now_micros};
use crate::queue::transactional::{TransactionalError, TransactionalFuture};
use crate::queue::{Job, storage_key};
use crate::store::StoreError;
use crate::store::backend::unavailable;
use crate::store::sql::micros_after;

impl SqliteQueue {
    /// Marks `job` done, kept for `retention`, inside the caller's transaction `conn` (pass
    /// `&mut tx`): the completion commits or rolls back with the caller's own writes. The
    /// transaction holds the file's write lock from its first write to its end, so no other
    /// worker can take the job over before the commit; the worker's own
    /// [`complete`](crate::queue::QueueBackend::complete) after the commit is then a no-op.
    ///
    /// # Errors
    ///
    /// [`StoreError::StaleToken`] when the job's lease ran out and another worker took it
    /// since (or it is no longer running): roll back, so that nothing this handler wrote
    /// commits. [`StoreError::Unavailable`] when the statement fails: roll back too.
    pub async fn complete_in(
        &self,
        conn: &mut SqliteConnection,
        namespace: &str,
        job: &Job,
        retention: Duration,
    ) -> Result<(), StoreError> {
        let until = micros_after(now_micros(self.clock()), retention);
        let stored = storage_key(job.key());
        let token = job.lease().token.to_string();
        let done = sqlx::query(&self.sql().complete)
            .bind(namespace)
            .bind(&stored)
            .bind(&token)
            .bind(until)
            .execute(&mut *conn)
            .await
            .map_err(|error| unavailable(STORE, error))?
            .rows_affected();
        if done == 1 {
            return Ok(());
        }
        let already: bool = sqlx::query_scalar(&self.sql().done_under)
            .bind(namespace)
            .bind(&stored)
            .bind(&token)
            .fetch_one(&mut *conn)
            .await
            .map_err(|error| unavailable(STORE, error))?;
        if already {
            Ok(())
        } else {
            Err(StoreError::StaleToken)
        }
    }

    /// A [`Worker`](crate::queue::Worker) handler that runs `handler` on a transaction of the
    /// queue's pool (`BEGIN IMMEDIATE`: it holds the file's write lock until it ends, so keep
    /// such handlers short; other writers wait up to the busy timeout) and commits it together
    /// with the job's completion ([`complete_in`](Self::complete_in) in `namespace`, kept for
    /// `retention`). `handler` gets the job and the open transaction, and gives it back to
    /// commit:
    ///
    /// ```no_run
    /// # async fn demo(queue: amps_webhooks::queue::SqliteQueue) {
    /// # use std::time::Duration;
    /// use amps_webhooks::store::sqlx;
    ///
    /// let handler = queue.transactional("orders", Duration::from_secs(72 * 3600), |job, mut tx| async move {
    ///     sqlx::query("INSERT INTO orders (event_key) VALUES (?1)")
    ///         .bind(job.key().to_owned())
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
        F: Fn(Job, Transaction<'static, Sqlite>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Transaction<'static, Sqlite>, E>> + Send + 'static,
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
                let tx = queue
                    .database()
                    .pool
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(store)?;
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
