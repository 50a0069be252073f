//! Feature `metrics`: one scripted sequence through axum's `WebhookLayer` and through actix's
//! `WebhookMiddleware` (processed, duplicate, in flight, rejected for three reasons, the store
//! down, a handler failing), each under a debugging recorder of its own (thread-local, so the
//! tests do not see each other's metrics), then every counter's exact value and every
//! histogram's count. Then queue mode: deliveries enqueued through axum's `enqueue_route` on a
//! `MemoryQueue`, and a worker draining them (one job failing once, one dead).
#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use amps_webhooks::store::{
    Admission, Claim, ClaimToken, Deduplicator, IdempotencyStore, MemoryStore, StoreError,
    StoreFuture,
};
use amps_webhooks::{MockClock, Secret, Signer, Verifier};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

const NOW: u64 = 1_700_000_000;
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const LIMIT: usize = 256;
/// The route deduplicating on the memory store.
const MEMORY: &str = "/webhooks";
/// The route whose store is down.
const DOWN: &str = "/down";

/// A store that cannot be reached; it does not name itself, so its label is `custom`.
#[derive(Debug)]
struct Down;

fn unreachable_store() -> StoreError {
    StoreError::Unavailable {
        store: "down",
        source: "connection refused".into(),
    }
}

impl IdempotencyStore for Down {
    fn claim<'a>(&'a self, _: &'a str, _: Duration) -> StoreFuture<'a, Result<Claim, StoreError>> {
        StoreFuture::ready(Err(unreachable_store()))
    }
    fn complete<'a>(
        &'a self,
        _: &'a str,
        _: ClaimToken,
        _: Duration,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        StoreFuture::ready(Err(unreachable_store()))
    }
    fn release<'a>(&'a self, _: &'a str, _: ClaimToken) -> StoreFuture<'a, Result<(), StoreError>> {
        StoreFuture::ready(Err(unreachable_store()))
    }
}

/// What both frameworks' receivers are built from.
struct Setup {
    verifier: Verifier,
    memory: Deduplicator,
    down: Deduplicator,
}

fn setup() -> Setup {
    let verifier = Verifier::builder()
        .secret(SECRET.parse::<Secret>().unwrap())
        .clock(MockClock::at_unix(NOW))
        .max_body_bytes(LIMIT)
        .build()
        .unwrap();
    let store = MemoryStore::builder()
        .capacity(100)
        .clock(MockClock::at_unix(NOW))
        .build();
    Setup {
        verifier,
        memory: Deduplicator::new(Arc::new(store), "metrics").unwrap(),
        down: Deduplicator::new(Arc::new(Down), "metrics").unwrap(),
    }
}

