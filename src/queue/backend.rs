//! The [`QueueBackend`] trait: what a queue's storage must do, each transition atomic in the
//! store. [`Queue`](super::Queue) and [`Worker`](super::Worker) are written against it; the
//! memory, Redis, PostgreSQL and SQLite backends implement it.

use std::fmt;
use std::time::Duration;

use super::job::{Enqueue, Job, JobRecord, QueueStats, Redrive};
use crate::store::{StoreError, StoreFuture};

/// The storage of a queue of verified deliveries, shared by every receiver that enqueues and
/// every worker that takes jobs. Object-safe (held as `Arc<dyn QueueBackend>`); each method
/// returns a [`StoreFuture`], as the idempotency stores' do.
///
/// Every method takes the queue's `namespace` (validated by [`Queue`](super::Queue): 1 to 64
/// characters from `A-Z a-z 0-9 - _ . /`), so that one backend serves several queues. A job is
/// identified in its namespace by its idempotency key ([`JobRecord::key`]); a backend that
/// cannot index a long key stores [`storage_key`](super::storage_key) instead.
///
/// The states: a job is *pending* from its enqueue until a worker takes it (and again after a
/// failure with attempts left, from its next run time, or after a release); *running* while a
/// worker holds its lease; *done* once completed, for the retention, then purged; *dead* after
/// its last attempt failed, until redriven. A running job whose lease ran out is taken again
/// as if pending, under a new token: the old worker's late calls get
/// [`StoreError::StaleToken`] and change nothing.
pub trait QueueBackend: Send + Sync + fmt::Debug {
    /// The backend's name in metrics (the `backend` label, feature `metrics`): `memory`,
    /// `redis`, `postgres`, `sqlite` for this crate's backends; `custom` unless a backend names
    /// itself.
    /// A fixed string, never an address or a key.
    fn name(&self) -> &'static str {
        "custom"
    }

    /// Stores `job` as pending, due at once, unless its key already has a job in this
    /// namespace (pending, running, dead, or done within its retention): one atomic step.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store cannot answer; nothing was stored then.
    fn enqueue<'a>(
        &'a self,
        namespace: &'a str,
        job: &'a JobRecord,
    ) -> StoreFuture<'a, Result<Enqueue, StoreError>>;

    /// [`enqueue`](Self::enqueue) of a record the caller gives away: a backend that keeps
    /// the record itself (the memory backend) stores it without a copy. By default, `enqueue`
    /// of a reference to it.
    ///
    /// # Errors
    ///
    /// As [`enqueue`](Self::enqueue).
    fn enqueue_owned<'a>(
        &'a self,
        namespace: &'a str,
        job: JobRecord,
    ) -> StoreFuture<'a, Result<Enqueue, StoreError>> {
        StoreFuture::new(async move { self.enqueue(namespace, &job).await })
    }

    /// Takes up to `max` due jobs (pending with a next run time not after now, or running with
    /// a lease that ran out), oldest first, each under a new lease of `lease` with a new
    /// token, its attempt counted ([`JobRecord::attempts`] is the number of this attempt).
    /// When none is due, waits up to `wait` for one (woken by an enqueue where the backend can
    /// be woken, polling otherwise) and answers what it found, possibly nothing.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store cannot answer; no job was taken then.
    fn take<'a>(
        &'a self,
        namespace: &'a str,
        max: usize,
        lease: Duration,
        wait: Duration,
    ) -> StoreFuture<'a, Result<Vec<Job>, StoreError>>;

    /// Extends the lease of `job` to `lease` from now, if its token still holds it.
    ///
    /// # Errors
    ///
    /// [`StoreError::StaleToken`] when the job was taken over (or is no longer running);
    /// another [`StoreError`] when the store cannot answer.
    fn renew<'a>(
        &'a self,
        namespace: &'a str,
        job: &'a Job,
        lease: Duration,
    ) -> StoreFuture<'a, Result<(), StoreError>>;

    /// Marks `job` done, kept for `retention` (a redelivery within it is a duplicate), if its
    /// token still holds it (a lease that ran out with nobody taking the job since still
    /// counts). Completing a job already done under the same token succeeds and changes
    /// nothing: a transactional handler may have marked it done in its own transaction (the
    /// PostgreSQL and SQLite backends), and the worker's completion after it is then a no-op.
    ///
    /// # Errors
    ///
    /// [`StoreError::StaleToken`] when the job was taken over since (left untouched);
    /// another [`StoreError`] when the store cannot answer.
    fn complete<'a>(
        &'a self,
        namespace: &'a str,
        job: &'a Job,
        retention: Duration,
    ) -> StoreFuture<'a, Result<(), StoreError>>;

    /// Records that this attempt of `job` failed with `error`: pending again after `retry_in`
    /// (from now), or dead when `retry_in` is `None`. The attempt stays counted.
    ///
    /// # Errors
    ///
    /// [`StoreError::StaleToken`] when the job was taken over since (left untouched);
    /// another [`StoreError`] when the store cannot answer.
    fn fail<'a>(
        &'a self,
        namespace: &'a str,
        job: &'a Job,
        error: &'a str,
        retry_in: Option<Duration>,
    ) -> StoreFuture<'a, Result<(), StoreError>>;

    /// Gives `job` back, pending and due at once, its attempt not counted: what a worker
    /// shutting down does with the jobs it did not finish.
    ///
    /// # Errors
    ///
    /// [`StoreError::StaleToken`] when the job was taken over since (left untouched);
    /// another [`StoreError`] when the store cannot answer.
    fn release<'a>(
        &'a self,
        namespace: &'a str,
        job: &'a Job,
    ) -> StoreFuture<'a, Result<(), StoreError>>;

    /// Puts dead jobs back, pending and due at once with their attempts reset to 0 (their last
    /// error kept until the next attempt): the one of a key, or all. Answers how many went
    /// back.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store cannot answer.
    fn redrive<'a>(
        &'a self,
        namespace: &'a str,
        which: Redrive<'a>,
    ) -> StoreFuture<'a, Result<u64, StoreError>>;

    /// Up to `limit` dead jobs, the most recently dead first.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store cannot answer.
    fn dead<'a>(
        &'a self,
        namespace: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, Result<Vec<JobRecord>, StoreError>>;

    /// How many jobs are in each state, and the age of the oldest pending one.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store cannot answer.
    fn stats<'a>(&'a self, namespace: &'a str) -> StoreFuture<'a, Result<QueueStats, StoreError>>;

    /// Removes the done jobs whose retention is over; answers how many.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store cannot answer.
    fn purge<'a>(&'a self, namespace: &'a str) -> StoreFuture<'a, Result<u64, StoreError>>;
}

