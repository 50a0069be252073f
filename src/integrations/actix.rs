//! actix-web 4: the [`VerifiedEvent`] extractor, the deduplicating [`WebhookMiddleware`], and
//! [`Headers`] for actix's own header map.
//!
//! The extractor takes its [`Verifier`] from `app_data` (a `Verifier`, or a
//! `web::Data<Verifier>`); errors answer through [`ResponseError`]. The middleware verifies,
//! parses and claims the event before the handler, and completes the claim when the handler
//! answers 2xx or releases it otherwise; behind it the extractor takes the event the middleware
//! parsed, so a body is verified once per request.
//!
//! Queue mode's resources (feature `queue`: `enqueue_resource`, `enqueue_resource_typed`,
//! `enqueue_resource_observed`) are in `actix/enqueue.rs`.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use actix_web::{App, HttpServer, web};
//! use amps_webhooks::integrations::VerifiedEvent;
//! use amps_webhooks::integrations::actix::WebhookMiddleware;
//! use amps_webhooks::store::{Deduplicator, MemoryStore};
//! use amps_webhooks::{AmpsEvent, Verifier};
//!
//! async fn handle(VerifiedEvent(event): VerifiedEvent<AmpsEvent>) -> &'static str {
//!     println!("{} {}", event.id(), event.payload().event_type());
//!     "ok"
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = Verifier::new(std::env::var("WEBHOOK_SECRET")?.parse()?);
//! let dedup = Deduplicator::new(Arc::new(MemoryStore::new(100_000)), "amps")?;
//! HttpServer::new(move || {
//!     App::new().app_data(verifier.clone()).service(
//!         web::resource("/webhooks")
//!             .wrap(WebhookMiddleware::new(verifier.clone(), dedup.clone()))
//!             .route(web::post().to(handle)),
//!     )
//! })
//! .bind(("127.0.0.1", 8080))?
//! .run()
//! .await?;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::{Future, Ready, ready};
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, HttpResponse, ResponseError, web};
use bytes::Bytes;
use futures_core::Stream;
use serde::de::DeserializeOwned;
use tracing::Instrument as _;

use super::body::BodyReader;
use super::gate::{Early, Gate};
use super::rejection::log_rejection;
use super::trace;
use super::verified::{Prechecked, extracted};
use super::{Delivery, VerifiedEvent, WebhookRejection};
use crate::headers::{HeaderLookup, Headers};
use crate::metrics::{self, Timer};
use crate::store::Deduplicator;
use crate::verify::Verifier;

impl Headers for HeaderMap {
    fn lookup(&self, name: &str) -> HeaderLookup<'_> {
        // actix stores names in lowercase, so a lowercase lookup is case-insensitive.
        let mut found = self.get_all(name);
        match (found.next(), found.next()) {
            (None, _) => HeaderLookup::Missing,
            (Some(value), None) => HeaderLookup::One(value.as_bytes()),
            (Some(_), Some(_)) => HeaderLookup::Repeated,
        }
    }
}

fn json_response(status: u16, body: Vec<u8>) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    HttpResponse::build(status)
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ))
        .body(body)
}

impl ResponseError for WebhookRejection {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::BAD_REQUEST)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = json_response(self.status(), self.json_body());
        response
            .extensions_mut()
            .insert(Delivery::of_rejection(self));
        response
    }
}

/// The verifier from `app_data`: a `Verifier`, or a `web::Data<Verifier>`.
fn app_verifier(req: &HttpRequest) -> Option<Verifier> {
    req.app_data::<Verifier>().cloned().or_else(|| {
        req.app_data::<web::Data<Verifier>>()
            .map(|data| Verifier::clone(data))
    })
}

/// Reads the whole payload, refusing it once it is over `limit` bytes: at once when its
/// `Content-Length` says so, else as soon as more than `limit` bytes arrived.
async fn read_payload(
    headers: &HeaderMap,
    mut payload: Payload,
    limit: usize,
) -> Result<Bytes, WebhookRejection> {
    let mut buffer = BodyReader::start(headers, limit)?;
    while let Some(chunk) = std::future::poll_fn(|cx| Pin::new(&mut payload).poll_next(cx)).await {
        let data = chunk.map_err(|error| WebhookRejection::BodyRead(Box::new(error)))?;
        buffer.push(data)?;
    }
    Ok(buffer.finish())
}

