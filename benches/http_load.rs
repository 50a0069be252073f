//! Load test on loopback: requests per second of an axum receiver with verification and
//! in-memory deduplication (`WebhookLayer`), against the same server whose handler does nothing,
//! with no verification. Same process, same client, same run, 1 KiB bodies, a unique event id
//! per request (so deduplication stores every one).
//!
//! `cargo bench --bench http_load --features axum,memory`
//!
//! With `--features axum,memory,metrics` the process installs the Prometheus recorder
//! (metrics-exporter-prometheus, with buckets, as `amps-webhooks listen --metrics` does) before
//! the servers start, so the receiver records every metric as in production; comparing the
//! receiver's rate of the two builds is the feature's cost.
//!
//! The two servers take turns in short slices (bare then receiver, then receiver then bare, ...)
//! and each one's time is summed over its slices, so that other load on the machine weighs on
//! both alike. Tunables (environment): `HTTP_LOAD_SLICE` requests per slice (default 2000),
//! `HTTP_LOAD_SLICES` slices per server (default 40), `HTTP_LOAD_CONNECTIONS` concurrent
//! keep-alive connections (default 16).
//!
//! `HTTP_LOAD_METRICS_FLOOR=1` (with the feature) adds the bare server recording what a
//! processed delivery records, and prints its extra time per request as a share of the
//! receiver's (`metrics floor:`).
//!
//! `HTTP_LOAD_BREAKDOWN=1` adds the steps in between, and the floors of any verifying receiver:
//! servers that read the body and compute its HMAC-SHA256 with hmac/sha2 directly, then parse it
//! with serde_json alone (no headers, base64, timestamp, envelope, store or layer).

// A load generator stops at the first failure: every `expect` here is a broken setup or a
// request the receiver refused, and the figures would be meaningless after it.
#![allow(clippy::expect_used, clippy::panic, clippy::cast_precision_loss)]

mod load;

use std::sync::Arc;

use amps_webhooks::integrations::VerifiedEvent;
use amps_webhooks::integrations::axum::WebhookLayer;
use amps_webhooks::store::{DEFAULT_MEMORY_CAPACITY, Deduplicator, MemoryStore};
use amps_webhooks::{AmpsEvent, Verifier};
use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use bytes::Bytes;
use load::{BODY_BYTES, SECRET, Server, env_or, interleave, serve};
use serde::de::{DeserializeOwned, IgnoredAny};

async fn receive(VerifiedEvent(event): VerifiedEvent<AmpsEvent>) -> StatusCode {
    std::hint::black_box(&event);
    StatusCode::OK
}

async fn receive_as<T: Send + 'static>(VerifiedEvent(event): VerifiedEvent<T>) -> StatusCode {
    std::hint::black_box(&event);
    StatusCode::OK
}

/// The receiver with the payload parsed as `T` instead of `AmpsEvent`, on a store of its own.
fn layered<T: DeserializeOwned + Send + 'static>(namespace: &str) -> Router {
    let verifier = Verifier::new(SECRET.parse().expect("valid secret"));
    let store = Arc::new(MemoryStore::new(DEFAULT_MEMORY_CAPACITY));
    let dedup = Deduplicator::new(store, namespace).expect("namespace");
    Router::new()
        .route(
            "/webhooks",
            post(receive_as::<T>).layer(WebhookLayer::<T>::typed(verifier.clone(), dedup)),
        )
        .with_state(verifier)
}

