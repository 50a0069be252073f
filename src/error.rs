//! The errors of the core layers: one enum per layer, each variant documented, each message
//! saying what to check.
//!
//! The core's errors implement `Display` and `Error` by hand rather than through `thiserror`:
//! the verifier alone must stay within 20 crates, and `thiserror` would bring a proc-macro
//! stack of six.

use std::error::Error as StdError;
use std::fmt;

/// Why a secret or key could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretError {
    /// The input was empty (or only the `whsec_` prefix).
    Empty,
    /// The input is a different kind of key (`whsk_` or `whpk_`, ed25519) where an HMAC
    /// secret (`whsec_`) was expected.
    WrongKind {
        /// The prefix that was found.
        found: &'static str,
    },
    /// The part after `whsec_` is not canonical, padded, standard base64.
    InvalidBase64,
    /// The secret decodes to fewer than [`MIN_SECRET_BYTES`](crate::MIN_SECRET_BYTES) bytes.
    TooShort {
        /// How many bytes it decoded to.
        len: usize,
    },
    /// The secret decodes to more than [`MAX_SECRET_BYTES`](crate::MAX_SECRET_BYTES) bytes.
    TooLong {
        /// How many bytes it decoded to.
        len: usize,
    },
}

const SECRET_SHAPE: &str =
    "a secret is `whsec_` followed by standard padded base64 of 24 to 64 random bytes";

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "the secret is empty; {SECRET_SHAPE}"),
            Self::WrongKind { found } => write!(
                f,
                "a `{found}` key is not an HMAC secret; {SECRET_SHAPE} (ed25519 keys need the `ed25519` feature and go where a public or signing key is expected)"
            ),
            Self::InvalidBase64 => write!(
                f,
                "the secret is not canonical padded base64 (no spaces, `+/` alphabet, `=` padding); {SECRET_SHAPE}"
            ),
            Self::TooShort { len } => {
                write!(f, "the secret is only {len} bytes long; {SECRET_SHAPE}")
            }
            Self::TooLong { len } => write!(f, "the secret is {len} bytes long; {SECRET_SHAPE}"),
        }
    }
}

impl StdError for SecretError {}

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
    /// The `webhook-id` is empty, longer than [`MAX_ID_LEN`](crate::MAX_ID_LEN), or holds a
    /// character outside printable ASCII, or a `.`.
    InvalidId,
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
        /// How many well-formed `v1,` entries were compared.
        candidates: usize,
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
            Self::InvalidId => write!(
                f,
                "the `webhook-id` header must be 1 to {} printable ASCII characters without `.`",
                crate::MAX_ID_LEN
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
                "the `webhook-signature` header has no well-formed `v1,<base64 of 32 bytes>` entry"
            ),
            Self::NoMatchingSignature { candidates } => write!(
                f,
                "none of the {candidates} `v1` signatures matches a configured secret: check the secret, and that the body is passed on byte for byte"
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
    InvalidId,
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidId => write!(
                f,
                "a webhook id must be 1 to {} printable ASCII characters without `.`",
                crate::MAX_ID_LEN
            ),
        }
    }
}

impl StdError for SignError {}

/// Why a verified body could not be parsed into an event (HTTP 400).
#[derive(Debug)]
#[non_exhaustive]
pub enum ParseError {
    /// The body is not valid JSON (syntax error, truncated, or not UTF-8).
    InvalidJson(serde_json::Error),
    /// The body is valid JSON but not the shape of the event type asked for.
    InvalidEvent(serde_json::Error),
}

impl ParseError {
    /// Classifies the error of parsing `body`. A shape error can come before the syntax error
    /// (a complete event followed by junk fails on the event's shape first), so a shape error
    /// is only reported once the body is known to be valid JSON.
    pub(crate) fn from_json(error: serde_json::Error, body: &[u8]) -> Self {
        match error.classify() {
            serde_json::error::Category::Data => {
                match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
                    Ok(_) => Self::InvalidEvent(error),
                    Err(syntax) => Self::InvalidJson(syntax),
                }
            }
            _ => Self::InvalidJson(error),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidJson(e) => write!(f, "the body is not valid JSON: {e}"),
            Self::InvalidEvent(e) => write!(f, "the body is JSON but not a valid event: {e}"),
        }
    }
}

impl StdError for ParseError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::InvalidJson(e) | Self::InvalidEvent(e) => Some(e),
        }
    }
}
