//! The payload types of the known Amps events: what each event's `data` holds. Their
//! `Deserialize` impls are in `de` (one pass, unknown fields into `extra`).

use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};

/// The data of a `push.completed` event.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    pub completed_at: Timestamp,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The data of a `push.failed` event. The platform reports the failure either as an `error`
/// object or as `errorCode` + `errorMessage`; [`failure`](Self::failure) reads both.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    pub failed_at: Timestamp,
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    pub timestamp: Option<Timestamp>,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The data of a `device.disconnected` event.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    pub timestamp: Option<Timestamp>,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
