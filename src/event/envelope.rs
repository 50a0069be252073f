//! The envelope fields every body shape may carry (`type`, `event`, `eventId`): their rules
//! ([`Envelope::new`]), the second pass that reads them from any JSON object, everything else
//! skipped ([`Envelope::read_str`]), and the side channel through which a payload type that
//! reads them anyway (`AmpsEvent`) hands them over ([`report`]) so that it needs no second pass.
//!
//! The side channel is a thread-local slot: [`arm`] opens it for one payload type; [`report`]
//! fills it only for that type (an event nested in another payload never sets the outer body's
//! envelope); [`Armed::take`] reads it and puts back what it held (a parse inside a parse keeps
//! each envelope apart).

use std::any::TypeId;
use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The envelope fields of a body: `type` (Standard Webhooks) or else `event` (the Amps
/// envelope), and a non-empty `eventId`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Envelope {
    pub(crate) event_type: Option<Arc<str>>,
    pub(crate) event_id: Option<Arc<str>>,
}

impl Envelope {
    /// The envelope of a body whose last `type`, `event` and `eventId` strings are these.
    fn new(declared_type: Option<&str>, event: Option<&str>, event_id: Option<&str>) -> Self {
        Self {
            // `type` is the Standard Webhooks name and wins over the Amps `event`.
            event_type: declared_type.or(event).map(Arc::from),
            // An empty id would make every such event a duplicate of the first: it is no id.
            event_id: event_id.filter(|id| !id.is_empty()).map(Arc::from),
        }
    }

    /// Reads the envelope of a body already known to be JSON, on its own (`read_slice` for a
    /// body that is not UTF-8): a body that is not an object, or whose envelope fields are not
    /// valid JSON, has none.
    pub(super) fn read_str(body: &str) -> Self {
        serde_json::from_str::<Fallback>(body).map_or_else(|_| Self::default(), |read| read.0)
    }

    pub(super) fn read_slice(body: &[u8]) -> Self {
        serde_json::from_slice::<Fallback>(body).map_or_else(|_| Self::default(), |read| read.0)
    }
}

/// What the side channel holds: no parse waiting, a parse of the payload type with this id
/// waiting for its report, or that type's report.
enum Slot {
    Closed,
    Armed(TypeId),
    Reported(TypeId, Envelope),
}

thread_local! {
    static SLOT: Cell<Slot> = const { Cell::new(Slot::Closed) };
}

/// Opens the side channel for payload type `of`, until [`Armed::take`] (or its drop).
pub(super) fn arm(of: TypeId) -> Armed {
    let saved = SLOT
        .try_with(|slot| slot.replace(Slot::Armed(of)))
        .unwrap_or(Slot::Closed);
    Armed { saved: Some(saved) }
}

/// The side channel, open for one parse.
pub(super) struct Armed {
    saved: Option<Slot>,
}

impl Armed {
    /// The envelope the armed payload type reported, if it did; puts back what the slot held.
    pub(super) fn take(mut self) -> Option<Envelope> {
        let saved = self.saved.take().unwrap_or(Slot::Closed);
        match SLOT.try_with(|slot| slot.replace(saved)) {
            Ok(Slot::Reported(_, envelope)) => Some(envelope),
            _ => None,
        }
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        if let Some(saved) = self.saved.take() {
            // The slot is gone only while the thread ends: nothing to put back then.
            let _ = SLOT.try_with(|slot| slot.set(saved));
        }
    }
}

/// Hands the envelope fields a payload of type `of` read at the body's top level (the last
/// string of each) to the parse waiting for them, if it parses an `of`; else (the type parsed
/// on its own, or nested in another payload) it does nothing and allocates nothing.
#[cfg_attr(not(feature = "amps"), allow(dead_code))]
pub(crate) fn report(
    of: TypeId,
    declared_type: Option<&str>,
    event: Option<&str>,
    event_id: Option<&str>,
) {
    let _ = SLOT.try_with(|slot| {
        let next = match slot.replace(Slot::Closed) {
            Slot::Armed(armed) | Slot::Reported(armed, _) if armed == of => {
                Slot::Reported(armed, Envelope::new(declared_type, event, event_id))
            }
            other => other,
        };
        slot.set(next);
    });
}

/// The second pass: the envelope fields of a top-level object, every other value skipped.
struct Fallback(Envelope);

impl<'de> Deserialize<'de> for Fallback {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FallbackVisitor)
    }
}

struct FallbackVisitor;

impl<'de> Visitor<'de> for FallbackVisitor {
    type Value = Fallback;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fallback, A::Error> {
        let (mut declared_type, mut event, mut event_id) = (None, None, None);
        while let Some(Key(key)) = map.next_key::<Key>()? {
            // A repeated key: the last one wins, as in a parsed payload.
            let field = match key {
                Some(Name::Type) => &mut declared_type,
                Some(Name::Event) => &mut event,
                Some(Name::EventId) => &mut event_id,
                None => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *field = map.next_value::<Text<'de>>()?.0;
        }
        Ok(Fallback(Envelope::new(
            declared_type.as_deref(),
            event.as_deref(),
            event_id.as_deref(),
        )))
    }
}

/// The envelope fields, by name.
enum Name {
    Type,
    Event,
    EventId,
}

/// A top-level key: the envelope field it names, if any.
struct Key(Option<Name>);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
        Ok(Key(match key {
            "type" => Some(Name::Type),
            "event" => Some(Name::Event),
            "eventId" => Some(Name::EventId),
            _ => None,
        }))
    }
}

/// An envelope field's value: its string, or `None` for any other JSON value (an array or an
/// object read in full as JSON, strings checked, as a parsed payload's `Value` would be).
struct Text<'de>(Option<Cow<'de, str>>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Text<'de>, E> {
        Ok(Text(Some(Cow::Borrowed(text))))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Text<'de>, E> {
        Ok(Text(Some(Cow::Owned(text.to_owned()))))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Text<'de>, E> {
        Ok(Text(None))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Text<'de>, E> {
        self.visit_i64(0)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Text<'de>, E> {
        self.visit_i64(0)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Text<'de>, E> {
        self.visit_i64(0)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Text<'de>, E> {
        Ok(Text(None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Text<'de>, A::Error> {
        serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        Ok(Text(None))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Text<'de>, A::Error> {
        serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(Text(None))
    }
}
