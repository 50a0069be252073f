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

use std::borrow::Cow;
use std::fmt;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{
    DeserializeSeed, Error as _, IntoDeserializer as _, MapAccess, SeqAccess, Unexpected, Visitor,
};
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

/// A field name, or a string value: borrowed from the input when it has no escapes, so that
/// reading one allocates nothing.
struct Text<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, text: &'de str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Borrowed(text)))
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Owned(text.to_owned())))
    }

    fn visit_string<E: serde::de::Error>(self, text: String) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Owned(text)))
    }

    fn visit_borrowed_bytes<E: serde::de::Error>(self, bytes: &'de [u8]) -> Result<Text<'de>, E> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Ok(Text(Cow::Borrowed(text))),
            Err(_) => Err(E::invalid_value(Unexpected::Bytes(bytes), &self)),
        }
    }

    fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Text<'de>, E> {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.visit_str(text),
            Err(_) => Err(E::invalid_value(Unexpected::Bytes(bytes), &self)),
        }
    }
}

/// A top-level field's value, kept in case the body turns out to be typed by its shape or to
/// carry its fields at the top level: a string is borrowed from the input when it can be, any
/// other value is read as JSON.
enum Field<'de> {
    Text(Cow<'de, str>),
    Json(Value),
}

impl Field<'_> {
    fn into_value(self) -> Value {
        match self {
            Self::Text(text) => Value::String(text.into_owned()),
            Self::Json(value) => value,
        }
    }
}

impl<'de> Deserialize<'de> for Field<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

/// Every non-string value is handed to `serde_json::Value`'s own visitor through serde's
/// value deserializers, so that it is read exactly as a `Value` field would be.
macro_rules! field_as_json {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method<E: serde::de::Error>(self, value: $ty) -> Result<Field<'de>, E> {
            Value::deserialize(value.into_deserializer()).map(Field::Json)
        }
    )*};
}

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, text: &'de str) -> Result<Field<'de>, E> {
        Ok(Field::Text(Cow::Borrowed(text)))
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Field<'de>, E> {
        Ok(Field::Text(Cow::Owned(text.to_owned())))
    }

    fn visit_string<E: serde::de::Error>(self, text: String) -> Result<Field<'de>, E> {
        Ok(Field::Text(Cow::Owned(text)))
    }

    field_as_json!(
        visit_bool(bool),
        visit_i64(i64),
        visit_i128(i128),
        visit_u64(u64),
        visit_u128(u128),
        visit_f64(f64),
    );

    fn visit_unit<E: serde::de::Error>(self) -> Result<Field<'de>, E> {
        Ok(Field::Json(Value::Null))
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Field<'de>, E> {
        Ok(Field::Json(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Field<'de>, D::Error> {
        Value::deserialize(deserializer).map(Field::Json)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Field<'de>, A::Error> {
        Value::deserialize(SeqAccessDeserializer::new(seq)).map(Field::Json)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Field<'de>, A::Error> {
        Value::deserialize(MapAccessDeserializer::new(map)).map(Field::Json)
    }
}

/// The fields kept from the top level, in order (a repeated name: the last one wins, as in a
/// map).
fn into_object(fields: Vec<(Cow<'_, str>, Field<'_>)>) -> Map<String, Value> {
    let mut object = Map::new();
    for (key, value) in fields {
        object.insert(key.into_owned(), value.into_value());
    }
    object
}

/// The body's top level, read in one pass.
///
/// When the type (`event` or `type`) comes before `data`, as the platform sends it, `data` is
/// parsed straight into its payload type; otherwise it is kept as JSON and typed at the end.
/// Every other field is kept (strings borrowed from the input, so that the envelope's own
/// fields cost no allocation), so that a bare object can be typed by its shape.
struct TopLevel;

impl<'de> Visitor<'de> for TopLevel {
    type Value = AmpsEvent;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an Amps event body (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AmpsEvent, A::Error> {
        let mut declared_type: Option<Cow<'de, str>> = None;
        let mut event: Option<Cow<'de, str>> = None;
        let mut typed: Option<AmpsEvent> = None;
        let mut raw_data: Option<Value> = None;
        let mut rest: Vec<(Cow<'de, str>, Field<'de>)> = Vec::new();
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            match &*key {
                // A repeated key: the last one wins. `type` (Standard Webhooks) wins over
                // `event` (the Amps envelope), as in `Event::event_type`.
                "type" | "event" => {
                    let value = map.next_value::<Field<'de>>()?;
                    let is_type = key == "type";
                    let text = match value {
                        Field::Text(text) => Some(text),
                        // Not a type: kept as a field of the body.
                        Field::Json(_) => {
                            rest.push((key, value));
                            None
                        }
                    };
                    if is_type {
                        declared_type = text;
                    } else {
                        event = text;
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
                    let value = map.next_value::<Field<'de>>()?;
                    rest.push((key, value));
                }
            }
        }
        let declared = declared_type.or(event);
        let Some(event_type) = declared else {
            let mut object = into_object(rest);
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
            (None, None) => Value::Object(into_object(rest)),
        };
        AmpsEvent::from_typed_value(event_type.into_owned(), data).map_err(A::Error::custom)
    }
}

impl<'de> Deserialize<'de> for AmpsEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(TopLevel)
    }
}

