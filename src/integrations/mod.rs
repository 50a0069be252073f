//! Web framework integrations: an extractor that reads the raw body under the verifier's limit,
//! verifies and parses it, and a middleware that runs the route's handler at most once per event.
//!
//! What is shared by [`axum`] and [`actix`] lives here: the extractor's type
//! ([`VerifiedEvent`]), its rejection ([`WebhookRejection`], with the one status mapping of
//! both), and the record of what became of a delivery ([`Delivery`]), which the middleware puts
//! in the response's extensions for logging.
//!
//! | situation | status |
//! |---|---|
//! | handler succeeded | its 2xx, event recorded as completed |
//! | duplicate of a completed event | 200, handler not run |
//! | duplicate while the first is in flight | 409 + `Retry-After` |
//! | handler failed | its status (5xx), claim released so the retry runs it |
//! | store unreachable | 503 + `Retry-After` |
//! | no matching signature, timestamp outside the tolerance | 401 |
//! | headers missing or malformed, body not a valid event | 400 |
//! | body over the limit | 413 |

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::error::{BoxError, ParseError, VerifyError};
use crate::event::Event;
use crate::headers::{self, HeaderLookup, Headers};
use crate::store::{Admission, ClaimGuard, Deduplicator};
use crate::verify::Verifier;

#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub mod actix;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;

/// The `Retry-After` sent with a 503 when the idempotency store cannot answer, unless
/// configured.
pub const DEFAULT_UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(5);

/// A verified, parsed webhook event, as a handler's argument: the extractor of [`axum`] and
/// [`actix`].
///
/// It reads the raw body under the [`Verifier`]'s limit, verifies it and parses it into
/// `Event<T>`; behind the deduplicating middleware it takes the event the middleware already
/// verified, so the body is verified once per request. It derefs to [`Event<T>`].
#[derive(Debug, Clone)]
pub struct VerifiedEvent<T = crate::AmpsEvent>(pub Event<T>);

impl<T> VerifiedEvent<T> {
    /// The event.
    #[must_use]
    pub fn into_inner(self) -> Event<T> {
        self.0
    }
}

impl<T> std::ops::Deref for VerifiedEvent<T> {
    type Target = Event<T>;

    fn deref(&self) -> &Event<T> {
        &self.0
    }
}

/// Why the extractor or the middleware refused a request, before any handler ran.
///
/// [`status`](Self::status) is the one mapping of both frameworks: 413 for a body over the
/// limit, 401 for a signature or timestamp that does not check out, 400 for anything malformed,
/// 500 when the application forgot to configure a [`Verifier`]. As a response it carries a
/// short JSON body, `{"error": "<code>", "reason": "<what to check>"}`.
#[derive(Debug)]
#[non_exhaustive]
pub enum WebhookRejection {
    /// The verifier refused the request (headers, timestamp, signature, or a body over the
    /// limit).
    Verify(VerifyError),
    /// The body is verified but is not a valid event of the type asked for.
    Parse(ParseError),
    /// The body could not be read (the client went away, or sent a broken chunked body).
    BodyRead(BoxError),
    /// No [`Verifier`] is configured for the route (actix: neither `Verifier` nor
    /// `Data<Verifier>` in `app_data`).
    MissingVerifier,
}

