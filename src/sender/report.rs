//! What a delivery came to: each [`Attempt`] and its [`AttemptResult`], how the delivery
//! ended ([`DeliveryEnd`]), and the [`DeliveryReport`] that holds them.

use std::fmt;
use std::time::{Duration, SystemTime};

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
pub enum DeliveryEnd {
    /// An attempt was answered 2xx.
    Delivered,
    /// The endpoint answered 410 Gone: it wants no more deliveries, so the retries stopped.
    Gone,
    /// Every attempt of the schedule failed.
    Exhausted,
}

impl DeliveryEnd {
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

/// What [`Sender::send`](super::Sender::send) did: every attempt and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryReport {
    /// The message id, the same on every attempt.
    pub id: String,
    /// The attempts, in order.
    pub attempts: Vec<Attempt>,
    /// How it ended.
    pub end: DeliveryEnd,
}

impl DeliveryReport {
    /// Whether an attempt was answered 2xx.
    #[must_use]
    pub fn is_delivered(&self) -> bool {
        self.end == DeliveryEnd::Delivered
    }

    /// The status of each attempt (`None` for a timeout or a connection error).
    #[must_use]
    pub fn statuses(&self) -> Vec<Option<u16>> {
        self.attempts.iter().map(|a| a.result.status()).collect()
    }
}
