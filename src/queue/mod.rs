//! Acknowledge fast, process later: a durable queue of verified deliveries. The receiver
//! verifies, deduplicates and stores each delivery as a job in one atomic step, answers 200 at
//! once, and workers run the handler later, under a lease with a fencing token, retrying along
//! a [`RetrySchedule`](crate::retry::RetrySchedule) and dead-lettering after the last attempt.
//!
//! This module owns the [`Queue`] (one namespace over one [`QueueBackend`]: enqueue, stats,
//! dead letters, redrive, purge); the jobs are [`JobRecord`]s, taken by a [`Worker`] as
//! [`Job`]s; [`MemoryQueue`] is the in-memory backend.
//!
// The guide's example parses an `AmpsEvent`: with the default `amps` feature only.
#![cfg_attr(feature = "amps", doc = include_str!("../docs/queue.md"))]

mod backend;
mod job;
mod memory;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
mod postgres;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
mod redis;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod rows;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
mod sqlite;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod transactional;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod waiting;
mod worker;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use backend::QueueBackend;
pub use job::{Enqueue, Job, JobRecord, JobState, Lease, QueueStats, Redrive};
pub use memory::{MemoryQueue, MemoryQueueBuilder};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::{
    DEFAULT_POSTGRES_QUEUE_POLL, DEFAULT_POSTGRES_QUEUE_TABLE, PostgresQueue, PostgresQueueBuilder,
};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::{RedisQueue, RedisQueueBuilder};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::{
    DEFAULT_SQLITE_QUEUE_POLL, DEFAULT_SQLITE_QUEUE_TABLE, SqliteQueue, SqliteQueueBuilder,
};
#[cfg(any(feature = "postgres", feature = "sqlite"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "postgres", feature = "sqlite"))))]
pub use transactional::{TransactionalError, TransactionalFuture};
pub use worker::{
    Attempt, AttemptOutcome, DEFAULT_CONCURRENCY, DEFAULT_POLL, DEFAULT_SHUTDOWN_DEADLINE,
    HandlerFailure, Worker, WorkerBuilder, WorkerReport,
};

use crate::clock::{Clock, SystemClock};
use crate::event::Event;
use crate::headers::Headers;
use crate::store::{DEFAULT_RETENTION, StoreError};

/// The form under which a backend that cannot index any key stores `key`: the key itself when
/// it is 1 to [`MAX_PLAIN_KEY_LEN`](crate::store::MAX_PLAIN_KEY_LEN) bytes of printable ASCII,
/// prefixed `k:`, else `h:` and its SHA-256 in lowercase hex (the stores' own rule, so that no
/// plain key is ever stored as another key's hash).
#[must_use]
pub fn storage_key(key: &str) -> String {
    crate::store::tagged_key("", key)
        .trim_start_matches(':')
        .to_owned()
}

/// One queue: a namespace over a [`QueueBackend`], with the retention of its done jobs and the
/// clock that stamps what it enqueues. Cheap to clone; receivers enqueue through it, and
/// [`worker`](Self::worker) builds the workers that drain it.
#[derive(Clone)]
pub struct Queue {
    backend: Arc<dyn QueueBackend>,
    namespace: Arc<str>,
    retention: Duration,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("backend", &self.backend)
            .field("namespace", &self.namespace)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

impl Queue {
    /// The queue `namespace` over `backend`, keeping done jobs for
    /// [`DEFAULT_RETENTION`] (72 h) and stamping jobs with the system clock.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidNamespace`] unless `namespace` is 1 to 64 characters from
    /// `A-Z a-z 0-9 - _ . /`.
    pub fn new(backend: Arc<dyn QueueBackend>, namespace: &str) -> Result<Self, StoreError> {
        if !crate::store::valid_namespace(namespace) {
            return Err(StoreError::InvalidNamespace {
                len: namespace.len(),
            });
        }
        Ok(Self {
            backend,
            namespace: namespace.into(),
            retention: DEFAULT_RETENTION,
            clock: Arc::new(SystemClock),
        })
    }

