//! The reference sender against a scripted endpoint on loopback: what it sends on each attempt
//! and how it reacts to each kind of answer. Time is a `MockClock` moved by the
//! `InstantSleeper`; only the per-attempt timeout is real.
#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amps_webhooks::retry::{RetrySchedule, SeededJitter};
use amps_webhooks::sender::{
    AttemptResult, DeliveryEnd, HeaderStyle, InstantSleeper, SendError, Sender,
};
use amps_webhooks::{KeySet, MockClock, SignError, Signer, Verifier};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NOW: u64 = 1_700_000_000;

/// One scripted answer: a status and its headers.
type Script = (u16, Vec<(&'static str, &'static str)>);

#[derive(Default)]
struct Endpoint {
    script: Mutex<VecDeque<Script>>,
    received: Mutex<Vec<(HeaderMap, Bytes)>>,
}

async fn answer(
    State(endpoint): State<Arc<Endpoint>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    endpoint.received.lock().unwrap().push((headers, body));
    let (status, extra) = endpoint
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or((200, Vec::new()));
    let mut response = (StatusCode::from_u16(status).unwrap(), "scripted").into_response();
    for (name, value) in extra {
        response
            .headers_mut()
            .insert(name, axum::http::HeaderValue::from_static(value));
    }
    response
}

async fn endpoint(script: Vec<Script>) -> (String, Arc<Endpoint>) {
    let endpoint = Arc::new(Endpoint {
        script: Mutex::new(script.into()),
        received: Mutex::default(),
    });
    let app = Router::new()
        .route("/hook", post(answer))
        .with_state(Arc::clone(&endpoint));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), endpoint)
}

fn sender(clock: &MockClock, schedule: RetrySchedule) -> (Sender, InstantSleeper) {
    let sleeper = InstantSleeper::new(clock.clone());
    let sender = Sender::builder(Signer::new(SECRET.parse().unwrap()))
        .clock(clock.clone())
        .sleeper(sleeper.clone())
        .jitter(SeededJitter::new(1))
        .schedule(schedule)
        .timeout(Duration::from_secs(5))
        .build();
    (sender, sleeper)
}

fn fixed(secs: &[u64]) -> RetrySchedule {
    RetrySchedule::fixed(secs.iter().copied().map(Duration::from_secs))
        .unwrap()
        .with_jitter(0.0)
        .unwrap()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).unwrap().to_str().unwrap()
}

#[tokio::test]
async fn every_attempt_keeps_the_id_and_is_signed_afresh() {
    let (url, endpoint) = endpoint(vec![(500, vec![]), (500, vec![]), (204, vec![])]).await;
    let clock = MockClock::at_unix(NOW);
    let (sender, sleeper) = sender(&clock, fixed(&[0, 7, 90]));
    let body = r#"{"type":"demo","data":{}}"#;
    let report = sender.send(&url, "msg_same", body).await.unwrap();
    assert_eq!(report.end, DeliveryEnd::Delivered);
    assert_eq!(report.statuses(), [Some(500), Some(500), Some(204)]);
    assert_eq!(
        sleeper.slept(),
        [Duration::from_secs(7), Duration::from_secs(90)]
    );
    let received = endpoint.received.lock().unwrap();
    let timestamps: Vec<&str> = received
        .iter()
        .map(|(headers, _)| header(headers, "webhook-timestamp"))
        .collect();
    assert_eq!(timestamps, ["1700000000", "1700000007", "1700000097"]);
    for (headers, received_body) in received.iter() {
        assert_eq!(header(headers, "webhook-id"), "msg_same");
        assert_eq!(header(headers, "content-type"), "application/json");
        assert!(headers.get("svix-id").is_none());
        assert_eq!(&received_body[..], body.as_bytes());
        // Each attempt verifies at its own time.
        let at = header(headers, "webhook-timestamp").parse().unwrap();
        let verifier = Verifier::builder()
            .keys(KeySet::parse([SECRET]).unwrap())
            .clock(MockClock::at_unix(at))
            .build()
            .unwrap();
        verifier.verify(headers, received_body).unwrap();
    }
    assert_ne!(
        header(&received[0].0, "webhook-signature"),
        header(&received[1].0, "webhook-signature")
    );
}

#[tokio::test]
async fn both_header_spellings_carry_the_same_values() {
    let (url, endpoint) = endpoint(vec![]).await;
    let clock = MockClock::at_unix(NOW);
    let sender = Sender::builder(Signer::new(SECRET.parse().unwrap()))
        .clock(clock.clone())
        .header_style(HeaderStyle::Both)
        .build();
    let report = sender.send(&url, "msg_both", "{}").await.unwrap();
    assert_eq!(report.statuses(), [Some(200)]);
    let received = endpoint.received.lock().unwrap();
    let headers = &received[0].0;
    for suffix in ["id", "timestamp", "signature"] {
        assert_eq!(
            header(headers, &format!("webhook-{suffix}")),
            header(headers, &format!("svix-{suffix}"))
        );
    }
}

