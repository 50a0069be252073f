//! `send`: delivers a signed Amps event to a URL with the reference sender: once by default,
//! showing the answer, or retrying along the platform's schedule (`--retry`) or any
//! (`--schedule`); prints each attempt, what it waits for before the next, then how the
//! delivery ended.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use amps_webhooks::retry::RetrySchedule;
use amps_webhooks::sender::{
    Attempt, AttemptResult, DeliveryEnd, HeaderStyle, Sender, Sleeper, TokioSleeper,
};
use amps_webhooks::store::ClaimToken;
use amps_webhooks::{AmpsEvent, Signer};
use clap::Args;
use serde_json::json;

use crate::failure::{Failure, usage};
use crate::input::{keys_or_env, parse_schedule, timeout};

#[derive(Args)]
pub(crate) struct SendArgs {
    /// The secret to sign with (`whsec_...`); repeat it to sign with several, as during a
    /// rotation (one `v1,` entry each). Without it, the keys of `AMPS_WEBHOOKS_SECRET`
    /// (separated by spaces or commas).
    #[arg(long = "secret", value_name = "S")]
    secrets: Vec<String>,
    /// Where to POST (plain `http://` only).
    #[arg(long)]
    url: String,
    /// The event type, the envelope's `event`.
    #[arg(long = "type", value_name = "T", default_value = "push.completed")]
    event_type: String,
    /// The envelope's `data`, as JSON (default: a sample payload of the type: `push.completed`,
    /// `push.failed` and `device.*` get the fields a typed receiver requires, other types `{}`).
    #[arg(long, value_name = "JSON", conflicts_with = "data_file")]
    data: Option<String>,
    /// Read the envelope's `data` from this JSON file.
    #[arg(long, value_name = "F")]
    data_file: Option<PathBuf>,
    /// The message id, `webhook-id` (default: `msg_` and 24 random hex digits).
    #[arg(long)]
    id: Option<String>,
    /// The envelope's `eventId`, the receiver's idempotency key (default: `evt_` and 24
    /// random hex digits).
    #[arg(long)]
    event_id: Option<String>,
    /// Retry along the platform's schedule, `0s,5s,5m,30m,2h,5h,10h,10h` (default: one
    /// attempt).
    #[arg(long, conflicts_with = "schedule")]
    retry: bool,
    /// The delay before each attempt, comma-separated, with units (`0s,5s,5m,30m`): any
    /// schedule (default: one attempt). Each delay but 0 gets plus or minus 20 % jitter.
    #[arg(long, value_name = "LIST")]
    schedule: Option<String>,
    /// The per-attempt timeout in seconds (fractions allowed).
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    timeout: f64,
    /// Which header names to send: `webhook-*`, `svix-*` or both.
    #[arg(long, value_name = "webhook|svix|both", default_value = "webhook")]
    header_style: String,
    /// Print JSON lines: one object per attempt, then the outcome.
    #[arg(long)]
    json: bool,
}

fn random_id(prefix: &str) -> String {
    format!("{prefix}_{:024x}", ClaimToken::random().as_u128() >> 32)
}

/// The Amps envelope, fields in the platform's order.
fn envelope(event_type: &str, event_id: &str, data: &serde_json::Value) -> String {
    let text = |value: &str| serde_json::Value::from(value).to_string();
    format!(
        r#"{{"event":{},"eventId":{},"timestamp":{},"data":{}}}"#,
        text(event_type),
        text(event_id),
        text(&jiff::Timestamp::now().to_string()),
        data
    )
}

/// A payload a typed receiver accepts for `event_type`, with sample ids and times now.
fn sample_data(event_type: &str) -> serde_json::Value {
    let now = jiff::Timestamp::now().to_string();
    match event_type {
        "push.completed" => json!({
            "actionId": "act_sample", "deviceId": "dev_sample",
            "result": { "success": true }, "completedAt": now,
        }),
        "push.failed" => json!({
            "actionId": "act_sample", "deviceId": "dev_sample",
            "error": { "code": "SAMPLE", "message": "sample failure" }, "failedAt": now,
        }),
        t if t.starts_with("device.") => json!({ "deviceId": "dev_sample", "timestamp": now }),
        _ => json!({}),
    }
}

