//! The client: [`Sender`] signs each attempt afresh, POSTs it over hyper-util's HTTP/1.1
//! client, follows the schedule (jitter, `Retry-After`, 410) and reports every attempt.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};

use super::builder::SenderConfig;
use super::{
    Attempt, AttemptResult, DeliveryEnd, DeliveryReport, KEPT_RESPONSE_BYTES, MAX_RESPONSE_BYTES,
    SendError, SenderBuilder, styled_headers,
};
use crate::error::SignError;
use crate::retry::RetrySchedule;
use crate::signer::Signer;

/// Delivers webhooks as the platform does: signed, retried along a schedule, re-signed with a
/// fresh timestamp on every attempt under the same id.
///
/// Cheap to clone (an `Arc` inside); connections are pooled.
///
/// ```no_run
/// use amps_webhooks::sender::{HeaderStyle, Sender};
/// use amps_webhooks::Signer;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let sender = Sender::builder(Signer::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse()?))
///     .header_style(HeaderStyle::Both)
///     .build();
/// let body = r#"{"event":"push.completed","eventId":"evt_1","data":{}}"#;
/// let report = sender.send("http://127.0.0.1:8080/webhooks", "msg_1", body).await?;
/// for attempt in &report.attempts {
///     println!("attempt {}: {}", attempt.number, attempt.result);
/// }
/// assert!(report.is_delivered());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Sender {
    pub(super) inner: Arc<SenderConfig>,
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("schedule", &self.inner.schedule)
            .field("timeout", &self.inner.timeout)
            .field("style", &self.inner.style)
            .field("delivery_delay", &self.inner.delivery_delay)
            .finish_non_exhaustive()
    }
}

impl Sender {
    /// Starts a [`SenderBuilder`]: the platform's schedule, 30 s per attempt, `webhook-*`
    /// headers, the system clock, real sleeps.
    #[must_use]
    pub fn builder(signer: Signer) -> SenderBuilder {
        SenderBuilder::new(signer)
    }

    /// The schedule.
    #[must_use]
    pub fn schedule(&self) -> &RetrySchedule {
        &self.inner.schedule
    }

    /// The signed headers for `body` as message `id`, signed now (by the sender's clock),
    /// under the sender's header style: what one attempt sends.
    ///
    /// # Errors
    /// [`SignError`] for an id a verifier would refuse or a key that cannot sign.
    pub fn signed_headers(
        &self,
        id: &str,
        body: &[u8],
    ) -> Result<Vec<(&'static str, String)>, SignError> {
        let signed = self
            .inner
            .signer
            .sign(id, self.inner.clock.unix_seconds(), body)?;
        Ok(styled_headers(&signed, self.inner.style))
    }

    /// Delivers `body` as message `id` to `url`: one attempt per entry of the schedule until
    /// one is answered 2xx (delivered) or 410 (gone). A non-2xx answer (3xx included: a
    /// redirect is not followed), a timeout and a connection error are failures, retried after
    /// the next delay; after a 429 or 503 with `Retry-After` (in seconds) the next attempt
    /// waits at least that long, up to the configured maximum.
    ///
    /// # Errors
    /// [`SendError::InvalidUrl`] or [`SendError::UnsupportedScheme`] for the URL,
    /// [`SendError::Sign`] for an id a verifier would refuse or a key that cannot sign; both
    /// before any attempt. A failed delivery is not an error: it is a report whose end
    /// says so.
    pub async fn send(
        &self,
        url: &str,
        id: &str,
        body: impl Into<Bytes>,
    ) -> Result<DeliveryReport, SendError> {
        let uri = parse_url(url)?;
        let body: Bytes = body.into();
        let config = &*self.inner;
        // Check the id and keys before any wait.
        config.signer.sign(id, 0, b"")?;
        let mut attempts = Vec::with_capacity(config.schedule.attempts());
        let mut retry_after: Option<Duration> = None;
        for (index, &scheduled) in config.schedule.delays().iter().enumerate() {
            let mut wait = if scheduled.is_zero() {
                Duration::ZERO
            } else {
                config
                    .schedule
                    .jittered(scheduled, config.jitter.next_unit())
            };
            if index == 0 {
                wait = wait.saturating_add(config.delivery_delay);
            }
            if let Some(after) = retry_after.take() {
                wait = wait.max(after.min(config.max_retry_after));
            }
            if !wait.is_zero() {
                config.sleeper.sleep(wait).await;
            }
            let timestamp = config.clock.unix_seconds();
            let signed = config.signer.sign(id, timestamp, &body)?;
            let headers = styled_headers(&signed, config.style);
            let started_at = config.clock.now();
            let start = Instant::now();
            let result = self.post(&uri, &headers, body.clone()).await;
            let latency = start.elapsed();
            let end = match &result {
                AttemptResult::Response { status, .. } if (200..300).contains(status) => {
                    Some(DeliveryEnd::Delivered)
                }
                AttemptResult::Response { status: 410, .. } => Some(DeliveryEnd::Gone),
                AttemptResult::Response {
                    status: 429 | 503,
                    retry_after: after,
                    ..
                } => {
                    retry_after = *after;
                    None
                }
                _ => None,
            };
            attempts.push(Attempt {
                number: index + 1,
                scheduled,
                waited: wait,
                timestamp,
                started_at,
                result,
                latency,
            });
            if let (Some(observer), Some(attempt)) = (&config.observer, attempts.last()) {
                observer(attempt);
            }
            if let Some(end) = end {
                return Ok(DeliveryReport {
                    id: id.to_owned(),
                    attempts,
                    end,
                });
            }
        }
        Ok(DeliveryReport {
            id: id.to_owned(),
            attempts,
            end: DeliveryEnd::Exhausted,
        })
    }

