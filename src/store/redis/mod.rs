//! The Redis store: one round trip per operation (a Lua script each), keys hash-tagged for
//! Redis Cluster, every command bounded by a timeout, every failure a [`StoreError`].

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::{Script, Value};

use super::backend::{bounded, configuration};
use super::{Claim, ClaimToken, IdempotencyStore, StoreError, StoreFuture};

pub(crate) mod connection;

use connection::{RedisConnection, Target};

const STORE: &str = "redis";

/// The default command timeout: every claim, complete and release answers within it, or fails
/// with [`StoreError::Timeout`].
pub const DEFAULT_REDIS_COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// The default key prefix.
pub const DEFAULT_REDIS_KEY_PREFIX: &str = "amps-webhooks";

// A completed key holds `done`; an in-flight key holds its claim's token (32 hex digits), so the
// two never meet.

/// `SET key token NX PX lease`, and when the key exists, whether it is completed or in flight
/// (with the lease left), all in one round trip.
static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local held = redis.call('GET', KEYS[1])
if not held then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {0, 0}
end
if held == 'done' then
  return {2, 0}
end
return {1, redis.call('PTTL', KEYS[1])}
",
    )
});

/// Compare-and-set: complete when the key holds this token or nothing.
static COMPLETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local held = redis.call('GET', KEYS[1])
if (not held) or held == ARGV[1] then
  redis.call('SET', KEYS[1], 'done', 'PX', ARGV[2])
  return 1
end
return 0
",
    )
});

/// Compare-and-delete: release when the key holds this token; nothing to do when it is gone.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local held = redis.call('GET', KEYS[1])
if not held then
  return 1
end
if held == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
",
    )
});

/// An idempotency store in Redis, shared by every instance of a receiver.
///
/// Built on redis-rs's `ConnectionManager` (one multiplexed connection, reconnected in the
/// background), on tokio; or, for a `redis+cluster://` URL (feature `redis-cluster`), on
/// redis-rs's cluster client, which routes each script to the node of its key's slot. Each
/// operation is one Lua script on one key, so one round trip and atomic. Keys are
/// `prefix:{namespace:key}`: the braces are a hash tag, so that under Redis Cluster any
/// companion key of an event lands in its slot. Leases and
/// retentions are Redis TTLs, kept by the Redis server's clock, not by a [`Clock`](crate::Clock).
///
/// A lost connection, a refused one, or a command slower than the timeout (default 2 s) is a
/// [`StoreError`], never a silent pass. A claim that times out after Redis applied it holds the
/// key until its lease runs out: retries meanwhile are told [`Claim::InFlight`], never run twice.
///
/// ```no_run
/// # async fn demo() -> Result<(), amps_webhooks::store::StoreError> {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use amps_webhooks::store::{Deduplicator, RedisStore};
///
/// let store = RedisStore::builder("redis://127.0.0.1:6379")
///     .command_timeout(Duration::from_millis(500))
///     .connect()
///     .await?;
/// let dedup = Deduplicator::new(Arc::new(store), "orders")?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    connection: RedisConnection,
    prefix: Arc<str>,
    command_timeout: Duration,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: it is not kept, so it cannot be printed.
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("command_timeout", &self.command_timeout)
            .finish_non_exhaustive()
    }
}

/// Configures a [`RedisStore`].
#[derive(Clone)]
pub struct RedisStoreBuilder {
    url: String,
    prefix: String,
    command_timeout: Duration,
}

impl std::fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("url", &"[redacted]")
            .field("prefix", &self.prefix)
            .field("command_timeout", &self.command_timeout)
            .finish()
    }
}

impl RedisStoreBuilder {
    /// The prefix of every key (default `amps-webhooks`): 1 to 64 characters from
    /// `A-Z a-z 0-9 - _ . : /`.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long one operation may take, connecting included, before it fails with
    /// [`StoreError::Timeout`] (default 2 s).
    #[must_use]
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// The store, connecting on first use (so an application can start while Redis is down;
    /// its claims fail closed until Redis answers). Call it inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`StoreError::Configuration`] for a malformed URL or prefix.
    pub fn build(self) -> Result<RedisStore, StoreError> {
        check_prefix(STORE, &self.prefix)?;
        let connection =
            Target::open(STORE, &self.url)?.connect_lazy(STORE, self.command_timeout)?;
        Ok(RedisStore {
            connection,
            prefix: self.prefix.into(),
            command_timeout: self.command_timeout,
        })
    }

    /// [`build`](Self::build), then a `PING` to check that Redis answers.
    ///
    /// # Errors
    ///
    /// [`StoreError::Configuration`] for a malformed URL or prefix;
    /// [`StoreError::Unavailable`] or [`StoreError::Timeout`] when Redis does not answer.
    pub async fn connect(self) -> Result<RedisStore, StoreError> {
        let store = self.build()?;
        store.ping().await?;
        Ok(store)
    }
}

