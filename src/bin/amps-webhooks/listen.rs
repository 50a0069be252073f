//! `listen`: a local receiver (the axum integration on the memory or the Redis store) that
//! verifies, deduplicates and prints one line per request; the inspector (`inspect`) records
//! each request for its web page.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use amps_webhooks::integrations::axum::WebhookLayer;
use amps_webhooks::integrations::{Delivery, Outcome, VerifiedEvent};
use amps_webhooks::store::{Deduplicator, IdempotencyStore, MemoryStore, RedisStore};
use amps_webhooks::{AmpsEvent, Verifier};
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use clap::Args;
use serde_json::json;

use crate::failure::{Failure, usage};
use crate::input::keys_or_env;
use crate::inspect;

#[derive(Args)]
pub(crate) struct ListenArgs {
    /// A secret to accept (`whsec_...`); repeat it for each key while rotating. Without it, the
    /// keys of `AMPS_WEBHOOKS_SECRET` (separated by spaces or commas).
    #[arg(long = "secret", value_name = "S")]
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
    /// Print JSON lines: `{"listening": URL, "inspector": URL}`, then one object per request.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    inspect: inspect::InspectArgs,
}

/// A path axum accepts as a plain route: `/` then printable ASCII without route syntax.
fn valid_path(path: &str) -> bool {
    path.starts_with('/')
        && path
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'{' | b'}' | b'*' | b'?' | b'#'))
        && !path.contains("//")
}

/// Runs `listen`.
pub(crate) fn run(args: &ListenArgs) -> Result<(), Failure> {
    if !valid_path(&args.path) {
        return Err(usage(format!(
            "--path {:?}: expected `/` followed by printable characters, without `{{}}*?#` or `//`",
            args.path
        )));
    }
    let keys = keys_or_env(&args.secrets, "--secret")?;
    let judge = inspect::Judge {
        keys: keys.clone(),
        tolerance_s: args.tolerance,
        max_body_bytes: args.max_body_bytes,
    };
    let verifier = Verifier::builder()
        .keys(keys)
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
        let app = router(&args.path, verifier, dedup, args.json);
        let url = format!("http://{addr}{}", args.path);
        let readers = inspect::Readers {
            event_type: parsed_type,
            forward: |_| None,
        };
        let inspector = inspect::start(&args.inspect, judge, app, readers, &url).await?;
        let app = inspector.app.clone();
        if args.json {
            println!(
                "{}",
                json!({ "listening": url, "inspector": inspector.url })
            );
        } else {
            println!("listening on {url}");
            if let Some(line) = inspector.line() {
                println!("{line}");
            }
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

/// The type of the event as [`AmpsEvent`] read it, put in the response's extensions by the
/// handler: a bare body (no `type` or `event` field) shows its type only by its shape, so the
/// [`Delivery`] record, which holds the envelope's type, has none for it.
#[derive(Debug, Clone)]
struct ParsedType(String);

/// The type the handler parsed, for the inspector.
fn parsed_type(response: &Response) -> Option<String> {
    response
        .extensions()
        .get::<ParsedType>()
        .map(|parsed| parsed.0.clone())
}

async fn handle(VerifiedEvent(event): VerifiedEvent<AmpsEvent>) -> Response {
    let body = json!({ "status": "processed", "id": event.id().as_str() }).to_string();
    let mut response = (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    let parsed = ParsedType(event.payload().event_type().to_owned());
    response.extensions_mut().insert(parsed);
    response
}

/// The receiver: the webhook route behind the layer, and the printing middleware.
fn router(path: &str, verifier: Verifier, dedup: Deduplicator, json: bool) -> Router {
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
        Some(delivery) => {
            let parsed = response.extensions().get::<ParsedType>();
            describe(delivery, parsed.map(|parsed| parsed.0.as_str()), json)
        }
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

/// The line of one delivery. Its type is the envelope's, else the one `AmpsEvent` parsed
/// (`parsed`, known when the handler ran).
fn describe(delivery: &Delivery, parsed: Option<&str>, json: bool) -> String {
    let event_type = delivery.event_type().or(parsed);
    if json {
        return json!({
            "id": delivery.id(),
            "type": event_type,
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
    if let Some(event_type) = event_type {
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
