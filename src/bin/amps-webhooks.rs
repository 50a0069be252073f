//! `amps-webhooks`: sign and verify webhook requests from the command line.
//!
//! Exit codes: 0 success, 1 a request was rejected, 2 a usage or configuration error.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use amps_webhooks::{AmpsEvent, Clock, KeySet, MockClock, Signer, SystemClock, Verifier};
use clap::{Args, Parser, Subcommand};
use serde_json::json;

/// Sign and verify Standard Webhooks (Svix) requests, for Amps platform webhooks and any
/// other Standard Webhooks sender.
#[derive(Parser)]
#[command(name = "amps-webhooks", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sign a body and print the three headers, one per line (ready for `curl -H`).
    Sign(SignArgs),
    /// Verify a request; print the event as one JSON object.
    Verify(VerifyArgs),
}

#[derive(Args)]
struct BodyArgs {
    /// Read the body from this file instead of standard input.
    #[arg(long, value_name = "F")]
    body_file: Option<PathBuf>,
}

#[derive(Args)]
struct SignArgs {
    /// The secret (`whsec_...`), or an ed25519 signing key (`whsk_...`, with the `ed25519`
    /// feature); repeat it to sign with several, as during a rotation.
    #[arg(
        long = "secret",
        visible_alias = "key",
        value_name = "S",
        required = true
    )]
    secrets: Vec<String>,
    /// The message id (`webhook-id`).
    #[arg(long)]
    id: String,
    /// Seconds since the Unix epoch (default: now).
    #[arg(long, value_name = "UNIX")]
    timestamp: Option<u64>,
    #[command(flatten)]
    body: BodyArgs,
}

#[derive(Args)]
struct VerifyArgs {
    /// A secret to accept (`whsec_...`), or an ed25519 public key (`whpk_...`, with the
    /// `ed25519` feature; a `whsk_...` key verifies with its public half); repeat it for each
    /// key while rotating.
    #[arg(
        long = "secret",
        visible_alias = "key",
        value_name = "S",
        required = true
    )]
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

/// A failure and the exit code it ends the process with.
struct Failure {
    code: u8,
    message: String,
}

fn usage(message: impl std::fmt::Display) -> Failure {
    Failure {
        code: 2,
        message: message.to_string(),
    }
}

fn rejected(message: impl std::fmt::Display) -> Failure {
    Failure {
        code: 1,
        message: format!("rejected: {message}"),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Sign(args) => sign(&args),
        Command::Verify(args) => verify(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

fn read_body(args: &BodyArgs) -> Result<Vec<u8>, Failure> {
    match &args.body_file {
        Some(path) => {
            std::fs::read(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))
        }
        None => {
            let mut body = Vec::new();
            std::io::stdin()
                .read_to_end(&mut body)
                .map_err(|e| usage(format!("cannot read standard input: {e}")))?;
            Ok(body)
        }
    }
}

fn keys(secrets: &[String]) -> Result<KeySet, Failure> {
    KeySet::parse(secrets).map_err(|e| usage(format!("--secret: {e}")))
}

fn sign(args: &SignArgs) -> Result<(), Failure> {
    let signer =
        Signer::try_with_keys(keys(&args.secrets)?).map_err(|e| usage(format!("--secret: {e}")))?;
    let body = read_body(&args.body)?;
    let timestamp = args.timestamp.unwrap_or_else(|| SystemClock.unix_seconds());
    let signed = signer
        .sign(&args.id, timestamp, &body)
        .map_err(|e| usage(format!("--id: {e}")))?;
    for (name, value) in signed.webhook_headers() {
        println!("{name}: {value}");
    }
    Ok(())
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

fn verify(args: &VerifyArgs) -> Result<(), Failure> {
    let keys = keys(&args.secrets)?;
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
        let event = verified.parse::<AmpsEvent>().map_err(rejected)?;
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
