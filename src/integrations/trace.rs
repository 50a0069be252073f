//! The `tracing` span of a delivery, `amps_webhooks.delivery`, with OpenTelemetry's semantic
//! convention names for its fields, so that a tracing-opentelemetry subscriber exports useful
//! traces as they are:
//!
//! | field | value |
//! |---|---|
//! | `http.request.method` | `POST` |
//! | `http.route` | the route's pattern, when the framework knows it (axum's `MatchedPath`, actix's match pattern) |
//! | `http.response.status_code` | the status answered, recorded at the end |
//! | `messaging.message.id` | the `webhook-id` (or `svix-id`), when present and well formed |
//! | `amps_webhooks.event.type` | the type the body names (its `type` or `event` field), once verified |
//! | `amps_webhooks.outcome` | what became of the delivery ([`Outcome`](super::Outcome)'s name) |
//!
//! No field holds the body, a header's value other than the id, the idempotency key or a
//! secret. The deduplicating middleware opens one span per `POST` and runs the handler in it; the
//! bare extractor opens one over its own work (reading, verifying, parsing: the handler's
//! answer is not its to know, so it records a status and an outcome only when it refuses).

use tracing::Span;
use tracing::field::Empty;

use super::Delivery;
use super::WebhookRejection;
use crate::event::Event;
use crate::headers::Headers;

/// The span of one delivery by `method`, its route recorded when `route` gives one (called
/// only when the span is enabled, so an unwatched request computes nothing).
pub(crate) fn delivery_span<R: AsRef<str>>(
    method: &str,
    route: impl FnOnce() -> Option<R>,
) -> Span {
    let span = tracing::info_span!(
        "amps_webhooks.delivery",
        "http.request.method" = method,
        "http.route" = Empty,
        "http.response.status_code" = Empty,
        "messaging.message.id" = Empty,
        "amps_webhooks.event.type" = Empty,
        "amps_webhooks.outcome" = Empty,
    );
    if !span.is_disabled()
        && let Some(route) = route()
    {
        span.record("http.route", route.as_ref());
    }
    span
}

/// Records what became of the delivery: its id, type, status and outcome.
pub(crate) fn answered(span: &Span, delivery: &Delivery) {
    if span.is_disabled() {
        return;
    }
    if let Some(id) = delivery.id() {
        span.record("messaging.message.id", id);
    }
    if let Some(event_type) = delivery.event_type() {
        span.record("amps_webhooks.event.type", event_type);
    }
    span.record("http.response.status_code", delivery.status());
    span.record("amps_webhooks.outcome", delivery.outcome().as_str());
}

/// Records what the bare extractor found: the event's id and type, or the rejection (its
/// status, the `rejected` outcome and the request's id when it is well formed).
pub(crate) fn extracted<T, H: Headers + ?Sized>(
    span: &Span,
    headers: &H,
    result: Result<&Event<T>, &WebhookRejection>,
) {
    if span.is_disabled() {
        return;
    }
    match result {
        Ok(event) => {
            span.record("messaging.message.id", event.id().as_str());
            if let Some(event_type) = event.event_type() {
                span.record("amps_webhooks.event.type", event_type);
            }
        }
        Err(rejection) => answered(span, &Delivery::rejected(headers, rejection)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_is_not_computed_for_a_disabled_span() {
        // No subscriber: the span is disabled and the route closure never runs.
        let span = delivery_span::<&str>("POST", || unreachable!("computed for a disabled span"));
        assert!(span.is_disabled());
    }
}