/// A wait as shown: in milliseconds under 10 s, else in whole seconds with units (`5m 2s`).
fn wait_text(wait: Duration) -> String {
    if wait < Duration::from_secs(10) {
        format!("{} ms", wait.as_millis())
    } else {
        humantime::format_duration(Duration::from_secs(wait.as_secs())).to_string()
    }
}

/// `1 attempt`, `2 attempts`.
fn attempts_text(count: usize) -> String {
    format!("{count} attempt{}", if count == 1 { "" } else { "s" })
}

/// The receiver's reason, when its answer is a JSON error: `{"error": code, "reason": text}`
/// (the integrations' rejection) gives `code: text`; an object with only one of `error`,
/// `reason` or `message` gives that one.
fn receiver_reason(result: &AttemptResult) -> Option<String> {
    let AttemptResult::Response { status, body, .. } = result else {
        return None;
    };
    if (200..300).contains(status) {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let field = |name: &str| value.get(name).and_then(serde_json::Value::as_str);
    match (field("error"), field("reason").or_else(|| field("message"))) {
        (Some(code), Some(reason)) => Some(format!("{code}: {reason}")),
        (Some(text), None) | (None, Some(text)) => Some(text.to_owned()),
        (None, None) => None,
    }
}

fn describe(attempt: &Attempt, json: bool) -> String {
    let (status, error) = match &attempt.result {
        AttemptResult::Response { status, .. } => (Some(*status), None),
        other => (None, Some(other.to_string())),
    };
    let reason = receiver_reason(&attempt.result);
    if json {
        let retry_after = match &attempt.result {
            AttemptResult::Response { retry_after, .. } => retry_after.map(|d| d.as_secs()),
            _ => None,
        };
        return json!({
            "attempt": attempt.number,
            "waited_ms": attempt.waited.as_millis(),
            "timestamp": attempt.timestamp,
            "status": status,
            "retry_after": retry_after,
            "error": error,
            "latency_ms": attempt.latency.as_millis(),
            "reason": reason,
        })
        .to_string();
    }
    let mut line = format!(
        "attempt {:<2} after {:>9}  {:<40} {} ms",
        attempt.number,
        wait_text(attempt.waited),
        attempt.result.to_string(),
        attempt.latency.as_millis()
    );
    if let Some(reason) = reason {
        line.push_str(&format!("  ({reason})"));
    }
    line
}

/// Sleeps for real, and says first on standard error when the next attempt comes and how
/// many the schedule has.
#[derive(Debug)]
struct Announced {
    /// The attempts made so far (the observer counts them).
    made: Arc<AtomicUsize>,
    /// The attempts of the schedule.
    total: usize,
}

impl Sleeper for Announced {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let next = self.made.load(Ordering::Relaxed) + 1;
        eprintln!(
            "retrying in {} ({next}/{}), Ctrl-C to stop",
            wait_text(duration),
            self.total
        );
        TokioSleeper.sleep(duration)
    }
}

/// Warns on standard error about an event type the crate does not know (it is sent all the
/// same: a receiver of a newer platform may know it).
fn warn_unknown_type(event_type: &str) {
    if !AmpsEvent::KNOWN_TYPES.contains(&event_type) {
        eprintln!(
            "warning: --type {event_type:?} is not an event type this version knows ({}); sending it anyway, with data {{}} unless --data says otherwise",
            AmpsEvent::KNOWN_TYPES.join(", ")
        );
    }
}