/// A request to send: its path, headers and body.
struct Post {
    path: &'static str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// `body` signed as message `id` at `timestamp`.
fn signed(path: &'static str, id: &str, timestamp: u64, body: &str) -> Post {
    let headers = Signer::new(SECRET.parse().unwrap())
        .sign(id, timestamp, body.as_bytes())
        .unwrap();
    Post {
        path,
        headers: headers
            .webhook_headers()
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect(),
        body: body.as_bytes().to_vec(),
    }
}

/// The handler: 500 for `evt_fail`, 200 for anything else.
fn handler_status(key: &str) -> u16 {
    if key == "evt_fail" { 500 } else { 200 }
}

/// Plays the sequence through `send`, checking each status; `memory` is the deduplicator of the
/// `/webhooks` route (the test holds a claim on it to put an event in flight).
async fn play<F, Fut>(memory: &Deduplicator, mut send: F)
where
    F: FnMut(Post) -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    let completed = r#"{"type":"push.completed","eventId":"evt_1","data":{}}"#;
    // Processed, then its duplicate; both 2 s after they were signed.
    assert_eq!(send(signed(MEMORY, "msg_1", NOW - 2, completed)).await, 200);
    assert_eq!(send(signed(MEMORY, "msg_1", NOW - 2, completed)).await, 200);
    // In flight: another worker holds evt_2.
    let Admission::Acquired(held) = memory.claim("evt_2").await else {
        panic!("evt_2 is free");
    };
    let connected = r#"{"type":"device.connected","eventId":"evt_2","data":{}}"#;
    assert_eq!(send(signed(MEMORY, "msg_2", NOW - 2, connected)).await, 409);
    held.release().await.unwrap();
    // Rejected: a bad signature (401), a missing header (400), a body over the limit (413).
    let mut forged = signed(MEMORY, "msg_3", NOW - 2, completed);
    forged.body = br#"{"type":"push.completed","eventId":"evt_9","data":{}}"#.to_vec();
    assert_eq!(send(forged).await, 401);
    let mut unsigned = signed(MEMORY, "msg_4", NOW - 2, completed);
    unsigned
        .headers
        .retain(|(name, _)| name != "webhook-signature");
    assert_eq!(send(unsigned).await, 400);
    let large = format!(r#"{{"eventId":"evt_big","pad":"{}"}}"#, "x".repeat(LIMIT));
    assert_eq!(send(signed(MEMORY, "msg_5", NOW - 2, &large)).await, 413);
    // The store down: 503; the body names no type.
    let untyped = r#"{"eventId":"evt_3","deviceId":"dev_1"}"#;
    assert_eq!(send(signed(DOWN, "msg_6", NOW - 2, untyped)).await, 503);
    // The handler fails: 500; a type not known to Amps, signed 3 s ahead of the receiver.
    let failing = r#"{"type":"schedule.slot_failed","eventId":"evt_fail","data":{}}"#;
    assert_eq!(send(signed(MEMORY, "msg_7", NOW + 3, failing)).await, 500);
}

/// Every metric recorded, one line each: `name{labels} counter N` or `name{labels} histogram
/// count N` (with the values, for the arrival lag), sorted.
fn lines(snapshotter: &Snapshotter) -> Vec<String> {
    let mut lines: Vec<String> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let labels: Vec<String> = key
                .labels()
                .map(|label| format!("{}={}", label.key(), label.value()))
                .collect();
            let value = match value {
                DebugValue::Counter(count) => format!("counter {count}"),
                DebugValue::Gauge(gauge) => format!("gauge {gauge}"),
                DebugValue::Histogram(values) if key.name().contains("lag") => {
                    let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
                    format!("histogram count {} [{}]", values.len(), values.join(" "))
                }
                DebugValue::Histogram(values) => format!("histogram count {}", values.len()),
            };
            format!("{}{{{}}} {value}", key.name(), labels.join(","))
        })
        .collect();
    lines.sort();
    lines
}

/// What the sequence records, on either framework.
const EXPECTED: &[&str] = &[
    "amps_webhooks_arrival_lag_seconds{direction=ahead} histogram count 1 [3]",
    "amps_webhooks_arrival_lag_seconds{direction=behind} histogram count 4 [2 2 2 2]",
    "amps_webhooks_deliveries_total{outcome=duplicate,event_type=push.completed} counter 1",
    "amps_webhooks_deliveries_total{outcome=failed,event_type=other} counter 1",
    "amps_webhooks_deliveries_total{outcome=in_flight,event_type=device.connected} counter 1",
    "amps_webhooks_deliveries_total{outcome=processed,event_type=push.completed} counter 1",
    "amps_webhooks_deliveries_total{outcome=rejected,event_type=none} counter 3",
    "amps_webhooks_deliveries_total{outcome=unavailable,event_type=none} counter 1",
    "amps_webhooks_handler_duration_seconds{outcome=failed} histogram count 1",
    "amps_webhooks_handler_duration_seconds{outcome=processed} histogram count 1",
    "amps_webhooks_rejections_total{reason=body_too_large} counter 1",
    "amps_webhooks_rejections_total{reason=invalid_signature} counter 1",
    "amps_webhooks_rejections_total{reason=missing_header} counter 1",
    "amps_webhooks_store_errors_total{store=custom,operation=claim,error=unavailable} counter 1",
    // The memory store's operations are not timed; the others' are.
    "amps_webhooks_store_operation_duration_seconds{store=custom,operation=claim} histogram count 1",
    // Every body read in full: all but the one over the limit.
    "amps_webhooks_verification_duration_seconds{} histogram count 7",
];

mod on_axum {
    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::post;
    use tower_service::Service as _;

    use amps_webhooks::integrations::VerifiedEvent;
    use amps_webhooks::integrations::axum::WebhookLayer;

    use super::*;

