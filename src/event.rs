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

use envelope::Envelope;

/// A verified, parsed webhook event.
///
/// `T` is the payload type: `AmpsEvent` (feature `amps`) for the Amps platform, or any
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

impl<T: DeserializeOwned + 'static> Event<T> {
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

/// How a payload type that reads the envelope fields itself hands them over (`AmpsEvent`).
#[cfg_attr(not(feature = "amps"), allow(unused_imports))]
pub(crate) use envelope::report as report_envelope;

#[cfg(test)]
pub(crate) mod parse_tests;

/// Parses the body as `T`, then reads its envelope fields: from `T` itself when it reports
/// them (see [`envelope`]), else in a second pass that skips everything else.
fn parse<T: DeserializeOwned + 'static>(body: &[u8]) -> Result<(T, Envelope), ParseError> {
    // UTF-8 is checked once for the whole body, so that serde_json does not check each string
    // again; a body that is not UTF-8 goes to serde_json as bytes, for its error and position.
    let text = std::str::from_utf8(body).ok();
    let (payload, reported) = parse_payload(body, text)?;
    let envelope = reported.unwrap_or_else(|| match text {
        Some(text) => Envelope::read_str(text),
        None => Envelope::read_slice(body),
    });
    Ok((payload, envelope))
}

/// Parses the whole body as `T` (from `text`, the body itself, when it is UTF-8), with the
/// envelope `T` reported while it was parsed, if it did.
fn parse_payload<T: DeserializeOwned + 'static>(
    body: &[u8],
    text: Option<&str>,
) -> Result<(T, Option<Envelope>), ParseError> {
    let armed = envelope::arm(std::any::TypeId::of::<T>());
    let payload = match text {
        Some(text) => serde_json::from_str(text),
        None => serde_json::from_slice(body),
    }
    .map_err(|error| ParseError::from_json(error, body))?;
    Ok((payload, armed.take()))
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
    pub fn parse<T: DeserializeOwned + 'static>(&self) -> Result<Event<T>, ParseError> {
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

    fn parse<T: DeserializeOwned + 'static>(body: &str) -> Result<Event<T>, ParseError> {
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
