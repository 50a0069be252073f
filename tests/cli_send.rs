//! `amps-webhooks send` and `replay` against a scripted endpoint and against
//! `amps-webhooks listen`: output, exit codes, the envelope sent.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::VecDeque;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use amps_webhooks::{KeySet, MockClock, Verifier};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const FIXTURE_SECRET: &str = "whsec_YW1wcy13ZWJob29rcyB0ZXN0IGZpeHR1cmVzIDIwMjY=";

#[derive(Default)]
struct Endpoint {
    statuses: Mutex<VecDeque<u16>>,
    received: Mutex<Vec<(HeaderMap, Bytes)>>,
}

/// Answers the next scripted status; a 4xx or 5xx with a JSON error body, as the
/// integrations' rejections have.
async fn answer(
    State(endpoint): State<Arc<Endpoint>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    endpoint.received.lock().unwrap().push((headers, body));
    let status = endpoint.statuses.lock().unwrap().pop_front().unwrap_or(200);
    let body = if status >= 400 {
        format!(r#"{{"error":"scripted","reason":"the test endpoint answers {status}"}}"#)
    } else {
        String::new()
    };
    (StatusCode::from_u16(status).unwrap(), body)
}

async fn endpoint(statuses: &[u16]) -> (String, Arc<Endpoint>) {
    let endpoint = Arc::new(Endpoint {
        statuses: Mutex::new(statuses.iter().copied().collect()),
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

async fn cli(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_amps-webhooks"))
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn stdout_lines(output: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_retries_until_delivered_and_sends_the_envelope() {
    let (url, endpoint) = endpoint(&[500, 503]).await;
    let output = cli(&[
        "send",
        "--secret",
        SECRET,
        "--url",
        &url,
        "--type",
        "push.failed",
        "--data",
        r#"{"actionId":"act_1"}"#,
        "--id",
        "msg_cli",
        "--event-id",
        "evt_cli",
        "--schedule",
        "0s,10ms,20ms,1h",
        "--header-style",
        "both",
        "--json",
    ])
    .await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let lines = stdout_lines(&output);
    assert_eq!(lines.len(), 4);
    let statuses: Vec<u64> = lines[..3]
        .iter()
        .map(|line| line["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [500, 503, 200]);
    assert_eq!(lines[0]["waited_ms"], 0);
    let waited = lines[1]["waited_ms"].as_u64().unwrap();
    assert!((8..=12).contains(&waited), "{waited}");
    assert_eq!(
        lines[3],
        serde_json::json!({ "id": "msg_cli", "event_id": "evt_cli", "outcome": "delivered", "attempts": 3 })
    );
    let received = endpoint.received.lock().unwrap();
    assert_eq!(received.len(), 3);
    let (headers, body) = &received[2];
    assert_eq!(headers["svix-id"], "msg_cli");
    assert_eq!(headers["webhook-id"], "msg_cli");
    let at: u64 = headers["webhook-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let verifier = Verifier::builder()
        .keys(KeySet::parse([SECRET]).unwrap())
        .clock(MockClock::at_unix(at))
        .build()
        .unwrap();
    verifier.verify(headers, body).unwrap();
    let text = std::str::from_utf8(body).unwrap();
    assert!(
        text.starts_with(r#"{"event":"push.failed","eventId":"evt_cli","timestamp":""#),
        "{text}"
    );
    let envelope: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(envelope["data"], serde_json::json!({ "actionId": "act_1" }));
    let timestamp: jiff::Timestamp = envelope["timestamp"].as_str().unwrap().parse().unwrap();
    assert!((timestamp.as_second() - i64::try_from(at).unwrap()).abs() <= 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_exit_codes_for_exhausted_gone_and_usage() {
    let (url, _) = endpoint(&[500, 500]).await;
    let output = cli(&[
        "send",
        "--secret",
        SECRET,
        "--url",
        &url,
        "--schedule",
        "0s,5ms",
    ])
    .await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(
        text.lines().last().unwrap().starts_with("exhausted msg_"),
        "{text}"
    );
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .contains("schedule ran out")
    );

    let (url, endpoint) = endpoint(&[410]).await;
    let output = cli(&[
        "send",
        "--secret",
        SECRET,
        "--url",
        &url,
        "--schedule",
        "0s,5ms",
    ])
    .await;
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    assert_eq!(endpoint.received.lock().unwrap().len(), 1);

    for bad in [
        &["--schedule", "0s,5parsecs"][..],
        &["--schedule", ""][..],
        &["--data", "{not json"][..],
        &["--header-style", "Webhook"][..],
        &["--timeout", "0"][..],
        &["--id", "msg.with.dots"][..],
    ] {
        let mut args = vec!["send", "--secret", SECRET, "--url", &url];
        args.extend_from_slice(bad);
        let output = cli(&args).await;
        assert_eq!(output.status.code(), Some(2), "{bad:?}: {output:?}");
    }
    let output = cli(&[
        "send",
        "--secret",
        SECRET,
        "--url",
        "https://example.com/hook",
    ])
    .await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    // Nothing was sent by a refused command.
    assert_eq!(endpoint.received.lock().unwrap().len(), 1);
}

/// `amps-webhooks listen`, killed when dropped.
struct Listener {
    child: Child,
    lines: BufReader<ChildStdout>,
    url: String,
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Listener {
    fn start(secret: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_amps-webhooks"))
            .args(["listen", "--secret", secret, "--port", "0", "--json"])
            .args(["--inspect", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        lines.read_line(&mut first).unwrap();
        let line: serde_json::Value = serde_json::from_str(&first).unwrap();
        let url = line["listening"].as_str().unwrap().to_owned();
        Self { child, lines, url }
    }

    fn next(&mut self) -> serde_json::Value {
        let mut line = String::new();
        self.lines.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_to_listen_then_a_duplicate() {
    let mut listener = Listener::start(SECRET);
    for _ in 0..2 {
        let output = cli(&[
            "send",
            "--secret",
            SECRET,
            "--url",
            &listener.url,
            "--event-id",
            "evt_twice",
        ])
        .await;
        assert_eq!(output.status.code(), Some(0), "{output:?}");
    }
    let first = listener.next();
    let second = listener.next();
    assert_eq!(
        (
            first["outcome"].as_str(),
            first["key"].as_str(),
            first["type"].as_str()
        ),
        (Some("processed"), Some("evt_twice"), Some("push.completed"))
    );
    assert_eq!(second["outcome"], "duplicate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_as_recorded_or_re_signed() {
    let mut listener = Listener::start(FIXTURE_SECRET);
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let completed = format!("{fixtures}/envelope-push-completed.json");
    let reconnected = format!("{fixtures}/typed-device-reconnected.json");

    // As recorded: the 2026 timestamp is outside a live receiver's tolerance.
    let output = cli(&["replay", &completed, "--url", &listener.url, "--json"]).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(stdout_lines(&output)[0]["status"], 401);
    assert_eq!(listener.next()["outcome"], "rejected");

    // Re-signed now with the fixtures' secret: accepted, under the recorded ids.
    let output = cli(&[
        "replay",
        &completed,
        &reconnected,
        "--url",
        &listener.url,
        "--secret",
        FIXTURE_SECRET,
        "--json",
    ])
    .await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let lines = stdout_lines(&output);
    assert_eq!(
        (lines[0]["status"].as_u64(), lines[0]["id"].as_str()),
        (Some(200), Some("msg_envelope-push-completed"))
    );
    assert_eq!(lines[1]["status"], 200);
    assert_eq!(listener.next()["outcome"], "processed");
    assert_eq!(listener.next()["type"], "device.reconnected");

    let output = cli(&["replay", "/nonexistent.json", "--url", &listener.url]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_with_a_space_for_a_comma_is_a_usage_error() {
    let (url, endpoint) = endpoint(&[]).await;
    for (list, item) in [("0s 5s", "0s 5s"), ("0s,5m 30m", "5m 30m")] {
        let output = cli(&[
            "send",
            "--secret",
            SECRET,
            "--url",
            &url,
            "--schedule",
            list,
        ])
        .await;
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        assert_eq!(
            String::from_utf8(output.stderr).unwrap(),
            format!(
                "--schedule {item:?}: one delay per item; separate the delays with commas (e.g. 0s,5s,5m,30m)\n"
            )
        );
    }
    // Spaces around the commas are fine.
    let output = cli(&[
        "send",
        "--secret",
        SECRET,
        "--url",
        &url,
        "--schedule",
        " 0s , 5ms ",
    ])
    .await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(endpoint.received.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_names_the_file_that_is_not_a_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let good = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/envelope-push-completed.json"
    );
    for (name, text) in [
        ("not-a-fixture.json", r#"{"event":"push.completed"}"#),
        ("not-json.txt", "hello"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let path = path.to_str().unwrap();
        // The good fixture first: the error is about the second file, and names it.
        let output = cli(&["replay", good, path, "--url", "http://127.0.0.1:9/hook"]).await;
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        assert!(output.stdout.is_empty(), "{output:?}");
        let error = amps_webhooks::testing::Fixture::from_json(text).unwrap_err();
        assert_eq!(
            String::from_utf8(output.stderr).unwrap(),
            format!("{path}: {error}\n")
        );
    }
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_one_attempt_showing_the_answer_and_the_receivers_reason() {
    let (url, scripted) = endpoint(&[500, 200]).await;
    let output = cli(&["send", "--secret", SECRET, "--url", &url]).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(scripted.received.lock().unwrap().len(), 1);
    let stdout = text(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with("attempt 1  after      0 ms  500 "),
        "{stdout}"
    );
    assert!(
        lines[0].ends_with(" ms  (scripted: the test endpoint answers 500)"),
        "{stdout}"
    );
    assert!(lines[1].starts_with("exhausted msg_"), "{stdout}");
    assert!(lines[1].ends_with(" after 1 attempt"), "{stdout}");
    assert_eq!(
        text(&output.stderr),
        "not delivered: the one attempt failed; --retry retries along the platform's schedule, --schedule LIST along any\n"
    );

    // The same with --json: the reason is a field of the attempt's object.
    let (url, _) = endpoint(&[503]).await;
    let output = cli(&["send", "--secret", SECRET, "--url", &url, "--json"]).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let lines = stdout_lines(&output);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["status"], 503);
    assert_eq!(
        lines[0]["reason"],
        "scripted: the test endpoint answers 503"
    );
    assert_eq!(lines[1]["outcome"], "exhausted");
    assert_eq!(lines[1]["attempts"], 1);

    // A 2xx: delivered, no reason.
    let (url, _) = endpoint(&[]).await;
    let output = cli(&["send", "--secret", SECRET, "--url", &url, "--json"]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let lines = stdout_lines(&output);
    assert_eq!(
        (lines[0]["status"].as_u64(), lines[0]["reason"].is_null()),
        (Some(200), true)
    );
    assert!(output.stderr.is_empty(), "{output:?}");
}

/// The delay of a `retrying in N ms (n/total), Ctrl-C to stop` line.
fn announced(line: &str, next: usize, total: usize) -> u64 {
    let rest = line
        .strip_prefix("retrying in ")
        .unwrap_or_else(|| panic!("{line:?}"));
    let (millis, rest) = rest
        .split_once(" ms ")
        .unwrap_or_else(|| panic!("{line:?}"));
    assert_eq!(rest, format!("({next}/{total}), Ctrl-C to stop"));
    millis.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_says_when_the_next_attempt_comes_and_how_many_are_left() {
    let (url, endpoint) = endpoint(&[500, 500, 500]).await;
    let output = cli(&[
        "send",
        "--secret",
        SECRET,
        "--url",
        &url,
        "--schedule",
        "0s,10ms,20ms",
    ])
    .await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(endpoint.received.lock().unwrap().len(), 3);
    let stderr = text(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    // Plus or minus 20 % jitter.
    assert!((8..=12).contains(&announced(lines[0], 2, 3)), "{stderr}");
    assert!((16..=24).contains(&announced(lines[1], 3, 3)), "{stderr}");
    assert_eq!(
        lines[2],
        "not delivered: the schedule ran out after 3 attempts"
    );
    let stdout = text(&output.stdout);
    assert!(
        stdout
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("attempt 2  after "),
        "{stdout}"
    );
    assert!(stdout.ends_with(" after 3 attempts\n"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_follows_the_platforms_schedule() {
    // The platform's second attempt comes 5 s (plus or minus 20 %) after the first.
    let (url, endpoint) = endpoint(&[500]).await;
    let output = cli(&["send", "--secret", SECRET, "--url", &url, "--retry"]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(endpoint.received.lock().unwrap().len(), 2);
    let stderr = text(&output.stderr);
    let wait = announced(stderr.trim_end(), 2, 8);
    assert!((4_000..=6_000).contains(&wait), "{stderr}");
    assert!(
        text(&output.stdout).ends_with(" after 2 attempts\n"),
        "{output:?}"
    );

    let output = cli(&[
        "send",
        "--secret",
        SECRET,
        "--url",
        &url,
        "--retry",
        "--schedule",
        "0s",
    ])
    .await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        text(&output.stderr).contains("cannot be used with"),
        "{output:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_type_is_sent_with_a_warning_that_lists_the_known_ones() {
    let (url, endpoint) = endpoint(&[]).await;
    let output = cli(&[
        "send",
        "--secret",
        SECRET,
        "--url",
        &url,
        "--type",
        "push.started",
    ])
    .await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(
        text(&output.stderr),
        "warning: --type \"push.started\" is not an event type this version knows (push.completed, push.failed, device.connected, device.reconnected, device.disconnected); sending it anyway, with data {} unless --data says otherwise\n"
    );
    let sent = endpoint.received.lock().unwrap()[0].1.clone();
    let envelope: serde_json::Value = serde_json::from_slice(&sent).unwrap();
    assert_eq!(
        (envelope["event"].as_str(), &envelope["data"]),
        (Some("push.started"), &serde_json::json!({}))
    );
    // A known type: no warning.
    let output = cli(&[
        "send",
        "--secret",
        SECRET,
        "--url",
        &url,
        "--type",
        "device.connected",
    ])
    .await;
    assert_eq!(
        (output.status.code(), output.stderr.is_empty()),
        (Some(0), true),
        "{output:?}"
    );
}

/// Without `--secret`, `send` signs with the keys of `AMPS_WEBHOOKS_SECRET`: the listener
/// keyed by the same secret processes the delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_reads_the_secret_from_the_environment() {
    let mut listener = Listener::start(SECRET);
    let url = listener.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_amps-webhooks"))
            .args(["send", "--url", &url, "--schedule", "0s", "--json"])
            .env("AMPS_WEBHOOKS_SECRET", format!(" {SECRET} "))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(listener.next()["outcome"], "processed");
    let output = Command::new(env!("CARGO_BIN_EXE_amps-webhooks"))
        .args(["send", "--url", "http://127.0.0.1:9/hook"])
        .env_remove("AMPS_WEBHOOKS_SECRET")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(output.stderr).unwrap(),
        "no key: give --secret S (repeat it for several) or set AMPS_WEBHOOKS_SECRET (keys separated by spaces or commas)\n"
    );
}
