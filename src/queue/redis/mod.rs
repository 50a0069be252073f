//! The Redis backend of the queue ([`RedisQueue`]): Redis Streams with a consumer group, one
//! Lua script per transition, every key of a queue under one hash tag so that it runs on a
//! Redis Cluster as on one server.

mod backend;
mod builder;
mod reply;
mod scripts;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::{Script, ScriptInvocation, Value};

use super::{Enqueue, Job, JobRecord, JobState, QueueStats, Redrive, storage_key};
use crate::Clock;
use crate::store::backend::bounded;
use crate::store::redis::check_prefix;
use crate::store::redis::connection::{RedisConnection, Target};
use crate::store::{DEFAULT_REDIS_COMMAND_TIMEOUT, DEFAULT_REDIS_KEY_PREFIX, StoreError};
pub use builder::RedisQueueBuilder;
use reply::{bytes, int, items, micros, micros_since_epoch, nanos_since_epoch, unexpected};

const STORE: &str = "redis";

/// The most jobs one take hands out (the tokens of one take count them in 16 bits).
const MAX_TAKE: usize = 1_000;

/// How many entries one redrive or purge script handles before the next round trip, so that
/// no script holds Redis for long.
const BATCH: usize = 500;

/// A queue of verified deliveries in Redis, shared by every receiver and worker that reaches
/// the same Redis (one server, or a Redis Cluster with the feature `redis-cluster`).
///
#[doc = include_str!("../../docs/queue_redis.md")]
#[derive(Clone)]
pub struct RedisQueue {
    inner: Arc<Inner>,
}

struct Inner {
    target: Target,
    connection: RedisConnection,
    /// Connections of their own for the blocking reads of idle takes, kept for the next one.
    blocking: Mutex<Vec<RedisConnection>>,
    prefix: String,
    consumer: String,
    command_timeout: Duration,
    clock: Option<Arc<dyn Clock>>,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: it is not kept, so it cannot be printed.
        f.debug_struct("RedisQueue")
            .field("prefix", &self.inner.prefix)
            .field("consumer", &self.inner.consumer)
            .field("command_timeout", &self.inner.command_timeout)
            .field("clock", &self.inner.clock)
            .finish_non_exhaustive()
    }
}

/// The names of one queue's keys, all under the hash tag `{prefix:namespace}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Keys {
    base: String,
}

impl Keys {
    fn new(prefix: &str, namespace: &str) -> Self {
        Self {
            base: format!("{{{prefix}:{namespace}}}:"),
        }
    }

    /// The stream of jobs to run, its consumer group `workers`.
    fn stream(&self) -> String {
        format!("{}s", self.base)
    }

    /// The six fixed keys in the scripts' order: the stream, the pending, running, delayed and
    /// done sorted sets, the dead-letter stream.
    fn fixed(&self) -> [String; 6] {
        ["s", "pending", "running", "delayed", "done", "dead"]
            .map(|name| format!("{}{name}", self.base))
    }

    /// The hash of the job stored as `skey`.
    fn job(&self, skey: &str) -> String {
        format!("{}j:{skey}", self.base)
    }
}

impl RedisQueue {
    /// Configures a queue for `url`: `redis://[user:password@]host[:port][/db]`, or, with the
    /// feature `redis-cluster`, `redis+cluster://[user:password@]host:port,host:port[,..]`.
    #[must_use]
    pub fn builder(url: impl Into<String>) -> RedisQueueBuilder {
        RedisQueueBuilder {
            url: url.into(),
            prefix: DEFAULT_REDIS_KEY_PREFIX.to_owned(),
            command_timeout: DEFAULT_REDIS_COMMAND_TIMEOUT,
            clock: None,
            consumer: None,
        }
    }

    /// The hash tag every key of `namespace` is under: `{prefix:namespace}`.
    #[must_use]
    pub fn hash_tag(&self, namespace: &str) -> String {
        format!("{{{}:{namespace}}}", self.inner.prefix)
    }

    async fn bounded<T>(
        &self,
        command: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        bounded(STORE, self.inner.command_timeout, command).await
    }

