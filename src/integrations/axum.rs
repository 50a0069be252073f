//! axum 0.8: the [`VerifiedEvent`] extractor and the deduplicating [`WebhookLayer`].
//!
//! The extractor takes its [`Verifier`] from the router's state (through [`FromRef`]); the
//! layer verifies, parses and claims the event before the handler, and completes the claim when
//! the handler answers 2xx or releases it otherwise. Behind the layer the extractor takes the
//! event the layer parsed, so a body is verified once per request.
//!
//! Queue mode's routes (feature `queue`: `enqueue_route`, `enqueue_route_typed`,
//! `enqueue_route_observed`) are in `axum/enqueue.rs`.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use amps_webhooks::integrations::VerifiedEvent;
//! use amps_webhooks::integrations::axum::WebhookLayer;
//! use amps_webhooks::store::{Deduplicator, MemoryStore};
//! use amps_webhooks::{AmpsEvent, Verifier};
//! use axum::{Router, routing::post};
//!
//! async fn handle(VerifiedEvent(event): VerifiedEvent<AmpsEvent>) -> &'static str {
//!     println!("{} {}", event.id(), event.payload().event_type());
//!     "ok"
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = Verifier::new(std::env::var("WEBHOOK_SECRET")?.parse()?);
//! let dedup = Deduplicator::new(Arc::new(MemoryStore::new(100_000)), "amps")?;
//! let app = Router::new()
//!     .route("/webhooks", post(handle).layer(WebhookLayer::new(verifier.clone(), dedup)))
//!     .with_state(verifier);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```

use std::convert::Infallible;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRef, FromRequest, MatchedPath, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::BodyExt as _;
use serde::de::DeserializeOwned;
use tracing::Instrument as _;

use super::body::BodyReader;
use super::gate::{Early, Gate};
use super::trace;
use super::verified::{Prechecked, extracted};
use super::{Delivery, VerifiedEvent, WebhookRejection};
use crate::metrics::Timer;
use crate::store::{BoxFuture, Deduplicator};
use crate::verify::Verifier;

#[cfg(feature = "queue")]
mod enqueue;
#[cfg(feature = "queue")]
pub use enqueue::{enqueue_route, enqueue_route_observed, enqueue_route_typed};

impl<S, T> FromRequest<S> for VerifiedEvent<T>
where
    T: DeserializeOwned + Send + 'static,
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = WebhookRejection;

    async fn from_request(mut req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(event) = req
            .extensions_mut()
            .remove::<Prechecked<T>>()
            .and_then(Prechecked::into_event)
        {
            return Ok(Self(event));
        }
        let span = trace::delivery_span(req.method().as_str(), || matched_path(req.extensions()));
        let verifier = Verifier::from_ref(state);
        let (parts, body) = req.into_parts();
        let result = async {
            let body = read_body(&parts.headers, body, verifier.max_body_bytes()).await;
            extracted(&verifier, &parts.headers, body)
        }
        .instrument(span.clone())
        .await;
        trace::extracted(&span, &parts.headers, result.as_ref().map(|event| &event.0));
        result
    }
}

impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let mut response = (status, json_headers(), self.json_body()).into_response();
        // The headers are gone by now; the id is filled in by the layer, which still has them.
        response
            .extensions_mut()
            .insert(Delivery::of_rejection(&self));
        response
    }
}

/// The route's pattern, as the router matched it.
fn matched_path(extensions: &axum::http::Extensions) -> Option<&str> {
    extensions.get::<MatchedPath>().map(MatchedPath::as_str)
}

fn json_headers() -> [(header::HeaderName, HeaderValue); 1] {
    [(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    )]
}

