//! `send`: delivers a signed Amps event to a URL with the reference sender, retrying along a
//! schedule as the platform does; prints each attempt, then how the delivery ended.

use std::path::PathBuf;
use std::time::Duration;

use amps_webhooks::Signer;
use amps_webhooks::retry::RetrySchedule;
use amps_webhooks::sender::{Attempt, AttemptResult, DeliveryEnd, HeaderStyle, Sender};
use amps_webhooks::store::ClaimToken;
use clap::Args;
use serde_json::json;

use crate::failure::{Failure, usage};
use crate::input::{keys, parse_schedule, timeout};

#[derive(Args)]
pub(crate) struct SendArgs {
    /// The secret to sign with (`whsec_...`); repeat it to sign with several, as during a
    /// rotation (one `v1,` entry each).
    #[arg(long = "secret", value_name = "S", required = true)]
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
    /// The delay before each attempt, comma-separated, with units (`0s,5s,5m,30m`); default:
    /// the platform's `0s,5s,5m,30m,2h,5h,10h,10h`. Each delay but 0 gets plus or minus 20 %
    /// jitter.
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

fn describe(attempt: &Attempt, json: bool) -> String {
    let (status, error) = match &attempt.result {
        AttemptResult::Response { status, .. } => (Some(*status), None),
        other => (None, Some(other.to_string())),
    };
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
        })
        .to_string();
    }
    format!(
        "attempt {:<2} after {:>9}  {:<40} {} ms",
        attempt.number,
        humantime::format_duration(Duration::from_secs(attempt.waited.as_secs())).to_string(),
        attempt.result.to_string(),
        attempt.latency.as_millis()
    )
}

/// Runs `send`.
pub(crate) fn run(args: &SendArgs) -> Result<(), Failure> {
    let signer =
        Signer::try_with_keys(keys(&args.secrets)?).map_err(|e| usage(format!("--secret: {e}")))?;
    let style: HeaderStyle = args
        .header_style
        .parse()
        .map_err(|e| usage(format!("--header-style: {e}")))?;
    let schedule = match &args.schedule {
        Some(list) => parse_schedule(list)?,
        None => RetrySchedule::platform(),
    };
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
    let id = args.id.clone().unwrap_or_else(|| random_id("msg"));
    let event_id = args.event_id.clone().unwrap_or_else(|| random_id("evt"));
    let body = envelope(&args.event_type, &event_id, &data);
    let json = args.json;
    let sender = Sender::builder(signer)
        .schedule(schedule)
        .timeout(timeout(args.timeout, "--timeout")?)
        .header_style(style)
        .on_attempt(move |attempt| println!("{}", describe(attempt, json)))
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
            "{} {id} (eventId {event_id}) after {attempts} attempt{}",
            report.end.as_str(),
            if attempts == 1 { "" } else { "s" }
        );
    }
    match report.end {
        DeliveryEnd::Delivered => Ok(()),
        DeliveryEnd::Gone => Err(Failure {
            code: 3,
            message: format!("gone: the endpoint answered 410; {id} will not be retried"),
        }),
        _ => Err(Failure {
            code: 1,
            message: format!("not delivered: the schedule ran out after {attempts} attempts"),
        }),
    }
}
