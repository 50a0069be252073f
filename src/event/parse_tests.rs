//! The envelope of a parsed body: the same for every payload type (the second pass), the same
//! from `AmpsEvent`'s own single pass, never taken from an `AmpsEvent` nested inside another
//! payload, and kept apart for a parse inside a parse.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::Arc;

use proptest::prelude::*;
use serde::de::{DeserializeOwned, IgnoredAny};

use super::envelope::{arm, report};
use super::{Envelope, Event, Timestamp, WebhookId, parse, parse_payload};

fn envelope(event_type: Option<&str>, event_id: Option<&str>) -> Envelope {
    Envelope {
        event_type: event_type.map(Arc::from),
        event_id: event_id.map(Arc::from),
    }
}

/// The envelope `Event<T>` gets from `body`, or `None` when `body` is no `T`.
fn envelope_as<T: DeserializeOwned + 'static>(body: &str) -> Option<Envelope> {
    let event = Event::<T>::from_verified(
        WebhookId::new_unchecked("msg_1"),
        Timestamp::from_unix(1),
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
fn all_get(body: &str, expected: &Envelope) {
    fn check<T: DeserializeOwned + 'static>(body: &str, expected: &Envelope) {
        if let Some(seen) = envelope_as::<T>(body) {
            assert_eq!(&seen, expected, "{body} as {}", std::any::type_name::<T>());
        }
    }
    check::<serde_json::Value>(body, expected);
    check::<Box<serde_json::value::RawValue>>(body, expected);
    #[cfg(feature = "amps")]
    check::<crate::AmpsEvent>(body, expected);
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

#[test]
fn every_payload_type_gets_the_same_envelope() {
    for (body, event_type, event_id) in [
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
    ] {
        all_get(body, &envelope(event_type, event_id));
        assert_eq!(
            Envelope::read_str(body),
            envelope(event_type, event_id),
            "{body}"
        );
    }
}

#[test]
fn a_raw_value_payload_gets_its_event_id() {
    let body = r#"{"type":"a.b","eventId":"evt_raw","data":{"x":[1,2]}}"#;
    let event = Event::<Box<serde_json::value::RawValue>>::from_verified(
        WebhookId::new_unchecked("msg_1"),
        Timestamp::from_unix(1),
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
    let (_, reported) = parse_payload::<serde_json::Value>(body.as_bytes(), Some(body)).unwrap();
    assert_eq!(reported, None);
    assert_eq!(
        parse::<serde_json::Value>(body.as_bytes()).unwrap().1,
        envelope(Some("a.b"), Some("evt_1"))
    );
}

#[cfg(feature = "amps")]
mod amps {
    use super::*;
    use crate::AmpsEvent;

    /// `AmpsEvent` reported its envelope in its own pass, and it is what the second pass reads.
    pub(super) fn single_pass_agrees(body: &str) {
        let Ok((_, reported)) = parse_payload::<AmpsEvent>(body.as_bytes(), Some(body)) else {
            return;
        };
        assert_eq!(reported, Some(Envelope::read_str(body)), "{body}");
        let (_, reported) = parse_payload::<AmpsEvent>(body.as_bytes(), None).unwrap();
        assert_eq!(
            reported,
            Some(Envelope::read_slice(body.as_bytes())),
            "{body}"
        );
    }

    #[test]
    fn the_single_pass_agrees_on_every_fixture() {
        let root = env!("CARGO_MANIFEST_DIR");
        let mut count = 0;
        for dir in ["tests/fixtures", "tests/data/amps"] {
            for entry in std::fs::read_dir(format!("{root}/{dir}")).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|ext| ext == "json") {
                    let body = std::fs::read_to_string(&path).unwrap();
                    let (_, reported) =
                        parse_payload::<AmpsEvent>(body.as_bytes(), Some(&body)).unwrap();
                    assert_eq!(reported, Some(Envelope::read_str(&body)), "{path:?}");
                    single_pass_agrees(&body);
                    count += 1;
                }
            }
        }
        assert_eq!(count, 18);
    }

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Wrapper {
        #[serde(rename = "type")]
        outer: Option<String>,
        inner: AmpsEvent,
        more: Vec<AmpsEvent>,
    }

    #[test]
    fn a_nested_amps_event_does_not_set_the_outer_envelope() {
        let inner = r#"{"type":"device.connected","eventId":"evt_inner","data":{"deviceId":"d"}}"#;
        let body = format!(r#"{{"inner":{inner},"more":[{inner}]}}"#);
        assert_eq!(envelope_as::<Wrapper>(&body), Some(envelope(None, None)));
        let body = format!(r#"{{"type":"outer","inner":{inner},"more":[{inner},{inner}]}}"#);
        assert_eq!(
            envelope_as::<Wrapper>(&body),
            Some(envelope(Some("outer"), None))
        );
        let (_, reported) = parse_payload::<Wrapper>(body.as_bytes(), Some(&body)).unwrap();
        assert_eq!(reported, None);
        assert_eq!(
            envelope_as::<Vec<AmpsEvent>>(&format!("[{inner}]")),
            Some(envelope(None, None))
        );
    }

    /// A payload whose own parse parses an `Event<AmpsEvent>` from one of its fields.
    #[derive(Debug)]
    struct Reentrant(Envelope);

    impl<'de> serde::Deserialize<'de> for Reentrant {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            #[derive(serde::Deserialize)]
            struct Fields {
                body: String,
            }
            let fields = Fields::deserialize(deserializer)?;
            let (_, inner) = parse::<AmpsEvent>(fields.body.as_bytes()).unwrap();
            Ok(Self(inner))
        }
    }

    #[test]
    fn a_parse_inside_a_parse_keeps_each_envelope() {
        let inner = r#"{"type":"device.connected","eventId":"evt_inner","data":{"deviceId":"d"}}"#;
        let body = serde_json::json!({"event": "outer", "eventId": "evt_outer", "body": inner})
            .to_string();
        let (payload, outer) = parse::<Reentrant>(body.as_bytes()).unwrap();
        assert_eq!(
            payload.0,
            envelope(Some("device.connected"), Some("evt_inner"))
        );
        assert_eq!(outer, envelope(Some("outer"), Some("evt_outer")));
    }
}

const KEYS: &[&str] = &["type", "event", "eventId", "data", "other", "ev\\u0065nt"];
const VALUES: &[&str] = &[
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
        #[cfg(feature = "amps")]
        amps::single_pass_agrees(&body);
        all_get(&body, &Envelope::read_str(&body));
    }
}
