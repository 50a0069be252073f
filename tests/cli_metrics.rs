//! `amps-webhooks listen --metrics 127.0.0.1:0`: the metrics URL it prints, scraped over HTTP
//! after one delivery, holds the series of that delivery in the Prometheus text format; so does
//! `/metrics` on the inspector's address.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use amps_webhooks::{Clock as _, Secret, Signer, SystemClock};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const BODY: &str = r#"{"event":"push.completed","eventId":"evt_metrics","data":{"actionId":"a","deviceId":"d","result":{"success":true},"completedAt":"2026-05-08T22:00:05Z"}}"#;

/// The listener, killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// GETs `url`: 200 in the Prometheus text format; its text.
async fn scrape(url: &str) -> String {
    let scrape = hyper::Request::get(url)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = Client::builder(TokioExecutor::new())
        .build_http()
        .request(scrape)
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{url}");
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(text.to_vec()).unwrap()
}

/// `listen --json --metrics 127.0.0.1:0` with `extra`: its lines, and the URLs it printed.
struct Listening {
    lines: BufReader<std::process::ChildStdout>,
    url: String,
    inspector: String,
    metrics: String,
    _child: Killed,
}

impl Listening {
    fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_amps-webhooks"))
            .args(["listen", "--secret", SECRET, "--port", "0", "--json"])
            .args(["--metrics", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap());
        let mut listening = Self {
            lines,
            url: String::new(),
            inspector: String::new(),
            metrics: String::new(),
            _child: Killed(child),
        };
        let first = listening.next();
        listening.url = first["listening"].as_str().unwrap().to_owned();
        listening.inspector = first["inspector"].as_str().unwrap().to_owned();
        listening.metrics = listening.next()["metrics"].as_str().unwrap().to_owned();
        listening
    }

    fn next(&mut self) -> serde_json::Value {
        let mut line = String::new();
        self.lines.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    /// Signs [`BODY`] now and POSTs it: the status.
    async fn deliver(&self) -> u16 {
        let signed = Signer::new(SECRET.parse::<Secret>().unwrap())
            .sign("msg_metrics", SystemClock.unix_seconds(), BODY.as_bytes())
            .unwrap();
        let client = Client::builder(TokioExecutor::new()).build_http();
        let mut request = hyper::Request::post(&self.url);
        for (name, value) in signed.webhook_headers() {
            request = request.header(name, value);
        }
        let body = Full::new(Bytes::from_static(BODY.as_bytes()));
        let response = client.request(request.body(body).unwrap()).await.unwrap();
        let status = response.status().as_u16();
        response.into_body().collect().await.unwrap();
        status
    }
}

#[tokio::test]
async fn listen_serves_the_delivery_series_on_metrics() {
    let mut listening = Listening::start(&[]);
    let (inspector, metrics_url) = (listening.inspector.clone(), listening.metrics.clone());
    assert!(
        metrics_url.starts_with("http://127.0.0.1:") && metrics_url.ends_with("/metrics"),
        "{metrics_url}"
    );
    assert_eq!(listening.deliver().await, 200);
    // The delivery's line is printed once it is answered, and counted before that.
    assert_eq!(listening.next()["outcome"], "processed");

    let text = scrape(&metrics_url).await;
    // The inspector's address serves the same recorder.
    let on_inspector = scrape(&format!("{}/metrics", inspector.trim_end_matches('/'))).await;
    assert!(
        on_inspector.lines().any(|line| line
            == r#"amps_webhooks_deliveries_total{outcome="processed",event_type="push.completed"} 1"#),
        "{on_inspector}"
    );
    let series: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    for expected in [
        r#"amps_webhooks_deliveries_total{outcome="processed",event_type="push.completed"} 1"#,
        r#"amps_webhooks_handler_duration_seconds_count{outcome="processed"} 1"#,
        "amps_webhooks_verification_duration_seconds_count 1",
        r#"amps_webhooks_arrival_lag_seconds_count{direction="behind"} 1"#,
    ] {
        assert!(series.contains(&expected), "{expected} not in:\n{text}");
    }
    // The memory store's operations are not timed (they cost about what timing them would).
    assert!(
        !series
            .iter()
            .any(|line| line.starts_with("amps_webhooks_store_operation_duration_seconds")),
        "{text}"
    );
    // Histograms, with buckets, and help text for each.
    assert!(
        series.contains(
            &r#"amps_webhooks_arrival_lag_seconds_bucket{direction="behind",le="600"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains("# HELP amps_webhooks_deliveries_total Webhook deliveries answered"),
        "{text}"
    );
    // Nothing of the request: no id, no key.
    assert!(
        !text.contains("msg_metrics") && !text.contains("evt_metrics"),
        "{text}"
    );
}

/// In enqueue mode the library's route answers, and counts: a queued delivery, then its
/// duplicate.
#[tokio::test]
async fn listen_enqueue_counts_its_deliveries() {
    let mut listening = Listening::start(&["--enqueue"]);
    assert_eq!(listening.deliver().await, 200);
    assert_eq!(listening.next()["outcome"], "queued");
    assert_eq!(listening.deliver().await, 200);
    assert_eq!(listening.next()["outcome"], "duplicate");
    let text = scrape(&listening.metrics).await;
    let series: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    for expected in [
        r#"amps_webhooks_deliveries_total{outcome="queued",event_type="push.completed"} 1"#,
        r#"amps_webhooks_deliveries_total{outcome="duplicate",event_type="push.completed"} 1"#,
    ] {
        assert!(series.contains(&expected), "{expected} not in:\n{text}");
    }
}
