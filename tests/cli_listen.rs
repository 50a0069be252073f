//! `amps-webhooks listen` over a real socket: the URL line, then one line per request.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};

use amps_webhooks::{Clock as _, Secret, Signer, SystemClock};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const BODY: &str = r#"{"event":"push.completed","eventId":"evt_cli","data":{"actionId":"a","deviceId":"d","result":{"success":true},"completedAt":"2026-05-08T22:00:05Z"}}"#;

/// The listener, killed when dropped.
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
    fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_amps-webhooks"))
            .args([
                "listen", "--secret", SECRET, "--port", "0", "--path", "/hooks",
            ])
            .args(["--inspect", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        lines.read_line(&mut first).unwrap();
        let url = if extra.contains(&"--json") {
            let line: serde_json::Value = serde_json::from_str(&first).unwrap();
            line["listening"].as_str().unwrap().to_owned()
        } else {
            // The inspector's line follows the URL's.
            let mut second = String::new();
            lines.read_line(&mut second).unwrap();
            assert!(
                second.starts_with("inspector on http://127.0.0.1:"),
                "{second:?}"
            );
            first
                .trim()
                .strip_prefix("listening on ")
                .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
                .to_owned()
        };
        // `--host localhost` may resolve to either loopback address.
        assert!(
            (url.starts_with("http://127.0.0.1:") || url.starts_with("http://[::1]:"))
                && url.ends_with("/hooks"),
            "{url}"
        );
        Self { child, lines, url }
    }

    fn next_line(&mut self) -> String {
        let mut line = String::new();
        self.lines.read_line(&mut line).unwrap();
        line.trim_end().to_owned()
    }
}

async fn post(url: &str, headers: &[(&str, &str)], body: &str) -> u16 {
    let client = Client::builder(TokioExecutor::new()).build_http();
    let mut request = hyper::Request::post(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    response.into_body().collect().await.unwrap();
    status
}

fn signed(id: &str) -> Vec<(&'static str, String)> {
    signed_body(id, BODY)
}

fn pairs<'a>(headers: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    headers.iter().map(|(n, v)| (*n, v.as_str())).collect()
}

#[tokio::test]
async fn json_lines_for_processed_duplicate_and_rejected() {
    let mut listener = Listener::start(&["--json"]);
    let headers = signed("msg_cli_1");
    assert_eq!(post(&listener.url, &pairs(&headers), BODY).await, 200);
    let line: serde_json::Value = serde_json::from_str(&listener.next_line()).unwrap();
    assert_eq!(
        line,
        serde_json::json!({"id": "msg_cli_1", "type": "push.completed", "key": "evt_cli",
            "outcome": "processed", "status": 200, "reason": null})
    );
    assert_eq!(post(&listener.url, &pairs(&headers), BODY).await, 200);
    let line: serde_json::Value = serde_json::from_str(&listener.next_line()).unwrap();
    assert_eq!(line["outcome"], "duplicate");
    assert_eq!(line["status"], 200);

    let mut forged = signed("msg_cli_2");
    forged[2].1 = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_owned();
    assert_eq!(post(&listener.url, &pairs(&forged), BODY).await, 401);
    let line: serde_json::Value = serde_json::from_str(&listener.next_line()).unwrap();
    assert_eq!(line["id"], "msg_cli_2");
    assert_eq!(line["outcome"], "rejected");
    assert_eq!(line["status"], 401);
    assert_eq!(line["type"], serde_json::Value::Null);
    assert!(
        line["reason"]
            .as_str()
            .unwrap()
            .contains("none of the 1 signatures matches a configured key"),
        "{line}"
    );
}

#[tokio::test]
async fn readable_lines_say_why() {
    let mut listener = Listener::start(&[]);
    let headers = signed("msg_cli_3");
    assert_eq!(post(&listener.url, &pairs(&headers), BODY).await, 200);
    assert_eq!(
        listener.next_line(),
        "processed   200 msg_cli_3 type=push.completed key=evt_cli"
    );
    assert_eq!(
        post(&listener.url, &[("webhook-id", "msg_cli_4")], BODY).await,
        400
    );
    assert_eq!(
        listener.next_line(),
        "rejected    400 msg_cli_4  (the `webhook-timestamp` header (or its `svix-` spelling) is missing; is the request from a Standard Webhooks sender?)"
    );
}

