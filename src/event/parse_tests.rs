//! The envelope of a parsed body: the same for every payload type (the second pass), and the
//! side channel's rules; with the helpers that the tests of a payload type reporting its own
//! envelope (`AmpsEvent`, in its module) use.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::Arc;

use proptest::prelude::*;
use serde::de::{DeserializeOwned, IgnoredAny};

pub(crate) use super::envelope::Envelope;
use super::envelope::{arm, report};
use super::{Event, parse, parse_payload};
use crate::verify::{WebhookId, WebhookTimestamp};

pub(crate) fn envelope(event_type: Option<&str>, event_id: Option<&str>) -> Envelope {
    Envelope {
        event_type: event_type.map(Arc::from),
        event_id: event_id.map(Arc::from),
    }
}

/// The envelope `Event<T>` gets from `body`, or `None` when `body` is no `T`.
pub(crate) fn envelope_as<T: DeserializeOwned + 'static>(body: &str) -> Option<Envelope> {
    let event = Event::<T>::from_verified(
        WebhookId::new_unchecked("msg_1"),
        WebhookTimestamp::from_unix(1),
        body.as_bytes(),
    )
    .ok()?;
    Some(envelope(event.event_type(), event.event_id()))
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Typed {
    #[serde(rename = "type")]
    declared: Option<String>,
    event: Option<String>,
    event_id: Option<String>,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct DataOnly {
    data: Option<serde_json::Value>,
}

#[derive(serde::Deserialize)]
#[serde(tag = "type")]
enum Tagged {
    #[serde(rename = "a.b")]
    Ab {},
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Bytes {
    #[serde(rename = "eventId", deserialize_with = "bytes")]
    event_id: Vec<u8>,
}

fn bytes<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    struct Visitor;
    impl serde::de::Visitor<'_> for Visitor {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("bytes")
        }
        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
    }
    deserializer.deserialize_bytes(Visitor)
}

#[derive(serde::Deserialize)]
enum Kind {
    #[serde(rename = "a.b")]
    Ab,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct EnumTyped {
    #[serde(rename = "type")]
    kind: Kind,
}

/// Every payload type that parses `body` gets `expected` as its envelope, whichever way it
/// reads (or skips, or reads as bytes or an enum) the envelope's fields.
pub(crate) fn all_get(body: &str, expected: &Envelope) {
    fn check<T: DeserializeOwned + 'static>(body: &str, expected: &Envelope) {
        if let Some(seen) = envelope_as::<T>(body) {
            assert_eq!(&seen, expected, "{body} as {}", std::any::type_name::<T>());
        }
    }
    check::<serde_json::Value>(body, expected);
    check::<Box<serde_json::value::RawValue>>(body, expected);
    check::<Typed>(body, expected);
    check::<Option<Typed>>(body, expected);
    check::<HashMap<String, serde_json::Value>>(body, expected);
    check::<Tagged>(body, expected);
    check::<Vec<u8>>(body, expected);
    check::<IgnoredAny>(body, expected);
    check::<Bytes>(body, expected);
    check::<EnumTyped>(body, expected);
    check::<DataOnly>(body, expected);
    check::<HashMap<String, IgnoredAny>>(body, expected);
}

