//! The `amps_webhooks.delivery` span: one per delivery through axum's `WebhookLayer`, actix's
//! `WebhookMiddleware` and each framework's bare extractor, with OpenTelemetry's field names
//! and the exact values; none holds the body, the idempotency key or the secret. And the
//! `amps_webhooks.job` span: one per attempt of a queued job, run by the queue's worker.
// The capturing subscriber is not a test: clippy.toml's test allowances do not reach it.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amps_webhooks::store::{Deduplicator, MemoryStore};
use amps_webhooks::{MockClock, Secret, Signer, Verifier};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

const NOW: u64 = 1_700_000_000;
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const BODY: &str =
    r#"{"type":"push.completed","eventId":"evt_key_1","data":{"note":"body-only-text"}}"#;

/// A span as captured: its name and every field recorded, at creation or later.
type Captured = (String, BTreeMap<String, String>);

/// Keeps every span, in the order they were opened.
#[derive(Default, Clone)]
struct Capture {
    spans: Arc<Mutex<Vec<Captured>>>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        self.0.insert(field.name().to_owned(), text);
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        let mut fields = BTreeMap::new();
        attributes.record(&mut Fields(&mut fields));
        let mut spans = self.spans.lock().unwrap();
        spans.push((attributes.metadata().name().to_owned(), fields));
        Id::from_u64(spans.len() as u64)
    }
    fn record(&self, id: &Id, values: &Record<'_>) {
        let mut spans = self.spans.lock().unwrap();
        let index = usize::try_from(id.into_u64() - 1).unwrap();
        values.record(&mut Fields(&mut spans[index].1));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Capture {
    /// This crate's spans (a framework's own, if any, left out).
    fn spans(&self) -> Vec<Captured> {
        let spans = self.spans.lock().unwrap();
        spans
            .iter()
            .filter(|(name, _)| name.starts_with("amps_webhooks."))
            .cloned()
            .collect()
    }
}

fn verifier() -> Verifier {
    Verifier::builder()
        .secret(SECRET.parse::<Secret>().unwrap())
        .clock(MockClock::at_unix(NOW))
        .build()
        .unwrap()
}

fn dedup() -> Deduplicator {
    let store = MemoryStore::builder()
        .capacity(100)
        .clock(MockClock::at_unix(NOW))
        .build();
    Deduplicator::new(Arc::new(store), "spans").unwrap()
}

/// The headers of `BODY` signed as `id`; with `forged`, the signature of another body.
fn headers(id: &str, forged: bool) -> Vec<(String, String)> {
    let body = if forged { "{}" } else { BODY };
    let signed = Signer::new(SECRET.parse().unwrap())
        .sign(id, NOW, body.as_bytes())
        .unwrap();
    signed
        .webhook_headers()
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

fn span(fields: &[(&str, &str)]) -> Captured {
    let fields = fields
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    ("amps_webhooks.delivery".to_owned(), fields)
}

/// What each framework's four requests leave: processed and rejected behind the middleware,
/// then verified and rejected by the bare extractor (which records no status when it lets the
/// request through: the handler answers, not it).
fn expected() -> Vec<Captured> {
    vec![
        span(&[
            ("http.request.method", "POST"),
            ("http.route", "/webhooks"),
            ("http.response.status_code", "200"),
            ("messaging.message.id", "msg_1"),
            ("amps_webhooks.event.type", "push.completed"),
            ("amps_webhooks.outcome", "processed"),
        ]),
        span(&[
            ("http.request.method", "POST"),
            ("http.route", "/webhooks"),
            ("http.response.status_code", "401"),
            ("messaging.message.id", "msg_2"),
            ("amps_webhooks.outcome", "rejected"),
        ]),
        span(&[
            ("http.request.method", "POST"),
            ("http.route", "/plain"),
            ("messaging.message.id", "msg_3"),
            ("amps_webhooks.event.type", "push.completed"),
        ]),
        span(&[
            ("http.request.method", "POST"),
            ("http.route", "/plain"),
            ("http.response.status_code", "401"),
            ("messaging.message.id", "msg_4"),
            ("amps_webhooks.outcome", "rejected"),
        ]),
    ]
}

/// No field holds the body, the idempotency key or the secret.
fn assert_nothing_leaks(spans: &[Captured]) {
    for (_, fields) in spans {
        for value in fields.values() {
            for secret in [
                "body-only-text",
                "evt_key_1",
                SECRET,
                "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            ] {
                assert!(!value.contains(secret), "{value}");
            }
        }
    }
}

/// The four requests: (path, id, forged), and the status each gets.
const REQUESTS: [(&str, &str, bool, u16); 4] = [
    ("/webhooks", "msg_1", false, 200),
    ("/webhooks", "msg_2", true, 401),
    ("/plain", "msg_3", false, 200),
    ("/plain", "msg_4", true, 401),
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

    async fn handle(VerifiedEvent(_): VerifiedEvent<serde_json::Value>) -> StatusCode {
        StatusCode::OK
    }

    #[tokio::test]
    async fn one_span_per_delivery_with_the_otel_fields() {
        let capture = Capture::default();
        let _default = tracing::subscriber::set_default(capture.clone());
        let verifier = verifier();
        let layer = WebhookLayer::<serde_json::Value>::typed(verifier.clone(), dedup())
            .unavailable_retry_after(Duration::from_secs(1));
        let mut app: Router = Router::new()
            .route("/webhooks", post(handle).layer(layer))
            .route("/plain", post(handle))
            .with_state(verifier);
        for (path, id, forged, status) in REQUESTS {
            let mut request = Request::post(path);
            for (name, value) in headers(id, forged) {
                request = request.header(name, value);
            }
            let response = app
                .call(request.body(Body::from(BODY)).unwrap())
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), status, "{path} {id}");
        }
        let spans = capture.spans();
        assert_eq!(spans, expected());
        assert_nothing_leaks(&spans);
    }
}

