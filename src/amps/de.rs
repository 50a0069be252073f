//! The deserializers of the Amps events, each in one pass over the input: the body's top level
//! ([`TopLevel`], which also hands the envelope it read to [`crate::event`]), and the payload
//! structs (their known fields by name, every other field into `extra`).

use std::any::TypeId;
use std::borrow::Cow;
use std::fmt;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{Error as _, IntoDeserializer as _, MapAccess, SeqAccess, Unexpected, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::event::{AmpsEvent, DataSeed, Kind};
use super::payload::{
    DeviceDisconnected, DeviceEvent, PushCompleted, PushError, PushFailed, PushResult,
};

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
///
/// The envelope fields it read (`type`, `event`, `eventId`) are handed to
/// [`crate::event::report_envelope`], so that `Event<AmpsEvent>` needs no second pass.
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
        // The last `eventId`, as the index of its field in `rest`.
        let mut event_id: Option<usize> = None;
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
                "eventId" => {
                    event_id = Some(rest.len());
                    let value = map.next_value::<Field<'de>>()?;
                    rest.push((key, value));
                }
                _ => {
                    let value = map.next_value::<Field<'de>>()?;
                    rest.push((key, value));
                }
            }
        }
        let event_id =
            event_id
                .and_then(|index| rest.get(index))
                .and_then(|(_, value)| match value {
                    Field::Text(text) => Some(&**text),
                    Field::Json(_) => None,
                });
        crate::event::report_envelope(
            TypeId::of::<AmpsEvent>(),
            declared_type.as_deref(),
            event.as_deref(),
            event_id,
        );
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
