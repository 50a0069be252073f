//! The verifier: headers and the raw body in, a [`Verified`] proof out, with the newtypes it
//! makes from the headers ([`WebhookId`], [`WebhookTimestamp`]). Also [`VerifierBuilder`], whose
//! settings start at the secure defaults and refuse to weaken them silently. Only this module
//! can build a `Verified`, and typed parsing starts from one (`Verified::parse`, beside
//! `Event`), so no code path parses an unverified body by mistake.

// Untrusted input flows through this module: no indexing, unchecked arithmetic, unwrap or
// expect that could panic on it (tests may).
#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::clock::{Clock, SystemClock};
use crate::error::{BuildError, VerifyError};
use crate::headers::{self, HeaderLookup, Headers};
use crate::secret::{Key, KeySet, Secret};
use crate::signature::{self, MAX_ID_LEN, MAX_SIGNATURE_HEADER_LEN};

/// The default timestamp tolerance, both into the past and into the future: 5 minutes.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);
/// The default body limit: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// The widest tolerance [`VerifierBuilder::tolerance`] accepts: a day.
const MAX_TOLERANCE: Duration = Duration::from_secs(24 * 60 * 60);

/// The `webhook-id` of a request: the message id, stable across retries of one delivery.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WebhookId(Arc<str>);

impl WebhookId {
    /// Only the verifier makes ids, from a header it has checked.
    pub(crate) fn new_unchecked(id: &str) -> Self {
        Self(Arc::from(id))
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id, shared (no copy).
    pub(crate) fn shared(&self) -> &Arc<str> {
        &self.0
    }
}

impl fmt::Display for WebhookId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for WebhookId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The `webhook-timestamp` of a request: whole seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WebhookTimestamp(u64);

impl WebhookTimestamp {
    /// The timestamp `seconds` after the Unix epoch.
    #[must_use]
    pub fn from_unix(seconds: u64) -> Self {
        Self(seconds)
    }

    /// Seconds since the Unix epoch.
    #[must_use]
    pub fn as_unix(self) -> u64 {
        self.0
    }

    /// The timestamp as a [`SystemTime`].
    #[must_use]
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH
            .checked_add(Duration::from_secs(self.0))
            .unwrap_or(UNIX_EPOCH)
    }
}

impl fmt::Display for WebhookTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Checks webhook requests: signature, timestamp, headers and body size.
///
/// Cheap to clone (an `Arc` inside); build one at start-up and share it.
///
/// ```
/// use amps_webhooks::{MockClock, Secret, Signer, Verifier};
///
/// let secret: Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse()?;
/// let clock = MockClock::at_unix(1_614_265_330);
/// let verifier = Verifier::builder().secret(secret.clone()).clock(clock).build()?;
///
/// let body = br#"{"type":"demo","data":{}}"#;
/// let signed = Signer::new(secret).sign("msg_1", 1_614_265_330, body)?;
/// let headers = signed.webhook_headers();
/// let verified = verifier.verify(&headers, body)?;
/// assert_eq!(verified.id(), "msg_1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Verifier {
    inner: Arc<Config>,
}

#[derive(Debug)]
struct Config {
    keys: KeySet,
    tolerance: u64,
    clock: Arc<dyn Clock>,
    max_body_bytes: usize,
}

impl Verifier {
    /// A verifier for one secret with the secure defaults: 5 minutes of tolerance each way,
    /// the system clock, a 1 MiB body limit.
    #[must_use]
    pub fn new(secret: Secret) -> Self {
        Self {
            inner: Arc::new(Config {
                keys: KeySet::from(secret),
                tolerance: DEFAULT_TOLERANCE.as_secs(),
                clock: Arc::new(SystemClock),
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            }),
        }
    }

    /// Starts a [`VerifierBuilder`] with the secure defaults and no key yet.
    #[must_use]
    pub fn builder() -> VerifierBuilder {
        VerifierBuilder::default()
    }

    /// The body limit in bytes. Integrations read at most this many bytes.
    #[must_use]
    pub fn max_body_bytes(&self) -> usize {
        self.inner.max_body_bytes
    }

    /// The timestamp tolerance.
    #[must_use]
    pub fn tolerance(&self) -> Duration {
        Duration::from_secs(self.inner.tolerance)
    }

