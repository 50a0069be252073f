//! Typed events: what a [`Verified`] body becomes once parsed ([`Verified::parse`] into an
//! [`Event`]), and the envelope fields read beside the payload.

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

use serde::de::DeserializeOwned;

use crate::error::ParseError;
use crate::verify::{Verified, WebhookId, WebhookTimestamp};

mod envelope;

use envelope::{Envelope, Seen, Top};

/// A verified, parsed webhook event.
///
/// `T` is the payload type: [`AmpsEvent`](crate::AmpsEvent) for the Amps platform, or any
/// `serde::de::DeserializeOwned` type for another Standard Webhooks sender (it is given the
/// whole body).
#[derive(Debug, Clone)]
pub struct Event<T> {
    id: WebhookId,
    timestamp: WebhookTimestamp,
    event_type: Option<Arc<str>>,
    event_id: Option<Arc<str>>,
    payload: T,
    raw: RawBody,
}

/// The body as received: a copy, or (from the web framework integrations) the request's own
/// buffer, shared.
#[derive(Clone)]
enum RawBody {
    Owned(Box<[u8]>),
    #[cfg(any(feature = "axum", feature = "actix"))]
    Shared(bytes::Bytes),
}

impl std::ops::Deref for RawBody {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Self::Owned(bytes) => bytes,
            #[cfg(any(feature = "axum", feature = "actix"))]
            Self::Shared(bytes) => bytes,
        }
    }
}

impl fmt::Debug for RawBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        <[u8] as fmt::Debug>::fmt(self, f)
    }
}

impl<T: DeserializeOwned> Event<T> {
    pub(crate) fn from_verified(
        id: WebhookId,
        timestamp: WebhookTimestamp,
        body: &[u8],
    ) -> Result<Self, ParseError> {
        let (payload, envelope) = parse(body)?;
        Ok(Self::new(
            id,
            timestamp,
            payload,
            envelope,
            RawBody::Owned(body.into()),
        ))
    }

    /// [`from_verified`](Self::from_verified) keeping the request's buffer instead of a copy.
    #[cfg(any(feature = "axum", feature = "actix"))]
    pub(crate) fn from_verified_shared(
        id: &str,
        timestamp: WebhookTimestamp,
        body: &bytes::Bytes,
    ) -> Result<Self, ParseError> {
        let (payload, envelope) = parse(body)?;
        Ok(Self::new(
            WebhookId::new_unchecked(id),
            timestamp,
            payload,
            envelope,
            RawBody::Shared(body.clone()),
        ))
    }

    fn new(
        id: WebhookId,
        timestamp: WebhookTimestamp,
        payload: T,
        envelope: Envelope,
        raw: RawBody,
    ) -> Self {
        Self {
            id,
            timestamp,
            event_type: envelope.event_type,
            event_id: envelope.event_id,
            payload,
            raw,
        }
    }
}

/// Parses the body as `T` and reads its envelope fields, in one pass when it can.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<(T, Envelope), ParseError> {
    let mut seen = Seen::default();
    // UTF-8 is checked once for the whole body, so that serde_json does not check each string
    // again; a body that is not UTF-8 goes to serde_json as bytes, for its error and position.
    let payload = match std::str::from_utf8(body) {
        Ok(text) => parse_from(serde_json::Deserializer::from_str(text), &mut seen),
        Err(_) => parse_from(serde_json::Deserializer::from_slice(body), &mut seen),
    }
    .map_err(|error| ParseError::from_json(error, body))?;
    // The body is valid JSON by now; when the payload's parse did not show the envelope for
    // sure, it is read on its own.
    let envelope = seen.envelope().unwrap_or_else(|| Envelope::read(body));
    Ok((payload, envelope))
}

/// Parses a `T` from the whole of `deserializer`'s input, telling `seen` the envelope fields.
fn parse_from<'de, R: serde_json::de::Read<'de>, T: DeserializeOwned>(
    mut deserializer: serde_json::Deserializer<R>,
    seen: &mut Seen,
) -> Result<T, serde_json::Error> {
    let payload = T::deserialize(Top {
        inner: &mut deserializer,
        seen,
    })?;
    deserializer.end()?;
    Ok(payload)
}

impl<T> Event<T> {
    /// The `webhook-id` header.
    #[must_use]
    pub fn id(&self) -> &WebhookId {
        &self.id
    }

