//! Round trips (issue 15, item 7d): every event, in every body shape the platform sends, parses
//! to an event whose [`as_body`](crate::AmpsEvent::as_body) parses back to the same variant and
//! fields, through `serde_json` alone and through `Event<AmpsEvent>`.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::payload::{
    DeviceDisconnected, DeviceEvent, PushCompleted, PushError, PushFailed, PushResult,
};
use crate::AmpsEvent;
use crate::event::Event;
use crate::verify::{WebhookId, WebhookTimestamp};

fn text() -> impl Strategy<Value = String> {
    "[ -~\u{e9}\u{1F600}]{0,8}"
}

fn time() -> impl Strategy<Value = jiff::Timestamp> {
    (0_i64..4_000_000_000, 0_i32..1_000_000_000)
        .prop_map(|(seconds, nanos)| jiff::Timestamp::new(seconds, nanos).unwrap())
}

/// Any JSON value: numbers of every kind serde_json reads (integers, negative, floats).
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(text(), inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Fields no payload type knows (`x...`): what `extra` holds.
fn extra() -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::btree_map("x[a-zA-Z]{0,4}", json(), 0..3)
        .prop_map(|map| map.into_iter().collect())
}

fn maybe<T: std::fmt::Debug>(value: impl Strategy<Value = T>) -> impl Strategy<Value = Option<T>> {
    proptest::option::of(value)
}

/// A `parameters` value: JSON `null` there reads as no parameters (as the derive read it).
fn parameters() -> impl Strategy<Value = Option<Value>> {
    maybe(json().prop_filter("not null", |value| !value.is_null()))
}

fn result() -> impl Strategy<Value = PushResult> {
    (maybe(any::<bool>()), maybe(text()), extra()).prop_map(|(success, message, extra)| {
        PushResult {
            success,
            message,
            extra,
        }
    })
}

fn completed() -> impl Strategy<Value = PushCompleted> {
    let ids = (text(), text(), maybe(text()), maybe(text()), maybe(text()));
    (ids, parameters(), maybe(result()), time(), extra()).prop_map(
        |(
            (action_id, device_id, device_type, action_type, command),
            parameters,
            result,
            at,
            extra,
        )| {
            PushCompleted {
                action_id,
                device_id,
                device_type,
                action_type,
                command,
                parameters,
                result,
                completed_at: at,
                extra,
            }
        },
    )
}

fn failed() -> impl Strategy<Value = PushFailed> {
    let ids = (text(), text(), maybe(text()), maybe(text()), maybe(text()));
    let error = maybe((maybe(text()), maybe(text()), extra()).prop_map(
        |(code, message, extra)| PushError {
            code,
            message,
            extra,
        },
    ));
    let failure = (error, maybe(text()), maybe(text()));
    (ids, parameters(), maybe(result()), failure, time(), extra()).prop_map(
        |(ids, parameters, result, (error, error_code, error_message), at, extra)| {
            let (action_id, device_id, device_type, action_type, command) = ids;
            PushFailed {
                action_id,
                device_id,
                device_type,
                action_type,
                command,
                parameters,
                result,
                error,
                error_code,
                error_message,
                failed_at: at,
                extra,
            }
        },
    )
}

fn device() -> impl Strategy<Value = DeviceEvent> {
    (
        text(),
        maybe(text()),
        maybe(text()),
        maybe(text()),
        maybe(time()),
        extra(),
    )
        .prop_map(
            |(device_id, device_type, vendor, user_id, timestamp, extra)| DeviceEvent {
                device_id,
                device_type,
                vendor,
                user_id,
                timestamp,
                extra,
            },
        )
}

fn disconnected() -> impl Strategy<Value = DeviceDisconnected> {
    let device = (text(), maybe(text()), maybe(text()), maybe(text()));
    (device, maybe(text()), maybe(text()), maybe(time()), extra()).prop_map(
        |((device_id, device_type, vendor, user_id), reason, url, timestamp, extra)| {
            DeviceDisconnected {
                device_id,
                device_type,
                vendor,
                user_id,
                reason,
                reconnection_url: url,
                timestamp,
                extra,
            }
        },
    )
}

