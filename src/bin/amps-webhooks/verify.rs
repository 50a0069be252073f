//! `verify`: verifies a request given as headers and a body; prints the event as one JSON
//! object (or, with `--no-parse`, its id and timestamp).

use std::time::Duration;

use amps_webhooks::{AmpsEvent, MockClock, ParseError, Verified, Verifier};
use clap::Args;
use serde_json::json;

use crate::failure::{Failure, rejected, usage};
use crate::input::{BodyArgs, keys_or_env, read_body};

#[derive(Args)]
pub(crate) struct VerifyArgs {
    /// A secret to accept (`whsec_...`), or an ed25519 public key (`whpk_...`, with the
    /// `ed25519` feature; a `whsk_...` key verifies with its public half); repeat it for each
    /// key while rotating. Without it, the keys of `AMPS_WEBHOOKS_SECRET` (separated by
    /// spaces or commas).
    #[arg(long = "secret", visible_alias = "key", value_name = "S")]
    secrets: Vec<String>,
    /// A request header, `name: value`; repeat it for each header.
    #[arg(short = 'H', long = "header", value_name = "'name: value'")]
    headers: Vec<String>,
    /// Judge the timestamp as if it were now this many seconds since the Unix epoch.
    #[arg(long, value_name = "UNIX")]
    now: Option<u64>,
    /// How far the timestamp may be from now, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    tolerance: u64,
    /// Check the signature only: the body need not be JSON; prints `id` and `timestamp`.
    #[arg(long)]
    no_parse: bool,
    /// The largest body accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = amps_webhooks::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    #[command(flatten)]
    body: BodyArgs,
}

fn parse_header(text: &str) -> Result<(String, String), Failure> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| usage(format!("-H {text:?}: expected 'name: value'")))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(usage(format!("-H {text:?}: the header name is empty")));
    }
    Ok((name.to_owned(), value.trim_start().to_owned()))
}

/// Runs `verify`.
pub(crate) fn run(args: &VerifyArgs) -> Result<(), Failure> {
    let keys = keys_or_env(&args.secrets, "--secret")?;
    let headers = args
        .headers
        .iter()
        .map(|h| parse_header(h))
        .collect::<Result<Vec<_>, _>>()?;
    let builder = Verifier::builder()
        .keys(keys)
        .tolerance(Duration::from_secs(args.tolerance))
        .max_body_bytes(args.max_body_bytes);
    let builder = match args.now {
        Some(now) => builder.clock(MockClock::at_unix(now)),
        None => builder,
    };
    let verifier = builder.build().map_err(usage)?;
    let body = read_body(&args.body)?;
    let verified = verifier.verify(&headers, &body).map_err(rejected)?;
    let output = if args.no_parse {
        json!({ "id": verified.id(), "timestamp": verified.timestamp().as_unix() })
    } else {
        let event = verified.parse::<AmpsEvent>().map_err(|error| match error {
            ParseError::InvalidEvent { .. } => not_an_event(&verified, &error),
            _ => rejected(error),
        })?;
        let payload = event.payload();
        json!({
            "id": event.id().as_str(),
            "timestamp": event.timestamp().as_unix(),
            "type": payload.event_type(),
            "event_id": event.event_id(),
            "idempotency_key": event.idempotency_key(),
            "payload": payload,
        })
    };
    println!("{output}");
    Ok(())
}

/// A body whose signature checks out, JSON but not a valid event: said as such, with the type it
/// claims when it names one, so that it does not read as a signature failure.
fn not_an_event(verified: &Verified<'_>, error: &ParseError) -> Failure {
    let claimed = verified
        .parse::<serde_json::Value>()
        .ok()
        .and_then(|event| event.event_type().map(str::to_owned));
    let what = claimed.map_or_else(
        || "a valid event".to_owned(),
        |kind| format!("a valid {kind} event"),
    );
    Failure {
        code: 1,
        message: format!(
            "signature valid; the body is not {what}: {error}; use --no-parse to check the signature only"
        ),
    }
}