/// Runs `send`.
pub(crate) fn run(args: &SendArgs) -> Result<(), Failure> {
    let signer = Signer::try_with_keys(keys_or_env(&args.secrets, "--secret")?)
        .map_err(|e| usage(format!("--secret: {e}")))?;
    let style: HeaderStyle = args
        .header_style
        .parse()
        .map_err(|e| usage(format!("--header-style: {e}")))?;
    let schedule = match (&args.schedule, args.retry) {
        (Some(list), _) => parse_schedule(list)?,
        (None, true) => RetrySchedule::platform(),
        (None, false) => RetrySchedule::fixed([Duration::ZERO])
            .map_err(|e| usage(format!("the one-attempt schedule: {e}")))?,
    };
    let total = schedule.attempts();
    let data: serde_json::Value = match (&args.data, &args.data_file) {
        (Some(text), _) => {
            serde_json::from_str(text).map_err(|e| usage(format!("--data: not JSON: {e}")))?
        }
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
            serde_json::from_str(&text)
                .map_err(|e| usage(format!("{}: not JSON: {e}", path.display())))?
        }
        (None, None) => sample_data(&args.event_type),
    };
    warn_unknown_type(&args.event_type);
    let id = args.id.clone().unwrap_or_else(|| random_id("msg"));
    let event_id = args.event_id.clone().unwrap_or_else(|| random_id("evt"));
    let body = envelope(&args.event_type, &event_id, &data);
    let json = args.json;
    let made = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&made);
    let sender = Sender::builder(signer)
        .schedule(schedule)
        .timeout(timeout(args.timeout, "--timeout")?)
        .header_style(style)
        .sleeper(Announced { made, total })
        .on_attempt(move |attempt| {
            counted.store(attempt.number, Ordering::Relaxed);
            println!("{}", describe(attempt, json));
        })
        .build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| usage(format!("cannot start the async runtime: {e}")))?;
    let report = runtime
        .block_on(sender.send(&args.url, &id, body))
        .map_err(usage)?;
    let attempts = report.attempts.len();
    if args.json {
        println!(
            "{}",
            json!({ "id": id, "event_id": event_id, "outcome": report.end.as_str(), "attempts": attempts })
        );
    } else {
        println!(
            "{} {id} (eventId {event_id}) after {}",
            report.end.as_str(),
            attempts_text(attempts)
        );
    }
    match report.end {
        DeliveryEnd::Delivered => Ok(()),
        DeliveryEnd::Gone => Err(Failure {
            code: 3,
            message: format!("gone: the endpoint answered 410; {id} will not be retried"),
        }),
        _ if total == 1 => Err(Failure {
            code: 1,
            message: "not delivered: the one attempt failed; --retry retries along the platform's schedule, --schedule LIST along any".to_owned(),
        }),
        _ => Err(Failure {
            code: 1,
            message: format!(
                "not delivered: the schedule ran out after {}",
                attempts_text(attempts)
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_under_10_s_in_milliseconds_longer_ones_in_units() {
        assert_eq!(wait_text(Duration::ZERO), "0 ms");
        assert_eq!(wait_text(Duration::from_millis(4_987)), "4987 ms");
        assert_eq!(wait_text(Duration::from_millis(9_999)), "9999 ms");
        assert_eq!(wait_text(Duration::from_secs(10)), "10s");
        assert_eq!(wait_text(Duration::from_millis(302_400)), "5m 2s");
        assert_eq!(attempts_text(1), "1 attempt");
        assert_eq!(attempts_text(2), "2 attempts");
    }

    #[test]
    fn the_receivers_reason_from_a_json_error_body() {
        let answer = |status: u16, body: &str| AttemptResult::Response {
            status,
            retry_after: None,
            body: body.to_owned(),
        };
        let cases = [
            (
                answer(401, r#"{"error":"invalid_signature","reason":"no match"}"#),
                Some("invalid_signature: no match"),
            ),
            (answer(500, r#"{"message":"boom"}"#), Some("boom")),
            (answer(400, r#"{"error":"bad"}"#), Some("bad")),
            (answer(500, "Internal Server Error"), None),
            (answer(500, r#"{"error":{"nested":1}}"#), None),
            (answer(200, r#"{"error":"not one"}"#), None),
            (
                AttemptResult::TimedOut {
                    after: Duration::from_secs(1),
                },
                None,
            ),
        ];
        for (result, reason) in cases {
            assert_eq!(receiver_reason(&result).as_deref(), reason, "{result:?}");
        }
    }
}
