//! The operator's side of [`PostgresQueue`] (redrive, the dead letters, the stats, the purge)
//! and its [`QueueBackend`] implementation, which delegates each method to the statement that
//! runs it.

use std::time::Duration;

use super::backend::fenced;
use super::{PostgresQueue, RecordRow, record};
use crate::queue::{Enqueue, Job, JobRecord, QueueBackend, QueueStats, Redrive, storage_key};
use crate::store::sql::{micros, micros_after};
use crate::store::{StoreError, StoreFuture};

/// Rows deleted per statement by [`purge`](QueueBackend::purge).
const PURGE_BATCH: i64 = 1_000;

impl PostgresQueue {
    pub(super) async fn redrive_jobs(
        &self,
        namespace: &str,
        which: Redrive<'_>,
    ) -> Result<u64, StoreError> {
        let now = micros(self.clock().now());
        let stored = match which {
            Redrive::Key(key) => Some(storage_key(key)),
            Redrive::All => None,
        };
        let (moved, _woken): (i64, i64) = self
            .bounded(
                sqlx::query_as(&self.sql().redrive)
                    .bind(namespace)
                    .bind(now)
                    .bind(self.channel(namespace))
                    .bind(stored.as_deref())
                    .fetch_one(self.pool()),
            )
            .await?;
        Ok(moved.unsigned_abs())
    }

    pub(super) async fn dead_jobs(
        &self,
        namespace: &str,
        limit: usize,
    ) -> Result<Vec<JobRecord>, StoreError> {
        let rows: Vec<RecordRow> = self
            .bounded(
                sqlx::query_as(&self.sql().dead)
                    .bind(namespace)
                    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                    .fetch_all(self.pool()),
            )
            .await?;
        rows.into_iter()
            .map(|row| record(row, &self.sql().table).map(|(record, _)| record))
            .collect()
    }

    pub(super) async fn stats_of(&self, namespace: &str) -> Result<QueueStats, StoreError> {
        let now = micros(self.clock().now());
        let (pending, running, dead, done, oldest): (i64, i64, i64, i64, Option<i64>) = self
            .bounded(
                sqlx::query_as(&self.sql().stats)
                    .bind(namespace)
                    .bind(now)
                    .fetch_one(self.pool()),
            )
            .await?;
        Ok(QueueStats {
            pending: pending.unsigned_abs(),
            running: running.unsigned_abs(),
            dead: dead.unsigned_abs(),
            done: done.unsigned_abs(),
            oldest_pending_age: oldest.map(|oldest| {
                Duration::from_micros(now.saturating_sub(oldest).max(0).unsigned_abs())
            }),
        })
    }

    pub(super) async fn purge_done(&self, namespace: &str) -> Result<u64, StoreError> {
        let now = micros(self.clock().now());
        let mut total = 0;
        loop {
            let deleted = self
                .bounded(async {
                    Ok(sqlx::query(&self.sql().purge)
                        .bind(namespace)
                        .bind(now)
                        .bind(PURGE_BATCH)
                        .execute(self.pool())
                        .await?
                        .rows_affected())
                })
                .await?;
            total += deleted;
            if deleted < PURGE_BATCH.unsigned_abs() {
                return Ok(total);
            }
        }
    }
}

impl QueueBackend for PostgresQueue {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn enqueue<'a>(
        &'a self,
        namespace: &'a str,
        job: &'a JobRecord,
    ) -> StoreFuture<'a, Result<Enqueue, StoreError>> {
        StoreFuture::new(self.enqueue_job(namespace, job))
    }

    fn take<'a>(
        &'a self,
        namespace: &'a str,
        max: usize,
        lease: Duration,
        wait: Duration,
    ) -> StoreFuture<'a, Result<Vec<Job>, StoreError>> {
        StoreFuture::new(self.take_jobs(namespace, max, lease, wait))
    }

    fn renew<'a>(
        &'a self,
        namespace: &'a str,
        job: &'a Job,
        lease: Duration,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        StoreFuture::new(async move {
            let until = micros_after(micros(self.clock().now()), lease);
            fenced(
                self.fenced_update(&self.sql().renew, job, namespace, |query| query.bind(until))
                    .await?,
            )
        })
    }

    fn complete<'a>(
        &'a self,
        namespace: &'a str,
        job: &'a Job,
        retention: Duration,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        StoreFuture::new(self.complete_job(namespace, job, retention))
    }

    fn fail<'a>(
        &'a self,
        namespace: &'a str,
        job: &'a Job,
        error: &'a str,
        retry_in: Option<Duration>,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        StoreFuture::new(self.fail_job(namespace, job, error, retry_in))
    }

    fn release<'a>(
        &'a self,
        namespace: &'a str,
        job: &'a Job,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        StoreFuture::new(self.release_job(namespace, job))
    }

    fn redrive<'a>(
        &'a self,
        namespace: &'a str,
        which: Redrive<'a>,
    ) -> StoreFuture<'a, Result<u64, StoreError>> {
        StoreFuture::new(self.redrive_jobs(namespace, which))
    }

    fn dead<'a>(
        &'a self,
        namespace: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, Result<Vec<JobRecord>, StoreError>> {
        StoreFuture::new(self.dead_jobs(namespace, limit))
    }

    fn stats<'a>(&'a self, namespace: &'a str) -> StoreFuture<'a, Result<QueueStats, StoreError>> {
        StoreFuture::new(self.stats_of(namespace))
    }

    fn purge<'a>(&'a self, namespace: &'a str) -> StoreFuture<'a, Result<u64, StoreError>> {
        StoreFuture::new(self.purge_done(namespace))
    }
}