/// Bodies with the envelope each has: `(body, type, eventId)`.
pub(crate) const BODIES: &[(&str, Option<&str>, Option<&str>)] = &[
    (
        r#"{"event":"push.completed","eventId":"evt_1","data":{"type":"inner"}}"#,
        Some("push.completed"),
        Some("evt_1"),
    ),
    (
        r#"{"type":"a.b","event":"c","eventId":""}"#,
        Some("a.b"),
        None,
    ),
    (r#"{"type":5,"event":"c","eventId":["x"]}"#, Some("c"), None),
    (
        r#"{"type":5,"event":"c","eventId":{"x":1}}"#,
        Some("c"),
        None,
    ),
    (r#"{"type":"a.b","type":null}"#, None, None),
    (
        r#"{"ev\u0065nt":"e\"scaped","eventId":"x"}"#,
        Some("e\"scaped"),
        Some("x"),
    ),
    (r#"{"data":{}}"#, None, None),
    (r#"{"data":{"type":"x"}}"#, None, None),
    ("[1,2]", None, None),
    ("null", None, None),
    ("12", None, None),
    (r#""text""#, None, None),
];

#[test]
fn every_payload_type_gets_the_same_envelope() {
    for &(body, event_type, event_id) in BODIES {
        all_get(body, &envelope(event_type, event_id));
        assert_eq!(
            Envelope::read_str(body),
            envelope(event_type, event_id),
            "{body}"
        );
    }
}

/// What `T` reported in its own pass (`None`: nothing) beside what the second pass reads, from
/// the body as a str or (`utf8` false) as bytes; `None` when the body is no `T`.
pub(crate) fn reported_and_read<T: DeserializeOwned + 'static>(
    body: &str,
    utf8: bool,
) -> Option<(Option<Envelope>, Envelope)> {
    let text = utf8.then_some(body);
    let (_, reported) = parse_payload::<T>(body.as_bytes(), text).ok()?;
    let read = match text {
        Some(text) => Envelope::read_str(text),
        None => Envelope::read_slice(body.as_bytes()),
    };
    Some((reported, read))
}

/// The envelope of `body` parsed as `T` through the crate's parse; panics when it is no `T`.
pub(crate) fn parse_envelope<T: DeserializeOwned + 'static>(body: &[u8]) -> Envelope {
    parse::<T>(body).unwrap().1
}

#[test]
fn a_raw_value_payload_gets_its_event_id() {
    let body = r#"{"type":"a.b","eventId":"evt_raw","data":{"x":[1,2]}}"#;
    let event = Event::<Box<serde_json::value::RawValue>>::from_verified(
        WebhookId::new_unchecked("msg_1"),
        WebhookTimestamp::from_unix(1),
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(event.payload().get(), body);
    assert_eq!(event.event_type(), Some("a.b"));
    assert_eq!(event.event_id(), Some("evt_raw"));
    assert_eq!(event.idempotency_key(), "evt_raw");
}

#[test]
fn only_the_armed_type_reports_and_the_slot_is_put_back() {
    let outer = arm(TypeId::of::<u8>());
    report(
        TypeId::of::<u8>(),
        Some("outer"),
        Some("ignored"),
        Some("1"),
    );
    let inner = arm(TypeId::of::<u16>());
    // Not the type the inner parse waits for.
    report(TypeId::of::<u8>(), Some("wrong"), None, Some("2"));
    assert_eq!(inner.take(), None);
    // The outer report survived the inner parse; a late report of another type is ignored.
    report(TypeId::of::<u16>(), Some("late"), None, None);
    assert_eq!(outer.take(), Some(envelope(Some("outer"), Some("1"))));
    // Closed: a report with no parse waiting is dropped.
    report(TypeId::of::<u8>(), Some("closed"), None, None);
    assert_eq!(arm(TypeId::of::<u8>()).take(), None);
    // A parse that ends early (its guard dropped) puts the slot back too.
    let outer = arm(TypeId::of::<u8>());
    drop(arm(TypeId::of::<u16>()));
    report(TypeId::of::<u8>(), None, Some("event"), Some(""));
    assert_eq!(outer.take(), Some(envelope(Some("event"), None)));
}

#[test]
fn a_generic_payload_reports_nothing() {
    let body = r#"{"type":"a.b","eventId":"evt_1"}"#;
    for utf8 in [true, false] {
        let (reported, read) = reported_and_read::<serde_json::Value>(body, utf8).unwrap();
        assert_eq!(reported, None);
        assert_eq!(read, envelope(Some("a.b"), Some("evt_1")));
    }
    assert_eq!(
        parse_envelope::<serde_json::Value>(body.as_bytes()),
        envelope(Some("a.b"), Some("evt_1"))
    );
}

pub(crate) const KEYS: &[&str] = &["type", "event", "eventId", "data", "other", "ev\\u0065nt"];
pub(crate) const VALUES: &[&str] = &[
    r#""push.completed""#,
    r#""a.b""#,
    r#""""#,
    r#""e\"sc""#,
    "5",
    "null",
    "true",
    r#"{"type":"x","eventId":"y"}"#,
    r#"["a",{"event":"b"}]"#,
    r#"{"actionId":"a","deviceId":"d","completedAt":"2026-05-08T22:00:05Z"}"#,
];

proptest! {
    #[test]
    fn every_payload_type_agrees_on_any_object(
        entries in proptest::collection::vec((0..KEYS.len(), 0..VALUES.len()), 0..8)
    ) {
        let fields: Vec<String> = entries
            .iter()
            .map(|&(k, v)| format!("\"{}\":{}", KEYS[k], VALUES[v]))
            .collect();
        let body = format!("{{{}}}", fields.join(","));
        all_get(&body, &Envelope::read_str(&body));
    }
}
