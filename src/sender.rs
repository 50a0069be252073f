//! The reference sender: signs a message, POSTs it, and retries along a schedule until the
//! endpoint answers 2xx, answers 410, or the schedule runs out; then reports every attempt.
//!
//! Time, sleeping and jitter are injected ([`Clock`], [`Sleeper`], [`JitterSource`]), so a test
//! runs the platform's 32-hour schedule in milliseconds with a [`MockClock`] and an
//! [`InstantSleeper`]. The HTTP client is hyper-util's (HTTP/1.1 over plain TCP): hyper is
//! already in the tree of both framework integrations, so the sender adds few crates; it does
//! not speak TLS (`https://` URLs are refused with [`SendError::UnsupportedScheme`]).

use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::clock::{Clock, MockClock, SystemClock};
use crate::error::SignError;
use crate::signer::Signer;

/// The per-attempt timeout by default: the platform counts an answer after 30 s as a failure.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// The jitter by default: each retry delay is drawn within plus or minus 20 % of its nominal
/// value.
pub const DEFAULT_JITTER: f64 = 0.2;
/// The longest `Retry-After` honoured by default: 1 hour. A longer one is cut to this.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// The longest delay a schedule may hold: 30 days.
pub const MAX_SCHEDULE_DELAY: Duration = Duration::from_secs(30 * 24 * 3600);
/// The most attempts a schedule may hold.
pub const MAX_ATTEMPTS: usize = 100;
/// How much of a response body the sender reads (and keeps in the report) per attempt.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// How much of a response body the report keeps.
const KEPT_RESPONSE_BYTES: usize = 512;

/// Why the sender refused to start a delivery (no attempt was made).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The URL does not parse as an absolute `http://host[:port]/path` URL.
    InvalidUrl {
        /// The URL as given.
        url: String,
    },
    /// The URL's scheme is not `http` (this sender does not speak TLS).
    UnsupportedScheme {
        /// The scheme found.
        scheme: String,
    },
    /// The message could not be signed: an invalid id, or a key that cannot sign.
    Sign(SignError),
    /// A header name or value given to [`Sender::post_raw`] is not valid HTTP.
    InvalidHeader {
        /// The header name.
        name: String,
    },
    /// A retry schedule was refused: see the detail.
    InvalidSchedule {
        /// What to change.
        detail: &'static str,
    },
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidUrl { url } => write!(
                f,
                "the URL {url:?} is not an absolute http URL; expected http://host[:port]/path"
            ),
            Self::UnsupportedScheme { scheme } => write!(
                f,
                "the URL scheme {scheme:?} is not supported: the reference sender speaks plain http only"
            ),
            Self::Sign(error) => write!(f, "the message cannot be signed: {error}"),
            Self::InvalidHeader { name } => write!(
                f,
                "the header {name:?} is not a valid HTTP header name and value"
            ),
            Self::InvalidSchedule { detail } => write!(f, "invalid retry schedule: {detail}"),
        }
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Sign(error) => Some(error),
            _ => None,
        }
    }
}

impl From<SignError> for SendError {
    fn from(error: SignError) -> Self {
        Self::Sign(error)
    }
}

