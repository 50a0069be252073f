//! What the inspector's tests share: `listen` started with its inspector on a free port, and
//! signed, tampered and stale deliveries posted to it.
#![allow(clippy::unwrap_used, clippy::panic, dead_code, unreachable_pub)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};

use amps_webhooks::{Clock as _, Secret, Signer, SystemClock};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The secret's key material: it must never appear in what the inspector answers.
pub const SECRET_KEY: &str = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A valid `push.completed` envelope with `event_id` as its idempotency key.
pub fn envelope(event_id: &str) -> String {
    format!(
        r#"{{"event":"push.completed","eventId":"{event_id}","data":{{"actionId":"a","deviceId":"d","result":{{"success":true}},"completedAt":"2026-05-08T22:00:05Z"}}}}"#
    )
}

/// `listen --json` with its inspector, killed when dropped.
pub struct Listen {
    child: Child,
    lines: BufReader<ChildStdout>,
    /// Where webhooks are posted.
    pub url: String,
    /// The inspector's base URL, ending in `/`.
    pub inspector: String,
}

impl Drop for Listen {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Listen {
    /// Starts `listen --json --inspect 127.0.0.1:0` with `extra` flags.
    pub fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_amps-webhooks"))
            .args(["listen", "--secret", SECRET, "--port", "0", "--json"])
            .args(["--inspect", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        lines.read_line(&mut first).unwrap();
        let line: serde_json::Value = serde_json::from_str(&first).unwrap();
        let url = line["listening"].as_str().unwrap().to_owned();
        let inspector = line["inspector"]
            .as_str()
            .unwrap_or_else(|| panic!("no inspector in {first:?}"))
            .to_owned();
        Self {
            child,
            lines,
            url,
            inspector,
        }
    }

    /// The next `--json` line: the request's line, printed once it is answered.
    pub fn next_line(&mut self) -> serde_json::Value {
        let mut line = String::new();
        self.lines.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    }

    /// POSTs `body` with `headers` to the listener; its status, once its line is printed (so
    /// that the request is recorded).
    pub async fn post(&mut self, headers: &[(String, String)], body: impl Into<Bytes>) -> u16 {
        let (status, _) = request(
            "POST",
            &self.url,
            &[
                headers,
                &[("content-type".to_owned(), "application/json".to_owned())],
            ]
            .concat(),
            body.into(),
        )
        .await;
        let _ = self.next_line();
        status
    }

    /// GETs `path` from the inspector: the status and the body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let (status, body) = request(
            "GET",
            &format!("{}{path}", self.inspector),
            &[],
            Bytes::new(),
        )
        .await;
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    /// GETs `path` from the inspector as JSON.
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let (status, body) = self.get(path).await;
        (
            status,
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}")),
        )
    }

    /// POSTs `{"resign": resign}` to entry `seq`'s replay; the status and the answer. The
    /// replay's `--json` line is read.
    pub async fn replay(&mut self, seq: u64, resign: bool) -> (u16, serde_json::Value) {
        let (status, body) = request(
            "POST",
            &format!("{}api/requests/{seq}/replay", self.inspector),
            &[("content-type".to_owned(), "application/json".to_owned())],
            Bytes::from(serde_json::json!({ "resign": resign }).to_string()),
        )
        .await;
        if status == 200 {
            let _ = self.next_line();
        }
        (status, serde_json::from_slice(&body).unwrap())
    }
}

/// One request over a fresh client.
pub async fn request(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Bytes,
) -> (u16, Bytes) {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut request = hyper::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = client
        .request(request.body(Full::new(body)).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

/// The three headers of `body` signed as message `id` at `timestamp`.
pub fn signed_at(id: &str, timestamp: u64, body: &[u8]) -> Vec<(String, String)> {
    let secret: Secret = SECRET.parse().unwrap();
    let signed = Signer::new(secret).sign(id, timestamp, body).unwrap();
    signed
        .webhook_headers()
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

/// The headers of `body` signed now.
pub fn signed(id: &str, body: &[u8]) -> Vec<(String, String)> {
    signed_at(id, now(), body)
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemClock.unix_seconds()
}
