//! The Amps platform's events, read from every body shape the platform uses:
//!
//! - the envelope `{event, eventId, timestamp, data}`;
//! - the Standard Webhooks names `{type, timestamp, data}`;
//! - the bare event object, typed by its shape: `result` + `completedAt` is a completed push,
//!   `error` or `errorCode` + `failedAt` is a failed push.
//!
//! Unknown fields are kept in each payload's `extra` map, never rejected. An unknown event type,
//! or a bare object whose type cannot be told, is [`AmpsEvent::Unknown`], never an error.

// Untrusted input flows through this module: no indexing, unchecked arithmetic, unwrap or
// expect that could panic on it (tests may).
#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// A timestamp inside a payload (RFC 3339, such as `2026-05-08T22:00:05.000Z`).
pub use jiff::Timestamp as DateTime;

/// An event from the Amps platform.
///
/// ```
/// use amps_webhooks::AmpsEvent;
///
/// let body = r#"{"event":"push.failed","eventId":"evt_1","data":{"actionId":"act_1","deviceId":"dev_1",
///   "errorCode":"DEVICE_UNAVAILABLE","errorMessage":"not plugged in","failedAt":"2026-05-08T22:04:10Z"}}"#;
/// let event: AmpsEvent = serde_json::from_str(body)?;
/// let AmpsEvent::PushFailed(failed) = event else { panic!("not a failed push") };
/// assert_eq!(failed.failure().code, Some("DEVICE_UNAVAILABLE"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AmpsEvent {
    /// `push.completed`: an action reached its successful terminal state.
    PushCompleted(PushCompleted),
    /// `push.failed`: an action reached its failed terminal state.
    PushFailed(PushFailed),
    /// `device.connected`: a device was linked.
    DeviceConnected(DeviceEvent),
    /// `device.reconnected`: a device's lost link was restored.
    DeviceReconnected(DeviceEvent),
    /// `device.disconnected`: a device's link was lost or revoked.
    DeviceDisconnected(DeviceDisconnected),
    /// A type this version does not know, with its raw JSON.
    Unknown {
        /// The declared type, or `None` for a bare object whose shape is not recognised.
        event_type: Option<String>,
        /// The event's data (the `data` field of an envelope, or the whole bare object).
        data: Value,
    },
}

impl AmpsEvent {
    /// The event type, such as `push.completed`; `unknown` for an untyped, unrecognised body.
    #[must_use]
    pub fn event_type(&self) -> &str {
        match self {
            Self::PushCompleted(_) => "push.completed",
            Self::PushFailed(_) => "push.failed",
            Self::DeviceConnected(_) => "device.connected",
            Self::DeviceReconnected(_) => "device.reconnected",
            Self::DeviceDisconnected(_) => "device.disconnected",
            Self::Unknown { event_type, .. } => event_type.as_deref().unwrap_or("unknown"),
        }
    }

    fn from_typed(event_type: String, data: Value) -> Result<Self, serde_json::Error> {
        Ok(match event_type.as_str() {
            "push.completed" => Self::PushCompleted(serde_json::from_value(data)?),
            "push.failed" => Self::PushFailed(serde_json::from_value(data)?),
            "device.connected" => Self::DeviceConnected(serde_json::from_value(data)?),
            "device.reconnected" => Self::DeviceReconnected(serde_json::from_value(data)?),
            "device.disconnected" => Self::DeviceDisconnected(serde_json::from_value(data)?),
            _ => Self::Unknown {
                event_type: Some(event_type),
                data,
            },
        })
    }

