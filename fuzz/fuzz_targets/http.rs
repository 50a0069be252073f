//! The axum path on arbitrary requests: a `Router` whose webhook route runs a counting handler
//! behind `WebhookLayer` (verifier with a fixed key and a `MockClock`, `MemoryStore`), driven
//! with `tower::ServiceExt::oneshot`.
//!
//! The input is read like an HTTP request: a flags byte, a `METHOD PATH` line, `name: value`
//! lines, an empty line, then the body. Flag bit 0 makes the target sign the request itself
//! (over its first id and timestamp headers and its body) so that the fuzzer reaches the handler
//! and the store; bit 1 adds `webhook-timestamp` at the verifier's time; bit 2 sends the body in
//! frames of 7 bytes instead of one.
//!
//! What must hold: the answer is never 5xx; whenever the handler ran the request carried one
//! id, one fresh timestamp and a signature entry equal to the HMAC the target recomputes; a 2xx
//! without the handler is a duplicate of a completed event.
#![no_main]

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

use amps_webhooks::integrations::axum::WebhookLayer;
use amps_webhooks::integrations::{Delivery, Outcome, VerifiedEvent};
use amps_webhooks::store::{Deduplicator, IdempotencyStore, MemoryStore};
use amps_webhooks::{AmpsEvent, MockClock, Secret, Verifier};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use http_body_util::StreamBody;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt as _;

// The spec's shared vector's secret and time (tests/data/standard-webhooks.json).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NOW: u64 = 1_614_265_330;
const TOLERANCE: u64 = 300;
const PATH: &str = "/webhooks";

/// How many times the handler ran, over the whole fuzzing session.
static RUNS: AtomicUsize = AtomicUsize::new(0);

async fn handler(VerifiedEvent(event): VerifiedEvent<AmpsEvent>) -> StatusCode {
    RUNS.fetch_add(1, Ordering::SeqCst);
    // The layer handed over the event it verified: its key is never empty.
    assert!(!event.idempotency_key().is_empty());
    StatusCode::OK
}

static APP: LazyLock<Router> = LazyLock::new(|| {
    let clock = MockClock::at_unix(NOW);
    let verifier = Verifier::builder()
        .secret(Secret::parse(SECRET).expect("the vector's secret parses"))
        .clock(clock.clone())
        .max_body_bytes(64 * 1024)
        .build()
        .expect("one key");
    let store: Arc<dyn IdempotencyStore> =
        Arc::new(MemoryStore::builder().capacity(4096).clock(clock).build());
    let dedup = Deduplicator::new(store, "fuzz").expect("a valid namespace");
    Router::new()
        .route(
            PATH,
            post(handler).layer(WebhookLayer::new(verifier.clone(), dedup)),
        )
        .with_state(verifier)
});

/// Polls a future to completion on this thread (the axum path with the memory store needs no
/// runtime: nothing in it waits on I/O or timers).
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park();
    }
}

/// Splits the input at its first `\n`.
fn line(rest: &mut &[u8]) -> Option<Vec<u8>> {
    let end = rest.iter().position(|&b| b == b'\n')?;
    let line = rest[..end].to_vec();
    *rest = &rest[end + 1..];
    Some(line)
}

struct Input {
    flags: u8,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// The request the input describes; `None` when its method or path is not valid HTTP (hyper
/// answers 400 to those before any service runs). Header lines that are not a valid name and
/// value are dropped for the same reason.
fn parse(data: &[u8]) -> Option<Input> {
    let (&flags, mut rest) = data.split_first()?;
    let start = line(&mut rest)?;
    let mut words = start.splitn(2, |&b| b == b' ');
    let method = Method::from_bytes(words.next()?).ok()?;
    let uri = Uri::try_from(words.next().unwrap_or(PATH.as_bytes())).ok()?;
    let mut headers = HeaderMap::new();
    if flags & 2 != 0 {
        headers.append("webhook-timestamp", HeaderValue::from(NOW));
    }
    while let Some(line) = line(&mut rest) {
        if line.is_empty() {
            break;
        }
        let colon = line.iter().position(|&b| b == b':').unwrap_or(line.len());
        let (name, value) = line.split_at(colon);
        let value = value.get(1..).unwrap_or_default();
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            headers.append(name, value);
        }
    }
    let body = rest.to_vec();
    if flags & 1 != 0 {
        let id = first(&headers, "webhook-id", "svix-id").unwrap_or_default();
        let timestamp = first(&headers, "webhook-timestamp", "svix-timestamp").unwrap_or_default();
        let right = entry(&id, &timestamp, &body);
        let signature = match headers.get("webhook-signature") {
            Some(old) => [right.as_bytes(), b" ", old.as_bytes()].concat(),
            None => right.into_bytes(),
        };
        if let Ok(value) = HeaderValue::from_bytes(&signature) {
            headers.insert("webhook-signature", value);
        }
    }
    Some(Input {
        flags,
        method,
        uri,
        headers,
        body,
    })
}