/// Every variant: the known types, an unknown type with any data, and an untyped object.
fn event() -> impl Strategy<Value = AmpsEvent> {
    let unknown_type = "[a-z]{1,6}\\.[a-z]{1,6}"
        .prop_filter("not a known type", |t| super::event::Kind::of(t).is_none());
    prop_oneof![
        completed().prop_map(AmpsEvent::PushCompleted),
        failed().prop_map(AmpsEvent::PushFailed),
        device().prop_map(AmpsEvent::DeviceConnected),
        device().prop_map(AmpsEvent::DeviceReconnected),
        disconnected().prop_map(AmpsEvent::DeviceDisconnected),
        (unknown_type, json()).prop_map(|(t, data)| AmpsEvent::Unknown {
            event_type: Some(t),
            data,
        }),
        extra().prop_map(|object| AmpsEvent::Unknown {
            event_type: None,
            data: Value::Object(object),
        }),
    ]
}

/// The body shapes the platform sends: the Amps envelope, the Standard Webhooks names, and
/// (for a push whose shape tells its type, or an untyped event) the bare event object.
fn bodies(event: &AmpsEvent) -> Vec<String> {
    let data = serde_json::to_value(event).unwrap();
    let event_type = event.event_type();
    let mut bodies = vec![
        serde_json::json!({"event": event_type, "eventId": "evt_1",
            "timestamp": "2026-05-08T22:00:05.120Z", "data": data})
        .to_string(),
        serde_json::json!({"timestamp": "2026-05-08T22:00:05Z", "type": event_type, "data": data})
            .to_string(),
    ];
    let bare = match event {
        AmpsEvent::PushCompleted(push) => push.result.is_some(),
        AmpsEvent::PushFailed(push) => push.error.is_some() || push.error_code.is_some(),
        AmpsEvent::Unknown { event_type, .. } => event_type.is_none(),
        _ => false,
    };
    if bare {
        bodies.push(data.to_string());
    }
    if matches!(
        event,
        AmpsEvent::Unknown {
            event_type: None,
            ..
        }
    ) {
        // No envelope to carry it: only the bare object says what it is.
        bodies.truncate(0);
        bodies.push(data.to_string());
    }
    bodies
}

/// `body` parses to `expected`, and so does the body `expected` serializes to.
fn round_trips(body: &str, expected: &AmpsEvent) {
    let parsed: AmpsEvent = serde_json::from_str(body).unwrap();
    assert_eq!(&parsed, expected, "{body}");
    let again = serde_json::to_string(&parsed.as_body()).unwrap();
    assert_eq!(
        &serde_json::from_str::<AmpsEvent>(&again).unwrap(),
        expected,
        "{again}"
    );
    let event = Event::<AmpsEvent>::from_verified(
        WebhookId::new_unchecked("msg_1"),
        WebhookTimestamp::from_unix(1),
        again.as_bytes(),
    )
    .unwrap();
    assert_eq!(event.payload(), expected, "{again}");
    let declared = match expected {
        AmpsEvent::Unknown {
            event_type: None, ..
        } => None,
        typed => Some(typed.event_type()),
    };
    assert_eq!(event.event_type(), declared, "{again}");
}

proptest! {
    #[test]
    fn every_event_serializes_to_a_body_that_parses_back(event in event()) {
        for body in bodies(&event) {
            round_trips(&body, &event);
        }
    }
}

#[test]
fn every_fixture_round_trips() {
    let root = env!("CARGO_MANIFEST_DIR");
    for dir in ["tests/fixtures", "tests/data/amps"] {
        for entry in std::fs::read_dir(format!("{root}/{dir}")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "json") {
                let body = std::fs::read_to_string(&path).unwrap();
                let event: AmpsEvent = serde_json::from_str(&body).unwrap();
                round_trips(&body, &event);
            }
        }
    }
}

#[test]
fn a_float_reads_as_the_f64_it_prints_as() {
    // Found by the proptest: without serde_json's `float_roundtrip`, this float printed and read
    // again was one unit in the last place off.
    let event: AmpsEvent = serde_json::from_str(
        r#"{"type":"device.reconnected","data":{"deviceId":"","x":1.1731511545000962e-115}}"#,
    )
    .unwrap();
    let AmpsEvent::DeviceReconnected(device) = &event else {
        panic!("{event:?}")
    };
    assert_eq!(
        device.extra["x"].as_f64(),
        Some(1.173_151_154_500_096_2e-115)
    );
    round_trips(&serde_json::to_string(&event.as_body()).unwrap(), &event);
}