    /// The `webhook-timestamp` header.
    #[must_use]
    pub fn timestamp(&self) -> WebhookTimestamp {
        self.timestamp
    }

    /// The body's `type` (Standard Webhooks) or `event` (Amps envelope) field, when it has one.
    #[must_use]
    pub fn event_type(&self) -> Option<&str> {
        self.event_type.as_deref()
    }

    /// The body's `eventId` field, when it has one.
    #[must_use]
    pub fn event_id(&self) -> Option<&str> {
        self.event_id.as_deref()
    }

    /// The key that identifies this event for idempotency: the body's `eventId` when present
    /// (the platform may emit one event under two message ids), else the `webhook-id`
    /// (stable across retries).
    #[must_use]
    pub fn idempotency_key(&self) -> &str {
        self.shared_idempotency_key()
    }

    /// The parsed payload.
    #[must_use]
    pub fn payload(&self) -> &T {
        &self.payload
    }

    /// The parsed payload, by value.
    #[must_use]
    pub fn into_payload(self) -> T {
        self.payload
    }

    /// The body exactly as received and verified.
    #[must_use]
    pub fn raw_body(&self) -> &[u8] {
        &self.raw
    }

    /// The event type, shared (no copy).
    #[cfg(any(feature = "axum", feature = "actix"))]
    pub(crate) fn shared_event_type(&self) -> Option<&Arc<str>> {
        self.event_type.as_ref()
    }

    /// The idempotency key, shared (no copy).
    pub(crate) fn shared_idempotency_key(&self) -> &Arc<str> {
        self.event_id.as_ref().unwrap_or(self.id.shared())
    }
}

impl Verified<'_> {
    /// Parses the body as JSON into `T` and reads the envelope fields (`type` or `event`,
    /// `eventId`) when the body has them.
    ///
    /// # Errors
    /// [`ParseError::InvalidJson`] when the body is not JSON, [`ParseError::InvalidEvent`]
    /// when it is JSON of another shape than `T`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<Event<T>, ParseError> {
        Event::from_verified(
            WebhookId::new_unchecked(self.id()),
            self.timestamp(),
            self.body(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<T: DeserializeOwned>(body: &str) -> Result<Event<T>, ParseError> {
        Event::from_verified(
            WebhookId::new_unchecked("msg_1"),
            WebhookTimestamp::from_unix(1),
            body.as_bytes(),
        )
    }

    #[test]
    fn envelope_fields_and_key() {
        let event: Event<serde_json::Value> =
            parse(r#"{"event":"push.completed","eventId":"evt_1","data":{}}"#).unwrap();
        assert_eq!(event.event_type(), Some("push.completed"));
        assert_eq!(event.idempotency_key(), "evt_1");
        let event: Event<serde_json::Value> = parse(r#"{"type":"a.b","data":{"type":1}}"#).unwrap();
        assert_eq!(event.event_type(), Some("a.b"));
        assert_eq!(event.idempotency_key(), "msg_1");
        let event: Event<serde_json::Value> = parse(r#"{"type":"a.b","eventId":""}"#).unwrap();
        assert_eq!((event.event_id(), event.idempotency_key()), (None, "msg_1"));
        let event: Event<serde_json::Value> = parse("[1,2]").unwrap();
        assert_eq!(event.event_type(), None);
    }

    #[cfg(feature = "amps")]
    #[test]
    fn a_shape_error_before_bytes_that_are_not_utf8_is_still_invalid_json() {
        // Found by the `event` fuzz target: the payload's typed parse fails on `timestamp`
        // before it reaches the invalid UTF-8 further on.
        let body = b"{\"type\":\"device.reconnected\",\"data\":{\"deviceId\":\"d\",\"timestamp\":\"not a time\",\"x\":\"\xff\"}}";
        let error = Event::<crate::AmpsEvent>::from_verified(
            WebhookId::new_unchecked("msg_1"),
            WebhookTimestamp::from_unix(1),
            body,
        )
        .unwrap_err();
        assert!(matches!(error, ParseError::InvalidJson { .. }), "{error:?}");
    }

    #[test]
    fn errors_tell_syntax_from_shape() {
        assert!(matches!(
            parse::<serde_json::Value>("{not json"),
            Err(ParseError::InvalidJson { .. })
        ));
        assert!(matches!(
            parse::<Vec<u8>>(r#"{"a":1}"#),
            Err(ParseError::InvalidEvent { .. })
        ));
    }
}