/// Which names the signed headers go under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeaderStyle {
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature` (Standard Webhooks).
    #[default]
    Webhook,
    /// `svix-id`, `svix-timestamp`, `svix-signature` (as Svix sends them).
    Svix,
    /// Both sets, with the same values (as the Amps platform sends them).
    Both,
}

impl HeaderStyle {
    /// The style's name: `webhook`, `svix` or `both`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Svix => "svix",
            Self::Both => "both",
        }
    }
}

/// The error of parsing a [`HeaderStyle`] from text other than `webhook`, `svix` or `both`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownHeaderStyle(pub String);

impl fmt::Display for UnknownHeaderStyle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown header style {:?}: expected webhook, svix or both",
            self.0
        )
    }
}

impl std::error::Error for UnknownHeaderStyle {}

impl FromStr for HeaderStyle {
    type Err = UnknownHeaderStyle;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "webhook" => Ok(Self::Webhook),
            "svix" => Ok(Self::Svix),
            "both" => Ok(Self::Both),
            other => Err(UnknownHeaderStyle(other.to_owned())),
        }
    }
}

/// The signed headers of one attempt under `style`.
pub(crate) fn styled_headers(
    signed: &crate::SignedHeaders,
    style: HeaderStyle,
) -> Vec<(&'static str, String)> {
    let own = |pairs: [(&'static str, &str); 3]| {
        pairs
            .into_iter()
            .map(|(name, value)| (name, value.to_owned()))
            .collect::<Vec<_>>()
    };
    match style {
        HeaderStyle::Webhook => own(signed.webhook_headers()),
        HeaderStyle::Svix => own(signed.svix_headers()),
        HeaderStyle::Both => {
            let mut headers = own(signed.webhook_headers());
            headers.extend(own(signed.svix_headers()));
            headers
        }
    }
}

/// Waits. The sender sleeps between attempts through this, so tests can make time pass
/// instantly.
pub trait Sleeper: Send + Sync + fmt::Debug {
    /// Resolves once `duration` has passed (in whatever time the sleeper keeps).
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// Sleeps for real, on the tokio timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// For tests: "sleeps" by moving a [`MockClock`] forward at once, and records each sleep.
///
/// Give the sender the same clock (its timestamps then follow the schedule) and give it to the
/// receiver's verifier and store too, so they judge the signatures at the same virtual time.
#[derive(Debug, Clone)]
pub struct InstantSleeper {
    clock: MockClock,
    slept: Arc<Mutex<Vec<Duration>>>,
}

impl InstantSleeper {
    /// A sleeper advancing `clock` (clones share the time).
    #[must_use]
    pub fn new(clock: MockClock) -> Self {
        Self {
            clock,
            slept: Arc::default(),
        }
    }

    /// The clock it advances.
    #[must_use]
    pub fn clock(&self) -> &MockClock {
        &self.clock
    }

    /// Every sleep so far, in order.
    #[must_use]
    pub fn slept(&self) -> Vec<Duration> {
        self.slept.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Sleeper for InstantSleeper {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        self.clock.advance(duration);
        if let Ok(mut slept) = self.slept.lock() {
            slept.push(duration);
        }
        Box::pin(std::future::ready(()))
    }
}

/// A source of uniform random numbers in `[0, 1)` for the jitter.
pub trait JitterSource: Send + Sync + fmt::Debug {
    /// The next number, uniform in `[0, 1)`.
    fn next_unit(&self) -> f64;
}

/// A small deterministic generator (SplitMix64): seeded in tests, so a run's jitter is known;
/// seeded from the operating system's randomness by [`SeededJitter::from_entropy`] (the
/// default). Not for cryptography: jitter only spreads retries out.
#[derive(Debug)]
pub struct SeededJitter {
    state: Mutex<u64>,
}

impl SeededJitter {
    /// A generator whose sequence is fixed by `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self {
            state: Mutex::new(seed),
        }
    }

    /// A generator seeded from the standard library's per-process random keys.
    #[must_use]
    pub fn from_entropy() -> Self {
        let mut hasher = std::hash::RandomState::new().build_hasher();
        hasher.write_u128(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |since| since.as_nanos()),
        );
        Self::new(hasher.finish())
    }
}

impl JitterSource for SeededJitter {
    fn next_unit(&self) -> f64 {
        let mut state = match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // The top 53 bits, as a double in [0, 1).
        #[allow(clippy::cast_precision_loss)]
        let unit = (z >> 11) as f64 / (1u64 << 53) as f64;
        unit
    }
}

