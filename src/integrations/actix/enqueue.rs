//! The actix-web resources of queue mode (feature `queue`): verify, parse and enqueue each
//! delivery, answer at once ([`enqueue_resource`], [`enqueue_resource_typed`]), and let a
//! caller's hook see each event with its answer ([`enqueue_resource_observed`]). The enqueue
//! gate decides; this file reads the payload and makes the response.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::de::DeserializeOwned;

use super::{early_http_response, read_payload};
use crate::Event;
use crate::integrations::enqueue::EnqueueGate;
use crate::queue::Queue;
use crate::verify::Verifier;

/// The resource of queue mode (feature `queue`) at `path`: the actix twin of
/// [`enqueue_route`](crate::integrations::axum::enqueue_route), with the same statuses. It
/// reads the payload under the verifier's limit, verifies it, parses it as an
/// [`AmpsEvent`](crate::AmpsEvent), stores it as a job in `queue` and answers at once (200
/// `{"queued":true}`; 200 `{"status":"duplicate"}` when its key already has a job; 503 with
/// `Retry-After` when the queue's backend cannot answer; the
/// [`WebhookRejection`](crate::integrations::WebhookRejection)'s status when refused; 405 with
/// `Allow: POST` for any other method). No handler runs in the request; a
/// [`Worker`](crate::queue::Worker) runs it later. Every answer carries a
/// [`Delivery`](crate::integrations::Delivery) in its extensions. For another payload type use
/// [`enqueue_resource_typed`].
///
/// ```no_run
/// use std::sync::Arc;
///
/// use actix_web::{App, HttpServer};
/// use amps_webhooks::Verifier;
/// use amps_webhooks::integrations::actix::enqueue_resource;
/// use amps_webhooks::queue::{MemoryQueue, Queue};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let verifier = Verifier::new(std::env::var("WEBHOOK_SECRET")?.parse()?);
/// let queue = Queue::new(Arc::new(MemoryQueue::new()), "amps")?;
/// HttpServer::new(move || {
///     App::new().service(enqueue_resource("/webhooks", verifier.clone(), queue.clone()))
/// })
/// .bind(("127.0.0.1", 8080))?
/// .run()
/// .await?;
/// # Ok(())
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "queue")))]
pub fn enqueue_resource(path: &str, verifier: Verifier, queue: Queue) -> actix_web::Resource {
    enqueue_resource_typed::<crate::AmpsEvent>(path, verifier, queue)
}

/// [`enqueue_resource`] for bodies parsed as `Event<T>`: a body that is not a `T` is refused
/// 400, never queued.
#[cfg_attr(docsrs, doc(cfg(feature = "queue")))]
pub fn enqueue_resource_typed<T: DeserializeOwned + 'static>(
    path: &str,
    verifier: Verifier,
    queue: Queue,
) -> actix_web::Resource {
    enqueue_resource_observed::<T, _>(
        path,
        verifier,
        queue,
        |_: &Event<T>, _: &mut HttpResponse| {},
    )
}

/// [`enqueue_resource_typed`] with a hook, the twin of axum's
/// [`enqueue_route_observed`](crate::integrations::axum::enqueue_route_observed): `observe` is
/// called with each verified, parsed event and its answer, once the queue has answered
/// (stored, a duplicate, or unavailable: the answer's
/// [`Delivery`](crate::integrations::Delivery) says which) and before the answer is sent. A
/// request refused before it was parsed has no event, and the hook is not called. It may add
/// to the answer (an extension, a header); it cannot fail, and it runs in the request, so it
/// should be quick. The answer's status and body are the resource's.
///
/// ```no_run
/// use std::sync::Arc;
///
/// use actix_web::{App, HttpResponse, HttpServer};
/// use actix_web::http::header::{HeaderName, HeaderValue};
/// use amps_webhooks::integrations::actix::enqueue_resource_observed;
/// use amps_webhooks::queue::{MemoryQueue, Queue};
/// use amps_webhooks::{AmpsEvent, Event, Verifier};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let verifier = Verifier::new(std::env::var("WEBHOOK_SECRET")?.parse()?);
/// let queue = Queue::new(Arc::new(MemoryQueue::new()), "amps")?;
/// // The type as `AmpsEvent` read it, for a proxy's log line.
/// let observe = |event: &Event<AmpsEvent>, answer: &mut HttpResponse| {
///     if let Ok(value) = HeaderValue::from_str(event.payload().event_type()) {
///         answer.headers_mut().insert(HeaderName::from_static("x-event-type"), value);
///     }
/// };
/// HttpServer::new(move || {
///     let (verifier, queue) = (verifier.clone(), queue.clone());
///     App::new().service(enqueue_resource_observed("/webhooks", verifier, queue, observe))
/// })
/// .bind(("127.0.0.1", 8080))?
/// .run()
/// .await?;
/// # Ok(())
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "queue")))]
pub fn enqueue_resource_observed<T, F>(
    path: &str,
    verifier: Verifier,
    queue: Queue,
    observe: F,
) -> actix_web::Resource
where
    T: DeserializeOwned + 'static,
    F: Fn(&Event<T>, &mut HttpResponse) + Clone + 'static,
{
    let gate = EnqueueGate::shared(verifier, queue);
    web::resource(path).route(
        web::post().to(move |req: HttpRequest, payload: web::Payload| {
            let gate = Arc::clone(&gate);
            let observe = observe.clone();
            async move {
                let limit = gate.verifier.max_body_bytes();
                let body = read_payload(req.headers(), payload.into_inner(), limit).await;
                let (early, event) = gate.answer::<T, _>(req.headers(), body).await;
                let mut response = early_http_response(early);
                if let Some(event) = event {
                    observe(&event, &mut response);
                }
                response
            }
        }),
    )
}
