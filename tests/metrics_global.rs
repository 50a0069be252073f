//! Feature `metrics`, under a global recorder (this binary installs one, so it holds this test
//! alone): once `describe` is called, each delivery records through handles registered once,
//! on every thread, not looked up again per request; a thread's local recorder set afterwards
//! takes that thread's records instead (the global recorder sees none of them), and the global
//! one has them again once the local one is gone.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use amps_webhooks::integrations::VerifiedEvent;
use amps_webhooks::integrations::axum::WebhookLayer;
use amps_webhooks::store::{Deduplicator, MemoryStore};
use amps_webhooks::{MockClock, Secret, Signer, Verifier};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::post;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tower_service::Service as _;

const NOW: u64 = 1_700_000_000;
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A debugging recorder that counts the handles asked of it.
struct Counting {
    inner: DebuggingRecorder,
    registered: Arc<AtomicUsize>,
}

impl Recorder for Counting {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_counter(key, unit, description);
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_gauge(key, unit, description);
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_histogram(key, unit, description);
    }
    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.registered.fetch_add(1, Ordering::SeqCst);
        self.inner.register_counter(key, metadata)
    }
    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.registered.fetch_add(1, Ordering::SeqCst);
        self.inner.register_gauge(key, metadata)
    }
    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.registered.fetch_add(1, Ordering::SeqCst);
        self.inner.register_histogram(key, metadata)
    }
}

async fn handle(VerifiedEvent(event): VerifiedEvent<serde_json::Value>) -> StatusCode {
    if event.idempotency_key().starts_with("evt_fail") {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

/// The receiver: verification at `NOW`, deduplication on a memory store.
fn app() -> Router {
    let verifier = Verifier::builder()
        .secret(SECRET.parse::<Secret>().unwrap())
        .clock(MockClock::at_unix(NOW))
        .build()
        .unwrap();
    let dedup = Deduplicator::new(Arc::new(MemoryStore::new(1_000)), "global").unwrap();
    Router::new()
        .route(
            "/webhooks",
            post(handle).layer(WebhookLayer::<serde_json::Value>::typed(
                verifier.clone(),
                dedup,
            )),
        )
        .with_state(verifier)
}

/// Posts event `n` (a `push.completed`, signed 2 s before `NOW`; `evt_fail_n` when `fail`) on
/// a runtime of this thread; the status.
fn post_event(app: &mut Router, n: usize, fail: bool) -> u16 {
    let key = if fail {
        format!("evt_fail_{n}")
    } else {
        format!("evt_{n}")
    };
    let body = format!(r#"{{"type":"push.completed","eventId":"{key}","data":{{}}}}"#);
    let signed = Signer::new(SECRET.parse().unwrap())
        .sign(&format!("msg_{n}"), NOW - 2, body.as_bytes())
        .unwrap();
    let mut request = Request::post("/webhooks");
    for (name, value) in signed.webhook_headers() {
        request = request.header(name, value);
    }
    let request = request
        .header("content-length", body.len())
        .body(Body::from(body))
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async { app.call(request).await.unwrap().status().as_u16() })
}

/// What was recorded since the last snapshot, one line per metric (histograms by count), sorted.
fn lines(snapshotter: &Snapshotter) -> Vec<String> {
    let mut lines: Vec<String> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| {
            let key = key.key();
            let labels: Vec<String> = key
                .labels()
                .map(|label| format!("{}={}", label.key(), label.value()))
                .collect();
            let value = match value {
                DebugValue::Counter(0) => return None,
                DebugValue::Counter(count) => format!("counter {count}"),
                DebugValue::Gauge(gauge) => format!("gauge {gauge}"),
                DebugValue::Histogram(values) if values.is_empty() => return None,
                DebugValue::Histogram(values) => format!("histogram count {}", values.len()),
            };
            Some(format!("{}{{{}}} {value}", key.name(), labels.join(",")))
        })
        .collect();
    lines.sort();
    lines
}

/// What `processed` deliveries and `failed` ones record, on the memory store (not timed).
fn expected(processed: usize, failed: usize) -> Vec<String> {
    let mut expected = vec![
        format!(
            "amps_webhooks_arrival_lag_seconds{{direction=behind}} histogram count {}",
            processed + failed
        ),
        format!(
            "amps_webhooks_verification_duration_seconds{{}} histogram count {}",
            processed + failed
        ),
    ];
    if processed > 0 {
        expected.push(format!("amps_webhooks_deliveries_total{{outcome=processed,event_type=push.completed}} counter {processed}"));
        expected.push(format!(
            "amps_webhooks_handler_duration_seconds{{outcome=processed}} histogram count {processed}"
        ));
    }
    if failed > 0 {
        expected.push(format!("amps_webhooks_deliveries_total{{outcome=failed,event_type=push.completed}} counter {failed}"));
        expected.push(format!(
            "amps_webhooks_handler_duration_seconds{{outcome=failed}} histogram count {failed}"
        ));
    }
    expected.sort();
    expected
}

#[test]
fn deliveries_record_through_the_global_recorders_handles_and_a_local_recorder_takes_over() {
    let inner = DebuggingRecorder::new();
    let global = inner.snapshotter();
    let registered = Arc::new(AtomicUsize::new(0));
    metrics::set_global_recorder(Counting {
        inner,
        registered: Arc::clone(&registered),
    })
    .unwrap_or_else(|_| panic!("this binary installs the one global recorder"));
    amps_webhooks::metrics::describe();
    let mut app = app();

    // Six handles (the arrival lag, the verification, the processed and the failed deliveries
    // and handler durations), each registered once for all these deliveries.
    for n in 0..20 {
        assert_eq!(
            post_event(&mut app, n, n % 10 == 9),
            [200, 500][usize::from(n % 10 == 9)]
        );
    }
    // Another thread: the same handles.
    std::thread::scope(|scope| {
        let mut app = app.clone();
        scope.spawn(move || assert_eq!(post_event(&mut app, 100, false), 200));
    });
    assert_eq!(registered.load(Ordering::SeqCst), 6);
    assert_eq!(lines(&global), expected(19, 2));

    // A local recorder on this thread takes its records; the global one sees none.
    let local = DebuggingRecorder::new();
    let local_snapshotter = local.snapshotter();
    {
        let _local = metrics::set_default_local_recorder(&local);
        assert_eq!(post_event(&mut app, 200, false), 200);
        assert_eq!(post_event(&mut app, 201, true), 500);
    }
    assert_eq!(lines(&local_snapshotter), expected(1, 1));
    assert_eq!(lines(&global), Vec::<String>::new());
    assert_eq!(registered.load(Ordering::SeqCst), 6);

    // The local recorder gone, the global one has them again, through the same handles.
    assert_eq!(post_event(&mut app, 300, false), 200);
    assert_eq!(lines(&global), expected(1, 0));
    assert_eq!(registered.load(Ordering::SeqCst), 6);
}
