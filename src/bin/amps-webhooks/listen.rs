//! `listen`: a local receiver (the axum integration on the memory, Redis or PostgreSQL store)
//! that verifies, deduplicates and prints one line per request; it answers itself, forwards
//! to the app (`--forward-to`), or enqueues (`--enqueue`, with a worker that forwards the jobs
//! when `--forward-to` is given too); the inspector (`inspect`) records each request for its
//! web page.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use amps_webhooks::integrations::VerifiedEvent;
use amps_webhooks::integrations::axum::{WebhookLayer, enqueue_route_observed};
use amps_webhooks::queue::Queue;
use amps_webhooks::store::Deduplicator;
use amps_webhooks::{AmpsEvent, Event, Verifier};
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use clap::Args;
use serde_json::json;

use bytes::Bytes;

use crate::failure::{Failure, usage};
use crate::forward::{Forwarded, Forwarder, pass_on};
use crate::input::keys_or_env;
use crate::inspect;
use crate::metrics;
use crate::report::{ParsedType, Responded, Style, report};
use crate::shutdown::Shutdown;
use crate::stores::StoreUrl;
use crate::work::{WorkerArgs, forward_jobs};

#[derive(Args)]
pub(crate) struct ListenArgs {
    /// A secret to accept (`whsec_...`); repeat it for each key while rotating. Without it, the
    /// keys of `AMPS_WEBHOOKS_SECRET` (separated by spaces or commas).
    #[arg(long = "secret", value_name = "S")]
    secrets: Vec<String>,
    /// The port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// The address to listen on: an IP address or a host name (`localhost`), resolved.
    #[arg(long, value_name = "HOST", default_value = "127.0.0.1")]
    host: String,
    /// The path webhooks are posted to.
    #[arg(long, default_value = "/webhooks")]
    path: String,
    /// Where deliveries are remembered: `memory`, a Redis URL (`redis://HOST:PORT`) or a
    /// PostgreSQL URL (`postgres://USER@HOST:PORT/DB`, its table created when missing) or an
    /// SQLite file (`sqlite://PATH`, the file and its tables created when missing).
    #[arg(
        long,
        value_name = "memory|redis://HOST:PORT|postgres://...|sqlite://PATH",
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
    /// Forward each verified, claimed request to this URL (plain `http://`), its raw body
    /// and headers as they came: the app's answer is the sender's; its 2xx completes the
    /// claim, anything else releases it; an app that cannot be reached gets the sender a 502.
    /// With `--enqueue`, a worker in this process forwards the jobs instead.
    #[arg(long, value_name = "URL")]
    forward_to: Option<String>,
    /// Verify, deduplicate and enqueue each delivery, answering 200 at once (outcome
    /// `queued`); the jobs are left for `work`, or, with `--forward-to`, forwarded by a worker
    /// in this process.
    #[arg(long)]
    enqueue: bool,
    #[command(flatten)]
    worker: WorkerArgs,
    /// Print JSON lines: `{"listening": URL, "inspector": URL}`, then one object per request.
    #[arg(long)]
    json: bool,
    /// Serve the metrics in the Prometheus text format at `http://ADDR:PORT/metrics` (port 0
    /// picks a free one); its URL is printed after the listening line.
    #[arg(long, value_name = "ADDR:PORT")]
    metrics: Option<SocketAddr>,
    /// Answer this status (100-599) to every verified delivery, after recording it (a 2xx
    /// completes its claim, any other releases it), to watch a sender's retries.
    #[arg(
        long,
        value_name = "STATUS",
        value_parser = clap::value_parser!(u16).range(100..=599),
        conflicts_with_all = ["forward_to", "enqueue"]
    )]
    respond: Option<u16>,
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
    if args.worker.any_given() && !(args.enqueue && args.forward_to.is_some()) {
        return Err(usage(
            "--concurrency, --max-attempts, --schedule, --resign-with and --lease set the worker of `listen --enqueue --forward-to URL`",
        ));
    }
    let plan = args.worker.plan()?;
    let forwarder = match &args.forward_to {
        Some(url) => Some(Forwarder::new(url, plan.forward_timeout, "--forward-to")?),
        None => None,
    };
    let store = StoreUrl::parse(&args.store)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| usage(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        // First, so that the recorder is installed before anything records. `/metrics` is
        // served on the inspector's address, and on `--metrics`' (for `--no-inspect`).
        let recorder = metrics::install()?;
        let metrics_url = match args.metrics {
            Some(addr) => Some(metrics::serve(addr, recorder.clone()).await?),
            None => None,
        };
        let shutdown = Shutdown::on_signals();
        let (app, worker) = if args.enqueue {
            let backend = store.queue_backend().await?;
            let queue = Queue::new(backend, &args.namespace)
                .map_err(|e| usage(format!("--namespace: {e}")))?;
            let purger = queue.spawn_purger(PURGE_EVERY);
            let worker = match forwarder {
                Some(forwarder) => {
                    let queue = queue.clone();
                    let stop = shutdown.clone().requested();
                    let json = args.json;
                    Some(tokio::spawn(async move {
                        let report = forward_jobs(queue, forwarder, &plan, false, json, stop).await;
                        purger.abort();
                        report
                    }))
                }
                None => {
                    if store == StoreUrl::Memory {
                        eprintln!(
                            "note: --store memory without --forward-to: the jobs stay in this process, and nothing drains them"
                        );
                    }
                    None
                }
            };
            (enqueue_router(&args.path, verifier, queue, args.json), worker)
        } else {
            let store = store.idempotency_store().await?;
            let dedup = Deduplicator::new(store, &args.namespace)
                .map_err(|e| usage(format!("--namespace: {e}")))?;
            (
                router(&args.path, verifier, dedup, forwarder, args.json, args.respond),
                None,
            )
        };
        let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
            .await
            .map_err(|e| usage(format!("cannot listen on {}:{}: {e}", args.host, args.port)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| usage(format!("cannot read the bound address: {e}")))?;
        let url = format!("http://{addr}{}", args.path);
        let inspector = inspect::start(&args.inspect, judge, app, &url, metrics::router(recorder)).await?;
        let app = inspector.app.clone();
        if args.json {
            println!("{}", json!({ "listening": url, "inspector": inspector.url }));
        } else {
            println!("listening on {url}");
            if let Some(line) = inspector.line() {
                println!("{line}");
            }
        }
        if let Some(metrics_url) = metrics_url {
            if args.json {
                println!("{}", json!({ "metrics": metrics_url }));
            } else {
                println!("metrics on {metrics_url}");
            }
        }
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.requested())
            .await
            .map_err(|e| usage(format!("the server stopped: {e}")))?;
        if let Some(worker) = worker {
            match worker.await {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => return Err(store.unreachable(&error)),
                Err(error) => return Err(usage(format!("the worker stopped: {error}"))),
            }
        }
        Ok(())
    })
}

