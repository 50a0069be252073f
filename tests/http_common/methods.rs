//! A method other than `POST` on the webhook route: the route's own 405 with `Allow: POST`,
//! before the deduplicating middleware reads, verifies or claims anything.

use std::convert::Infallible;

use amps_webhooks::integrations::Outcome;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;

use super::{Client, DEDUP_PATH, NOW, Probe, Spelling, Start, event_body, signed, start_memory};

/// The status, every `Allow` header and the body of `method` to `url` with `headers`.
pub async fn send(
    url: &str,
    method: &hyper::Method,
    headers: &[(String, String)],
    body: &str,
) -> (u16, Vec<String>, Bytes) {
    let client: HyperClient<_, BoxBody<Bytes, Infallible>> =
        HyperClient::builder(TokioExecutor::new()).build_http();
    let mut request = hyper::Request::builder()
        .method(method.clone())
        .uri(url)
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let body = Full::new(Bytes::from(body.to_owned())).boxed();
    let response = client.request(request.body(body).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let allow = response
        .headers()
        .get_all("allow")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, allow, body)
}

pub async fn other_methods_get_405_untouched(start: Start) {
    let (running, probe, _clock) = start_memory(start, Probe::default()).await;
    let url = format!("{}{DEDUP_PATH}", running.base);
    let body = event_body("evt_m");
    let signature = signed("msg_m", NOW, body.as_bytes(), Spelling::Webhook);
    for method in [
        hyper::Method::GET,
        hyper::Method::PUT,
        hyper::Method::DELETE,
    ] {
        for headers in [&[][..], &signature[..]] {
            let signed = !headers.is_empty();
            let answer = send(&url, &method, headers, &body).await;
            assert_eq!(
                answer,
                (405, vec!["POST".to_owned()], Bytes::new()),
                "{method} (signed: {signed})"
            );
        }
    }
    assert_eq!(
        probe.runs(),
        0,
        "the handler ran for a method it does not take"
    );
    assert!(
        probe.deliveries.lock().unwrap().is_empty(),
        "a 405 carried a Delivery"
    );
    // Nothing was claimed: the same event, signed and POSTed, is processed.
    let client = Client::new(&running);
    let first = client.deliver(DEDUP_PATH, "msg_m", "evt_m").await;
    assert_eq!(
        (first.status, first.json()),
        (200, serde_json::json!({ "handled": "evt_m" }))
    );
    assert_eq!(probe.runs(), 1);
    let delivery = probe.last_delivery();
    assert_eq!(
        (delivery.outcome(), delivery.status()),
        (Outcome::Processed, 200)
    );
    assert_eq!(probe.deliveries.lock().unwrap().len(), 1);
}
