//! The operator's side of [`PostgresQueue`] (redrive, the dead letters, the stats, the purge)
//! and its [`QueueBackend`](crate::queue::QueueBackend) implementation, which delegates each
//! method to the statement that runs it.

use std::time::Duration;

use super::{PostgresQueue, RecordRow, record};
use crate::queue::{JobRecord, QueueStats, Redrive, storage_key};
use crate::store::StoreError;
use crate::store::sql::micros;

/// Rows deleted per statement by [`purge`](crate::queue::QueueBackend::purge).
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

crate::queue::backend::delegate_queue_backend!(PostgresQueue, "postgres");
