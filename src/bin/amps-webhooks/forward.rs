//! Forwarding a delivery to the developer's app (`--forward-to URL`): one POST of the raw body
//! and the request's own headers over hyper-util's HTTP/1.1 client (the sender's stack), under
//! a timeout; the app's answer and how long it took, or why there was none.

use std::fmt;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderName, Request, Response, Uri, header};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

use crate::failure::{Failure, usage};

/// The headers that belong to one connection, not to the request (RFC 9110, 7.6.1), and the
/// two the client sets itself for the app: `host` (the app's) and `content-length` (of the
/// same body). Every other header is forwarded as it came.
const NOT_FORWARDED: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::HOST,
];

/// The most of the app's answer read when its body is not passed on (by `work`).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Why the app gave no answer.
#[derive(Debug, Clone)]
pub(crate) enum ForwardError {
    /// No connection could be made (nothing listens, the name does not resolve).
    Unreachable { url: String, reason: String },
    /// The connection was made but the exchange broke before an answer.
    Broken { url: String, reason: String },
    /// No answer within the timeout.
    TimedOut { url: String, after: Duration },
}

impl ForwardError {
    /// What the sender is answered instead of the app's answer: 504 for a timeout, 502
    /// otherwise (a gateway's statuses).
    pub(crate) fn status(&self) -> u16 {
        match self {
            Self::TimedOut { .. } => 504,
            Self::Unreachable { .. } | Self::Broken { .. } => 502,
        }
    }
}

impl fmt::Display for ForwardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable { url, reason } => {
                write!(f, "the app at {url} cannot be reached: {reason}")
            }
            Self::Broken { url, reason } => {
                write!(f, "the app at {url} did not answer: {reason}")
            }
            Self::TimedOut { url, after } => write!(
                f,
                "the app at {url} did not answer within {}",
                humantime::format_duration(*after)
            ),
        }
    }
}

/// What one forward came to, put in the response's extensions for the request's line: the
/// app's status (none when it did not answer), the latency, and the error when it did not.
#[derive(Debug, Clone)]
pub(crate) struct Forwarded {
    pub(crate) status: Option<u16>,
    pub(crate) latency: Duration,
    pub(crate) error: Option<ForwardError>,
}

impl Forwarded {
    /// The `forward` object of a `--json` line: `{"status", "latency_ms"}`.
    pub(crate) fn json(&self) -> serde_json::Value {
        json!({ "status": self.status, "latency_ms": self.latency.as_millis() })
    }

    /// The readable form: `forward=200 in 3 ms` (`forward=none` when the app did not answer).
    pub(crate) fn text(&self) -> String {
        let status = self
            .status
            .map_or_else(|| "none".to_owned(), |status| status.to_string());
        format!("forward={status} in {} ms", self.latency.as_millis())
    }

    /// Why the delivery failed at the app: its error, or the status it answered.
    pub(crate) fn failure(&self) -> Option<String> {
        match (&self.error, self.status) {
            (Some(error), _) => Some(error.to_string()),
            (None, Some(status)) if !(200..300).contains(&status) => {
                Some(format!("the app answered {status}"))
            }
            (None, _) => None,
        }
    }
}

/// The app to forward to, and the pooled client that does.
#[derive(Debug, Clone)]
pub(crate) struct Forwarder {
    client: Client<HttpConnector, Full<Bytes>>,
    uri: Uri,
    url: String,
    timeout: Duration,
}

impl Forwarder {
    /// A forwarder to `url` (plain `http://`), each exchange under `timeout`; `flag` names the
    /// option in the error of a bad URL.
    pub(crate) fn new(url: &str, timeout: Duration, flag: &str) -> Result<Self, Failure> {
        let uri: Uri = url
            .parse()
            .map_err(|e| usage(format!("{flag} {url:?}: not a URL: {e}")))?;
        if uri.scheme_str() != Some("http") || uri.authority().is_none() {
            return Err(usage(format!(
                "{flag} {url:?}: expected a plain http:// URL with a host (http://127.0.0.1:3000/webhooks)"
            )));
        }
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            uri,
            url: url.to_owned(),
            timeout,
        })
    }

    /// POSTs `body` with `headers` (less the connection's own, see [`NOT_FORWARDED`]): the
    /// app's answer (its body still to be read), and the time to its head.
    pub(crate) async fn post(
        &self,
        headers: &HeaderMap,
        body: Bytes,
    ) -> (Result<Response<Incoming>, ForwardError>, Duration) {
        let mut request = Request::post(self.uri.clone());
        if let Some(map) = request.headers_mut() {
            for (name, value) in headers {
                let hop = NOT_FORWARDED.contains(name) || name == header::CONTENT_LENGTH;
                if !hop {
                    map.append(name, value.clone());
                }
            }
        }
        let start = Instant::now();
        let request = match request.body(Full::new(body)) {
            Ok(request) => request,
            Err(error) => {
                let error = ForwardError::Broken {
                    url: self.url.clone(),
                    reason: error.to_string(),
                };
                return (Err(error), start.elapsed());
            }
        };
        let answer = tokio::time::timeout(self.timeout, self.client.request(request)).await;
        let latency = start.elapsed();
        let answer = match answer {
            Err(_) => Err(ForwardError::TimedOut {
                url: self.url.clone(),
                after: self.timeout,
            }),
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) if error.is_connect() => Err(ForwardError::Unreachable {
                url: self.url.clone(),
                reason: error_chain(&error),
            }),
            Ok(Err(error)) => Err(ForwardError::Broken {
                url: self.url.clone(),
                reason: error_chain(&error),
            }),
        };
        (answer, latency)
    }

    /// POSTs `body` with `headers` and reads the answer's body (up to 64 KiB, within the
    /// timeout), so that the connection goes back to the pool: the status, or why there was
    /// none.
    pub(crate) async fn exchange(&self, headers: &HeaderMap, body: Bytes) -> Forwarded {
        let (answer, latency) = self.post(headers, body).await;
        match answer {
            Ok(response) => {
                let status = response.status().as_u16();
                // The status is the answer; an answer body cut short or too long changes nothing.
                let _ = tokio::time::timeout(
                    self.timeout,
                    Limited::new(response.into_body(), MAX_ANSWER_BYTES).collect(),
                )
                .await;
                Forwarded {
                    status: Some(status),
                    latency,
                    error: None,
                }
            }
            Err(error) => Forwarded {
                status: None,
                latency,
                error: Some(error),
            },
        }
    }
}

/// An error and its sources, `: `-separated (hyper's own messages say little alone).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The app's answer as the sender's: its status, its headers (less the connection's own) and
/// its body, streamed.
pub(crate) fn pass_on(response: Response<Incoming>) -> axum::response::Response {
    let (parts, body) = response.into_parts();
    let mut answer = axum::response::Response::new(axum::body::Body::new(body));
    *answer.status_mut() = parts.status;
    let headers = answer.headers_mut();
    for (name, value) in &parts.headers {
        if !NOT_FORWARDED.contains(name) && name != header::CONTENT_LENGTH {
            headers.append(name, value.clone());
        }
    }
    answer
}
