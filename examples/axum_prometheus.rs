//! The axum receiver with Prometheus metrics: `/webhooks` verified and deduplicated, `/metrics`
//! in the Prometheus text format.
//!
//! `WEBHOOK_SECRET=whsec_... cargo run --example axum_prometheus --features axum,memory,metrics`
//! then `curl http://127.0.0.1:8080/metrics`.

use std::sync::Arc;

use amps_webhooks::integrations::VerifiedEvent;
use amps_webhooks::integrations::axum::WebhookLayer;
use amps_webhooks::metrics::{self, ARRIVAL_LAG, DURATION_BUCKETS, LAG_BUCKETS};
use amps_webhooks::store::{Deduplicator, MemoryStore};
use amps_webhooks::{AmpsEvent, Verifier};
use axum::Router;
use axum::routing::{get, post};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

async fn handle(VerifiedEvent(event): VerifiedEvent<AmpsEvent>) -> &'static str {
    println!("{} {}", event.id(), event.payload().event_type());
    "ok"
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The recorder first: what is recorded before it is installed is dropped.
    let prometheus = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(ARRIVAL_LAG.to_owned()), LAG_BUCKETS)?
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), DURATION_BUCKETS)?
        .install_recorder()?;
    metrics::describe();

    let verifier = Verifier::new(std::env::var("WEBHOOK_SECRET")?.parse()?);
    let dedup = Deduplicator::new(Arc::new(MemoryStore::new(100_000)), "amps")?;
    let app = Router::new()
        .route(
            "/webhooks",
            post(handle).layer(WebhookLayer::new(verifier.clone(), dedup)),
        )
        .route(
            "/metrics",
            get(move || std::future::ready(prometheus.render())),
        )
        .with_state(verifier);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    println!("listening on http://{}/webhooks", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