/// The flat `push.completed` body of the fixtures: no `type`, no `event`, no `eventId`.
const FLAT_BODY: &str = include_str!("data/amps/flat-push-completed.json");

fn signed_body(id: &str, body: &str) -> Vec<(&'static str, String)> {
    let secret: Secret = SECRET.parse().unwrap();
    let signed = Signer::new(secret)
        .sign(id, SystemClock.unix_seconds(), body.as_bytes())
        .unwrap();
    signed
        .webhook_headers()
        .iter()
        .map(|(name, value)| (*name, (*value).to_owned()))
        .collect()
}

/// A bare body's type shows only by its shape: the line says the type the event was parsed as.
#[tokio::test]
async fn bare_bodies_show_their_type() {
    let mut listener = Listener::start(&[]);
    let headers = signed_body("msg_cli_flat_1", FLAT_BODY);
    assert_eq!(post(&listener.url, &pairs(&headers), FLAT_BODY).await, 200);
    assert_eq!(
        listener.next_line(),
        "processed   200 msg_cli_flat_1 type=push.completed key=msg_cli_flat_1"
    );
}

#[tokio::test]
async fn bare_bodies_show_their_type_in_json() {
    let mut listener = Listener::start(&["--json"]);
    let headers = signed_body("msg_cli_flat_2", FLAT_BODY);
    assert_eq!(post(&listener.url, &pairs(&headers), FLAT_BODY).await, 200);
    let line: serde_json::Value = serde_json::from_str(&listener.next_line()).unwrap();
    assert_eq!(
        line,
        serde_json::json!({"id": "msg_cli_flat_2", "type": "push.completed",
            "key": "msg_cli_flat_2", "outcome": "processed", "status": 200, "reason": null})
    );
}

#[test]
fn bad_store_and_path_are_usage_errors() {
    for args in [["--store", "postgres://x"], ["--path", "no-slash"]] {
        let output = Command::new(env!("CARGO_BIN_EXE_amps-webhooks"))
            .args(["listen", "--secret", SECRET, "--port", "0"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty());
    }
}

#[tokio::test]
#[ignore = "needs Redis at 127.0.0.1:6379"]
async fn redis_store_remembers_across_listeners() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let reachable = std::net::TcpStream::connect(
        url.trim_start_matches("redis://")
            .split('/')
            .next()
            .unwrap(),
    )
    .is_ok();
    assert!(
        reachable,
        "no Redis answers at {url}: this test needs one; start it with `redis-server --port 6379 --save ''` or set REDIS_URL"
    );
    let nanos = SystemClock
        .now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let namespace = format!("cli-test-{nanos}");
    let args = [
        "--json",
        "--store",
        url.as_str(),
        "--namespace",
        namespace.as_str(),
    ];
    let headers = signed("msg_cli_redis");
    {
        let mut first = Listener::start(&args);
        assert_eq!(post(&first.url, &pairs(&headers), BODY).await, 200);
        let line: serde_json::Value = serde_json::from_str(&first.next_line()).unwrap();
        assert_eq!(line["outcome"], "processed");
    }
    // A new listener on the same store and namespace knows the event.
    let mut second = Listener::start(&args);
    assert_eq!(post(&second.url, &pairs(&headers), BODY).await, 200);
    let line: serde_json::Value = serde_json::from_str(&second.next_line()).unwrap();
    assert_eq!(line["outcome"], "duplicate");
}

