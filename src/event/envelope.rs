//! The envelope fields every body shape may carry (`type`, `event`, `eventId`), read in the same
//! pass as the payload.
//!
//! The payload's deserializer is wrapped ([`Top`]): at the body's top level, the wrapper watches
//! the keys the payload reads and, for the envelope's keys, the string the payload is handed.
//! Nothing is read twice and nothing else is allocated. When the payload reads an envelope field
//! in a way that does not show its string (it skips it, reads it as bytes, an enum or a map), or
//! does not read the top level as a map at all, the tap is unsure and the envelope is read again
//! by [`Envelope::read`], a second pass over the body that allocates only the fields it keeps.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize as _;
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IgnoredAny, MapAccess, SeqAccess, Visitor,
};

/// The envelope fields of a body: `type` (Standard Webhooks) or else `event` (the Amps
/// envelope), and a non-empty `eventId`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Envelope {
    pub(super) event_type: Option<Arc<str>>,
    pub(super) event_id: Option<Arc<str>>,
}

impl Envelope {
    fn new(
        declared_type: Option<Arc<str>>,
        event: Option<Arc<str>>,
        event_id: Option<Arc<str>>,
    ) -> Self {
        Self {
            // `type` is the Standard Webhooks name and wins over the Amps `event`.
            event_type: declared_type.or(event),
            // An empty id would make every such event a duplicate of the first: it is no id.
            event_id: event_id.filter(|id| !id.is_empty()),
        }
    }

    /// Reads the envelope of a body already known to be JSON, on its own: a body that is not an
    /// object, or whose envelope fields are not valid JSON, has none.
    pub(super) fn read(body: &[u8]) -> Self {
        serde_json::from_slice::<Fallback<'_>>(body)
            .map(|fallback| fallback.0)
            .unwrap_or_default()
    }
}

/// Which envelope field a top-level key names.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Slot {
    Type,
    Event,
    EventId,
}

impl Slot {
    fn of(key: &str) -> Option<Self> {
        match key {
            "type" => Some(Self::Type),
            "event" => Some(Self::Event),
            "eventId" => Some(Self::EventId),
            _ => None,
        }
    }
}

/// What the tap saw at the body's top level.
#[derive(Default)]
pub(super) struct Seen {
    declared_type: Option<Arc<str>>,
    event: Option<Arc<str>>,
    event_id: Option<Arc<str>>,
    /// The payload did not read the top level as a map.
    no_map: bool,
    /// Something was read in a way that may hide an envelope field.
    unsure: bool,
    /// The top level was read as a map.
    map: bool,
}

impl Seen {
    fn slot(&mut self, slot: Slot) -> (&mut Option<Arc<str>>, &mut bool) {
        let field = match slot {
            Slot::Type => &mut self.declared_type,
            Slot::Event => &mut self.event,
            Slot::EventId => &mut self.event_id,
        };
        (field, &mut self.unsure)
    }

    /// The envelope, when the tap is sure of it.
    pub(super) fn envelope(self) -> Option<Envelope> {
        if self.unsure {
            return None;
        }
        if !self.map {
            // Not an object (an array, a number): no envelope. Any other reading of an object
            // (an enum, skipped) marked the tap unsure.
            return self.no_map.then(Envelope::default);
        }
        Some(Envelope::new(self.declared_type, self.event, self.event_id))
    }
}

/// Forwards every `deserialize_*` of a wrapper to the wrapped deserializer, with the visitor
/// wrapped by `$wrap`.
macro_rules! forward_deserializer {
    ($wrap:expr; $($method:ident($($arg:ident: $ty:ty),*)),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, Self::Error> {
            let wrap = $wrap;
            let (inner, visitor) = wrap(self, visitor);
            inner.$method($($arg,)* visitor)
        }
    )*};
}

/// Forwards the `visit_*` methods of a wrapping visitor that need no wrapping.
macro_rules! forward_visits {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method<E: de::Error>(self, value: $ty) -> Result<Self::Value, E> {
            self.inner.$method(value)
        }
    )*};
}