    /// Sets how long a done job is kept, so that a redelivery within it is a duplicate; make
    /// it longer than the sender's whole retry schedule.
    #[must_use]
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Sets the clock that stamps [`JobRecord::received_at`] (share the backend's in tests).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The backend.
    #[must_use]
    pub fn backend(&self) -> &Arc<dyn QueueBackend> {
        &self.backend
    }

    /// The namespace.
    #[must_use]
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The retention of done jobs.
    #[must_use]
    pub fn retention(&self) -> Duration {
        self.retention
    }

    /// Stores a verified `event` as a job (its raw body, and the signature headers read from
    /// `headers`), unless its idempotency key already has one: dedup and store in one atomic
    /// step of the backend.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend cannot answer: nothing was stored, so answer the
    /// sender 503 (never acknowledge it).
    pub async fn enqueue<T, H: Headers + ?Sized>(
        &self,
        event: &Event<T>,
        headers: &H,
    ) -> Result<Enqueue, StoreError> {
        let record = JobRecord::from_event(event, headers, self.clock.now());
        let answer = self.backend.enqueue_owned(&self.namespace, record).await;
        self.log_enqueue(event.idempotency_key(), &answer);
        answer
    }

    /// Stores `record` as a pending job, due at once, unless its key already has one.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend cannot answer; nothing was stored then.
    pub async fn enqueue_record(&self, record: &JobRecord) -> Result<Enqueue, StoreError> {
        let answer = self.backend.enqueue(&self.namespace, record).await;
        self.log_enqueue(&record.key, &answer);
        answer
    }

    fn log_enqueue(&self, key: &str, answer: &Result<Enqueue, StoreError>) {
        match answer {
            Ok(Enqueue::Enqueued) => {
                tracing::debug!(namespace = %self.namespace, key, "job enqueued");
            }
            Ok(Enqueue::Duplicate { state }) => {
                tracing::info!(namespace = %self.namespace, key, state = state.as_str(), "duplicate delivery; nothing enqueued");
            }
            Err(error) => {
                tracing::error!(namespace = %self.namespace, key, error = %error, "queue backend failed on enqueue; nothing stored");
            }
        }
    }

    /// How many jobs are in each state, and the age of the oldest pending one.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend cannot answer.
    /// With feature `metrics`, the answer also sets the queue's depth gauges.
    pub async fn stats(&self) -> Result<QueueStats, StoreError> {
        let stats = self.backend.stats(&self.namespace).await?;
        crate::metrics::queue_depth(
            self.backend.name(),
            stats.pending,
            stats.running,
            stats.dead,
            stats.oldest_pending_age,
        );
        Ok(stats)
    }

    /// Up to `limit` dead jobs, the most recently dead first.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend cannot answer.
    pub async fn dead(&self, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        self.backend.dead(&self.namespace, limit).await
    }

    /// Puts dead jobs back (the one of a key, or all), pending with their attempts reset;
    /// answers how many went back.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend cannot answer.
    pub async fn redrive(&self, which: Redrive<'_>) -> Result<u64, StoreError> {
        let moved = self.backend.redrive(&self.namespace, which).await?;
        tracing::info!(namespace = %self.namespace, moved, "dead jobs redriven");
        Ok(moved)
    }

    /// Removes the done jobs whose retention is over; answers how many.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend cannot answer.
    pub async fn purge(&self) -> Result<u64, StoreError> {
        self.backend.purge(&self.namespace).await
    }

    /// Purges at once, then every `every`, on the current tokio runtime, until the handle is
    /// aborted; a failed purge is logged and tried again at the next tick.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or when `every` is zero (as [`tokio::time::interval`]).
    #[must_use = "the purger runs until its handle is aborted"]
    pub fn spawn_purger(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let queue = self.clone();
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::spawn(async move {
            loop {
                ticks.tick().await;
                match queue.purge().await {
                    Ok(purged) => {
                        tracing::debug!(namespace = %queue.namespace, purged, "purged done jobs past their retention");
                    }
                    Err(error) => {
                        tracing::warn!(namespace = %queue.namespace, error = %error, "could not purge done jobs; retrying at the next tick");
                    }
                }
            }
        })
    }

    /// A builder of workers that drain this queue.
    #[must_use]
    pub fn worker<O, E>(&self) -> WorkerBuilder<O, E> {
        WorkerBuilder::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_outside_the_rule_is_refused() {
        let backend: Arc<dyn QueueBackend> = Arc::new(MemoryQueue::new());
        for bad in ["", "a:b", "a b", &"n".repeat(65)] {
            assert!(
                matches!(
                    Queue::new(Arc::clone(&backend), bad),
                    Err(StoreError::InvalidNamespace { len }) if len == bad.len()
                ),
                "{bad:?}"
            );
        }
        let queue = Queue::new(backend, "tenant-1/orders.v2_x").unwrap();
        assert_eq!(queue.namespace(), "tenant-1/orders.v2_x");
        assert_eq!(queue.retention(), DEFAULT_RETENTION);
        assert_eq!(
            queue.with_retention(Duration::from_secs(9)).retention(),
            Duration::from_secs(9)
        );
    }

    #[test]
    fn storage_keys_are_tagged() {
        assert_eq!(storage_key("evt_1"), "k:evt_1");
        let hashed = storage_key("é");
        assert_eq!((&hashed[..2], hashed.len()), ("h:", 66));
        assert_eq!(storage_key(&"x".repeat(201)).len(), 66);
    }
}