/// Reads the whole body, refusing it once it is over `limit` bytes: at once when its
/// `Content-Length` says so, else as soon as more than `limit` bytes arrived.
async fn read_body(
    headers: &axum::http::HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, WebhookRejection> {
    let mut buffer = BodyReader::start(headers, limit)?;
    let mut body = body;
    // A body that knows it has ended (its `Content-Length` all read) is not polled again: that
    // poll would wait for the connection to close the body's channel.
    while !axum::body::HttpBody::is_end_stream(&body)
        && let Some(frame) = body.frame().await
    {
        let frame = frame.map_err(|error| WebhookRejection::BodyRead(Box::new(error)))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        buffer.push(data)?;
    }
    Ok(buffer.finish())
}

/// A tower [`Layer`](tower_layer::Layer) that runs the wrapped webhook route at most once per
/// event.
///
/// For each request it reads the body under the verifier's limit, verifies it, parses it as
/// `Event<T>` and claims the event's [`idempotency_key`](crate::Event::idempotency_key):
///
/// - claim acquired: runs the route, completes the claim when it answers 2xx, releases it
///   otherwise (its status is the answer, so the sender retries and the retry runs it);
/// - completed before: 200 `{"status":"duplicate"}`, the route not run;
/// - in flight elsewhere: 409 with `Retry-After` (the other claim's lease);
/// - store unavailable: 503 with `Retry-After` (fail closed);
/// - refused by the verifier or the parser: the [`WebhookRejection`]'s status.
///
/// Every answer carries a [`Delivery`] in its extensions. A request whose method is not `POST`
/// is not a delivery: it goes to the route untouched (not read, verified, claimed or logged,
/// and without a [`Delivery`]), so the route answers it: 405 with `Allow: POST` for
/// `post(handler)`, whether the layer is put on with `.layer(...)` (which wraps the method
/// router's 405 fallback too) or `.route_layer(...)`.
///
/// Put it on the route (`post(handler).layer(...)`), with the handler taking
/// [`VerifiedEvent<T>`] of the same `T`.
pub struct WebhookLayer<T = crate::AmpsEvent> {
    gate: Arc<Gate>,
    _event: PhantomData<fn() -> T>,
}

impl WebhookLayer {
    /// A layer for [`AmpsEvent`](crate::AmpsEvent)s that verifies with `verifier` and
    /// deduplicates with `dedup`. For another payload type use [`typed`](Self::typed).
    #[must_use]
    pub fn new(verifier: Verifier, dedup: Deduplicator) -> Self {
        Self::typed(verifier, dedup)
    }
}

impl<T> WebhookLayer<T> {
    /// A layer that parses bodies as `Event<T>` (`WebhookLayer::<MyEvent>::typed(...)`), for
    /// handlers taking `VerifiedEvent<T>`.
    #[must_use]
    pub fn typed(verifier: Verifier, dedup: Deduplicator) -> Self {
        Self {
            gate: Gate::shared(verifier, dedup),
            _event: PhantomData,
        }
    }

    /// The `Retry-After` of a 503 when the store cannot answer (default 5 s, rounded up to
    /// whole seconds).
    #[must_use]
    pub fn unavailable_retry_after(self, after: Duration) -> Self {
        Self {
            gate: self.gate.with_unavailable_retry_after(after),
            _event: PhantomData,
        }
    }
}

impl<T> Clone for WebhookLayer<T> {
    fn clone(&self) -> Self {
        Self {
            gate: Arc::clone(&self.gate),
            _event: PhantomData,
        }
    }
}

impl<T> fmt::Debug for WebhookLayer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookLayer")
            .field("gate", &self.gate)
            .finish()
    }
}

impl<S, T> tower_layer::Layer<S> for WebhookLayer<T> {
    type Service = WebhookService<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        WebhookService {
            inner,
            gate: Arc::clone(&self.gate),
            _event: PhantomData,
        }
    }
}

/// The service of a [`WebhookLayer`].
pub struct WebhookService<S, T = crate::AmpsEvent> {
    inner: S,
    gate: Arc<Gate>,
    _event: PhantomData<fn() -> T>,
}

impl<S: Clone, T> Clone for WebhookService<S, T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            gate: Arc::clone(&self.gate),
            _event: PhantomData,
        }
    }
}

impl<S, T> fmt::Debug for WebhookService<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookService")
            .field("gate", &self.gate)
            .finish_non_exhaustive()
    }
}