/// When the attempts happen: the delay before each (the first usually 0), and the jitter.
///
/// ```
/// use std::time::Duration;
/// use amps_webhooks::sender::RetrySchedule;
///
/// let platform = RetrySchedule::platform();
/// assert_eq!(platform.attempts(), 8);
/// assert_eq!(platform.delays()[2], Duration::from_secs(300));
///
/// let exponential = RetrySchedule::exponential(Duration::from_secs(1), 2.0, Duration::from_secs(60), 4)?;
/// let secs: Vec<u64> = exponential.delays().iter().map(Duration::as_secs).collect();
/// assert_eq!(secs, [0, 1, 2, 4, 8]);
/// # Ok::<(), amps_webhooks::sender::SendError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
    jitter: f64,
}

impl RetrySchedule {
    /// The platform's schedule: at once, then after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h
    /// (8 attempts over about 27.6 hours), with plus or minus 20 % jitter.
    #[must_use]
    pub fn platform() -> Self {
        let secs = [0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000];
        Self {
            delays: secs.into_iter().map(Duration::from_secs).collect(),
            jitter: DEFAULT_JITTER,
        }
    }

    /// Attempts after these delays, each counted from the previous attempt's end (the first
    /// from the start of the delivery), with plus or minus 20 % jitter.
    ///
    /// # Errors
    /// [`SendError::InvalidSchedule`] for no delay, more than [`MAX_ATTEMPTS`], or a delay over
    /// [`MAX_SCHEDULE_DELAY`].
    pub fn fixed(delays: impl IntoIterator<Item = Duration>) -> Result<Self, SendError> {
        let delays: Vec<Duration> = delays.into_iter().collect();
        if delays.is_empty() {
            return Err(SendError::InvalidSchedule {
                detail: "give at least one delay (0s for an immediate attempt)",
            });
        }
        if delays.len() > MAX_ATTEMPTS {
            return Err(SendError::InvalidSchedule {
                detail: "at most 100 attempts",
            });
        }
        if delays.iter().any(|delay| *delay > MAX_SCHEDULE_DELAY) {
            return Err(SendError::InvalidSchedule {
                detail: "each delay must be at most 30 days",
            });
        }
        Ok(Self {
            delays,
            jitter: DEFAULT_JITTER,
        })
    }

    /// An attempt at once, then `retries` retries, the first after `first_retry`, each next
    /// one `factor` times longer, none longer than `max_delay`; plus or minus 20 % jitter.
    ///
    /// # Errors
    /// [`SendError::InvalidSchedule`] for a factor below 1 or not finite, more than
    /// [`MAX_ATTEMPTS`] attempts, or a `max_delay` over [`MAX_SCHEDULE_DELAY`].
    pub fn exponential(
        first_retry: Duration,
        factor: f64,
        max_delay: Duration,
        retries: usize,
    ) -> Result<Self, SendError> {
        if !factor.is_finite() || factor < 1.0 {
            return Err(SendError::InvalidSchedule {
                detail: "the factor must be a finite number of at least 1",
            });
        }
        if retries >= MAX_ATTEMPTS {
            return Err(SendError::InvalidSchedule {
                detail: "at most 99 retries",
            });
        }
        let mut delays = Vec::with_capacity(retries + 1);
        delays.push(Duration::ZERO);
        let mut next = first_retry.min(max_delay);
        for _ in 0..retries {
            delays.push(next);
            next = Duration::try_from_secs_f64(next.as_secs_f64() * factor)
                .unwrap_or(max_delay)
                .min(max_delay);
        }
        Self::fixed(delays)
    }

    /// The same delays with another jitter: each delay is drawn uniformly within plus or minus
    /// `fraction` of its nominal value (0 for none).
    ///
    /// # Errors
    /// [`SendError::InvalidSchedule`] for a fraction outside `[0, 1)`.
    pub fn with_jitter(mut self, fraction: f64) -> Result<Self, SendError> {
        if !(0.0..1.0).contains(&fraction) {
            return Err(SendError::InvalidSchedule {
                detail: "the jitter must be a fraction in [0, 1)",
            });
        }
        self.jitter = fraction;
        Ok(self)
    }

    /// The nominal delay before each attempt.
    #[must_use]
    pub fn delays(&self) -> &[Duration] {
        &self.delays
    }

