//! Every documented Amps payload shape parses to the right `AmpsEvent` with its fields, signed
//! and verified first, the way a receiver gets it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use amps_webhooks::amps::Failure;
use amps_webhooks::amps::jiff::Timestamp;
use amps_webhooks::{AmpsEvent, Event, MockClock, Secret, Signer, Verifier};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NOW: u64 = 1_780_000_000;

fn event(file: &str) -> Event<AmpsEvent> {
    let body = std::fs::read(format!(
        "{}/tests/data/amps/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let secret = Secret::parse(SECRET).unwrap();
    let signed = Signer::new(secret.clone())
        .sign("msg_fixture", NOW, &body)
        .unwrap();
    let verifier = Verifier::builder()
        .secret(secret)
        .clock(MockClock::at_unix(NOW))
        .build()
        .unwrap();
    let headers = signed.webhook_headers();
    verifier.verify(&headers, &body).unwrap().parse().unwrap()
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

#[test]
fn envelope_push_completed() {
    let event = event("envelope-push-completed.json");
    assert_eq!(event.event_type(), Some("push.completed"));
    assert_eq!(event.idempotency_key(), "evt_01JTQ8M4Z6W5Y2B3C4D5E6F7G8");
    let AmpsEvent::PushCompleted(push) = event.payload() else {
        panic!("{:?}", event.payload())
    };
    assert_eq!(push.action_id, "act_7f3c2a91");
    assert_eq!(push.device_id, "dev_abc123");
    assert_eq!(push.device_type.as_deref(), Some("battery"));
    assert_eq!(
        push.action_type.as_deref(),
        Some("battery:set_operation_mode")
    );
    assert_eq!(push.parameters.as_ref().unwrap()["target"]["value"], 90);
    let result = push.result.as_ref().unwrap();
    assert_eq!(
        (result.success, result.message.as_deref()),
        (Some(true), Some("Mode applied"))
    );
    assert_eq!(push.completed_at, at("2026-05-08T22:00:05Z"));
}

#[test]
fn envelope_push_failed() {
    let event = event("envelope-push-failed.json");
    assert_eq!(event.idempotency_key(), "evt_01JTQ8N0A1B2C3D4E5F6G7H8J9");
    let AmpsEvent::PushFailed(push) = event.payload() else {
        panic!("{:?}", event.payload())
    };
    assert_eq!(push.action_id, "act_7f3c2a92");
    assert_eq!(
        push.failure(),
        Failure {
            code: Some("SCHEDULER_ACTIVE"),
            message: Some("Native scheduler is active; clear it before issuing a direct command."),
        }
    );
    assert_eq!(push.failed_at, at("2026-05-08T22:00:32Z"));
}

#[test]
fn envelope_device_connected() {
    let event = event("envelope-device-connected.json");
    let AmpsEvent::DeviceConnected(device) = event.payload() else {
        panic!("{:?}", event.payload())
    };
    assert_eq!(device.device_id, "device_abc123");
    assert_eq!(device.vendor.as_deref(), Some("tesla"));
    assert_eq!(device.user_id.as_deref(), Some("usr_42"));
    assert_eq!(device.timestamp, Some(at("2026-06-01T10:30:00Z")));
}

#[test]
fn envelope_device_disconnected() {
    let event = event("envelope-device-disconnected.json");
    let AmpsEvent::DeviceDisconnected(device) = event.payload() else {
        panic!("{:?}", event.payload())
    };
    assert_eq!(device.reason.as_deref(), Some("user_revoked"));
    assert_eq!(
        device.reconnection_url.as_deref(),
        Some("https://auth.example.com/journey?mode=reconnect&device=device_abc123")
    );
    assert_eq!(device.timestamp, Some(at("2026-06-02T08:00:00Z")));
}

#[test]
fn typed_device_reconnected() {
    let event = event("typed-device-reconnected.json");
    assert_eq!(event.event_type(), Some("device.reconnected"));
    // No eventId: the key is the webhook-id.
    assert_eq!(event.idempotency_key(), "msg_fixture");
    let AmpsEvent::DeviceReconnected(device) = event.payload() else {
        panic!("{:?}", event.payload())
    };
    assert_eq!(device.device_id, "device_abc123");
    assert_eq!(device.device_type.as_deref(), Some("battery"));
    assert_eq!(device.vendor, None);
}

#[test]
fn unknown_type_passes_through_with_raw_json() {
    let event = event("envelope-unknown-schedule-slot-failed.json");
    assert_eq!(event.event_type(), Some("schedule.slot_failed"));
    let AmpsEvent::Unknown { event_type, data } = event.payload() else {
        panic!("{:?}", event.payload())
    };
    assert_eq!(event_type.as_deref(), Some("schedule.slot_failed"));
    assert_eq!(
        data,
        &serde_json::json!({ "scheduleId": "sch_9", "slot": 3, "reason": "device offline" })
    );
}

#[test]
fn flat_push_completed_is_typed_by_shape() {
    let event = event("flat-push-completed.json");
    assert_eq!(event.event_type(), None);
    assert_eq!(event.payload().event_type(), "push.completed");
    let AmpsEvent::PushCompleted(push) = event.payload() else {
        panic!("{:?}", event.payload())
    };
    assert_eq!(push.action_id, "act_inflight_002");
    assert_eq!(push.device_type, None);
    assert_eq!(push.completed_at, at("2026-05-08T22:00:05Z"));
}

#[test]
fn flat_push_failed_with_error_object() {
    let event = event("flat-push-failed-error-object.json");
    let AmpsEvent::PushFailed(push) = event.payload() else {
        panic!("{:?}", event.payload())
    };
    assert_eq!(push.action_id, "act_inflight_003");
    assert_eq!(push.failure().code, Some("SCHEDULER_ACTIVE"));
}

#[test]
fn flat_push_failed_with_error_fields_keeps_unknown_fields() {
    let event = event("flat-push-failed-error-fields.json");
    let AmpsEvent::PushFailed(push) = event.payload() else {
        panic!("{:?}", event.payload())
    };
    assert_eq!(push.action_id, "act_inflight_004");
    assert_eq!(push.command.as_deref(), Some("start_charging"));
    assert_eq!(
        push.failure(),
        Failure {
            code: Some("DEVICE_UNAVAILABLE"),
            message: Some("The vehicle is not plugged in.")
        }
    );
    let result = push.result.as_ref().unwrap();
    assert_eq!(result.success, Some(false));
    assert_eq!(result.extra["connectorError"]["status"], 409);
    assert_eq!(push.failed_at, at("2026-05-08T22:04:10Z"));
}

#[test]
fn unknown_fields_are_kept_and_untyped_shapes_are_unknown() {
    let parse = |text: &str| serde_json::from_str::<AmpsEvent>(text).unwrap();
    let event = parse(
        r#"{"event":"device.connected","eventId":"e","data":{"deviceId":"d","newField":{"x":1}},"extraTop":true}"#,
    );
    let AmpsEvent::DeviceConnected(device) = &event else {
        panic!("{event:?}")
    };
    assert_eq!(device.extra["newField"]["x"], 1);
    assert_eq!(
        parse(r#"{"deviceId":"d","somethingElse":1}"#),
        AmpsEvent::Unknown {
            event_type: None,
            data: serde_json::json!({"deviceId":"d","somethingElse":1})
        }
    );
    // A known type with the wrong shape is an error, not a silent Unknown.
    let error =
        serde_json::from_str::<AmpsEvent>(r#"{"type":"push.completed","data":{"deviceId":"d"}}"#)
            .unwrap_err();
    assert!(error.to_string().contains("actionId"), "{error}");
    assert!(
        serde_json::from_str::<AmpsEvent>("[1]")
            .unwrap_err()
            .is_data()
    );
}

#[test]
fn payload_serializes_back_with_its_fields() {
    let event = event("flat-push-failed-error-fields.json");
    let json = serde_json::to_value(event.payload()).unwrap();
    assert_eq!(json["errorCode"], "DEVICE_UNAVAILABLE");
    assert_eq!(json["failedAt"], "2026-05-08T22:04:10Z");
    assert_eq!(
        json["result"]["connectorError"]["body"],
        "vehicle not plugged in"
    );
}
