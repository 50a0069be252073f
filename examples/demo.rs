//! The whole story in one command, no set-up:
//!
//! ```sh
//! cargo run --example demo --features demo
//! ```
//!
//! Starts a receiver in this process (axum + `WebhookLayer` on the in-memory store) on a free
//! loopback port, delivers a batch of signed Amps events with the reference sender (a short
//! retry schedule: 0 s, 200 ms, 400 ms), including redeliveries, a duplicate event under a new
//! message id, a burst of concurrent duplicates, a tampered body, a stale timestamp and a
//! handler failure that succeeds on its retry, then prints what happened to each event.
//!
//! Then the queue: a handler slower than the sender waits (the platform's 30 s, scaled down
//! to 1 s here) times out in request mode, and is acknowledged at once in enqueue mode
//! (`integrations::axum::enqueue_route` on a `queue::MemoryQueue`), a worker running it after
//! the 200.
//!
//! Exits 1 if any event was lost or processed twice, or a forged request got through, or the
//! queued slow event was not acknowledged and run once.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amps_webhooks::integrations::VerifiedEvent;
use amps_webhooks::integrations::axum::{WebhookLayer, enqueue_route};
use amps_webhooks::queue::{Job, MemoryQueue, Queue};
use amps_webhooks::retry::RetrySchedule;
use amps_webhooks::sender::{AttemptResult, DeliveryReport, HeaderStyle, Sender};
use amps_webhooks::store::{Deduplicator, MemoryStore};
use amps_webhooks::testing::Fixture;
use amps_webhooks::{AmpsEvent, Clock as _, Secret, Signer, SystemClock, Verifier};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;

/// A demo secret, for this process only.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The handler's side effects, and the events it fails on their first run.
#[derive(Default)]
struct Shop {
    effects: Mutex<HashMap<String, usize>>,
    fail_once: Mutex<Vec<String>>,
}

#[derive(Clone)]
struct AppState {
    verifier: Verifier,
    shop: Arc<Shop>,
}