    fn from_object(mut object: Map<String, Value>) -> Result<Self, serde_json::Error> {
        let declared = ["type", "event"]
            .iter()
            .find_map(|key| object.get(*key).and_then(Value::as_str).map(str::to_owned));
        if let Some(event_type) = declared {
            let data = match object.remove("data") {
                Some(data) => data,
                // A typed body without `data` carries its fields at the top level.
                None => Value::Object(object),
            };
            return Self::from_typed(event_type, data);
        }
        let has = |key: &str| object.contains_key(key);
        let event_type = if has("result") && has("completedAt") {
            "push.completed"
        } else if (has("error") || has("errorCode")) && has("failedAt") {
            "push.failed"
        } else {
            return Ok(Self::Unknown {
                event_type: None,
                data: Value::Object(object),
            });
        };
        Self::from_typed(event_type.to_owned(), Value::Object(object))
    }
}

impl<'de> Deserialize<'de> for AmpsEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Object(object) => Self::from_object(object).map_err(D::Error::custom),
            _ => Err(D::Error::custom("an Amps event body must be a JSON object")),
        }
    }
}

/// Serializes the event's data (what an envelope carries under `data`).
impl Serialize for AmpsEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::PushCompleted(data) => data.serialize(serializer),
            Self::PushFailed(data) => data.serialize(serializer),
            Self::DeviceConnected(data) | Self::DeviceReconnected(data) => {
                data.serialize(serializer)
            }
            Self::DeviceDisconnected(data) => data.serialize(serializer),
            Self::Unknown { data, .. } => data.serialize(serializer),
        }
    }
}

/// The data of a `push.completed` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PushCompleted {
    /// The action's id.
    pub action_id: String,
    /// The device the action ran on.
    pub device_id: String,
    /// The device's kind, such as `battery`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_type: Option<String>,
    /// The action's kind, such as `battery:set_operation_mode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_type: Option<String>,
    /// The vendor command, when the platform reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The action's parameters, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// What the device reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<PushResult>,
    /// When the action completed.
    pub completed_at: DateTime,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The data of a `push.failed` event. The platform reports the failure either as an `error`
/// object or as `errorCode` + `errorMessage`; [`failure`](Self::failure) reads both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PushFailed {
    /// The action's id.
    pub action_id: String,
    /// The device the action ran on.
    pub device_id: String,
    /// The device's kind, such as `ev_charger`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_type: Option<String>,
    /// The action's kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_type: Option<String>,
    /// The vendor command, when the platform reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The action's parameters, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// What the device reported, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<PushResult>,
    /// The failure as an object (`{code, message}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<PushError>,
    /// The failure's code, in the flat form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The failure's message, in the flat form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// When the action failed.
    pub failed_at: DateTime,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl PushFailed {
    /// The failure's code and message, from whichever form the platform used (the `error`
    /// object first).
    #[must_use]
    pub fn failure(&self) -> Failure<'_> {
        let object = self.error.as_ref();
        Failure {
            code: object
                .and_then(|e| e.code.as_deref())
                .or(self.error_code.as_deref()),
            message: object
                .and_then(|e| e.message.as_deref())
                .or(self.error_message.as_deref()),
        }
    }
}

/// The failure of a `push.failed` event, whichever form it came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure<'a> {
    /// A machine-readable code, such as `SCHEDULER_ACTIVE`.
    pub code: Option<&'a str>,
    /// A human-readable message.
    pub message: Option<&'a str>,
}

/// The `error` object of a failed push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PushError {
    /// A machine-readable code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// A human-readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What a device reported for an action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PushResult {
    /// Whether the device applied the action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    /// The device's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Fields this version does not know (such as `connectorError`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The data of a `device.connected` or `device.reconnected` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct DeviceEvent {
    /// The device's id.
    pub device_id: String,
    /// The device's kind, such as `battery`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_type: Option<String>,
    /// The device's vendor, such as `tesla`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// The user who owns the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// When it happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<DateTime>,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The data of a `device.disconnected` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct DeviceDisconnected {
    /// The device's id.
    pub device_id: String,
    /// The device's kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_type: Option<String>,
    /// The device's vendor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// The user who owns the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Why the link was lost, such as `user_revoked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where to send the user to link the device again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnection_url: Option<String>,
    /// When it happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<DateTime>,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