    /// The clock the verifier reads.
    #[must_use]
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Verifies a request from its headers and its raw body, exactly as received.
    ///
    /// Headers are `webhook-id`, `webhook-timestamp` and `webhook-signature`, or their
    /// `svix-` spellings, in any letter case. A valid request costs no heap allocation.
    ///
    /// # Errors
    /// In the order checked: [`VerifyError::BodyTooLarge`]; [`VerifyError::MissingHeader`],
    /// [`VerifyError::RepeatedHeader`], [`VerifyError::InvalidId`],
    /// [`VerifyError::InvalidTimestamp`], [`VerifyError::SignatureHeaderTooLong`] for the
    /// headers; [`VerifyError::TimestampTooOld`] / [`VerifyError::TimestampTooNew`] outside
    /// the tolerance; [`VerifyError::TooManySignatures`] over
    /// [`MAX_V1A_SIGNATURES`](crate::MAX_V1A_SIGNATURES) `v1a` entries (only when the
    /// verifier holds ed25519 keys); [`VerifyError::NoMatchingSignature`] when no `v1` entry
    /// matches an HMAC secret and no `v1a` entry matches an ed25519 key.
    pub fn verify<'a, H: Headers + ?Sized>(
        &self,
        headers: &'a H,
        body: &'a [u8],
    ) -> Result<Verified<'a>, VerifyError> {
        let config = &*self.inner;
        if body.len() > config.max_body_bytes {
            return Err(VerifyError::BodyTooLarge {
                limit: config.max_body_bytes,
                len: body.len(),
            });
        }
        let found = headers.webhook_headers();
        let id_bytes = required(found.id, headers::ID)?;
        let id = signature::valid_id(id_bytes).ok_or(VerifyError::InvalidId {
            max_len: MAX_ID_LEN,
        })?;
        let timestamp_bytes = required(found.timestamp, headers::TIMESTAMP)?;
        let timestamp =
            signature::parse_timestamp(timestamp_bytes).ok_or(VerifyError::InvalidTimestamp)?;
        let signatures = required(found.signature, headers::SIGNATURE)?;
        if signatures.len() > MAX_SIGNATURE_HEADER_LEN {
            return Err(VerifyError::SignatureHeaderTooLong {
                limit: MAX_SIGNATURE_HEADER_LEN,
            });
        }
        let received_at = self.check_timestamp(timestamp)?;
        signature::match_signatures(&config.keys, id_bytes, timestamp_bytes, body, signatures)?;
        Ok(Verified {
            id,
            timestamp: WebhookTimestamp::from_unix(timestamp),
            body,
            received_at,
        })
    }

    /// Checks `timestamp` against the clock, read once: the reading, when within the
    /// tolerance.
    fn check_timestamp(&self, timestamp: u64) -> Result<SystemTime, VerifyError> {
        let tolerance = self.inner.tolerance;
        let received_at = self.inner.clock.now();
        let now = received_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        if timestamp < now {
            let age = now.saturating_sub(timestamp);
            if age > tolerance {
                return Err(VerifyError::TimestampTooOld { age, tolerance });
            }
        } else {
            let ahead = timestamp.saturating_sub(now);
            if ahead > tolerance {
                return Err(VerifyError::TimestampTooNew { ahead, tolerance });
            }
        }
        Ok(received_at)
    }
}

fn required<'a>(
    found: HeaderLookup<'a>,
    names: (&'static str, &'static str),
) -> Result<&'a [u8], VerifyError> {
    match found {
        HeaderLookup::One(value) => Ok(value),
        HeaderLookup::Missing => Err(VerifyError::MissingHeader { name: names.0 }),
        HeaderLookup::Repeated => Err(VerifyError::RepeatedHeader { name: names.0 }),
    }
}

/// Builds a [`Verifier`]; every setting starts at its secure default.
#[derive(Debug)]
pub struct VerifierBuilder {
    keys: KeySet,
    tolerance: Duration,
    /// Set by [`dangerous_tolerance`](Self::dangerous_tolerance): no upper bound.
    wide_tolerance: bool,
    clock: Arc<dyn Clock>,
    max_body_bytes: usize,
}

