//! The [`QueueBackend`] of [`RedisQueue`]: each method one bounded call of the
//! transition's script (or a blocking read), as written in the parent module.

use super::*;

impl QueueBackend for RedisQueue {
    fn name(&self) -> &'static str {
        "redis"
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
        StoreFuture::new(self.renew_job(namespace, job, lease))
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
        StoreFuture::new(self.queue_stats(namespace))
    }

    fn purge<'a>(&'a self, namespace: &'a str) -> StoreFuture<'a, Result<u64, StoreError>> {
        StoreFuture::new(async move {
            let keys = Keys::new(&self.inner.prefix, namespace);
            self.batches(&scripts::PURGE, &keys, "the purge script")
                .await
        })
    }
}