impl WebhookRejection {
    /// The HTTP status to answer with: 413, 401, 400, or 500 for [`MissingVerifier`](Self::MissingVerifier).
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            Self::Verify(error) => error.http_status(),
            Self::Parse(_) | Self::BodyRead(_) => 400,
            Self::MissingVerifier => 500,
        }
    }

    /// A short, stable code for the `error` field of the response body, such as
    /// `invalid_signature` or `body_too_large`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Verify(error) => error.code(),
            Self::Parse(_) => "invalid_event",
            Self::BodyRead(_) => "body_unreadable",
            Self::MissingVerifier => "not_configured",
        }
    }

    /// The verifier's error, when the verifier refused the request.
    #[must_use]
    pub fn verify_error(&self) -> Option<&VerifyError> {
        match self {
            Self::Verify(error) => Some(error),
            _ => None,
        }
    }

    /// The parser's error, when the body is verified but not a valid event.
    #[must_use]
    pub fn parse_error(&self) -> Option<&ParseError> {
        match self {
            Self::Parse(error) => Some(error),
            _ => None,
        }
    }

    /// The JSON body of the response.
    pub(crate) fn json_body(&self) -> Vec<u8> {
        error_body(self.code(), &self.to_string())
    }

    /// A description safe to log: a parse error says where the JSON went wrong, not what it
    /// held (serde_json's messages quote the body).
    fn log_reason(&self) -> String {
        match self {
            Self::Parse(ParseError::InvalidJson(e)) => format!(
                "the body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
            Self::Parse(ParseError::InvalidEvent(e)) => format!(
                "the body is JSON but not a valid event (line {}, column {})",
                e.line(),
                e.column()
            ),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for WebhookRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Verify(error) => error.fmt(f),
            Self::Parse(error) => error.fmt(f),
            Self::BodyRead(error) => write!(f, "the request body could not be read: {error}"),
            Self::MissingVerifier => f.write_str(
                "no Verifier is configured for this route: add it to the app's state (axum) or app_data (actix)",
            ),
        }
    }
}

impl std::error::Error for WebhookRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Verify(error) => Some(error),
            Self::Parse(error) => Some(error),
            Self::BodyRead(error) => Some(&**error),
            Self::MissingVerifier => None,
        }
    }
}

impl From<VerifyError> for WebhookRejection {
    fn from(error: VerifyError) -> Self {
        Self::Verify(error)
    }
}

impl From<ParseError> for WebhookRejection {
    fn from(error: ParseError) -> Self {
        Self::Parse(error)
    }
}

/// What became of one delivery at the deduplicating middleware.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// The handler ran and answered 2xx; the event is recorded as completed.
    Processed,
    /// The handler ran and answered something else; the claim was released for the retry.
    Failed,
    /// A duplicate of a completed event: 200 without running the handler.
    Duplicate,
    /// Another request holds the event: 409 with `Retry-After`.
    InFlight,
    /// The idempotency store could not answer: 503 with `Retry-After`.
    Unavailable,
    /// Refused before any handler ran (401, 400, 413).
    Rejected,
}

impl Outcome {
    /// The outcome's name: `processed`, `failed`, `duplicate`, `in_flight`, `unavailable` or
    /// `rejected`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processed => "processed",
            Self::Failed => "failed",
            Self::Duplicate => "duplicate",
            Self::InFlight => "in_flight",
            Self::Unavailable => "unavailable",
            Self::Rejected => "rejected",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The record of one delivery, put in the response's extensions by the deduplicating middleware
/// (and by a rejection turned into a response), for access logs and tools: read it in an outer
/// middleware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    // Shared with the event they come from: recording a delivery copies no string.
    id: Option<Arc<str>>,
    event_type: Option<Arc<str>>,
    key: Option<Arc<str>>,
    outcome: Outcome,
    status: u16,
    reason: Option<String>,
}

impl Delivery {
    /// The `webhook-id` (or `svix-id`) header, when it is present and well formed.
    #[must_use]
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The body's `type` or `event` field, when the body was parsed and has one.
    #[must_use]
    pub fn event_type(&self) -> Option<&str> {
        self.event_type.as_deref()
    }

    /// The idempotency key (the body's `eventId`, else the `webhook-id`), once the body was
    /// parsed.
    #[must_use]
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// What became of the delivery.
    #[must_use]
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// The status answered.
    #[must_use]
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Why it was rejected or not processed, when it was not.
    #[must_use]
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    pub(crate) fn rejected<H: Headers + ?Sized>(headers: &H, rejection: &WebhookRejection) -> Self {
        Self {
            id: header_id(headers).map(Arc::from),
            event_type: None,
            key: None,
            outcome: Outcome::Rejected,
            status: rejection.status(),
            reason: Some(rejection.to_string()),
        }
    }