#[tokio::test]
async fn a_redirect_is_a_failure_and_is_not_followed() {
    let (url, endpoint) = endpoint(vec![
        (302, vec![("location", "http://127.0.0.1:1/elsewhere")]),
        (307, vec![("location", "/elsewhere")]),
    ])
    .await;
    let clock = MockClock::at_unix(NOW);
    let (sender, _) = sender(&clock, fixed(&[0, 1, 1]));
    let report = sender.send(&url, "msg_redirect", "{}").await.unwrap();
    assert_eq!(report.statuses(), [Some(302), Some(307), Some(200)]);
    assert_eq!(report.end, DeliveryEnd::Delivered);
    // Three requests, all to the endpoint itself.
    assert_eq!(endpoint.received.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn gone_stops_the_retries() {
    let (url, endpoint) = endpoint(vec![(500, vec![]), (410, vec![])]).await;
    let clock = MockClock::at_unix(NOW);
    let (sender, sleeper) = sender(&clock, fixed(&[0, 5, 300, 1800]));
    let report = sender.send(&url, "msg_gone", "{}").await.unwrap();
    assert_eq!(report.end, DeliveryEnd::Gone);
    assert_eq!(report.statuses(), [Some(500), Some(410)]);
    assert_eq!(sleeper.slept(), [Duration::from_secs(5)]);
    assert_eq!(endpoint.received.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn service_unavailable_retry_after_is_honoured_and_bounded() {
    let (url, _) = endpoint(vec![
        (503, vec![("retry-after", "40")]),
        (503, vec![("retry-after", "2")]),
        (429, vec![("retry-after", "86400")]),
        // Not a 429 or 503: the Retry-After is ignored.
        (500, vec![("retry-after", "999")]),
        // Not delta-seconds: ignored.
        (503, vec![("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]),
    ])
    .await;
    let clock = MockClock::at_unix(NOW);
    let sleeper = InstantSleeper::new(clock.clone());
    let sender = Sender::builder(Signer::new(SECRET.parse().unwrap()))
        .clock(clock.clone())
        .sleeper(sleeper.clone())
        .schedule(fixed(&[0, 10, 10, 10, 10, 10]))
        .max_retry_after(Duration::from_secs(600))
        .build();
    let report = sender.send(&url, "msg_503", "{}").await.unwrap();
    assert_eq!(
        report.statuses(),
        [
            Some(503),
            Some(503),
            Some(429),
            Some(500),
            Some(503),
            Some(200)
        ]
    );
    // 40 s over the scheduled 10; the scheduled 10 over 2; 600 (the bound) for 86,400;
    // then the schedule.
    let waits: Vec<u64> = sleeper.slept().iter().map(Duration::as_secs).collect();
    assert_eq!(waits, [40, 10, 600, 10, 10]);
    assert_eq!(report.attempts[0].result.status(), Some(503));
    assert!(matches!(
        report.attempts[4].result,
        AttemptResult::Response {
            status: 503,
            retry_after: None,
            ..
        }
    ));
}

#[tokio::test]
async fn exponential_schedule_and_delivery_delay() {
    let (url, _) = endpoint(vec![(500, vec![]); 5]).await;
    let clock = MockClock::at_unix(NOW);
    let schedule =
        RetrySchedule::exponential(Duration::from_secs(2), 3.0, Duration::from_secs(30), 4)
            .unwrap()
            .with_jitter(0.0)
            .unwrap();
    let sleeper = InstantSleeper::new(clock.clone());
    let sender = Sender::builder(Signer::new(SECRET.parse().unwrap()))
        .clock(clock.clone())
        .sleeper(sleeper.clone())
        .schedule(schedule)
        .delivery_delay(Duration::from_secs(180))
        .build();
    let report = sender.send(&url, "msg_exp", "{}").await.unwrap();
    assert_eq!(report.end, DeliveryEnd::Exhausted);
    let waits: Vec<u64> = sleeper.slept().iter().map(Duration::as_secs).collect();
    assert_eq!(waits, [180, 2, 6, 18, 30]);
    assert_eq!(report.attempts[0].timestamp, NOW + 180);
    assert_eq!(report.attempts.len(), 5);
}

#[tokio::test]
async fn timeouts_and_refused_connections_are_failures() {
    // A listener that accepts and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}/hook", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            sockets.push(socket);
        }
    });
    let clock = MockClock::at_unix(NOW);
    let sender = Sender::builder(Signer::new(SECRET.parse().unwrap()))
        .clock(clock.clone())
        .sleeper(InstantSleeper::new(clock.clone()))
        .schedule(fixed(&[0, 1]))
        .timeout(Duration::from_millis(200))
        .build();
    let report = sender.send(&silent_url, "msg_silent", "{}").await.unwrap();
    assert_eq!(report.end, DeliveryEnd::Exhausted);
    for attempt in &report.attempts {
        assert_eq!(
            attempt.result,
            AttemptResult::TimedOut {
                after: Duration::from_millis(200)
            }
        );
    }
    held.abort();

    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let report = sender
        .send(
            &format!("http://127.0.0.1:{closed}/hook"),
            "msg_closed",
            "{}",
        )
        .await
        .unwrap();
    assert_eq!(report.statuses(), [None, None]);
    assert!(matches!(
        report.attempts[0].result,
        AttemptResult::ConnectFailed { .. }
    ));
}

#[tokio::test]
async fn bad_input_is_refused_before_any_attempt() {
    let (url, endpoint) = endpoint(vec![]).await;
    let clock = MockClock::at_unix(NOW);
    let (sender, sleeper) = sender(&clock, fixed(&[5]));
    assert_eq!(
        sender.send(&url, "msg.with.dots", "{}").await,
        Err(SendError::Sign(SignError::InvalidId {
            max_len: amps_webhooks::MAX_ID_LEN
        }))
    );
    assert_eq!(
        sender.send("https://example.com/hook", "msg_1", "{}").await,
        Err(SendError::UnsupportedScheme {
            scheme: "https".into()
        })
    );
    assert_eq!(
        sender.post_raw(&url, &[("bad header", "x")], "{}").await,
        Err(SendError::InvalidHeader {
            name: "bad header".into()
        })
    );
    assert!(sleeper.slept().is_empty());
    assert!(endpoint.received.lock().unwrap().is_empty());
}
