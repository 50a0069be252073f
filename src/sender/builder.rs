//! Configures a [`Sender`]: the [`SenderBuilder`] (schedule, timeout, header style, delays,
//! and the injected clock, sleeper and jitter) and the configuration it builds.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::{
    Attempt, DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_MAX_RETRY_AFTER, HeaderStyle, Sender, Sleeper,
    TokioSleeper,
};
use crate::clock::{Clock, SystemClock};
use crate::retry::{JitterSource, RetrySchedule, SeededJitter};
use crate::signer::Signer;

/// Configures a [`Sender`].
pub struct SenderBuilder {
    signer: Signer,
    schedule: RetrySchedule,
    timeout: Duration,
    style: HeaderStyle,
    delivery_delay: Duration,
    max_retry_after: Duration,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    jitter: Arc<dyn JitterSource>,
    observer: Option<Observer>,
}

impl fmt::Debug for SenderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderBuilder")
            .field("schedule", &self.schedule)
            .field("timeout", &self.timeout)
            .field("style", &self.style)
            .field("delivery_delay", &self.delivery_delay)
            .field("max_retry_after", &self.max_retry_after)
            .finish_non_exhaustive()
    }
}

/// Called with each attempt as soon as it ends.
pub(super) type Observer = Arc<dyn Fn(&Attempt) + Send + Sync>;

impl SenderBuilder {
    /// The platform's schedule, 30 s per attempt, `webhook-*` headers, the system clock, real
    /// sleeps: what [`Sender::builder`] starts from.
    pub(super) fn new(signer: Signer) -> Self {
        Self {
            signer,
            schedule: RetrySchedule::platform(),
            timeout: DEFAULT_ATTEMPT_TIMEOUT,
            style: HeaderStyle::Webhook,
            delivery_delay: Duration::ZERO,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
            clock: Arc::new(SystemClock),
            sleeper: Arc::new(TokioSleeper),
            jitter: Arc::new(SeededJitter::from_entropy()),
            observer: None,
        }
    }

    /// Calls `observer` with each attempt as soon as it ends (to print progress while a long
    /// schedule runs); the report still holds them all.
    #[must_use]
    pub fn on_attempt(mut self, observer: impl Fn(&Attempt) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// The retry schedule (default: [`RetrySchedule::platform`]).
    #[must_use]
    pub fn schedule(mut self, schedule: RetrySchedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// The per-attempt timeout, connecting and reading the answer included (default 30 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Which names the signed headers go under (default `webhook-*`).
    #[must_use]
    pub fn header_style(mut self, style: HeaderStyle) -> Self {
        self.style = style;
        self
    }

    /// A wait before the first attempt (default none; the platform's sandbox delivers about
    /// 3 minutes after the event, live about 10 s after).
    #[must_use]
    pub fn delivery_delay(mut self, delay: Duration) -> Self {
        self.delivery_delay = delay;
        self
    }

    /// The longest `Retry-After` honoured (default 1 h); a longer one is cut to this.
    #[must_use]
    pub fn max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// The clock the timestamps are read from (default: the system clock).
    #[must_use]
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The sleeper that waits between attempts (default: [`TokioSleeper`]).
    #[must_use]
    pub fn sleeper(mut self, sleeper: impl Sleeper + 'static) -> Self {
        self.sleeper = Arc::new(sleeper);
        self
    }

    /// The source of the jitter (default: [`SeededJitter::from_entropy`]).
    #[must_use]
    pub fn jitter(mut self, jitter: impl JitterSource + 'static) -> Self {
        self.jitter = Arc::new(jitter);
        self
    }

    /// The sender. Call it inside a tokio runtime or out of one; send inside one.
    #[must_use]
    pub fn build(self) -> Sender {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Sender {
            inner: Arc::new(SenderConfig {
                signer: self.signer,
                schedule: self.schedule,
                timeout: self.timeout,
                style: self.style,
                delivery_delay: self.delivery_delay,
                max_retry_after: self.max_retry_after,
                clock: self.clock,
                sleeper: self.sleeper,
                jitter: self.jitter,
                observer: self.observer,
                client: Client::builder(TokioExecutor::new()).build(connector),
            }),
        }
    }
}

/// What a [`Sender`] is made of, shared by its clones.
pub(super) struct SenderConfig {
    pub(super) signer: Signer,
    pub(super) schedule: RetrySchedule,
    pub(super) timeout: Duration,
    pub(super) style: HeaderStyle,
    pub(super) delivery_delay: Duration,
    pub(super) max_retry_after: Duration,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) sleeper: Arc<dyn Sleeper>,
    pub(super) jitter: Arc<dyn JitterSource>,
    pub(super) observer: Option<Observer>,
    pub(super) client: Client<HttpConnector, Full<Bytes>>,
}
