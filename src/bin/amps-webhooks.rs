//! `amps-webhooks`: sign and verify webhook requests from the command line, or receive them
//! on a local port (`listen`).
//!
//! Exit codes: 0 success, 1 a request was rejected, 2 a usage or configuration error (or, for
//! `listen`, a port that cannot be bound or a store that cannot be reached).

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
    use amps_webhooks::integrations::axum::{Delivery, Outcome, VerifiedEvent, WebhookLayer};
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
