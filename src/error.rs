//! The errors of the core layers, one enum per layer: [`KeyError`] (parsing a secret or key),
//! [`BuildError`] (configuring a verifier), [`VerifyError`] (checking a request), [`SignError`]
//! (signing one), [`ParseError`] (typing a verified body) and [`StoreError`] (the idempotency
//! stores). Each variant is documented and carries its own figures (a limit, a length, a
//! position), and each message says what to check; this module imports nothing else of the
//! crate.
//!
//! The core's errors implement `Display` and `Error` by hand rather than through `thiserror`:
//! the verifier alone must stay within 20 crates, and `thiserror` would bring a proc-macro
//! stack of six.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

mod key;
mod parse;

pub use key::KeyError;
pub use parse::ParseError;

/// Why a request was rejected by [`Verifier::verify`](crate::Verifier::verify).
///
/// [`is_unauthorized`](Self::is_unauthorized) tells the 401 cases (signature, timestamp) from
/// the 400 cases (malformed request) and [`BodyTooLarge`](Self::BodyTooLarge) (413).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// The body is longer than the verifier's limit; no signature work was done.
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
        /// The body's length in bytes.
        len: usize,
    },
    /// A required header is absent under both its `webhook-` and its `svix-` name.
    MissingHeader {
        /// The header's `webhook-` name.
        name: &'static str,
    },
    /// A header appears more than once, so which value is signed is ambiguous.
    RepeatedHeader {
        /// The header's `webhook-` name.
        name: &'static str,
    },
    /// The `webhook-id` is empty, longer than `max_len` ([`MAX_ID_LEN`](crate::MAX_ID_LEN)),
    /// or holds a character outside printable ASCII, or a `.`.
    InvalidId {
        /// The longest id accepted, in bytes.
        max_len: usize,
    },
    /// The `webhook-timestamp` is not 1 to 19 ASCII digits (no sign, space, fraction or
    /// exponent) or does not fit in 64 bits.
    InvalidTimestamp,
    /// The timestamp is further in the past than the tolerance allows (a stale or replayed
    /// request, or a receiver clock that is ahead).
    TimestampTooOld {
        /// Seconds between the timestamp and now.
        age: u64,
        /// The tolerance in seconds.
        tolerance: u64,
    },
    /// The timestamp is further in the future than the tolerance allows (a sender clock that
    /// is ahead, or a request forged for later replay).
    TimestampTooNew {
        /// Seconds between now and the timestamp.
        ahead: u64,
        /// The tolerance in seconds.
        tolerance: u64,
    },
    /// The `webhook-signature` header is longer than
    /// [`MAX_SIGNATURE_HEADER_LEN`](crate::MAX_SIGNATURE_HEADER_LEN).
    SignatureHeaderTooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// No entry of the signature header matches any configured key.
    NoMatchingSignature {
        /// How many well-formed entries were compared: `v1,` entries when the verifier holds
        /// HMAC secrets, plus `v1a,` entries when it holds ed25519 keys.
        candidates: usize,
    },
    /// The signature header holds more well-formed `v1a,` entries than
    /// [`MAX_V1A_SIGNATURES`](crate::MAX_V1A_SIGNATURES), and the verifier holds ed25519 keys:
    /// each entry costs a public-key verification per key, so no work was done.
    TooManySignatures {
        /// The most `v1a,` entries checked.
        limit: usize,
    },
}

impl VerifyError {
    /// True for the failures that mean "not proven to come from the sender" (HTTP 401): no
    /// matching signature, or a timestamp outside the tolerance.
    #[must_use]
    pub fn is_unauthorized(&self) -> bool {
        matches!(
            self,
            Self::NoMatchingSignature { .. }
                | Self::TimestampTooOld { .. }
                | Self::TimestampTooNew { .. }
        )
    }