/// `--respond 503`: every verified delivery is recorded, answered 503 and released, so the
/// sender's retry runs the handler again; the line says the status was asked for.
#[tokio::test]
async fn respond_answers_the_status_and_releases_the_claim() {
    let mut listener = Listener::start(&["--respond", "503"]);
    let headers = signed("msg_cli_respond");
    for _ in 0..2 {
        assert_eq!(post(&listener.url, &pairs(&headers), BODY).await, 503);
        assert_eq!(
            listener.next_line(),
            "failed      503 msg_cli_respond type=push.completed key=evt_cli  (the handler answered 503; --respond 503)"
        );
    }
    drop(listener);

    // A 2xx completes the claim: the second delivery is a duplicate, answered 200 by the layer.
    let mut listener = Listener::start(&["--respond", "202", "--json"]);
    assert_eq!(post(&listener.url, &pairs(&headers), BODY).await, 202);
    let line: serde_json::Value = serde_json::from_str(&listener.next_line()).unwrap();
    assert_eq!(
        line,
        serde_json::json!({"id": "msg_cli_respond", "type": "push.completed", "key": "evt_cli",
            "outcome": "processed", "status": 202, "reason": null, "respond": 202})
    );
    assert_eq!(post(&listener.url, &pairs(&headers), BODY).await, 200);
    let line: serde_json::Value = serde_json::from_str(&listener.next_line()).unwrap();
    assert_eq!(
        (line["outcome"].as_str(), line.get("respond")),
        (Some("duplicate"), None)
    );
}

#[test]
fn respond_takes_a_status_from_100_to_599() {
    for status in ["99", "600", "abc"] {
        let output = Command::new(env!("CARGO_BIN_EXE_amps-webhooks"))
            .args([
                "listen",
                "--secret",
                SECRET,
                "--port",
                "0",
                "--respond",
                status,
            ])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{status}: {output:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).starts_with(&format!(
                "error: invalid value '{status}' for '--respond <STATUS>'"
            )),
            "{output:?}"
        );
        assert!(output.stdout.is_empty());
    }
}

