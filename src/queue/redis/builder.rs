//! [`RedisQueueBuilder`]: the settings of a [`RedisQueue`], and its connection.

use super::*;

/// Configures a [`RedisQueue`].
#[derive(Clone)]
pub struct RedisQueueBuilder {
    pub(super) url: String,
    pub(super) prefix: String,
    pub(super) command_timeout: Duration,
    pub(super) clock: Option<Arc<dyn Clock>>,
    pub(super) consumer: Option<String>,
}

impl std::fmt::Debug for RedisQueueBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueueBuilder")
            .field("url", &"[redacted]")
            .field("prefix", &self.prefix)
            .field("command_timeout", &self.command_timeout)
            .field("clock", &self.clock)
            .field("consumer", &self.consumer)
            .finish()
    }
}

impl RedisQueueBuilder {
    /// The prefix of every key (default `amps-webhooks`): 1 to 64 characters from
    /// `A-Z a-z 0-9 - _ . : /`. A queue's keys are `{prefix:namespace}:..`.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long one command may take, connecting included, before it fails with
    /// [`StoreError::Timeout`] (default 2 s). A take's wait for a job comes on top.
    #[must_use]
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// Reads leases, retry delays, retentions and ages by `clock`, passed to every script,
    /// instead of the Redis server's own `TIME` (the default, which every worker shares
    /// whatever its host's clock says). For tests with a [`MockClock`](crate::MockClock).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The name of this queue's consumer in the stream's consumer group, as `XPENDING`
    /// shows it (default: `worker-` and a random suffix). It does not fence anything: each
    /// take's token does.
    #[must_use]
    pub fn consumer(mut self, name: impl Into<String>) -> Self {
        self.consumer = Some(name.into());
        self
    }

    /// The queue, connecting on first use (so a receiver can start while Redis is down; its
    /// enqueues fail until Redis answers). Call it inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`StoreError::Configuration`] for a malformed URL, prefix or consumer name.
    pub fn build(self) -> Result<RedisQueue, StoreError> {
        check_prefix(STORE, &self.prefix)?;
        let consumer = self
            .consumer
            .unwrap_or_else(|| format!("worker-{}", reply::token_prefix()));
        if consumer.is_empty() || consumer.len() > 128 || consumer.chars().any(char::is_control) {
            return Err(StoreError::Configuration {
                store: STORE,
                detail: "the consumer name must be 1 to 128 characters, none a control".into(),
            });
        }
        let target = Target::open(STORE, &self.url)?;
        let connection = target.connect_lazy(STORE, self.command_timeout)?;
        Ok(RedisQueue {
            inner: Arc::new(Inner {
                target,
                connection,
                blocking: Mutex::default(),
                prefix: self.prefix,
                consumer,
                command_timeout: self.command_timeout,
                clock: self.clock,
            }),
        })
    }

    /// [`build`](Self::build), then a `PING` to check that Redis answers.
    ///
    /// # Errors
    ///
    /// [`StoreError::Configuration`] for a malformed URL or prefix;
    /// [`StoreError::Unavailable`] or [`StoreError::Timeout`] when Redis does not answer.
    pub async fn connect(self) -> Result<RedisQueue, StoreError> {
        let queue = self.build()?;
        let mut connection = queue.inner.connection.clone();
        let reply = queue
            .bounded(async move {
                redis::cmd("PING")
                    .query_async::<Value>(&mut connection)
                    .await
            })
            .await?;
        match reply {
            Value::SimpleString(pong) if pong == "PONG" => Ok(queue),
            other => Err(unexpected("PING", &other)),
        }
    }
}
