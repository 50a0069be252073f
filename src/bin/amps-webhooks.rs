//! `amps-webhooks`: sign and verify webhook requests from the command line, receive them on a
//! local port (`listen`), deliver them with retries (`send`), or replay recorded fixtures
//! (`replay`).
//!
//! Exit codes: 0 success, 1 a request was rejected (for `send`: the schedule ran out without a
//! 2xx; for `replay`: a request was not answered 2xx), 2 a usage or configuration error (or,
//! for `listen`, a port that cannot be bound or a store that cannot be reached), 3 for `send`
//! when the endpoint answered 410 Gone.

use std::io::Read as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
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
    /// Receive webhooks on a local port: verify, deduplicate, and print one line per request.
    Listen(ListenArgs),
    /// Deliver a signed Amps event to a URL, retrying along a schedule as the platform does;
    /// print each attempt. Exits 0 when delivered, 1 when the schedule ran out, 3 on 410 Gone.
    Send(SendArgs),
    /// POST recorded fixtures (`testing::Fixture` JSON files) to a URL, as recorded, or
    /// re-signed with a fresh timestamp under `--secret`. Exits 0 when every one got a 2xx.
    Replay(ReplayArgs),
}

#[derive(Args)]
struct SendArgs {
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

#[derive(Args)]
struct ReplayArgs {
    /// The fixture files.
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    /// Where to POST (plain `http://` only).
    #[arg(long)]
    url: String,
    /// Re-sign each fixture with this secret and the current time (same id, body and header
    /// names), so a live receiver configured with it accepts the fixture; without it the
    /// recorded headers are sent as they are. Repeat it for several.
    #[arg(long = "secret", value_name = "S")]
    secrets: Vec<String>,
    /// The per-request timeout in seconds (fractions allowed).
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    timeout: f64,
    /// Print one JSON object per fixture.
    #[arg(long)]
    json: bool,
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

#[derive(Args)]
struct ListenArgs {
    /// A secret to accept (`whsec_...`); repeat it for each key while rotating.
    #[arg(long = "secret", value_name = "S", required = true)]
    secrets: Vec<String>,
    /// The port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// The address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    host: IpAddr,
    /// The path webhooks are posted to.
    #[arg(long, default_value = "/webhooks")]
    path: String,
    /// Where deliveries are remembered: `memory`, or a Redis URL (`redis://HOST:PORT`).
    #[arg(
        long,
        value_name = "memory|redis://HOST:PORT",
        default_value = "memory"
    )]
    store: String,
    /// How far the timestamp may be from now, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    tolerance: u64,
    /// The largest body accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = amps_webhooks::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// The namespace of the idempotency keys (with Redis, deliveries are remembered across
    /// restarts: use another namespace to start afresh).
    #[arg(long, default_value = "listen")]
    namespace: String,
    /// Print JSON lines: `{"listening": URL}`, then one object per request.
    #[arg(long)]
    json: bool,
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
        Command::Listen(args) => listen(&args),
        Command::Send(args) => send::run(&args),
        Command::Replay(args) => send::replay(&args),
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

/// A path axum accepts as a plain route: `/` then printable ASCII without route syntax.
fn valid_path(path: &str) -> bool {
    path.starts_with('/')
        && path
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'{' | b'}' | b'*' | b'?' | b'#'))
        && !path.contains("//")
}