impl axum::extract::FromRef<AppState> for Verifier {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

async fn handle(
    State(state): State<AppState>,
    VerifiedEvent(event): VerifiedEvent<AmpsEvent>,
) -> (StatusCode, &'static str) {
    let key = event.idempotency_key().to_owned();
    {
        let mut failing = state
            .shop
            .fail_once
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(at) = failing.iter().position(|k| *k == key) {
            failing.remove(at);
            return (StatusCode::INTERNAL_SERVER_ERROR, "the database blinked");
        }
    }
    if key == "evt_burst" {
        // Slow enough that the concurrent copies find it in flight (409) and retry.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    // The effect: applied once per event, whatever the platform redelivers.
    *state
        .shop
        .effects
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key)
        .or_default() += 1;
    (StatusCode::OK, "processed")
}

fn envelope(event_type: &str, event_id: &str, data: &str) -> String {
    format!(
        r#"{{"event":"{event_type}","eventId":"{event_id}","timestamp":"{}","data":{data}}}"#,
        jiff::Timestamp::now()
    )
}

const PUSH_DATA: &str = r#"{"actionId":"act_1","deviceId":"dev_1","result":{"success":true},"completedAt":"2026-05-08T22:00:05Z"}"#;
const FAILED_DATA: &str = r#"{"actionId":"act_2","deviceId":"dev_1","error":{"code":"DEVICE_OFFLINE","message":"no answer"},"failedAt":"2026-05-08T22:00:05Z"}"#;
const DEVICE_DATA: &str = r#"{"deviceId":"dev_1","connectedAt":"2026-05-08T22:00:05Z"}"#;

/// One row of the table.
struct Row {
    case: &'static str,
    event: String,
    ids: String,
    attempts: String,
    answer: String,
    expected: usize,
}

fn attempts(report: &DeliveryReport) -> String {
    report
        .attempts
        .iter()
        .map(|attempt| match &attempt.result {
            AttemptResult::Response { status, .. } => status.to_string(),
            AttemptResult::TimedOut { .. } => "timeout".to_owned(),
            _ => "error".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" → ")
}

fn answer(result: &AttemptResult) -> String {
    match result {
        AttemptResult::Response { status, body, .. } if body.contains("duplicate") => {
            format!("{status} duplicate, handler not run")
        }
        AttemptResult::Response { status, body, .. } if body.contains("\"error\"") => {
            let code = serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or_default();
            format!("{status} rejected ({code})")
        }
        AttemptResult::Response { status, body, .. } => format!("{status} {body}"),
        other => other.to_string(),
    }
}

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let secret: Secret = SECRET.parse()?;
    let verifier = Verifier::new(secret.clone());
    let dedup = Deduplicator::new(Arc::new(MemoryStore::new(10_000)), "demo")?;
    let shop = Arc::new(Shop::default());
    shop.fail_once
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push("evt_flaky".to_owned());
    let app = Router::new()
        .route(
            "/webhooks",
            post(handle).layer(WebhookLayer::new(verifier.clone(), dedup)),
        )
        .with_state(AppState {
            verifier,
            shop: Arc::clone(&shop),
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/webhooks", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("receiver listening on {url} (axum + WebhookLayer, in-memory store)\n");

    let signer = Signer::new(secret);
    let schedule = RetrySchedule::fixed([
        Duration::ZERO,
        Duration::from_millis(200),
        Duration::from_millis(400),
    ])?;
    let sender = Sender::builder(signer.clone())
        .schedule(schedule)
        .timeout(Duration::from_secs(5))
        .header_style(HeaderStyle::Both)
        .build();

    let mut rows = Vec::new();
    let mut deliver = async |case, id: &str, event: &str, event_type, data, expected| {
        let report = sender
            .send(&url, id, envelope(event_type, event, data))
            .await?;
        let last = report.attempts.last().map(|a| answer(&a.result));
        rows.push(Row {
            case,
            event: event.to_owned(),
            ids: id.to_owned(),
            attempts: attempts(&report),
            answer: last.unwrap_or_default(),
            expected,
        });
        Ok::<_, Box<dyn std::error::Error>>(())
    };

    deliver(
        "new event",
        "msg_1",
        "evt_push",
        "push.completed",
        PUSH_DATA,
        1,
    )
    .await?;
    deliver(
        "new event",
        "msg_2",
        "evt_device",
        "device.connected",
        DEVICE_DATA,
        1,
    )
    .await?;
    deliver(
        "redelivery (same message)",
        "msg_1",
        "evt_push",
        "push.completed",
        PUSH_DATA,
        1,
    )
    .await?;
    deliver(
        "same event, new message id",
        "msg_3",
        "evt_device",
        "device.connected",
        DEVICE_DATA,
        1,
    )
    .await?;
    deliver(
        "handler fails once",
        "msg_4",
        "evt_flaky",
        "push.failed",
        FAILED_DATA,
        1,
    )
    .await?;

    // Five deliveries of one event at once: one runs the handler; the others are told it is
    // done (200) or in flight (409, retried).
    let burst = (0..5).map(|n| {
        let sender = sender.clone();
        let url = url.clone();
        async move {
            sender
                .send(
                    &url,
                    &format!("msg_burst_{n}"),
                    envelope("push.completed", "evt_burst", PUSH_DATA),
                )
                .await
        }
    });
    let reports = futures_join_all(burst).await;
    let mut burst_attempts = Vec::new();
    let mut burst_delivered = 0;
    for report in reports {
        let report = report?;
        burst_attempts.push(attempts(&report));
        burst_delivered += usize::from(report.is_delivered());
    }
    rows.push(Row {
        case: "5 concurrent duplicates",
        event: "evt_burst".to_owned(),
        ids: "msg_burst_0..4".to_owned(),
        attempts: burst_attempts.join(", "),
        answer: format!("{burst_delivered} of 5 delivered"),
        expected: 1,
    });

    // A signed request whose body was changed on the way.
    let body = envelope("push.completed", "evt_tampered", PUSH_DATA);
    let fixture = Fixture::sign(
        &signer,
        "msg_5",
        SystemClock.unix_seconds(),
        body.as_bytes(),
        HeaderStyle::Webhook,
    )?;
    let tampered = fixture.clone().with_body(body.replace("act_1", "act_9"));
    let result = tampered.replay_http(&sender, &url).await?;
    rows.push(Row {
        case: "tampered body",
        event: "evt_tampered".to_owned(),
        ids: "msg_5".to_owned(),
        attempts: attempts_of(&result),
        answer: answer(&result),
        expected: 0,
    });

    // A correctly signed request replayed ten minutes later.
    let body = envelope("push.completed", "evt_stale", PUSH_DATA);
    let stale = Fixture::sign(
        &signer,
        "msg_6",
        SystemClock.unix_seconds() - 600,
        body.as_bytes(),
        HeaderStyle::Webhook,
    )?;
    let result = stale.replay_http(&sender, &url).await?;
    rows.push(Row {
        case: "stale timestamp (10 min)",
        event: "evt_stale".to_owned(),
        ids: "msg_6".to_owned(),
        attempts: attempts_of(&result),
        answer: answer(&result),
        expected: 0,
    });

    let effects = shop
        .effects
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    println!(
        "{:<27} {:<12} {:<15} {:<48} {:<42} handler ran",
        "case", "event", "message id", "attempts", "last answer"
    );
    println!("{}", "-".repeat(164));
    let mut wrong = 0;
    for row in &rows {
        let ran = effects.get(&row.event).copied().unwrap_or(0);
        let verdict = if ran == row.expected { "ok" } else { "WRONG" };
        if ran != row.expected {
            wrong += 1;
        }
        println!(
            "{:<27} {:<12} {:<15} {:<48} {:<42} {} (expected {}) {verdict}",
            row.case, row.event, row.ids, row.attempts, row.answer, ran, row.expected
        );
    }
    let processed: usize = effects.values().sum();
    println!(
        "\n{} events processed, each exactly once: {}",
        effects.len(),
        if wrong == 0 && processed == effects.len() {
            "yes"
        } else {
            "NO"
        }
    );
    if burst_delivered != 5 {
        wrong += 1;
    }
    wrong += slow_handler_part(&signer).await?;
    if wrong > 0 {
        eprintln!("{wrong} event(s) lost, processed twice, or let through unsigned");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// How long the slow handler takes, and how long the sender waits for an answer (the
/// platform's 30 s, scaled down).
const SLOW_HANDLER: Duration = Duration::from_millis(1500);
const SENDER_TIMEOUT: Duration = Duration::from_secs(1);

/// The slow handler's effect: one more run of `key`.
async fn slow_effect(runs: &Mutex<HashMap<String, usize>>, key: &str) {
    tokio::time::sleep(SLOW_HANDLER).await;
    *runs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key.to_owned())
        .or_default() += 1;
}

/// A handler slower than the sender waits: in request mode it times out (the platform would
/// deliver again); in enqueue mode the receiver answers 200 at once and a worker runs it.
/// Answers how many checks went wrong.
async fn slow_handler_part(signer: &Signer) -> Result<usize, Box<dyn std::error::Error>> {
    let secret: Secret = SECRET.parse()?;
    let verifier = Verifier::new(secret);
    let runs: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let dedup = Deduplicator::new(Arc::new(MemoryStore::new(1_000)), "demo-slow")?;
    let queue = Queue::new(Arc::new(MemoryQueue::new()), "demo-slow")?;
    let in_request = {
        let runs = Arc::clone(&runs);
        move |VerifiedEvent(event): VerifiedEvent<AmpsEvent>| async move {
            slow_effect(&runs, event.idempotency_key()).await;
            "processed"
        }
    };
    let app = Router::new()
        .route(
            "/slow",
            post(in_request).layer(WebhookLayer::new(verifier.clone(), dedup)),
        )
        .route("/queued", enqueue_route(verifier.clone(), queue.clone()))
        .with_state(verifier);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let worker = queue.worker().concurrency(4).build();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let working = {
        let runs = Arc::clone(&runs);
        tokio::spawn(worker.run(
            move |job: Job| {
                let runs = Arc::clone(&runs);
                async move {
                    slow_effect(&runs, job.key()).await;
                    Ok::<_, std::convert::Infallible>(())
                }
            },
            async move {
                let _ = stopped.await;
            },
        ))
    };

    // One attempt each, so that a timeout shows as the platform would see it.
    let sender = Sender::builder(signer.clone())
        .schedule(RetrySchedule::fixed([Duration::ZERO])?)
        .timeout(SENDER_TIMEOUT)
        .build();
    println!(
        "\na handler that takes {} ms, a sender that waits {} ms (the platform's 30 s, scaled down):",
        SLOW_HANDLER.as_millis(),
        SENDER_TIMEOUT.as_millis()
    );
    let started = std::time::Instant::now();
    let request = sender
        .send(
            &format!("{base}/slow"),
            "msg_slow_1",
            envelope("push.completed", "evt_slow_1", PUSH_DATA),
        )
        .await?;
    println!(
        "  request mode  evt_slow_1  {:<40} after {} ms",
        request
            .attempts
            .last()
            .map(|a| answer(&a.result))
            .unwrap_or_default(),
        started.elapsed().as_millis()
    );
    let started = std::time::Instant::now();
    let queued = sender
        .send(
            &format!("{base}/queued"),
            "msg_slow_2",
            envelope("push.completed", "evt_slow_2", PUSH_DATA),
        )
        .await?;
    let acknowledged_in = started.elapsed();
    println!(
        "  enqueue mode  evt_slow_2  {:<40} after {} ms",
        queued
            .attempts
            .last()
            .map(|a| answer(&a.result))
            .unwrap_or_default(),
        acknowledged_in.as_millis()
    );
    // The worker runs it after the 200: wait for its effect (at most 10 s).
    let mut done = 0;
    for _ in 0..100 {
        done = queue.stats().await?.done;
        if done == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop.send(());
    let report = working.await??;
    let ran = runs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get("evt_slow_2")
        .copied()
        .unwrap_or(0);
    println!(
        "  the worker ran evt_slow_2 after the 200: {ran} time(s), job done: {} (worker: {} done)",
        done == 1,
        report.done
    );
    let mut wrong = 0;
    if request.is_delivered() {
        eprintln!("the slow handler answered within the sender's timeout in request mode");
        wrong += 1;
    }
    if !queued.is_delivered() || ran != 1 || done != 1 {
        eprintln!("the queued slow event was not acknowledged at once and run once");
        wrong += 1;
    }
    Ok(wrong)
}

fn attempts_of(result: &AttemptResult) -> String {
    result
        .status()
        .map_or_else(|| "error".to_owned(), |status| status.to_string())
}

/// Runs the futures concurrently and collects their outputs in order.
async fn futures_join_all<F: Future + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    for handle in handles {
        match handle.await {
            Ok(output) => outputs.push(output),
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }
    outputs
}