mod on_actix {
    use actix_web::{App, HttpResponse, test, web};

    use amps_webhooks::integrations::VerifiedEvent;
    use amps_webhooks::integrations::actix::WebhookMiddleware;

    use super::*;

    async fn handle(VerifiedEvent(_): VerifiedEvent<serde_json::Value>) -> HttpResponse {
        HttpResponse::Ok().finish()
    }

    #[actix_web::test]
    async fn one_span_per_delivery_with_the_otel_fields() {
        let capture = Capture::default();
        let _default = tracing::subscriber::set_default(capture.clone());
        let verifier = verifier();
        let app = test::init_service(
            App::new()
                .app_data(verifier.clone())
                .service(
                    web::resource("/webhooks")
                        .wrap(WebhookMiddleware::<serde_json::Value>::typed(
                            verifier.clone(),
                            dedup(),
                        ))
                        .route(web::post().to(handle)),
                )
                .service(web::resource("/plain").route(web::post().to(handle))),
        )
        .await;
        for (path, id, forged, status) in REQUESTS {
            let mut request = test::TestRequest::post().uri(path);
            for header in headers(id, forged) {
                request = request.insert_header(header);
            }
            let response = test::call_service(&app, request.set_payload(BODY).to_request()).await;
            assert_eq!(response.status().as_u16(), status, "{path} {id}");
        }
        let spans = capture.spans();
        assert_eq!(spans, expected());
        assert_nothing_leaks(&spans);
    }
}

mod on_the_worker {
    use std::time::SystemTime;

    use amps_webhooks::WebhookTimestamp;
    use amps_webhooks::queue::{Enqueue, Job, JobRecord, MemoryQueue, Queue};
    use amps_webhooks::retry::RetrySchedule;

    use super::*;

    fn job_span(attempt: &str) -> Captured {
        let fields = [
            ("messaging.message.id", "msg_1"),
            ("amps_webhooks.event.type", "push.completed"),
            ("amps_webhooks.job.attempt", attempt),
        ]
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
        ("amps_webhooks.job".to_owned(), fields)
    }

    #[tokio::test(start_paused = true)]
    async fn one_span_per_attempt_with_its_id_type_and_number() {
        let capture = Capture::default();
        let _default = tracing::subscriber::set_default(capture.clone());
        let clock: Arc<dyn amps_webhooks::Clock> = Arc::new(MockClock::at_unix(NOW));
        let backend = MemoryQueue::builder()
            .shared_clock(Arc::clone(&clock))
            .build();
        let queue = Queue::new(Arc::new(backend), "spans")
            .unwrap()
            .with_clock(clock);
        let received = SystemTime::UNIX_EPOCH + Duration::from_secs(NOW);
        let record = JobRecord {
            webhook_id: "msg_1".to_owned(),
            key: "evt_key_1".to_owned(),
            event_type: Some("push.completed".to_owned()),
            timestamp: WebhookTimestamp::from_unix(NOW),
            received_at: received,
            body: BODY.as_bytes().to_vec(),
            headers: Vec::new(),
            attempts: 0,
            last_error: None,
            next_run_at: SystemTime::UNIX_EPOCH,
        };
        assert_eq!(
            queue.enqueue_record(&record).await.unwrap(),
            Enqueue::Enqueued
        );
        let schedule = RetrySchedule::fixed([Duration::ZERO, Duration::ZERO])
            .unwrap()
            .with_jitter(0.0)
            .unwrap();
        // The first attempt fails, the second succeeds.
        let report = queue
            .worker::<(), String>()
            .schedule(schedule)
            .drain(true)
            .build()
            .run(
                |job: Job| async move {
                    if job.attempt() == 1 {
                        Err("upstream said 502".to_owned())
                    } else {
                        Ok(())
                    }
                },
                std::future::pending(),
            )
            .await
            .unwrap();
        assert_eq!((report.retried, report.done), (1, 1));
        let spans = capture.spans();
        assert_eq!(spans, [job_span("1"), job_span("2")]);
        assert_nothing_leaks(&spans);
    }
}