fn early_response(early: Early) -> Response {
    let status = StatusCode::from_u16(early.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = (status, json_headers(), early.body).into_response();
    if let Some(secs) = early.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response.extensions_mut().insert(early.delivery);
    response
}

impl<S, T> tower_service::Service<Request> for WebhookService<S, T>
where
    S: tower_service::Service<Request, Error = Infallible> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send,
    T: DeserializeOwned + Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // The clone that was driven to readiness serves this request.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        if req.method() != Method::POST {
            // Not a delivery: the route answers it (405 with `Allow: POST` from the method
            // router's fallback, which `post(handler).layer(...)` wraps too), untouched.
            let answer = inner.call(req);
            return Box::pin(async move {
                match answer.await {
                    Ok(response) => Ok(response.into_response()),
                    Err(never) => match never {},
                }
            });
        }
        let gate = Arc::clone(&self.gate);
        // Split here, not in the future: a captured request would take room in it for good
        // beside its parts. The future is allocated for every request, and kept small.
        let (parts, body) = req.into_parts();
        let span = trace::delivery_span("POST", || matched_path(&parts.extensions));
        let answered = span.clone();
        Box::pin(
            async move {
                let response = deliver::<S, T>(&gate, inner, parts, body).await;
                if let Some(delivery) = response.extensions().get::<Delivery>() {
                    trace::answered(&answered, delivery);
                }
                Ok(response)
            }
            .instrument(span),
        )
    }
}

/// Reads, verifies, parses and claims a `POST`, runs the route under the claim and settles it;
/// the answer carries its [`Delivery`].
async fn deliver<S, T>(
    gate: &Gate,
    mut inner: S,
    mut parts: axum::http::request::Parts,
    body: Body,
) -> Response
where
    S: tower_service::Service<Request, Error = Infallible>,
    S::Response: IntoResponse,
    T: DeserializeOwned + Send + 'static,
{
    let limit = gate.verifier.max_body_bytes();
    let bytes = match read_body(&parts.headers, body, limit).await {
        Ok(bytes) => bytes,
        Err(rejection) => return early_response(Early::rejected(&parts.headers, &rejection)),
    };
    let (prechecked, mut claimable) = match gate.prepare::<T, _>(&parts.headers, &bytes) {
        Ok(prepared) => prepared,
        Err(early) => return early_response(early),
    };
    // In the extensions before the claim is awaited, so that this future does not carry the
    // event; a request answered without the handler drops it with its parts.
    parts.extensions.insert(prechecked);
    let guard = match gate.claim(&claimable).await {
        Ok(guard) => guard,
        Err(early) => return early_response(early),
    };
    // The body stays readable for a handler that wants it (or parses another `T`).
    let req = Request::from_parts(parts, Body::from(bytes));
    let handler = Timer::start();
    // A panic or a cancellation from here drops the guard, which releases the claim.
    let mut response = match inner.call(req).await {
        Ok(response) => response.into_response(),
        Err(never) => match never {},
    };
    claimable
        .settle(guard, handler, response.status().as_u16())
        .await;
    response.extensions_mut().insert(claimable.into_delivery());
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::Outcome;

    #[test]
    fn rejection_response_status_and_body() {
        let rejection =
            WebhookRejection::Verify(crate::VerifyError::NoMatchingSignature { candidates: 2 });
        let reason = rejection.to_string();
        let response = rejection.into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/json"
        );
        let delivery = response.extensions().get::<Delivery>().cloned().unwrap();
        assert_eq!(
            (delivery.outcome(), delivery.status(), delivery.reason()),
            (Outcome::Rejected, 401, Some(reason.as_str()))
        );
    }

    #[tokio::test]
    async fn body_over_the_limit_in_frames() {
        let headers = axum::http::HeaderMap::new();
        let body = Body::from(vec![b'x'; 11]);
        let error = read_body(&headers, body, 10).await.unwrap_err();
        assert!(matches!(
            error.verify_error(),
            Some(crate::VerifyError::BodyTooLarge { limit: 10, len: 11 })
        ));
        let bytes = read_body(&headers, Body::from(vec![b'y'; 10]), 10)
            .await
            .unwrap();
        assert_eq!(&bytes[..], &[b'y'; 10]);
    }
}