/// Implements [`QueueBackend`] for a backend (named `$name` in metrics) by delegating each
/// method to the backend's inherent async method of the same arguments: `enqueue_job`,
/// `take_jobs`, `renew_job`, `complete_job`, `fail_job`, `release_job`, `redrive_jobs`,
/// `dead_jobs`, `stats_of` and `purge_done`. The Redis, PostgreSQL and SQLite backends are
/// written this way; their modules hold what each transition runs.
#[cfg(any(feature = "redis", feature = "postgres", feature = "sqlite"))]
macro_rules! delegate_queue_backend {
    ($backend:ty, $name:expr) => {
        impl $crate::queue::QueueBackend for $backend {
            fn name(&self) -> &'static str {
                $name
            }

            fn enqueue<'a>(
                &'a self,
                namespace: &'a str,
                job: &'a $crate::queue::JobRecord,
            ) -> $crate::store::StoreFuture<
                'a,
                Result<$crate::queue::Enqueue, $crate::store::StoreError>,
            > {
                $crate::store::StoreFuture::new(self.enqueue_job(namespace, job))
            }

            fn take<'a>(
                &'a self,
                namespace: &'a str,
                max: usize,
                lease: ::std::time::Duration,
                wait: ::std::time::Duration,
            ) -> $crate::store::StoreFuture<
                'a,
                Result<Vec<$crate::queue::Job>, $crate::store::StoreError>,
            > {
                $crate::store::StoreFuture::new(self.take_jobs(namespace, max, lease, wait))
            }

            fn renew<'a>(
                &'a self,
                namespace: &'a str,
                job: &'a $crate::queue::Job,
                lease: ::std::time::Duration,
            ) -> $crate::store::StoreFuture<'a, Result<(), $crate::store::StoreError>> {
                $crate::store::StoreFuture::new(self.renew_job(namespace, job, lease))
            }

            fn complete<'a>(
                &'a self,
                namespace: &'a str,
                job: &'a $crate::queue::Job,
                retention: ::std::time::Duration,
            ) -> $crate::store::StoreFuture<'a, Result<(), $crate::store::StoreError>> {
                $crate::store::StoreFuture::new(self.complete_job(namespace, job, retention))
            }

            fn fail<'a>(
                &'a self,
                namespace: &'a str,
                job: &'a $crate::queue::Job,
                error: &'a str,
                retry_in: Option<::std::time::Duration>,
            ) -> $crate::store::StoreFuture<'a, Result<(), $crate::store::StoreError>> {
                $crate::store::StoreFuture::new(self.fail_job(namespace, job, error, retry_in))
            }

            fn release<'a>(
                &'a self,
                namespace: &'a str,
                job: &'a $crate::queue::Job,
            ) -> $crate::store::StoreFuture<'a, Result<(), $crate::store::StoreError>> {
                $crate::store::StoreFuture::new(self.release_job(namespace, job))
            }

            fn redrive<'a>(
                &'a self,
                namespace: &'a str,
                which: $crate::queue::Redrive<'a>,
            ) -> $crate::store::StoreFuture<'a, Result<u64, $crate::store::StoreError>> {
                $crate::store::StoreFuture::new(self.redrive_jobs(namespace, which))
            }

            fn dead<'a>(
                &'a self,
                namespace: &'a str,
                limit: usize,
            ) -> $crate::store::StoreFuture<
                'a,
                Result<Vec<$crate::queue::JobRecord>, $crate::store::StoreError>,
            > {
                $crate::store::StoreFuture::new(self.dead_jobs(namespace, limit))
            }

            fn stats<'a>(
                &'a self,
                namespace: &'a str,
            ) -> $crate::store::StoreFuture<
                'a,
                Result<$crate::queue::QueueStats, $crate::store::StoreError>,
            > {
                $crate::store::StoreFuture::new(self.stats_of(namespace))
            }

            fn purge<'a>(
                &'a self,
                namespace: &'a str,
            ) -> $crate::store::StoreFuture<'a, Result<u64, $crate::store::StoreError>> {
                $crate::store::StoreFuture::new(self.purge_done(namespace))
            }
        }
    };
}

#[cfg(any(feature = "redis", feature = "postgres", feature = "sqlite"))]
pub(crate) use delegate_queue_backend;
