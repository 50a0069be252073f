//! `AmpsEvent` hands its envelope to `Event` in its own pass (see [`crate::event`]): what it
//! hands over is what the second pass reads, on every fixture and any object; an `AmpsEvent`
//! nested inside another payload never sets the outer body's envelope; a parse inside a parse
//! keeps each envelope.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use proptest::prelude::*;

use crate::AmpsEvent;
use crate::error::ParseError;
use crate::event::Event;
use crate::event::parse_tests::{
    BODIES, Envelope, KEYS, VALUES, all_get, envelope, envelope_as, parse_envelope,
    reported_and_read,
};
use crate::verify::{WebhookId, WebhookTimestamp};

/// When `body` is an `AmpsEvent`: it reported its envelope, and that is what the second pass
/// reads, from the body as a str and as bytes; and every other payload type gets it too.
fn single_pass_agrees(body: &str) {
    for utf8 in [true, false] {
        if let Some((reported, read)) = reported_and_read::<AmpsEvent>(body, utf8) {
            assert_eq!(reported, Some(read.clone()), "{body}");
            all_get(body, &read);
        }
    }
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
                let (reported, read) = reported_and_read::<AmpsEvent>(&body, true).unwrap();
                assert!(reported.is_some(), "{path:?}");
                assert_eq!(reported, Some(read), "{path:?}");
                single_pass_agrees(&body);
                count += 1;
            }
        }
    }
    assert_eq!(count, 18);
}

#[test]
fn the_single_pass_gets_the_envelope_of_each_body() {
    for &(body, event_type, event_id) in BODIES {
        if let Some(seen) = envelope_as::<AmpsEvent>(body) {
            assert_eq!(seen, envelope(event_type, event_id), "{body}");
        }
        single_pass_agrees(body);
    }
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
    let (reported, _) = reported_and_read::<Wrapper>(&body, true).unwrap();
    assert_eq!(reported, None);
    assert_eq!(
        envelope_as::<Vec<AmpsEvent>>(&format!("[{inner}]")),
        Some(envelope(None, None))
    );
}

/// A payload whose own parse parses an `Event<AmpsEvent>` from one of its fields.
struct Reentrant(Envelope);

impl<'de> serde::Deserialize<'de> for Reentrant {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        struct Fields {
            body: String,
        }
        let fields = Fields::deserialize(deserializer)?;
        Ok(Self(parse_envelope::<AmpsEvent>(fields.body.as_bytes())))
    }
}

#[test]
fn a_parse_inside_a_parse_keeps_each_envelope() {
    let inner = r#"{"type":"device.connected","eventId":"evt_inner","data":{"deviceId":"d"}}"#;
    let body =
        serde_json::json!({"event": "outer", "eventId": "evt_outer", "body": inner}).to_string();
    let event = Event::<Reentrant>::from_verified(
        WebhookId::new_unchecked("msg_1"),
        WebhookTimestamp::from_unix(1),
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(
        event.payload().0,
        envelope(Some("device.connected"), Some("evt_inner"))
    );
    assert_eq!(event.event_type(), Some("outer"));
    assert_eq!(event.event_id(), Some("evt_outer"));
}

#[test]
fn a_shape_error_before_bytes_that_are_not_utf8_is_still_invalid_json() {
    // Found by the `event` fuzz target: the payload's typed parse fails on `timestamp`
    // before it reaches the invalid UTF-8 further on.
    let body = b"{\"type\":\"device.reconnected\",\"data\":{\"deviceId\":\"d\",\"timestamp\":\"not a time\",\"x\":\"\xff\"}}";
    let error = Event::<AmpsEvent>::from_verified(
        WebhookId::new_unchecked("msg_1"),
        WebhookTimestamp::from_unix(1),
        body,
    )
    .unwrap_err();
    assert!(matches!(error, ParseError::InvalidJson { .. }), "{error:?}");
}

proptest! {
    #[test]
    fn the_single_pass_agrees_on_any_object(
        entries in proptest::collection::vec((0..KEYS.len(), 0..VALUES.len()), 0..8)
    ) {
        let fields: Vec<String> = entries
            .iter()
            .map(|&(k, v)| format!("\"{}\":{}", KEYS[k], VALUES[v]))
            .collect();
        single_pass_agrees(&format!("{{{}}}", fields.join(",")));
    }
}
