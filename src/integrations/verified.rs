//! The extractor's type, [`VerifiedEvent`]; the check both extractors and the gate run on a
//! body read in full (verify, then parse); and [`Prechecked`], the hand-over of an event the
//! middleware already verified to the extractor behind it.

use std::sync::{Mutex, PoisonError};

use serde::de::DeserializeOwned;

use super::WebhookRejection;
use super::rejection::log_rejection;
use crate::event::Event;
use crate::headers::Headers;
use crate::metrics;
use crate::verify::Verifier;

/// A verified, parsed webhook event, as a handler's argument: the extractor of
/// [`axum`](super::axum) and [`actix`](super::actix).
///
/// It reads the raw body under the [`Verifier`]'s limit, verifies it and parses it into
/// `Event<T>`; behind the deduplicating middleware it takes the event the middleware already
/// verified, so the body is verified once per request. It derefs to [`Event<T>`].
#[derive(Debug, Clone)]
pub struct VerifiedEvent<T = crate::AmpsEvent>(pub Event<T>);

impl<T> VerifiedEvent<T> {
    /// The event.
    #[must_use]
    pub fn into_inner(self) -> Event<T> {
        self.0
    }
}

impl<T> std::ops::Deref for VerifiedEvent<T> {
    type Target = Event<T>;

    fn deref(&self) -> &Event<T> {
        &self.0
    }
}

/// Verifies and parses a body read in full; the event keeps `body` itself, not a copy.
pub(crate) fn check<T: DeserializeOwned + 'static, H: Headers + ?Sized>(
    verifier: &Verifier,
    headers: &H,
    body: &bytes::Bytes,
) -> Result<Event<T>, WebhookRejection> {
    let timer = metrics::Timer::start();
    let verified = verifier.verify(headers, body);
    metrics::verified(timer);
    let verified = verified?;
    #[cfg(feature = "metrics")]
    metrics::arrival(verified.received_at(), verified.timestamp().as_unix());
    Ok(Event::from_verified_shared(
        verified.id(),
        verified.timestamp(),
        body,
    )?)
}

/// What an extractor answers for a body read in full, or not: the event, or the rejection,
/// logged.
pub(crate) fn extracted<T: DeserializeOwned + 'static, H: Headers + ?Sized>(
    verifier: &Verifier,
    headers: &H,
    body: Result<bytes::Bytes, WebhookRejection>,
) -> Result<VerifiedEvent<T>, WebhookRejection> {
    body.and_then(|body| check::<T, _>(verifier, headers, &body))
        .map(VerifiedEvent)
        .inspect_err(|rejection| {
            log_rejection(headers, rejection);
            metrics::rejected(rejection.code());
        })
}

/// An event verified by the middleware, handed to the extractor through the request's
/// extensions, which the extractor removes it from (taken once).
///
/// The mutex makes it `Sync` for `Send` payloads without asking `T: Sync`; it is never locked.
/// A clone is empty: a copy of the request's extensions does not carry the event, so an
/// extractor given such a copy reads and verifies the body itself.
pub(crate) struct Prechecked<T>(Mutex<Option<Event<T>>>);

impl<T> Prechecked<T> {
    pub(crate) fn new(event: Event<T>) -> Self {
        Self(Mutex::new(Some(event)))
    }

    /// The event; `None` for a clone.
    pub(crate) fn into_event(self) -> Option<Event<T>> {
        self.0.into_inner().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T> Clone for Prechecked<T> {
    fn clone(&self) -> Self {
        Self(Mutex::new(None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prechecked_event_is_handed_over_and_a_clone_is_empty() {
        let body = bytes::Bytes::from_static(br#"{"eventId":"evt_1","type":"x.y"}"#);
        let event = Event::<serde_json::Value>::from_verified_shared(
            "msg_1",
            crate::WebhookTimestamp::from_unix(1_700_000_000),
            &body,
        )
        .unwrap();
        let prechecked = Prechecked::new(event);
        assert!(prechecked.clone().into_event().is_none());
        // Taken once: the extractor removes it from the request's extensions.
        #[cfg(feature = "axum")]
        let prechecked = {
            let mut extensions = http::Extensions::new();
            extensions.insert(prechecked);
            let taken = extensions.remove::<Prechecked<serde_json::Value>>();
            assert!(
                extensions
                    .remove::<Prechecked<serde_json::Value>>()
                    .is_none()
            );
            taken.unwrap()
        };
        assert_eq!(
            prechecked
                .into_event()
                .map(|e| e.idempotency_key().to_owned()),
            Some("evt_1".to_owned())
        );
    }
}
