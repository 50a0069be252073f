//! The axum integration over real sockets: the whole status table, both header spellings,
//! limits, retries and concurrency (see `http_common`).
#![allow(clippy::unwrap_used)]

mod axum_server;
mod http_common;

use std::sync::Arc;

use amps_webhooks::AmpsEvent;
use amps_webhooks::integrations::axum::WebhookLayer;
use amps_webhooks::integrations::{Delivery, VerifiedEvent};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use axum::{Json, Router};
use axum_server::ProbeState;
use http_common::{DEDUP_PATH, PLAIN_PATH, Probe, Running, Setup};

type AppState = ProbeState<Probe>;

async fn handler(
    State(state): State<AppState>,
    VerifiedEvent(event): VerifiedEvent<AmpsEvent>,
) -> (StatusCode, Json<serde_json::Value>) {
    let status = http_common::handle(&state.probe, &event).await;
    (
        StatusCode::from_u16(status).unwrap(),
        Json(serde_json::json!({ "handled": event.idempotency_key() })),
    )
}

async fn start(setup: Setup) -> Running {
    let recorder = Arc::clone(&setup.probe);
    let state = AppState {
        verifier: setup.verifier.clone(),
        probe: setup.probe,
    };
    let app = Router::new()
        .route(
            DEDUP_PATH,
            post(handler).layer(WebhookLayer::new(setup.verifier, setup.dedup)),
        )
        .route(PLAIN_PATH, post(handler))
        .with_state(state)
        // Outside the webhook layer, as an access log would be: it reads every answer's record.
        .layer(axum::middleware::map_response(move |response: Response| {
            let recorder = Arc::clone(&recorder);
            async move {
                recorder.record(response.extensions().get::<Delivery>());
                response
            }
        }));
    let server = axum_server::serve(0, app).await;
    Running {
        base: format!("http://{}", server.addr),
        guard: Box::new(server),
    }
}

http_suite!(start);
