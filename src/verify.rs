//! The verifier: headers and the raw body in, a [`Verified`] proof out. Only this module can
//! build a `Verified`, and typed parsing starts from one, so no code path parses an unverified
//! body by mistake.

// Untrusted input flows through this module: no indexing, unchecked arithmetic, unwrap or
// expect that could panic on it (tests may).
#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::error::{ParseError, VerifyError};
use crate::event::{Event, Timestamp, WebhookId};
use crate::headers::{self, HeaderLookup, Headers};
use crate::secret::{Key, KeySet, Secret};
use crate::signature::{self, MAX_SIGNATURE_HEADER_LEN};

/// The default timestamp tolerance, both into the past and into the future: 5 minutes.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);
/// The default body limit: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

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
        let id = signature::valid_id(id_bytes).ok_or(VerifyError::InvalidId)?;
        let timestamp_bytes = required(found.timestamp, headers::TIMESTAMP)?;
        let timestamp =
            signature::parse_timestamp(timestamp_bytes).ok_or(VerifyError::InvalidTimestamp)?;
        let signatures = required(found.signature, headers::SIGNATURE)?;
        if signatures.len() > MAX_SIGNATURE_HEADER_LEN {
            return Err(VerifyError::SignatureHeaderTooLong {
                limit: MAX_SIGNATURE_HEADER_LEN,
            });
        }
        self.check_timestamp(timestamp)?;
        signature::match_signatures(&config.keys, id_bytes, timestamp_bytes, body, signatures)?;
        Ok(Verified {
            id,
            timestamp: Timestamp::from_unix(timestamp),
            body,
        })
    }

    fn check_timestamp(&self, timestamp: u64) -> Result<(), VerifyError> {
        let tolerance = self.inner.tolerance;
        let now = self.inner.clock.unix_seconds();
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
        Ok(())
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
    clock: Arc<dyn Clock>,
    max_body_bytes: usize,
}

impl Default for VerifierBuilder {
    fn default() -> Self {
        Self {
            keys: KeySet::new(),
            tolerance: DEFAULT_TOLERANCE,
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

    /// How far a timestamp may be from now, in the past or in the future (default 5 minutes,
    /// whole seconds). A longer window lets a captured request be replayed for longer.
    #[must_use]
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
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
    /// [`BuildError::NoKeys`] when no key was given.
    pub fn build(self) -> Result<Verifier, BuildError> {
        if self.keys.is_empty() {
            return Err(BuildError::NoKeys);
        }
        Ok(Verifier {
            inner: Arc::new(Config {
                keys: self.keys,
                tolerance: self.tolerance.as_secs(),
                clock: self.clock,
                max_body_bytes: self.max_body_bytes,
            }),
        })
    }
}

/// Why a [`VerifierBuilder`] could not build.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// No key was given: a verifier without keys would reject everything.
    NoKeys,
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoKeys => {
                f.write_str("a verifier needs at least one key: call .secret() or .key()")
            }
        }
    }
}

impl std::error::Error for BuildError {}

/// Proof that a request's signature and timestamp were checked: only [`Verifier::verify`]
/// builds one. It borrows the request, so verifying allocates nothing.
#[derive(Debug, Clone, Copy)]
pub struct Verified<'a> {
    id: &'a str,
    timestamp: Timestamp,
    body: &'a [u8],
}

impl<'a> Verified<'a> {
    /// The `webhook-id` header: the message id, stable across retries.
    #[must_use]
    pub fn id(&self) -> &'a str {
        self.id
    }

    /// The `webhook-timestamp` header: when this attempt was signed.
    #[must_use]
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    /// The raw body, as received.
    #[must_use]
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// Parses the body as JSON into `T` and reads the envelope fields (`type` or `event`,
    /// `eventId`) when the body has them.
    ///
    /// # Errors
    /// [`ParseError::InvalidJson`] when the body is not JSON, [`ParseError::InvalidEvent`]
    /// when it is JSON of another shape than `T`.
    pub fn parse<T: serde::de::DeserializeOwned + 'static>(&self) -> Result<Event<T>, ParseError> {
        Event::from_verified(WebhookId::new_unchecked(self.id), self.timestamp, self.body)
    }
}
