//! The operator's side of [`RedisQueue`] (redrive, the dead letters, the stats, the purge, each
//! one script or a batch of them) and its [`QueueBackend`] implementation, which delegates
//! each method to the script that runs it (the workers' in the parent module).

use super::*;

impl RedisQueue {
    async fn redrive_jobs(&self, namespace: &str, which: Redrive<'_>) -> Result<u64, StoreError> {
        let keys = Keys::new(&self.inner.prefix, namespace);
        match which {
            Redrive::Key(key) => {
                let skey = storage_key(key);
                let mut invocation = self.invocation(&scripts::REDRIVE_KEY, &keys, Some(&skey));
                invocation.arg(&skey);
                let reply = self.run(invocation).await?;
                u64::try_from(int(&reply, "redriven")?)
                    .map_err(|_| unexpected("the redrive script", &reply))
            }
            Redrive::All => {
                self.batches(&scripts::REDRIVE_ALL, &keys, "the redrive script")
                    .await
            }
        }
    }

    /// Runs a `{done, read}` batch script until a batch reads fewer than [`BATCH`] entries;
    /// answers the sum of `done`.
    async fn batches(&self, script: &Script, keys: &Keys, what: &str) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let mut invocation = self.invocation(script, keys, None);
            invocation.arg(BATCH);
            let reply = self.run(invocation).await?;
            let [done, read] = items(what, &reply)? else {
                return Err(unexpected(what, &reply));
            };
            total += u64::try_from(int(done, "done")?).map_err(|_| unexpected(what, &reply))?;
            if int(read, "read")? < i64::try_from(BATCH).unwrap_or(i64::MAX) {
                return Ok(total);
            }
        }
    }

    async fn dead_jobs(&self, namespace: &str, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let keys = Keys::new(&self.inner.prefix, namespace);
        let mut invocation = self.invocation(&scripts::DEAD_JOBS, &keys, None);
        invocation.arg(limit);
        let reply = self.run(invocation).await?;
        items("the dead script", &reply)?
            .iter()
            .map(|fields| reply::record(items("the dead script", fields)?))
            .collect()
    }

    async fn stats_of(&self, namespace: &str) -> Result<QueueStats, StoreError> {
        let keys = Keys::new(&self.inner.prefix, namespace);
        let reply = self
            .run(self.invocation(&scripts::STATS, &keys, None))
            .await?;
        let [pending, running, dead, done, age] = items("the stats script", &reply)? else {
            return Err(unexpected("the stats script", &reply));
        };
        let count = |value: &Value, field| {
            u64::try_from(int(value, field)?).map_err(|_| unexpected("the stats script", &reply))
        };
        Ok(QueueStats {
            pending: count(pending, "pending")?,
            running: count(running, "running")?,
            dead: count(dead, "dead")?,
            done: count(done, "done")?,
            oldest_pending_age: u64::try_from(int(age, "age")?)
                .ok()
                .map(Duration::from_micros),
        })
    }

    async fn purge_done(&self, namespace: &str) -> Result<u64, StoreError> {
        let keys = Keys::new(&self.inner.prefix, namespace);
        self.batches(&scripts::PURGE, &keys, "the purge script")
            .await
    }
}

crate::queue::backend::delegate_queue_backend!(RedisQueue, "redis");