    pub(crate) fn of_event<T>(event: &Event<T>, outcome: Outcome, status: u16) -> Self {
        Self {
            id: Some(Arc::clone(event.id().shared())),
            event_type: event.shared_event_type().cloned(),
            key: Some(Arc::clone(event.shared_idempotency_key())),
            outcome,
            status,
            reason: None,
        }
    }

    fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
}

/// The request's id header, when it would pass the verifier's id check.
fn header_id<H: Headers + ?Sized>(headers: &H) -> Option<String> {
    match headers::lookup_either(headers, headers::ID) {
        HeaderLookup::One(value) => crate::signature::valid_id(value).map(str::to_owned),
        _ => None,
    }
}

/// `{"error": code, "reason": reason}`.
pub(crate) fn error_body(code: &str, reason: &str) -> Vec<u8> {
    serde_json::json!({ "error": code, "reason": reason })
        .to_string()
        .into_bytes()
}

/// Logs a rejection: its status, code, the request's id when it has one, and a reason that
/// quotes neither the body nor a secret.
pub(crate) fn log_rejection<H: Headers + ?Sized>(headers: &H, rejection: &WebhookRejection) {
    let id = header_id(headers);
    let reason = rejection.log_reason();
    if rejection.status() >= 500 {
        tracing::error!(status = rejection.status(), code = rejection.code(), id = id.as_deref().unwrap_or("-"), reason = %reason, "webhook request not handled");
    } else {
        tracing::warn!(status = rejection.status(), code = rejection.code(), id = id.as_deref().unwrap_or("-"), reason = %reason, "webhook request rejected");
    }
}

/// A request body gathered under a byte limit, frame by frame.
///
/// Most bodies arrive in one frame, which is kept without a copy; later frames are joined.
#[derive(Default)]
pub(crate) struct BodyBuffer {
    first: Option<bytes::Bytes>,
    joined: Option<bytes::BytesMut>,
    received: usize,
}

impl BodyBuffer {
    /// Adds a frame, refusing the body as soon as it is over `limit` bytes.
    pub(crate) fn push(
        &mut self,
        data: bytes::Bytes,
        limit: usize,
    ) -> Result<(), WebhookRejection> {
        self.received = self.received.saturating_add(data.len());
        if self.received > limit {
            return Err(VerifyError::BodyTooLarge {
                limit,
                len: self.received,
            }
            .into());
        }
        match (&mut self.first, &mut self.joined) {
            (None, None) => self.first = Some(data),
            (Some(head), None) => {
                let mut buffer = bytes::BytesMut::with_capacity(head.len() + data.len());
                buffer.extend_from_slice(head);
                buffer.extend_from_slice(&data);
                self.first = None;
                self.joined = Some(buffer);
            }
            (_, Some(buffer)) => buffer.extend_from_slice(&data),
        }
        Ok(())
    }

    /// The whole body.
    pub(crate) fn finish(self) -> bytes::Bytes {
        match (self.first, self.joined) {
            (_, Some(buffer)) => buffer.freeze(),
            (Some(head), None) => head,
            (None, None) => bytes::Bytes::new(),
        }
    }
}

/// The declared `Content-Length` when it is over `limit`: the request is refused before its
/// body is read.
pub(crate) fn declared_too_large<H: Headers + ?Sized>(
    headers: &H,
    limit: usize,
) -> Result<(), VerifyError> {
    if let HeaderLookup::One(value) = headers.lookup("content-length")
        && let Some(len) = std::str::from_utf8(value)
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
        && len > u64::try_from(limit).unwrap_or(u64::MAX)
    {
        return Err(VerifyError::BodyTooLarge {
            limit,
            len: usize::try_from(len).unwrap_or(usize::MAX),
        });
    }
    Ok(())
}