/// The first value of `standard`, else of `svix`.
fn first(headers: &HeaderMap, standard: &str, svix: &str) -> Option<Vec<u8>> {
    headers
        .get(standard)
        .or_else(|| headers.get(svix))
        .map(|value| value.as_bytes().to_vec())
}

/// The one value of `standard`, else of `svix` (the verifier's rule): the handler ran, so
/// there must be exactly one.
fn one(headers: &HeaderMap, standard: &str, svix: &str) -> Vec<u8> {
    let name = if headers.contains_key(standard) {
        standard
    } else {
        svix
    };
    let values: Vec<_> = headers.get_all(name).iter().collect();
    assert_eq!(
        values.len(),
        1,
        "handled with {} {name} headers",
        values.len()
    );
    values[0].as_bytes().to_vec()
}

/// `v1,` and the base64 HMAC of `id.timestamp.body`, computed here.
fn entry(id: &[u8], timestamp: &[u8], body: &[u8]) -> String {
    let key = STANDARD.decode(&SECRET["whsec_".len()..]).expect("base64");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("any key");
    for part in [id, b".", timestamp, b".", body] {
        mac.update(part);
    }
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

fn body(flags: u8, bytes: &[u8]) -> Body {
    if flags & 4 == 0 {
        return Body::from(bytes.to_vec());
    }
    let frames: Vec<Result<http_body::Frame<Bytes>, Infallible>> = bytes
        .chunks(7)
        .map(|chunk| Ok(http_body::Frame::data(Bytes::copy_from_slice(chunk))))
        .collect();
    Body::new(StreamBody::new(Frames(frames.into_iter())))
}

/// A stream over the frames, without a futures dependency.
struct Frames(std::vec::IntoIter<Result<http_body::Frame<Bytes>, Infallible>>);

impl futures_core::Stream for Frames {
    type Item = Result<http_body::Frame<Bytes>, Infallible>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.0.next())
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = parse(data) else {
        return;
    };
    let mut request = Request::new(body(input.flags, &input.body));
    *request.method_mut() = input.method;
    *request.uri_mut() = input.uri;
    *request.headers_mut() = input.headers.clone();

    let before = RUNS.load(Ordering::SeqCst);
    let response = block_on(APP.clone().oneshot(request)).unwrap_or_else(|never| match never {});
    let ran = RUNS.load(Ordering::SeqCst) - before;
    let status = response.status();
    assert!(!status.is_server_error(), "answered {status}");
    assert!(ran <= 1, "the handler ran {ran} times");

    if ran == 1 {
        let headers = &input.headers;
        let id = one(headers, "webhook-id", "svix-id");
        let timestamp = one(headers, "webhook-timestamp", "svix-timestamp");
        let signatures = one(headers, "webhook-signature", "svix-signature");
        let seconds: u64 = std::str::from_utf8(&timestamp)
            .ok()
            .filter(|text| text.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|text| text.parse().ok())
            .expect("handled with a timestamp of digits");
        assert!(seconds.abs_diff(NOW) <= TOLERANCE, "handled at {seconds}");
        let right = entry(&id, &timestamp, &input.body);
        assert!(
            signatures
                .split(|&b| b == b' ')
                .any(|e| e == right.as_bytes()),
            "handled without the right signature"
        );
        assert_eq!(status, StatusCode::OK);
    } else if status.is_success() {
        let delivery = response.extensions().get::<Delivery>();
        assert_eq!(
            delivery.map(Delivery::outcome),
            Some(Outcome::Duplicate),
            "answered {status} without running the handler"
        );
    }
});
