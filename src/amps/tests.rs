//! The one-pass payload deserializers agree with what `#[derive(Deserialize)]` with
//! `#[serde(flatten)] extra` read before, on documented shapes and on any object.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use serde::de::DeserializeOwned;

use serde::Serialize;

use super::{DeviceDisconnected, DeviceEvent, PushCompleted, PushError, PushFailed, PushResult};

/// The payload types as they were derived before (`#[serde(flatten)] extra`): the reference
/// the one-pass `Deserialize` impls must agree with.
mod derived {
    use serde::{Deserialize, Serialize};
    use serde_json::{Map, Value};

    use jiff::Timestamp;

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct PushCompleted {
        action_id: String,
        device_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device_type: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        action_type: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        command: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parameters: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<PushResult>,
        completed_at: Timestamp,
        #[serde(flatten)]
        extra: Map<String, Value>,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct PushFailed {
        action_id: String,
        device_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device_type: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        action_type: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        command: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parameters: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<PushResult>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<PushError>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_code: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_message: Option<String>,
        failed_at: Timestamp,
        #[serde(flatten)]
        extra: Map<String, Value>,
    }

    #[derive(Serialize, Deserialize)]
    pub(super) struct PushError {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        #[serde(flatten)]
        extra: Map<String, Value>,
    }

    #[derive(Serialize, Deserialize)]
    pub(super) struct PushResult {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        success: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        #[serde(flatten)]
        extra: Map<String, Value>,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct DeviceEvent {
        device_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device_type: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vendor: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timestamp: Option<Timestamp>,
        #[serde(flatten)]
        extra: Map<String, Value>,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct DeviceDisconnected {
        device_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device_type: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vendor: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reconnection_url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timestamp: Option<Timestamp>,
        #[serde(flatten)]
        extra: Map<String, Value>,
    }
}

/// Both parse `json` alike: the same value, or both an error.
fn agree<New, Old>(json: &str)
where
    New: DeserializeOwned + Serialize,
    Old: DeserializeOwned + Serialize,
{
    let new = serde_json::from_str::<New>(json).map(|v| serde_json::to_value(v).unwrap());
    let old = serde_json::from_str::<Old>(json).map(|v| serde_json::to_value(v).unwrap());
    match (&new, &old) {
        (Ok(new), Ok(old)) => assert_eq!(new, old, "{json}"),
        (Err(_), Err(_)) => {}
        _ => panic!("{json}: one-pass {new:?}, derived {old:?}"),
    }
}

fn agree_all(json: &str) {
    agree::<PushCompleted, derived::PushCompleted>(json);
    agree::<PushFailed, derived::PushFailed>(json);
    agree::<PushError, derived::PushError>(json);
    agree::<PushResult, derived::PushResult>(json);
    agree::<DeviceEvent, derived::DeviceEvent>(json);
    agree::<DeviceDisconnected, derived::DeviceDisconnected>(json);
}

const KEYS: &[&str] = &[
    "actionId",
    "deviceId",
    "deviceType",
    "actionType",
    "command",
    "parameters",
    "result",
    "completedAt",
    "failedAt",
    "error",
    "errorCode",
    "errorMessage",
    "code",
    "message",
    "success",
    "vendor",
    "userId",
    "timestamp",
    "reason",
    "reconnectionUrl",
    "other",
    "a\\u0063tionId",
    "",
];

const VALUES: &[&str] = &[
    r#""text""#,
    r#""esc\"aped\u00e9""#,
    r#""2026-05-08T22:00:05.000Z""#,
    r#""not a time""#,
    "null",
    "true",
    "12",
    "-1.5e3",
    "[1,\"x\",null]",
    r#"{"success":false,"message":"m","connectorError":{"status":409}}"#,
    r#"{"code":"C","message":"m","extra":[1]}"#,
    "{}",
];

fn object(entries: &[(usize, usize)]) -> String {
    let fields: Vec<String> = entries
        .iter()
        .map(|&(k, v)| format!("\"{}\":{}", KEYS[k], VALUES[v]))
        .collect();
    format!("{{{}}}", fields.join(","))
}

#[test]
fn payloads_agree_with_the_derive_on_documented_shapes() {
    for json in [
        r#"{"actionId":"a","deviceId":"d","result":{"success":true,"message":"ok","x":1},"completedAt":"2026-05-08T22:00:05.000Z","note":"n"}"#,
        r#"{"actionId":"a","deviceId":"d","errorCode":"E","errorMessage":"m","failedAt":"2026-05-08T22:04:10Z"}"#,
        r#"{"actionId":"a","deviceId":"d","error":{"code":"E","message":"m"},"failedAt":"2026-05-08T22:04:10Z"}"#,
        r#"{"deviceId":"d","vendor":"tesla","timestamp":"2026-05-08T22:04:10Z","reason":"user_revoked"}"#,
        r#"{"actionId":"a","actionId":"b","deviceId":"d","completedAt":"2026-05-08T22:00:05Z"}"#,
        r#"{"other":1,"other":2,"deviceId":"d"}"#,
        r#"{"deviceId":null}"#,
        r#"{"deviceId":"d","vendor":null}"#,
        r#"["d"]"#,
        r#""d""#,
        "{}",
    ] {
        agree_all(json);
    }
}

proptest! {
    #[test]
    fn payloads_agree_with_the_derive(
        entries in proptest::collection::vec((0..KEYS.len(), 0..VALUES.len()), 0..12)
    ) {
        agree_all(&object(&entries));
    }
}