impl RedisStore {
    /// Configures a store for `url`: `redis://[user:password@]host[:port][/db]` (or `rediss://`
    /// where TLS is compiled into redis-rs), or, with the feature `redis-cluster`, a Redis
    /// Cluster as `redis+cluster://[user:password@]host:port,host:port[,..]` (any of its nodes;
    /// the others are discovered).
    #[must_use]
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder {
            url: url.into(),
            prefix: DEFAULT_REDIS_KEY_PREFIX.to_owned(),
            command_timeout: DEFAULT_REDIS_COMMAND_TIMEOUT,
        }
    }

    /// The Redis key of a store key: `prefix:{key}`.
    #[must_use]
    pub fn redis_key(&self, key: &str) -> String {
        let mut redis_key = String::with_capacity(self.prefix.len() + key.len() + 3);
        redis_key.push_str(&self.prefix);
        redis_key.push_str(":{");
        redis_key.push_str(key);
        redis_key.push('}');
        redis_key
    }

    /// The command timeout.
    #[must_use]
    pub fn command_timeout(&self) -> Duration {
        self.command_timeout
    }

    /// Checks that Redis answers within the command timeout.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] or [`StoreError::Timeout`] when it does not.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        let reply = self
            .bounded(async move {
                redis::cmd("PING")
                    .query_async::<Value>(&mut connection)
                    .await
            })
            .await?;
        match reply {
            Value::SimpleString(pong) if pong == "PONG" => Ok(()),
            other => Err(unexpected("PING", &other)),
        }
    }

    /// `command` within the command timeout.
    async fn bounded<T>(
        &self,
        command: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        bounded(STORE, self.command_timeout, command).await
    }

    async fn run_script(
        &self,
        script: &Script,
        key: &str,
        token: ClaimToken,
        ttl: Option<Duration>,
    ) -> Result<Value, StoreError> {
        let mut invocation = script.prepare_invoke();
        invocation.key(self.redis_key(key)).arg(token.to_string());
        if let Some(ttl) = ttl {
            invocation.arg(millis(ttl));
        }
        let mut connection = self.connection.clone();
        self.bounded(async move { invocation.invoke_async::<Value>(&mut connection).await })
            .await
    }

    async fn claim_key(&self, key: &str, lease: Duration) -> Result<Claim, StoreError> {
        let token = ClaimToken::random();
        let reply = self.run_script(&CLAIM, key, token, Some(lease)).await?;
        match as_pair(&reply) {
            Some((0, _)) => Ok(Claim::Acquired(token)),
            Some((2, _)) => Ok(Claim::Completed),
            // A key without a TTL (-1) or gone meanwhile (-2) cannot come from this crate's
            // scripts; answer with a short wait rather than trust it.
            Some((1, left)) => Ok(Claim::InFlight {
                retry_after: Duration::from_millis(u64::try_from(left).unwrap_or(1).max(1)),
            }),
            _ => Err(unexpected("the claim script", &reply)),
        }
    }

    async fn set_outcome(
        &self,
        script: &Script,
        what: &str,
        key: &str,
        token: ClaimToken,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let reply = self.run_script(script, key, token, ttl).await?;
        match reply {
            Value::Int(1) => Ok(()),
            Value::Int(0) => Err(StoreError::StaleToken),
            other => Err(unexpected(what, &other)),
        }
    }
}

/// Refuses a key `prefix` that is not 1 to 64 characters from `A-Z a-z 0-9 - _ . : /` (no
/// braces: they would move the hash tag).
pub(crate) fn check_prefix(store: &'static str, prefix: &str) -> Result<(), StoreError> {
    let valid = !prefix.is_empty()
        && prefix.len() <= 64
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/'));
    if valid {
        Ok(())
    } else {
        Err(configuration(
            store,
            "the key prefix must be 1 to 64 characters from `A-Z a-z 0-9 - _ . : /`",
        ))
    }
}

/// Milliseconds for `PX`, at least 1 (Redis refuses 0) and at most `i64::MAX`.
pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis())
        .unwrap_or(i64::MAX)
        .max(1)
}

fn as_pair(reply: &Value) -> Option<(i64, i64)> {
    match reply {
        Value::Array(items) => match items.as_slice() {
            [Value::Int(kind), Value::Int(value)] => Some((*kind, *value)),
            _ => None,
        },
        _ => None,
    }
}

fn unexpected(what: &str, reply: &Value) -> StoreError {
    StoreError::UnexpectedReply {
        store: STORE,
        detail: format!("{what} answered {reply:?}"),
    }
}

impl IdempotencyStore for RedisStore {
    fn claim<'a>(
        &'a self,
        key: &'a str,
        lease: Duration,
    ) -> StoreFuture<'a, Result<Claim, StoreError>> {
        StoreFuture::new(self.claim_key(key, lease))
    }

    fn complete<'a>(
        &'a self,
        key: &'a str,
        token: ClaimToken,
        retention: Duration,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        StoreFuture::new(self.set_outcome(
            &COMPLETE,
            "the complete script",
            key,
            token,
            Some(retention),
        ))
    }

    fn release<'a>(
        &'a self,
        key: &'a str,
        token: ClaimToken,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        StoreFuture::new(self.set_outcome(&RELEASE, "the release script", key, token, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_and_hash_tagged() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _entered = runtime.enter();
        let store = RedisStore::builder("redis://127.0.0.1:1")
            .prefix("svc:webhooks")
            .build()
            .unwrap();
        assert_eq!(
            store.redis_key("orders:evt_1"),
            "svc:webhooks:{orders:evt_1}"
        );
        assert_eq!(store.command_timeout(), DEFAULT_REDIS_COMMAND_TIMEOUT);
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
                RedisStore::builder("redis://127.0.0.1")
                    .prefix(prefix)
                    .build(),
                Err(StoreError::Configuration { store: "redis", .. })
            ));
        }
        assert!(matches!(
            RedisStore::builder("http://127.0.0.1").build(),
            Err(StoreError::Configuration { store: "redis", .. })
        ));
    }

    #[test]
    fn millis_never_zero_nor_overflowing() {
        assert_eq!(millis(Duration::ZERO), 1);
        assert_eq!(millis(Duration::from_micros(1_500)), 1);
        assert_eq!(millis(Duration::from_secs(2)), 2_000);
        assert_eq!(millis(Duration::MAX), i64::MAX);
    }
}