    /// How many attempts the schedule allows.
    #[must_use]
    pub fn attempts(&self) -> usize {
        self.delays.len()
    }

    /// The jitter fraction.
    #[must_use]
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// `nominal` with jitter drawn from `unit` (uniform in `[0, 1)`): within plus or minus
    /// the jitter fraction of `nominal`.
    #[must_use]
    pub fn jittered(&self, nominal: Duration, unit: f64) -> Duration {
        let factor = 1.0 + self.jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        Duration::try_from_secs_f64(nominal.as_secs_f64() * factor).unwrap_or(nominal)
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self::platform()
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttemptResult {
    /// The endpoint answered.
    Response {
        /// The status code.
        status: u16,
        /// The `Retry-After` of the answer, in seconds, when it had a valid one.
        retry_after: Option<Duration>,
        /// The start of the answer's body (at most 512 bytes, lossily decoded).
        body: String,
    },
    /// No complete answer within the per-attempt timeout.
    TimedOut {
        /// The timeout.
        after: Duration,
    },
    /// No connection: refused, unreachable, or the name did not resolve.
    ConnectFailed {
        /// What the client said.
        reason: String,
    },
    /// The connection broke before a complete answer.
    RequestFailed {
        /// What the client said.
        reason: String,
    },
}

impl AttemptResult {
    /// The status code, when the endpoint answered.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Response { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the endpoint answered 2xx.
    #[must_use]
    pub fn is_success(&self) -> bool {
        self.status()
            .is_some_and(|status| (200..300).contains(&status))
    }
}

impl fmt::Display for AttemptResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Response {
                status,
                retry_after,
                ..
            } => {
                write!(f, "{status}")?;
                if let Some(after) = retry_after {
                    write!(f, " (Retry-After {}s)", after.as_secs())?;
                }
                Ok(())
            }
            Self::TimedOut { after } => write!(f, "timed out after {} ms", after.as_millis()),
            Self::ConnectFailed { reason } => write!(f, "connection failed: {reason}"),
            Self::RequestFailed { reason } => write!(f, "request failed: {reason}"),
        }
    }
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attempt {
    /// 1 for the first attempt.
    pub number: usize,
    /// The schedule's nominal delay before this attempt.
    pub scheduled: Duration,
    /// How long the sender waited before this attempt: the nominal delay with its jitter, or a
    /// longer `Retry-After`, plus the delivery delay before the first.
    pub waited: Duration,
    /// The `webhook-timestamp` it was signed with (a fresh one per attempt).
    pub timestamp: u64,
    /// The clock's time when the attempt started.
    pub started_at: SystemTime,
    /// What came of it.
    pub result: AttemptResult,
    /// The real time from sending to the end of the answer (or to the failure).
    pub latency: Duration,
}

/// How a delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeliveryOutcome {
    /// An attempt was answered 2xx.
    Delivered,
    /// The endpoint answered 410 Gone: it wants no more deliveries, so the retries stopped.
    Gone,
    /// Every attempt of the schedule failed.
    Exhausted,
}

impl DeliveryOutcome {
    /// `delivered`, `gone` or `exhausted`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Gone => "gone",
            Self::Exhausted => "exhausted",
        }
    }
}

/// What [`Sender::send`] did: every attempt and the outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryReport {
    /// The message id, the same on every attempt.
    pub id: String,
    /// The attempts, in order.
    pub attempts: Vec<Attempt>,
    /// How it ended.
    pub outcome: DeliveryOutcome,
}

impl DeliveryReport {
    /// Whether an attempt was answered 2xx.
    #[must_use]
    pub fn is_delivered(&self) -> bool {
        self.outcome == DeliveryOutcome::Delivered
    }

    /// The status of each attempt (`None` for a timeout or a connection error).
    #[must_use]
    pub fn statuses(&self) -> Vec<Option<u16>> {
        self.attempts.iter().map(|a| a.result.status()).collect()
    }
}

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
type Observer = Arc<dyn Fn(&Attempt) + Send + Sync>;