async fn handle(VerifiedEvent(event): VerifiedEvent<AmpsEvent>, respond: Option<u16>) -> Response {
    let status = respond
        .and_then(|status| StatusCode::from_u16(status).ok())
        .unwrap_or(StatusCode::OK);
    let body = if status.is_success() {
        json!({ "status": "processed", "id": event.id().as_str() })
    } else {
        json!({ "error": "respond", "reason": format!("listen --respond {}", status.as_u16()) })
    }
    .to_string();
    let mut response = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    let parsed = ParsedType(event.payload().event_type().to_owned());
    response.extensions_mut().insert(parsed);
    if respond.is_some() {
        response.extensions_mut().insert(Responded(status.as_u16()));
    }
    response
}

/// Forwards the verified, claimed delivery to the app: its raw body and its headers. The
/// app's answer is the sender's (so its 2xx completes the claim and anything else releases
/// it); an app that gives none gets the sender a 502 (504 after the timeout).
async fn forward(
    forwarder: Arc<Forwarder>,
    headers: HeaderMap,
    VerifiedEvent(event): VerifiedEvent<AmpsEvent>,
) -> Response {
    let body = Bytes::copy_from_slice(event.raw_body());
    let (answer, latency) = forwarder.post(&headers, body).await;
    let (mut response, forwarded) = match answer {
        Ok(answer) => {
            let status = answer.status().as_u16();
            let forwarded = Forwarded {
                status: Some(status),
                latency,
                error: None,
            };
            (pass_on(answer), forwarded)
        }
        Err(error) => {
            let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_GATEWAY);
            let body = json!({ "error": "forward_failed", "reason": error.to_string() });
            let response = (
                status,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body.to_string(),
            )
                .into_response();
            let forwarded = Forwarded {
                status: None,
                latency,
                error: Some(error),
            };
            (response, forwarded)
        }
    };
    let parsed = ParsedType(event.payload().event_type().to_owned());
    response.extensions_mut().insert(parsed);
    response.extensions_mut().insert(forwarded);
    response
}

/// How often `listen --enqueue` purges the done jobs past their retention.
const PURGE_EVERY: Duration = Duration::from_secs(600);

/// The receiver in enqueue mode: the library's enqueueing route (its statuses, bodies and
/// [`Delivery`](amps_webhooks::integrations::Delivery) records), which also gives each event's
/// parsed type to the line (a bare body's shows only by its shape), and the printing
/// middleware.
fn enqueue_router(path: &str, verifier: Verifier, queue: Queue, json: bool) -> Router {
    let style = Style {
        json,
        forwarding: false,
    };
    let parsed_type = |event: &Event<AmpsEvent>, response: &mut Response| {
        let parsed = ParsedType(event.payload().event_type().to_owned());
        response.extensions_mut().insert(parsed);
    };
    Router::new()
        .route(path, enqueue_route_observed(verifier, queue, parsed_type))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            report(request, next, style)
        }))
}

/// The receiver: the webhook route behind the layer (answered here, or by the app with
/// `forwarder`), and the printing middleware.
fn router(
    path: &str,
    verifier: Verifier,
    dedup: Deduplicator,
    forwarder: Option<Forwarder>,
    json: bool,
    respond: Option<u16>,
) -> Router {
    let style = Style {
        json,
        forwarding: forwarder.is_some(),
    };
    let layer = WebhookLayer::new(verifier.clone(), dedup);
    let route = match forwarder {
        Some(forwarder) => {
            let forwarder = Arc::new(forwarder);
            post(move |headers: HeaderMap, event: VerifiedEvent<AmpsEvent>| {
                forward(Arc::clone(&forwarder), headers, event)
            })
            .layer(layer)
        }
        None => post(move |event| handle(event, respond)).layer(layer),
    };
    Router::new()
        .route(path, route)
        .with_state(verifier)
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            report(request, next, style)
        }))
}