    /// A short, stable code for logs and response bodies, such as `invalid_signature`,
    /// `timestamp_out_of_tolerance`, `invalid_header` or `body_too_large`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::BodyTooLarge { .. } => "body_too_large",
            Self::MissingHeader { .. } => "missing_header",
            Self::RepeatedHeader { .. }
            | Self::InvalidId { .. }
            | Self::InvalidTimestamp
            | Self::SignatureHeaderTooLong { .. }
            | Self::TooManySignatures { .. } => "invalid_header",
            Self::TimestampTooOld { .. } | Self::TimestampTooNew { .. } => {
                "timestamp_out_of_tolerance"
            }
            Self::NoMatchingSignature { .. } => "invalid_signature",
        }
    }

    /// The HTTP status this failure should be answered with: 413, 401 or 400.
    #[must_use]
    pub fn http_status(&self) -> u16 {
        match self {
            Self::BodyTooLarge { .. } => 413,
            _ if self.is_unauthorized() => 401,
            _ => 400,
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BodyTooLarge { limit, len } => write!(
                f,
                "the body is {len} bytes, over the limit of {limit}; raise max_body_bytes if such bodies are expected"
            ),
            Self::MissingHeader { name } => write!(
                f,
                "the `{name}` header (or its `svix-` spelling) is missing; is the request from a Standard Webhooks sender?"
            ),
            Self::RepeatedHeader { name } => write!(
                f,
                "the `{name}` header is present more than once; a proxy may be duplicating headers"
            ),
            Self::InvalidId { max_len } => write!(
                f,
                "the `webhook-id` header must be 1 to {max_len} printable ASCII characters without `.`"
            ),
            Self::InvalidTimestamp => write!(
                f,
                "the `webhook-timestamp` header must be whole seconds since the Unix epoch, digits only"
            ),
            Self::TimestampTooOld { age, tolerance } => write!(
                f,
                "the timestamp is {age} s old, beyond the tolerance of {tolerance} s: a replayed request, or check this machine's clock"
            ),
            Self::TimestampTooNew { ahead, tolerance } => write!(
                f,
                "the timestamp is {ahead} s in the future, beyond the tolerance of {tolerance} s: check the sender's and this machine's clocks"
            ),
            Self::SignatureHeaderTooLong { limit } => write!(
                f,
                "the `webhook-signature` header is over {limit} bytes; a sender lists one entry per active key"
            ),
            Self::NoMatchingSignature { candidates: 0 } => write!(
                f,
                "the `webhook-signature` header has no well-formed entry for the configured keys (`v1,<base64 of 32 bytes>` for `whsec_` secrets, `v1a,<base64 of 64 bytes>` for ed25519 keys)"
            ),
            Self::NoMatchingSignature { candidates } => write!(
                f,
                "none of the {candidates} signatures matches a configured key: check the key, and that the body is passed on byte for byte"
            ),
            Self::TooManySignatures { limit } => write!(
                f,
                "the `webhook-signature` header has more than {limit} `v1a` entries; a sender lists one entry per active key"
            ),
        }
    }
}

impl StdError for VerifyError {}

/// Why [`Signer::sign`](crate::Signer::sign) refused its input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignError {
    /// The id would be refused by a verifier: see [`VerifyError::InvalidId`].
    InvalidId {
        /// The longest id accepted, in bytes.
        max_len: usize,
    },
    /// The signer's key set holds a `whpk_` public key, which cannot sign; build the signer
    /// with [`Signer::try_with_keys`](crate::Signer::try_with_keys) to find out at start-up.
    PublicKeyCannotSign,
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidId { max_len } => write!(
                f,
                "a webhook id must be 1 to {max_len} printable ASCII characters without `.`"
            ),
            Self::PublicKeyCannotSign => write!(
                f,
                "a `whpk_` public key can only verify; signing needs the `whsk_` signing key (or a `whsec_` secret)"
            ),
        }
    }
}

impl StdError for SignError {}

/// Why a [`VerifierBuilder`](crate::VerifierBuilder) could not build.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// No key was given: a verifier without keys would reject everything.
    NoKeys,
    /// The tolerance is under one second (zero included): every request would be refused as
    /// stale, or judged by a window shorter than the timestamp's own resolution.
    ToleranceTooShort {
        /// The tolerance that was given.
        tolerance: Duration,
    },
    /// The tolerance is not a whole number of seconds: timestamps are whole seconds, and the
    /// verifier does not round a window it was given.
    ToleranceNotWholeSeconds {
        /// The tolerance that was given.
        tolerance: Duration,
    },
    /// The tolerance set with [`tolerance`](crate::VerifierBuilder::tolerance) is over `max`
    /// (a day): a captured request could be replayed for that long. A wider window needs
    /// [`dangerous_tolerance`](crate::VerifierBuilder::dangerous_tolerance).
    ToleranceTooLong {
        /// The tolerance that was given.
        tolerance: Duration,
        /// The longest tolerance `tolerance` accepts.
        max: Duration,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoKeys => {
                f.write_str("a verifier needs at least one key: call .secret() or .key()")
            }
            Self::ToleranceTooShort { tolerance } => write!(
                f,
                "a tolerance of {tolerance:?} is under one second, which refuses every request; the default is 300 s"
            ),
            Self::ToleranceNotWholeSeconds { tolerance } => write!(
                f,
                "a tolerance of {tolerance:?} is not whole seconds, as timestamps are; give whole seconds"
            ),
            Self::ToleranceTooLong { tolerance, max } => write!(
                f,
                "a tolerance of {} s is over {} s and lets a captured request be replayed for that long; use dangerous_tolerance() if it must be so",
                tolerance.as_secs(),
                max.as_secs()
            ),
        }
    }
}