    async fn handle(VerifiedEvent(event): VerifiedEvent<serde_json::Value>) -> StatusCode {
        StatusCode::from_u16(handler_status(event.idempotency_key())).unwrap()
    }

    #[tokio::test]
    async fn the_sequence_through_the_layer() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        // This test's runtime runs on this thread alone: everything it records goes there.
        let _local = metrics::set_default_local_recorder(&recorder);
        let Setup {
            verifier,
            memory,
            down,
        } = setup();
        let layer = |dedup| WebhookLayer::<serde_json::Value>::typed(verifier.clone(), dedup);
        let mut app: Router = Router::new()
            .route(MEMORY, post(handle).layer(layer(memory.clone())))
            .route(DOWN, post(handle).layer(layer(down)))
            .with_state(verifier.clone());
        play(&memory, |post| {
            let mut request = Request::post(post.path);
            for (name, value) in &post.headers {
                request = request.header(name, value);
            }
            let request = request
                .header("content-length", post.body.len())
                .body(Body::from(post.body))
                .unwrap();
            let answer = app.call(request);
            async move { answer.await.unwrap().status().as_u16() }
        })
        .await;
        assert_eq!(lines(&snapshotter), EXPECTED);
    }
}

mod on_actix {
    use actix_web::{App, HttpResponse, test, web};

    use amps_webhooks::integrations::VerifiedEvent;
    use amps_webhooks::integrations::actix::WebhookMiddleware;

    use super::*;

    async fn handle(VerifiedEvent(event): VerifiedEvent<serde_json::Value>) -> HttpResponse {
        let status = handler_status(event.idempotency_key());
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
    }

    #[actix_web::test]
    async fn the_sequence_through_the_middleware() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        // actix's test runtime runs on this thread alone.
        let _local = metrics::set_default_local_recorder(&recorder);
        let Setup {
            verifier,
            memory,
            down,
        } = setup();
        let middleware =
            |dedup| WebhookMiddleware::<serde_json::Value>::typed(verifier.clone(), dedup);
        let app = test::init_service(
            App::new()
                .app_data(verifier.clone())
                .service(
                    web::resource(MEMORY)
                        .wrap(middleware(memory.clone()))
                        .route(web::post().to(handle)),
                )
                .service(
                    web::resource(DOWN)
                        .wrap(middleware(down))
                        .route(web::post().to(handle)),
                ),
        )
        .await;
        play(&memory, |post| {
            let mut request = test::TestRequest::post().uri(post.path);
            for (name, value) in post.headers {
                request = request.insert_header((name, value));
            }
            let request = request.set_payload(post.body).to_request();
            let answer = test::call_service(&app, request);
            async move { answer.await.status().as_u16() }
        })
        .await;
        assert_eq!(lines(&snapshotter), EXPECTED);
    }
}

mod on_queue {
    use std::sync::Mutex;

    use axum::Router;
    use axum::body::Body;
    use axum::http::Request;
    use tower_service::Service as _;

    use amps_webhooks::Clock;
    use amps_webhooks::integrations::axum::enqueue_route_typed;
    use amps_webhooks::queue::{Job, MemoryQueue, Queue, WorkerReport};
    use amps_webhooks::retry::RetrySchedule;

    use super::*;

