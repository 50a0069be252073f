//! The Amps platform's events: [`AmpsEvent`](crate::AmpsEvent) (defined in `event`), the
//! payload types of each known event (`payload`), and their one-pass deserializers (`de`),
//! read from every body shape the platform uses:
//!
//! - the envelope `{event, eventId, timestamp, data}`;
//! - the Standard Webhooks names `{type, timestamp, data}`;
//! - the bare event object, typed by its shape: `result` + `completedAt` is a completed push,
//!   `error` or `errorCode` + `failedAt` is a failed push.
//!
//! Unknown fields are kept in each payload's `extra` map, never rejected. An unknown event type,
//! or a bare object whose type cannot be told, is
//! [`AmpsEvent::Unknown`](crate::AmpsEvent::Unknown), never an error.
//!
//! Payload timestamps are [`jiff::Timestamp`]s (RFC 3339 on the wire); the crate is re-exported
//! here as [`jiff`], so that a receiver names the same version.
//!
//! ```
//! use amps_webhooks::AmpsEvent;
//! use amps_webhooks::amps::jiff::Timestamp;
//!
//! let body = r#"{"type":"push.completed","data":{"actionId":"act_1","deviceId":"dev_1",
//!   "result":{"success":true},"completedAt":"2026-05-08T22:00:05Z"}}"#;
//! let event: AmpsEvent = serde_json::from_str(body)?;
//! let AmpsEvent::PushCompleted(push) = &event else { panic!("not a completed push") };
//! assert_eq!(push.completed_at, "2026-05-08T22:00:05Z".parse::<Timestamp>()?);
//! // The Standard Webhooks body of the event parses back to the same event.
//! let again: AmpsEvent = serde_json::from_value(serde_json::to_value(event.as_body())?)?;
//! assert_eq!(again, event);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// Untrusted input flows through this module: no indexing, unchecked arithmetic, unwrap or
// expect that could panic on it (tests may).
#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod de;
/// Defines [`AmpsEvent`](crate::AmpsEvent), whose one public path is the crate root.
pub(crate) mod event;
mod payload;

#[cfg(test)]
mod envelope_tests;
#[cfg(test)]
mod roundtrip;
#[cfg(test)]
mod tests;

pub use event::Body;
pub use jiff;
pub use payload::{
    DeviceDisconnected, DeviceEvent, Failure, PushCompleted, PushError, PushFailed, PushResult,
};