    /// An invocation of `script` with the queue's fixed keys, the job's hash when `skey` is
    /// given, and the time as its first argument.
    fn invocation<'s>(
        &self,
        script: &'s Script,
        keys: &Keys,
        skey: Option<&str>,
    ) -> ScriptInvocation<'s> {
        let mut invocation = script.prepare_invoke();
        for key in keys.fixed() {
            invocation.key(key);
        }
        if let Some(skey) = skey {
            invocation.key(keys.job(skey));
        }
        let now = self
            .inner
            .clock
            .as_ref()
            .map_or(-1, |clock| micros_since_epoch(clock.now()));
        invocation.arg(now);
        invocation
    }

    async fn run(&self, invocation: ScriptInvocation<'_>) -> Result<Value, StoreError> {
        let mut connection = self.inner.connection.clone();
        self.bounded(async move { invocation.invoke_async::<Value>(&mut connection).await })
            .await
    }

    async fn enqueue_job(&self, namespace: &str, job: &JobRecord) -> Result<Enqueue, StoreError> {
        let keys = Keys::new(&self.inner.prefix, namespace);
        let skey = storage_key(&job.key);
        let headers =
            serde_json::to_string(&job.headers).map_err(|error| StoreError::UnexpectedReply {
                store: STORE,
                detail: format!("the headers could not be encoded: {error}"),
            })?;
        let mut invocation = self.invocation(&scripts::ENQUEUE, &keys, Some(&skey));
        invocation
            .arg(&skey)
            .arg(&job.webhook_id)
            .arg(&job.key)
            .arg(job.timestamp.as_unix())
            .arg(nanos_since_epoch(job.received_at))
            .arg(micros_since_epoch(job.received_at))
            .arg(job.body.as_slice())
            .arg(headers)
            .arg(if job.event_type.is_some() { "1" } else { "0" })
            .arg(job.event_type.as_deref().unwrap_or(""));
        let reply = self.run(invocation).await?;
        match bytes(&reply) {
            Some(b"enqueued") => Ok(Enqueue::Enqueued),
            Some(b"pending") => Ok(Enqueue::Duplicate {
                state: JobState::Pending,
            }),
            Some(b"running") => Ok(Enqueue::Duplicate {
                state: JobState::Running,
            }),
            Some(b"done") => Ok(Enqueue::Duplicate {
                state: JobState::Done,
            }),
            Some(b"dead") => Ok(Enqueue::Duplicate {
                state: JobState::Dead,
            }),
            _ => Err(unexpected("the enqueue script", &reply)),
        }
    }

    /// One take script: the jobs, else the stream's last id and how long until the next retry
    /// or lease end.
    async fn take_once(
        &self,
        keys: &Keys,
        max: usize,
        lease: Duration,
    ) -> Result<(Vec<Job>, String, Option<Duration>), StoreError> {
        let mut invocation = self.invocation(&scripts::TAKE, keys, None);
        invocation
            .arg(&self.inner.consumer)
            .arg(max)
            .arg(micros(lease).max(1))
            .arg(reply::token_prefix());
        let reply = self.run(invocation).await?;
        let parts = items("the take script", &reply)?;
        let jobs = match parts.first() {
            Some(Value::Array(jobs)) => jobs.iter().map(reply::job).collect::<Result<_, _>>()?,
            Some(Value::Nil) | None => Vec::new(),
            Some(_) => return Err(unexpected("the take script", &reply)),
        };
        let last = parts
            .get(1)
            .and_then(bytes)
            .and_then(|id| std::str::from_utf8(id).ok())
            .unwrap_or("0-0")
            .to_owned();
        let wake = match parts.get(2) {
            Some(value) => u64::try_from(int(value, "wake")?)
                .ok()
                .map(Duration::from_micros),
            None => None,
        };
        Ok((jobs, last, wake))
    }

    async fn take_jobs(
        &self,
        namespace: &str,
        max: usize,
        lease: Duration,
        wait: Duration,
    ) -> Result<Vec<Job>, StoreError> {
        let max = max.min(MAX_TAKE);
        if max == 0 {
            return Ok(Vec::new());
        }
        let keys = Keys::new(&self.inner.prefix, namespace);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let (jobs, last, wake) = self.take_once(&keys, max, lease).await?;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if !jobs.is_empty() || left.is_zero() {
                return Ok(jobs);
            }
            // The next retry or lease end is in the scripts' time: a real wait only when that
            // is the Redis server's.
            let block = match wake {
                Some(wake) if self.inner.clock.is_none() => left.min(wake),
                _ => left,
            };
            self.wait_for_entry(&keys, &last, block).await?;
        }
    }

    /// Blocks on a connection of its own until the stream has an entry after `last`, or for
    /// `block`: `XREAD BLOCK`, which reads without taking (the take script takes).
    async fn wait_for_entry(
        &self,
        keys: &Keys,
        last: &str,
        block: Duration,
    ) -> Result<(), StoreError> {
        let timeout = self.inner.command_timeout;
        let pooled = self.pooled();
        let mut connection = match pooled {
            Some(connection) => connection,
            None => {
                let target = self.inner.target.clone();
                bounded(STORE, timeout, async move {
                    target.connect_dedicated(timeout, block + timeout).await
                })
                .await?
            }
        };
        let block_ms = u64::try_from(block.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut read = redis::cmd("XREAD");
        read.arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(block_ms)
            .arg("STREAMS")
            .arg(keys.stream())
            .arg(last);
        let outcome = bounded(STORE, block + timeout, async {
            read.query_async::<Value>(&mut connection).await
        })
        .await;
        // A connection whose read failed or timed out may still owe a reply: dropped.
        if outcome.is_ok() {
            self.restore(connection);
        }
        outcome.map(drop)
    }

    fn pooled(&self) -> Option<RedisConnection> {
        self.inner
            .blocking
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
    }

    fn restore(&self, connection: RedisConnection) {
        self.inner
            .blocking
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(connection);
    }

    /// Runs a script about `job` that answers 1 (done) or 0 (its token no longer holds it).
    async fn fenced(&self, what: &str, invocation: ScriptInvocation<'_>) -> Result<(), StoreError> {
        let reply = self.run(invocation).await?;
        match reply {
            Value::Int(1) => Ok(()),
            Value::Int(0) => Err(StoreError::StaleToken),
            other => Err(unexpected(what, &other)),
        }
    }

    async fn renew_job(
        &self,
        namespace: &str,
        job: &Job,
        lease: Duration,
    ) -> Result<(), StoreError> {
        let keys = Keys::new(&self.inner.prefix, namespace);
        let skey = storage_key(job.key());
        let mut invocation = self.invocation(&scripts::RENEW, &keys, Some(&skey));
        invocation
            .arg(job.lease().token.to_string())
            .arg(micros(lease).max(1))
            .arg(&skey)
            .arg(&self.inner.consumer);
        self.fenced("the renew script", invocation).await
    }

    async fn complete_job(
        &self,
        namespace: &str,
        job: &Job,
        retention: Duration,
    ) -> Result<(), StoreError> {
        let keys = Keys::new(&self.inner.prefix, namespace);
        let skey = storage_key(job.key());
        let mut invocation = self.invocation(&scripts::COMPLETE, &keys, Some(&skey));
        invocation
            .arg(job.lease().token.to_string())
            .arg(micros(retention))
            .arg(&skey);
        self.fenced("the complete script", invocation).await
    }

    async fn fail_job(
        &self,
        namespace: &str,
        job: &Job,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<(), StoreError> {
        let keys = Keys::new(&self.inner.prefix, namespace);
        let skey = storage_key(job.key());
        let mut invocation = self.invocation(&scripts::FAIL, &keys, Some(&skey));
        invocation
            .arg(job.lease().token.to_string())
            .arg(&skey)
            .arg(error)
            .arg(retry_in.map_or(-1, micros));
        self.fenced("the fail script", invocation).await
    }

    async fn release_job(&self, namespace: &str, job: &Job) -> Result<(), StoreError> {
        let keys = Keys::new(&self.inner.prefix, namespace);
        let skey = storage_key(job.key());
        let mut invocation = self.invocation(&scripts::RELEASE, &keys, Some(&skey));
        invocation.arg(job.lease().token.to_string()).arg(&skey);
        self.fenced("the release script", invocation).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_of_a_queue_shares_its_hash_tag() {
        let keys = Keys::new("svc", "orders");
        assert_eq!(keys.stream(), "{svc:orders}:s");
        assert_eq!(keys.job("k:evt_1"), "{svc:orders}:j:k:evt_1");
        for key in keys.fixed() {
            assert!(key.starts_with("{svc:orders}:"), "{key}");
        }
    }

    #[test]
    fn bad_configuration_is_refused() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _entered = runtime.enter();
        for prefix in ["", "a{b}", "with space"] {
            assert!(matches!(
                RedisQueue::builder("redis://127.0.0.1")
                    .prefix(prefix)
                    .build(),
                Err(StoreError::Configuration { store: "redis", .. })
            ));
        }
        assert!(matches!(
            RedisQueue::builder("redis://127.0.0.1")
                .consumer("")
                .build(),
            Err(StoreError::Configuration { store: "redis", .. })
        ));
        assert!(matches!(
            RedisQueue::builder("http://127.0.0.1").build(),
            Err(StoreError::Configuration { store: "redis", .. })
        ));
        let queue = RedisQueue::builder("redis://127.0.0.1")
            .prefix("p")
            .build()
            .unwrap();
        assert_eq!(queue.hash_tag("orders"), "{p:orders}");
    }
}