impl Default for VerifierBuilder {
    fn default() -> Self {
        Self {
            keys: KeySet::new(),
            tolerance: DEFAULT_TOLERANCE,
            wide_tolerance: false,
            clock: Arc::new(SystemClock),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

impl VerifierBuilder {
    /// Accepts signatures made with `secret`; call it again for each key while rotating.
    #[must_use]
    pub fn secret(mut self, secret: Secret) -> Self {
        self.keys.push(secret);
        self
    }

    /// Accepts signatures made with any key of `keys`, in addition to those already added.
    #[must_use]
    pub fn keys(mut self, keys: KeySet) -> Self {
        self.keys.extend(keys.iter().cloned());
        self
    }

    /// Accepts signatures made with `key`, of any kind: an HMAC secret, or (feature `ed25519`)
    /// a `whpk_` public key or a `whsk_` signing key, whose public half is used.
    #[must_use]
    pub fn key(mut self, key: impl Into<Key>) -> Self {
        self.keys.push_key(key);
        self
    }

    /// How far a timestamp may be from now, in the past or in the future: whole seconds, from
    /// 1 s to a day (default 5 minutes). A longer window lets a captured request be replayed
    /// for longer.
    ///
    /// The value is checked by [`build`](Self::build), never rounded: zero or under a second is
    /// [`BuildError::ToleranceTooShort`], a fraction of a second
    /// [`BuildError::ToleranceNotWholeSeconds`], over a day [`BuildError::ToleranceTooLong`]
    /// (see [`dangerous_tolerance`](Self::dangerous_tolerance)).
    #[must_use]
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self.wide_tolerance = false;
        self
    }

    /// A tolerance over a day, for the rare receiver that must accept old requests (replaying
    /// recorded traffic, a sender whose clock cannot be trusted): whole seconds, at least 1 s,
    /// with no upper bound. Every captured request can be replayed for that long; pair it with
    /// deduplication.
    ///
    /// Checked by [`build`](Self::build) as for [`tolerance`](Self::tolerance), except the
    /// upper bound.
    #[must_use]
    pub fn dangerous_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self.wide_tolerance = true;
        self
    }

    /// The clock to judge timestamps by (default [`SystemClock`]).
    #[must_use]
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// A clock shared with other parts of the application, such as an idempotency store.
    #[must_use]
    pub fn shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The largest body accepted, in bytes (default 1 MiB).
    #[must_use]
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// Builds the verifier.
    ///
    /// # Errors
    /// [`BuildError::NoKeys`] when no key was given; [`BuildError::ToleranceTooShort`],
    /// [`BuildError::ToleranceNotWholeSeconds`] or [`BuildError::ToleranceTooLong`] for a
    /// tolerance outside whole seconds from 1 s to a day (no upper bound after
    /// [`dangerous_tolerance`](Self::dangerous_tolerance)).
    pub fn build(self) -> Result<Verifier, BuildError> {
        if self.keys.is_empty() {
            return Err(BuildError::NoKeys);
        }
        let tolerance = self.tolerance;
        if tolerance < Duration::from_secs(1) {
            return Err(BuildError::ToleranceTooShort { tolerance });
        }
        if tolerance.subsec_nanos() != 0 {
            return Err(BuildError::ToleranceNotWholeSeconds { tolerance });
        }
        if !self.wide_tolerance && tolerance > MAX_TOLERANCE {
            return Err(BuildError::ToleranceTooLong {
                tolerance,
                max: MAX_TOLERANCE,
            });
        }
        Ok(Verifier {
            inner: Arc::new(Config {
                keys: self.keys,
                tolerance: tolerance.as_secs(),
                clock: self.clock,
                max_body_bytes: self.max_body_bytes,
            }),
        })
    }
}

/// Proof that a request's signature and timestamp were checked: only [`Verifier::verify`]
/// builds one. It borrows the request, so verifying allocates nothing.
#[derive(Debug, Clone, Copy)]
pub struct Verified<'a> {
    id: &'a str,
    timestamp: WebhookTimestamp,
    body: &'a [u8],
    received_at: SystemTime,
}

impl<'a> Verified<'a> {
    /// The `webhook-id` header: the message id, stable across retries.
    #[must_use]
    pub fn id(&self) -> &'a str {
        self.id
    }

    /// The `webhook-timestamp` header: when this attempt was signed.
    #[must_use]
    pub fn timestamp(&self) -> WebhookTimestamp {
        self.timestamp
    }

    /// The raw body, as received.
    #[must_use]
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The verifier's clock when it checked the timestamp: the request's receipt, as the
    /// verifier saw it. Minus [`timestamp`](Self::timestamp), it is the delivery's arrival lag
    /// (a sender's clock drifting toward the tolerance shows there first).
    #[must_use]
    pub fn received_at(&self) -> SystemTime {
        self.received_at
    }
}

#[cfg(test)]
mod tests;