fn listen(args: &ListenArgs) -> Result<(), Failure> {
    use amps_webhooks::store::{Deduplicator, IdempotencyStore, MemoryStore, RedisStore};

    if !valid_path(&args.path) {
        return Err(usage(format!(
            "--path {:?}: expected `/` followed by printable characters, without `{{}}*?#` or `//`",
            args.path
        )));
    }
    let verifier = Verifier::builder()
        .keys(keys(&args.secrets)?)
        .tolerance(Duration::from_secs(args.tolerance))
        .max_body_bytes(args.max_body_bytes)
        .build()
        .map_err(usage)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| usage(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let store: Arc<dyn IdempotencyStore> = if args.store == "memory" {
            Arc::new(MemoryStore::new(
                amps_webhooks::store::DEFAULT_MEMORY_CAPACITY,
            ))
        } else if args.store.starts_with("redis://") || args.store.starts_with("rediss://") {
            let store = RedisStore::builder(args.store.as_str())
                .connect()
                .await
                .map_err(|e| usage(format!("--store {}: {e}", args.store)))?;
            Arc::new(store)
        } else {
            return Err(usage(format!(
                "--store {:?}: expected `memory` or `redis://HOST:PORT`",
                args.store
            )));
        };
        let dedup = Deduplicator::new(store, &args.namespace)
            .map_err(|e| usage(format!("--namespace: {e}")))?;
        let listener = tokio::net::TcpListener::bind((args.host, args.port))
            .await
            .map_err(|e| usage(format!("cannot listen on {}:{}: {e}", args.host, args.port)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| usage(format!("cannot read the bound address: {e}")))?;
        let app = listen::router(&args.path, verifier, dedup, args.json);
        let url = format!("http://{addr}{}", args.path);
        if args.json {
            println!("{}", json!({ "listening": url }));
        } else {
            println!("listening on {url}");
        }
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                // If the signal cannot be installed, run until killed.
                if tokio::signal::ctrl_c().await.is_err() {
                    std::future::pending::<()>().await;
                }
            })
            .await
            .map_err(|e| usage(format!("the server stopped: {e}")))
    })
}

/// The `listen` receiver: the axum integration, and a line per request.
mod listen {
    use amps_webhooks::integrations::axum::WebhookLayer;
    use amps_webhooks::integrations::{Delivery, Outcome, VerifiedEvent};
    use amps_webhooks::store::Deduplicator;
    use amps_webhooks::{AmpsEvent, Verifier};
    use axum::Router;
    use axum::extract::Request;
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::middleware::{self, Next};
    use axum::response::{IntoResponse, Response};
    use axum::routing::post;
    use serde_json::json;

    async fn handle(VerifiedEvent(event): VerifiedEvent<AmpsEvent>) -> Response {
        let body = json!({ "status": "processed", "id": event.id().as_str() }).to_string();
        (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response()
    }

    pub(super) fn router(
        path: &str,
        verifier: Verifier,
        dedup: Deduplicator,
        json: bool,
    ) -> Router {
        Router::new()
            .route(
                path,
                post(handle).layer(WebhookLayer::new(verifier.clone(), dedup)),
            )
            .with_state(verifier)
            .layer(middleware::from_fn(move |request: Request, next: Next| {
                report(request, next, json)
            }))
    }

    /// Prints one line for the request once it is answered.
    async fn report(request: Request, next: Next, json: bool) -> Response {
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let response = next.run(request).await;
        let status = response.status().as_u16();
        let line = match response.extensions().get::<Delivery>() {
            Some(delivery) => describe(delivery, json),
            None => {
                let reason = format!("no webhook route for {method} {path}");
                if json {
                    json!({ "id": null, "type": null, "key": null, "outcome": Outcome::Rejected.as_str(), "status": status, "reason": reason }).to_string()
                } else {
                    format!("{:<11} {status} -  {reason}", Outcome::Rejected.as_str())
                }
            }
        };
        println!("{line}");
        response
    }

    fn describe(delivery: &Delivery, json: bool) -> String {
        if json {
            return json!({
                "id": delivery.id(),
                "type": delivery.event_type(),
                "key": delivery.key(),
                "outcome": delivery.outcome().as_str(),
                "status": delivery.status(),
                "reason": delivery.reason(),
            })
            .to_string();
        }
        let mut line = format!(
            "{:<11} {} {}",
            delivery.outcome().as_str(),
            delivery.status(),
            delivery.id().unwrap_or("-")
        );
        if let Some(event_type) = delivery.event_type() {
            line.push_str(&format!(" type={event_type}"));
        }
        if let Some(key) = delivery.key() {
            line.push_str(&format!(" key={key}"));
        }
        if let Some(reason) = delivery.reason() {
            line.push_str(&format!("  ({reason})"));
        }
        line
    }
}

/// `send` and `replay`: the reference sender from the command line.
mod send {
    use std::time::Duration;