    /// Fails `evt_flaky`'s first attempt and every attempt of `evt_dead`.
    fn handle(attempts: &Mutex<Vec<String>>, job: &Job) -> Result<(), String> {
        attempts.lock().unwrap().push(job.key().to_owned());
        match (job.key(), job.attempt()) {
            ("evt_flaky", 1) | ("evt_dead", _) => Err("upstream said 502".to_owned()),
            _ => Ok(()),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_sequence_through_the_enqueue_route_and_the_worker() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        // This test's runtime (and the worker's tasks) runs on this thread alone.
        let _local = metrics::set_default_local_recorder(&recorder);
        let Setup { verifier, .. } = setup();
        let clock: Arc<dyn Clock> = Arc::new(MockClock::at_unix(NOW));
        let backend = MemoryQueue::builder()
            .shared_clock(Arc::clone(&clock))
            .build();
        let queue = Queue::new(Arc::new(backend), "metrics")
            .unwrap()
            .with_clock(clock);
        let mut app: Router = Router::new().route(
            MEMORY,
            enqueue_route_typed::<serde_json::Value, _>(verifier, queue.clone()),
        );
        let mut send = |post: Post| {
            let mut request = Request::post(post.path);
            for (name, value) in &post.headers {
                request = request.header(name, value);
            }
            let request = request
                .header("content-length", post.body.len())
                .body(Body::from(post.body))
                .unwrap();
            let answer = app.call(request);
            async move { answer.await.unwrap().status().as_u16() }
        };
        let ok = r#"{"type":"push.completed","eventId":"evt_ok","data":{}}"#;
        let flaky = r#"{"type":"device.connected","eventId":"evt_flaky","data":{}}"#;
        let dead = r#"{"type":"schedule.slot_failed","eventId":"evt_dead","data":{}}"#;
        assert_eq!(send(signed(MEMORY, "msg_1", NOW - 2, ok)).await, 200);
        // Its redelivery: a duplicate, not queued again.
        assert_eq!(send(signed(MEMORY, "msg_1", NOW - 2, ok)).await, 200);
        assert_eq!(send(signed(MEMORY, "msg_2", NOW - 2, flaky)).await, 200);
        assert_eq!(send(signed(MEMORY, "msg_3", NOW - 2, dead)).await, 200);
        let mut forged = signed(MEMORY, "msg_4", NOW - 2, ok);
        forged.body = br#"{"type":"push.completed","eventId":"evt_9","data":{}}"#.to_vec();
        assert_eq!(send(forged).await, 401);

        // Two attempts each, the retry due at once.
        let schedule = RetrySchedule::fixed([Duration::ZERO, Duration::ZERO])
            .unwrap()
            .with_jitter(0.0)
            .unwrap();
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let report = queue
            .worker::<(), String>()
            .concurrency(1)
            .schedule(schedule)
            .drain(true)
            .build()
            .run(
                {
                    let attempts = Arc::clone(&attempts);
                    move |job: Job| {
                        let answer = handle(&attempts, &job);
                        async move { answer }
                    }
                },
                std::future::pending(),
            )
            .await
            .unwrap();
        assert_eq!(
            report,
            WorkerReport {
                done: 2,
                retried: 2,
                dead: 1,
                ..WorkerReport::default()
            }
        );
        assert_eq!(attempts.lock().unwrap().len(), 5);
        let stats = queue.stats().await.unwrap();
        assert_eq!((stats.pending, stats.running, stats.dead), (0, 0, 1));

        assert_eq!(
            lines(&snapshotter),
            [
                // Four verified (the redelivery too), 2 s late; the forged body is not.
                "amps_webhooks_arrival_lag_seconds{direction=behind} histogram count 4 [2 2 2 2]",
                "amps_webhooks_deliveries_total{outcome=duplicate,event_type=push.completed} counter 1",
                "amps_webhooks_deliveries_total{outcome=queued,event_type=device.connected} counter 1",
                "amps_webhooks_deliveries_total{outcome=queued,event_type=other} counter 1",
                "amps_webhooks_deliveries_total{outcome=queued,event_type=push.completed} counter 1",
                "amps_webhooks_deliveries_total{outcome=rejected,event_type=none} counter 1",
                // evt_flaky's first, evt_dead's two; evt_ok's and evt_flaky's second.
                "amps_webhooks_queue_attempt_duration_seconds{backend=memory,result=failed} histogram count 3",
                "amps_webhooks_queue_attempt_duration_seconds{backend=memory,result=succeeded} histogram count 2",
                "amps_webhooks_queue_attempts_total{backend=memory,result=failed} counter 3",
                "amps_webhooks_queue_attempts_total{backend=memory,result=succeeded} counter 2",
                "amps_webhooks_queue_dead_lettered_total{backend=memory} counter 1",
                // The last stats: evt_dead alone is left.
                "amps_webhooks_queue_jobs{backend=memory,state=dead} gauge 1",
                "amps_webhooks_queue_jobs{backend=memory,state=pending} gauge 0",
                "amps_webhooks_queue_jobs{backend=memory,state=running} gauge 0",
                "amps_webhooks_queue_oldest_pending_age_seconds{backend=memory} gauge 0",
                "amps_webhooks_rejections_total{reason=invalid_signature} counter 1",
                "amps_webhooks_verification_duration_seconds{} histogram count 5",
            ]
        );
    }
}