/// The fields of these bodies as a plain derive (no `serde_json::Value`, no `flatten`): how
/// fast a typed parse of them can be.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct PlainEnvelope {
    event: String,
    event_id: String,
    timestamp: String,
    data: PlainData,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct PlainData {
    action_id: String,
    device_id: String,
    device_type: String,
    action_type: String,
    result: PlainResult,
    completed_at: String,
    note: String,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct PlainResult {
    success: bool,
    message: String,
}

async fn read_body_only(body: Bytes) -> StatusCode {
    std::hint::black_box(body);
    StatusCode::OK
}

/// The floor of any verifying receiver: the body read and its HMAC-SHA256 computed with the
/// keyed state prepared once, nothing else (no headers, no base64, no parse, no store).
async fn body_and_hmac(
    axum::extract::State(key): axum::extract::State<Arc<hmac::Hmac<sha2::Sha256>>>,
    body: Bytes,
) -> StatusCode {
    use hmac::Mac as _;
    let mut mac = (*key).clone();
    mac.update(b"msg_000000000000.1700000000.");
    mac.update(&body);
    std::hint::black_box(mac.finalize().into_bytes());
    StatusCode::OK
}

/// [`body_and_hmac`], then `serde_json` straight into `T`: no headers, no envelope, no store.
/// The body's UTF-8 is checked once and serde_json reads it as a `str`, which spares it checking
/// each string: its fastest way in, and the one `Event`'s parser takes.
async fn body_hmac_and_parse<T: DeserializeOwned>(
    state: axum::extract::State<Arc<hmac::Hmac<sha2::Sha256>>>,
    body: Bytes,
) -> StatusCode {
    let status = body_and_hmac(state, body.clone()).await;
    let text = std::str::from_utf8(&body).expect("the bench's bodies are UTF-8");
    let parsed: T = serde_json::from_str(text).expect("the bench's bodies are valid");
    std::hint::black_box(parsed);
    status
}

async fn nothing() -> StatusCode {
    StatusCode::OK
}

/// The bare server recording what a processed delivery records (the deliveries counter, the
/// verification and handler durations, the arrival lag), through handles registered once: the
/// floor of the `metrics` feature's cost with this recorder (and the clock the crate's timers
/// read, three readings).
#[cfg(feature = "metrics")]
async fn recorded() -> StatusCode {
    use amps_webhooks::metrics::{
        ARRIVAL_LAG, DELIVERIES, HANDLER_DURATION, VERIFICATION_DURATION,
    };
    static HANDLES: std::sync::OnceLock<(
        metrics::Counter,
        metrics::Histogram,
        metrics::Histogram,
        metrics::Histogram,
    )> = std::sync::OnceLock::new();
    let (deliveries, verification, handler, lag) = HANDLES.get_or_init(|| {
        (
            metrics::counter!(DELIVERIES, "outcome" => "processed", "event_type" => "push.completed"),
            metrics::histogram!(VERIFICATION_DURATION),
            metrics::histogram!(HANDLER_DURATION, "outcome" => "processed"),
            metrics::histogram!(ARRIVAL_LAG, "direction" => "behind"),
        )
    });
    // The crate's timers read this clock.
    let started = quanta::Instant::now();
    verification.record(started.elapsed().as_secs_f64());
    handler.record(started.elapsed().as_secs_f64());
    lag.record(0.5);
    deliveries.increment(1);
    StatusCode::OK
}

fn main() {
    let slice = env_or("HTTP_LOAD_SLICE", 2_000).max(1);
    let slices = env_or("HTTP_LOAD_SLICES", 40).max(1);
    let connections = env_or("HTTP_LOAD_CONNECTIONS", 16).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        #[cfg(feature = "metrics")]
        let prometheus = {
            use amps_webhooks::metrics::{ARRIVAL_LAG, DURATION_BUCKETS, LAG_BUCKETS};
            use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(ARRIVAL_LAG.to_owned()), LAG_BUCKETS)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), DURATION_BUCKETS))
                .and_then(PrometheusBuilder::install_recorder)
                .expect("the Prometheus recorder");
            amps_webhooks::metrics::describe();
            println!("metrics: the Prometheus recorder is installed");
            handle
        };
        let verifier = Verifier::new(SECRET.parse().expect("valid secret"));
        let store = Arc::new(MemoryStore::new(DEFAULT_MEMORY_CAPACITY));
        let dedup = Deduplicator::new(store.clone(), "bench").expect("namespace");
        let receiver = Router::new()
            .route(
                "/webhooks",
                post(receive).layer(WebhookLayer::new(verifier.clone(), dedup)),
            )
            .with_state(verifier);
        let bare = Router::new().route("/webhooks", post(nothing));
        let receiver_addr = serve(receiver).await;
        let bare_addr = serve(bare).await;
        println!(
            "http_load: {BODY_BYTES}-byte bodies, {connections} keep-alive connections, {slices} slices of {slice} requests per server, interleaved"
        );
        let mut servers = vec![
            Server::new("bare (no verification, handler does nothing)", bare_addr),
            Server::new(
                "verified + deduplicated (WebhookLayer, MemoryStore, AmpsEvent)",
                receiver_addr,
            ),
        ];
        // Only when asked: served by default, it would make this build's servers take turns
        // three by three, and the build without the feature two by two.
        #[cfg(feature = "metrics")]
        let floor = std::env::var_os("HTTP_LOAD_METRICS_FLOOR").is_some();
        #[cfg(feature = "metrics")]
        if floor {
            servers.push(Server::new(
                "floor: bare + recording a delivery's four metrics",
                serve(Router::new().route("/webhooks", post(recorded))).await,
            ));
        }
        if std::env::var_os("HTTP_LOAD_BREAKDOWN").is_some() {
            let verifier = Verifier::new(SECRET.parse().expect("valid secret"));
            let extractor = Router::new()
                .route("/webhooks", post(receive))
                .with_state(verifier);
            servers.push(Server::new("extractor only (verified, parsed, not deduplicated)", serve(extractor).await));
            servers.push(Server::new(
                "verified + deduplicated, payload a plain derived struct",
                serve(layered::<PlainEnvelope>("bench-plain")).await,
            ));
            servers.push(Server::new(
                "verified + deduplicated, payload not typed (IgnoredAny)",
                serve(layered::<IgnoredAny>("bench-untyped")).await,
            ));
            let body_only = Router::new().route("/webhooks", post(read_body_only));
            servers.push(Server::new("body read, nothing else", serve(body_only).await));
            let key = {
                use hmac::KeyInit as _;
                hmac::Hmac::<sha2::Sha256>::new_from_slice(b"0123456789abcdef0123456789abcdef")
                    .expect("any key length")
            };
            let key = Arc::new(key);
            let hmac_only = Router::new()
                .route("/webhooks", post(body_and_hmac))
                .with_state(Arc::clone(&key));
            servers.push(Server::new("body read + HMAC-SHA256 of it, nothing else", serve(hmac_only).await));
            let hmac_plain = Router::new()
                .route("/webhooks", post(body_hmac_and_parse::<PlainEnvelope>))
                .with_state(Arc::clone(&key));
            servers.push(Server::new("body read + HMAC + serde_json into the plain struct", serve(hmac_plain).await));
            let hmac_amps = Router::new()
                .route("/webhooks", post(body_hmac_and_parse::<AmpsEvent>))
                .with_state(key);
            servers.push(Server::new("body read + HMAC + serde_json into AmpsEvent", serve(hmac_amps).await));
        }
        // Between slices, a scrape's upkeep, as a served `/metrics` would drain the histograms.
        let total = interleave(&mut servers, slices, slice, connections, || {
            #[cfg(feature = "metrics")]
            prometheus.run_upkeep();
        })
        .await;
        let bare_rate = servers[0].rate(total);
        for server in &servers {
            let rate = server.rate(total);
            println!("{}: {rate:.0} req/s ({:.3} of bare)", server.name, rate / bare_rate);
        }
        println!("ratio: {:.3}", servers[1].rate(total) / bare_rate);
        // The floor's time per request past the bare server's, as a share of the receiver's
        // time per request: what recording the metrics costs the receiver at the least.
        #[cfg(feature = "metrics")]
        if floor {
            println!(
                "metrics floor: {:.2} % of the receiver's time per request",
                100.0 * (1.0 / servers[2].rate(total) - 1.0 / bare_rate) * servers[1].rate(total)
            );
        }
        println!(
            "memory store: {} records, {} evictions",
            store.len(),
            store.evictions()
        );
    });
}
