//! A verified, deduplicated Amps webhook receiver on actix-web.
//!
//! `WEBHOOK_SECRET=whsec_... cargo run --example actix_receiver --features actix,redis`
//! (in-memory deduplication; set `REDIS_URL=redis://127.0.0.1:6379` to share it between
//! instances). Listens on 127.0.0.1:8080 (or `PORT`), path `/webhooks`.

use std::sync::Arc;

use actix_web::{App, HttpServer, web};
use amps_webhooks::integrations::VerifiedEvent;
use amps_webhooks::integrations::actix::WebhookMiddleware;
use amps_webhooks::store::{Deduplicator, IdempotencyStore, MemoryStore, RedisStore};
use amps_webhooks::{AmpsEvent, Verifier};

async fn handle(VerifiedEvent(event): VerifiedEvent<AmpsEvent>) -> &'static str {
    println!(
        "{} {} {}",
        event.id(),
        event.idempotency_key(),
        event.payload().event_type()
    );
    "ok"
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let verifier = Verifier::new(std::env::var("WEBHOOK_SECRET")?.parse()?);
    let store: Arc<dyn IdempotencyStore> = match std::env::var("REDIS_URL") {
        Ok(url) => Arc::new(RedisStore::builder(url).connect().await?),
        Err(_) => Arc::new(MemoryStore::new(100_000)),
    };
    let dedup = Deduplicator::new(store, "amps")?;
    let port: u16 = std::env::var("PORT").map_or(Ok(8080), |port| port.parse())?;
    println!("listening on http://127.0.0.1:{port}/webhooks");
    HttpServer::new(move || {
        App::new().app_data(verifier.clone()).service(
            web::resource("/webhooks")
                .wrap(WebhookMiddleware::new(verifier.clone(), dedup.clone()))
                .route(web::post().to(handle)),
        )
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await?;
    Ok(())
}