#[tokio::test]
async fn host_takes_a_host_name() {
    let mut listener = Listener::start(&["--host", "localhost"]);
    let headers = signed("msg_cli_localhost");
    assert_eq!(post(&listener.url, &pairs(&headers), BODY).await, 200);
    assert!(
        listener
            .next_line()
            .starts_with("processed   200 msg_cli_localhost")
    );

    let output = Command::new(env!("CARGO_BIN_EXE_amps-webhooks"))
        .args([
            "listen",
            "--secret",
            SECRET,
            "--port",
            "0",
            "--host",
            "no-such-host.invalid",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .starts_with("cannot listen on no-such-host.invalid:0: "),
        "{output:?}"
    );
}

/// `sign --format curl` prints a command that delivers the body: run by bash, `listen` takes it.
#[tokio::test]
async fn the_curl_command_of_sign_delivers() {
    let mut listener = Listener::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.json");
    std::fs::write(&file, BODY).unwrap();
    let now = SystemClock.unix_seconds().to_string();
    // The same event twice (the body inline, then from the file): processed, then a duplicate.
    for (id, from_file, expected) in [
        (
            "msg_cli_curl_1",
            false,
            "processed   200 msg_cli_curl_1 type=push.completed key=evt_cli",
        ),
        (
            "msg_cli_curl_2",
            true,
            "duplicate   200 msg_cli_curl_2 type=push.completed key=evt_cli  (already processed; handler not run)",
        ),
    ] {
        let mut args = vec![
            "sign",
            "--secret",
            SECRET,
            "--id",
            id,
            "--timestamp",
            &now,
            "--format",
            "curl",
            "--url",
            &listener.url,
        ];
        if from_file {
            args.extend(["--body-file", file.to_str().unwrap()]);
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_amps-webhooks"))
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), BODY.as_bytes()).unwrap();
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        let command = String::from_utf8(output.stdout).unwrap();
        let curl = tokio::task::spawn_blocking(move || {
            Command::new("bash")
                .args(["-c", &command])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert_eq!(curl.status.code(), Some(0), "{curl:?}");
        assert_eq!(listener.next_line(), expected);
    }
}

/// `listen` with `args` until its first lines are out: the first `lines` lines, and standard
/// error once it is killed.
fn first_lines(args: &[&str], envs: &[(&str, &str)], count: usize) -> (Vec<String>, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_amps-webhooks"));
    command
        .arg("listen")
        .args(args)
        .env_remove("AMPS_WEBHOOKS_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in envs {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    let mut out = Vec::new();
    for _ in 0..count {
        let mut line = String::new();
        lines.read_line(&mut line).unwrap();
        out.push(line.trim_end().to_owned());
    }
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    (out, String::from_utf8(output.stderr).unwrap())
}

#[test]
fn the_first_line_names_the_inspector_or_null() {
    let (lines, _) = first_lines(
        &[
            "--secret",
            SECRET,
            "--port",
            "0",
            "--json",
            "--inspect",
            "127.0.0.1:0",
        ],
        &[],
        1,
    );
    let line: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    let inspector = line["inspector"].as_str().unwrap();
    assert!(
        inspector.starts_with("http://127.0.0.1:") && inspector.ends_with('/'),
        "{line}"
    );
    assert_eq!(line.as_object().unwrap().len(), 2, "{line}");

    let (lines, _) = first_lines(
        &["--secret", SECRET, "--port", "0", "--json", "--no-inspect"],
        &[],
        1,
    );
    let line: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(line["inspector"], serde_json::Value::Null);
    assert!(
        line["listening"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );

    assert_eq!(
        Command::new(env!("CARGO_BIN_EXE_amps-webhooks"))
            .args([
                "listen",
                "--secret",
                SECRET,
                "--no-inspect",
                "--inspect",
                "127.0.0.1:0"
            ])
            .output()
            .unwrap()
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn a_taken_inspector_port_gives_the_next_free_one() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let address = format!("127.0.0.1:{port}");
    let (lines, _) = first_lines(
        &["--secret", SECRET, "--port", "0", "--inspect", &address],
        &[],
        2,
    );
    let url = lines[1]
        .strip_prefix("inspector on http://127.0.0.1:")
        .unwrap_or_else(|| panic!("{lines:?}"));
    let (used, note) = url.split_once("/ ").unwrap_or_else(|| panic!("{lines:?}"));
    assert!(used.parse::<u16>().unwrap() > port, "{lines:?}");
    assert_eq!(note, format!("(port {port} was taken)"));
}

#[test]
fn an_inspector_outside_loopback_is_warned_of() {
    let (lines, stderr) = first_lines(
        &[
            "--secret",
            SECRET,
            "--port",
            "0",
            "--json",
            "--inspect",
            "0.0.0.0:0",
        ],
        &[],
        1,
    );
    assert!(
        lines[0].contains("\"inspector\":\"http://0.0.0.0:"),
        "{lines:?}"
    );
    assert!(
        stderr.starts_with("warning: the inspector listens on 0.0.0.0:")
            && stderr.contains("outside loopback: the captured requests (headers and bodies) are visible to that network"),
        "{stderr:?}"
    );
}

#[tokio::test]
async fn the_secret_from_the_environment() {
    let other = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let (lines, _) = first_lines(
        &["--port", "0", "--json", "--no-inspect"],
        &[("AMPS_WEBHOOKS_SECRET", &format!("{other}, {SECRET}"))],
        1,
    );
    let line: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert!(line["listening"].as_str().is_some());

    // A listener keyed by the environment alone accepts what the secret signed.
    let mut child = Command::new(env!("CARGO_BIN_EXE_amps-webhooks"))
        .args(["listen", "--port", "0", "--json", "--no-inspect"])
        .env("AMPS_WEBHOOKS_SECRET", format!("{other} {SECRET}"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    lines.read_line(&mut first).unwrap();
    let url = serde_json::from_str::<serde_json::Value>(&first).unwrap()["listening"]
        .as_str()
        .unwrap()
        .to_owned();
    let headers = signed("msg_cli_env");
    let status = post(&url, &pairs(&headers), BODY).await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 200);

    // Neither a flag nor the variable: a usage error naming both.
    let output = Command::new(env!("CARGO_BIN_EXE_amps-webhooks"))
        .args(["listen", "--port", "0"])
        .env("AMPS_WEBHOOKS_SECRET", " , ")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(output.stderr).unwrap(),
        "no key: give --secret S (repeat it for several) or set AMPS_WEBHOOKS_SECRET (keys separated by spaces or commas)\n"
    );
    // A bad key there is named by the variable, not the flag.
    let output = Command::new(env!("CARGO_BIN_EXE_amps-webhooks"))
        .args(["listen", "--port", "0"])
        .env("AMPS_WEBHOOKS_SECRET", "whsec_short")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .starts_with("AMPS_WEBHOOKS_SECRET: "),
    );
}