impl<T: DeserializeOwned + 'static> FromRequest for VerifiedEvent<T> {
    type Error = WebhookRejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let prechecked = req
            .extensions_mut()
            .remove::<Prechecked<T>>()
            .and_then(Prechecked::into_event);
        if let Some(event) = prechecked {
            return Box::pin(ready(Ok(Self(event))));
        }
        let span = trace::delivery_span(req.method().as_str(), || req.match_pattern());
        let Some(verifier) = app_verifier(req) else {
            let rejection = WebhookRejection::MissingVerifier;
            log_rejection(req.headers(), &rejection);
            metrics::rejected(rejection.code());
            trace::extracted::<T, _>(&span, req.headers(), Err(&rejection));
            return Box::pin(ready(Err(rejection)));
        };
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            let result = async {
                let body = read_payload(req.headers(), payload, verifier.max_body_bytes()).await;
                extracted(&verifier, req.headers(), body)
            }
            .instrument(span.clone())
            .await;
            trace::extracted(&span, req.headers(), result.as_ref().map(|event| &event.0));
            result
        })
    }
}

/// Middleware that runs the wrapped webhook resource at most once per event: the actix twin of
/// [`WebhookLayer`](super::axum::WebhookLayer), with the same statuses.
///
/// For each request it reads the payload under the verifier's limit, verifies it, parses it as
/// `Event<T>` and claims the event's [`idempotency_key`](crate::Event::idempotency_key):
/// claim acquired, it runs the handler and completes the claim when the handler answers 2xx,
/// releases it otherwise; completed before, 200 `{"status":"duplicate"}` without the handler;
/// in flight elsewhere, 409 with `Retry-After`; store unavailable, 503 with `Retry-After`;
/// refused by the verifier or the parser, the [`WebhookRejection`]'s status. Every answer
/// carries a [`Delivery`] in its extensions. A request whose method is not `POST` is not a
/// delivery: it goes to the resource untouched (not read, verified, claimed or logged, and
/// without a [`Delivery`]), so that a resource whose route is `web::post()` answers it 405 with
/// `Allow: POST`.
///
/// Wrap the resource (`web::resource(path).wrap(...)`), with the handler taking
/// [`VerifiedEvent<T>`] of the same `T`.
pub struct WebhookMiddleware<T = crate::AmpsEvent> {
    gate: Arc<Gate>,
    _event: PhantomData<fn() -> T>,
}

impl WebhookMiddleware {
    /// A middleware for [`AmpsEvent`](crate::AmpsEvent)s that verifies with `verifier` and
    /// deduplicates with `dedup`. For another payload type use [`typed`](Self::typed).
    #[must_use]
    pub fn new(verifier: Verifier, dedup: Deduplicator) -> Self {
        Self::typed(verifier, dedup)
    }
}

impl<T> WebhookMiddleware<T> {
    /// A middleware that parses bodies as `Event<T>` (`WebhookMiddleware::<MyEvent>::typed(...)`),
    /// for handlers taking `VerifiedEvent<T>`.
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

impl<T> Clone for WebhookMiddleware<T> {
    fn clone(&self) -> Self {
        Self {
            gate: Arc::clone(&self.gate),
            _event: PhantomData,
        }
    }
}

impl<T> fmt::Debug for WebhookMiddleware<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookMiddleware")
            .field("gate", &self.gate)
            .finish()
    }
}

impl<S, B, T> Transform<S, ServiceRequest> for WebhookMiddleware<T>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
    T: DeserializeOwned + Send + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = WebhookMiddlewareService<S, T>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(WebhookMiddlewareService {
            service: Rc::new(service),
            gate: Arc::clone(&self.gate),
            _event: PhantomData,
        }))
    }
}

/// The service of a [`WebhookMiddleware`].
pub struct WebhookMiddlewareService<S, T = crate::AmpsEvent> {
    service: Rc<S>,
    gate: Arc<Gate>,
    _event: PhantomData<fn() -> T>,
}

impl<S, T> fmt::Debug for WebhookMiddlewareService<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookMiddlewareService")
            .field("gate", &self.gate)
            .finish_non_exhaustive()
    }
}

fn early_response<B>(
    req: ServiceRequest,
    early: Early,
    span: &tracing::Span,
) -> ServiceResponse<EitherBody<B>> {
    trace::answered(span, &early.delivery);
    req.into_response(early_http_response(early))
        .map_into_right_body()
}