/// The deserializer handed to the payload: the body's top level.
pub(super) struct Top<'s, D> {
    pub(super) inner: D,
    pub(super) seen: &'s mut Seen,
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Top<'_, D> {
    type Error = D::Error;

    forward_deserializer! {
        |top: Self, visitor| (top.inner, TopVisitor { inner: visitor, seen: top.seen });
        deserialize_any(), deserialize_bool(), deserialize_i8(), deserialize_i16(),
        deserialize_i32(), deserialize_i64(), deserialize_i128(), deserialize_u8(),
        deserialize_u16(), deserialize_u32(), deserialize_u64(), deserialize_u128(),
        deserialize_f32(), deserialize_f64(), deserialize_char(), deserialize_str(),
        deserialize_string(), deserialize_bytes(), deserialize_byte_buf(), deserialize_option(),
        deserialize_unit(), deserialize_unit_struct(name: &'static str),
        deserialize_newtype_struct(name: &'static str), deserialize_seq(),
        deserialize_tuple(len: usize), deserialize_tuple_struct(name: &'static str, len: usize),
        deserialize_map(),
        deserialize_struct(name: &'static str, fields: &'static [&'static str]),
        deserialize_enum(name: &'static str, variants: &'static [&'static str]),
        deserialize_identifier(),
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        // Skipped without a look inside: the envelope is read on its own.
        self.seen.unsure = true;
        self.inner.deserialize_ignored_any(visitor)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// The payload's visitor for the top level: a map is watched, anything else passes.
struct TopVisitor<'s, V> {
    inner: V,
    seen: &'s mut Seen,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for TopVisitor<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.seen.map = true;
        self.inner.visit_map(TapMap {
            inner: map,
            seen: self.seen,
            pending: None,
        })
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.inner.visit_some(Top {
            inner: deserializer,
            seen: self.seen,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<V::Value, D::Error> {
        self.inner.visit_newtype_struct(Top {
            inner: deserializer,
            seen: self.seen,
        })
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        // An object read as an externally tagged enum: its keys are not seen.
        self.seen.unsure = true;
        self.inner.visit_enum(data)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.seen.no_map = true;
        self.inner.visit_seq(seq)
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.seen.no_map = true;
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.seen.no_map = true;
        self.inner.visit_unit()
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<V::Value, E> {
        self.seen.no_map = true;
        self.inner.visit_bool(value)
    }

    fn visit_i8<E: de::Error>(self, value: i8) -> Result<V::Value, E> {
        self.seen.no_map = true;
        self.inner.visit_i8(value)
    }

    fn visit_i16<E: de::Error>(self, value: i16) -> Result<V::Value, E> {
        self.seen.no_map = true;
        self.inner.visit_i16(value)
    }

    fn visit_i32<E: de::Error>(self, value: i32) -> Result<V::Value, E> {
        self.seen.no_map = true;
        self.inner.visit_i32(value)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<V::Value, E> {
        self.seen.no_map = true;
        self.inner.visit_i64(value)
    }

    fn visit_i128<E: de::Error>(self, value: i128) -> Result<V::Value, E> {
        self.seen.no_map = true;
        self.inner.visit_i128(value)
    }

    fn visit_u8<E: de::Error>(self, value: u8) -> Result<V::Value, E> {
        self.seen.no_map = true;
        self.inner.visit_u8(value)
    }

    fn visit_u16<E: de::Error>(self, value: u16) -> Result<V::Value, E> {
        self.seen.no_map = true;
        self.inner.visit_u16(value)
    }

    fn visit_u32<E: de::Error>(self, value: u32) -> Result<V::Value, E> {
        self.seen.no_map = true;
        self.inner.visit_u32(value)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<V::Value, E> {
        self.seen.no_map = true;
        self.inner.visit_u64(value)
    }

    fn visit_u128<E: de::Error>(self, value: u128) -> Result<V::Value, E> {
        self.seen.no_map = true;
        self.inner.visit_u128(value)
    }

    fn visit_f32<E: de::Error>(self, value: f32) -> Result<V::Value, E> {
        self.seen.no_map = true;
        self.inner.visit_f32(value)
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<V::Value, E> {
        self.seen.no_map = true;
        self.inner.visit_f64(value)
    }

    fn visit_char<E: de::Error>(self, value: char) -> Result<V::Value, E> {
        self.seen.no_map = true;
        self.inner.visit_char(value)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<V::Value, E> {
        self.seen.no_map = true;
        self.inner.visit_str(value)
    }

    fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<V::Value, E> {
        self.seen.no_map = true;
        self.inner.visit_borrowed_str(value)
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<V::Value, E> {
        self.seen.no_map = true;
        self.inner.visit_string(value)
    }

    fn visit_bytes<E: de::Error>(self, value: &[u8]) -> Result<V::Value, E> {
        self.seen.no_map = true;
        self.inner.visit_bytes(value)
    }

    fn visit_borrowed_bytes<E: de::Error>(self, value: &'de [u8]) -> Result<V::Value, E> {
        self.seen.no_map = true;
        self.inner.visit_borrowed_bytes(value)
    }

    fn visit_byte_buf<E: de::Error>(self, value: Vec<u8>) -> Result<V::Value, E> {
        self.seen.no_map = true;
        self.inner.visit_byte_buf(value)
    }
}

/// The top-level map, as the payload reads it: an envelope key's value goes through
/// [`ValueTap`].
struct TapMap<'s, A> {
    inner: A,
    seen: &'s mut Seen,
    /// The envelope field whose value comes next.
    pending: Option<Slot>,
}

/// What the key tap saw of a key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeySeen {
    /// No string was visited: the key could not be told.
    Untold,
    Other,
    Envelope(Slot),
    /// serde_json's private token of a `RawValue` or an arbitrary-precision number: the map
    /// is not the body's.
    Private,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for TapMap<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let mut told = KeySeen::Untold;
        let key = self.inner.next_key_seed(KeySeed {
            inner: seed,
            told: &mut told,
        })?;
        self.pending = None;
        if key.is_some() {
            match told {
                KeySeen::Envelope(slot) => {
                    // A repeated key: the last one wins, as in a map.
                    *self.seen.slot(slot).0 = None;
                    self.pending = Some(slot);
                }
                KeySeen::Other => {}
                KeySeen::Untold | KeySeen::Private => self.seen.unsure = true,
            }
        }
        Ok(key)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        match self.pending.take() {
            Some(slot) => {
                let (field, unsure) = self.seen.slot(slot);
                let mut visited = false;
                let value = self.inner.next_value_seed(ValueSeed {
                    inner: seed,
                    tap: Recorder {
                        field,
                        unsure,
                        visited: &mut visited,
                    },
                })?;
                if !visited {
                    *self.seen.slot(slot).1 = true;
                }
                Ok(value)
            }
            None => self.inner.next_value_seed(seed),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// Tells which key the payload is handed.
struct KeySeed<'t, S> {
    inner: S,
    told: &'t mut KeySeen,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for KeySeed<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.inner.deserialize(KeyTap {
            inner: deserializer,
            told: self.told,
        })
    }
}

struct KeyTap<'t, D> {
    inner: D,
    told: &'t mut KeySeen,
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for KeyTap<'_, D> {
    type Error = D::Error;

    forward_deserializer! {
        |tap: Self, visitor| (tap.inner, KeyVisitor { inner: visitor, told: tap.told });
        deserialize_any(), deserialize_bool(), deserialize_i8(), deserialize_i16(),
        deserialize_i32(), deserialize_i64(), deserialize_i128(), deserialize_u8(),
        deserialize_u16(), deserialize_u32(), deserialize_u64(), deserialize_u128(),
        deserialize_f32(), deserialize_f64(), deserialize_char(), deserialize_str(),
        deserialize_string(), deserialize_bytes(), deserialize_byte_buf(), deserialize_option(),
        deserialize_unit(), deserialize_unit_struct(name: &'static str),
        deserialize_newtype_struct(name: &'static str), deserialize_seq(),
        deserialize_tuple(len: usize), deserialize_tuple_struct(name: &'static str, len: usize),
        deserialize_map(),
        deserialize_struct(name: &'static str, fields: &'static [&'static str]),
        deserialize_enum(name: &'static str, variants: &'static [&'static str]),
        deserialize_identifier(), deserialize_ignored_any(),
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// Tells a key from the string it is visited with; any other visit is a key that is not an
/// envelope field (a number read from a key's digits).
struct KeyVisitor<'t, V> {
    inner: V,
    told: &'t mut KeySeen,
}

impl<V> KeyVisitor<'_, V> {
    fn tell(&mut self, key: &str) {
        *self.told = match Slot::of(key) {
            Some(slot) => KeySeen::Envelope(slot),
            None if key.starts_with("$serde_json::private::") => KeySeen::Private,
            None => KeySeen::Other,
        };
    }

    fn other(&mut self) {
        *self.told = KeySeen::Other;
    }
}

/// `visit_*` methods that tell the key is not an envelope field, then forward.
macro_rules! other_key_visits {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method<E: de::Error>(mut self, value: $ty) -> Result<Self::Value, E> {
            self.other();
            self.inner.$method(value)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for KeyVisitor<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    fn visit_str<E: de::Error>(mut self, key: &str) -> Result<V::Value, E> {
        self.tell(key);
        self.inner.visit_str(key)
    }

    fn visit_borrowed_str<E: de::Error>(mut self, key: &'de str) -> Result<V::Value, E> {
        self.tell(key);
        self.inner.visit_borrowed_str(key)
    }

    fn visit_string<E: de::Error>(mut self, key: String) -> Result<V::Value, E> {
        self.tell(&key);
        self.inner.visit_string(key)
    }

    other_key_visits!(
        visit_bool(bool),
        visit_i8(i8),
        visit_i16(i16),
        visit_i32(i32),
        visit_i64(i64),
        visit_i128(i128),
        visit_u8(u8),
        visit_u16(u16),
        visit_u32(u32),
        visit_u64(u64),
        visit_u128(u128),
        visit_f32(f32),
        visit_f64(f64),
        visit_char(char),
    );

    // A key read as bytes, a map, a sequence or an enum is left untold: the tap is unsure.
    forward_visits!(
        visit_bytes(&[u8]),
        visit_borrowed_bytes(&'de [u8]),
        visit_byte_buf(Vec<u8>),
    );

    fn visit_none<E: de::Error>(mut self) -> Result<V::Value, E> {
        self.other();
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(mut self) -> Result<V::Value, E> {
        self.other();
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.inner.visit_some(KeyTap {
            inner: deserializer,
            told: self.told,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<V::Value, D::Error> {
        self.inner.visit_newtype_struct(KeyTap {
            inner: deserializer,
            told: self.told,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.inner.visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(map)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.inner.visit_enum(data)
    }
}

/// Where an envelope field's string goes.
struct Recorder<'t> {
    field: &'t mut Option<Arc<str>>,
    unsure: &'t mut bool,
    visited: &'t mut bool,
}

/// Records the string an envelope key's value is read as.
struct ValueSeed<'t, S> {
    inner: S,
    tap: Recorder<'t>,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for ValueSeed<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.inner.deserialize(ValueTap {
            inner: deserializer,
            tap: self.tap,
        })
    }
}

struct ValueTap<'t, D> {
    inner: D,
    tap: Recorder<'t>,
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for ValueTap<'_, D> {
    type Error = D::Error;

    forward_deserializer! {
        |tap: Self, visitor| (tap.inner, ValueVisitor { inner: visitor, tap: tap.tap });
        deserialize_any(), deserialize_bool(), deserialize_i8(), deserialize_i16(),
        deserialize_i32(), deserialize_i64(), deserialize_i128(), deserialize_u8(),
        deserialize_u16(), deserialize_u32(), deserialize_u64(), deserialize_u128(),
        deserialize_f32(), deserialize_f64(), deserialize_char(), deserialize_str(),
        deserialize_string(), deserialize_bytes(), deserialize_byte_buf(), deserialize_option(),
        deserialize_unit(), deserialize_unit_struct(name: &'static str),
        deserialize_newtype_struct(name: &'static str), deserialize_seq(),
        deserialize_tuple(len: usize), deserialize_tuple_struct(name: &'static str, len: usize),
        deserialize_map(),
        deserialize_struct(name: &'static str, fields: &'static [&'static str]),
        deserialize_enum(name: &'static str, variants: &'static [&'static str]),
        deserialize_identifier(),
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        // Skipped unread (and unchecked): the envelope is read on its own.
        *self.tap.unsure = true;
        *self.tap.visited = true;
        self.inner.deserialize_ignored_any(visitor)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

struct ValueVisitor<'t, V> {
    inner: V,
    tap: Recorder<'t>,
}

impl<V> ValueVisitor<'_, V> {
    fn record(&mut self, text: &str) {
        *self.tap.visited = true;
        *self.tap.field = Some(Arc::from(text));
    }

    fn not_text(&mut self) {
        *self.tap.visited = true;
    }

    fn unsure(&mut self) {
        *self.tap.visited = true;
        *self.tap.unsure = true;
    }
}

/// `visit_*` methods of a value that is not a string: forwarded, nothing recorded.
macro_rules! not_text_visits {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method<E: de::Error>(mut self, value: $ty) -> Result<Self::Value, E> {
            self.not_text();
            self.inner.$method(value)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for ValueVisitor<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    fn visit_str<E: de::Error>(mut self, text: &str) -> Result<V::Value, E> {
        self.record(text);
        self.inner.visit_str(text)
    }

    fn visit_borrowed_str<E: de::Error>(mut self, text: &'de str) -> Result<V::Value, E> {
        self.record(text);
        self.inner.visit_borrowed_str(text)
    }

    fn visit_string<E: de::Error>(mut self, text: String) -> Result<V::Value, E> {
        self.record(&text);
        self.inner.visit_string(text)
    }

    not_text_visits!(
        visit_bool(bool),
        visit_i8(i8),
        visit_i16(i16),
        visit_i32(i32),
        visit_i64(i64),
        visit_i128(i128),
        visit_u8(u8),
        visit_u16(u16),
        visit_u32(u32),
        visit_u64(u64),
        visit_u128(u128),
        visit_f32(f32),
        visit_f64(f64),
        visit_char(char),
    );

    fn visit_none<E: de::Error>(mut self) -> Result<V::Value, E> {
        self.not_text();
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(mut self) -> Result<V::Value, E> {
        self.not_text();
        self.inner.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, seq: A) -> Result<V::Value, A::Error> {
        self.not_text();
        self.inner.visit_seq(seq)
    }

    // A string read as bytes, a `RawValue` (handed over as a map), a string read as an enum's
    // unit variant: the string is not seen for sure.
    fn visit_bytes<E: de::Error>(mut self, value: &[u8]) -> Result<V::Value, E> {
        self.unsure();
        self.inner.visit_bytes(value)
    }

    fn visit_borrowed_bytes<E: de::Error>(mut self, value: &'de [u8]) -> Result<V::Value, E> {
        self.unsure();
        self.inner.visit_borrowed_bytes(value)
    }

    fn visit_byte_buf<E: de::Error>(mut self, value: Vec<u8>) -> Result<V::Value, E> {
        self.unsure();
        self.inner.visit_byte_buf(value)
    }

    fn visit_map<A: MapAccess<'de>>(mut self, map: A) -> Result<V::Value, A::Error> {
        self.unsure();
        self.inner.visit_map(map)
    }

    fn visit_enum<A: EnumAccess<'de>>(mut self, data: A) -> Result<V::Value, A::Error> {
        self.unsure();
        self.inner.visit_enum(data)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.inner.visit_some(ValueTap {
            inner: deserializer,
            tap: self.tap,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<V::Value, D::Error> {
        self.inner.visit_newtype_struct(ValueTap {
            inner: deserializer,
            tap: self.tap,
        })
    }
}

/// The second pass, when the tap is unsure: the envelope fields, strings borrowed from the body
/// while it is read; every other value skipped.
struct Fallback<'de>(Envelope, std::marker::PhantomData<&'de ()>);

impl<'de> de::Deserialize<'de> for Fallback<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FallbackVisitor)
    }
}

struct FallbackVisitor;

impl<'de> Visitor<'de> for FallbackVisitor {
    type Value = Fallback<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fallback<'de>, A::Error> {
        let mut declared_type = None;
        let mut event = None;
        let mut event_id = None;
        while let Some(key) = map.next_key::<FallbackKey>()? {
            // A repeated key: the last one wins, as in a parsed payload.
            let field = match key.0 {
                Some(Slot::Type) => &mut declared_type,
                Some(Slot::Event) => &mut event,
                Some(Slot::EventId) => &mut event_id,
                None => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *field = map.next_value::<FallbackText<'de>>()?.0;
        }
        let shared = |text: Option<Cow<'_, str>>| text.map(|text| Arc::from(&*text));
        Ok(Fallback(
            Envelope::new(shared(declared_type), shared(event), shared(event_id)),
            std::marker::PhantomData,
        ))
    }
}

/// A key of the second pass: the envelope field it names, if any.
struct FallbackKey(Option<Slot>);

impl<'de> de::Deserialize<'de> for FallbackKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(FallbackKeyVisitor)
    }
}

struct FallbackKeyVisitor;

impl Visitor<'_> for FallbackKeyVisitor {
    type Value = FallbackKey;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<FallbackKey, E> {
        Ok(FallbackKey(Slot::of(key)))
    }
}

/// An envelope field's value in the second pass: its string, or `None` for any other JSON
/// value (read in full, as JSON, so that it is checked as a parsed payload would be).
struct FallbackText<'de>(Option<Cow<'de, str>>);

impl<'de> de::Deserialize<'de> for FallbackText<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FallbackTextVisitor)
    }
}

struct FallbackTextVisitor;

impl<'de> Visitor<'de> for FallbackTextVisitor {
    type Value = FallbackText<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<FallbackText<'de>, E> {
        Ok(FallbackText(Some(Cow::Borrowed(text))))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<FallbackText<'de>, E> {
        Ok(FallbackText(Some(Cow::Owned(text.to_owned()))))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<FallbackText<'de>, E> {
        Ok(FallbackText(None))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<FallbackText<'de>, E> {
        Ok(FallbackText(None))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<FallbackText<'de>, E> {
        Ok(FallbackText(None))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<FallbackText<'de>, E> {
        Ok(FallbackText(None))
    }

    fn visit_unit<E: de::Error>(self) -> Result<FallbackText<'de>, E> {
        Ok(FallbackText(None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<FallbackText<'de>, A::Error> {
        // Read in full as JSON (strings checked), like the `Value` it stands for.
        serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        Ok(FallbackText(None))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FallbackText<'de>, A::Error> {
        serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(FallbackText(None))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, dead_code)]

    use std::collections::HashMap;

    use proptest::prelude::*;
    use serde::de::DeserializeOwned;

    use super::*;

    /// The payload's parse of `body` through the tap: what the tap saw (`None` when unsure),
    /// or `None` when the payload does not parse.
    fn tapped<T: DeserializeOwned>(body: &str) -> Option<Option<Envelope>> {
        let mut seen = Seen::default();
        let mut deserializer = serde_json::Deserializer::from_str(body);
        T::deserialize(Top {
            inner: &mut deserializer,
            seen: &mut seen,
        })
        .ok()?;
        deserializer.end().ok()?;
        Some(seen.envelope())
    }

    /// Whenever the tap is sure, it saw what the second pass reads; `sure` says whether it
    /// must be.
    fn agrees<T: DeserializeOwned>(body: &str, sure: bool) {
        if let Some(seen) = tapped::<T>(body) {
            assert_eq!(
                seen.is_some(),
                sure,
                "{body} as {}",
                std::any::type_name::<T>()
            );
            if let Some(seen) = seen {
                assert_eq!(seen, Envelope::read(body.as_bytes()), "{body}");
            }
        }
    }

    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Typed {
        #[serde(rename = "type")]
        declared: Option<String>,
        event: Option<String>,
        event_id: Option<String>,
    }

    #[derive(serde::Deserialize)]
    struct DataOnly {
        #[allow(dead_code)]
        data: Option<serde_json::Value>,
    }

    #[derive(serde::Deserialize)]
    #[serde(tag = "type")]
    enum Tagged {
        #[serde(rename = "a.b")]
        Ab {},
    }

    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Bytes {
        #[serde(with = "serde_bytes_like")]
        event_id: Vec<u8>,
    }

    mod serde_bytes_like {
        pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(
            d: D,
        ) -> Result<Vec<u8>, D::Error> {
            struct V;
            impl serde::de::Visitor<'_> for V {
                type Value = Vec<u8>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                    Ok(v.to_vec())
                }
            }
            d.deserialize_bytes(V)
        }
    }

    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    enum Kind {
        #[serde(rename = "a.b")]
        Ab,
    }

    #[derive(serde::Deserialize)]
    struct EnumTyped {
        #[serde(rename = "type")]
        #[allow(dead_code)]
        kind: Kind,
    }

    /// `odd`: an envelope field of the body is an object (which could be a `RawValue`'s), so
    /// the tap is unsure.
    /// `enveloped`: the body has an envelope field at its top level.
    fn all_agree(body: &str, odd: bool, enveloped: bool) {
        agrees::<serde_json::Value>(body, !odd);
        #[cfg(feature = "amps")]
        agrees::<crate::AmpsEvent>(body, !odd);
        agrees::<Typed>(body, true);
        agrees::<Option<Typed>>(body, true);
        agrees::<HashMap<String, serde_json::Value>>(body, !odd);
        agrees::<Tagged>(body, !odd);
        agrees::<Vec<u8>>(body, true);
        // These skip, or read an envelope field as bytes or an enum: the tap is unsure.
        agrees::<IgnoredAny>(body, false);
        agrees::<Bytes>(body, false);
        agrees::<EnumTyped>(body, false);
        // Skipping `type`, `event` and `eventId` when they are present.
        agrees::<DataOnly>(body, !enveloped);
        agrees::<HashMap<String, IgnoredAny>>(body, !enveloped);
    }

    #[test]
    fn the_tap_agrees_with_the_second_pass() {
        for body in [
            r#"{"event":"push.completed","eventId":"evt_1","data":{"type":"inner"}}"#,
            r#"{"type":"a.b","event":"c","eventId":""}"#,
            r#"{"type":5,"event":"c","eventId":["x"]}"#,
            r#"{"type":"a.b","type":null}"#,
            r#"{"ev\u0065nt":"e\"scaped","eventId":"x"}"#,
            r#"{"data":{}}"#,
            "[1,2]",
            "null",
            "12",
            r#""text""#,
        ] {
            all_agree(
                body,
                false,
                body.starts_with("{\"type\"") || body.starts_with("{\"ev"),
            );
        }
        all_agree(r#"{"type":5,"event":"c","eventId":{"x":1}}"#, true, true);
        all_agree(r#"{"data":{"type":"x"}}"#, false, false);
    }

    const KEYS: &[&str] = &["type", "event", "eventId", "data", "other", "ev\\u0065nt"];
    const VALUES: &[&str] = &[
        r#""push.completed""#,
        r#""a.b""#,
        r#""""#,
        r#""e\"sc""#,
        "5",
        "null",
        "true",
        r#"{"type":"x","eventId":"y"}"#,
        r#"["a",{"event":"b"}]"#,
    ];

    proptest! {
        #[test]
        fn the_tap_agrees_on_any_object(
            entries in proptest::collection::vec((0..KEYS.len(), 0..VALUES.len()), 0..8)
        ) {
            let fields: Vec<String> = entries
                .iter()
                .map(|&(k, v)| format!("\"{}\":{}", KEYS[k], VALUES[v]))
                .collect();
            let odd = entries.iter().any(|&(k, v)| k != 3 && k != 4 && VALUES[v].starts_with('{'));
            let enveloped = entries.iter().any(|&(k, _)| k != 3 && k != 4);
            all_agree(&format!("{{{}}}", fields.join(",")), odd, enveloped);
        }
    }
}
