//! [`AmpsEvent`]: the enum of the Amps platform's events, how an event type names its payload
//! type ([`Kind`]), and how an event serializes (its data, or its whole body with
//! [`AmpsEvent::as_body`]).

use serde::de::{DeserializeSeed, Deserializer};
use serde::ser::SerializeMap as _;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use super::payload::{DeviceDisconnected, DeviceEvent, PushCompleted, PushFailed};

/// An event from the Amps platform.
///
/// `Serialize` writes the event's data (what an envelope carries under `data`);
/// [`as_body`](Self::as_body) writes the whole body, which parses back to the same event.
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
    /// The event types this version parses into a typed variant; any other type parses to
    /// [`Unknown`](Self::Unknown).
    ///
    /// ```
    /// use amps_webhooks::AmpsEvent;
    ///
    /// assert!(AmpsEvent::KNOWN_TYPES.contains(&"push.completed"));
    /// ```
    pub const KNOWN_TYPES: &'static [&'static str] = &[
        "push.completed",
        "push.failed",
        "device.connected",
        "device.reconnected",
        "device.disconnected",
    ];

    /// The event type, such as `push.completed`; `unknown` for an untyped, unrecognised body.
    #[must_use]
    pub fn event_type(&self) -> &str {
        self.declared_type().unwrap_or("unknown")
    }

    /// The type a body of this event declares: `None` for an untyped, unrecognised one.
    fn declared_type(&self) -> Option<&str> {
        Some(match self {
            Self::PushCompleted(_) => "push.completed",
            Self::PushFailed(_) => "push.failed",
            Self::DeviceConnected(_) => "device.connected",
            Self::DeviceReconnected(_) => "device.reconnected",
            Self::DeviceDisconnected(_) => "device.disconnected",
            Self::Unknown { event_type, .. } => return event_type.as_deref(),
        })
    }

    /// The event as a Standard Webhooks body, to serialize: `{"type": ..., "data": ...}`, or
    /// for an untyped [`Unknown`](Self::Unknown) event its data alone (the bare object it came
    /// from).
    ///
    /// Every event that a body parses to serializes this way to a body that parses to the same
    /// event: the same variant and the same fields.
    ///
    /// ```
    /// use amps_webhooks::AmpsEvent;
    ///
    /// let bare = r#"{"actionId":"a","deviceId":"d","result":{},"completedAt":"2026-05-08T22:00:05Z"}"#;
    /// let event: AmpsEvent = serde_json::from_str(bare)?;
    /// let body = serde_json::to_string(&event.as_body())?;
    /// assert!(body.starts_with(r#"{"type":"push.completed","data":{"#));
    /// assert_eq!(serde_json::from_str::<AmpsEvent>(&body)?, event);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    #[must_use]
    pub fn as_body(&self) -> Body<'_> {
        Body(self)
    }

    /// The event for `event_type` from its data, already parsed as JSON.
    pub(super) fn from_typed_value(
        event_type: String,
        data: Value,
    ) -> Result<Self, serde_json::Error> {
        Ok(match Kind::of(&event_type) {
            Some(kind) => kind.deserialize(data)?,
            None => Self::Unknown {
                event_type: Some(event_type),
                data,
            },
        })
    }

    /// A bare object (no `event`/`type`): typed by its shape.
    pub(super) fn from_shape(object: Map<String, Value>) -> Result<Self, serde_json::Error> {
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
pub(super) enum Kind {
    PushCompleted,
    PushFailed,
    DeviceConnected,
    DeviceReconnected,
    DeviceDisconnected,
}

impl Kind {
    pub(super) fn of(event_type: &str) -> Option<Self> {
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
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
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
pub(super) struct DataSeed(pub(super) Kind);

impl<'de> DeserializeSeed<'de> for DataSeed {
    type Value = AmpsEvent;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<AmpsEvent, D::Error> {
        self.0.deserialize(deserializer)
    }
}

/// Serializes the event's data (what an envelope carries under `data`). For a body that
/// parses back to the event, serialize [`as_body`](AmpsEvent::as_body).
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

/// An [`AmpsEvent`] as a Standard Webhooks body, from [`AmpsEvent::as_body`].
#[derive(Debug, Clone, Copy)]
pub struct Body<'a>(&'a AmpsEvent);

impl Serialize for Body<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Some(event_type) = self.0.declared_type() else {
            // An untyped event is the bare object it came from.
            return self.0.serialize(serializer);
        };
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("type", event_type)?;
        map.serialize_entry("data", self.0)?;
        map.end()
    }
}

#[cfg(test)]
mod known_types_tests {
    use super::{AmpsEvent, Kind};

    #[test]
    fn every_known_type_has_its_kind_and_no_other_does() {
        for event_type in AmpsEvent::KNOWN_TYPES {
            assert!(Kind::of(event_type).is_some(), "{event_type}");
        }
        assert!(Kind::of("push.started").is_none());
        assert_eq!(AmpsEvent::KNOWN_TYPES.len(), 5);
    }
}
