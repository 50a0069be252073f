//! A verified, deduplicated Amps webhook receiver on axum.
//!
//! `WEBHOOK_SECRET=whsec_... cargo run --example axum_receiver --features axum,redis`
//! (in-memory deduplication; set `REDIS_URL=redis://127.0.0.1:6379` to share it between
//! instances). Listens on 127.0.0.1:8080 (or `PORT`), path `/webhooks`.

use std::sync::Arc;

use amps_webhooks::integrations::VerifiedEvent;
use amps_webhooks::integrations::axum::WebhookLayer;
use amps_webhooks::store::{Deduplicator, IdempotencyStore, MemoryStore, RedisStore};
use amps_webhooks::{AmpsEvent, Verifier};
use axum::{Router, routing::post};

async fn handle(VerifiedEvent(event): VerifiedEvent<AmpsEvent>) -> &'static str {
    println!(
        "{} {} {}",
        event.id(),
        event.idempotency_key(),
        event.payload().event_type()
    );
    "ok"
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let verifier = Verifier::new(std::env::var("WEBHOOK_SECRET")?.parse()?);
    let store: Arc<dyn IdempotencyStore> = match std::env::var("REDIS_URL") {
        Ok(url) => Arc::new(RedisStore::builder(url).connect().await?),
        Err(_) => Arc::new(MemoryStore::new(100_000)),
    };
    let dedup = Deduplicator::new(store, "amps")?;
    let app = Router::new()
        .route(
            "/webhooks",
            post(handle).layer(WebhookLayer::new(verifier.clone(), dedup)),
        )
        .with_state(verifier);
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".to_owned());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("listening on http://{}/webhooks", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
