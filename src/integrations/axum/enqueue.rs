//! The axum routes of queue mode (feature `queue`): verify, parse and enqueue each delivery,
//! answer at once ([`enqueue_route`], [`enqueue_route_typed`]), and let a caller's hook see
//! each event with its answer ([`enqueue_route_observed`]). The enqueue gate decides; this
//! file reads the body and makes the response.

use axum::extract::Request;
use axum::response::Response;
use serde::de::DeserializeOwned;

use super::{early_response, read_body};
use crate::Event;
use crate::integrations::enqueue::EnqueueGate;
use crate::queue::Queue;
use crate::verify::Verifier;

/// The route of queue mode (feature `queue`): it reads the body under the verifier's limit,
/// verifies it, parses it as an [`AmpsEvent`](crate::AmpsEvent) and stores it as a job in
/// `queue`, then answers at once; a [`Worker`](crate::queue::Worker) runs the handler later.
/// No handler runs in the request:
///
/// - stored: 200 `{"queued":true}`;
/// - its key already has a job (pending, running, dead, or done within the retention): 200
///   `{"status":"duplicate"}`, nothing stored;
/// - the queue's backend cannot answer: 503 with `Retry-After` (5 s), nothing acknowledged
///   that was not stored;
/// - refused by the verifier or the parser: the [`WebhookRejection`](crate::integrations::WebhookRejection)'s status (401, 400,
///   413); any method but `POST`: 405 with `Allow: POST`.
///
/// Every answer carries a [`Delivery`](crate::integrations::Delivery) in its extensions
/// ([`Outcome::Queued`](crate::integrations::Outcome::Queued) when stored). For another payload type use [`enqueue_route_typed`].
///
/// ```no_run
/// use std::sync::Arc;
///
/// use amps_webhooks::Verifier;
/// use amps_webhooks::integrations::axum::enqueue_route;
/// use amps_webhooks::queue::{MemoryQueue, Queue};
/// use axum::Router;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let verifier = Verifier::new(std::env::var("WEBHOOK_SECRET")?.parse()?);
/// let queue = Queue::new(Arc::new(MemoryQueue::new()), "amps")?;
/// let app: Router = Router::new().route("/webhooks", enqueue_route(verifier, queue));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// axum::serve(listener, app).await?;
/// # Ok(())
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "queue")))]
pub fn enqueue_route<S>(verifier: Verifier, queue: Queue) -> axum::routing::MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    enqueue_route_typed::<crate::AmpsEvent, S>(verifier, queue)
}

/// [`enqueue_route`] for bodies parsed as `Event<T>` (`enqueue_route_typed::<MyEvent, _>(..)`):
/// a body that is not a `T` is refused 400, never queued.
#[cfg_attr(docsrs, doc(cfg(feature = "queue")))]
pub fn enqueue_route_typed<T, S>(verifier: Verifier, queue: Queue) -> axum::routing::MethodRouter<S>
where
    T: DeserializeOwned + Send + Sync + 'static,
    S: Clone + Send + Sync + 'static,
{
    enqueue_route_observed::<T, S, _>(verifier, queue, |_: &Event<T>, _: &mut Response| {})
}

/// [`enqueue_route_typed`] with a hook: `observe` is called with each verified, parsed event
/// and its answer, once the queue has answered (stored, a duplicate, or unavailable: the
/// answer's [`Delivery`](crate::integrations::Delivery) says which) and before the answer is sent. A request refused before
/// it was an event (401, 400, 413) does not reach it. The hook may read the event and add to
/// the answer (an extension for an outer middleware, a header); it cannot fail, and it runs
/// in the request, so it should be quick. The answer's status and body are the route's.
///
/// ```no_run
/// use std::sync::Arc;
///
/// use amps_webhooks::integrations::axum::enqueue_route_observed;
/// use amps_webhooks::queue::{MemoryQueue, Queue};
/// use amps_webhooks::{AmpsEvent, Event, Verifier};
/// use axum::{Router, response::Response};
///
/// /// The type as `AmpsEvent` read it, for a middleware's log line (a bare body has no
/// /// `type` field for the route's `Delivery` to hold).
/// #[derive(Clone)]
/// struct ParsedType(String);
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let verifier = Verifier::new(std::env::var("WEBHOOK_SECRET")?.parse()?);
/// let queue = Queue::new(Arc::new(MemoryQueue::new()), "amps")?;
/// let observe = |event: &Event<AmpsEvent>, answer: &mut Response| {
///     let parsed = ParsedType(event.payload().event_type().to_owned());
///     answer.extensions_mut().insert(parsed);
/// };
/// let route = enqueue_route_observed::<AmpsEvent, (), _>(verifier, queue, observe);
/// let app: Router = Router::new().route("/webhooks", route);
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "queue")))]
pub fn enqueue_route_observed<T, S, F>(
    verifier: Verifier,
    queue: Queue,
    observe: F,
) -> axum::routing::MethodRouter<S>
where
    T: DeserializeOwned + Send + Sync + 'static,
    S: Clone + Send + Sync + 'static,
    F: Fn(&Event<T>, &mut Response) + Clone + Send + Sync + 'static,
{
    let gate = EnqueueGate::shared(verifier, queue);
    axum::routing::post(move |request: Request| async move {
        let (parts, body) = request.into_parts();
        let limit = gate.verifier.max_body_bytes();
        let body = read_body(&parts.headers, body, limit).await;
        let (early, event) = gate.answer::<T, _>(&parts.headers, body).await;
        let mut response = early_response(early);
        if let Some(event) = event {
            observe(&event, &mut response);
        }
        response
    })
}
