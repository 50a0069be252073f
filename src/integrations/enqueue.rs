//! The enqueue gate: what the axum route and the actix resource of queue mode share. It
//! verifies and parses a body read in full, stores the delivery as a job (dedup and store in
//! one step of the queue's backend), and gives the answer: 200 `{"queued":true}`, 200
//! `{"status":"duplicate"}`, 503 with `Retry-After` when the backend cannot answer (nothing
//! acknowledged that was not stored), or the rejection. No handler runs in the request.
//! The event goes back to the adapter with the answer, for a caller's hook that observes it.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::delivery::{Delivery, Outcome};
use super::gate::{DEFAULT_UNAVAILABLE_RETRY_AFTER, Early, retry_after_secs};
use super::rejection::{WebhookRejection, error_body};
use super::verified::check;
use crate::event::Event;
use crate::headers::Headers;
use crate::metrics;
use crate::queue::{Enqueue, JobState, Queue};
use crate::verify::Verifier;

/// The body of a 200 for a delivery stored as a job.
pub(crate) const QUEUED_BODY: &[u8] = br#"{"queued":true}"#;

/// The settings of an enqueueing route, shared by its clones.
#[derive(Debug)]
pub(crate) struct EnqueueGate {
    pub(crate) verifier: Verifier,
    pub(crate) queue: Queue,
    pub(crate) unavailable_retry_after: Duration,
}

impl EnqueueGate {
    pub(crate) fn shared(verifier: Verifier, queue: Queue) -> Arc<Self> {
        Arc::new(Self {
            verifier,
            queue,
            unavailable_retry_after: DEFAULT_UNAVAILABLE_RETRY_AFTER,
        })
    }

    /// The answer to a request with these headers and this body (read in full, or refused
    /// while read): verified, parsed as `Event<T>`, enqueued; with the event, when the body
    /// was one.
    pub(crate) async fn answer<T: DeserializeOwned + 'static, H: Headers + ?Sized>(
        &self,
        headers: &H,
        body: Result<bytes::Bytes, WebhookRejection>,
    ) -> (Early, Option<Event<T>>) {
        let event = match body.and_then(|body| check::<T, _>(&self.verifier, headers, &body)) {
            Ok(event) => event,
            Err(rejection) => return (Early::rejected(headers, &rejection), None),
        };
        let early = self.enqueue(&event, headers).await;
        (early, Some(event))
    }

    /// The answer once `event` is verified and parsed: stored, a duplicate, or unavailable.
    async fn enqueue<T, H: Headers + ?Sized>(&self, event: &Event<T>, headers: &H) -> Early {
        match self.queue.enqueue(event, headers).await {
            Ok(Enqueue::Enqueued) => Early {
                status: 200,
                retry_after: None,
                body: QUEUED_BODY.to_vec(),
                delivery: record(event, Outcome::Queued, 200, None),
            },
            Ok(Enqueue::Duplicate { state }) => Early {
                status: 200,
                retry_after: None,
                body: br#"{"status":"duplicate"}"#.to_vec(),
                delivery: record(
                    event,
                    Outcome::Duplicate,
                    200,
                    Some(duplicate_reason(state).to_owned()),
                ),
            },
            Err(error) => {
                // The backend's error goes to the log (the queue logged it), not to the sender.
                let reason = "the queue is unavailable; retry later";
                Early {
                    status: 503,
                    retry_after: Some(retry_after_secs(self.unavailable_retry_after)),
                    body: error_body("store_unavailable", reason),
                    delivery: record(
                        event,
                        Outcome::Unavailable,
                        503,
                        Some(format!("{reason}: {error}")),
                    ),
                }
            }
        }
    }
}

/// Why a duplicate was not enqueued again, by the state of the job its key already has.
fn duplicate_reason(state: JobState) -> &'static str {
    match state {
        JobState::Pending => "already queued; not enqueued again",
        JobState::Running => "already being worked on; not enqueued again",
        JobState::Done => "already processed; not enqueued again",
        JobState::Dead => "already dead-lettered (redrive it to run it again); not enqueued again",
    }
}

/// The record of a delivery of `event` answered `status` (counted).
fn record<T>(event: &Event<T>, outcome: Outcome, status: u16, reason: Option<String>) -> Delivery {
    metrics::delivery(outcome.as_str(), event.event_type());
    Delivery {
        id: Some(Arc::clone(event.id().shared())),
        event_type: event.shared_event_type().cloned(),
        key: Some(Arc::clone(event.shared_idempotency_key())),
        outcome,
        status,
        reason,
    }
}