/// `Deserialize` for a payload struct, in one pass: its known fields by name, every other field
/// into `extra`. This is what `#[serde(flatten)] extra` did, without the copy of the whole
/// object that `flatten` buffers before it reads a field.
///
/// As with the derive: a known field given twice is an error, a missing required one is an
/// error, a missing or `null` optional one is `None`, and only a JSON object is accepted.
macro_rules! deserialize_payload {
    (
        $ty:ident,
        required { $($required:ident: $required_name:literal),* $(,)? },
        optional { $($optional:ident: $optional_name:literal),* $(,)? } $(,)?
    ) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct PayloadVisitor;

                impl<'de> Visitor<'de> for PayloadVisitor {
                    type Value = $ty;

                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str(concat!("struct ", stringify!($ty)))
                    }

                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<$ty, A::Error> {
                        $(let mut $required = None;)*
                        $(let mut $optional: Option<Option<_>> = None;)*
                        let mut extra = Map::new();
                        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
                            match &*key {
                                $($required_name => {
                                    if $required.is_some() {
                                        return Err(A::Error::duplicate_field($required_name));
                                    }
                                    $required = Some(map.next_value()?);
                                })*
                                $($optional_name => {
                                    if $optional.is_some() {
                                        return Err(A::Error::duplicate_field($optional_name));
                                    }
                                    $optional = Some(map.next_value()?);
                                })*
                                _ => {
                                    let value: Value = map.next_value()?;
                                    extra.insert(key.into_owned(), value);
                                }
                            }
                        }
                        Ok($ty {
                            $($required: $required
                                .ok_or_else(|| A::Error::missing_field($required_name))?,)*
                            $($optional: $optional.flatten(),)*
                            extra,
                        })
                    }
                }

                deserializer.deserialize_map(PayloadVisitor)
            }
        }
    };
}

deserialize_payload!(
    PushCompleted,
    required {
        action_id: "actionId",
        device_id: "deviceId",
        completed_at: "completedAt"
    },
    optional {
        device_type: "deviceType",
        action_type: "actionType",
        command: "command",
        parameters: "parameters",
        result: "result",
    },
);

deserialize_payload!(
    PushFailed,
    required {
        action_id: "actionId",
        device_id: "deviceId",
        failed_at: "failedAt"
    },
    optional {
        device_type: "deviceType",
        action_type: "actionType",
        command: "command",
        parameters: "parameters",
        result: "result",
        error: "error",
        error_code: "errorCode",
        error_message: "errorMessage",
    },
);

deserialize_payload!(
    PushError,
    required {},
    optional {
        code: "code",
        message: "message"
    },
);

deserialize_payload!(
    PushResult,
    required {},
    optional {
        success: "success",
        message: "message"
    },
);

deserialize_payload!(
    DeviceEvent,
    required {
        device_id: "deviceId"
    },
    optional {
        device_type: "deviceType",
        vendor: "vendor",
        user_id: "userId",
        timestamp: "timestamp",
    },
);

deserialize_payload!(
    DeviceDisconnected,
    required {
        device_id: "deviceId"
    },
    optional {
        device_type: "deviceType",
        vendor: "vendor",
        user_id: "userId",
        reason: "reason",
        reconnection_url: "reconnectionUrl",
        timestamp: "timestamp",
    },
);

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
    pub completed_at: DateTime,
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
    pub timestamp: Option<DateTime>,
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
    pub timestamp: Option<DateTime>,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]

    use proptest::prelude::*;
    use serde::de::DeserializeOwned;

    use super::*;

    /// The payload types as they were derived before (`#[serde(flatten)] extra`): the reference
    /// the one-pass `Deserialize` impls must agree with.
    mod derived {
        use serde::{Deserialize, Serialize};
        use serde_json::{Map, Value};

        use super::super::DateTime;

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
            completed_at: DateTime,
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
            failed_at: DateTime,
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
            timestamp: Option<DateTime>,
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
            timestamp: Option<DateTime>,
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
}
