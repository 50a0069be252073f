//! `/metrics`: what the library records (feature `metrics`) in the Prometheus text format, for
//! the subcommands that receive or work (`listen --metrics ADDR:PORT`, `work --metrics
//! ADDR:PORT`, and the listen inspector's address): the recorder installed once per process,
//! the route, and a server of its own on an address.

use std::net::SocketAddr;
use std::time::Duration;

use amps_webhooks::metrics::{ARRIVAL_LAG, DURATION_BUCKETS, LAG_BUCKETS, describe};
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::failure::{Failure, usage};

/// How often the recorder's histograms are drained between scrapes, so that they do not grow.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The Prometheus text format's content type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Installs the Prometheus recorder as the process's, with buckets for every histogram and the
/// help text of every metric, and keeps it drained on the current tokio runtime.
pub(crate) fn install() -> Result<PrometheusHandle, Failure> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(ARRIVAL_LAG.to_owned()), LAG_BUCKETS)
        .and_then(|builder| {
            builder.set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), DURATION_BUCKETS)
        })
        .and_then(PrometheusBuilder::install_recorder)
        .map_err(|e| usage(format!("cannot install the metrics recorder: {e}")))?;
    describe();
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(UPKEEP_EVERY);
        loop {
            ticks.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// `GET /metrics`, rendering `handle`: to serve on its own address ([`serve`]) or beside
/// other routes.
pub(crate) fn router(handle: PrometheusHandle) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let text = handle.render();
            std::future::ready(
                (
                    [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
                    text,
                )
                    .into_response(),
            )
        }),
    )
}

/// Serves `/metrics` from `handle` (see [`install`]) on `addr` on the current tokio runtime,
/// until the process ends; the URL it is served at (the port bound, when `addr`'s is 0).
pub(crate) async fn serve(addr: SocketAddr, handle: PrometheusHandle) -> Result<String, Failure> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| usage(format!("--metrics {addr}: cannot listen: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| usage(format!("--metrics: cannot read the bound address: {e}")))?;
    let app = router(handle);
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            eprintln!("the metrics server stopped: {error}");
        }
    });
    Ok(format!("http://{bound}/metrics"))
}