/// Verifies and parses a body read in full; the event keeps `body` itself, not a copy.
pub(crate) fn check<T: DeserializeOwned, H: Headers + ?Sized>(
    verifier: &Verifier,
    headers: &H,
    body: &bytes::Bytes,
) -> Result<Event<T>, WebhookRejection> {
    let verified = verifier.verify(headers, body)?;
    Ok(Event::from_verified_shared(
        verified.id(),
        verified.timestamp(),
        body,
    )?)
}

/// An event verified by the middleware, handed to the extractor through the request's
/// extensions, which the extractor removes it from (taken once).
///
/// The mutex makes it `Sync` for `Send` payloads without asking `T: Sync`; it is never locked.
/// A clone is empty: a copy of the request's extensions does not carry the event, so an
/// extractor given such a copy reads and verifies the body itself.
pub(crate) struct Prechecked<T>(Mutex<Option<Event<T>>>);

impl<T> Prechecked<T> {
    pub(crate) fn new(event: Event<T>) -> Self {
        Self(Mutex::new(Some(event)))
    }

    /// The event; `None` for a clone.
    pub(crate) fn into_event(self) -> Option<Event<T>> {
        self.0.into_inner().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T> Clone for Prechecked<T> {
    fn clone(&self) -> Self {
        Self(Mutex::new(None))
    }
}

/// The settings of a deduplicating middleware, shared by its clones.
#[derive(Debug)]
pub(crate) struct Gate {
    pub(crate) verifier: Verifier,
    pub(crate) dedup: Deduplicator,
    pub(crate) unavailable_retry_after: Duration,
}

/// An answer given without running the handler.
#[derive(Debug)]
pub(crate) struct Early {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<u64>,
    pub(crate) body: Vec<u8>,
    pub(crate) delivery: Delivery,
}

impl Early {
    pub(crate) fn rejected<H: Headers + ?Sized>(headers: &H, rejection: &WebhookRejection) -> Self {
        log_rejection(headers, rejection);
        Self {
            status: rejection.status(),
            retry_after: None,
            body: rejection.json_body(),
            delivery: Delivery::rejected(headers, rejection),
        }
    }
}

/// Whole seconds for a `Retry-After`, rounded up, at least 1.
fn retry_after_secs(after: Duration) -> u64 {
    let secs = after
        .as_secs()
        .saturating_add(u64::from(after.subsec_nanos() > 0));
    secs.max(1)
}

impl Gate {
    /// The settings of a new layer or middleware, with the default `Retry-After` for a 503.
    pub(crate) fn shared(verifier: Verifier, dedup: Deduplicator) -> Arc<Self> {
        Arc::new(Self {
            verifier,
            dedup,
            unavailable_retry_after: DEFAULT_UNAVAILABLE_RETRY_AFTER,
        })
    }

    /// These settings with `after` as the `Retry-After` for a 503.
    pub(crate) fn with_unavailable_retry_after(&self, after: Duration) -> Arc<Self> {
        Arc::new(Self {
            verifier: self.verifier.clone(),
            dedup: self.dedup.clone(),
            unavailable_retry_after: after,
        })
    }

    /// Verifies and parses a body read in full: the event, to be put in the request's extensions
    /// before the claim is awaited (so that the future awaiting it does not carry the event),
    /// and the record of its delivery; or the answer to give instead.
    // The answer is built where the request is refused; returned at once, never stored.
    #[allow(clippy::result_large_err)]
    pub(crate) fn prepare<T: DeserializeOwned, H: Headers + ?Sized>(
        &self,
        headers: &H,
        body: &bytes::Bytes,
    ) -> Result<(Prechecked<T>, Delivery), Early> {
        match check::<T, _>(&self.verifier, headers, body) {
            Ok(event) => {
                let delivery = Delivery::of_event(&event, Outcome::Processed, 200);
                Ok((Prechecked::new(event), delivery))
            }
            Err(rejection) => Err(Early::rejected(headers, &rejection)),
        }
    }

    /// Claims the event described by `base` (from [`Delivery::of_event`]): the guard to run the
    /// handler under, or the answer to give instead.
    pub(crate) async fn claim(&self, base: &Delivery) -> Result<ClaimGuard, Early> {
        let key = base.key.as_deref().unwrap_or_default();
        let answer = |outcome, status| {
            let mut delivery = base.clone();
            delivery.outcome = outcome;
            delivery.status = status;
            delivery
        };
        match self.dedup.claim(key).await {
            Admission::Acquired(guard) => Ok(guard),
            Admission::Duplicate => Err(Early {
                status: 200,
                retry_after: None,
                body: br#"{"status":"duplicate"}"#.to_vec(),
                delivery: answer(Outcome::Duplicate, 200)
                    .with_reason("already processed; handler not run"),
            }),
            Admission::InFlight { retry_after } => {
                let reason = "the event is being processed by another request; retry later";
                Err(Early {
                    status: 409,
                    retry_after: Some(retry_after_secs(retry_after)),
                    body: error_body("in_flight", reason),
                    delivery: answer(Outcome::InFlight, 409).with_reason(reason),
                })
            }
            Admission::StoreUnavailable(error) => {
                // The store's error (an address, a timeout) goes to the log, not to the sender.
                let reason = "the idempotency store is unavailable; retry later";
                Err(Early {
                    status: 503,
                    retry_after: Some(retry_after_secs(self.unavailable_retry_after)),
                    body: error_body("store_unavailable", reason),
                    delivery: answer(Outcome::Unavailable, 503)
                        .with_reason(format!("{reason}: {error}")),
                })
            }
        }
    }
}

/// Completes the claim when the handler answered 2xx, releases it otherwise; `delivery`
/// becomes the record of what happened.
///
/// Only the claim is awaited (the delivery is updated after), so that the request's future
/// holds one copy of the delivery.
pub(crate) async fn settle(guard: ClaimGuard, delivery: &mut Delivery, status: u16) {
    delivery.status = status;
    if (200..300).contains(&status) {
        // A failed completion is logged by the guard; the handler's success is still the
        // answer, so that the sender stops.
        let _ = guard.complete().await;
        delivery.outcome = Outcome::Processed;
    } else {
        let _ = guard.release().await;
        tracing::warn!(
            status,
            id = delivery.id.as_deref().unwrap_or("-"),
            key = delivery.key.as_deref().unwrap_or("-"),
            "webhook handler failed; claim released so that the retry runs it"
        );
        delivery.outcome = Outcome::Failed;
        delivery.reason = Some(format!("the handler answered {status}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rejection of a correctly signed `body` that is not a `T`.
    fn parse_rejection<T: DeserializeOwned + fmt::Debug>(body: &[u8]) -> WebhookRejection {
        let secret: crate::Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse().unwrap();
        let verifier = Verifier::builder()
            .secret(secret.clone())
            .clock(crate::MockClock::at_unix(1_700_000_000))
            .build()
            .unwrap();
        let signed = crate::Signer::new(secret)
            .sign("msg_1", 1_700_000_000, body)
            .unwrap();
        check::<T, _>(
            &verifier,
            &signed.webhook_headers(),
            &bytes::Bytes::copy_from_slice(body),
        )
        .unwrap_err()
    }

    #[test]
    fn a_prechecked_event_is_handed_over_and_a_clone_is_empty() {
        let body = bytes::Bytes::from_static(br#"{"eventId":"evt_1","type":"x.y"}"#);
        let event = Event::<serde_json::Value>::from_verified_shared(
            "msg_1",
            crate::Timestamp::from_unix(1_700_000_000),
            &body,
        )
        .unwrap();
        let prechecked = Prechecked::new(event);
        assert!(prechecked.clone().into_event().is_none());
        // Taken once: the extractor removes it from the request's extensions.
        #[cfg(feature = "axum")]
        let prechecked = {
            let mut extensions = http::Extensions::new();
            extensions.insert(prechecked);
            let taken = extensions.remove::<Prechecked<serde_json::Value>>();
            assert!(
                extensions
                    .remove::<Prechecked<serde_json::Value>>()
                    .is_none()
            );
            taken.unwrap()
        };
        assert_eq!(
            prechecked
                .into_event()
                .map(|e| e.idempotency_key().to_owned()),
            Some("evt_1".to_owned())
        );
    }

    fn all_rejections() -> Vec<(WebhookRejection, u16, &'static str)> {
        vec![
            (
                VerifyError::BodyTooLarge { limit: 1, len: 2 }.into(),
                413,
                "body_too_large",
            ),
            (
                VerifyError::MissingHeader { name: "webhook-id" }.into(),
                400,
                "missing_header",
            ),
            (
                VerifyError::RepeatedHeader { name: "webhook-id" }.into(),
                400,
                "invalid_header",
            ),
            (VerifyError::InvalidId.into(), 400, "invalid_header"),
            (VerifyError::InvalidTimestamp.into(), 400, "invalid_header"),
            (
                VerifyError::SignatureHeaderTooLong { limit: 1 }.into(),
                400,
                "invalid_header",
            ),
            (
                VerifyError::TimestampTooOld {
                    age: 400,
                    tolerance: 300,
                }
                .into(),
                401,
                "timestamp_out_of_tolerance",
            ),
            (
                VerifyError::TimestampTooNew {
                    ahead: 400,
                    tolerance: 300,
                }
                .into(),
                401,
                "timestamp_out_of_tolerance",
            ),
            (
                VerifyError::NoMatchingSignature { candidates: 1 }.into(),
                401,
                "invalid_signature",
            ),
            (
                parse_rejection::<serde_json::Value>(b"{x"),
                400,
                "invalid_event",
            ),
            (
                WebhookRejection::BodyRead("reset".into()),
                400,
                "body_unreadable",
            ),
            (WebhookRejection::MissingVerifier, 500, "not_configured"),
        ]
    }

    #[test]
    fn status_and_code_table() {
        for (rejection, status, code) in all_rejections() {
            assert_eq!(rejection.status(), status, "{rejection:?}");
            assert_eq!(rejection.code(), code, "{rejection:?}");
            let body: serde_json::Value = serde_json::from_slice(&rejection.json_body()).unwrap();
            assert_eq!(body["error"], code);
            assert_eq!(body["reason"], rejection.to_string());
        }
    }

    #[test]
    fn log_reason_does_not_quote_the_body() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Typed {
            n: u64,
        }
        let rejection = parse_rejection::<Typed>(br#"{"n":"secret-looking-value"}"#);
        assert!(matches!(
            rejection.parse_error(),
            Some(ParseError::InvalidEvent(_))
        ));
        assert!(rejection.to_string().contains("secret-looking-value"));
        assert!(!rejection.log_reason().contains("secret-looking-value"));
        assert_eq!(
            rejection.log_reason(),
            "the body is JSON but not a valid event (line 1, column 27)"
        );
    }

    #[test]
    fn declared_length_over_the_limit() {
        assert_eq!(
            declared_too_large(&[("Content-Length", "11")], 10),
            Err(VerifyError::BodyTooLarge { limit: 10, len: 11 })
        );
        assert_eq!(declared_too_large(&[("content-length", "10")], 10), Ok(()));
        assert_eq!(declared_too_large(&[("content-length", "x")], 10), Ok(()));
        assert_eq!(declared_too_large(&[("a", "1")], 10), Ok(()));
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1_001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(60)), 60);
        assert_eq!(retry_after_secs(Duration::MAX), u64::MAX);
    }
}