/// The answer given without a handler: its status, JSON body and `Retry-After`, its
/// [`Delivery`] in the extensions.
fn early_http_response(early: Early) -> HttpResponse {
    let mut response = json_response(early.status, early.body);
    if let Some(secs) = early.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response.extensions_mut().insert(early.delivery);
    response
}

impl<S, B, T> Service<ServiceRequest> for WebhookMiddlewareService<S, T>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
    T: DeserializeOwned + Send + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        if req.method() != Method::POST {
            // Not a delivery: the resource answers it (405 with `Allow: POST` from its default
            // service when its only route is `web::post()`), untouched.
            let answer = self.service.call(req);
            return Box::pin(async move { answer.await.map(ServiceResponse::map_into_left_body) });
        }
        let service = Rc::clone(&self.service);
        let gate = Arc::clone(&self.gate);
        let span = trace::delivery_span("POST", || req.match_pattern());
        let answered = span.clone();
        Box::pin(
            async move {
                let limit = gate.verifier.max_body_bytes();
                let payload = req.take_payload();
                let body = match read_payload(req.headers(), payload, limit).await {
                    Ok(body) => body,
                    Err(rejection) => {
                        let early = Early::rejected(req.headers(), &rejection);
                        return Ok(early_response(req, early, &answered));
                    }
                };
                let (prechecked, mut claimable) = match gate.prepare::<T, _>(req.headers(), &body) {
                    Ok(prepared) => prepared,
                    Err(early) => return Ok(early_response(req, early, &answered)),
                };
                // In the extensions before the claim is awaited, so that this future does not
                // carry the event; a request answered without the handler drops it with its
                // extensions.
                req.extensions_mut().insert(prechecked);
                let guard = match gate.claim(&claimable).await {
                    Ok(guard) => guard,
                    Err(early) => return Ok(early_response(req, early, &answered)),
                };
                // The body stays readable for a handler that wants it (or parses another `T`).
                req.set_payload(Payload::from(body));
                let handler = Timer::start();
                // A panic or a cancellation from here drops the guard, which releases the claim.
                match service.call(req).await {
                    Ok(mut response) => {
                        let status = response.status().as_u16();
                        claimable.settle(guard, handler, status).await;
                        let delivery = claimable.into_delivery();
                        trace::answered(&answered, &delivery);
                        response.response_mut().extensions_mut().insert(delivery);
                        Ok(response.map_into_left_body())
                    }
                    Err(error) => {
                        let status = error.as_response_error().status_code().as_u16();
                        claimable.settle(guard, handler, status).await;
                        trace::answered(&answered, &claimable.into_delivery());
                        Err(error)
                    }
                }
            }
            .instrument(span),
        )
    }
}

#[cfg(feature = "queue")]
mod enqueue;
#[cfg(feature = "queue")]
pub use enqueue::{enqueue_resource, enqueue_resource_observed, enqueue_resource_typed};

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;
    use crate::headers::{self, HeaderLookup};
    use crate::integrations::Outcome;

    #[test]
    fn actix_header_map_any_case_and_repeats() {
        let mut map = HeaderMap::new();
        map.insert(
            HeaderName::from_static("svix-timestamp"),
            HeaderValue::from_static("12"),
        );
        map.append(
            HeaderName::from_bytes(b"Webhook-Id").unwrap(),
            HeaderValue::from_static("a"),
        );
        map.append(
            HeaderName::from_bytes(b"WEBHOOK-ID").unwrap(),
            HeaderValue::from_static("b"),
        );
        assert_eq!(
            headers::lookup_either(&map, headers::TIMESTAMP),
            HeaderLookup::One(b"12")
        );
        assert_eq!(
            headers::lookup_either(&map, headers::ID),
            HeaderLookup::Repeated
        );
        assert_eq!(
            headers::lookup_either(&map, headers::SIGNATURE),
            HeaderLookup::Missing
        );
    }

    #[test]
    fn rejection_response_status_and_body() {
        let rejection =
            WebhookRejection::Verify(crate::VerifyError::BodyTooLarge { limit: 10, len: 11 });
        assert_eq!(rejection.status_code(), StatusCode::PAYLOAD_TOO_LARGE);
        let response = rejection.error_response();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/json"
        );
        let delivery = response.extensions().get::<Delivery>().cloned().unwrap();
        assert_eq!(
            (delivery.outcome(), delivery.status()),
            (Outcome::Rejected, 413)
        );
    }
}
