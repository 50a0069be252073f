//! A verified, deduplicated Amps webhook receiver on actix-web: the template to copy.
//!
//! `WEBHOOK_SECRET=whsec_... cargo run --example actix_receiver --features actix,redis`
//! (in-memory deduplication; set `REDIS_URL=redis://127.0.0.1:6379` to share it between
//! instances). Listens on 127.0.0.1:8080 (or `PORT`; 0 picks a free port), path `/webhooks`,
//! and prints the address it listens on.
//!
//! A configuration error is said in words, with the fix, and exits 2. The log (rejections,
//! duplicates, store errors) goes to standard error, at `info` unless `RUST_LOG` says otherwise.
//! Ctrl-C or SIGTERM stops the server through its handle, gracefully: the requests in flight
//! finish, so no claim is left to wait out its lease; the process then exits 0.

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::sync::Arc;

use actix_web::{App, HttpServer, web};
use amps_webhooks::integrations::VerifiedEvent;
use amps_webhooks::integrations::actix::WebhookMiddleware;
use amps_webhooks::store::{Deduplicator, IdempotencyStore, MemoryStore, RedisStore};
use amps_webhooks::{AmpsEvent, Secret, Verifier};
use tracing_subscriber::EnvFilter;

async fn handle(VerifiedEvent(event): VerifiedEvent<AmpsEvent>) -> &'static str {
    println!(
        "{} {} {}",
        event.id(),
        event.idempotency_key(),
        event.payload().event_type()
    );
    "ok" // a 2xx records the event as processed; any other status releases it for the retry
}

/// The endpoint's signing secret, from `WEBHOOK_SECRET`.
fn secret() -> Result<Secret, String> {
    let text = std::env::var("WEBHOOK_SECRET").map_err(|_| {
        "WEBHOOK_SECRET is not set: export the endpoint's signing secret (whsec_...) from the Amps dashboard".to_owned()
    })?;
    text.parse().map_err(|error| {
        format!("WEBHOOK_SECRET is not a valid signing secret: {error}; copy it again from the endpoint's settings in the Amps dashboard")
    })
}

/// The store: Redis at `REDIS_URL`, else in memory (one instance only).
async fn store() -> Result<Arc<dyn IdempotencyStore>, String> {
    let Ok(url) = std::env::var("REDIS_URL") else {
        tracing::info!("REDIS_URL is not set: deduplicating in memory, for this instance only");
        return Ok(Arc::new(MemoryStore::new(100_000)));
    };
    let store = RedisStore::builder(url.as_str()).connect().await.map_err(|error| {
        format!("REDIS_URL {url}: {error}; set it to a reachable Redis (redis://HOST:PORT), or unset it to deduplicate in memory")
    })?;
    Ok(Arc::new(store))
}

/// The address to listen on: 127.0.0.1 and `PORT` (default 8080).
fn address() -> Result<(&'static str, u16), String> {
    match std::env::var("PORT") {
        Err(_) => Ok(("127.0.0.1", 8080)),
        Ok(port) => port.parse().map(|port| ("127.0.0.1", port)).map_err(|_| {
            format!("PORT {port:?} is not a port number: set it to 0-65535 (0 picks a free port)")
        }),
    }
}

/// Ctrl-C (SIGINT) and SIGTERM, caught from the call on (before the address is printed, so a
/// signal right after it stops the server gracefully too): the future resolves on either.
fn shutdown_signals() -> Result<impl Future<Output = ()>, String> {
    use tokio::signal::unix::{SignalKind, signal};
    let caught = |kind: SignalKind, name: &str| {
        signal(kind).map_err(|error| format!("cannot catch {name}: {error}"))
    };
    let mut interrupt = caught(SignalKind::interrupt(), "SIGINT")?;
    let mut terminate = caught(SignalKind::terminate(), "SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutting down: finishing the requests in flight");
    })
}

async fn run() -> Result<(), String> {
    let verifier = Verifier::new(secret()?);
    let dedup = Deduplicator::new(store().await?, "amps").map_err(|e| e.to_string())?;
    let (host, port) = address()?;
    let listener = std::net::TcpListener::bind((host, port)).map_err(|error| {
        format!("cannot listen on {host}:{port}: {error}; set PORT to a free port")
    })?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = HttpServer::new(move || {
        // The extractor finds the verifier in `app_data`, the middleware holds its own.
        App::new().app_data(verifier.clone()).service(
            web::resource("/webhooks")
                .wrap(WebhookMiddleware::new(verifier.clone(), dedup.clone()))
                .route(web::post().to(handle)),
        )
    })
    // actix's own handling would stop at once on Ctrl-C: ours stops gracefully on both.
    .disable_signals()
    .listen(listener)
    .map_err(|error| format!("cannot listen on {addr}: {error}"))?
    .run();
    let shutdown = shutdown_signals()?;
    let handle = server.handle();
    actix_web::rt::spawn(async move {
        shutdown.await;
        handle.stop(true).await;
    });
    println!("listening on http://{addr}/webhooks");
    server
        .await
        .map_err(|error| format!("the server stopped: {error}"))
}

#[actix_web::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}