    use amps_webhooks::sender::{
        Attempt, AttemptResult, DeliveryOutcome, HeaderStyle, RetrySchedule, Sender,
    };
    use amps_webhooks::store::ClaimToken;
    use amps_webhooks::testing::Fixture;
    use amps_webhooks::{Clock as _, Signer, SystemClock};
    use serde_json::json;

    use super::{Failure, ReplayArgs, SendArgs, keys, usage};

    /// `0s,5s,5m,30m` into delays.
    pub(super) fn parse_schedule(list: &str) -> Result<RetrySchedule, Failure> {
        let delays = list
            .split(',')
            .map(|item| {
                humantime::parse_duration(item.trim())
                    .map_err(|e| usage(format!("--schedule {item:?}: {e} (e.g. 0s,5s,5m,30m)")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        RetrySchedule::fixed(delays).map_err(|e| usage(format!("--schedule: {e}")))
    }

    fn timeout(secs: f64, flag: &str) -> Result<Duration, Failure> {
        Duration::try_from_secs_f64(secs)
            .ok()
            .filter(|timeout| !timeout.is_zero())
            .ok_or_else(|| {
                usage(format!(
                    "{flag} {secs}: expected a positive number of seconds"
                ))
            })
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

    pub(super) fn run(args: &SendArgs) -> Result<(), Failure> {
        let signer = Signer::try_with_keys(keys(&args.secrets)?)
            .map_err(|e| usage(format!("--secret: {e}")))?;
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
                json!({ "id": id, "event_id": event_id, "outcome": report.outcome.as_str(), "attempts": attempts })
            );
        } else {
            println!(
                "{} {id} (eventId {event_id}) after {attempts} attempt{}",
                report.outcome.as_str(),
                if attempts == 1 { "" } else { "s" }
            );
        }
        match report.outcome {
            DeliveryOutcome::Delivered => Ok(()),
            DeliveryOutcome::Gone => Err(Failure {
                code: 3,
                message: format!("gone: the endpoint answered 410; {id} will not be retried"),
            }),
            _ => Err(Failure {
                code: 1,
                message: format!("not delivered: the schedule ran out after {attempts} attempts"),
            }),
        }
    }

    pub(super) fn replay(args: &ReplayArgs) -> Result<(), Failure> {
        let signer = if args.secrets.is_empty() {
            None
        } else {
            Some(
                Signer::try_with_keys(keys(&args.secrets)?)
                    .map_err(|e| usage(format!("--secret: {e}")))?,
            )
        };
        let mut fixtures = Vec::with_capacity(args.files.len());
        for path in &args.files {
            let fixture = Fixture::load(path).map_err(usage)?;
            let fixture = match &signer {
                Some(signer) => fixture
                    .resigned(signer, SystemClock.unix_seconds())
                    .map_err(|e| usage(format!("{}: {e}", path.display())))?,
                None => fixture,
            };
            fixtures.push((path, fixture));
        }
        let sender = Sender::builder(Signer::with_keys(amps_webhooks::KeySet::new()))
            .timeout(timeout(args.timeout, "--timeout")?)
            .build();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| usage(format!("cannot start the async runtime: {e}")))?;
        let mut failed = 0;
        for (path, fixture) in &fixtures {
            let result = runtime
                .block_on(fixture.replay_http(&sender, &args.url))
                .map_err(usage)?;
            if !result.is_success() {
                failed += 1;
            }
            if args.json {
                let (status, error) = match &result {
                    AttemptResult::Response { status, .. } => (Some(*status), None),
                    other => (None, Some(other.to_string())),
                };
                println!(
                    "{}",
                    json!({ "file": path.display().to_string(), "id": fixture.id(), "status": status, "error": error })
                );
            } else {
                println!(
                    "{:<40} {} {}",
                    result.to_string(),
                    fixture.id().unwrap_or("-"),
                    path.display()
                );
            }
        }
        if failed == 0 {
            Ok(())
        } else {
            Err(Failure {
                code: 1,
                message: format!(
                    "{failed} of {} fixtures were not answered 2xx",
                    fixtures.len()
                ),
            })
        }
    }
}