impl SenderBuilder {
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

struct SenderConfig {
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
    client: Client<HttpConnector, Full<Bytes>>,
}

/// Delivers webhooks as the platform does: signed, retried along a schedule, re-signed with a
/// fresh timestamp on every attempt under the same id.
///
/// Cheap to clone (an `Arc` inside); connections are pooled.
///
/// ```no_run
/// use amps_webhooks::sender::{HeaderStyle, Sender};
/// use amps_webhooks::Signer;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let sender = Sender::builder(Signer::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse()?))
///     .header_style(HeaderStyle::Both)
///     .build();
/// let body = r#"{"event":"push.completed","eventId":"evt_1","data":{}}"#;
/// let report = sender.send("http://127.0.0.1:8080/webhooks", "msg_1", body).await?;
/// for attempt in &report.attempts {
///     println!("attempt {}: {}", attempt.number, attempt.result);
/// }
/// assert!(report.is_delivered());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Sender {
    inner: Arc<SenderConfig>,
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("schedule", &self.inner.schedule)
            .field("timeout", &self.inner.timeout)
            .field("style", &self.inner.style)
            .field("delivery_delay", &self.inner.delivery_delay)
            .finish_non_exhaustive()
    }
}

impl Sender {
    /// Starts a [`SenderBuilder`]: the platform's schedule, 30 s per attempt, `webhook-*`
    /// headers, the system clock, real sleeps.
    #[must_use]
    pub fn builder(signer: Signer) -> SenderBuilder {
        SenderBuilder {
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

    /// The schedule.
    #[must_use]
    pub fn schedule(&self) -> &RetrySchedule {
        &self.inner.schedule
    }

    /// The signed headers for `body` as message `id`, signed now (by the sender's clock),
    /// under the sender's header style: what one attempt sends.
    ///
    /// # Errors
    /// [`SignError`] for an id a verifier would refuse or a key that cannot sign.
    pub fn signed_headers(
        &self,
        id: &str,
        body: &[u8],
    ) -> Result<Vec<(&'static str, String)>, SignError> {
        let signed = self
            .inner
            .signer
            .sign(id, self.inner.clock.unix_seconds(), body)?;
        Ok(styled_headers(&signed, self.inner.style))
    }

    /// Delivers `body` as message `id` to `url`: one attempt per entry of the schedule until
    /// one is answered 2xx (delivered) or 410 (gone). A non-2xx answer (3xx included: a
    /// redirect is not followed), a timeout and a connection error are failures, retried after
    /// the next delay; after a 429 or 503 with `Retry-After` (in seconds) the next attempt
    /// waits at least that long, up to the configured maximum.
    ///
    /// # Errors
    /// [`SendError::InvalidUrl`] or [`SendError::UnsupportedScheme`] for the URL,
    /// [`SendError::Sign`] for an id a verifier would refuse or a key that cannot sign; both
    /// before any attempt. A failed delivery is not an error: it is a report whose outcome
    /// says so.
    pub async fn send(
        &self,
        url: &str,
        id: &str,
        body: impl Into<Bytes>,
    ) -> Result<DeliveryReport, SendError> {
        let uri = parse_url(url)?;
        let body: Bytes = body.into();
        let config = &*self.inner;
        // Check the id and keys before any wait.
        config.signer.sign(id, 0, b"")?;
        let mut attempts = Vec::with_capacity(config.schedule.attempts());
        let mut retry_after: Option<Duration> = None;
        for (index, &scheduled) in config.schedule.delays().iter().enumerate() {
            let mut wait = if scheduled.is_zero() {
                Duration::ZERO
            } else {
                config
                    .schedule
                    .jittered(scheduled, config.jitter.next_unit())
            };
            if index == 0 {
                wait = wait.saturating_add(config.delivery_delay);
            }
            if let Some(after) = retry_after.take() {
                wait = wait.max(after.min(config.max_retry_after));
            }
            if !wait.is_zero() {
                config.sleeper.sleep(wait).await;
            }
            let timestamp = config.clock.unix_seconds();
            let signed = config.signer.sign(id, timestamp, &body)?;
            let headers = styled_headers(&signed, config.style);
            let started_at = config.clock.now();
            let start = Instant::now();
            let result = self.post(&uri, &headers, body.clone()).await;
            let latency = start.elapsed();
            let outcome = match &result {
                AttemptResult::Response { status, .. } if (200..300).contains(status) => {
                    Some(DeliveryOutcome::Delivered)
                }
                AttemptResult::Response { status: 410, .. } => Some(DeliveryOutcome::Gone),
                AttemptResult::Response {
                    status: 429 | 503,
                    retry_after: after,
                    ..
                } => {
                    retry_after = *after;
                    None
                }
                _ => None,
            };
            attempts.push(Attempt {
                number: index + 1,
                scheduled,
                waited: wait,
                timestamp,
                started_at,
                result,
                latency,
            });
            if let (Some(observer), Some(attempt)) = (&config.observer, attempts.last()) {
                observer(attempt);
            }
            if let Some(outcome) = outcome {
                return Ok(DeliveryReport {
                    id: id.to_owned(),
                    attempts,
                    outcome,
                });
            }
        }
        Ok(DeliveryReport {
            id: id.to_owned(),
            attempts,
            outcome: DeliveryOutcome::Exhausted,
        })
    }

    /// Sends one request exactly as given: these headers (plus `content-type:
    /// application/json` unless given), this body, no signing, no retry; under the per-attempt
    /// timeout. For replaying recorded requests and for sending deliberately broken ones.
    ///
    /// # Errors
    /// [`SendError::InvalidUrl`] or [`SendError::UnsupportedScheme`] for the URL,
    /// [`SendError::InvalidHeader`] for a header that is not valid HTTP.
    pub async fn post_raw<N: AsRef<str>, V: AsRef<str>>(
        &self,
        url: &str,
        headers: &[(N, V)],
        body: impl Into<Bytes>,
    ) -> Result<AttemptResult, SendError> {
        let uri = parse_url(url)?;
        for (name, value) in headers {
            let valid = http::HeaderName::from_bytes(name.as_ref().as_bytes()).is_ok()
                && http::HeaderValue::from_str(value.as_ref()).is_ok();
            if !valid {
                return Err(SendError::InvalidHeader {
                    name: name.as_ref().to_owned(),
                });
            }
        }
        Ok(self.post(&uri, headers, body.into()).await)
    }

    async fn post<N: AsRef<str>, V: AsRef<str>>(
        &self,
        uri: &http::Uri,
        headers: &[(N, V)],
        body: Bytes,
    ) -> AttemptResult {
        let config = &*self.inner;
        let mut request = http::Request::post(uri.clone());
        let has_content_type = headers
            .iter()
            .any(|(name, _)| name.as_ref().eq_ignore_ascii_case("content-type"));
        if !has_content_type {
            request = request.header(http::header::CONTENT_TYPE, "application/json");
        }
        request = request.header(
            http::header::USER_AGENT,
            concat!("amps-webhooks/", env!("CARGO_PKG_VERSION")),
        );
        for (name, value) in headers {
            request = request.header(name.as_ref(), value.as_ref());
        }
        let request = match request.body(Full::new(body)) {
            Ok(request) => request,
            Err(error) => {
                return AttemptResult::RequestFailed {
                    reason: error.to_string(),
                };
            }
        };
        let exchange = async {
            let response = config.client.request(request).await?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|text| text.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            // A body over the limit or broken midway still leaves the status: keep what came.
            let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map(|collected| collected.to_bytes())
                .unwrap_or_default();
            let kept = &body[..body.len().min(KEPT_RESPONSE_BYTES)];
            Ok::<_, hyper_util::client::legacy::Error>(AttemptResult::Response {
                status,
                retry_after,
                body: String::from_utf8_lossy(kept).into_owned(),
            })
        };
        match tokio::time::timeout(config.timeout, exchange).await {
            Err(_) => AttemptResult::TimedOut {
                after: config.timeout,
            },
            Ok(Ok(result)) => result,
            Ok(Err(error)) if error.is_connect() => AttemptResult::ConnectFailed {
                reason: error_chain(&error),
            },
            Ok(Err(error)) => AttemptResult::RequestFailed {
                reason: error_chain(&error),
            },
        }
    }
}

/// An error and its sources, `: `-separated (hyper's own messages say little alone).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn parse_url(url: &str) -> Result<http::Uri, SendError> {
    let invalid = || SendError::InvalidUrl {
        url: url.to_owned(),
    };
    let uri: http::Uri = url.parse().map_err(|_| invalid())?;
    let scheme = uri.scheme_str().ok_or_else(invalid)?;
    if scheme != "http" {
        return Err(SendError::UnsupportedScheme {
            scheme: scheme.to_owned(),
        });
    }
    if uri.authority().is_none() {
        return Err(invalid());
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;

    fn vectors() -> serde_json::Value {
        let text = include_str!("../tests/data/standard-webhooks.json");
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn signed_headers_match_the_known_answer_vectors() {
        let file = vectors();
        let mut checked = 0;
        for vector in file["valid"].as_array().unwrap() {
            let (Some(payload), Some(expected)) =
                (vector["payload"].as_str(), vector["signature"].as_str())
            else {
                continue;
            };
            if !expected.starts_with("v1,") || expected.contains(' ') {
                continue;
            }
            let secret: Secret = vector["secret"].as_str().unwrap().parse().unwrap();
            let id = vector["id"].as_str().unwrap();
            let timestamp = vector["timestamp"].as_u64().unwrap();
            for style in [HeaderStyle::Webhook, HeaderStyle::Svix, HeaderStyle::Both] {
                let sender = Sender::builder(Signer::new(secret.clone()))
                    .clock(MockClock::at_unix(timestamp))
                    .header_style(style)
                    .build();
                let headers = sender.signed_headers(id, payload.as_bytes()).unwrap();
                let names: Vec<&str> = headers.iter().map(|(name, _)| *name).collect();
                let expected_names: &[&str] = match style {
                    HeaderStyle::Webhook => {
                        &["webhook-id", "webhook-timestamp", "webhook-signature"]
                    }
                    HeaderStyle::Svix => &["svix-id", "svix-timestamp", "svix-signature"],
                    HeaderStyle::Both => &[
                        "webhook-id",
                        "webhook-timestamp",
                        "webhook-signature",
                        "svix-id",
                        "svix-timestamp",
                        "svix-signature",
                    ],
                };
                assert_eq!(names, expected_names);
                for (name, value) in &headers {
                    let want = if name.ends_with("-id") {
                        id.to_owned()
                    } else if name.ends_with("-timestamp") {
                        timestamp.to_string()
                    } else {
                        expected.to_owned()
                    };
                    assert_eq!(value, &want, "{} {name}", vector["name"]);
                }
            }
            checked += 1;
        }
        assert!(checked >= 2, "only {checked} vectors checked");
    }

    #[test]
    fn rotation_gives_one_v1_entry_per_secret_in_order() {
        let first: Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse().unwrap();
        let second: Secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".parse().unwrap();
        let mut keys = crate::KeySet::from(first);
        keys.push(second);
        let sender = Sender::builder(Signer::with_keys(keys))
            .clock(MockClock::at_unix(1_614_265_330))
            .build();
        let headers = sender
            .signed_headers("msg_p5jXN8AQM9LWM0D4loKWxJek", br#"{"test": 2432232314}"#)
            .unwrap();
        let signature = &headers[2].1;
        let entries: Vec<&str> = signature.split(' ').collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[0],
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(entries[1].starts_with("v1,"));
        assert_ne!(entries[0], entries[1]);
    }

    #[test]
    fn platform_schedule_is_the_documented_one() {
        let schedule = RetrySchedule::platform();
        let secs: Vec<u64> = schedule.delays().iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000]);
        assert!((schedule.jitter() - 0.2).abs() < f64::EPSILON);
    }

    #[test]
    fn jitter_stays_within_its_bounds() {
        let schedule = RetrySchedule::platform();
        let nominal = Duration::from_secs(300);
        assert_eq!(schedule.jittered(nominal, 0.0), Duration::from_secs(240));
        assert_eq!(schedule.jittered(nominal, 0.5), nominal);
        let source = SeededJitter::new(7);
        for _ in 0..10_000 {
            let unit = source.next_unit();
            assert!((0.0..1.0).contains(&unit), "{unit}");
            let delay = schedule.jittered(nominal, unit);
            assert!(delay >= Duration::from_secs(240) && delay <= Duration::from_secs(360));
        }
        // Seeded: the same sequence every time.
        let (a, b) = (SeededJitter::new(42), SeededJitter::new(42));
        for _ in 0..100 {
            assert_eq!(a.next_unit().to_bits(), b.next_unit().to_bits());
        }
    }

    #[test]
    fn schedules_refuse_bad_input() {
        assert_eq!(
            RetrySchedule::fixed([]),
            Err(SendError::InvalidSchedule {
                detail: "give at least one delay (0s for an immediate attempt)"
            })
        );
        assert!(matches!(
            RetrySchedule::fixed(vec![Duration::ZERO; 101]),
            Err(SendError::InvalidSchedule { .. })
        ));
        assert!(matches!(
            RetrySchedule::fixed([Duration::from_secs(31 * 24 * 3600)]),
            Err(SendError::InvalidSchedule { .. })
        ));
        assert!(matches!(
            RetrySchedule::exponential(Duration::from_secs(1), 0.5, Duration::from_secs(9), 3),
            Err(SendError::InvalidSchedule { .. })
        ));
        assert!(matches!(
            RetrySchedule::exponential(Duration::from_secs(1), f64::NAN, Duration::from_secs(9), 3),
            Err(SendError::InvalidSchedule { .. })
        ));
        assert!(matches!(
            RetrySchedule::platform().with_jitter(1.0),
            Err(SendError::InvalidSchedule { .. })
        ));
        let capped =
            RetrySchedule::exponential(Duration::from_secs(10), 10.0, Duration::from_secs(500), 4)
                .unwrap();
        let secs: Vec<u64> = capped.delays().iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [0, 10, 100, 500, 500]);
    }

    #[test]
    fn urls_are_checked_before_any_attempt() {
        assert_eq!(
            parse_url("https://example.com/hook"),
            Err(SendError::UnsupportedScheme {
                scheme: "https".into()
            })
        );
        assert_eq!(
            parse_url("/relative"),
            Err(SendError::InvalidUrl {
                url: "/relative".into()
            })
        );
        assert_eq!(
            parse_url("not a url"),
            Err(SendError::InvalidUrl {
                url: "not a url".into()
            })
        );
        assert!(parse_url("http://127.0.0.1:9/hook").is_ok());
    }

    #[test]
    fn header_styles_parse() {
        assert_eq!("both".parse::<HeaderStyle>(), Ok(HeaderStyle::Both));
        assert_eq!(
            "Svix".parse::<HeaderStyle>(),
            Err(UnknownHeaderStyle("Svix".into()))
        );
    }

    #[test]
    fn instant_sleeper_advances_the_clock() {
        let clock = MockClock::at_unix(100);
        let sleeper = InstantSleeper::new(clock.clone());
        drop(sleeper.sleep(Duration::from_secs(5)));
        drop(sleeper.sleep(Duration::from_millis(1500)));
        assert_eq!(
            sleeper.slept(),
            [Duration::from_secs(5), Duration::from_millis(1500)]
        );
        assert_eq!(
            clock.now(),
            SystemTime::UNIX_EPOCH + Duration::from_millis(106_500)
        );
    }
}
