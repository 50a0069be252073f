//! `listen --enqueue`: the route that verifies and parses each delivery, enqueues it (the
//! queue deduplicates on its idempotency key in the same step) and answers 200 at once: the
//! job is left for a worker. A duplicate gets 200 too, a queue that cannot answer 503 with
//! `Retry-After` (nothing acknowledged that was not stored), a rejection its status.

use amps_webhooks::integrations::{VerifiedEvent, WebhookRejection};
use amps_webhooks::queue::{Enqueue, JobState, Queue};
use amps_webhooks::{AmpsEvent, MAX_ID_LEN, Verifier};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use serde_json::json;

use crate::report::Recorded;

/// The `Retry-After` of a 503 when the queue cannot answer, in seconds.
const UNAVAILABLE_RETRY_AFTER_S: u32 = 5;

/// The enqueueing route, on the router whose state is the [`Verifier`].
pub(crate) fn route(queue: Queue) -> MethodRouter<Verifier> {
    post(
        move |headers: HeaderMap, event: Result<VerifiedEvent<AmpsEvent>, WebhookRejection>| {
            let queue = queue.clone();
            async move { enqueue(&queue, &headers, event).await }
        },
    )
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.to_string(),
    )
        .into_response()
}

async fn enqueue(
    queue: &Queue,
    headers: &HeaderMap,
    event: Result<VerifiedEvent<AmpsEvent>, WebhookRejection>,
) -> Response {
    let event = match event {
        Ok(VerifiedEvent(event)) => event,
        Err(rejection) => {
            let recorded = Recorded {
                id: request_id(headers),
                event_type: None,
                key: None,
                outcome: "rejected",
                status: rejection.status(),
                reason: Some(rejection.to_string()),
            };
            let mut response = rejection.into_response();
            response.extensions_mut().insert(recorded);
            return response;
        }
    };
    let mut recorded = Recorded {
        id: Some(event.id().as_str().to_owned()),
        event_type: Some(event.payload().event_type().to_owned()),
        key: Some(event.idempotency_key().to_owned()),
        outcome: "queued",
        status: 200,
        reason: None,
    };
    let mut response = match queue.enqueue(&event, headers).await {
        Ok(Enqueue::Enqueued) => json_response(
            StatusCode::OK,
            &json!({ "status": "queued", "id": event.id().as_str() }),
        ),
        Ok(Enqueue::Duplicate { state }) => {
            recorded.outcome = "duplicate";
            recorded.reason = Some(duplicate_reason(state).to_owned());
            json_response(StatusCode::OK, &json!({ "status": "duplicate" }))
        }
        Err(error) => {
            let reason = "the queue is unavailable; retry later";
            recorded.outcome = "unavailable";
            recorded.status = 503;
            // The store's error (an address, a timeout) goes to the line, not to the sender.
            recorded.reason = Some(format!("{reason}: {error}"));
            let mut response = json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({ "error": "store_unavailable", "reason": reason }),
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(UNAVAILABLE_RETRY_AFTER_S),
            );
            response
        }
    };
    response.extensions_mut().insert(recorded);
    response
}

/// Why a duplicate was not enqueued again, by the state of the job its key already has.
fn duplicate_reason(state: JobState) -> &'static str {
    match state {
        JobState::Pending => "already queued; not enqueued again",
        JobState::Running => "already being worked on; not enqueued again",
        JobState::Done => "already processed; not enqueued again",
        JobState::Dead => "already dead-lettered (see `inbox dead`); not enqueued again",
    }
}

/// The request's `webhook-id` (or `svix-id`) for a rejection's line, when it is one the
/// verifier would accept: 1 to [`MAX_ID_LEN`] printable ASCII characters, without `.`.
fn request_id(headers: &HeaderMap) -> Option<String> {
    let mut values = headers
        .get_all("webhook-id")
        .iter()
        .chain(headers.get_all("svix-id").iter());
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let bytes = value.as_bytes();
    let valid = !bytes.is_empty()
        && bytes.len() <= MAX_ID_LEN
        && bytes.iter().all(|&b| b.is_ascii_graphic() && b != b'.');
    valid.then(|| String::from_utf8_lossy(bytes).into_owned())
}