    /// Sends one request exactly as given: these headers (plus `content-type:
    /// application/json` unless given), this body, no signing, no retry; under the per-attempt
    /// timeout. For replaying recorded requests and for sending deliberately broken ones.
    ///
    /// # Errors
    /// [`SendError::InvalidUrl`] or [`SendError::UnsupportedScheme`] for the URL,
    /// [`SendError::InvalidHeader`] for a header that is not valid HTTP.
    pub async fn post_raw<N: AsRef<str>, V: AsRef<str>>(
        &self,
        url: &str,
        headers: &[(N, V)],
        body: impl Into<Bytes>,
    ) -> Result<AttemptResult, SendError> {
        let uri = parse_url(url)?;
        for (name, value) in headers {
            let valid = http::HeaderName::from_bytes(name.as_ref().as_bytes()).is_ok()
                && http::HeaderValue::from_str(value.as_ref()).is_ok();
            if !valid {
                return Err(SendError::InvalidHeader {
                    name: name.as_ref().to_owned(),
                });
            }
        }
        Ok(self.post(&uri, headers, body.into()).await)
    }

    async fn post<N: AsRef<str>, V: AsRef<str>>(
        &self,
        uri: &http::Uri,
        headers: &[(N, V)],
        body: Bytes,
    ) -> AttemptResult {
        let config = &*self.inner;
        let mut request = http::Request::post(uri.clone());
        let has_content_type = headers
            .iter()
            .any(|(name, _)| name.as_ref().eq_ignore_ascii_case("content-type"));
        if !has_content_type {
            request = request.header(http::header::CONTENT_TYPE, "application/json");
        }
        request = request.header(
            http::header::USER_AGENT,
            concat!("amps-webhooks/", env!("CARGO_PKG_VERSION")),
        );
        for (name, value) in headers {
            request = request.header(name.as_ref(), value.as_ref());
        }
        let request = match request.body(Full::new(body)) {
            Ok(request) => request,
            Err(error) => {
                return AttemptResult::RequestFailed {
                    reason: error.to_string(),
                };
            }
        };
        let exchange = async {
            let response = config.client.request(request).await?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|text| text.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            // A body over the limit or broken midway still leaves the status: keep what came.
            let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map(|collected| collected.to_bytes())
                .unwrap_or_default();
            let kept = &body[..body.len().min(KEPT_RESPONSE_BYTES)];
            Ok::<_, hyper_util::client::legacy::Error>(AttemptResult::Response {
                status,
                retry_after,
                body: String::from_utf8_lossy(kept).into_owned(),
            })
        };
        match tokio::time::timeout(config.timeout, exchange).await {
            Err(_) => AttemptResult::TimedOut {
                after: config.timeout,
            },
            Ok(Ok(result)) => result,
            Ok(Err(error)) if error.is_connect() => AttemptResult::ConnectFailed {
                reason: error_chain(&error),
            },
            Ok(Err(error)) => AttemptResult::RequestFailed {
                reason: error_chain(&error),
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

fn parse_url(url: &str) -> Result<http::Uri, SendError> {
    let invalid = || SendError::InvalidUrl {
        url: url.to_owned(),
    };
    let uri: http::Uri = url.parse().map_err(|_| invalid())?;
    let scheme = uri.scheme_str().ok_or_else(invalid)?;
    if scheme != "http" {
        return Err(SendError::UnsupportedScheme {
            scheme: scheme.to_owned(),
        });
    }
    if uri.authority().is_none() {
        return Err(invalid());
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;
    use crate::clock::MockClock;
    use crate::sender::HeaderStyle;

    fn vectors() -> serde_json::Value {
        let text = include_str!("../../tests/data/standard-webhooks.json");
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn signed_headers_match_the_known_answer_vectors() {
        let file = vectors();
        let mut checked = 0;
        for vector in file["valid"].as_array().unwrap() {
            let (Some(payload), Some(expected)) =
                (vector["payload"].as_str(), vector["signature"].as_str())
            else {
                continue;
            };
            if !expected.starts_with("v1,") || expected.contains(' ') {
                continue;
            }
            let secret: Secret = vector["secret"].as_str().unwrap().parse().unwrap();
            let id = vector["id"].as_str().unwrap();
            let timestamp = vector["timestamp"].as_u64().unwrap();
            for style in [HeaderStyle::Webhook, HeaderStyle::Svix, HeaderStyle::Both] {
                let sender = Sender::builder(Signer::new(secret.clone()))
                    .clock(MockClock::at_unix(timestamp))
                    .header_style(style)
                    .build();
                let headers = sender.signed_headers(id, payload.as_bytes()).unwrap();
                let names: Vec<&str> = headers.iter().map(|(name, _)| *name).collect();
                let expected_names: &[&str] = match style {
                    HeaderStyle::Webhook => {
                        &["webhook-id", "webhook-timestamp", "webhook-signature"]
                    }
                    HeaderStyle::Svix => &["svix-id", "svix-timestamp", "svix-signature"],
                    HeaderStyle::Both => &[
                        "webhook-id",
                        "webhook-timestamp",
                        "webhook-signature",
                        "svix-id",
                        "svix-timestamp",
                        "svix-signature",
                    ],
                };
                assert_eq!(names, expected_names);
                for (name, value) in &headers {
                    let want = if name.ends_with("-id") {
                        id.to_owned()
                    } else if name.ends_with("-timestamp") {
                        timestamp.to_string()
                    } else {
                        expected.to_owned()
                    };
                    assert_eq!(value, &want, "{} {name}", vector["name"]);
                }
            }
            checked += 1;
        }
        assert!(checked >= 2, "only {checked} vectors checked");
    }

    #[test]
    fn rotation_gives_one_v1_entry_per_secret_in_order() {
        let first: Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse().unwrap();
        let second: Secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".parse().unwrap();
        let mut keys = crate::KeySet::from(first);
        keys.push(second);
        let sender = Sender::builder(Signer::with_keys(keys))
            .clock(MockClock::at_unix(1_614_265_330))
            .build();
        let headers = sender
            .signed_headers("msg_p5jXN8AQM9LWM0D4loKWxJek", br#"{"test": 2432232314}"#)
            .unwrap();
        let signature = &headers[2].1;
        let entries: Vec<&str> = signature.split(' ').collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[0],
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(entries[1].starts_with("v1,"));
        assert_ne!(entries[0], entries[1]);
    }

    #[test]
    fn urls_are_checked_before_any_attempt() {
        assert_eq!(
            parse_url("https://example.com/hook"),
            Err(SendError::UnsupportedScheme {
                scheme: "https".into()
            })
        );
        assert_eq!(
            parse_url("/relative"),
            Err(SendError::InvalidUrl {
                url: "/relative".into()
            })
        );
        assert_eq!(
            parse_url("not a url"),
            Err(SendError::InvalidUrl {
                url: "not a url".into()
            })
        );
        assert!(parse_url("http://127.0.0.1:9/hook").is_ok());
    }
}
