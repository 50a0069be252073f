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

use std::fmt;

use serde::de::{DeserializeSeed, Error as _, MapAccess, Visitor};
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

    /// The event for `event_type` from its data, already parsed as JSON.
    fn from_typed_value(event_type: String, data: Value) -> Result<Self, serde_json::Error> {
        Ok(match Kind::of(&event_type) {
            Some(kind) => kind.deserialize(data)?,
            None => Self::Unknown {
                event_type: Some(event_type),
                data,
            },
        })
    }

    /// A bare object (no `event`/`type`): typed by its shape.
    fn from_shape(object: Map<String, Value>) -> Result<Self, serde_json::Error> {
        let has = |key: &str| object.contains_key(key);
        let kind = if has("result") && has("completedAt") {
            Kind::PushCompleted
        } else if (has("error") || has("errorCode")) && has("failedAt") {
            Kind::PushFailed
        } else {
            return Ok(Self::Unknown {
                event_type: None,
                data: Value::Object(object),
            });
        };
        kind.deserialize(Value::Object(object))
    }
}

/// The event types this version knows.
#[derive(Clone, Copy)]
enum Kind {
    PushCompleted,
    PushFailed,
    DeviceConnected,
    DeviceReconnected,
    DeviceDisconnected,
}

impl Kind {
    fn of(event_type: &str) -> Option<Self> {
        Some(match event_type {
            "push.completed" => Self::PushCompleted,
            "push.failed" => Self::PushFailed,
            "device.connected" => Self::DeviceConnected,
            "device.reconnected" => Self::DeviceReconnected,
            "device.disconnected" => Self::DeviceDisconnected,
            _ => return None,
        })
    }

    /// Parses the event's data with `deserializer` straight into its payload type.
    fn deserialize<'de, D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<AmpsEvent, D::Error> {
        Ok(match self {
            Self::PushCompleted => {
                AmpsEvent::PushCompleted(Deserialize::deserialize(deserializer)?)
            }
            Self::PushFailed => AmpsEvent::PushFailed(Deserialize::deserialize(deserializer)?),
            Self::DeviceConnected => {
                AmpsEvent::DeviceConnected(Deserialize::deserialize(deserializer)?)
            }
            Self::DeviceReconnected => {
                AmpsEvent::DeviceReconnected(Deserialize::deserialize(deserializer)?)
            }
            Self::DeviceDisconnected => {
                AmpsEvent::DeviceDisconnected(Deserialize::deserialize(deserializer)?)
            }
        })
    }
}

/// Reads an event's `data` straight into the payload type of an already known `Kind`.
struct DataSeed(Kind);

impl<'de> DeserializeSeed<'de> for DataSeed {
    type Value = AmpsEvent;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<AmpsEvent, D::Error> {
        self.0.deserialize(deserializer)
    }
}

/// The body's top level, read in one pass.
///
/// When the type (`event` or `type`) comes before `data`, as the platform sends it, `data` is
/// parsed straight into its payload type; otherwise it is kept as JSON and typed at the end.
/// Every other field is kept, so that a bare object can be typed by its shape.
struct TopLevel;

impl<'de> Visitor<'de> for TopLevel {
    type Value = AmpsEvent;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an Amps event body (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AmpsEvent, A::Error> {
        let mut declared_type: Option<String> = None;
        let mut event: Option<String> = None;
        let mut typed: Option<AmpsEvent> = None;
        let mut raw_data: Option<Value> = None;
        let mut rest = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                // A repeated key: the last one wins. `type` (Standard Webhooks) wins over
                // `event` (the Amps envelope), as in `Event::event_type`.
                "type" | "event" => {
                    let value = map.next_value::<Value>()?;
                    let text = value.as_str().map(str::to_owned);
                    if key == "type" {
                        declared_type = text;
                    } else {
                        event = text;
                    }
                    if !value.is_string() {
                        rest.insert(key, value);
                    }
                }
                "data" => match declared_type
                    .as_deref()
                    .or(event.as_deref())
                    .and_then(Kind::of)
                {
                    Some(kind) => {
                        typed = Some(map.next_value_seed(DataSeed(kind))?);
                        raw_data = None;
                    }
                    None => {
                        raw_data = Some(map.next_value()?);
                        typed = None;
                    }
                },
                _ => {
                    let value: Value = map.next_value()?;
                    rest.insert(key, value);
                }
            }
        }
        let declared = declared_type.or(event);
        let Some(event_type) = declared else {
            let mut object = rest;
            if let Some(data) = raw_data {
                object.insert("data".to_owned(), data);
            }
            return AmpsEvent::from_shape(object).map_err(A::Error::custom);
        };
        let data = match (typed, raw_data) {
            // The usual case: the data was typed by the type read before it, which stayed.
            (Some(event), _) if event.event_type() == event_type => return Ok(event),
            // A later `type` overrode the one the data was typed by: type it again.
            (Some(event), _) => serde_json::to_value(&event).map_err(A::Error::custom)?,
            (None, Some(data)) => data,
            // A typed body without `data` carries its fields at the top level.
            (None, None) => Value::Object(rest),
        };
        AmpsEvent::from_typed_value(event_type, data).map_err(A::Error::custom)
    }
}

impl<'de> Deserialize<'de> for AmpsEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(TopLevel)
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
