//! Typed events: what a [`Verified`](crate::Verified) body becomes once parsed, and the
//! newtypes for the request's id and timestamp.

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
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::{DeserializeOwned, IgnoredAny, MapAccess, Visitor};

use crate::error::ParseError;

/// The `webhook-id` of a request: the message id, stable across retries of one delivery.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WebhookId(String);

impl WebhookId {
    /// Only the verifier makes ids, from a header it has checked.
    pub(crate) fn new_unchecked(id: &str) -> Self {
        Self(id.to_owned())
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
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
pub struct Timestamp(u64);

impl Timestamp {
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

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A verified, parsed webhook event.
///
/// `T` is the payload type: [`AmpsEvent`](crate::AmpsEvent) for the Amps platform, or any
/// `serde::de::DeserializeOwned` type for another Standard Webhooks sender (it is given the
/// whole body).
#[derive(Debug, Clone)]
pub struct Event<T> {
    id: WebhookId,
    timestamp: Timestamp,
    event_type: Option<String>,
    event_id: Option<String>,
    payload: T,
    raw: Vec<u8>,
}

impl<T: DeserializeOwned> Event<T> {
    pub(crate) fn from_verified(
        id: WebhookId,
        timestamp: Timestamp,
        body: &[u8],
    ) -> Result<Self, ParseError> {
        let payload: T =
            serde_json::from_slice(body).map_err(|error| ParseError::from_json(error, body))?;
        // The body is valid JSON by now; a body that is not an object has no envelope.
        let envelope: Envelope = serde_json::from_slice(body).unwrap_or_default();
        Ok(Self {
            id,
            timestamp,
            event_type: envelope.event_type,
            event_id: envelope.event_id,
            payload,
            raw: body.to_vec(),
        })
    }
}

impl<T> Event<T> {
    /// The `webhook-id` header.
    #[must_use]
    pub fn id(&self) -> &WebhookId {
        &self.id
    }

    /// The `webhook-timestamp` header.
    #[must_use]
    pub fn timestamp(&self) -> Timestamp {
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
        self.event_id.as_deref().unwrap_or(self.id.as_str())
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
}

/// The envelope fields every shape may carry; everything else is skipped without allocating.
#[derive(Default)]
struct Envelope {
    event_type: Option<String>,
    event_id: Option<String>,
}

impl<'de> serde::Deserialize<'de> for Envelope {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EnvelopeVisitor)
    }
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = Envelope;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope, A::Error> {
        let mut declared_type = None;
        let mut event = None;
        let mut event_id = None;
        while let Some(key) = map.next_key::<EnvelopeKey>()? {
            // A repeated key: the last one wins, as in a parsed payload.
            match key {
                EnvelopeKey::Type => declared_type = text(map.next_value()?),
                EnvelopeKey::Event => event = text(map.next_value()?),
                EnvelopeKey::EventId => event_id = text(map.next_value()?),
                EnvelopeKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Envelope {
            // `type` is the Standard Webhooks name and wins over the Amps `event`.
            event_type: declared_type.or(event),
            // An empty id would make every such event a duplicate of the first: it is no id.
            event_id: event_id.filter(|id: &String| !id.is_empty()),
        })
    }
}

/// The envelope's field names, read without allocating.
enum EnvelopeKey {
    Type,
    Event,
    EventId,
    Other,
}

impl<'de> serde::Deserialize<'de> for EnvelopeKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(EnvelopeKeyVisitor)
    }
}

struct EnvelopeKeyVisitor;

impl Visitor<'_> for EnvelopeKeyVisitor {
    type Value = EnvelopeKey;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<EnvelopeKey, E> {
        Ok(match key {
            "type" => EnvelopeKey::Type,
            "event" => EnvelopeKey::Event,
            "eventId" => EnvelopeKey::EventId,
            _ => EnvelopeKey::Other,
        })
    }
}

/// The value when it is a string; a field of another type is not an envelope field.
fn text(value: serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(text) => Some(text),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<T: DeserializeOwned>(body: &str) -> Result<Event<T>, ParseError> {
        Event::from_verified(
            WebhookId::new_unchecked("msg_1"),
            Timestamp::from_unix(1),
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
            Timestamp::from_unix(1),
            body,
        )
        .unwrap_err();
        assert!(matches!(error, ParseError::InvalidJson(_)), "{error:?}");
    }

    #[test]
    fn errors_tell_syntax_from_shape() {
        assert!(matches!(
            parse::<serde_json::Value>("{not json"),
            Err(ParseError::InvalidJson(_))
        ));
        assert!(matches!(
            parse::<Vec<u8>>(r#"{"a":1}"#),
            Err(ParseError::InvalidEvent(_))
        ));
    }
}
