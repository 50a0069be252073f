//! The reference sender: signs a message, POSTs it, and retries along a schedule until the
//! endpoint answers 2xx, answers 410, or the schedule runs out; then reports every attempt.
//!
//! Time, sleeping and jitter are injected ([`Clock`](crate::Clock), [`Sleeper`],
//! [`JitterSource`](crate::retry::JitterSource)), so a test runs the platform's 32-hour schedule
//! in milliseconds with a [`MockClock`](crate::MockClock) and an [`InstantSleeper`]. The HTTP
//! client is hyper-util's (HTTP/1.1 over plain TCP): hyper is already in the tree of both
//! framework integrations, so the sender adds few crates; it does not speak TLS (`https://`
//! URLs are refused with [`SendError::UnsupportedScheme`]). The schedule itself
//! ([`RetrySchedule`](crate::retry::RetrySchedule)) is in [`crate::retry`].
//!
//! This file owns the sender's error ([`SendError`]) and its limits; the pieces are in
//! submodules, re-exported here: the client ([`Sender`], in `client`), its builder
//! ([`SenderBuilder`], in `builder`), the sleepers (`sleeper`), the header styles
//! (`headers`) and the report of a delivery ([`DeliveryReport`], in `report`).
//!
#![doc = include_str!("../docs/sender.md")]

use std::fmt;
use std::time::Duration;

use crate::error::SignError;

mod builder;
mod client;
mod headers;
mod report;
mod sleeper;

pub use builder::SenderBuilder;
pub use client::Sender;
pub(crate) use headers::styled_headers;
pub use headers::{HeaderStyle, UnknownHeaderStyle};
pub use report::{Attempt, AttemptResult, DeliveryEnd, DeliveryReport};
pub use sleeper::{InstantSleeper, Sleeper, TokioSleeper};

/// The per-attempt timeout by default: the platform counts an answer after 30 s as a failure.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest `Retry-After` honoured by default: 1 hour. A longer one is cut to this.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
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
