//! What the tests of `listen --forward-to`, `work` and `inbox` share: the tool as a child
//! process read line by line, signed requests, a POST over a real socket, and an app (an axum
//! server in the test) that records what it is sent and answers from a script.
#![allow(dead_code, unreachable_pub, missing_docs)]
// Helpers of tests, not tests themselves: clippy.toml's test allowances do not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

use amps_webhooks::{Clock as _, Secret, Signer, SystemClock};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_amps-webhooks"))
}

/// A running subcommand, killed when dropped, its standard output read line by line.
pub struct Tool {
    pub child: Child,
    lines: BufReader<ChildStdout>,
}

impl Drop for Tool {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Tool {
    pub fn spawn(args: &[&str]) -> Self {
        let mut child = bin().args(args).stdout(Stdio::piped()).spawn().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap());
        Self { child, lines }
    }

    /// The next line, without its newline; empty at the end of the output.
    pub fn next_line(&mut self) -> String {
        let mut line = String::new();
        self.lines.read_line(&mut line).unwrap();
        line.trim_end().to_owned()
    }

    /// The next line, as JSON.
    pub fn next_json(&mut self) -> serde_json::Value {
        let line = self.next_line();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
    }

    /// Sends SIGTERM and waits for the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success(), "kill -TERM {pid}");
        self.child.wait().unwrap().code()
    }
}

/// `listen --json --port 0 --path /hooks --inspect 127.0.0.1:0` with `extra`; answers the tool and its URL.
pub fn listen(extra: &[&str]) -> (Tool, String) {
    let mut args = vec![
        "listen",
        "--secret",
        SECRET,
        "--port",
        "0",
        "--path",
        "/hooks",
        "--json",
        "--inspect",
        "127.0.0.1:0",
    ];
    args.extend(extra);
    let mut tool = Tool::spawn(&args);
    let first = tool.next_json();
    let url = first["listening"]
        .as_str()
        .unwrap_or_else(|| panic!("unexpected first line {first}"))
        .to_owned();
    (tool, url)
}

/// The headers of `body` signed now as `id`.
pub fn signed(id: &str, body: &[u8]) -> Vec<(String, String)> {
    let secret: Secret = SECRET.parse().unwrap();
    Signer::new(secret)
        .sign(id, SystemClock.unix_seconds(), body)
        .unwrap()
        .webhook_headers()
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

/// An envelope body for `event_id`.
pub fn envelope(event_id: &str) -> Vec<u8> {
    format!(
        r#"{{"event":"push.completed","eventId":"{event_id}","data":{{"actionId":"a","deviceId":"d","result":{{"success":true}},"completedAt":"2026-05-08T22:00:05Z"}}}}"#
    )
    .into_bytes()
}

/// POSTs `body` with `headers`: the status and the body of the answer.
pub async fn post(url: &str, headers: &[(String, String)], body: &[u8]) -> (u16, String) {
    let client = Client::builder(TokioExecutor::new()).build_http();
    let mut request = hyper::Request::post(url);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let request = request.body(Full::new(Bytes::from(body.to_vec()))).unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Signs `body` as `id` and POSTs it: the status.
pub async fn deliver(url: &str, id: &str, body: &[u8]) -> u16 {
    post(url, &signed(id, body), body).await.0
}

/// One request the app received.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Clone, Default)]
struct AppState {
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    /// A body containing this is always answered 500.
    refuse: Option<Arc<str>>,
}

/// The developer's app: records each request, answers the next status of its script (200
/// once the script is spent) with the body `app says <status>`.
pub struct App {
    pub url: String,
    state: AppState,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for App {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl App {
    pub async fn start(script: &[u16]) -> Self {
        Self::serve(AppState {
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
            ..AppState::default()
        })
        .await
    }

    /// An app that answers 500 to every body containing `marker`, 200 to the others.
    pub async fn refusing(marker: &str) -> Self {
        Self::serve(AppState {
            refuse: Some(marker.into()),
            ..AppState::default()
        })
        .await
    }

    async fn serve(state: AppState) -> Self {
        async fn answer(
            State(state): State<AppState>,
            headers: HeaderMap,
            body: Bytes,
        ) -> (StatusCode, String) {
            state.received.lock().unwrap().push(Received {
                headers,
                body: body.clone(),
            });
            let refused = state
                .refuse
                .as_deref()
                .is_some_and(|marker| body.windows(marker.len()).any(|w| w == marker.as_bytes()));
            let status = if refused {
                500
            } else {
                state.script.lock().unwrap().pop_front().unwrap_or(200)
            };
            (
                StatusCode::from_u16(status).unwrap(),
                format!("app says {status}"),
            )
        }
        let router = axum::Router::new()
            .route("/app", axum::routing::post(answer))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/app", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self { url, state, server }
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }
}

/// A URL on a loopback port nothing listens on (bound, then closed).
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/app")
}

/// A name unique to this test run, for namespaces on shared servers.
pub fn unique(label: &str) -> String {
    let nanos = SystemClock
        .now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("cli-{label}-{nanos}-{}", std::process::id())
}

/// The `sh` block of the command-line guide (src/docs/cli.md) that starts with `start`.
pub fn guide_block(start: &str) -> String {
    let guide = include_str!("../../src/docs/cli.md");
    guide
        .split("```sh\n")
        .skip(1)
        .filter_map(|rest| rest.split("\n```").next())
        .find(|block| block.starts_with(start))
        .unwrap_or_else(|| panic!("the guide has no sh block starting with {start:?}"))
        .to_owned()
}

/// Runs the guide's `listen` block `block` with `extra` appended (`--port 0` and the like), by
/// bash, with the tool first on the PATH; answers the tool and the URL it listens on.
pub fn listen_as_written(block: &str, extra: &str) -> (Tool, String) {
    let dir = std::path::Path::new(env!("CARGO_BIN_EXE_amps-webhooks"))
        .parent()
        .unwrap()
        .to_owned();
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = Command::new("bash")
        .args(["-c", &format!("exec {} {extra}", block.trim())])
        .env("PATH", path)
        .env_remove("AMPS_WEBHOOKS_SECRET")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap());
    let mut tool = Tool { child, lines };
    let first = tool.next_line();
    let url = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    (tool, url)
}