impl StdError for BuildError {}

/// The boxed cause of a [`StoreError::Unavailable`]: the backend's own error, kept out of this
/// crate's public types so that a backend's version does not leak into them.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why an idempotency store could not answer, or refused an operation.
///
/// [`is_unavailable`](Self::is_unavailable) tells the outages (answer HTTP 503 with a
/// `Retry-After` and let the sender retry: fail closed) from the refusals that concern one claim
/// ([`StaleToken`](Self::StaleToken)) or the configuration.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The store could not be reached, or the connection broke during the command.
    Unavailable {
        /// Which store: `"redis"`, `"memory"`, or a custom store's name.
        store: &'static str,
        /// The backend's error.
        source: BoxError,
    },
    /// The store did not answer within the command timeout.
    Timeout {
        /// Which store.
        store: &'static str,
        /// The timeout that passed.
        after: std::time::Duration,
    },
    /// The token no longer owns the key: its lease ran out and another worker claimed the key
    /// since (or completed it). The late `complete` or `release` was not applied, so the newer
    /// claim is untouched.
    StaleToken,
    /// The in-memory store's shard for this key is full of live in-flight claims, so no room can
    /// be made without forgetting one; the claim is refused (fail closed).
    CapacityExhausted {
        /// The capacity of one shard.
        shard_capacity: usize,
    },
    /// The store answered something this crate did not write: another program may be using the
    /// same keys, or the key prefix collides.
    UnexpectedReply {
        /// Which store.
        store: &'static str,
        /// What was found.
        detail: String,
    },
    /// A store's configuration was refused (a malformed URL, a key prefix with characters
    /// outside `A-Z a-z 0-9 - _ . : /`).
    Configuration {
        /// Which store.
        store: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A namespace given to a [`Deduplicator`](crate::store::Deduplicator) is empty, too long,
    /// or holds a character outside `A-Z a-z 0-9 - _ . /`.
    InvalidNamespace {
        /// The namespace's length in bytes.
        len: usize,
    },
}

impl StoreError {
    /// True for outages (unreachable, timed out, full of live claims, unexpected reply): the
    /// request must be answered 503 with a `Retry-After`, never accepted and dropped.
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::Unavailable { .. }
                | Self::Timeout { .. }
                | Self::CapacityExhausted { .. }
                | Self::UnexpectedReply { .. }
        )
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable { store, source } => write!(
                f,
                "the {store} idempotency store is unavailable ({source}); check that it is running and reachable"
            ),
            Self::Timeout { store, after } => write!(
                f,
                "the {store} idempotency store did not answer within {} ms; check its load and the network, or raise the command timeout",
                after.as_millis()
            ),
            Self::StaleToken => write!(
                f,
                "the claim token is stale: its lease ran out and another worker claimed the key since; raise the lease above the handler's longest run"
            ),
            Self::CapacityExhausted { shard_capacity } => write!(
                f,
                "the in-memory idempotency store is full of live claims ({shard_capacity} per shard); raise its capacity"
            ),
            Self::UnexpectedReply { store, detail } => write!(
                f,
                "the {store} idempotency store answered something unexpected ({detail}); is another program using the same key prefix?"
            ),
            Self::Configuration { store, detail } => {
                write!(
                    f,
                    "the {store} idempotency store's configuration is invalid: {detail}"
                )
            }
            Self::InvalidNamespace { len } => write!(
                f,
                "a namespace must be 1 to 64 characters from `A-Z a-z 0-9 - _ . /` (got {len} bytes that are not)"
            ),
        }
    }
}

impl StdError for StoreError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Unavailable { source, .. } => Some(&**source),
            _ => None,
        }
    }
}
